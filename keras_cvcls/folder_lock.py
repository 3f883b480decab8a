"""An exclusive, fail-fast lock on a folder, held by one process at a time.

Two processes filling one folder (two ``keras-cvcls dataset download`` runs into one OUT_DIR)
would read and write the same files; the second one to start is refused at once, with a
message naming the first one's process id, instead of waiting an unknown time. The lock is
the operating system's (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on a file in the
folder: it is released when the holder ends, even when killed, so it never goes stale.
"""

import os

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


class FolderBusyError(RuntimeError):
    """Another process holds the folder's lock.

    Attributes:
        folder: the locked folder.
        pid: the holder's process id, or None if it could not be read.
    """

    def __init__(self, folder, pid, purpose):
        self.folder, self.pid = folder, pid
        holder = f"process {pid}" if pid else "another process"
        super().__init__(
            f"{folder} is in use: {holder} is {purpose} it. Wait for it to finish (or stop it) and run again, "
            f"or choose another folder. Received: folder={folder!r}"
        )


class FolderLock:
    """Holds ``LOCK_FILE`` in a folder exclusively while the ``with`` block runs.

    Args:
        lock_path: the lock file (created if missing; left in place afterwards, it holds the
            last holder's process id).
        folder: the folder the lock stands for, for the message.
        purpose: what the holder does, for the message, e.g. ``"downloading into"``.

    Raises:
        FolderBusyError: on entering, when another process holds the lock.

    Example:
        >>> with FolderLock("photos/.keras_cvcls/download.lock", "photos/", "downloading into"):
        ...     ...
    """

    def __init__(self, lock_path, folder, purpose):
        self.lock_path, self.folder, self.purpose = os.fspath(lock_path), os.fspath(folder), purpose
        self._fd = None

    def __enter__(self):
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            _lock(fd)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            raise FolderBusyError(self.folder, pid, self.purpose) from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc):
        fd, self._fd = self._fd, None
        if fd is not None:
            _unlock(fd)
            os.close(fd)


def _lock(fd):
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def _unlock(fd):
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _read_pid(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:  # Windows: the locked byte cannot be read
        return None
    return int(text) if text.isdigit() else None

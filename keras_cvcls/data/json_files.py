"""Atomic files: sidecars, caches, run records and saved models are never seen half-written.

Everything is written to a fresh temporary file in the target's folder, flushed to disk and
renamed over the target (:func:`replacing`), so a reader sees the old file or the new one, and a
full disk or a kill leaves the old one. New files follow the process umask, as ``open`` does
(``tempfile.mkstemp`` would make them private, ``0600``, and other users of a shared dataset
could not read them).
"""

import contextlib
import json
import os
import secrets


def _fsync(path, flags=os.O_RDONLY):
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and folders on some systems) cannot be synced; the rename still is atomic
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path, *, suffix=".tmp"):
    """Yields a temporary path beside ``path``; when the block ends, that file replaces ``path``.

    The block writes the temporary path (it does not exist yet). On success the file is synced
    to disk and renamed over ``path`` (atomic on POSIX and Windows); on any error it is removed
    and ``path`` is left as it was. The folder is created when missing.

    Args:
        path: the file to write.
        suffix: the temporary name's ending (``".keras"`` where a writer insists on one).

    Raises:
        OSError: when the folder is not writable or the disk is full (the temporary file is removed).

    Example:
        >>> with replacing("model.keras", suffix=".keras") as tmp:
        ...     model.save(tmp)
    """
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}{suffix}")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    if os.name == "posix":
        _fsync(directory)  # the rename itself, on disk


def open_new(path, mode="w", **open_kwargs):
    """Opens a file that must not exist yet, with the permissions ``open`` gives (``0666`` less the umask).

    Raises:
        FileExistsError: if ``path`` exists.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        return os.fdopen(fd, mode, **open_kwargs)
    except BaseException:
        os.close(fd)
        raise


def write_json_atomic(path, data, **dump_kwargs):
    """Writes ``data`` as JSON to ``path`` through a temporary file in the same folder and a rename.

    Creates the folder when missing. The file gets the permissions a plain ``open`` would give.
    ``dump_kwargs`` go to ``json.dump``.

    Raises:
        OSError: when the folder is not writable (the temporary file is removed).
    """
    with replacing(path) as tmp, open_new(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, **dump_kwargs)

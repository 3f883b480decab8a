"""A wall-clock deadline for one fetch, enforced by shutting its sockets down when it passes.

Socket timeouts bound the wait for the *next* bytes, so a server that drips one byte a second
never trips them. A :class:`Deadline` watches the sockets opened (or reused) while it is the
current one in its thread; when it passes, a timer shuts them down, and the read blocked on a
slow server returns at once, whatever phase it is in (TLS handshake, headers or body).
"""

import os
import socket
import threading
import time

_local = threading.local()


class Deadline:
    """A moment by which one fetch must be done.

    Use it as a context manager in the thread that fetches: sockets passed to
    :func:`watch_socket` meanwhile are shut down when the deadline passes.

    Args:
        seconds: time from now.
        reason: what to report when it passes, e.g. ``"total_timeout=60 s"``.

    Example:
        >>> with Deadline(60, "total_timeout=60 s") as deadline:
        ...     response = session.get(url, stream=True)
        ...     body = response.content
        >>> deadline.expired
        False
    """

    def __init__(self, seconds, reason):
        self.expires = time.monotonic() + max(seconds, 0.0)
        self.reason = reason
        self.expired = False
        self._lock = threading.Lock()
        self._watched = []  # our own duplicates of the watched sockets' descriptors
        self._timer = threading.Timer(max(seconds, 0.0), self.expire)
        self._timer.daemon = True
        self._previous = None

    def remaining(self):
        """Seconds left (0 when passed)."""
        return max(self.expires - time.monotonic(), 0.0)

    def passed(self):
        return self.expired or time.monotonic() >= self.expires

    def watch(self, sock):
        """Shuts ``sock`` down when the deadline passes (at once if it has)."""
        try:
            # A duplicate descriptor of our own: shutting it down ends the connection, and it
            # cannot be closed and re-used for another connection behind our back.
            dup = socket.socket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
        except OSError:
            return
        with self._lock:
            if not self.expired:
                self._watched.append(dup)
                return
        _shutdown(dup)
        dup.close()

    def expire(self):
        """Passes the deadline now: every watched socket is shut down."""
        with self._lock:
            self.expired = True
            watched, self._watched = self._watched, []
        for dup in watched:
            _shutdown(dup)
            dup.close()

    def __enter__(self):
        self._previous = getattr(_local, "deadline", None)
        _local.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        _local.deadline = self._previous
        with self._lock:
            watched, self._watched = self._watched, []
        for dup in watched:
            dup.close()


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by its owner


def watch_socket(sock):
    """Puts ``sock`` under the current thread's :class:`Deadline`, if there is one."""
    deadline = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)

"""An aiohttp application served from its own event loop in a daemon thread.

The embedded model server's REST endpoint and the notebook UI both serve an aiohttp
application beside the caller's code (a test, a notebook, ``ModelServer``); this is the one
place that binds the socket, runs the loop and shuts it down.
"""

import asyncio
import logging
import socket
import threading

log = logging.getLogger(__name__)


class AiohttpThread:
    """Serves ``app`` on ``host:port`` from a daemon thread running its own event loop.

    Args:
        app: an ``aiohttp.web.Application``.
        host: address to bind.
        port: port to bind; 0 picks a free one (:attr:`port` holds the bound one after
            :meth:`start`).
        name: the thread's name.
        shutdown_timeout: seconds :meth:`stop` lets running requests finish.

    Example:
        >>> server = AiohttpThread(app, "127.0.0.1", 0)
        >>> port = server.start()
        >>> server.stop()
    """

    def __init__(self, app, host, port, *, name="keras-cvcls-http", shutdown_timeout=5.0):
        self.app, self.host, self.port = app, host, port
        self.name, self.shutdown_timeout = name, shutdown_timeout
        self._loop = self._thread = self._runner = None

    @property
    def loop(self):
        """The running event loop, or None."""
        return self._loop

    @property
    def running(self):
        """True between :meth:`start` and :meth:`stop` while the thread lives."""
        return self._loop is not None and self._thread.is_alive()

    def start(self):
        """Binds the port and serves in the background; returns the bound port.

        Raises:
            OSError: when the port cannot be bound.
        """
        from aiohttp import web

        if self._loop is not None:
            return self.port
        sock = socket.create_server((self.host, self.port))
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(self.app, handle_signals=False, access_log=None, shutdown_timeout=self.shutdown_timeout)
        started, failure = threading.Event(), []

        def run():
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(runner.setup())
                loop.run_until_complete(web.SockSite(runner, sock).start())
            except BaseException as e:  # re-raised in start()
                failure.append(e)
                sock.close()
                started.set()
                return
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name=self.name, daemon=True)
        thread.start()
        started.wait()
        if failure:
            loop.close()
            raise failure[0]
        self._loop, self._runner, self._thread = loop, runner, thread
        return self.port

    def stop(self):
        """Stops accepting connections, lets running requests finish, stops the loop and joins the thread."""
        if self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        try:
            future.result(self.shutdown_timeout + 5)
        except Exception:  # a timed-out cleanup still stops the loop below
            log.warning("%s did not shut down cleanly", self.name, exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()
        self._loop = None

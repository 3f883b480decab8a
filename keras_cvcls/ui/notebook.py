"""The UI in a Jupyter notebook (cvtk's three widgets) or any Python process, served from a thread."""

import asyncio
import os
import socket
import threading

from keras_cvcls.arguments import check_arguments, keyword_names

VIEWS = ("annotate", "results", "pr")
MODES = ("widget", "iframe", "url")

_servers = {}
_servers_lock = threading.Lock()


class UIServer:
    """Serves the UI application from a background thread.

    Args:
        data: a dataset folder, a :class:`~keras_cvcls.data.ClassificationDataset`, or an
            ``aiohttp.web.Application`` made by :func:`~keras_cvcls.ui.app.create_app`.
        run_dir: a training run folder (ignored when ``data`` is an application).
        host: address to bind; keep ``127.0.0.1`` unless others should reach the UI
            (it can change labels and has no log-in).
        port: port to bind; 0 picks a free one (see :attr:`port` after :meth:`start`).
        **app_kwargs: passed to :func:`~keras_cvcls.ui.app.create_app` (``page_size``, ``thumb_size``,
            ``thumb_cache_dir``, ``batch_size``); an unknown name raises ``ValueError``, and so does
            any of them when ``data`` is an application.

    Example:
        >>> with UIServer("photos/", run_dir="runs/1") as server:
        ...     print(server.url)
    """

    def __init__(self, data, run_dir=None, *, host="127.0.0.1", port=0, **app_kwargs):
        from aiohttp import web

        from keras_cvcls.ui.app import create_app

        if isinstance(data, web.Application):  # built already: create_app's options would be dropped
            check_arguments(app_kwargs, [], "UIServer given an application (create_app's options do not apply)")
            self.app = data
        else:
            valid = [name for name in keyword_names(create_app) if name not in ("data_dir", "run_dir")]
            check_arguments(app_kwargs, valid, "UIServer")
            self.app = create_app(data, run_dir, **app_kwargs)
        self.host = host
        self.port = port
        self._loop = None
        self._thread = None
        self._runner = None
        self._stopped = False

    @property
    def url(self):
        """``http://HOST:PORT/`` of the running server (``127.0.0.1`` for a wildcard host)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/"

    def start(self):
        """Binds the port and serves in a daemon thread; returns :attr:`url`.

        Raises:
            OSError: if the port cannot be bound.
            RuntimeError: after :meth:`stop` (an application serves once; make a new server).
        """
        from aiohttp import web

        if self._loop is not None:
            return self.url
        if self._stopped:
            raise RuntimeError("This UIServer was stopped; create a new one to serve again.")
        sock = socket.create_server((self.host, self.port))
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
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
            loop.close()

        self._loop, self._runner = loop, runner
        self._thread = threading.Thread(target=run, name="keras-cvcls-ui", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._loop = None
            raise failure[0]
        return self.url

    def stop(self):
        """Stops serving and joins the thread."""
        if self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop = None
        self._stopped = True

    @property
    def running(self):
        """True between :meth:`start` and :meth:`stop`."""
        return self._loop is not None and self._thread.is_alive()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def show(
    dataset_or_dir, run=None, port=None, *, view="annotate", mode="widget", host="127.0.0.1", width="100%", height=760
):
    """Shows the UI in a notebook: starts it in a background thread and returns a widget of it.

    The server is started once per dataset, run and port, and reused by later
    calls. The three views are cvtk's three widgets: ``"annotate"`` (fix labels),
    ``"results"`` (test images, predictions, mistakes) and ``"pr"`` (precision /
    recall with a threshold slider); the last two need ``run``.

    The default widget (:class:`~keras_cvcls.ui.widget.UIWidget`) talks to the
    server through the kernel, so it works wherever notebook widgets do
    (JupyterLab, Notebook 7, JupyterHub, VS Code local or remote, Colab); the
    browser never needs to reach the server's port. ``mode="iframe"`` embeds
    ``http://127.0.0.1:PORT`` instead, which a browser on the kernel's machine
    can show while a cell runs.

    Args:
        dataset_or_dir: a dataset folder or a :class:`~keras_cvcls.data.ClassificationDataset`
            (shared with the UI: fixes made there change it).
        run: a training run folder, or None.
        port: port to serve on (default: a free one).
        view: the view to open: ``"annotate"``, ``"results"`` or ``"pr"``.
        mode: ``"widget"`` (needs ``anywidget``: ``pip install 'keras-cvcls[notebook]'``; the URL
            outside a Jupyter kernel, in a script or a terminal), ``"iframe"`` (an
            ``IPython.display.IFrame`` of the server's URL; the URL where IPython is not
            installed) or ``"url"`` (the URL).
        host: address to bind.
        width: width of the widget or IFrame (CSS).
        height: height of the widget (its greatest; it scrolls inside) or IFrame, in pixels.

    Returns:
        A :class:`~keras_cvcls.ui.widget.UIWidget`, an ``IPython.display.IFrame``, or the
        view's URL (a str).

    Raises:
        ValueError: for an unknown ``view`` or ``mode``, a bad folder or run.
        ImportError: for ``mode="widget"`` in a kernel without ``anywidget``.

    Example:
        >>> show("photos/", run="runs/1", view="results")
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}. Received: view={view!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")
    widget = mode == "widget" and _in_kernel()
    if widget:  # before a server is started: a missing anywidget is the first thing to hear
        from keras_cvcls.ui.widget import UIWidget
    if isinstance(dataset_or_dir, (str, os.PathLike)):
        data_key = os.path.abspath(os.fspath(dataset_or_dir))
    else:
        data_key = id(dataset_or_dir)  # the server keeps the dataset alive, so the id stays its own
    key = (data_key, os.path.abspath(os.fspath(run)) if run is not None else None, port, host)
    with _servers_lock:
        server = _servers.get(key)
        if server is None or not server.running:
            server = UIServer(dataset_or_dir, run, host=host, port=port or 0)
            server.start()
            _servers[key] = server
    url = f"{server.url}#{view}"
    if widget:
        return UIWidget(server, view=view, width=width, height=height)
    if mode == "iframe":
        try:
            from IPython.display import IFrame
        except ImportError:
            return url
        return IFrame(url, width=width, height=height)
    return url


def _in_kernel():
    """True in a Jupyter kernel (where a widget can be shown), False in a script or a terminal IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def stop_all():
    """Stops every server :func:`show` started; returns how many."""
    with _servers_lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.stop()
    return len(servers)

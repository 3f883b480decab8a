"""The UI in a Jupyter notebook (cvtk's three widgets) or any Python process, served from a thread."""

import asyncio
import os
import socket
import threading

from keras_cvcls.arguments import check_arguments, keyword_names

VIEWS = ("annotate", "results", "pr")

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
        **app_kwargs: passed to :func:`~keras_cvcls.ui.app.create_app` (``model``, ``scores``,
            ``labels``, ``page_size``, ``thumb_size``, ``thumb_cache_dir``, ``batch_size``); an unknown
            name raises ``ValueError``, and so does any of them when ``data`` is an application.

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
    dataset_or_dir, run=None, port=None, *, model=None, scores=None, labels=None, view="annotate",
    host="127.0.0.1", width="100%", height=760,
):
    """Shows the UI in a notebook: starts it in a background thread and returns an IFrame.

    The server is started once per dataset, results source and port, and reused by
    later calls. The three views are cvtk's three widgets: ``"annotate"`` (fix labels),
    ``"results"`` (scored images, predictions, mistakes) and ``"pr"`` (precision /
    recall with a threshold slider); the last two need ``run``, ``model`` or ``scores``.

    Args:
        dataset_or_dir: a dataset folder or a :class:`~keras_cvcls.data.ClassificationDataset`
            (shared with the UI: fixes made there change it).
        run: a training run folder, or None.
        port: port to serve on (default: a free one).
        model: a saved classifier (a path or a classifier object) scoring every image, or None.
        scores: class probabilities, one row per image of ``dataset_or_dir``, or None.
        labels: the class names of the columns of ``scores`` (default: the dataset's labels).
        view: the view to open: ``"annotate"``, ``"results"`` or ``"pr"``.
        host: address to bind.
        width: IFrame width.
        height: IFrame height in pixels.

    Returns:
        An ``IPython.display.IFrame`` of the view, or its URL (a str) where IPython is
        not installed.

    Raises:
        ValueError: for an unknown ``view``, a bad folder or run.

    Example:
        >>> show("photos/", run="runs/1", view="results")
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}. Received: view={view!r}")
    if isinstance(dataset_or_dir, (str, os.PathLike)):
        data_key = os.path.abspath(os.fspath(dataset_or_dir))
    else:
        data_key = id(dataset_or_dir)  # the server keeps the dataset alive, so the id stays its own
    sources = (_source_key(run), _source_key(model), _source_key(scores), None if labels is None else tuple(labels))
    key = (data_key, *sources, port, host)
    with _servers_lock:
        server = _servers.get(key)
        if server is None or not server.running:
            server = UIServer(dataset_or_dir, run, model=model, scores=scores, labels=labels, host=host, port=port or 0)
            server.start()
            _servers[key] = server
    url = f"{server.url}#{view}"
    try:
        from IPython.display import IFrame
    except ImportError:
        return url
    return IFrame(url, width=width, height=height)


def _source_key(value):
    """A path by its absolute form; an object by its id (the server keeps it alive, so the id stays its own)."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return os.path.abspath(os.fspath(value))
    return id(value)


def stop_all():
    """Stops every server :func:`show` started; returns how many."""
    with _servers_lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.stop()
    return len(servers)

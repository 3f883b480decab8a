"""The UI in a Jupyter notebook (cvtk's three widgets) or any Python process, served from a thread."""

import os
import threading

from keras_cvcls.arguments import check_arguments, keyword_names
from keras_cvcls.http_thread import AiohttpThread

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
            (it can change labels and has no log-in). The UI answers requests addressed
            to this host, ``localhost``, ``127.0.0.1``, ``::1`` or the IP address they
            reach (``allowed_hosts=`` names more).
        port: port to bind; 0 picks a free one (see :attr:`port` after :meth:`start`).
        **app_kwargs: passed to :func:`~keras_cvcls.ui.app.create_app` (``model``, ``scores``,
            ``labels``, ``page_size``, ``thumb_size``, ``thumb_cache_dir``, ``batch_size``,
            ``allowed_hosts``); an unknown name raises ``ValueError``, and so does any of them
            when ``data`` is an application.

    Example:
        >>> with UIServer("photos/", run_dir="runs/1") as server:
        ...     print(server.url)
    """

    def __init__(self, data, run_dir=None, *, host="127.0.0.1", port=0, **app_kwargs):
        from aiohttp import web

        from keras_cvcls.ui.app import UI_STATE, create_app

        if isinstance(data, web.Application):  # built already: create_app's options would be dropped
            check_arguments(app_kwargs, [], "UIServer given an application (create_app's options do not apply)")
            self.app = data
        else:
            valid = [name for name in keyword_names(create_app) if name not in ("data_dir", "run_dir")]
            check_arguments(app_kwargs, valid, "UIServer")
            self.app = create_app(data, run_dir, **app_kwargs)
        if UI_STATE in self.app:
            self.app[UI_STATE].guard.allow_host(host)  # requests addressed to the bound host are its own
        self.host = host
        self.port = port
        self._server = None
        self._stopped = False

    @property
    def url(self):
        """``http://HOST:PORT/`` of the running server (``127.0.0.1`` for a wildcard host)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://[{host}]:{self.port}/" if ":" in host else f"http://{host}:{self.port}/"

    def start(self):
        """Binds the port and serves in a daemon thread; returns :attr:`url`.

        Raises:
            OSError: if the port cannot be bound.
            RuntimeError: after :meth:`stop` (an application serves once; make a new server).
        """
        if self._server is not None:
            return self.url
        if self._stopped:
            raise RuntimeError("This UIServer was stopped; create a new one to serve again.")
        server = AiohttpThread(self.app, self.host, self.port, name="keras-cvcls-ui", shutdown_timeout=5.0)
        self.port, self._server = server.start(), server
        return self.url

    def stop(self):
        """Stops serving and joins the thread."""
        if self._server is not None:
            self._server.stop()
            self._server, self._stopped = None, True

    @property
    def running(self):
        """True between :meth:`start` and :meth:`stop`."""
        return self._server is not None and self._server.running

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def show(
    dataset_or_dir, run=None, port=None, *, model=None, scores=None, labels=None, view="annotate", mode="widget",
    host="127.0.0.1", width="100%", height=760,
):
    """Shows the UI in a notebook: starts it in a background thread and returns a widget of it.

    The server is started once per dataset, results source and port, and reused by
    later calls. The three views are cvtk's three widgets: ``"annotate"`` (fix labels),
    ``"results"`` (scored images, predictions, mistakes) and ``"pr"`` (precision /
    recall with a threshold slider); the last two need ``run``, ``model`` or ``scores``.

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
        model: a saved classifier (a path or a classifier object) scoring every image, or None.
        scores: class probabilities, one row per image of ``dataset_or_dir``, or None.
        labels: the class names of the columns of ``scores`` (default: the dataset's labels).
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
    sources = (_source_key(run), _source_key(model), _source_key(scores), None if labels is None else tuple(labels))
    key = (data_key, *sources, port, host)
    with _servers_lock:
        server = _servers.get(key)
        if server is None or not server.running:
            server = UIServer(dataset_or_dir, run, model=model, scores=scores, labels=labels, host=host, port=port or 0)
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

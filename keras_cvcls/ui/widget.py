"""The UI as a notebook widget: the page the server serves, its requests carried over the kernel's comm.

Widget messages travel on the kernel's own channel, so the widget works wherever
the notebook does (JupyterLab, Notebook 7, JupyterHub, VS Code local and remote,
Colab): the browser never connects to the UI server, which stays on the kernel's
loopback. The front end is the page's own (``ui/static``): ``static/widget.js``
asks for it over the comm, mounts it in the widget's element and hands it a
request function that sends ``{id, method, path, headers}`` (and a body buffer)
to the kernel; :class:`UIWidget` forwards each request to the UI server and sends
back the status, headers and body (a binary buffer), so every view is served by
the same application as in a browser tab.
"""

import http.client
import json
import logging
import pathlib
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

try:
    import anywidget
except ImportError as e:
    raise ImportError(
        "The UI's notebook widget needs anywidget: pip install 'keras-cvcls[notebook]' "
        "(or call show(..., mode='iframe') when the browser runs on the kernel's machine)."
    ) from e
import traitlets

from keras_cvcls.ui.request_guards import TOKEN_HEADER

METHODS = ("GET", "HEAD", "POST")
# Headers a request may carry to the server (the session's token, read by the page from the server's own
# page, too); the rest (cookies of the notebook's origin...) stay behind.
REQUEST_HEADERS = ("accept", "content-type", TOKEN_HEADER.lower())
# Hop-by-hop headers, meaningless once the body is a comm buffer.
DROPPED_RESPONSE_HEADERS = ("connection", "keep-alive", "transfer-encoding")
MAX_WORKERS = 4
TIMEOUT_S = 600  # scoring a run's test images, the first time, may take minutes

log = logging.getLogger(__name__)

_pool = None
_pool_lock = threading.Lock()


def _workers():
    """The threads that forward requests (shared by every widget; made on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="keras-cvcls-widget")
        return _pool


class UIWidget(anywidget.AnyWidget):
    """One view of the UI in a notebook cell, reached through the kernel rather than a port.

    Made by :func:`~keras_cvcls.ui.show` (its default ``mode="widget"``). The
    views, keyboard shortcuts and label fixes are those of the browser UI; links
    to the HTML report open in a new tab from the widget's copy of it.
    A request waits while a cell runs (the kernel reads widget messages between
    cells); ``show(..., mode="iframe")`` or ``keras-cvcls ui`` serve the UI during
    a long cell, when the browser runs on the kernel's machine.

    Args:
        server: a started :class:`~keras_cvcls.ui.UIServer` (its :attr:`url` is
            reached from the kernel only).
        view: the view shown: ``"annotate"``, ``"results"`` or ``"pr"`` (it follows the
            user's choice in the widget; set it to switch).
        width: CSS width of the widget.
        height: greatest height of the widget in pixels; it scrolls inside beyond it.

    Raises:
        ValueError: for an unknown ``view`` or a ``height`` that is not a positive int.

    Example:
        >>> server = UIServer("photos/")
        >>> server.start()
        >>> UIWidget(server, view="annotate")
    """

    _esm = pathlib.Path(__file__).parent / "static" / "widget.js"
    view = traitlets.Unicode("annotate").tag(sync=True)
    width = traitlets.Unicode("100%").tag(sync=True)
    height = traitlets.Int(760).tag(sync=True)

    def __init__(self, server, *, view="annotate", width="100%", height=760):
        from keras_cvcls.ui.notebook import VIEWS

        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}. Received: view={view!r}")
        if isinstance(height, bool) or not isinstance(height, int) or height < 1:
            raise ValueError(f"height must be a positive int (pixels). Received: height={height!r}")
        super().__init__(view=view, width=str(width), height=height)
        self.server = server
        self.on_msg(self._on_message)

    def _on_message(self, widget, content, buffers):
        if not isinstance(content, dict) or content.get("kind") != "request":
            return
        body = bytes(buffers[0]) if buffers else None
        _workers().submit(self._answer, content, body)

    def _answer(self, message, body):
        try:
            status, reason, headers, payload = self.forward(message, body)
        except Exception as e:  # noqa: BLE001 - reported to the page (which would wait forever) and logged
            log.exception("Forwarding %s %s failed", message.get("method"), message.get("path"))
            status, reason, headers, payload = _error(500, "Internal Server Error", f"{type(e).__name__}: {e}")
        reply = {"kind": "response", "id": message.get("id"), "status": status, "reason": reason, "headers": headers}
        self.send(reply, buffers=[payload])

    def forward(self, message, body=None):
        """Sends one request of the page to the UI server; returns what the page gets back.

        Args:
            message: ``{"method", "path", "headers"}`` as the page sent it: a method of
                :data:`METHODS`, a path on the server (``/api/images?page=2``), and
                ``[name, value]`` pairs (only :data:`REQUEST_HEADERS` are passed on: a change
                needs the session's token, which the page reads from the server's page).
            body: the request body (bytes), or None.

        Returns:
            ``(status, reason, headers, body)``: the server's answer, or a 400 (a message
            the page could not have sent) or 503 (the server is gone) with a JSON
            ``{"error": message}`` body, as the server's own errors.
        """
        method, path = message.get("method"), message.get("path")
        if method not in METHODS:
            return _error(400, "Bad Request", f"method must be one of {METHODS}. Received: method={method!r}")
        if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
            return _error(400, "Bad Request", f"path must be a path on the UI server. Received: path={path!r}")
        headers = {
            str(name): str(value)
            for name, value in message.get("headers") or []
            if str(name).lower() in REQUEST_HEADERS
        }
        url = urllib.parse.urlsplit(self.server.url)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT_S)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except http.client.HTTPException as e:  # not HTTP: something else listens on the port
            return _error(502, "Bad Gateway", f"The keras-cvcls UI server's answer is not HTTP: {e!r}")
        except OSError as e:
            return _error(
                503, "Service Unavailable",
                f"The keras-cvcls UI server does not answer ({e}); it stops with kc.ui.stop_all() "
                "and with the kernel: run kc.ui.show(...) again.",
            )
        finally:
            connection.close()
        kept = [[k, v] for k, v in response.getheaders() if k.lower() not in DROPPED_RESPONSE_HEADERS]
        return response.status, response.reason, kept, payload


def _error(status, reason, message):
    body = json.dumps({"error": message}).encode()
    return status, reason, [["Content-Type", "application/json; charset=utf-8"]], body

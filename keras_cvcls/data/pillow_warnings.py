"""Pillow's warnings about one image file, gathered while it is read, to be reported once.

A malformed EXIF block makes Pillow warn once per broken tag: thousands of lines on stderr
for one photo, none naming it. :func:`gathering_pillow_warnings` collects them instead, so the
caller can say once which file they were about (``check_image`` does).

Python's warning filters are process-wide, and swapping them per call
(``warnings.catch_warnings``) from several threads at once corrupts them. So while any thread
is inside the scope, one shared hook is installed (reference-counted), and each thread's
warnings go to that thread's own list.
"""

import contextlib
import os
import threading
import warnings

_PILLOW_DIR = None
_lock = threading.Lock()
_local = threading.local()
_state = {"users": 0, "context": None, "passed_on": None}


def _from_pillow(filename):
    global _PILLOW_DIR
    if _PILLOW_DIR is None:
        import PIL

        _PILLOW_DIR = os.path.dirname(os.path.abspath(PIL.__file__)) + os.sep
    return os.path.abspath(filename or "").startswith(_PILLOW_DIR)


def _show(message, category, filename, lineno, file=None, line=None):
    caught = getattr(_local, "caught", None)
    if caught is not None and _from_pillow(filename):
        from PIL import Image

        if not issubclass(category, Image.DecompressionBombWarning):  # the pixel limit is checked on its own
            caught.append(str(message))
        return
    _state["passed_on"](message, category, filename, lineno, file, line)


def _install():
    with _lock:
        if _state["users"] == 0:
            context = warnings.catch_warnings()
            context.__enter__()
            # Every Pillow warning reaches the hook (the default filter shows a text only once).
            warnings.filterwarnings("always", module=r"PIL(\.|$)")
            _state.update(context=context, passed_on=warnings.showwarning)
            warnings.showwarning = _show
        _state["users"] += 1


def _uninstall():
    with _lock:
        _state["users"] -= 1
        if _state["users"] == 0:
            context, _state["context"] = _state["context"], None
            context.__exit__(None, None, None)


@contextlib.contextmanager
def gathering_pillow_warnings():
    """Within the block, warnings Pillow raises in this thread are collected, not shown.

    Yields:
        The list of the warnings' messages (``DecompressionBombWarning`` left out: the caller
        checks the pixel limit itself). Other warnings pass through unchanged.

    Example:
        >>> with gathering_pillow_warnings() as caught:
        ...     Image.open(path).getexif()
        >>> if caught:
        ...     warnings.warn(f"{path}: {len(caught)} EXIF problems")
    """
    _install()
    previous = getattr(_local, "caught", None)
    caught = _local.caught = []
    try:
        yield caught
    finally:
        _local.caught = previous
        _uninstall()

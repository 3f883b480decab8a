"""Browser views over a dataset and a training run: annotation, results, precision/recall.

The successor of cvtk's three notebook widgets, served by a small aiohttp
application that works offline (every file it needs ships in ``ui/static``)::

    keras-cvcls ui photos/ --run runs/1           # from a shell

    from keras_cvcls.ui import show               # in a notebook: a widget, reached through the kernel
    show("photos/", run="runs/1", view="pr")
"""

from keras_cvcls.ui.app import create_app
from keras_cvcls.ui.notebook import UIServer, show, stop_all
from keras_cvcls.ui.results import RunResults, counts_at
from keras_cvcls.ui.thumbnails import ThumbnailCache, make_thumbnail

__all__ = [
    "RunResults", "ThumbnailCache", "UIServer", "UIWidget", "counts_at", "create_app", "make_thumbnail", "show",
    "stop_all",
]


def __getattr__(name):
    # The widget needs anywidget (the notebook extra): imported when asked for.
    if name == "UIWidget":
        from keras_cvcls.ui.widget import UIWidget

        return UIWidget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

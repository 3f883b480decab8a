"""Browser views over a dataset and its scores: annotation, results, precision/recall.

The successor of cvtk's three notebook widgets, served by a small aiohttp
application that works offline (every file it needs ships in ``ui/static``).
The scores come from a training run, any saved classifier, or memory::

    keras-cvcls ui photos/ --run runs/1           # from a shell
    keras-cvcls ui photos/ --model my_model/

    from keras_cvcls.ui import show, ResultsUI    # in a notebook
    show("photos/", run="runs/1", view="pr")
    ResultsUI(test_set, model.predict_scores(test_set), model.labels)
"""

from keras_cvcls.ui.app import create_app
from keras_cvcls.ui.notebook import UIServer, show, stop_all
from keras_cvcls.ui.results import Results, counts_at
from keras_cvcls.ui.thumbnails import ThumbnailCache, make_thumbnail
from keras_cvcls.ui.views import AnnotationUI, PrecisionRecallUI, ResultsUI

__all__ = [
    "AnnotationUI",
    "PrecisionRecallUI",
    "Results",
    "ResultsUI",
    "ThumbnailCache",
    "UIServer",
    "counts_at",
    "create_app",
    "make_thumbnail",
    "show",
    "stop_all",
    "UIWidget",
]


def __getattr__(name):
    # The widget needs anywidget (the notebook extra): imported when asked for.
    if name == "UIWidget":
        from keras_cvcls.ui.widget import UIWidget

        return UIWidget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

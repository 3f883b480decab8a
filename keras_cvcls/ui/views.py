"""cvtk's three notebook widgets by their names: :class:`AnnotationUI`, :class:`ResultsUI`, :class:`PrecisionRecallUI`.

Each is a :class:`~keras_cvcls.ui.notebook.UIServer`, started when made, that opens
on its view; the last expression of a notebook cell shows it as the notebook widget
(:class:`~keras_cvcls.ui.widget.UIWidget`), or as an IFrame outside a Jupyter kernel::

    AnnotationUI("photos/")
    ResultsUI(test_set, model.predict_scores(test_set), model.labels)
    PrecisionRecallUI(test_set, scores, labels)
"""

import html

from keras_cvcls.ui.notebook import UIServer


class _ViewUI(UIServer):
    """A started :class:`UIServer` that shows one view in a notebook."""

    view = "annotate"

    def __init__(self, dataset, *, host="127.0.0.1", port=0, width="100%", height=760, **app_kwargs):
        super().__init__(dataset, host=host, port=port, **app_kwargs)
        self.width = width
        self.height = height
        self._widget = None  # the notebook widget, made when first shown in a kernel
        self.start()

    @property
    def view_url(self):
        """The URL of this widget's view."""
        return f"{self.url}#{self.view}"

    def _repr_mimebundle_(self, **kwargs):
        # In a Jupyter kernel: the widget, reached through the kernel (works on JupyterHub, remote
        # VS Code, Colab); elsewhere an IFrame of the loopback URL.
        from keras_cvcls.ui.notebook import _in_kernel

        if _in_kernel():
            from keras_cvcls.ui.widget import UIWidget

            if self._widget is None:
                self._widget = UIWidget(self, view=self.view, width=self.width, height=self.height)
            return self._widget._repr_mimebundle_(**kwargs)
        width = self.width if isinstance(self.width, str) else f"{self.width}px"
        return {"text/html": (
            f'<iframe src="{html.escape(self.view_url)}" width="{html.escape(width)}" height="{int(self.height)}" '
            'style="border: 1px solid #ddd" title="keras-cvcls"></iframe>'
        )}

    def __repr__(self):
        return f"{type(self).__name__}({self.view_url})"


class AnnotationUI(_ViewUI):
    """Browse a dataset and fix labels (cvtk's ``AnnotationUI``); fixes go to the dataset's sidecar.

    Args:
        dataset: a :class:`~keras_cvcls.data.ClassificationDataset` or a dataset folder.
        host: address to bind (keep ``127.0.0.1`` unless others should reach it).
        port: port; 0 picks a free one.
        width: IFrame width in a notebook.
        height: IFrame height in pixels.
        **app_kwargs: :func:`~keras_cvcls.ui.app.create_app`'s options (``page_size``, ``thumb_size``, ...).

    Example:
        >>> ui = AnnotationUI("photos/")   # shown as the cell's result; ui.stop() when done
    """

    view = "annotate"


class ResultsUI(_ViewUI):
    """The scored images with their true and predicted labels, mistakes first (cvtk's ``ResultsUI``).

    cvtk's argument order, with one difference: ``labels`` are the class names of the
    score columns (cvtk took the predicted label of each image; here it is the arg-max).

    Args:
        dataset: the scored :class:`~keras_cvcls.data.ClassificationDataset` (e.g. a test split)
            or a dataset folder; its labels (with fixes) are the true labels.
        scores: class probabilities, one row per image of ``dataset.images``, in order; or
            None with ``model=``.
        labels: the class names of the columns of ``scores`` (e.g. the model's ``labels``);
            default: the dataset's labels.
        model: instead of ``scores``, a saved classifier (a path or a classifier object) that
            scores every image of the dataset.
        **options: ``host``, ``port``, ``width``, ``height`` and :func:`~keras_cvcls.ui.app.create_app`'s
            options.

    Raises:
        ValueError: if neither or both of ``scores`` and ``model`` are given, or the scores do not fit.

    Example:
        >>> ResultsUI(test_set, model.predict_scores(test_set), model.labels)
    """

    view = "results"

    def __init__(self, dataset, scores=None, labels=None, *, model=None, **options):
        if (scores is None) == (model is None):
            raise ValueError(
                f"{type(self).__name__} needs scores (with labels) or model=, not both. "
                f"Received: scores={'None' if scores is None else '...'}, model={model!r}"
            )
        super().__init__(dataset, scores=scores, labels=labels, model=model, **options)


class PrecisionRecallUI(ResultsUI):
    """Precision / recall curves with a threshold slider (cvtk's ``PrecisionRecallUI``).

    Takes what :class:`ResultsUI` takes.

    Example:
        >>> PrecisionRecallUI(test_set, model.predict_scores(test_set), model.labels)
    """

    view = "pr"

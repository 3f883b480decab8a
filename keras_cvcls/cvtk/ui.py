"""cvtk's three notebook UIs, over :mod:`keras_cvcls.ui` and :mod:`keras_cvcls.evaluation`'s displays."""

import numpy as np


class AnnotationUI:
    """cvtk's ``AnnotationUI(dataset, context)``; ``ui`` is :class:`keras_cvcls.ui.AnnotationUI`.

    Args:
        dataset: the dataset to look through and fix labels of.
        context: cvtk's context, accepted for cvtk's call form (the UI needs no storage of its own).
    """

    def __init__(self, dataset, context=None):
        from keras_cvcls import ui

        self.ui = ui.AnnotationUI(dataset)


class ResultsUI:
    """cvtk's ``ResultsUI(dataset, context, pred_scores, pred_labels)``; ``ui`` is :class:`keras_cvcls.ui.ResultsUI`.

    Args:
        dataset: the scored (test) dataset; its ``labels`` name the score columns.
        context: cvtk's context, accepted for cvtk's call form.
        pred_scores: scores ``[N, C]``, e.g. ``ClassificationEvaluation.scores``.
        pred_labels: the predicted label of each image, as cvtk took them; they must be the
            arg-max of ``pred_scores``.

    Raises:
        ValueError: when ``pred_labels`` disagree with ``pred_scores``.
    """

    def __init__(self, dataset, context, pred_scores, pred_labels):
        from keras_cvcls import ui

        labels = [str(label) for label in dataset.labels]
        scores = np.asarray(pred_scores)
        shape_ok = scores.ndim == 2 and scores.shape[1] == len(labels)
        if not shape_ok or [str(label) for label in pred_labels] != [labels[i] for i in np.argmax(scores, axis=1)]:
            raise ValueError(
                "pred_labels must be the arg-max of pred_scores, whose columns are dataset.labels "
                f"{labels}. Received: pred_scores of shape {scores.shape}, pred_labels={list(pred_labels)[:5]!r}..."
            )
        self.ui = ui.ResultsUI(dataset, scores, labels)


class PrecisionRecallUI:
    """cvtk's ``PrecisionRecallUI(precisions, recalls, thresholds)``: the curve, and its values at a threshold.

    cvtk's widget took percentages (the walkthrough passes ``100 * precisions``). Here ``ui``
    is a :class:`keras_cvcls.PrecisionRecallDisplay` of the curve and :meth:`at` reads it at a
    threshold. The interactive view over a test set, with a threshold slider, is
    :class:`keras_cvcls.ui.PrecisionRecallUI` ``(dataset, scores, labels)``.

    Args:
        precisions: precision in percent per threshold.
        recalls: recall in percent per threshold.
        thresholds: the score thresholds, one per point.

    Raises:
        ValueError: for arrays of different lengths or percentages outside [0, 100].
    """

    def __init__(self, precisions, recalls, thresholds):
        arrays = (np.asarray(a, dtype=float) for a in (precisions, recalls, thresholds))
        self.precisions, self.recalls, self.thresholds = arrays
        sizes = {len(self.precisions), len(self.recalls), len(self.thresholds)}
        in_range = all(((a >= 0) & (a <= 100)).all() for a in (self.precisions, self.recalls))
        if len(sizes) != 1 or not in_range:
            raise ValueError(
                "precisions, recalls and thresholds must have one value per point, precisions and recalls in "
                f"percent. Received: lengths {len(self.precisions)}, {len(self.recalls)}, {len(self.thresholds)}"
            )
        self._display = None

    @property
    def ui(self):
        """The :class:`~keras_cvcls.PrecisionRecallDisplay` of the curve, drawn on first use."""
        if self._display is None:
            from keras_cvcls.evaluation import PrecisionRecallDisplay

            curve = {"precision": self.precisions / 100, "recall": self.recalls / 100}
            self._display = PrecisionRecallDisplay({"all classes": {**curve, "average_precision": float("nan")}}).plot()
        return self._display.figure_

    def at(self, threshold):
        """``(precision, recall)`` in percent at the lowest threshold of the curve at or above ``threshold``
        (at the highest one when ``threshold`` is above them all): what cvtk's slider showed."""
        order = np.argsort(self.thresholds, kind="stable")
        i = order[min(np.searchsorted(self.thresholds[order], threshold), len(order) - 1)]
        return float(self.precisions[i]), float(self.recalls[i])

"""Per-label decision thresholds of a multi-label classifier, tuned on validation scores."""

import warnings

import numpy as np
from sklearn import metrics

OBJECTIVES = ("f1", "precision")


def tune_thresholds(y_true, scores, labels, *, objective="f1", target_precision=None):
    """Chooses one threshold per label from validation scores (a score at or above it: label present).

    Each label's candidates are the thresholds of ``sklearn.metrics.precision_recall_curve``
    (its distinct scores); the chosen one is then moved half-way down to the next lower score
    of that label, which makes the same decisions on this data and leaves a margin for new images.

    * ``objective="f1"``: the threshold with the best F1 (ties: the lowest threshold);
    * ``objective="precision"``: the lowest threshold whose precision is at least
      ``target_precision`` (the most recall at that precision). Where no threshold reaches
      it, the one with the best precision is taken, ``"reached"`` is False, and a
      ``UserWarning`` names the labels.

    A label absent from ``y_true`` cannot be tuned: it keeps 0.5 and ``"reached"`` is False.

    Args:
        y_true: multi-hot array ``[N, C]``.
        scores: probabilities ``[N, C]``.
        labels: the ``C`` label names.
        objective: ``"f1"`` or ``"precision"``.
        target_precision: for ``"precision"``, a number in (0, 1].

    Returns:
        ``{label: {"threshold", "precision", "recall", "f1", "reached"}}``, the last four as
        measured on this data at that threshold.

    Raises:
        ValueError: for shapes that disagree, or a bad ``objective`` or ``target_precision``.

    Example:
        >>> tune_thresholds([[1, 0], [0, 1], [1, 1]], [[.9, .2], [.3, .6], [.7, .4]], ["a", "b"])["b"]["threshold"]
        0.3
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}. Received: objective={objective!r}")
    if objective == "precision":
        if isinstance(target_precision, bool) or not isinstance(target_precision, (int, float)) or not 0 < target_precision <= 1:
            raise ValueError(
                "objective='precision' needs target_precision, a number in (0, 1]. "
                f"Received: target_precision={target_precision!r}"
            )
    elif target_precision is not None:
        raise ValueError(
            f"target_precision goes with objective='precision'. Received: objective={objective!r}, "
            f"target_precision={target_precision!r}"
        )
    y_true, scores = np.asarray(y_true), np.asarray(scores, dtype=np.float64)
    labels = list(labels)
    if y_true.ndim != 2 or y_true.shape != scores.shape or y_true.shape[1] != len(labels):
        raise ValueError(
            f"y_true and scores must both have shape [N, {len(labels)}]. "
            f"Received: y_true {list(y_true.shape)}, scores {list(scores.shape)}"
        )
    tuned, missed = {}, []
    for j, label in enumerate(labels):
        if not y_true[:, j].any():
            tuned[label] = {"threshold": 0.5, "precision": None, "recall": None, "f1": None, "reached": False}
            continue
        precision, recall, thresholds = metrics.precision_recall_curve(y_true[:, j], scores[:, j])
        precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
        denominator = precision + recall
        f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
        reached = True
        if objective == "f1":
            best = int(np.flatnonzero(f1 == f1.max())[0])
        else:
            ok = np.flatnonzero(precision >= target_precision)
            if len(ok):
                best = int(ok[0])
            else:
                best, reached = int(np.argmax(precision)), False
                missed.append(label)
        threshold = float(thresholds[best])
        below = scores[:, j][scores[:, j] < threshold]
        if below.size:  # half-way to the next lower score: the same decisions here, a margin for new images
            threshold = float((threshold + below.max()) / 2)
        tuned[label] = {
            "threshold": threshold, "precision": float(precision[best]), "recall": float(recall[best]),
            "f1": float(f1[best]), "reached": reached,
        }
    if missed:
        warnings.warn(
            f"No threshold reaches precision {target_precision} for {missed}; the most precise one was taken "
            "(see 'reached' and 'precision' in the result).",
            stacklevel=2,
        )
    return tuned

"""``LabelMetric``: the accuracy or F1 of one label of a multi-label (sigmoid) classifier, per epoch."""

import keras
from keras import ops

KINDS = ("accuracy", "f1")


@keras.saving.register_keras_serializable(package="keras_cvcls")
class LabelMetric(keras.metrics.Metric):
    """Accuracy or F1 of one output column, thresholded at ``threshold``; for multi-label training logs.

    ``ImageClassifier(multi_label=True).compile()`` adds one per label and kind, so Keras shows
    ``accuracy_<label>`` and ``f1_<label>`` (and ``val_...``) every epoch. F1 is
    ``2 TP / (2 TP + FP + FN)`` (0 when the label is neither present nor predicted), as
    ``sklearn.metrics.f1_score(zero_division=0)`` computes it.

    Args:
        index: the label's column.
        kind: ``"accuracy"`` or ``"f1"``.
        threshold: a score at or above it predicts the label (Keras' metrics use ``>``;
            ours ``>=``, as the tuned thresholds do).
        name: the logged name.
        dtype: the metric's dtype.

    Example:
        >>> metric = LabelMetric(1, "f1", name="f1_bees")
        >>> metric.update_state([[0, 1], [1, 0]], [[0.2, 0.9], [0.8, 0.7]])
        >>> float(metric.result())
        0.6666667
    """

    def __init__(self, index, kind="f1", threshold=0.5, name=None, dtype=None):
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"index must be an int >= 0. Received: index={index!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}. Received: kind={kind!r}")
        super().__init__(name=name or f"{kind}_{index}", dtype=dtype)
        self.index, self.kind, self.threshold = index, kind, float(threshold)
        self.counts = self.add_variable(shape=(4,), initializer="zeros", name="counts")  # tp, fp, fn, tn

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.convert_to_tensor(y_true)[:, self.index], "float32")
        y_pred = ops.cast(ops.cast(ops.convert_to_tensor(y_pred)[:, self.index], "float32") >= self.threshold, "float32")
        tp = ops.sum(y_true * y_pred)
        fp = ops.sum((1 - y_true) * y_pred)
        fn = ops.sum(y_true * (1 - y_pred))
        tn = ops.sum((1 - y_true) * (1 - y_pred))
        self.counts.assign_add(ops.cast(ops.stack([tp, fp, fn, tn]), self.dtype))

    def result(self):
        tp, fp, fn, tn = self.counts[0], self.counts[1], self.counts[2], self.counts[3]
        if self.kind == "accuracy":
            return ops.divide_no_nan(tp + tn, tp + fp + fn + tn)
        return ops.divide_no_nan(2 * tp, 2 * tp + fp + fn)

    def reset_state(self):
        self.counts.assign(ops.zeros((4,), self.dtype))

    def get_config(self):
        return {"index": self.index, "kind": self.kind, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}

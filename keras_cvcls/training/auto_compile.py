"""What ``compile(optimizer="auto", loss="auto", metrics="auto")`` means for a softmax classifier.

``ImageClassifier.compile`` and the ``fine_tune`` recipe resolve ``"auto"`` here, so a model
compiled by hand with the defaults and one compiled by the recipe log the same names
(``loss``, ``accuracy``; ``val_loss``, ``val_accuracy`` with validation data).
"""

import keras

AUTO = "auto"
# cvtk's optimizer: SGD with momentum 0.9 and 0.01, the rate of its first epochs. A float rate,
# so StepLR can set a rate per epoch.
AUTO_LEARNING_RATE = 0.01
AUTO_MOMENTUM = 0.9


def _is_auto(value):
    return isinstance(value, str) and value == AUTO


def auto_compile_arguments(optimizer=AUTO, loss=AUTO, metrics=AUTO, *, one_hot=False, label_smoothing=0.0,
                           multi_label_labels=None):
    """Returns ``{"optimizer", "loss", "metrics"}`` with each ``"auto"`` replaced by its default.

    With ``one_hot=True`` or ``label_smoothing > 0`` the ``"auto"`` loss and metric are the
    categorical ones (``CategoricalCrossentropy(label_smoothing=...)``, ``CategoricalAccuracy``
    logged as ``accuracy``): labels must then be one-hot (or mixed, by MixUp / CutMix; see
    :func:`keras_cvcls.augment.label_mixing.mix_batches`).

    * ``optimizer="auto"``: ``keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)``;
    * ``loss="auto"``: ``keras.losses.SparseCategoricalCrossentropy()`` (integer labels,
      probabilities from a softmax);
    * ``metrics="auto"``: ``[keras.metrics.SparseCategoricalAccuracy(name="accuracy")]``, logged
      as ``accuracy`` and ``val_accuracy``.

    For a multi-label (sigmoid) classifier, ``multi_label_labels`` (its label names) makes
    ``"auto"`` mean ``keras.losses.BinaryCrossentropy(label_smoothing=...)`` and the metrics
    ``BinaryAccuracy(name="accuracy")``, ``F1Score(average="micro", threshold=0.5, name="f1")``
    and, per label, ``accuracy_<label>`` and ``f1_<label>``
    (:class:`~keras_cvcls.training.label_metric.LabelMetric`).

    Anything else is passed through unchanged (an optimizer, a name, a schedule-driven optimizer).

    Example:
        >>> arguments = auto_compile_arguments(optimizer=keras.optimizers.Adam(1e-4))
        >>> type(arguments["loss"]).__name__
        'SparseCategoricalCrossentropy'
    """
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) or not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be a number in [0, 1). Received: label_smoothing={label_smoothing!r}")
    categorical = bool(one_hot or label_smoothing)
    if _is_auto(optimizer):
        optimizer = keras.optimizers.SGD(learning_rate=AUTO_LEARNING_RATE, momentum=AUTO_MOMENTUM)
    if multi_label_labels is not None:
        from keras_cvcls.training.label_metric import LabelMetric

        if _is_auto(loss):
            loss = keras.losses.BinaryCrossentropy(label_smoothing=float(label_smoothing))
        if _is_auto(metrics):
            metrics = [
                keras.metrics.BinaryAccuracy(name="accuracy"),
                keras.metrics.F1Score(average="micro", threshold=0.5, name="f1"),
                *[LabelMetric(i, kind, name=f"{kind}_{label}")
                  for kind in ("accuracy", "f1") for i, label in enumerate(multi_label_labels)],
            ]
    if _is_auto(loss):
        loss = (keras.losses.CategoricalCrossentropy(label_smoothing=float(label_smoothing)) if categorical
                else keras.losses.SparseCategoricalCrossentropy())
    if _is_auto(metrics):
        metrics = [(keras.metrics.CategoricalAccuracy if categorical else keras.metrics.SparseCategoricalAccuracy)(
            name="accuracy")]
    return {"optimizer": optimizer, "loss": loss, "metrics": metrics}

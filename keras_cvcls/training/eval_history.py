"""Per-epoch train and evaluation accuracy, cvtk's ``train_eval_accs``, as a callback."""

import math

import keras
import numpy as np

from keras_cvcls.training.step_lr import current_learning_rate


def _as_class_ids(labels):
    """Integer class ids from int labels ``[B]`` (or ``[B, 1]``) or one-hot labels ``[B, C]``."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        return np.argmax(labels, axis=1)
    return labels.reshape(-1).astype(np.int64)


def _predicted_ids(scores):
    """Arg-max class ids of scores ``[B, C]``; a single column is thresholded at 0.5 (Keras' binary accuracy)."""
    scores = np.asarray(scores)
    if scores.ndim == 2 and scores.shape[1] == 1:
        return (scores[:, 0] > 0.5).astype(np.int64)
    return np.argmax(scores.reshape(len(scores), -1), axis=1)


def _iterate_predictions(model, dataset, with_loss=False):
    """One pass over ``(inputs, labels)`` batches: ``(scores, class_ids, loss or None)``."""
    scores, labels = [], []
    loss_sum, count = 0.0, 0
    for batch in dataset:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(
                "The dataset must yield (inputs, labels) batches. "
                f"Received: a batch of type {type(batch).__name__}"
            )
        x, y = batch[0], batch[1]
        # A direct call, not predict_on_batch: under a tf.distribute strategy the latter
        # returns one copy of the outputs per replica.
        y_pred = keras.ops.convert_to_numpy(model(x, training=False))
        scores.append(np.asarray(y_pred))
        labels.append(_as_class_ids(keras.ops.convert_to_numpy(y)))
        if with_loss:
            # The loss model.evaluate reports: the compiled loss (plus regularisation) of each
            # batch, averaged over batches weighted by their size.
            loss = model.compute_loss(x=x, y=y, y_pred=keras.ops.convert_to_tensor(y_pred), training=False)
            loss_sum += float(keras.ops.convert_to_numpy(loss)) * len(scores[-1])
            count += len(scores[-1])
    if not scores:
        raise ValueError("The dataset yielded no batch. Received: an empty dataset")
    return np.concatenate(scores), np.concatenate(labels), (loss_sum / count if with_loss else None)


def predict_with_labels(model, dataset):
    """Runs a model over a dataset of ``(inputs, labels)`` batches in one pass.

    Inputs and labels come from the same iteration, so predictions stay aligned
    with labels even when the dataset reshuffles on every pass.

    Args:
        model: A Keras model.
        dataset: Iterable of ``(inputs, labels)`` batches (e.g. a ``tf.data.Dataset``);
            ``(inputs, labels, sample_weights)`` batches are accepted and the weights ignored.

    Returns:
        ``(scores, class_ids)``: the model outputs ``[N, C]`` and the true class ids ``[N]``.

    Raises:
        ValueError: If the dataset yields no batch, or batches that are not tuples.
    """
    scores, labels, _ = _iterate_predictions(model, dataset)
    return scores, labels


def evaluate_accuracy(model, dataset):
    """Returns the fraction of correctly classified examples of a dataset.

    The predicted class is the arg-max of the model's output (first on ties),
    as Keras' ``"accuracy"`` metric computes it, so this equals the accuracy
    ``model.evaluate(dataset)`` reports.

    Args:
        model: A Keras model.
        dataset: Iterable of ``(inputs, labels)`` batches.

    Returns:
        A float in [0, 1].
    """
    scores, labels = predict_with_labels(model, dataset)
    return float(np.mean(_predicted_ids(scores) == labels))


_TRAIN_ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")


class EvalHistory(keras.callbacks.Callback):
    """Records train and evaluation accuracy, the losses and the learning rate after every epoch.

    cvtk's ``train_eval_accs`` as a callback. The evaluation numbers come from one of two places:

    * without ``eval_data`` (the usual way): Keras' own validation of
      ``fit(validation_data=...)``, read from the epoch logs (``val_accuracy``, ``val_loss``);
      without validation data they are recorded as NaN;
    * with ``eval_data``: the model (in inference mode) classifies every batch of it at
      the end of each epoch; the accuracy equals what ``model.evaluate(eval_data)``
      reports with an ``"accuracy"`` metric at that moment, and so does the loss when the
      model was compiled with one.

    It never logs under names of its own. With ``eval_data`` and a ``fit`` given no
    validation data, it is the validation: it writes ``val_accuracy`` and ``val_loss`` into
    the epoch logs, so callbacks after it (``History``, ``EarlyStopping``, TensorBoard's
    ``validation`` run) see what Keras' validation would have given them.

    The train accuracy is Keras' logged training ``"accuracy"`` (the running mean over
    the epoch's batches, in training mode: with augmentation and dropout), or, when
    ``train_data`` is given, the accuracy of the model on ``train_data`` at the end of
    the epoch, as cvtk reported it. Without either it is recorded as NaN.

    Entry ``i`` of each list belongs to epoch ``i``: a ``fit`` from epoch 0 starts the
    record afresh; one continuing with ``initial_epoch=n`` keeps the first ``n`` epochs.

    Args:
        eval_data: Optional ``tf.data.Dataset`` (or any iterable) of ``(images, labels)``
            batches to evaluate after each epoch; labels are int class ids or one-hot.
        train_data: Optional dataset of the same form to measure the train
            accuracy on (without augmentation, for comparable numbers).
        verbose: 0 for quiet, 1 to print both accuracies after each epoch.

    Attributes:
        history: Dict of per-epoch lists ``"train_accuracy"``, ``"eval_accuracy"``,
            ``"train_loss"``, ``"eval_loss"`` and ``"lr"`` (NaN where there is no value).

    Example:
        >>> eval_history = EvalHistory()
        >>> model.fit(train_pipeline, validation_data=test_pipeline, epochs=5, callbacks=[eval_history])
        >>> eval_history.plot("accuracy.png")
    """

    def __init__(self, eval_data=None, train_data=None, verbose=0):
        super().__init__()
        if eval_data is not None and not hasattr(eval_data, "__iter__"):
            raise ValueError(
                "eval_data must be None or a tf.data.Dataset (or iterable) of (images, labels) batches. "
                f"Received: eval_data={eval_data!r}"
            )
        if train_data is not None and not hasattr(train_data, "__iter__"):
            raise ValueError(
                "train_data must be None or a tf.data.Dataset (or iterable) of (images, labels) batches. "
                f"Received: train_data={train_data!r}"
            )
        if verbose not in (0, 1, 2, True, False):
            raise ValueError(f"verbose must be 0, 1 or 2. Received: verbose={verbose!r}")
        self.eval_data = eval_data
        self.train_data = train_data
        self.verbose = int(verbose)
        self.history = self._empty_history()
        self.last_predictions = None

    @staticmethod
    def _empty_history():
        return {"train_accuracy": [], "eval_accuracy": [], "train_loss": [], "eval_loss": [], "lr": []}

    @property
    def train_eval_accs(self):
        """``(train_accuracies, eval_accuracies)``, one entry per epoch (cvtk's ``train_eval_accs``)."""
        return list(self.history["train_accuracy"]), list(self.history["eval_accuracy"])

    def _evaluate(self, logs):
        """``(eval_accuracy, eval_loss)`` of this epoch; NaN where there is none."""
        keras_validated = any(key.startswith("val_") for key in logs)
        if self.eval_data is None:
            key = next((k for k in _TRAIN_ACCURACY_KEYS if f"val_{k}" in logs), None)
            return (float(logs[f"val_{key}"]) if key else float("nan"), float(logs.get("val_loss", float("nan"))))
        with_loss = getattr(self.model, "loss", None) is not None
        scores, labels, eval_loss = _iterate_predictions(self.model, self.eval_data, with_loss=with_loss)
        self.last_predictions = (scores, labels)  # this epoch's, for TensorBoardExtras(eval_history=...)
        accuracy = float(np.mean(_predicted_ids(scores) == labels))
        if not keras_validated:  # this is the epoch's validation: under Keras' names
            logs["val_accuracy"] = accuracy
            if eval_loss is not None:
                logs["val_loss"] = eval_loss
        return accuracy, float("nan") if eval_loss is None else eval_loss

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        eval_accuracy, eval_loss = self._evaluate(logs)
        if self.train_data is not None:
            train_accuracy = evaluate_accuracy(self.model, self.train_data)
        else:
            key = next((k for k in _TRAIN_ACCURACY_KEYS if k in logs), None)
            train_accuracy = float(logs[key]) if key else float("nan")
        values = {
            "train_accuracy": train_accuracy,
            "eval_accuracy": eval_accuracy,
            "train_loss": float(logs.get("loss", float("nan"))),
            "eval_loss": eval_loss,
            "lr": current_learning_rate(self.model),
        }
        for key, value in values.items():
            del self.history[key][epoch:]  # a fit from epoch 0 starts afresh
            self.history[key].extend([float("nan")] * (epoch - len(self.history[key])) + [value])
        if self.verbose:
            train = "n/a" if math.isnan(train_accuracy) else f"{train_accuracy:.4f}"
            evaluated = "n/a" if math.isnan(eval_accuracy) else f"{eval_accuracy:.4f}"
            print(f"\nEpoch {epoch + 1}: train accuracy {train}, eval accuracy {evaluated}", flush=True)

    def plot(self, path=None, ax=None):
        """Draws the train and evaluation accuracy per epoch, and the learning rate.

        Without evaluation data only the train accuracy (and the learning rate) is drawn.
        Uses :class:`~keras_cvcls.evaluation.displays.TrainingCurveDisplay`
        (needs matplotlib, the ``plots`` extra).

        Args:
            path: Optional file to save the figure to (PNG for a ``.png`` name).
            ax: Axes to draw on; a new figure if None.

        Returns:
            The ``TrainingCurveDisplay``, with ``ax_`` and ``figure_``.

        Raises:
            ValueError: If no epoch has been recorded yet, or no accuracy at all (compile
                with an accuracy metric, or give evaluation data).
        """
        from keras_cvcls.evaluation.displays import TrainingCurveDisplay

        if not self.history["train_accuracy"]:
            raise ValueError("No epoch recorded yet: call plot() after model.fit(..., callbacks=[this]).")
        history = {
            key: self.history[key]
            for key in ("train_accuracy", "eval_accuracy")
            if not all(math.isnan(v) for v in self.history[key])
        }
        if not history:
            raise ValueError(
                "No accuracy to plot: compile the model with an accuracy metric (compile(metrics=\"auto\")) "
                "or fit with validation data. Received: only NaN accuracies"
            )
        if all(math.isfinite(v) and v > 0 for v in self.history["lr"]):
            history["lr"] = self.history["lr"]
        display = TrainingCurveDisplay.from_history(history, ax=ax)
        if path is not None:
            display.figure_.savefig(path, dpi=100)
        return display

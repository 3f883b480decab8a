"""TensorBoard summaries the stock callback does not write: confusion matrix, augmented samples."""

import io
import math
import os

import keras
import numpy as np
import tensorflow as tf

from keras_cvcls.training.eval_history import predict_with_labels


def image_grid(images, *, ncols=None, spacing=2):
    """Tiles images into one grid image.

    Args:
        images: Array ``[N, H, W, C]`` of pixels in [0, 255].
        ncols: Grid columns; about square if None.
        spacing: Pixels of black between cells.

    Returns:
        A uint8 array ``[rows * (H + spacing) - spacing, cols * (W + spacing) - spacing, C]``.
    """
    images = np.clip(np.asarray(images, dtype=np.float32), 0, 255).round().astype(np.uint8)
    n, h, w, c = images.shape
    ncols = ncols or max(1, math.ceil(math.sqrt(n)))
    nrows = max(1, math.ceil(n / ncols))
    grid = np.zeros((nrows * (h + spacing) - spacing, ncols * (w + spacing) - spacing, c), np.uint8)
    for i, image in enumerate(images):
        top, left = (i // ncols) * (h + spacing), (i % ncols) * (w + spacing)
        grid[top : top + h, left : left + w] = image
    return grid


def _take_images(source, max_samples):
    """Up to ``max_samples`` images from a batch tensor/array or a dataset of batches."""
    if isinstance(source, np.ndarray) or keras.ops.is_tensor(source):
        images = np.asarray(keras.ops.convert_to_numpy(source))
        return (images[None] if images.ndim == 3 else images)[:max_samples]
    taken, count = [], 0
    for batch in source:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        images = np.asarray(keras.ops.convert_to_numpy(images))
        if images.ndim == 3:  # an unbatched dataset
            images = images[None]
        taken.append(images[: max_samples - count])
        count += len(taken[-1])
        if count >= max_samples:
            break
    if not taken:
        raise ValueError("sample_images yielded no image. Received: an empty dataset")
    return np.concatenate(taken)


class TensorBoardExtras(keras.callbacks.Callback):
    """Writes a confusion matrix and augmented samples to TensorBoard.

    Every epoch, into the run ``LOG_DIR/extras`` (step = epoch, from 0):

    * image ``"confusion_matrix"``: the confusion matrix of the model on
      ``eval_data``, drawn by
      :class:`~keras_cvcls.evaluation.displays.ConfusionMatrixDisplay` (needs
      matplotlib), when ``eval_data`` is given;
    * image ``"augmented_samples"``: a grid of up to ``max_samples`` images of
      ``sample_images``, when given. A dataset is read again each epoch, so a
      randomly augmenting pipeline shows new draws.

    Use it beside the stock ``keras.callbacks.TensorBoard`` with the same
    ``log_dir``: that one writes the loss, the metrics and the learning rate
    (``epoch_learning_rate``) to ``LOG_DIR/train`` and the validation loss and
    metrics to ``LOG_DIR/validation``; this one writes its own run, so each
    event file has a single writer and each number is written once. The summary writer is created on first use and closed when
    training ends.

    Args:
        log_dir: The TensorBoard log folder.
        eval_data: Optional ``tf.data.Dataset`` of ``(images, labels)`` batches
            (int class ids or one-hot) for the confusion matrix.
        labels: Class names for the confusion matrix axes; ``"0"``, ``"1"``, ...
            (as many as the model has outputs) if None.
        sample_images: Optional augmented training images in [0, 255]: a batch
            tensor or array ``[N, H, W, 3]``, or a dataset yielding image
            batches or ``(images, labels)`` batches (e.g. the training pipeline).
        max_samples: Most images in the ``"augmented_samples"`` grid.
        eval_history: an :class:`EvalHistory` given the same ``eval_data`` and placed before
            this callback: its predictions of the epoch are reused (one pass over the data, not two).
        multi_label: the model is multi-label (sigmoid outputs, multi-hot labels): instead of
            the confusion matrix, image ``"pr_curves"``: each label's precision-recall curve on
            ``eval_data`` (:class:`~keras_cvcls.evaluation.PrecisionRecallDisplay`).

    Example:
        >>> callbacks = [
        ...     StepLR([0.01] * 5 + [0.001]),
        ...     keras.callbacks.TensorBoard("logs"),
        ...     TensorBoardExtras("logs", eval_data=test_pipeline, labels=ds.labels,
        ...                       sample_images=train_pipeline),
        ... ]
        >>> model.fit(train_pipeline, validation_data=test_pipeline, epochs=10, callbacks=callbacks)
    """

    RUN_NAME = "extras"

    def __init__(self, log_dir, eval_data=None, labels=None, sample_images=None, max_samples=16, eval_history=None,
                 multi_label=False):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise ValueError(f"log_dir must be a folder path. Received: log_dir={log_dir!r}")
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
            raise ValueError(f"max_samples must be a positive int. Received: max_samples={max_samples!r}")
        if labels is not None:
            labels = [str(label) for label in labels]
            if not labels:
                raise ValueError(
                    f"labels must be None or a non-empty list of class names. Received: labels={labels!r}"
                )
        if eval_data is not None and not hasattr(eval_data, "__iter__"):
            raise ValueError(
                "eval_data must be None or a tf.data.Dataset of (images, labels) batches. "
                f"Received: eval_data={eval_data!r}"
            )
        self.log_dir = os.fspath(log_dir)
        self.eval_data = eval_data
        self.labels = labels
        self.sample_images = sample_images
        self.max_samples = max_samples
        # An EvalHistory earlier in the callback list that already scored eval_data this epoch:
        # its predictions are reused instead of a second pass over the data.
        self.eval_history = eval_history
        self.multi_label = bool(multi_label)
        self._writer = None

    @property
    def run_dir(self):
        """The folder this callback's event files go to: ``LOG_DIR/extras``."""
        return os.path.join(self.log_dir, self.RUN_NAME)

    @property
    def writer(self):
        """The ``tf.summary`` writer, created on first use."""
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.run_dir)
        return self._writer

    def on_epoch_end(self, epoch, logs=None):
        if self.eval_data is None and self.sample_images is None:
            return
        with self.writer.as_default(step=epoch):
            if self.eval_data is not None and self.multi_label:
                tf.summary.image("pr_curves", self._pr_curves_image()[None], max_outputs=1)
            elif self.eval_data is not None:
                tf.summary.image("confusion_matrix", self._confusion_matrix_image()[None], max_outputs=1)
            if self.sample_images is not None:
                grid = image_grid(_take_images(self.sample_images, self.max_samples))
                tf.summary.image("augmented_samples", grid[None], max_outputs=1)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _pr_curves_image(self):
        """Multi-label: each label's precision-recall curve on ``eval_data``, as an RGB uint8 image."""
        from keras_cvcls.evaluation import MultiLabelEvaluation, PrecisionRecallDisplay

        scores, y_true = [], []
        for batch in self.eval_data:
            scores.append(np.asarray(keras.ops.convert_to_numpy(self.model(batch[0], training=False))))
            y_true.append(np.asarray(keras.ops.convert_to_numpy(batch[1])).round().astype(int))
        scores, y_true = np.concatenate(scores), np.concatenate(y_true)
        labels = self.labels or [str(i) for i in range(scores.shape[1])]
        evaluation = MultiLabelEvaluation.from_scores(y_true, scores, labels)
        display = PrecisionRecallDisplay.from_evaluation(evaluation)
        buffer = io.BytesIO()
        display.figure_.savefig(buffer, format="png", dpi=80)
        return tf.image.decode_png(buffer.getvalue(), channels=3)

    def _confusion_matrix_image(self):
        """The confusion matrix on ``eval_data``, rendered to an RGB uint8 image ``[H, W, 3]``."""
        from keras_cvcls.evaluation.displays import ConfusionMatrixDisplay

        shared = getattr(self.eval_history, "last_predictions", None)
        scores, y_true = shared if shared is not None else predict_with_labels(self.model, self.eval_data)
        scores = scores.reshape(len(scores), -1)
        if scores.shape[1] == 1:  # one sigmoid output: two classes
            scores = np.concatenate([1.0 - scores, scores], axis=1)
        labels = self.labels or [str(i) for i in range(scores.shape[1])]
        if len(labels) != scores.shape[1]:
            raise ValueError(
                f"labels must have one name per model output ({scores.shape[1]}). Received: labels={labels!r}"
            )
        display = ConfusionMatrixDisplay.from_predictions(y_true, scores, labels)
        buffer = io.BytesIO()
        display.figure_.savefig(buffer, format="png", dpi=80)
        return tf.image.decode_png(buffer.getvalue(), channels=3)

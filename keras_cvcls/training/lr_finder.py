"""``lr_find``: the learning-rate range test (fastai's ``lr_find``, Smith 2015) for any model.

A short run whose learning rate grows exponentially, step by step, from ``start_lr`` to
``end_lr``; the loss of every step is recorded and smoothed, the run stops once the smoothed
loss exceeds ``diverge`` times its minimum, and the weights are put back as they were.

**The suggestion rule** (fastai's classic): the rate at the minimum of the smoothed loss,
divided by 10, i.e. a rate an order of magnitude below the one where the loss stops falling.
The steepest-descent rate (most negative slope of the smoothed loss against log10 of the rate)
is reported beside it.

For an :class:`~keras_cvcls.models.ImageClassifier` and a
:class:`~keras_cvcls.data.ClassificationDataset` the test ramps what the recipe trains
(:func:`~keras_cvcls.training.fine_tune.fine_tune`): the ``unfreeze`` part and the head, with
batch norm frozen (``"top"``: on cached activations), SGD with the recipe's momentum, from a
fresh head (``head="fresh"``), so the suggestion is for ``fine_tune(lr=...)``. Any other compiled Keras model and ``tf.data`` dataset of
``(inputs, labels)`` batches is ramped as it is, with its compiled loss.
"""

import dataclasses
import math
import os

import keras
import numpy as np
import tensorflow as tf

RULE = "min_loss/10"
HEADS = ("fresh", "fitted")
RULE_TEXT = "the learning rate at the minimum of the smoothed loss, divided by 10"


@dataclasses.dataclass
class LRFinderResult:
    """What :func:`lr_find` measured.

    Attributes:
        learning_rates: the rate of each step.
        losses: the training loss of each step (of its batch, before the update).
        smoothed_losses: the exponential moving average of the losses, bias-corrected.
        suggestion: the suggested rate (:data:`RULE`: minimum of the smoothed loss / 10).
        steepest: the rate of steepest descent of the smoothed loss (for reference).
        min_loss_lr: the rate at the minimum of the smoothed loss.
        stopped_early: True when the loss diverged before ``num_steps``.
        rule: the suggestion rule, in words.
    """

    learning_rates: list
    losses: list
    smoothed_losses: list
    suggestion: float
    steepest: float
    min_loss_lr: float
    stopped_early: bool
    rule: str = RULE_TEXT

    def to_dict(self):
        """A JSON-able dict of every field."""
        return dataclasses.asdict(self)

    def plot(self, ax=None):
        """Draws the loss (raw and smoothed) against the rate (log scale), with the suggestion marked.

        Args:
            ax: matplotlib axes to draw on; a new figure (no pyplot) if None.

        Returns:
            The matplotlib ``Figure``.
        """
        from keras_cvcls.evaluation.displays import _new_axes

        figure, ax = _new_axes(ax, (6, 4))
        ax.plot(self.learning_rates, self.losses, color="0.75", linewidth=1, label="loss")
        ax.plot(self.learning_rates, self.smoothed_losses, color="C0", label="smoothed loss")
        ax.axvline(self.suggestion, color="C3", linestyle="--", label=f"suggested {self.suggestion:.2g} ({RULE})")
        ax.axvline(self.steepest, color="C2", linestyle=":", label=f"steepest {self.steepest:.2g}")
        ax.set_xscale("log")
        finite = [v for v in self.smoothed_losses if math.isfinite(v)]
        if finite:  # the divergence would squash the curve: show up to 1.5x the start
            low = min(finite + [v for v in self.losses if math.isfinite(v)])
            high = max(finite[0], min(finite)) * 1.5
            ax.set_ylim(low - 0.05 * (high - low + 1e-9), high)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        ax.set_title("Learning-rate range test")
        ax.legend(loc="best", fontsize="small")
        return figure

    def save_plot(self, path):
        """Writes :meth:`plot` as a PNG; returns ``path``."""
        figure = self.plot()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        figure.savefig(path, dpi=100)
        return path

    def write_tensorboard(self, logdir):
        """Writes the curve to TensorBoard, run ``LOGDIR/lr_find``: scalars per step and the plot image.

        Scalars (step = the step of the test): ``lr_find/loss``, ``lr_find/smoothed_loss``,
        ``lr_find/learning_rate``, ``lr_find/log10_learning_rate``; the image ``lr_find/plot``.
        """
        import io

        writer = tf.summary.create_file_writer(os.path.join(logdir, "lr_find"))
        with writer.as_default():
            for step, (rate, loss, smooth) in enumerate(zip(self.learning_rates, self.losses, self.smoothed_losses)):
                tf.summary.scalar("lr_find/loss", loss, step=step)
                tf.summary.scalar("lr_find/smoothed_loss", smooth, step=step)
                tf.summary.scalar("lr_find/learning_rate", rate, step=step)
                tf.summary.scalar("lr_find/log10_learning_rate", math.log10(rate), step=step)
            buffer = io.BytesIO()
            self.plot().savefig(buffer, format="png", dpi=80)
            png = tf.image.decode_png(buffer.getvalue(), channels=4)[None]
            tf.summary.image("lr_find/plot", png, step=0)
            tf.summary.text("lr_find/suggestion", f"{self.suggestion:.3g} ({self.rule})", step=0)
        writer.flush()
        writer.close()
        return os.path.join(logdir, "lr_find")


def _check(name, value, low=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= low:
        raise ValueError(f"{name} must be a finite number > {low}. Received: {name}={value!r}")
    return float(value)


def _recipe_network(model, dataset, unfreeze, batch_size, seed, head):
    """``(network, tf.data batches, restore)`` of what fine_tune's unfrozen stage trains, head fitted first."""
    from keras_cvcls.training.fine_tune import (
        _features, _forward_all, _head_layers, _set_trainable, fit_head, split_backbone,
    )
    from keras_cvcls.training.fit_dataset import check_dataset_labels

    check_dataset_labels(model, dataset)
    if unfreeze not in ("top", "all"):
        raise ValueError(f"unfreeze must be 'top' or 'all' (what fine_tune trains). Received: unfreeze={unfreeze!r}")
    bottom, top = split_backbone(model)
    pool, head_rest = _head_layers(model)
    activations, labels = _forward_all(model, bottom, dataset, batch_size)
    if head == "fitted":
        fit_head(model, _features(top, pool, activations), labels, seed=seed)
    else:  # a fresh head: zero weights, uniform probabilities (the loss starts at log(classes))
        predictions = model.get_layer("predictions")
        predictions.set_weights([np.zeros_like(w) for w in predictions.get_weights()])
    bn = [layer for layer in model.backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if unfreeze == "top":
        inputs = keras.Input(activations.shape[1:], name="activations")
        x = pool(top(inputs))
        for layer in head_rest:
            x = layer(x)
        network = keras.Model(inputs, x, name="top_and_head")
        batches = tf.data.Dataset.from_tensor_slices((activations, labels))
        batches = batches.shuffle(len(labels), seed=seed).batch(batch_size)
        return network, batches, _set_trainable(bn, False)
    batches = model.pipeline(dataset, batch_size=batch_size, shuffle=True, seed=seed, cache=True)
    return model, batches, _set_trainable(bn, False)


def lr_find(
    model,
    dataset,
    *,
    start_lr=1e-7,
    end_lr=10.0,
    num_steps=100,
    batch_size=32,
    unfreeze="top",
    momentum=0.9,
    smoothing=0.98,
    diverge=4.0,
    seed=0,
    head="fresh",
    logdir=None,
    plot_path=None,
    verbose=0,
):
    """Runs the learning-rate range test and suggests a rate; the model's weights are left as they were.

    Args:
        model: an :class:`~keras_cvcls.models.ImageClassifier` (with a
            :class:`~keras_cvcls.data.ClassificationDataset`: the recipe's unfrozen stage is
            ramped, see the module docstring), or any compiled ``keras.Model``.
        dataset: a ``ClassificationDataset`` (for an ``ImageClassifier``) or a ``tf.data.Dataset``
            of ``(inputs, labels)`` batches; repeated as needed.
        start_lr: the first rate.
        end_lr: the last rate (reached at step ``num_steps - 1``).
        num_steps: steps of the test, >= 5.
        batch_size: minibatch size (``ClassificationDataset`` input).
        unfreeze: ``"top"`` (fine_tune's default) or ``"all"``: what is trained (``ImageClassifier`` only).
        momentum: SGD momentum (the recipe's 0.9).
        smoothing: the moving average's weight of the past, in [0, 1).
        diverge: stop once the smoothed loss exceeds this multiple of its minimum.
        seed: shuffling seed.
        head: ``ImageClassifier`` only: ``"fresh"`` (default; the head starts at zero weights, so the
            loss starts at ``log(classes)`` and falls while the rate is useful, as in fastai's
            ``lr_find`` on a new learner) or ``"fitted"`` (the recipe's logistic-regression head
            first: the curve is then flat until the rate is too large).
        logdir: if given, the curve is written to TensorBoard in ``LOGDIR/lr_find``.
        plot_path: if given, the plot is written there as a PNG.
        verbose: 1 prints one line per 10 steps.

    Returns:
        An :class:`LRFinderResult` (``suggestion``: the rate at the minimum of the smoothed
        loss / 10).

    Raises:
        ValueError: for bad options, or a model that is not compiled (other than an ``ImageClassifier``).

    Example:
        >>> result = lr_find(model, train_set, plot_path="lr_find.png")
        >>> model.fine_tune(train_set, lr=result.suggestion)
    """
    from keras_cvcls.data.classification_dataset import ClassificationDataset
    from keras_cvcls.models.image_classifier import ImageClassifier
    from keras_cvcls.training.fine_tune import _set_trainable

    start_lr, end_lr = _check("start_lr", start_lr), _check("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ValueError(f"end_lr must be larger than start_lr={start_lr}. Received: end_lr={end_lr!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 5:
        raise ValueError(f"num_steps must be an int >= 5. Received: num_steps={num_steps!r}")
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1). Received: smoothing={smoothing!r}")
    _check("diverge", diverge, 1.0)
    if not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1). Received: momentum={momentum!r}")

    saved = model.get_weights()
    restore_trainable = []
    if isinstance(model, ImageClassifier) and isinstance(dataset, ClassificationDataset):
        keras.utils.set_random_seed(seed)
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}. Received: head={head!r}")
        network, batches, restore_trainable = _recipe_network(model, dataset, unfreeze, batch_size, seed, head)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
    elif isinstance(dataset, tf.data.Dataset):
        if not getattr(model, "compiled", False) or getattr(model, "loss", None) is None:
            raise ValueError(
                "lr_find needs the model's loss: compile the model first (model.compile(loss=...)). "
                f"Received: model={type(model).__name__} without a compiled loss"
            )
        network, batches, loss_fn = model, dataset, keras.losses.get(model.loss)
    else:
        raise ValueError(
            "dataset must be a ClassificationDataset (with an ImageClassifier) or a tf.data.Dataset of "
            f"(inputs, labels) batches. Received: dataset={type(dataset).__name__}, model={type(model).__name__}"
        )

    optimizer = keras.optimizers.SGD(learning_rate=start_lr, momentum=momentum)
    variables = network.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.cast(loss_fn(y, network(x, training=True)), tf.float32))
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    ratio = end_lr / start_lr
    rates, losses, smoothed = [], [], []
    average, best, stopped = 0.0, float("inf"), False
    try:
        iterator = iter(batches.repeat())
        for i in range(num_steps):
            rate = start_lr * ratio ** (i / (num_steps - 1))
            optimizer.learning_rate = rate
            x, y = next(iterator)[:2]
            loss = float(step(x, y))
            rates.append(rate)
            losses.append(loss)
            average = smoothing * average + (1 - smoothing) * loss
            smooth = average / (1 - smoothing ** (i + 1))
            smoothed.append(smooth)
            if verbose and i % 10 == 0:
                print(f"lr_find: step {i} lr {rate:.3g} loss {loss:.4f} (smoothed {smooth:.4f})", flush=True)
            if not math.isfinite(smooth) or (i > 0 and smooth > diverge * best):
                stopped = True
                break
            best = min(best, smooth)
    finally:
        model.set_weights(saved)
        _set_trainable(restore_trainable, True)

    finite = np.array([v if math.isfinite(v) else np.inf for v in smoothed])
    # The point that stopped the test is past the divergence: leave it out of the choice.
    usable = len(finite) - 1 if stopped and len(finite) > 1 else len(finite)
    minimum = int(np.argmin(finite[:usable]))
    log_rates = np.log10(rates[:usable])
    slopes = np.gradient(finite[:usable], log_rates) if usable > 1 else np.zeros(1)
    steepest = int(np.argmin(slopes[: max(1, minimum + 1)]))
    result = LRFinderResult(
        learning_rates=rates, losses=losses, smoothed_losses=[float(v) for v in smoothed],
        suggestion=float(rates[minimum] / 10), steepest=float(rates[steepest]), min_loss_lr=float(rates[minimum]),
        stopped_early=stopped,
    )
    if plot_path:
        result.save_plot(plot_path)
    if logdir:
        result.write_tensorboard(logdir)
    return result


__all__ = ["LRFinderResult", "RULE", "lr_find"]

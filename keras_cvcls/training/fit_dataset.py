"""The ``ImageClassifier.fit`` convenience for :class:`ClassificationDataset` input."""

import os
import time

import keras
import tensorflow as tf

from keras_cvcls.arguments import check_arguments, keyword_names
from keras_cvcls.training.step_lr import check_lr_per_epoch

# Decoded images are cached in memory when they take less than this.
CACHE_LIMIT_BYTES = 2 * 1024**3


class ThroughputMeter(keras.callbacks.Callback):
    """Measures training images per second over train batches (evaluation excluded)."""

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size, self.images, self.seconds, self._start = batch_size, 0, 0.0, None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._start is not None:
            self.images += self.batch_size
            self.seconds += now - self._start
        self._start = now

    @property
    def images_per_s(self):
        return self.images / self.seconds if self.seconds else 0.0


def check_dataset_labels(model, dataset):
    """Raises ``ValueError`` unless ``dataset`` has the model's labels in the model's order."""
    if list(dataset.labels) != list(model.labels):
        raise ValueError(
            "The dataset's labels differ from the model's; build the model with labels=dataset.labels. "
            f"Received: dataset labels={dataset.labels!r}, model labels={model.labels!r}"
        )


def fits_in_cache(dataset, image_size):
    """Whether a dataset's decoded float32 images take less than ``CACHE_LIMIT_BYTES``."""
    h, w = image_size
    return len(dataset) * h * w * 3 * 4 < CACHE_LIMIT_BYTES


def _resolve_augment(augment, seed):
    if augment is None or augment == "none":
        return None
    if isinstance(augment, str):
        from keras_cvcls.augment import get_augmentation

        return get_augmentation(augment, seed=seed)
    if not callable(augment):
        raise ValueError(f"augment must be a preset name, a Keras layer or a callable. Received: augment={augment!r}")
    return augment


OPTIMIZERS = ("sgd", "adam")


def compile_for_fine_tuning(model, lr, momentum, weight_decay=0.0, optimizer="sgd"):
    """Compiles with SGD + momentum (or Adam), sparse cross-entropy and accuracy, in the model's strategy."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}. Received: optimizer={optimizer!r}")
    with model.distribute_strategy.scope():
        if optimizer == "sgd":
            opt = keras.optimizers.SGD(learning_rate=lr, momentum=momentum, weight_decay=weight_decay or None)
        else:
            opt = keras.optimizers.Adam(learning_rate=lr, weight_decay=weight_decay or None)
        model.compile(
            optimizer=opt,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )


def fit_dataset(
    model,
    train_set,
    *,
    epochs=1,
    batch_size=32,
    verbose="auto",
    callbacks=None,
    validation_data=None,
    lr_per_epoch=None,
    momentum=0.9,
    augment=None,
    tensorboard_logdir=None,
    warmup_epochs=0,
    seed=None,
    cache=None,
    weight_decay=0.0,
    optimizer="sgd",
    **fit_kwargs,
):
    """Fits ``model`` on a :class:`ClassificationDataset`; see :meth:`ImageClassifier.fit`.

    Returns:
        The ``keras.callbacks.History``; ``model.eval_history`` holds the
        :class:`~keras_cvcls.training.EvalHistory` (train and eval accuracy per epoch).
    """
    from keras_cvcls.data.classification_dataset import ClassificationDataset
    from keras_cvcls.training import EvalHistory, StepLR, TensorBoardExtras

    # Checked first: keras.Model.fit would reject a typo only after the model is compiled (and,
    # with warmup_epochs, left with a frozen backbone).
    own = keyword_names(fit_dataset)[2:]
    passed_on = [name for name in keyword_names(keras.Model.fit) if name not in (*own, "x", "shuffle", "initial_epoch")]
    check_arguments(fit_kwargs, own + passed_on, "ImageClassifier.fit with a ClassificationDataset")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int. Received: epochs={epochs!r}")
    if not isinstance(warmup_epochs, int) or not 0 <= warmup_epochs < epochs:
        raise ValueError(f"warmup_epochs must be an int in [0, epochs). Received: warmup_epochs={warmup_epochs!r}")
    check_dataset_labels(model, train_set)
    lrs = check_lr_per_epoch(lr_per_epoch, default=[0.01])
    augmenter = _resolve_augment(augment, seed)
    if cache is None:
        cache = fits_in_cache(train_set, model.image_size)
    train = model.pipeline(train_set, batch_size=batch_size, shuffle=True, seed=seed, cache=cache, augment=augmenter)
    val = None
    if isinstance(validation_data, ClassificationDataset):
        val_cache = fits_in_cache(validation_data, model.image_size) if cache is not False else False
        val = model.pipeline(validation_data, batch_size=batch_size, cache=val_cache)
    elif validation_data is not None:
        val = validation_data

    meter = ThroughputMeter(batch_size)
    history_cb = EvalHistory(val) if val is not None else None
    ours = [StepLR(lrs), meter]
    if history_cb is not None:
        ours.append(history_cb)
    if tensorboard_logdir:
        os.makedirs(tensorboard_logdir, exist_ok=True)
        samples = next(iter(train.take(1)))[0] if augmenter is not None else None
        ours.append(keras.callbacks.TensorBoard(tensorboard_logdir, write_graph=False, profile_batch=0))
        ours.append(
            TensorBoardExtras(tensorboard_logdir, eval_data=val, labels=model.labels, sample_images=samples, eval_history=history_cb)
        )
    # EvalHistory evaluates the validation set once per epoch and logs eval_accuracy and
    # eval_loss; Keras' own validation pass would do the same work a second time.
    all_callbacks = ours + list(callbacks or [])
    if verbose == "auto":
        verbose = 1 if os.isatty(1) else 2

    model.training_config = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr_per_epoch": lrs,
        "momentum": momentum,
        "augment": augment if isinstance(augment, str) or augment is None else type(augment).__name__,
        "warmup_epochs": warmup_epochs,
        "seed": seed,
        "weight_decay": weight_decay,
        "optimizer": optimizer,
        "weights": getattr(model, "weights_source", None),
        "train_images": len(train_set),
    }
    if seed is not None:
        keras.utils.set_random_seed(seed)
    histories = []
    if warmup_epochs:
        model.backbone.trainable = False
        compile_for_fine_tuning(model, lrs[0], momentum, weight_decay, optimizer)
        histories.append(
            keras.Model.fit(model, train, epochs=warmup_epochs, shuffle=False, callbacks=all_callbacks, verbose=verbose, **fit_kwargs)
        )
        model.backbone.trainable = True
    warm_history = dict(history_cb.history) if (warmup_epochs and history_cb is not None) else None
    compile_for_fine_tuning(model, lrs[0], momentum, weight_decay, optimizer)
    histories.append(
        keras.Model.fit(
            model, train, epochs=epochs, initial_epoch=warmup_epochs, shuffle=False,
            callbacks=all_callbacks, verbose=verbose, **fit_kwargs,
        )
    )
    history = histories[-1]
    if len(histories) == 2:
        for key, values in histories[0].history.items():
            history.history[key] = list(values) + list(history.history.get(key, []))
        history.epoch = histories[0].epoch + history.epoch
    if warm_history is not None:  # EvalHistory starts afresh with each fit call
        history_cb.history = {k: list(warm_history[k]) + list(v) for k, v in history_cb.history.items()}
    model.eval_history = history_cb
    model.train_images_per_s = meter.images_per_s
    return history

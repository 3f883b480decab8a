"""``ImageClassifier.fit`` with :class:`ClassificationDataset` input: the pipelines, never a compile."""

import logging
import os
import shutil
import tempfile
import time

import keras

from keras_cvcls.arguments import check_arguments, keyword_names

# Decoded images are cached in memory when they take less than this.
CACHE_LIMIT_BYTES = 2 * 1024**3

log = logging.getLogger(__name__)


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
    dataset.check_labeled("Training")
    model_multi, data_multi = bool(getattr(model, "multi_label", False)), bool(getattr(dataset, "multi_label", False))
    if model_multi != data_multi:
        raise ValueError(
            "A multi-label model needs a MultiLabelDataset, and a single-label model a ClassificationDataset "
            "(build the model with multi_label=dataset.multi_label). "
            f"Received: model multi_label={model_multi}, dataset={dataset!r}"
        )
    if list(dataset.labels) != list(model.labels):
        raise ValueError(
            "The dataset's labels differ from the model's; build the model with labels=dataset.labels. "
            f"Received: dataset labels={dataset.labels!r}, model labels={model.labels!r}"
        )


def fits_in_cache(dataset, image_size):
    """Whether a dataset's decoded float32 images take less than ``CACHE_LIMIT_BYTES``."""
    h, w = image_size
    return len(dataset) * h * w * 3 * 4 < CACHE_LIMIT_BYTES


def decoded_bytes(dataset, image_size):
    """What a dataset's decoded float32 images take, in bytes."""
    h, w = image_size
    return len(dataset) * h * w * 3 * 4


def choose_cache(dataset, image_size, *, workers=1, temp_dir=None):
    """Where the decoded training images are cached: in memory, on disk, or not at all; and why.

    In memory below ``CACHE_LIMIT_BYTES``; else in a file under ``temp_dir`` (default: the
    system's temporary folder) when its disk has twice the room; else not at all (every
    epoch decodes again). In multi-worker training (``workers > 1``) nothing is cached: each
    worker decodes only its shard, in an order that changes every epoch. The decision is
    logged (logger ``keras_cvcls.training.fit_dataset``, level INFO).

    Returns:
        ``(cache, reason)``: ``cache`` is True (memory), a folder to cache in (disk; the
        caller removes it) or False; ``reason`` a sentence for the run record.
    """
    need = decoded_bytes(dataset, image_size)
    gib = need / 1024**3
    if workers > 1:
        cache, reason = False, f"not cached: multi-worker training, each of {workers} workers decodes its own shard"
    elif need < CACHE_LIMIT_BYTES:
        cache, reason = True, f"in memory ({gib:.2f} GiB of decoded images, below the {CACHE_LIMIT_BYTES / 1024**3:.0f} GiB limit)"
    else:
        temp_dir = temp_dir or tempfile.gettempdir()
        free = shutil.disk_usage(temp_dir).free
        if free > 2 * need:
            cache = tempfile.mkdtemp(prefix="keras-cvcls-cache-", dir=temp_dir)
            reason = f"on disk in {cache} ({gib:.1f} GiB of decoded images do not fit the memory limit)"
        else:
            cache = False
            reason = (f"not cached: {gib:.1f} GiB of decoded images fit neither in memory nor on {temp_dir} "
                      f"({free / 1024**3:.1f} GiB free); every epoch decodes again")
    log.info("Decoded-image cache of %d training images: %s", len(dataset), reason)
    return cache, reason


def _resolve_augment(augment, seed):
    """The image augmentation of ``augment`` (a MixUp / CutMix layer mixes labels too: it has none)."""
    from keras_cvcls.augment.label_mixing import MIXING_LAYERS

    if augment is None or augment == "none" or type(augment).__name__ in MIXING_LAYERS:
        return None
    if isinstance(augment, str):
        from keras_cvcls.augment import get_augmentation

        return get_augmentation(augment, seed=seed)
    if not callable(augment):
        raise ValueError(f"augment must be a preset name, a Keras layer or a callable. Received: augment={augment!r}")
    return augment


# fit options that only concerned compiling, and where each went (fit never compiles).
MOVED_OPTIONS = {
    "lr_per_epoch": "pass callbacks=[StepLR(lr_per_epoch)] to fit (or compile with an optimizer whose "
    "learning_rate is step_lr_schedule(lr_per_epoch, steps_per_epoch)); fine_tune(lr_per_epoch=...) takes it too",
    "momentum": "compile(optimizer=keras.optimizers.SGD(learning_rate=..., momentum=...)), or fine_tune(momentum=...)",
    "optimizer": "compile(optimizer=...): an optimizer object, a Keras name, or \"auto\"",
    "weight_decay": "compile(optimizer=keras.optimizers.SGD(learning_rate=..., weight_decay=...))",
    "warmup_epochs": "fine_tune(...) fits the head on the frozen backbone first; by hand: set "
    "model.backbone.trainable = False, compile, fit, set it back to True, compile again and fit",
}
# fit options that build the input pipeline: they need a ClassificationDataset.
DATASET_OPTIONS = ("augment", "seed", "cache", "tensorboard_logdir")


def check_fit_options(options, dataset_input):
    """Raises ``ValueError`` for a removed ``fit`` option (naming where it went), or a pipeline
    option given with input that is not a :class:`ClassificationDataset`."""
    for name in options:
        if name in MOVED_OPTIONS:
            raise ValueError(
                f"fit does not take {name}: fit never compiles; {MOVED_OPTIONS[name]}. Received: {name}={options[name]!r}"
            )
    if not dataset_input:
        given = [name for name in DATASET_OPTIONS if name in options]
        if given:
            raise ValueError(
                f"{given} build the input pipeline, so they need x to be a ClassificationDataset. "
                f"Received: {given[0]}={options[given[0]]!r} with x of another type"
            )


def validation_split(model, val):
    """``(EvalHistory, validation_data for keras.Model.fit)``: who validates ``val`` each epoch.

    Keras does (the EvalHistory reads its ``val_accuracy`` and ``val_loss``), except under a
    multi-replica strategy: there Keras' evaluation fails on a batch that does not split evenly
    across the replicas, so the EvalHistory scores every image and logs those two itself.
    """
    from keras_cvcls.training.eval_history import EvalHistory

    if model.distribute_strategy.num_replicas_in_sync == 1:
        return EvalHistory(), val
    return EvalHistory(val), None


def _categorical_loss(model):
    """Whether the compiled loss takes one-hot labels (``CategoricalCrossentropy``)."""
    loss = getattr(model, "loss", None)
    return isinstance(loss, keras.losses.CategoricalCrossentropy) or loss == "categorical_crossentropy"


def _learning_rate_record(model, callbacks):
    """What ``training_config`` records of the optimizer: its type, first rate, and a StepLR's rates."""
    from keras_cvcls.training.step_lr import StepLR, current_learning_rate

    record = {"optimizer": type(model.optimizer).__name__, "learning_rate": current_learning_rate(model)}
    step_lrs = [cb for cb in callbacks if isinstance(cb, StepLR)]
    if step_lrs:
        record["lr_per_epoch"] = list(step_lrs[0].lr_per_epoch)
    return record


def fit_dataset(
    model,
    train_set,
    *,
    epochs=1,
    batch_size=32,
    verbose="auto",
    callbacks=None,
    validation_data=None,
    augment=None,
    tensorboard_logdir=None,
    seed=None,
    cache=None,
    **fit_kwargs,
):
    """Fits a compiled ``model`` on a :class:`ClassificationDataset`; see :meth:`ImageClassifier.fit`.

    Builds the model's pipelines (training: shuffled, augmented, cached; validation: plain)
    and calls ``keras.Model.fit`` with them, so Keras itself logs ``val_loss`` and
    ``val_accuracy``. It never compiles.

    Returns:
        The ``keras.callbacks.History``; ``model.eval_history`` holds the
        :class:`~keras_cvcls.training.EvalHistory` (train and validation accuracy per epoch;
        a fit with ``initial_epoch=n`` continues the previous record after its first ``n``
        epochs; it is there from the start of the fit, growing epoch by epoch) and
        ``model.train_images_per_s`` the training throughput.
    """
    from keras_cvcls.augment.label_mixing import get_label_mixing, mix_batches, one_hot_batches
    from keras_cvcls.data.classification_dataset import ClassificationDataset
    from keras_cvcls.training import TensorBoardExtras

    own = keyword_names(fit_dataset)[2:]
    passed_on = [name for name in keyword_names(keras.Model.fit) if name not in (*own, "x", "y", "shuffle")]
    check_arguments(fit_kwargs, own + passed_on, "ImageClassifier.fit with a ClassificationDataset")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int. Received: epochs={epochs!r}")
    if not model.compiled:  # as Keras' own fit, but before any pipeline is built
        raise ValueError(
            'You must call compile() before fit: model.compile() chooses the "auto" optimizer, loss and '
            "metrics. Received: an ImageClassifier built with compile=False"
        )
    check_dataset_labels(model, train_set)
    augmenter = _resolve_augment(augment, seed)
    from keras_cvcls.training.distribute import input_workers

    strategy = model.distribute_strategy
    workers = input_workers(strategy)
    cache_reason = "as given (cache=...)"
    disk_cache = None
    if cache is None:
        cache, cache_reason = choose_cache(train_set, model.image_size, workers=workers)
        if isinstance(cache, str):
            disk_cache, cache = cache, os.path.join(cache, "train")
    if workers > 1:
        # Each worker its shard of one seeded order; the last incomplete global batch left out, so
        # every worker takes as many steps.
        usable = len(train_set) // batch_size * batch_size
        if usable == 0:
            raise ValueError(
                f"Multi-worker training needs at least one global batch ({batch_size} images: batch_size per "
                f"replica x {strategy.num_replicas_in_sync} replicas). Received: {len(train_set)} training images"
            )

        def per_worker(context):
            return model.pipeline(
                train_set, batch_size=context.get_per_replica_batch_size(batch_size), shuffle=True, seed=seed,
                cache=cache, augment=augmenter, drop_remainder=True, limit=usable,
                shard=(context.num_input_pipelines, context.input_pipeline_id),
            )

        train = strategy.distribute_datasets_from_function(per_worker)
    else:
        train = model.pipeline(train_set, batch_size=batch_size, shuffle=True, seed=seed, cache=cache, augment=augmenter)
    one_hot = _categorical_loss(model)
    mixer = get_label_mixing(augment, seed=seed)
    if mixer is not None and not one_hot:
        raise ValueError(
            f"The augmentation {augment!r} mixes labels ({type(mixer).__name__}), which needs a categorical loss on "
            "one-hot labels: compile(**auto_compile_arguments(one_hot=True)) (or loss=CategoricalCrossentropy()) "
            f"first. Received: loss={model.loss!r}"
        )
    if one_hot and workers > 1:
        raise ValueError(
            "One-hot labels (MixUp, CutMix, label smoothing) are not supported in multi-worker training yet: train "
            f"without them, or with --distribute mirrored. Received: augment={augment!r}, loss={model.loss!r}"
        )
    if one_hot:  # the pipelines' label ids, one-hot (and mixed) for the categorical loss
        train = mix_batches(train, mixer, len(model.labels))
    val = validation_data
    if isinstance(validation_data, ClassificationDataset):
        check_dataset_labels(model, validation_data)
        val_cache = fits_in_cache(validation_data, model.image_size) if cache is not False and workers == 1 else False
        val = model.pipeline(validation_data, batch_size=batch_size, cache=val_cache)
        if one_hot:
            val = one_hot_batches(val, len(model.labels))

    meter = ThroughputMeter(batch_size)
    eval_history, keras_val = validation_split(model, val)
    if fit_kwargs.get("initial_epoch") and model.eval_history is not None:  # a continued fit continues its record
        eval_history.history = {key: list(values) for key, values in model.eval_history.history.items()}
    ours = [meter, eval_history]
    if tensorboard_logdir:
        os.makedirs(tensorboard_logdir, exist_ok=True)
        samples = None
        if augmenter is not None:
            local = train if workers == 1 else model.pipeline(train_set, batch_size=batch_size, augment=augmenter)
            samples = next(iter(local.take(1)))[0]
        ours.append(keras.callbacks.TensorBoard(tensorboard_logdir, write_graph=False, profile_batch=0))
        ours.append(TensorBoardExtras(
            tensorboard_logdir, eval_data=val, labels=model.labels, sample_images=samples, eval_history=eval_history,
            multi_label=getattr(model, "multi_label", False),
        ))
    all_callbacks = ours + list(callbacks or [])
    if verbose == "auto":
        verbose = 1 if os.isatty(1) else 2

    model.training_config = {
        "epochs": epochs,
        "batch_size": batch_size,
        **_learning_rate_record(model, all_callbacks),
        "augment": augment if isinstance(augment, str) or augment is None else type(augment).__name__,
        "seed": seed,
        "weights": model.weights_source,
        "train_images": len(train_set),
        "input_cache": cache_reason,
    }
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model.eval_history = eval_history  # the record in progress, for callbacks that keep it (RunProgress)
    # Multi-worker: batch norm takes the moments of the global batch (all workers), so the moving
    # statistics stay the same on every worker and a step is the step of one worker on that batch.
    unsynchronized = [
        layer for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized
    ] if workers > 1 else []
    for layer in unsynchronized:
        layer.synchronized = True
    try:
        history = keras.Model.fit(
            model, train, epochs=epochs, validation_data=keras_val, shuffle=False, callbacks=all_callbacks,
            verbose=verbose, **fit_kwargs,
        )
    finally:
        for layer in unsynchronized:
            layer.synchronized = False
        if disk_cache is not None:
            shutil.rmtree(disk_cache, ignore_errors=True)
    model.train_images_per_s = meter.images_per_s
    return history

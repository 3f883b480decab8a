"""The transfer-learning recipe behind ``ImageClassifier.fine_tune``.

Two stages, chosen by measurement on real photos (``bench/transfer.py``, ``bench/RESULTS.md``):

1. **Head on a frozen body, from cached features.** The frozen body's activations are
   computed once per training image and kept in memory. The softmax head is fitted on
   their pooled features by multinomial logistic regression (scikit-learn, L-BFGS, L2
   ``C=head_c``): seconds, not epochs of forward passes, and the optimum, not wherever a
   few SGD epochs stop.
2. **Unfreeze with a lower learning rate.** ``unfreeze="top"`` (default) trains the
   backbone's last stage, its head convolution and the classifier on the cached
   activations (the cost of a few dense layers per epoch); ``unfreeze="all"`` fine-tunes
   the whole body through the augmented ``tf.data`` pipeline (for GPUs or patient CPUs).
   Batch-norm statistics stay frozen (small batches would ruin them), SGD with momentum
   follows a cosine decay from ``lr``, or cvtk's exact per-epoch list ``lr_per_epoch``.
"""

import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from keras_cvcls.augment.label_mixing import get_label_mixing, mix_batches, one_hot_batches
from keras_cvcls.training.auto_compile import auto_compile_arguments
from keras_cvcls.training.eval_history import EvalHistory
from keras_cvcls.training.fit_dataset import _resolve_augment, check_dataset_labels, choose_cache, fits_in_cache, validation_split
from keras_cvcls.training.step_lr import StepLR, check_lr_per_epoch

UNFREEZE_MODES = ("top", "all", "none")
# Cached activations take at most this much memory; beyond it the top stage trains through
# the pipeline with the bottom frozen.
ACTIVATION_CACHE_LIMIT_BYTES = 2 * 1024**3


def _check_options(model, train_set, epochs, unfreeze, lr, momentum, head_c, batch_size):
    check_dataset_labels(model, train_set)
    if getattr(model, "multi_label", False):
        absent = [label for label, count in train_set.counts().items() if count == 0]
        if absent:
            raise ValueError(
                f"fine_tune needs training images of every label; none has {absent}. Received: counts={train_set.counts()!r}"
            )
    elif len(set(train_set.label_ids)) < 2:
        raise ValueError(
            "fine_tune needs training images of at least two labels. "
            f"Received: counts={train_set.counts()!r}"
        )
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0 (0: head only). Received: epochs={epochs!r}")
    if unfreeze not in UNFREEZE_MODES:
        raise ValueError(f"unfreeze must be one of {UNFREEZE_MODES}. Received: unfreeze={unfreeze!r}")
    for name, value in (("lr", lr), ("head_c", head_c)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"{name} must be a positive number. Received: {name}={value!r}")
    if not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1). Received: momentum={momentum!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")


def split_backbone(model):
    """``(bottom, top)``: the backbone cut where ``unfreeze="top"`` starts training.

    The cut is the input of the layer named by the backbone config's ``top_layer``.

    Raises:
        ValueError: If the backbone has no ``top_layer`` registered.
    """
    config = model.backbone_config
    if config.top_layer is None:
        raise ValueError(
            f"Backbone {model.backbone_name!r} has no registered top stage; use unfreeze='all' "
            f"or 'none'. Received: unfreeze='top'"
        )
    body = model.backbone
    cut = body.get_layer(config.top_layer).input
    return keras.Model(body.input, cut, name="bottom"), keras.Model(cut, body.output, name="top")


def _head_layers(model):
    names = [layer.name for layer in model.layers]
    pool = model.get_layer("pool")
    rest = [model.get_layer(n) for n in names[names.index("pool") + 1 :]]
    return pool, rest


def _forward_all(model, network, dataset, batch_size, verbose=0):
    """``network(normalised images)`` for every image of a dataset, and the labels, in order."""
    norm = model.get_layer("normalization")

    @tf.function(reduce_retracing=True)
    def forward(images):
        return network(norm(images), training=False)

    progress = keras.utils.Progbar(len(dataset), verbose=verbose, unit_name="image") if verbose else None
    outputs, labels = [], []
    for images, ids in model.pipeline(dataset, batch_size=batch_size):
        outputs.append(forward(images).numpy())
        labels.append(ids.numpy())
        if progress is not None:
            progress.add(len(labels[-1]))
    return np.concatenate(outputs), np.concatenate(labels)


def _features(top, pool, activations, batch_size=64):
    @tf.function(reduce_retracing=True)
    def forward(a):  # float32 out, for scikit-learn, whatever the model computes in
        return tf.cast(pool(top(a, training=False)), tf.float32)

    return np.concatenate(
        [forward(activations[i : i + batch_size]).numpy() for i in range(0, len(activations), batch_size)]
    )


def _set_trainable(layers, trainable):
    """Sets ``trainable`` on layers; returns those it changed (to restore them)."""
    changed = [layer for layer in layers if layer.trainable != trainable]
    for layer in changed:
        layer.trainable = trainable
    return changed


def fit_head(model, features, labels, *, c=1.0, seed=0):
    """Fits the softmax head on pooled features by multinomial logistic regression.

    Args:
        model: The ``ImageClassifier`` whose ``predictions`` layer receives the weights.
        features: ``[N, D]`` pooled backbone features.
        labels: ``[N]`` class ids.
        c: Inverse L2 strength (scikit-learn's ``C``).
        seed: Seed for the solver.

    Returns:
        The fitted ``sklearn.linear_model.LogisticRegression``.
    """
    from sklearn.linear_model import LogisticRegression

    if getattr(model, "multi_label", False):
        return _fit_sigmoid_head(model, features, labels, c=c, seed=seed)
    classes = len(model.labels)
    present = np.unique(labels)
    learner = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(features, labels)
    kernel = np.zeros((features.shape[1], classes), "float32")
    bias = np.full((classes,), -1e4 if len(present) < classes else 0.0, "float32")
    if len(present) == 2:  # one decision function: logits [0, w.x + b]
        kernel[:, present[1]] = learner.coef_[0]
        bias[present[0]], bias[present[1]] = 0.0, learner.intercept_[0]
    else:
        kernel[:, present] = learner.coef_.T
        bias[present] = learner.intercept_
    model.get_layer("predictions").set_weights([kernel, bias])
    return learner


def _fit_sigmoid_head(model, features, labels, *, c, seed):
    """A multi-label model's sigmoid head: one binary logistic regression per label (one-vs-rest).

    A label present on every training image (or none) gets a constant logit of +-10.
    Returns the list of fitted learners (None for such a label).
    """
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    kernel = np.zeros((features.shape[1], labels.shape[1]), "float32")
    bias = np.zeros((labels.shape[1],), "float32")
    learners = []
    for j in range(labels.shape[1]):
        column = labels[:, j].astype(int)
        if column.min() == column.max():
            bias[j] = 10.0 if column[0] else -10.0
            learners.append(None)
            continue
        learner = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(features, column)
        kernel[:, j], bias[j] = learner.coef_[0], learner.intercept_[0]
        learners.append(learner)
    model.get_layer("predictions").set_weights([kernel, bias])
    return learners


def _head_accuracy(model, learner, features, labels):
    """The fitted head's accuracy on features: top-1 (single label) or per-(image, label) at 0.5 (multi-label)."""
    if not getattr(model, "multi_label", False):
        return float(learner.score(features, labels))
    kernel, bias = model.get_layer("predictions").get_weights()
    return float(np.mean(((features @ kernel + bias) >= 0) == (np.asarray(labels) >= 0.5)))


def _optimizer(lr, momentum, epochs, steps_per_epoch, lr_per_epoch, schedule, lr_warmup_epochs):
    """SGD with the schedule's learning rate; and the per-epoch list for StepLR (step schedule) or None."""
    from keras_cvcls.training.schedules import make_schedule

    learning_rate, rates = make_schedule(
        schedule, lr_per_epoch if lr_per_epoch is not None else lr, epochs=epochs, steps_per_epoch=steps_per_epoch,
        warmup_epochs=lr_warmup_epochs,
    )
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum), rates


def resolve_schedule(schedule, lr_per_epoch):
    """``schedule=None`` means ``"step"`` with a per-epoch list and ``"cosine"`` without one."""
    if schedule is None:
        return "step" if lr_per_epoch is not None else "cosine"
    from keras_cvcls.training.schedules import SCHEDULES

    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES} or None. Received: schedule={schedule!r}")
    if schedule == "step" and lr_per_epoch is None:
        raise ValueError(
            "The step schedule needs the per-epoch rates: give lr_per_epoch (--lr 0.001x2,0.0001). "
            "Received: schedule='step', lr_per_epoch=None"
        )
    return schedule


def fine_tune(
    model,
    train_set,
    *,
    epochs=3,
    validation_data=None,
    unfreeze="top",
    lr=3e-4,
    lr_per_epoch=None,
    momentum=0.9,
    head_c=1.0,
    batch_size=32,
    augment="light",
    tensorboard_logdir=None,
    callbacks=None,
    seed=0,
    verbose="auto",
    threshold_objective="f1",
    target_precision=None,
    schedule=None,
    lr_warmup_epochs=0,
    label_smoothing=0.0,
):
    """Transfer learning from a pretrained backbone in one call: the recipe (``ImageClassifier.fine_tune``).

    1. The head is fitted on a frozen body, from features computed once per training
       image (multinomial logistic regression: seconds).
    2. Then part of the body is unfrozen and trained with a lower learning rate, with
       batch-norm statistics frozen: ``unfreeze="top"`` trains the backbone's last stage
       on cached activations (cheap on a CPU); ``"all"`` fine-tunes the whole body on
       augmented images; ``"none"`` or ``epochs=0`` stops after the head.

    The defaults were chosen by measurement (``bench/transfer.py``; figures in
    ``bench/RESULTS.md``).

    Args:
        model: the :class:`ImageClassifier` to train (its ``predictions`` head is replaced).
        train_set: a :class:`ClassificationDataset` with the model's labels.
        epochs: epochs of the unfrozen stage (0: head only).
        validation_data: optional :class:`ClassificationDataset`, evaluated after the
            head and, as Keras' validation data (``val_loss``, ``val_accuracy``), after
            every unfrozen epoch, so ``keras.callbacks.EarlyStopping(monitor="val_loss")``
            in ``callbacks`` works.
        unfreeze: ``"top"``, ``"all"`` or ``"none"``.
        lr: peak learning rate of the unfrozen stage (SGD with momentum, cosine decay).
        lr_per_epoch: cvtk's per-epoch learning rates for the unfrozen stage instead of
            the cosine (a list, or a string like ``"0.001x2,0.0001"``); exact per epoch. With
            ``schedule="one-cycle"`` or ``"cosine"`` a single rate here is the peak (as ``lr``).
        momentum: SGD momentum.
        head_c: inverse L2 strength of the head's logistic regression.
        batch_size: minibatch size.
        augment: augmentation preset for ``unfreeze="all"`` (see
            :func:`~keras_cvcls.augment.list_augmentations`), a layer, or ``None``. A preset's
            ``mixup`` / ``cutmix`` option applies in every mode: to the images with
            ``unfreeze="all"``, to the cached activations with ``"top"``.
        tensorboard_logdir: folder for TensorBoard logs of the unfrozen stage.
        callbacks: extra Keras callbacks for the unfrozen stage.
        seed: seed for shuffling, dropout and the head's solver.
        verbose: Keras verbosity of the unfrozen stage.
        threshold_objective: multi-label models with ``validation_data`` only: after
            training, tune each label's threshold on the validation data, ``"f1"`` (default)
            or ``"precision"`` (with ``target_precision``), see
            :meth:`ImageClassifier.tune_thresholds`; ``None`` keeps the model's thresholds.
            Without validation data the thresholds stay as they are (0.5 by default).
        target_precision: for ``threshold_objective="precision"``.
        schedule: learning rates of the unfrozen stage: ``"cosine"`` (default without
            ``lr_per_epoch``: cosine decay from ``lr``), ``"one-cycle"`` (peak ``lr``, see
            :class:`~keras_cvcls.training.OneCycle`) or ``"step"`` (default with
            ``lr_per_epoch``: exactly those rates per epoch).
        lr_warmup_epochs: epochs of linear warm-up of the ``"cosine"`` schedule (fractions allowed).
        label_smoothing: the categorical cross-entropy's label smoothing (0: none).

    Returns:
        The :class:`~keras_cvcls.training.EvalHistory` (also ``model.eval_history``):
        the head stage first, then each unfrozen epoch.

    Raises:
        ValueError: On labels that differ from the model's, or a bad option.

    Example:
        >>> model = ImageClassifier(train.labels)
        >>> model.fine_tune(train, validation_data=test).history["eval_accuracy"]
        [0.967, 0.967, 0.967, 0.967]
    """
    from keras_cvcls.data.classification_dataset import ClassificationDataset
    _check_options(model, train_set, epochs, unfreeze, lr, momentum, head_c, batch_size)
    if threshold_objective not in (None, "f1", "precision") or (threshold_objective == "precision") != (
        target_precision is not None
    ):
        raise ValueError(
            "threshold_objective must be None, 'f1', or 'precision' with target_precision in (0, 1]. "
            f"Received: threshold_objective={threshold_objective!r}, target_precision={target_precision!r}"
        )
    if lr_per_epoch is not None:
        lr_per_epoch = check_lr_per_epoch(lr_per_epoch)
    schedule = resolve_schedule(schedule, lr_per_epoch)
    auto_compile_arguments(label_smoothing=label_smoothing)  # checks it before any work
    mixer = get_label_mixing(augment, seed=seed)
    multi_label = bool(getattr(model, "multi_label", False))
    if multi_label and mixer is not None:
        raise ValueError(
            "MixUp and CutMix mix one label per image; a multi-label model's labels are sets. Choose an augmentation "
            f"without mixup/cutmix. Received: augment={augment!r} with multi_label=True"
        )
    # Label smoothing of a multi-label model is the binary cross-entropy's own: its labels stay multi-hot.
    one_hot = bool(mixer is not None or label_smoothing) and not multi_label
    if validation_data is not None and not isinstance(validation_data, ClassificationDataset):
        raise ValueError(
            "validation_data must be a ClassificationDataset (or None). "
            f"Received: validation_data={type(validation_data).__name__}"
        )
    if verbose == "auto":
        verbose = 1 if os.isatty(1) else 2
    keras.utils.set_random_seed(seed)

    say = print if verbose else (lambda *args, **kwargs: None)
    say(f"fine_tune: frozen features of {len(train_set)} training images", flush=True)
    try:
        bottom, top = split_backbone(model)
    except ValueError:
        if unfreeze == "top" and epochs:
            raise
        bottom, top = model.backbone, keras.Sequential([keras.layers.Identity()])
    pool, head_rest = _head_layers(model)
    # The top stage trains on cached activations when they fit in memory, else through the
    # pipeline with the bottom frozen (same result, one forward pass per epoch more).
    cut_size = int(np.prod(bottom.output.shape[1:]))
    use_cache = len(train_set) * cut_size * 4 <= ACTIVATION_CACHE_LIMIT_BYTES

    def frozen_features(dataset, progress=0):
        """``(bottom activations or None, pooled features, labels)`` of a dataset, in one pass."""
        if use_cache:
            activations, ids = _forward_all(model, bottom, dataset, batch_size, progress)
            return activations, _features(top, pool, activations), ids
        features, ids = _forward_all(model, lambda x, training: pool(top(bottom(x))), dataset, batch_size, progress)
        return None, features, ids

    # Stage 1: the head, on features of the frozen body computed once.
    start = time.perf_counter()
    cached, features, labels = frozen_features(train_set, verbose)
    learner = fit_head(model, features, labels, c=head_c, seed=seed)
    head_train_accuracy = _head_accuracy(model, learner, features, labels)
    val_cached = None
    head_eval = float("nan")
    if validation_data is not None:
        val_cached, val_features, val_labels = frozen_features(validation_data)
        head_eval = (
            _head_accuracy(model, learner, val_features, val_labels) if getattr(model, "multi_label", False)
            else float(np.mean(learner.predict(val_features) == val_labels))
        )
    say(f"fine_tune: head on frozen features of {len(train_set)} images in {time.perf_counter() - start:.1f}s: "
        f"train accuracy {head_train_accuracy:.4f}, eval accuracy {head_eval:.4f}", flush=True)
    record = {"head": {"train_accuracy": head_train_accuracy, "c": head_c,
                       "eval_accuracy": None if validation_data is None else head_eval}}

    # Stage 2: unfreeze with a lower learning rate, batch norm frozen.
    history_cb = None
    disk_cache = None
    if epochs and unfreeze != "none":
        if unfreeze == "top" and use_cache:
            inputs = keras.Input(cached.shape[1:], name="activations")
            x = pool(top(inputs))
            for layer in head_rest:
                x = layer(x)
            fit_model = keras.Model(inputs, x, name="top_and_head")
            train = tf.data.Dataset.from_tensor_slices((cached, labels)).shuffle(len(cached), seed=seed).batch(batch_size)
            val = tf.data.Dataset.from_tensor_slices((val_cached, val_labels)).batch(batch_size) if val_cached is not None else None
            restore = []
        else:
            fit_model = model
            cache, record["input_cache"] = choose_cache(train_set, model.image_size)
            if isinstance(cache, str):  # on disk, in a folder removed after the fit
                disk_cache, cache = cache, os.path.join(cache, "train")
            train = model.pipeline(
                train_set, batch_size=batch_size, shuffle=True, seed=seed, cache=cache,
                augment=_resolve_augment(augment, seed),
            )
            val_cache = cache is True and fits_in_cache(validation_data, model.image_size) if validation_data is not None else False
            val = model.pipeline(validation_data, batch_size=batch_size, cache=val_cache) if validation_data is not None else None
            restore = _set_trainable(bottom.layers, False) if unfreeze == "top" else []
        restore += _set_trainable(
            [layer for layer in model.backbone.layers if isinstance(layer, keras.layers.BatchNormalization)], False
        )
        steps = -(-len(train_set) // batch_size)
        if one_hot:  # MixUp / CutMix batches, or label smoothing: categorical loss on one-hot labels
            train = mix_batches(train, mixer, len(model.labels))
            val = one_hot_batches(val, len(model.labels)) if val is not None else None
        # The recipe owns its optimizer; the loss and metrics are ImageClassifier.compile's "auto".
        optimizer, step_rates = _optimizer(lr, momentum, epochs, steps, lr_per_epoch, schedule, lr_warmup_epochs)
        fit_model.compile(**auto_compile_arguments(
            optimizer=optimizer, one_hot=one_hot, label_smoothing=label_smoothing,
            multi_label_labels=model.labels if getattr(model, "multi_label", False) else None,
        ))
        history_cb, keras_val = validation_split(fit_model, val)
        ours = [cb for cb in (StepLR(step_rates) if step_rates else None, history_cb) if cb is not None]
        if tensorboard_logdir:
            from keras_cvcls.training import TensorBoardExtras

            os.makedirs(tensorboard_logdir, exist_ok=True)
            ours.append(keras.callbacks.TensorBoard(tensorboard_logdir, write_graph=False, profile_batch=0))
            ours.append(TensorBoardExtras(tensorboard_logdir, eval_data=val, labels=model.labels, eval_history=history_cb,
                                          multi_label=getattr(model, "multi_label", False)))
        model.eval_history = history_cb  # the record in progress, for callbacks that keep it (RunProgress)
        try:
            fit_model.fit(
                train, epochs=epochs, validation_data=keras_val, shuffle=False, callbacks=ours + list(callbacks or []),
                verbose=verbose,
            )
        finally:
            _set_trainable(restore, True)
            if disk_cache is not None:
                shutil.rmtree(disk_cache, ignore_errors=True)
        record["unfreeze"] = {
            "mode": unfreeze, "cached_activations": unfreeze == "top" and use_cache, "epochs": epochs,
            "lr": lr_per_epoch or lr, "momentum": momentum, "schedule": schedule,
            "lr_warmup_epochs": lr_warmup_epochs, "label_smoothing": label_smoothing,
            "mixing": None if mixer is None else type(mixer).__name__,
        }

    # The head stage is the first entry of the curves (its eval accuracy, before unfreezing).
    eval_history = history_cb or EvalHistory()
    for key, value in (("train_accuracy", head_train_accuracy), ("eval_accuracy", head_eval),
                       ("train_loss", float("nan")), ("eval_loss", float("nan")), ("lr", float("nan"))):
        eval_history.history[key].insert(0, value)
    model.eval_history = eval_history
    if getattr(model, "multi_label", False) and validation_data is not None and threshold_objective is not None:
        tuned = model.tune_thresholds(
            validation_data, objective=threshold_objective, target_precision=target_precision, batch_size=batch_size
        )
        record["thresholds"] = {"objective": threshold_objective, "target_precision": target_precision,
                                "tuned": {label: t["threshold"] for label, t in tuned.items()}}
        say(f"fine_tune: thresholds tuned on the validation data ({threshold_objective}): "
            + ", ".join(f"{label} {t['threshold']:.3f}" for label, t in tuned.items()), flush=True)
    model.training_config = {
        "recipe": "fine_tune",
        "weights": model.weights_source,
        "train_images": len(train_set),
        "batch_size": batch_size,
        "seed": seed,
        **record,
    }
    return eval_history

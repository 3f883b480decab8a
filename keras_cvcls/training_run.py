"""A training run: a folder of photos in, a run folder out (what ``keras-cvcls train`` does)."""

import math
import os
import time

from keras_cvcls.training import run_dir as rd

RECIPES = ("fine-tune", "full")
# The from-scratch ("full") recipe's defaults: cvtk's step learning rates.
FULL_DEFAULTS = {"epochs": 15, "lr": "0.01x7,0.001x7,0.0001", "augment": "standard"}
FINE_TUNE_DEFAULTS = {"epochs": 3, "lr": None, "augment": "light"}


def _finite_or_none(values):
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


def train_run(
    data_dir,
    out,
    *,
    val_dir=None,
    backbone="efficientnet_lite0",
    weights="imagenet",
    image_size=None,
    recipe=None,
    epochs=None,
    batch_size=32,
    lr=None,
    momentum=0.9,
    test_size=0.34,
    augment=None,
    dropout=0.0,
    warmup_epochs=0,
    unfreeze="top",
    seed=0,
    precision=None,
    log=print,
):
    """Trains a classifier on a folder dataset and writes a run folder.

    With pretrained weights (the default) the recipe is
    :meth:`ImageClassifier.fine_tune`; with ``weights=None`` it is ``"full"``: the
    whole network trained from scratch with SGD and cvtk's step learning rates.

    Args:
        data_dir: folder with one subfolder per label.
        out: the run folder to write (see ``keras_cvcls.training.run_dir``).
        val_dir: a separate validation folder (same labels); default: a stratified
            ``test_size`` split of ``data_dir``.
        backbone: a registry name.
        weights: ``"imagenet"``, ``None`` or a weights file path.
        image_size: input size; default the backbone's transfer size.
        recipe: ``"fine-tune"`` or ``"full"``; default by ``weights``.
        epochs: unfrozen epochs (fine-tune, default 3) or all epochs (full, default 15).
        batch_size: minibatch size.
        lr: per-epoch learning rates (a list or ``"0.01x7,0.001"``), exact; default: a
            cosine from 3e-4 (fine-tune) or ``"0.01x7,0.001x7,0.0001"`` (full).
        momentum: SGD momentum.
        test_size: held-out fraction when ``val_dir`` is not given.
        augment: augmentation preset; default ``"light"`` (fine-tune) / ``"standard"`` (full).
        dropout: dropout before the head.
        warmup_epochs: frozen-backbone epochs first (full recipe only).
        unfreeze: ``"top"``, ``"all"`` or ``"none"`` (fine-tune recipe only).
        seed: split, shuffling and augmentation seed.
        precision: ``None``, ``"mixed_bfloat16"`` or ``"mixed_float16"``.
        log: where progress lines go.

    Returns:
        A JSON-able dict: ``history``, ``eval_accuracy``, ``train_seconds``,
        ``train_images_per_s`` (full recipe), ``recipe``, ``weights`` and ``run_dir``.

    Raises:
        ValueError: On a bad argument or folder.
        WeightsUnavailableError: If the requested weights cannot be had.
    """
    from keras_cvcls.data import ClassificationDataset
    from keras_cvcls.models import ImageClassifier

    if recipe is None:
        recipe = "full" if weights is None else "fine-tune"
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}. Received: recipe={recipe!r}")
    if recipe == "fine-tune" and weights is None:
        raise ValueError(
            "The fine-tune recipe needs pretrained weights; with weights=None use recipe='full'. "
            f"Received: recipe={recipe!r}, weights=None"
        )
    defaults = FULL_DEFAULTS if recipe == "full" else FINE_TUNE_DEFAULTS
    epochs = defaults["epochs"] if epochs is None else epochs
    lr = defaults["lr"] if lr is None else lr
    augment = defaults["augment"] if augment is None else augment

    dataset = ClassificationDataset.from_directory(data_dir)
    if val_dir is not None:
        train, test = dataset, ClassificationDataset.from_directory(val_dir).with_labels(dataset.labels)
    else:
        train, test = dataset.split(train_size=1 - test_size, seed=seed)
    log(f"{len(train) + (len(test) if val_dir else 0)} images, labels {dataset.labels}; train {len(train)}, test {len(test)}")
    os.makedirs(out, exist_ok=True)
    rd.write_json(
        os.path.join(out, rd.SPLIT_FILE),
        {
            "data_dir": os.path.abspath(data_dir),
            "val_dir": os.path.abspath(val_dir) if val_dir else None,
            "seed": seed,
            "test_size": None if val_dir else test_size,
            "train": [r.id for r in train.images],
            "test": [r.id for r in test.images],
        },
    )
    model = ImageClassifier(
        dataset.labels, backbone, weights=weights, image_size=image_size, dropout=dropout, precision=precision,
    )
    log(f"{backbone} ({model.weights_source} weights) at {model.image_size[0]}x{model.image_size[1]}, recipe {recipe}")
    logs = os.path.join(out, rd.LOGS_DIR)
    start = time.perf_counter()
    if recipe == "fine-tune":
        model.fine_tune(
            train, epochs=epochs, validation_data=test, unfreeze=unfreeze, lr_per_epoch=lr, momentum=momentum,
            batch_size=batch_size, augment=augment, tensorboard_logdir=logs, seed=seed,
        )
        keras_history = {}
        images_per_s = None
    else:
        import keras

        from keras_cvcls.training import StepLR

        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or not 0 <= warmup_epochs < epochs:
            raise ValueError(f"warmup_epochs must be an int in [0, epochs). Received: warmup_epochs={warmup_epochs!r}")
        # SGD with cvtk's per-epoch rates; a frozen-backbone warm-up needs a compile of its own.
        fit_options = dict(batch_size=batch_size, validation_data=test, augment=augment, seed=seed,
                           tensorboard_logdir=logs, callbacks=[StepLR(lr)])
        keras_history = {}
        for frozen, first, last in ((True, 0, warmup_epochs), (False, warmup_epochs, epochs)):
            if last > first:
                model.backbone.trainable = not frozen
                model.compile(optimizer=keras.optimizers.SGD(momentum=momentum))
                history = model.fit(train, initial_epoch=first, epochs=last, **fit_options)
                for k, vals in history.history.items():
                    keras_history.setdefault(k, []).extend(float(v) for v in vals)
        model.backbone.trainable = True
        images_per_s = float(model.train_images_per_s)
    seconds = time.perf_counter() - start
    model.save(os.path.join(out, rd.MODEL_DIR))
    rd.write_json(os.path.join(out, rd.CLASS_MAP_FILE), {str(i): label for i, label in enumerate(model.labels)})
    curves = {k: _finite_or_none(v) for k, v in model.eval_history.history.items()}
    rd.write_json(os.path.join(out, rd.HISTORY_FILE), {**curves, "keras": keras_history})
    model.eval_history.plot(os.path.join(out, rd.CURVE_FILE))
    return {
        "history": {k: curves[k] for k in ("train_accuracy", "eval_accuracy", "lr")},
        "eval_accuracy": curves["eval_accuracy"][-1],
        "train_seconds": seconds,
        "train_images_per_s": images_per_s,
        "recipe": recipe,
        "weights": model.weights_source,
        "run_dir": os.path.abspath(out),
    }

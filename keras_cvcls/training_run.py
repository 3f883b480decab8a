"""A training run: a folder of photos in, a run folder out (``keras-cvcls train``, ``evaluate``, ``ui``).

:class:`TrainingRun` owns the run folder (its layout is :mod:`keras_cvcls.run_folder`);
:func:`train_run` makes one in a single call.
"""

import math
import os
import time

import numpy as np

from keras_cvcls.run_folder import (
    CLASS_MAP_FILE,
    CURVE_FILE,
    HISTORY_FILE,
    LOGS_DIR,
    MODEL_DIR,
    REPORT_FILE,
    SPLIT_FILE,
    is_run_dir,
    model_stamp,
    read_cached_scores,
    read_json,
    write_cached_scores,
    write_json,
)

RECIPES = ("fine-tune", "full")
# The from-scratch ("full") recipe's defaults: cvtk's step learning rates.
FULL_DEFAULTS = {"epochs": 15, "lr": "0.01x7,0.001x7,0.0001", "augment": "standard"}
FINE_TUNE_DEFAULTS = {"epochs": 3, "lr": None, "augment": "light"}
# What the run sets itself in ImageClassifier.fine_tune / fit.
_RUN_OWNED = ("validation_data", "tensorboard_logdir")


def _finite_or_none(values):
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


class TrainingRun:
    """A training run folder: the split, the model, its history and its scores.

    Make one with :meth:`create` (a new run on a data folder) or :meth:`load`
    (a folder written before, by this class or ``keras-cvcls train``); train it with
    :meth:`fine_tune` (from pretrained weights) or :meth:`fit` (the "full" recipe),
    then :meth:`save` it. :func:`train_run` does all of it in one call.

    Attributes:
        run_dir: the run folder, absolute.
        data_dir: the data folder the split refers to.
        val_dir: the separate validation folder, or None (the test side is a split of ``data_dir``).
        seed: the split, shuffling and augmentation seed.
        test_size: the held-out fraction (None with ``val_dir``).
        test_ids: the ids of the test images, as recorded when the run was created.

    Example:
        >>> run = TrainingRun.create("runs/1", "photos/", seed=0)
        >>> run.fine_tune(epochs=3)
        >>> run.save()
        >>> TrainingRun.load("runs/1").evaluate().compute_accuracy()
    """

    def __init__(self, run_dir, split_info, *, data_dir=None, model=None, datasets=None):
        self.run_dir = os.path.abspath(os.fspath(run_dir))
        self.data_dir = os.fspath(data_dir) if data_dir is not None else split_info["data_dir"]
        self.val_dir = split_info.get("val_dir")
        self.seed = split_info.get("seed")
        self.test_size = split_info.get("test_size")
        self.train_ids = list(split_info["train"])
        self.test_ids = list(split_info["test"])
        self._model = model
        self._split = datasets
        self._history = None
        self._history_loaded = model is not None  # a new run has no history file to read
        self._unsaved = False

    # ----------------------------------------------------------------- creation
    @classmethod
    def create(
        cls, run_dir, data_dir, *, val_dir=None, test_size=0.34, seed=0, backbone="efficientnet_lite0",
        weights="imagenet", image_size=None, dropout=0.0, precision="auto",
    ):
        """Starts a run: reads the data, splits it, builds the model and writes ``split.json``.

        Args:
            run_dir: the run folder to write (created if needed).
            data_dir: folder with one subfolder per label.
            val_dir: a separate validation folder (same labels); default: a stratified
                ``test_size`` split of ``data_dir``.
            test_size: held-out fraction when ``val_dir`` is not given, 0 < test_size < 1.
            seed: split, shuffling and augmentation seed.
            backbone: a registry name (see :func:`~keras_cvcls.models.list_backbones`).
            weights: ``"imagenet"``, ``None`` or a weights file path.
            image_size: input size; default the backbone's transfer size.
            dropout: dropout before the head.
            precision: ``"auto"`` (the fastest accurate one for this machine: see
                :mod:`keras_cvcls.models.precision`), ``"float32"``, ``"mixed_bfloat16"`` or
                ``"mixed_float16"``.

        Returns:
            A :class:`TrainingRun` with an untrained model.

        Raises:
            ValueError: On a bad folder or argument.
            WeightsUnavailableError: If the requested weights cannot be had.

        Example:
            >>> run = TrainingRun.create("runs/1", "photos/", backbone="resnet18", weights=None)
        """
        from keras_cvcls.data import ClassificationDataset
        from keras_cvcls.models import ImageClassifier

        if val_dir is None and (isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0 < test_size < 1):
            raise ValueError(f"test_size must be a number between 0 and 1. Received: test_size={test_size!r}")
        dataset = ClassificationDataset.from_directory(data_dir)
        if val_dir is not None:
            train, test = dataset, ClassificationDataset.from_directory(val_dir).with_labels(dataset.labels)
        else:
            train, test = dataset.split(train_size=1 - test_size, seed=seed)
        # The model first: a backbone that cannot be built leaves no run folder behind.
        model = ImageClassifier(
            dataset.labels, backbone, weights=weights, image_size=image_size, dropout=dropout, precision=precision,
        )
        split_info = {
            "data_dir": os.path.abspath(data_dir),
            "val_dir": os.path.abspath(val_dir) if val_dir else None,
            "seed": seed,
            "test_size": None if val_dir else test_size,
            "train": [r.id for r in train.images],
            "test": [r.id for r in test.images],
        }
        os.makedirs(run_dir, exist_ok=True)
        write_json(os.path.join(run_dir, SPLIT_FILE), split_info)
        return cls(run_dir, split_info, model=model, datasets=(train, test))

    @classmethod
    def load(cls, run_dir, *, data_dir=None):
        """Opens a run folder; the model, split and history are read on first use.

        Args:
            run_dir: a folder written by :meth:`create` / :meth:`save` or ``keras-cvcls train``.
            data_dir: the data folder, if it moved since training (default: the one recorded).

        Returns:
            A :class:`TrainingRun`.

        Raises:
            ValueError: if ``run_dir`` is not a training run folder.

        Example:
            >>> train, test = TrainingRun.load("runs/1").split
        """
        if not is_run_dir(run_dir):
            raise ValueError(
                f"Not a training run folder (no {SPLIT_FILE}; keras-cvcls train writes one). "
                f"Received: run_dir={os.fspath(run_dir)!r}"
            )
        return cls(run_dir, read_json(os.path.join(run_dir, SPLIT_FILE)), data_dir=data_dir)

    # ------------------------------------------------------------------- paths
    def _path(self, name):
        return os.path.join(self.run_dir, name)

    @property
    def name(self):
        """The run folder's name."""
        return os.path.basename(self.run_dir)

    @property
    def model_dir(self):
        """``RUN_DIR/model``."""
        return self._path(MODEL_DIR)

    @property
    def logs_dir(self):
        """``RUN_DIR/logs`` (TensorBoard)."""
        return self._path(LOGS_DIR)

    @property
    def curve_path(self):
        """``RUN_DIR/training_curve.png``."""
        return self._path(CURVE_FILE)

    @property
    def report_path(self):
        """``RUN_DIR/report.html``, where the UI writes its report."""
        return self._path(REPORT_FILE)

    # ------------------------------------------------------------------ parts
    @property
    def model(self):
        """The classifier: the one being trained, or the saved one (loaded on first use).

        Raises:
            ValueError: if the run has no saved model.
        """
        if self._model is None:
            from keras_cvcls.models import load_classifier

            if not os.path.isdir(self.model_dir):
                raise ValueError(f"The run has no saved model yet: train and save it first. Received: run_dir={self.run_dir!r}")
            self._model = load_classifier(self.model_dir)
        return self._model

    @property
    def labels(self):
        """The model's class names, in score order (from ``class_map.json`` when saved)."""
        path = self._path(CLASS_MAP_FILE)
        if self._model is None and os.path.isfile(path):
            class_map = read_json(path)
            return [class_map[str(i)] for i in range(len(class_map))]
        return [str(label) for label in self.model.labels]

    @property
    def split(self):
        """``(train, test)`` :class:`~keras_cvcls.data.ClassificationDataset` s, re-created from the data folder.

        Images recorded in the split but gone from the folder are left out.
        """
        if self._split is None:
            from keras_cvcls.data import ClassificationDataset

            dataset = ClassificationDataset.from_directory(self.data_dir)
            known = {r.id for r in dataset.images}
            train = dataset.subset([i for i in self.train_ids if i in known], "train")
            if self.val_dir:  # a separate validation folder, not a split of the data folder
                test = ClassificationDataset.from_directory(self.val_dir).with_labels(dataset.labels)
            else:
                test = dataset.subset([i for i in self.test_ids if i in known], "test")
            self._split = (train, test)
        return self._split

    @property
    def history(self):
        """The training history (``train_accuracy``, ``eval_accuracy``, ``lr`` per epoch, ``keras``,
        ``recipe``, ``train_seconds``, ``train_images_per_s``), or None before training."""
        if not self._history_loaded:
            path = self._path(HISTORY_FILE)
            self._history = read_json(path) if os.path.isfile(path) else None
            self._history_loaded = True
        return self._history

    # ---------------------------------------------------------------- training
    def _train_options(self, options):
        owned = sorted(set(options) & set(_RUN_OWNED))
        if owned:
            raise ValueError(
                f"The run sets {owned} itself (its test split and RUN_DIR/{LOGS_DIR}). Received: {owned[0]}=..."
            )
        return {"validation_data": self.split[1], "tensorboard_logdir": self.logs_dir, "seed": self.seed, **options}

    def fine_tune(self, **options):
        """Trains with the transfer-learning recipe (:meth:`ImageClassifier.fine_tune`) on the train split.

        The test split is the validation data, TensorBoard logs go to ``RUN_DIR/logs``
        and the run's seed is used unless ``seed`` is given.

        Args:
            **options: :meth:`ImageClassifier.fine_tune`'s options (``epochs``, ``unfreeze``,
                ``lr``, ``lr_per_epoch``, ``momentum``, ``batch_size``, ``augment``, ...).

        Returns:
            :attr:`history`.

        Raises:
            ValueError: For ``validation_data`` or ``tensorboard_logdir`` (the run's own), or
                a bad option.
        """
        return self._train("fine-tune", lambda: self.model.fine_tune(self.split[0], **self._train_options(options)))

    def fit(
        self, *, epochs=FULL_DEFAULTS["epochs"], lr_per_epoch=FULL_DEFAULTS["lr"], momentum=0.9, batch_size=32,
        augment=FULL_DEFAULTS["augment"], warmup_epochs=0, **options,
    ):
        """Trains with the "full" recipe: the whole network, SGD with momentum and cvtk's step learning rates.

        Args:
            epochs: all epochs.
            lr_per_epoch: learning rate per epoch (a list or ``"0.01x7,0.001"``); the last repeats.
            momentum: SGD momentum.
            batch_size: minibatch size.
            augment: augmentation preset.
            warmup_epochs: epochs with a frozen backbone first.
            **options: other :meth:`ImageClassifier.fit` options for a dataset (``cache``,
                ``verbose``, ``callbacks``, ...).

        Returns:
            :attr:`history`.
        """
        import keras

        from keras_cvcls.training import StepLR

        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or not 0 <= warmup_epochs < epochs:
            raise ValueError(f"warmup_epochs must be an int in [0, epochs). Received: warmup_epochs={warmup_epochs!r}")
        options = self._train_options(dict(batch_size=batch_size, augment=augment, **options))
        options["callbacks"] = [StepLR(lr_per_epoch), *(options.get("callbacks") or [])]
        model = self.model

        def train():
            # SGD with cvtk's per-epoch rates; a frozen-backbone warm-up needs a compile of its own.
            merged = keras.callbacks.History()
            merged.history = {}
            for frozen, first, last in ((True, 0, warmup_epochs), (False, warmup_epochs, epochs)):
                if last > first:
                    model.backbone.trainable = not frozen
                    model.compile(optimizer=keras.optimizers.SGD(momentum=momentum))
                    history = model.fit(self.split[0], initial_epoch=first, epochs=last, **options)
                    for k, vals in history.history.items():
                        merged.history.setdefault(k, []).extend(float(v) for v in vals)
            model.backbone.trainable = True
            return merged

        return self._train("full", train)

    def _train(self, recipe, train):
        start = time.perf_counter()
        result = train()
        seconds = time.perf_counter() - start
        keras_history = {}
        images_per_s = None
        if recipe == "full":
            keras_history = {k: [float(v) for v in vals] for k, vals in result.history.items()}
            images_per_s = float(self.model.train_images_per_s)
        curves = {k: _finite_or_none(v) for k, v in self.model.eval_history.history.items()}
        self._history = {
            **curves, "keras": keras_history, "recipe": recipe, "train_seconds": seconds,
            "train_images_per_s": images_per_s,
        }
        self._history_loaded = True
        self._unsaved = True
        return self._history

    def save(self):
        """Writes the model, ``class_map.json``, ``history.json`` and the training-curve PNG.

        Returns:
            :attr:`run_dir`.
        """
        model = self.model
        model.save(self.model_dir)
        write_json(self._path(CLASS_MAP_FILE), {str(i): str(label) for i, label in enumerate(model.labels)})
        if self.history is not None:
            write_json(self._path(HISTORY_FILE), self.history)
        if getattr(model, "eval_history", None) is not None:
            model.eval_history.plot(self.curve_path)
        self._unsaved = False
        return self.run_dir

    # -------------------------------------------------------------- evaluation
    def _dataset(self, dataset):
        from keras_cvcls.data import ClassificationDataset

        if dataset is None:
            return self.split[1]
        if isinstance(dataset, (str, os.PathLike)):
            dataset = ClassificationDataset.from_directory(dataset)
        return dataset

    def cached_scores(self, dataset):
        """The saved model's cached scores of every image of ``dataset``, or None if any is not cached."""
        if self._unsaved or not os.path.isdir(self.model_dir):
            return None
        cached = read_cached_scores(self.run_dir)
        if cached is None or cached["stamp"] != model_stamp(self.model_dir) or cached["labels"] != self.labels:
            return None
        rows = cached["rows"]
        paths = [r.path for r in dataset.images]
        if any(p not in rows for p in paths):
            return None
        return np.stack([rows[p] for p in paths]) if paths else np.zeros((0, len(self.labels)), np.float32)

    def scores(self, dataset=None, *, batch_size=32):
        """Class probabilities of the run's model for every image of a dataset, in dataset order.

        Scores of the saved model are cached in ``RUN_DIR/scores.npz`` by image path and
        read back while the model is unchanged.

        Args:
            dataset: a :class:`~keras_cvcls.data.ClassificationDataset` or a data folder;
                default: the test split.
            batch_size: batch size for scoring.

        Returns:
            A float32 array ``[len(dataset), len(labels)]``.
        """
        dataset = self._dataset(dataset)
        scores = self.cached_scores(dataset)
        if scores is None:
            scores = np.asarray(self.model.predict_scores(dataset, batch_size=batch_size), dtype=np.float32)
            if not self._unsaved and os.path.isdir(self.model_dir):
                write_cached_scores(self.run_dir, [r.path for r in dataset.images], self.labels, scores)
        return scores

    def evaluate(self, dataset=None, *, batch_size=32, report=None):
        """Evaluates the run's model; optionally writes the HTML report with the training curve.

        Args:
            dataset: a :class:`~keras_cvcls.data.ClassificationDataset` or a data folder;
                default: the test split. Its labels must be among the model's.
            batch_size: batch size for scoring.
            report: path of an HTML report to write, or None.

        Returns:
            A :class:`~keras_cvcls.evaluation.ClassificationEvaluation`.

        Raises:
            ValueError: if the dataset has a label the model does not know.

        Example:
            >>> TrainingRun.load("runs/1").evaluate(report="report.html").to_dict()["accuracy"]
        """
        from keras_cvcls.evaluation import ClassificationEvaluation

        labels = self.labels
        dataset = self._dataset(dataset).with_labels(labels)
        evaluation = ClassificationEvaluation.from_scores(
            [r.label for r in dataset.images], self.scores(dataset, batch_size=batch_size), labels,
            paths=[r.path for r in dataset.images],
        )
        if report:
            self.write_report(evaluation, report)
        return evaluation

    def write_report(self, evaluation, path=None):
        """Writes the HTML report of an evaluation with this run's training curve; returns its path.

        Args:
            evaluation: a :class:`~keras_cvcls.evaluation.ClassificationEvaluation`.
            path: where to write it; default ``RUN_DIR/report.html``.
        """
        from keras_cvcls.evaluation import write_report

        history = self.history or {}
        curves = {k: history[k] for k in ("train_accuracy", "eval_accuracy", "lr") if k in history} or None
        return write_report(evaluation, path or self.report_path, title=f"Evaluation of {self.name}", history=curves)


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
    augment="auto",
    dropout=0.0,
    warmup_epochs=0,
    unfreeze="top",
    seed=0,
    precision="auto",
    log=print,
):
    """Trains a classifier on a folder dataset and writes a run folder, in one call (``keras-cvcls train``).

    With pretrained weights (the default) the recipe is
    :meth:`ImageClassifier.fine_tune`; with ``weights=None`` it is ``"full"``: the
    whole network trained from scratch with SGD and cvtk's step learning rates.
    :class:`TrainingRun` does the steps one by one.

    Args:
        data_dir: folder with one subfolder per label.
        out: the run folder to write.
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
        augment: augmentation preset, ``None`` for none, or ``"auto"`` (default): ``"light"``
            (fine-tune) / ``"standard"`` (full).
        dropout: dropout before the head.
        warmup_epochs: frozen-backbone epochs first (full recipe only).
        unfreeze: ``"top"``, ``"all"`` or ``"none"`` (fine-tune recipe only).
        seed: split, shuffling and augmentation seed.
        precision: ``"auto"`` (default: the fastest accurate one for this machine, see
            :mod:`keras_cvcls.models.precision`), ``"float32"``, ``"mixed_bfloat16"`` or
            ``"mixed_float16"``.
        log: where progress lines go.

    Returns:
        A JSON-able dict: ``history``, ``eval_accuracy``, ``train_seconds``,
        ``train_images_per_s`` (full recipe), ``recipe``, ``weights``, ``precision`` (the
        one used), ``precision_reason`` and ``run_dir``.

    Raises:
        ValueError: On a bad argument or folder.
        WeightsUnavailableError: If the requested weights cannot be had.

    Example:
        >>> train_run("photos/", "runs/1")["eval_accuracy"]
    """
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
    augment = defaults["augment"] if augment == "auto" else augment

    run = TrainingRun.create(
        out, data_dir, val_dir=val_dir, test_size=test_size, seed=seed, backbone=backbone, weights=weights,
        image_size=image_size, dropout=dropout, precision=precision,
    )
    train, test = run.split
    model = run.model
    log(f"{len(train) + (len(test) if val_dir else 0)} images, labels {model.labels}; train {len(train)}, test {len(test)}")
    log(f"{backbone} ({model.weights_source} weights) at {model.image_size[0]}x{model.image_size[1]}, recipe {recipe}, "
        f"{model.precision} ({model.precision_reason})")
    common = dict(epochs=epochs, batch_size=batch_size, momentum=momentum, augment=augment, lr_per_epoch=lr)
    if recipe == "fine-tune":
        history = run.fine_tune(unfreeze=unfreeze, **common)
    else:
        history = run.fit(warmup_epochs=warmup_epochs, **common)
    run.save()
    return {
        "history": {k: history[k] for k in ("train_accuracy", "eval_accuracy", "lr")},
        "eval_accuracy": history["eval_accuracy"][-1],
        "train_seconds": history["train_seconds"],
        "train_images_per_s": history["train_images_per_s"],
        "recipe": recipe,
        "weights": model.weights_source,
        "precision": model.precision,
        "precision_reason": model.precision_reason,
        "run_dir": run.run_dir,
    }

"""A training run: a folder of photos in, a run folder out (``keras-cvcls train``, ``evaluate``, ``ui``).

:class:`TrainingRun` owns the run folder (its layout is :mod:`keras_cvcls.run_folder`);
:func:`train_run` makes one in a single call.

A new run is built in ``RUN_DIR.partial`` beside ``RUN_DIR`` and moved into place when it is
saved, so ``RUN_DIR`` always holds a complete run, or none. While it trains, every finished
epoch is backed up there (``keras.callbacks.BackupAndRestore`` and
:class:`~keras_cvcls.training.run_progress.RunProgress`): a killed run resumes from its last
finished epoch (``if_exists="resume"``, ``keras-cvcls train --resume``).
"""

import math
import os
import shutil
import time
import warnings

import numpy as np

from keras_cvcls.run_folder import (
    BACKUP_DIR,
    CLASS_MAP_FILE,
    CURVE_FILE,
    HISTORY_FILE,
    LOGS_DIR,
    MODEL_DIR,
    OPTIONS_FILE,
    PROGRESS_FILE,
    REPORT_FILE,
    SPLIT_FILE,
    is_resumable,
    is_run_dir,
    model_stamp,
    partial_dir,
    publish,
    read_cached_scores,
    read_json,
    target_state,
    write_cached_scores,
    write_json,
)
from keras_cvcls.training.distribute import check_distribute
from keras_cvcls.run_options import check_target, create_arguments, recordable, refuse_other_options

RECIPES = ("fine-tune", "full")
IF_EXISTS = ("error", "resume", "overwrite")
ON_BAD_IMAGE = ("stop", "skip")
# The from-scratch ("full") recipe's defaults: cvtk's step learning rates.
FULL_DEFAULTS = {"epochs": 15, "lr": "0.01x7,0.001x7,0.0001", "augment": "standard"}
FINE_TUNE_DEFAULTS = {"epochs": 3, "lr": None, "augment": "light"}
FULL_PEAK_LR = 0.01  # the full recipe's rate with a one-cycle or cosine schedule
# What the run sets itself in ImageClassifier.fine_tune / fit.
_RUN_OWNED = ("validation_data", "tensorboard_logdir")


def _finite_or_none(values):
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


def open_dataset(path):
    """The dataset of a data folder: one subfolder per label, or TFRecords (``keras-cvcls dataset to-tfrecord``)."""
    from keras_cvcls.data import ClassificationDataset
    from keras_cvcls.data.tfrecords import is_tfrecord_dir, read_tfrecords

    if is_tfrecord_dir(path):
        return read_tfrecords(path)
    return ClassificationDataset.from_directory(path)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}. Received: {name}={value!r}")


class TrainingRun:
    """A training run folder: the split, the model, its history and its scores.

    Make one with :meth:`create` (a new run on a data folder, or the resumption of an
    interrupted one) or :meth:`load` (a folder written before, by this class or
    ``keras-cvcls train``); train it with :meth:`fine_tune` (from pretrained weights) or
    :meth:`fit` (the "full" recipe), then :meth:`save` it. :func:`train_run` does all of it
    in one call.

    Attributes:
        run_dir: the run folder, absolute.
        partial_dir: where a new run is built until :meth:`save` moves it to ``run_dir``
            (``RUN_DIR.partial``); None for a saved or loaded run.
        resumed: True when :meth:`create` continued an interrupted run.
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

    def __init__(self, run_dir, split_info, *, data_dir=None, model=None, datasets=None, partial_dir=None, options=None):
        self.run_dir = os.path.abspath(os.fspath(run_dir))
        self.partial_dir = partial_dir
        self.resumed = False
        self.data_dir = os.fspath(data_dir) if data_dir is not None else split_info["data_dir"]
        self.val_dir = split_info.get("val_dir")
        self.seed = split_info.get("seed")
        self.test_size = split_info.get("test_size")
        self.train_ids = list(split_info["train"])
        self.test_ids = list(split_info["test"])
        self.multi_label = bool(split_info.get("multi_label", False))
        self.separator = split_info.get("separator", " ")
        self._model = model
        self._split = datasets
        self._options = options  # what the run was made with (OPTIONS_FILE), for a run being built
        self._history = None
        self._history_loaded = model is not None  # a new run has no history file to read
        self._unsaved = False
        # A non-chief worker of a multi-worker run: the chief's backup folder, restored from (WorkerBackup).
        self.restore_from = None

    # ----------------------------------------------------------------- creation
    @classmethod
    def create(
        cls, run_dir, data_dir, *, val_dir=None, test_size=0.34, seed=0, backbone="efficientnet_lite0",
        weights="imagenet", image_size=None, dropout=0.0, precision="auto", if_exists="error", multi_label=False,
        separator=" ",
    ):
        """Starts a run: reads the data, splits it, builds the model and writes ``split.json``.

        The run is built in ``RUN_DIR.partial`` (beside ``run_dir``); :meth:`save` moves it to
        ``run_dir`` in one step, replacing a finished run there only then. A kill at any moment
        leaves ``run_dir`` as it was.

        Args:
            run_dir: the run folder to write: new, empty, or (see ``if_exists``) a finished run.
            data_dir: folder with one subfolder per label (at least two labels).
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
            if_exists: what to do when ``run_dir`` already holds a run, or an interrupted one
                is in ``RUN_DIR.partial``: ``"error"`` (default) refuses; ``"overwrite"`` starts
                a new run, which replaces the old one when it is saved; ``"resume"`` continues
                the interrupted run from its last finished epoch (the same arguments, and the
                same training options, are required; with no interrupted run it starts one).
                A folder holding anything but a run is never written into.
            multi_label: ``data_dir`` (and ``val_dir``) are then CSV files of image paths and
                label sets (:meth:`~keras_cvcls.data.MultiLabelDataset.from_csv`), split by
                iterative stratification, and the model is ``ImageClassifier(multi_label=True)``.
            separator: what joins the label names in the CSV's labels column (default a space).

        Returns:
            A :class:`TrainingRun` with an untrained model (or, resumed, one the training call
            restores from the backup).

        Raises:
            ValueError: On a bad folder or argument, a ``run_dir`` that is taken, a data folder
                with fewer than two labels, or a resumption with other arguments.
            WeightsUnavailableError: If the requested weights cannot be had.

        Example:
            >>> run = TrainingRun.create("runs/1", "photos/", backbone="resnet18", weights=None)
        """
        from keras_cvcls.models import ImageClassifier

        _check_choice("if_exists", if_exists, IF_EXISTS)
        if val_dir is None and (isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0 < test_size < 1):
            raise ValueError(f"test_size must be a number between 0 and 1. Received: test_size={test_size!r}")
        run_dir = os.path.abspath(os.fspath(run_dir))
        partial = partial_dir(run_dir)
        arguments = create_arguments(data_dir, val_dir, test_size, seed, backbone, weights, image_size, dropout, precision)
        if multi_label:  # recorded only then: runs made before multi-label support resume as they were
            arguments.update(multi_label=True, separator=separator)
        if check_target(run_dir, partial, if_exists):  # resume the interrupted run
            options = read_json(os.path.join(partial, OPTIONS_FILE))
            recorded = {k: v for k, v in options["create"].items() if k != "labels"}
            refuse_other_options(recorded, arguments, "made", partial)
            run = cls(run_dir, read_json(os.path.join(partial, SPLIT_FILE)), partial_dir=partial, options=options)
            train, _ = run.split
            if list(train.labels) != options["create"]["labels"]:
                raise ValueError(
                    f"The data folder's labels changed since the run started, so it cannot be resumed; start over "
                    f"with if_exists='overwrite' (--overwrite). Received: labels={train.labels!r}, "
                    f"labels when the run started={options['create']['labels']!r}"
                )
            run._model = ImageClassifier(
                train.labels, backbone, weights=weights, image_size=image_size, dropout=dropout, precision=precision,
                multi_label=multi_label,
            )
            run._history_loaded, run.resumed = True, True
            return run

        read = _dataset_reader(multi_label, separator)
        dataset = read(data_dir)
        if len(dataset.labels) < 2 and not multi_label:
            raise ValueError(
                f"Training needs images of at least two labels (one subfolder per label), and {data_dir} has "
                f"{len(dataset.labels)}: add a folder of images for each other label. "
                f"Received: labels={dataset.labels!r} ({len(dataset)} images)"
            )
        if val_dir is not None:
            train, test = dataset, read(val_dir).with_labels(dataset.labels)
        else:
            train, test = dataset.split(train_size=1 - test_size, seed=seed)
        # The model first: a backbone that cannot be built leaves no run folder behind. Its random
        # initial weights come from the run's seed: the same seed, the same start (on every worker too).
        import keras

        keras.utils.set_random_seed(seed)
        model = ImageClassifier(
            dataset.labels, backbone, weights=weights, image_size=image_size, dropout=dropout, precision=precision,
            multi_label=multi_label,
        )
        split_info = {
            "data_dir": arguments["data_dir"],
            "val_dir": arguments["val_dir"],
            "seed": seed,
            "test_size": arguments["test_size"],
            "train": [r.id for r in train.images],
            "test": [r.id for r in test.images],
            **({"multi_label": True, "separator": separator} if multi_label else {}),
        }
        options = {"create": {**arguments, "labels": list(dataset.labels)}}
        try:
            if os.path.lexists(partial):
                shutil.rmtree(partial)  # overwrite: start over; or what a kill left before the run began
            os.makedirs(os.path.join(partial, BACKUP_DIR))
            write_json(os.path.join(partial, OPTIONS_FILE), options)
            write_json(os.path.join(partial, SPLIT_FILE), split_info)
        except OSError as e:
            raise ValueError(
                f"Cannot write the run folder: {e.strerror} ({e.filename}). The run is built beside it, in "
                f"{os.path.basename(partial)}, and then renamed: choose a folder whose parent you can write to. "
                f"Received: run_dir={run_dir!r}"
            ) from None
        return cls(run_dir, split_info, model=model, datasets=(train, test), partial_dir=partial, options=options)

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
            partial = partial_dir(run_dir)
            if is_resumable(partial):
                raise ValueError(
                    f"The run is not finished: it was interrupted, or is still training, in {partial}. Resume it "
                    "with keras-cvcls train --resume (TrainingRun.create(..., if_exists='resume')). "
                    f"Received: run_dir={os.fspath(run_dir)!r}"
                )
            raise ValueError(
                f"Not a training run folder (no {SPLIT_FILE}; keras-cvcls train writes one). "
                f"Received: run_dir={os.fspath(run_dir)!r}"
            )
        return cls(run_dir, read_json(os.path.join(run_dir, SPLIT_FILE)), data_dir=data_dir)

    # ------------------------------------------------------------------- paths
    def _path(self, name):
        return os.path.join(self.partial_dir or self.run_dir, name)

    @property
    def name(self):
        """The run folder's name."""
        return os.path.basename(self.run_dir)

    @property
    def model_dir(self):
        """``RUN_DIR/model`` (in ``RUN_DIR.partial`` until the run is saved)."""
        return self._path(MODEL_DIR)

    @property
    def logs_dir(self):
        """``RUN_DIR/logs`` (TensorBoard; in ``RUN_DIR.partial`` until the run is saved)."""
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
            read = _dataset_reader(self.multi_label, self.separator)
            dataset = read(self.data_dir)
            known = {r.id for r in dataset.images}
            train = dataset.subset([i for i in self.train_ids if i in known], "train")
            if self.val_dir:  # a separate validation folder, not a split of the data folder
                test = read(self.val_dir).with_labels(dataset.labels)
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
        return {"validation_data": self.split[1], "tensorboard_logdir": self.logs_dir, "seed": self.seed, **options}

    def _progress_path(self):
        return os.path.join(self.partial_dir, BACKUP_DIR, PROGRESS_FILE) if self.partial_dir else None

    def _backup_callbacks(self, progress, fit_index):
        """RunProgress, then (for a run being built) BackupAndRestore of the ``fit_index``-th ``model.fit``."""
        import keras

        if self.partial_dir is None:
            return [progress]
        backup = os.path.join(self.partial_dir, BACKUP_DIR, f"fit-{fit_index}")
        if self.restore_from is not None:
            from keras_cvcls.training.worker_backup import WorkerBackup

            return [progress, WorkerBackup(backup, os.path.join(self.restore_from, f"fit-{fit_index}"))]
        # The backup folder is removed when the run is saved, not when one fit of several ends.
        return [progress, keras.callbacks.BackupAndRestore(backup, double_checkpoint=True, delete_checkpoint=False)]

    def fine_tune(self, *, on_bad_image="stop", **options):
        """Trains with the transfer-learning recipe (:meth:`ImageClassifier.fine_tune`) on the train split.

        The test split is the validation data, TensorBoard logs go to ``RUN_DIR/logs``
        and the run's seed is used unless ``seed`` is given. Each unfrozen epoch is backed up
        (see :meth:`create`'s ``if_exists="resume"``).

        Args:
            on_bad_image: what to do when an image that passed its check no longer decodes (it
                changed during training): ``"stop"`` (default) raises an
                :class:`~keras_cvcls.data.ImageValidationError` naming it (the run can be resumed
                after the file is replaced or removed); ``"skip"`` warns, naming it, leaves it
                out, and continues from the last finished epoch.
            **options: :meth:`ImageClassifier.fine_tune`'s options (``epochs``, ``unfreeze``,
                ``lr``, ``lr_per_epoch``, ``momentum``, ``batch_size``, ``augment``, ...).

        Returns:
            :attr:`history`.

        Raises:
            ValueError: For ``validation_data`` or ``tensorboard_logdir`` (the run's own), a
                bad option, or options other than those of the interrupted run being resumed.
            ImageValidationError: With ``on_bad_image="stop"``, for images that went bad.
        """

        def train(progress):
            run_options = self._train_options(options)
            run_options["callbacks"] = [*(run_options.get("callbacks") or []), *self._backup_callbacks(progress, 0)]
            return self.model.fine_tune(self.split[0], **run_options)

        return self._train("fine-tune", train, options, on_bad_image)

    def fit(
        self, *, epochs=FULL_DEFAULTS["epochs"], lr_per_epoch=FULL_DEFAULTS["lr"], momentum=0.9, batch_size=32,
        augment=FULL_DEFAULTS["augment"], warmup_epochs=0, on_bad_image="stop", schedule=None, lr_warmup_epochs=0,
        label_smoothing=0.0, **options,
    ):
        """Trains with the "full" recipe: the whole network, SGD with momentum and cvtk's step learning rates.

        Args:
            epochs: all epochs.
            lr_per_epoch: learning rate per epoch (a list or ``"0.01x7,0.001"``); the last repeats.
            momentum: SGD momentum.
            batch_size: minibatch size.
            augment: augmentation preset.
            warmup_epochs: epochs with a frozen backbone first.
            on_bad_image: ``"stop"`` or ``"skip"``, as in :meth:`fine_tune`.
            schedule: ``"step"`` (default: ``lr_per_epoch`` exactly, per epoch), ``"one-cycle"``
                or ``"cosine"`` (``lr_per_epoch`` then one peak rate; each training phase, the
                frozen warm-up and the rest, runs its own schedule over its epochs).
            lr_warmup_epochs: epochs of linear warm-up of the ``"cosine"`` schedule.
            label_smoothing: the categorical cross-entropy's label smoothing (0: none). A
                ``mixup`` / ``cutmix`` preset (``augment``) also trains on one-hot labels.
            **options: other :meth:`ImageClassifier.fit` options for a dataset (``cache``,
                ``verbose``, ``callbacks``, ...).

        Returns:
            :attr:`history`.
        """
        import keras

        from keras_cvcls.augment.label_mixing import get_label_mixing
        from keras_cvcls.training import StepLR
        from keras_cvcls.training.auto_compile import auto_compile_arguments
        from keras_cvcls.training.fine_tune import resolve_schedule
        from keras_cvcls.training.schedules import make_schedule

        schedule = resolve_schedule(schedule if schedule is not None else "step", lr_per_epoch)
        one_hot = get_label_mixing(augment) is not None or bool(label_smoothing)
        auto_compile_arguments(label_smoothing=label_smoothing)  # checks it before any work
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or not 0 <= warmup_epochs < epochs:
            raise ValueError(f"warmup_epochs must be an int in [0, epochs). Received: warmup_epochs={warmup_epochs!r}")
        recorded = dict(
            epochs=epochs, lr_per_epoch=lr_per_epoch, momentum=momentum, batch_size=batch_size, augment=augment,
            warmup_epochs=warmup_epochs, **options,
        )
        if schedule != "step" or lr_warmup_epochs or label_smoothing:  # recorded only when used (older runs resume)
            recorded.update(schedule=schedule, lr_warmup_epochs=lr_warmup_epochs, label_smoothing=label_smoothing)
        model = self.model
        steps_per_epoch = -(-len(self.split[0]) // batch_size)

        def train(progress):
            # SGD with cvtk's per-epoch rates; a frozen-backbone warm-up needs a compile (and a fit) of its own.
            run_options = self._train_options(dict(batch_size=batch_size, augment=augment, **options))
            callbacks = [*(run_options.pop("callbacks", None) or [])]
            if schedule == "step":
                callbacks.insert(0, StepLR(lr_per_epoch))
            phases = [(True, 0, warmup_epochs), (False, warmup_epochs, epochs)]
            for index, (frozen, first, last) in enumerate(phase for phase in phases if phase[2] > phase[1]):
                model.backbone.trainable = not frozen
                learning_rate, _ = make_schedule(
                    schedule, lr_per_epoch, epochs=last - first, steps_per_epoch=steps_per_epoch,
                    warmup_epochs=min(lr_warmup_epochs, max(0, last - first - 1)),
                )
                model.compile(**auto_compile_arguments(
                    optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
                    one_hot=one_hot, label_smoothing=label_smoothing,
                ))
                model.fit(
                    self.split[0], initial_epoch=first, epochs=last,
                    callbacks=[*callbacks, *self._backup_callbacks(progress, index)], **run_options,
                )
            model.backbone.trainable = True

        return self._train("full", train, recorded, on_bad_image)

    def _record_training(self, recipe, options):
        """Records the training call's options; once an epoch is backed up, refuses other ones."""
        if self.partial_dir is None:
            return
        given = {"recipe": recipe, **recordable(options)}
        if self._options.get("train") is not None and os.path.isfile(self._progress_path()):
            refuse_other_options(self._options["train"], given, "trained", self.partial_dir)
        self._options["train"] = given
        write_json(self._path(OPTIONS_FILE), self._options)

    def _train(self, recipe, train, options, on_bad_image):
        from keras_cvcls.training.run_progress import RunProgress

        _check_choice("on_bad_image", on_bad_image, ON_BAD_IMAGE)
        owned = sorted(set(options) & set(_RUN_OWNED))
        if owned:
            raise ValueError(
                f"The run sets {owned} itself (its test split and RUN_DIR/{LOGS_DIR}). Received: {owned[0]}=..."
            )
        self._record_training(recipe, options)
        initial_weights = self.model.get_weights()
        start = time.perf_counter()
        while True:
            progress = RunProgress(self._progress_path(), self.model)
            try:
                train(progress)
                break
            except Exception as error:
                if not self._leave_out_bad_images(error, on_bad_image):
                    raise
                if not progress.curves:  # no epoch finished, so none is backed up: start from the same weights
                    self.model.set_weights(initial_weights)
        seconds = time.perf_counter() - start
        images_per_s = float(self.model.train_images_per_s) if recipe == "full" else None
        curves = {k: _finite_or_none(v) for k, v in self.model.eval_history.history.items()}
        self._history = {
            **curves, "keras": progress.keras_history() if recipe == "full" else {}, "recipe": recipe,
            "train_seconds": seconds, "train_images_per_s": images_per_s,
        }
        self._history_loaded = True
        self._unsaved = True
        return self._history

    def _leave_out_bad_images(self, error, on_bad_image):
        """After a failed training call: finds the images that went bad since they were checked.

        Returns False when none did (the error is another one); with ``on_bad_image="skip"``
        leaves them out of the split, warns naming them and returns True.

        Raises:
            ImageValidationError: with ``on_bad_image="stop"``, naming them and the remedy.
        """
        import tensorflow as tf

        from keras_cvcls.data import ImageValidationError
        from keras_cvcls.data.image_check import ImageWarning

        if not isinstance(error, tf.errors.OpError):
            return False
        train, test = self.split
        bad = train.recheck() + test.recheck()
        if not bad:
            return False
        lines = "\n".join(f"  {s.path!r}: {s.reason}" for s in bad)
        if on_bad_image == "stop":
            resume = (
                "then continue the run from its last finished epoch with keras-cvcls train ... --resume "
                "(TrainingRun.create(..., if_exists='resume'))"
                if self.partial_dir else "then train again"
            )
            raise ImageValidationError(
                bad, remedy=f"They changed after the dataset was checked, during training. Replace or remove them, "
                f"{resume}; or train with on_bad_image='skip' (--on-bad-image skip) to leave such files out.",
            ) from None
        warnings.warn(ImageWarning(
            f"{len(bad)} image(s) changed during training and no longer decode; left out (on_bad_image='skip'), "
            f"training goes on from the last finished epoch:\n{lines}"
        ), stacklevel=3)
        ids = {r.id for dataset in (train, test) for r in dataset.images if r.path in {s.path for s in bad}}
        self._split = (train.without(ids), test.without(ids))
        return True

    def save(self):
        """Writes the model, ``class_map.json``, ``history.json`` and the training-curve PNG.

        A run being built is then moved from ``RUN_DIR.partial`` to ``run_dir`` in one step
        (replacing a finished run there), and its backup is deleted.

        Returns:
            :attr:`run_dir`.

        Raises:
            OSError: when the folder cannot be written (the disk is full, ...); ``run_dir`` is
                then left as it was.
        """
        model = self.model
        model.save(self.model_dir)
        write_json(self._path(CLASS_MAP_FILE), {str(i): str(label) for i, label in enumerate(model.labels)})
        if self.history is not None:
            write_json(self._path(HISTORY_FILE), self.history)
        if getattr(model, "eval_history", None) is not None:
            model.eval_history.plot(self.curve_path)
        if self.partial_dir is not None:
            shutil.rmtree(os.path.join(self.partial_dir, BACKUP_DIR), ignore_errors=True)
            publish(self.partial_dir, self.run_dir)
            self.partial_dir = None
        self._unsaved = False
        return self.run_dir


    # -------------------------------------------------------------- evaluation
    def _dataset(self, dataset):
        if dataset is None:
            return self.split[1]
        if isinstance(dataset, (str, os.PathLike)):
            dataset = _dataset_reader(self.multi_label, self.separator)(dataset)
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

    def scores(self, dataset=None, *, batch_size=32, tta=False):
        """Class probabilities of the run's model for every image of a dataset, in dataset order.

        Scores of the saved model are cached in ``RUN_DIR/scores.npz`` by image path and
        read back while the model is unchanged.

        Args:
            dataset: a :class:`~keras_cvcls.data.ClassificationDataset` or a data folder;
                default: the test split.
            batch_size: batch size for scoring.
            tta: test-time augmentation (flips and crops averaged; never cached).

        Returns:
            A float32 array ``[len(dataset), len(labels)]``.
        """
        dataset = self._dataset(dataset)
        if tta:
            from keras_cvcls.models import ImageClassifier

            if not isinstance(self.model, ImageClassifier):
                raise ValueError(
                    "Test-time augmentation needs an ImageClassifier (its views go through the network); this run's "
                    f"model is a {type(self.model).__name__}: evaluate without tta. Received: tta=True"
                )
            return np.asarray(self.model.predict_scores(dataset, batch_size=batch_size, tta=True), dtype=np.float32)
        scores = self.cached_scores(dataset)
        if scores is None:
            scores = np.asarray(self.model.predict_scores(dataset, batch_size=batch_size), dtype=np.float32)
            if not self._unsaved and os.path.isdir(self.model_dir):
                write_cached_scores(self.run_dir, [r.path for r in dataset.images], self.labels, scores)
        return scores

    def evaluate(self, dataset=None, *, batch_size=32, report=None, tta=False):
        """Evaluates the run's model; optionally writes the HTML report with the training curve.

        Args:
            dataset: a :class:`~keras_cvcls.data.ClassificationDataset` or a data folder;
                default: the test split. Its labels must be among the model's.
            batch_size: batch size for scoring.
            report: path of an HTML report to write, or None.
            tta: score with test-time augmentation (:meth:`ImageClassifier.predict_scores`'s
                ``tta``: flips and crops averaged, 4x the scoring time).

        Returns:
            A :class:`~keras_cvcls.evaluation.ClassificationEvaluation` (a
            :class:`~keras_cvcls.evaluation.MultiLabelEvaluation` for a multi-label run, at the
            model's thresholds).

        Raises:
            ValueError: if the dataset has a label the model does not know.

        Example:
            >>> TrainingRun.load("runs/1").evaluate(report="report.html").to_dict()["accuracy"]
        """
        from keras_cvcls.evaluation import ClassificationEvaluation, MultiLabelEvaluation

        labels = self.labels
        dataset = self._dataset(dataset).with_labels(labels)
        if self.multi_label:
            evaluation = MultiLabelEvaluation.from_scores(
                [r.label for r in dataset.images], self.scores(dataset, batch_size=batch_size, tta=tta), labels,
                thresholds=self.model.thresholds, paths=[r.path for r in dataset.images],
            )
            if report:
                self.write_report(evaluation, report)
            return evaluation
        evaluation = ClassificationEvaluation.from_scores(
            [r.label for r in dataset.images], self.scores(dataset, batch_size=batch_size, tta=tta), labels,
            paths=[r.path for r in dataset.images],
            train_paths=[r.path for r in self.split[0].images],  # warns when test images duplicate training ones
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
    backbone=None,
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
    if_exists="error",
    on_bad_image="stop",
    distribute="none",
    log=print,
    multi_label=False,
    separator=" ",
    schedule=None,
    lr_warmup_epochs=0,
    label_smoothing=0.0,
    preset=None,
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
        backbone: a registry name; default ``"efficientnet_lite0"`` (or the preset's).
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
        if_exists: ``"error"`` (default), ``"overwrite"`` or ``"resume"``: see
            :meth:`TrainingRun.create`. ``"resume"`` on a run that is complete trains nothing
            and returns its result (its arguments and options must be these).
        on_bad_image: ``"stop"`` (default) or ``"skip"``: see :meth:`TrainingRun.fine_tune`.
        distribute: ``"none"`` (default), ``"mirrored"`` (every local GPU) or ``"multi-worker"``
            (``tf.distribute.MultiWorkerMirroredStrategy`` from ``TF_CONFIG``; the full recipe
            only). ``batch_size`` is then per replica and the learning rates are multiplied by
            the number of replicas (see :mod:`keras_cvcls.training.distribute`). In multi-worker
            training every worker runs this same call with the same arguments; ``out`` must be on
            storage they all can read (a shared volume), and only the chief (worker 0) writes it:
            the others train in a temporary folder, removed at the end, and, resuming, restore
            from the chief's backup. Call it before anything else uses TensorFlow in the process.
        log: where progress lines go.
        multi_label: ``data_dir`` (and ``val_dir``) are CSV files of paths and label sets;
            see :meth:`TrainingRun.create`. The thresholds are tuned on the test split
            (F1) after training and saved with the model.
        separator: what joins label names in the CSV (default a space).
        schedule: ``"step"`` (``lr`` exactly per epoch; the default with a per-epoch ``lr``),
            ``"one-cycle"`` or ``"cosine"`` (``lr`` is then one peak rate; default 3e-4 for
            fine-tune, 0.01 for full); None: the recipe's (cosine for fine-tune, step for full).
        lr_warmup_epochs: epochs of linear warm-up of the cosine schedule.
        label_smoothing: label smoothing of the cross-entropy (0: none).
        preset: ``"fast"``, ``"balanced"`` or ``"accurate"`` (see :mod:`keras_cvcls.presets`): the
            backbone, size, recipe, epochs, learning rate and augmentation of the preset, for
            each of those arguments left at its default (``None``, or ``"auto"`` for ``augment``).

    Returns:
        A JSON-able dict: ``history``, ``eval_accuracy``, ``train_seconds`` (of this call's
        training, for a resumed run), ``train_images_per_s`` (full recipe), ``recipe``,
        ``weights``, ``precision`` (the one used), ``precision_reason``, ``run_dir`` and
        ``distribute`` (the mode, ``worker``, ``workers``, ``replicas``, ``global_batch_size``,
        ``lr_scale``, ``initial_epoch`` (the first epoch this call trained: above 0 when it
        resumed), and ``weights_sha256`` of the trained model, equal on every worker).

    Raises:
        ValueError: On a bad argument or folder, or a taken ``out`` (see ``if_exists``).
        ImageValidationError: With ``on_bad_image="stop"``, for images that went bad during training.
        WeightsUnavailableError: If the requested weights cannot be had.

    Example:
        >>> train_run("photos/", "runs/1")["eval_accuracy"]
    """
    if preset is not None:
        from keras_cvcls.presets import get_preset

        chosen = get_preset(preset)
        backbone = chosen["backbone"] if backbone is None else backbone
        image_size = chosen["image_size"] if image_size is None else image_size
        recipe = chosen["recipe"] if recipe is None else recipe
        epochs = chosen["epochs"] if epochs is None else epochs
        lr = chosen["lr"] if lr is None else lr
        augment = chosen["augment"] if augment == "auto" else augment
    backbone = "efficientnet_lite0" if backbone is None else backbone
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
    if lr is None and recipe == "full" and schedule in ("one-cycle", "cosine"):
        lr = [FULL_PEAK_LR]  # one peak rate: the step list's first
    lr = defaults["lr"] if lr is None else lr
    augment = defaults["augment"] if augment == "auto" else augment
    _check_choice("if_exists", if_exists, IF_EXISTS)
    _check_choice("on_bad_image", on_bad_image, ON_BAD_IMAGE)
    check_distribute(distribute)
    if distribute == "multi-worker" and recipe != "full":
        raise ValueError(
            "Multi-worker training runs the full recipe (weights=None, or recipe='full' from pretrained weights): "
            "the fine-tune recipe fits its head on features in one process. Use recipe='full' (--recipe full), "
            f"or distribute='mirrored' on one machine. Received: recipe={recipe!r}, distribute={distribute!r}"
        )
    create = dict(
        val_dir=val_dir, test_size=test_size, seed=seed, backbone=backbone, weights=weights, image_size=image_size,
        dropout=dropout, precision=precision, **({"multi_label": True, "separator": separator} if multi_label else {}),
    )
    training = dict(epochs=epochs, batch_size=batch_size, momentum=momentum, augment=augment, lr_per_epoch=lr)
    if recipe == "fine-tune":
        training["unfreeze"] = unfreeze
    else:
        training["warmup_epochs"] = warmup_epochs
    # Recorded only when not the default, so runs made before these options resume as they were made.
    for key, value, default in (("schedule", schedule, None), ("lr_warmup_epochs", lr_warmup_epochs, 0),
                                ("label_smoothing", label_smoothing, 0.0)):
        if value != default:
            training[key] = value

    if if_exists == "resume" and target_state(out) == "run" and not is_resumable(partial_dir(out)):
        run = TrainingRun.load(out)
        options = read_json(run._path(OPTIONS_FILE)) if os.path.isfile(run._path(OPTIONS_FILE)) else {}
        made = create_arguments(data_dir, **{k: v for k, v in create.items() if k not in ("multi_label", "separator")})
        made.update({"multi_label": True, "separator": separator} if multi_label else {})
        for what, key, given in (("made", "create", made),
                                 ("trained", "train", {"recipe": recipe, **recordable(training)})):
            recorded = {k: v for k, v in options.get(key, given).items() if k != "labels"}
            refuse_other_options(recorded, given, what, run.run_dir)
        log(f"The run in {run.run_dir} is complete: nothing to resume.")
        return _result(run, run.history, recipe, run.model.training_config.get("weights"))

    if distribute != "none":
        return _train_distributed(data_dir, out, distribute, create, training, recipe, if_exists, on_bad_image, log)
    run = TrainingRun.create(out, data_dir, if_exists=if_exists, **create)
    train, test = run.split
    model = run.model
    if run.resumed:
        log(f"Resuming the interrupted run in {run.partial_dir} from its last finished epoch")
    log(f"{len(train) + len(test)} images, labels {model.labels}; train {len(train)}, test {len(test)}")
    log(f"{backbone} ({model.weights_source} weights) at {model.image_size[0]}x{model.image_size[1]}, recipe {recipe}, "
        f"{model.precision} ({model.precision_reason})")
    if recipe == "fine-tune":
        history = run.fine_tune(on_bad_image=on_bad_image, **training)
    else:
        history = run.fit(on_bad_image=on_bad_image, **training)
    run.save()
    return _result(run, history, recipe, model.weights_source)


def _dataset_reader(multi_label, separator):
    """The function that reads a run's data: a folder per label or TFRecord shards (:func:`open_dataset`), or (multi-label) a CSV of label sets."""
    from keras_cvcls.data import MultiLabelDataset

    if not multi_label:
        return open_dataset

    def read(path):
        if not os.path.isfile(path):
            raise ValueError(
                "A multi-label run reads a CSV file of image paths and label sets (path,labels; labels joined by "
                f"{separator!r}), not a folder. Received: {os.fspath(path)!r}"
            )
        return MultiLabelDataset.from_csv(path, separator=separator)

    return read


def _train_distributed(data_dir, out, distribute, create, training, recipe, if_exists, on_bad_image, log):
    """:func:`train_run` under a ``tf.distribute`` strategy; non-chief workers in a temporary folder."""
    import tempfile

    import keras

    from keras_cvcls.training import parse_lr_schedule
    from keras_cvcls.training.distribute import make_strategy, prepare_saving, weights_digest

    strategy, role = make_strategy(distribute)
    prepare_saving()  # the chief saves backups alone: no collective variable creation while saving
    scale = role.replicas
    given_lr = training["lr_per_epoch"]
    if given_lr is not None:
        rates = parse_lr_schedule(given_lr) if isinstance(given_lr, str) else list(given_lr)
        scaled = dict(training, lr_per_epoch=[rate * scale for rate in rates])
    else:
        scaled = dict(training)
    scaled["batch_size"] = training["batch_size"] * scale
    log(f"{distribute}: worker {role.index} of {role.count}{' (chief)' if role.chief else ''}, {role.replicas} "
        f"replica(s): global batch {scaled['batch_size']}, learning rates x{scale}")
    worker_dir = None if role.chief else tempfile.mkdtemp(prefix="keras-cvcls-worker-")
    try:
        with strategy.scope():
            if role.chief:
                run = TrainingRun.create(out, data_dir, if_exists=if_exists, **create)
            else:
                run = TrainingRun.create(os.path.join(worker_dir, "run"), data_dir, **create)
                chief_backup = os.path.join(partial_dir(out), BACKUP_DIR)
                if if_exists == "resume" and os.path.isdir(chief_backup):
                    run.restore_from = chief_backup
            first_epoch = {}
            note_first = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: first_epoch.setdefault("epoch", epoch))
            if run.resumed:
                log(f"Resuming the interrupted run in {run.partial_dir} from its last finished epoch")
            train, test = run.split
            log(f"{len(train) + len(test)} images, labels {run.model.labels}; train {len(train)}, test {len(test)}")
            train_call = run.fit if recipe == "full" else run.fine_tune
            history = train_call(on_bad_image=on_bad_image, callbacks=[note_first], **scaled)
            digest = weights_digest(run.model)
        if role.chief:
            run.save()  # outside the scope: saving makes variables, which must not wait for the other workers
    finally:
        if worker_dir is not None:
            shutil.rmtree(worker_dir, ignore_errors=True)
    result = _result(run, history, recipe, run.model.weights_source)
    result["distribute"] = {
        "mode": distribute, "worker": role.index, "workers": role.count, "chief": role.chief,
        "replicas": role.replicas, "global_batch_size": scaled["batch_size"], "lr_scale": scale,
        "initial_epoch": first_epoch.get("epoch"), "weights_sha256": digest,
    }
    if not role.chief:
        result["run_dir"] = os.path.abspath(out)  # the chief's; this worker's folder is gone
    return result


def _result(run, history, recipe, weights):
    """:func:`train_run`'s JSON-able result."""
    return {
        "history": {k: history[k] for k in ("train_accuracy", "eval_accuracy", "lr")},
        "eval_accuracy": history["eval_accuracy"][-1],
        "train_seconds": history["train_seconds"],
        "train_images_per_s": history["train_images_per_s"],
        "recipe": recipe,
        "weights": weights,
        "precision": run.model.precision,
        "precision_reason": run.model.precision_reason,
        "run_dir": run.run_dir,
    }

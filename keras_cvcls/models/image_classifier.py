"""``ImageClassifier``: a backbone, pooling and a softmax head (sigmoid, multi-label), with preprocessing inside."""

import os

import keras
import numpy as np

from keras_cvcls.data.decode import check_resize_mode, normalize_image_size
from keras_cvcls.data.normalization import ImageNormalization
from keras_cvcls.models.backbone_registry import create_backbone, get_backbone_config
from keras_cvcls.models.precision import AUTO, dtype_policy, resolve_precision
from keras_cvcls.scoring_result import scoring_results

POOLINGS = ("avg", "max")
CLASSIFIER_FILE = "classifier.json"
MODEL_FILE = "model.keras"


def _check_labels(labels):
    if isinstance(labels, str) or not labels or not all(isinstance(label, str) and label for label in labels):
        raise ValueError(f"labels must be a non-empty list of label names. Received: labels={labels!r}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be unique. Received: labels={labels!r}")
    return list(labels)


def _describe_weights(weights):
    """What a run record says about the initial backbone weights."""
    if weights is None:
        return "none (random initialisation)"
    if weights == "imagenet":
        return "imagenet"
    return os.path.abspath(os.fspath(weights))


def predict_on(keras_model, data, image_size, resize_mode, *, batch_size=32, verbose=0, allow_private_addresses=None):
    """Runs a Keras model over a dataset (in dataset order) or raw images, preprocessed as in training.

    Args:
        keras_model: a Keras model taking float32 images ``[N, H, W, 3]`` in [0, 255].
        data: a :class:`~keras_cvcls.data.ClassificationDataset`, or raw images: a path, an
            http(s) URL, encoded bytes, a PIL image, a numpy array, or a list of these (see
            :mod:`keras_cvcls.data.image_inputs`).
        image_size: ``(height, width)`` of the model input.
        resize_mode: how images are fitted to ``image_size``.
        batch_size: images per forward pass.
        verbose: Keras ``predict`` verbosity.
        allow_private_addresses: also fetch image URLs on loopback, private and link-local
            addresses (None: ``$KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES``, else False).

    Returns:
        The model's outputs, one row per image.
    """
    from keras_cvcls.data.classification_dataset import ClassificationDataset

    if isinstance(data, ClassificationDataset):
        from keras_cvcls.data.pipeline import make_pipeline

        pipeline = make_pipeline(data, image_size=image_size, resize_mode=resize_mode, batch_size=batch_size)
        return keras_model.predict(pipeline, verbose=verbose)
    from keras_cvcls.data.image_inputs import load_images

    pixels = load_images(data, image_size, resize_mode=resize_mode, allow_private_addresses=allow_private_addresses)
    if len(pixels) <= 4 * batch_size and not verbose:
        # In memory already: batch by batch through the compiled predict step, without building
        # the tf.data pipeline that `predict` builds on every call (a third of the time at batch 32).
        return np.concatenate([
            np.asarray(keras_model.predict_on_batch(pixels[i : i + batch_size])) for i in range(0, len(pixels), batch_size)
        ])
    return keras_model.predict(pixels, batch_size=batch_size, verbose=verbose)


def check_thresholds(thresholds, labels):
    """``thresholds`` as a list of floats in [0, 1], one per label, or a ValueError saying what is wrong."""
    try:
        values = [float(t) for t in thresholds]
    except (TypeError, ValueError):
        values = None
    if values is None or len(values) != len(labels) or not all(0.0 <= t <= 1.0 for t in values):
        raise ValueError(
            f"thresholds must be {len(labels)} numbers in [0, 1], one per label of {labels!r}. "
            f"Received: thresholds={thresholds!r}"
        )
    return values


@keras.saving.register_keras_serializable(package="keras_cvcls")
class ImageClassifier(keras.Model):
    """An image classifier: normalisation, a registry backbone, pooling, dropout, softmax head.

    A plain Keras model (use it with ``model.compile``, ``model.fit``, ``model.predict``,
    ``keras.saving``): it takes float32 RGB images with pixel values in [0, 255]
    (what :func:`~keras_cvcls.data.make_pipeline` yields) and returns class
    probabilities. The backbone's normalisation runs inside the model, and the
    class map (``labels``), input size and resize mode travel with it, so a saved
    or exported model needs nothing else.

    Like a KerasHub task it is compiled when built, with :meth:`compile`'s ``"auto"``
    defaults (SGD with momentum 0.9 at 0.01, sparse cross-entropy, accuracy); call
    ``compile`` again to choose otherwise, and ``fit`` keeps your choice.

    The classifier contract, shared with :class:`~keras_cvcls.models.ScikitClassifier`:
    ``fit``, ``predict_scores``, ``classify``, ``labels``, ``class_map``, ``image_size``,
    ``resize_mode``, ``to_keras`` and ``save`` (read back by :func:`load_classifier`).

    Args:
        labels: class names; output ``i`` is ``labels[i]``.
        backbone: a name from :func:`~keras_cvcls.models.list_backbones`; default
            ``"efficientnet_lite0"``, whose ImageNet weights are installed with keras-cvcls.
        weights: ``"imagenet"`` (default; raises ``WeightsUnavailableError`` naming the
            remedy when they cannot be had, never falls back to random weights), ``None``
            (random initialisation), or a backbone weights file path.
        image_size: int or ``(height, width)``; default: the backbone's transfer-learning
            size (``BackboneConfig.transfer_size``, 288 for efficientnet_lite0), else its
            input size.
        dropout: dropout rate before the head.
        pooling: ``"avg"`` or ``"max"``.
        normalization: pixel normalisation; default: the backbone's.
        resize_mode: how images are fitted to ``image_size`` (see :func:`~keras_cvcls.data.decode_image`).
        precision: ``"auto"`` (default: ``"mixed_float16"`` on a GPU, ``"mixed_bfloat16"`` on a
            CPU with AMX, or with AVX512-BF16 for a backbone without depthwise convolutions,
            else ``"float32"``; see :mod:`keras_cvcls.models.precision`), or ``"float32"`` (or
            ``None``), ``"mixed_bfloat16"``, ``"mixed_float16"``. The head always computes in
            float32. ``precision`` holds the resolved choice, ``precision_reason`` why.
        training_config: a dict recorded by :meth:`fit` (kept for reference when saved).
        multi_label: False (default): one label per image, a softmax head. True: any number
            of labels per image (a :class:`~keras_cvcls.data.MultiLabelDataset`): a sigmoid
            head, binary cross-entropy, per-label accuracy and F1 logged every epoch, and a
            per-label decision threshold (``thresholds``).
        thresholds: multi-label only: one threshold per label; a score at or above it means
            the label is present (default 0.5 each; :meth:`tune_thresholds` tunes them on
            validation data, and ``fine_tune`` does so when given ``validation_data``). Saved
            with the model and used by :meth:`classify`, :meth:`predict_labels`, the export
            and the served responses.
        compile: compile with the ``"auto"`` defaults when built (default True).

    Example:
        >>> model = ImageClassifier(["cat", "dog"])          # pretrained EfficientNet-Lite0
        >>> model.fine_tune(train_set, validation_data=test_set)
        >>> model.predict_scores(test_set).shape
        (len(test_set), 2)
    """

    def __init__(
        self,
        labels,
        backbone="efficientnet_lite0",
        *,
        weights="imagenet",
        image_size=None,
        dropout=0.0,
        pooling="avg",
        normalization=None,
        resize_mode="crop",
        precision=AUTO,
        training_config=None,
        multi_label=False,
        thresholds=None,
        compile=True,
        **kwargs,
    ):
        from keras_cvcls.arguments import check_arguments, keyword_names

        # Of keras.Model's arguments a Functional model uses only name and trainable (it drops
        # anything else, dtype included, without a word); they are also what get_config saves.
        valid = [*keyword_names(ImageClassifier.__init__), "name", "trainable"]
        check_arguments(kwargs, valid, type(self).__name__)
        labels = _check_labels(labels)
        config = get_backbone_config(backbone)
        default_size = config.transfer_size or config.input_size
        size = normalize_image_size(image_size if image_size is not None else default_size)
        check_resize_mode(resize_mode)
        precision, precision_reason = resolve_precision(precision, depthwise=config.depthwise)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}. Received: pooling={pooling!r}")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
        normalization = normalization or config.normalization
        if not isinstance(multi_label, bool):
            raise ValueError(f"multi_label must be True or False. Received: multi_label={multi_label!r}")
        if thresholds is not None and not multi_label:
            raise ValueError(
                "thresholds are for a multi-label model (multi_label=True); a single-label model predicts the "
                f"top label. Received: thresholds={thresholds!r}"
            )
        thresholds = check_thresholds([0.5] * len(labels) if thresholds is None else thresholds, labels) if multi_label else None

        inputs = keras.Input((*size, 3), name="images", dtype="float32")
        with dtype_policy(precision):
            x = ImageNormalization(normalization, name="normalization")(inputs)
            body = create_backbone(backbone, weights=weights, input_shape=(*size, 3))
            x = body(x)
            pool = keras.layers.GlobalAveragePooling2D if pooling == "avg" else keras.layers.GlobalMaxPooling2D
            x = pool(name="pool")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name="dropout")(x)
        activation = "sigmoid" if multi_label else "softmax"
        outputs = keras.layers.Dense(len(labels), activation=activation, dtype="float32", name="predictions")(x)
        kwargs.setdefault("name", f"{backbone}_classifier")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        self.labels = labels
        self.backbone_name = backbone
        self.backbone_config = config
        self.backbone = body
        self.image_size = size
        self.dropout = dropout
        self.pooling = pooling
        self.normalization = normalization
        self.resize_mode = resize_mode
        self.precision = precision
        self.precision_reason = precision_reason
        self.training_config = dict(training_config or {})
        self.multi_label = multi_label
        self.thresholds = thresholds
        self.weights_source = _describe_weights(weights)
        self.eval_history = None
        self._folding = None  # the batch-norm-folded inference copy, built on first prediction
        if compile:
            self.compile()

    # ------------------------------------------------------------ serialisation
    def get_config(self):
        return {
            "labels": list(self.labels),
            "backbone": self.backbone_name,
            "image_size": list(self.image_size),
            "dropout": self.dropout,
            "pooling": self.pooling,
            "normalization": self.normalization,
            "resize_mode": self.resize_mode,
            "precision": self.precision,
            "training_config": self.training_config,
            **({"multi_label": True, "thresholds": list(self.thresholds)} if self.multi_label else {}),
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        # Saved weights are loaded after construction: do not read pretrained ones first.
        model = cls(**{"weights": None, **config})
        model.precision_reason = "as saved"
        return model

    @property
    def class_map(self):
        """The class names in score order, a :class:`~keras_cvcls.ClassMap` (``.to_dict()``: cvtk's ``{id: label}``)."""
        from keras_cvcls.class_map import ClassMap

        return ClassMap(self.labels)

    def to_keras(self):
        """The classifier as one Keras model (images in [0, 255] -> probabilities): this model itself.

        Part of the classifier contract: :func:`~keras_cvcls.export.export_for_serving` exports
        ``classifier.to_keras()`` of any classifier.
        """
        return self

    def save(self, filepath, *args, **kwargs):
        """Saves to a folder (``model.keras`` + ``classifier.json``) or, for ``*.keras``, one file.

        The folder form is what :func:`load_classifier` and the CLI read; the
        ``classifier.json`` beside the model is a human-readable summary. Each file is
        written atomically (a temporary file, synced, renamed over the old one): a full
        disk or a kill leaves the previous file whole, never a truncated one.

        Raises:
            OSError: when the folder is not writable or the disk is full.
        """
        from keras_cvcls.data.json_files import replacing, write_json_atomic

        filepath = os.fspath(filepath)
        if filepath.endswith(".keras"):
            with replacing(filepath, suffix=".keras") as tmp:
                return super().save(tmp, *args, **kwargs)
        with replacing(os.path.join(filepath, MODEL_FILE), suffix=".keras") as tmp:
            super().save(tmp, *args, **kwargs)
        summary = {"type": "ImageClassifier", **self.get_config(), "precision_reason": self.precision_reason}
        write_json_atomic(os.path.join(filepath, CLASSIFIER_FILE), summary, indent=1, ensure_ascii=False)
        return filepath

    # ---------------------------------------------------------------- inference
    def pipeline(self, dataset, *, batch_size=32, **kwargs):
        """The input pipeline this model expects for a :class:`ClassificationDataset`."""
        from keras_cvcls.data.pipeline import make_pipeline

        return make_pipeline(dataset, image_size=self.image_size, resize_mode=self.resize_mode, batch_size=batch_size, **kwargs)

    def predict_scores(self, data, batch_size=32, verbose=0, *, allow_private_addresses=None, tta=False):
        """Class probabilities ``[N, C]``: every image of a dataset, in dataset order, or raw images.

        Args:
            data: a :class:`~keras_cvcls.data.ClassificationDataset`, or raw images (what
                :meth:`predict_images` accepts).
            batch_size: images per forward pass.
            verbose: Keras ``predict`` verbosity.
            allow_private_addresses: as for :meth:`predict_images`.
            tta: test-time augmentation: average the probabilities of each image's flipped and
                cropped views (see :mod:`keras_cvcls.models.test_time_augmentation`; 4x the cost).

        Returns:
            A float32 array ``[N, len(labels)]``.

        Example:
            >>> model.predict_scores(test_set).shape
            (len(test_set), 2)
        """
        if not isinstance(tta, bool):
            raise ValueError(f"tta must be True or False. Received: tta={tta!r}")
        model = self.inference_model()
        if tta:
            from keras_cvcls.models.test_time_augmentation import tta_model

            model = tta_model(model)
        scores = predict_on(model, data, self.image_size, self.resize_mode, batch_size=batch_size, verbose=verbose,
                            allow_private_addresses=allow_private_addresses)
        return np.asarray(scores, dtype="float32")

    def inference_model(self):
        """This model for inference: batch norms folded into the convolutions, at the current weights.

        The copy is built once and its weights refreshed from this model's on every call, so
        it never predicts with stale weights. :meth:`predict_scores`, :meth:`classify` and
        the SavedModel export run it; it computes ``self(x, training=False)`` up to rounding.

        Returns:
            A Functional ``keras.Model`` (images in [0, 255] -> probabilities); not for training.
        """
        from keras_cvcls.models.batch_norm_folding import BatchNormFolding

        if self._folding is None:
            self._folding = BatchNormFolding(self)
            return self._folding.model
        return self._folding.refresh()

    def predict_images(self, images, *, batch_size=32, allow_private_addresses=None, tta=False):
        """Class probabilities ``[N, C]`` for raw images, with the training and serving preprocessing.

        Args:
            images: a path, an http(s) URL (fetched with the hardened fetcher), encoded bytes,
                a PIL image, a numpy array of any size, or a list of these (see
                :mod:`keras_cvcls.data.image_inputs`).
            batch_size: images per forward pass.
            allow_private_addresses: also fetch URLs on loopback, private and link-local
                addresses, i.e. your own network (None: ``$KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES``,
                else False: such URLs are refused, redirects included).
            tta: test-time augmentation: the probabilities averaged over each image, its mirror
                image, its central crop and the crop's mirror image (4 forward passes per image).

        Returns:
            A float32 array ``[len(images), len(labels)]``.

        Raises:
            ValueError: For an input of an unknown kind, or an image that cannot be used
                (the message names it and the reason).

        Example:
            >>> model.predict_images("cat.jpg").shape
            (1, 2)
        """
        return self.predict_scores(images, batch_size=batch_size, allow_private_addresses=allow_private_addresses, tta=tta)

    def classify(self, images, *, batch_size=32, allow_private_addresses=None):
        """Results for raw images: the top ``label``, the ``scores`` and the ``labels``.

        Accepts what :meth:`predict_images` accepts; the results are the
        :class:`~keras_cvcls.ScoringResult` objects the scoring client returns for
        the served model, so in-process and served results compare directly.

        Example:
            >>> model.classify("cat.jpg")[0].label
            'cat'
        """
        scores = self.predict_scores(images, batch_size=batch_size, allow_private_addresses=allow_private_addresses)
        return scoring_results(scores, self.labels, self.thresholds)

    def predict_labels(self, data, *, batch_size=32, allow_private_addresses=None):
        """Multi-label: the labels present in each image (score at or above its threshold).

        Args:
            data: a dataset or raw images, as for :meth:`predict_scores`.
            batch_size: images per forward pass.
            allow_private_addresses: as for :meth:`predict_images`.

        Returns:
            A list of tuples of label names, one per image, in label order.

        Raises:
            ValueError: for a single-label model (use :meth:`classify`).

        Example:
            >>> model.predict_labels("shelf.jpg")
            [('can', 'carton')]
        """
        self._check_multi_label("predict_labels")
        scores = self.predict_scores(data, batch_size=batch_size, allow_private_addresses=allow_private_addresses)
        return [r.present for r in scoring_results(scores, self.labels, self.thresholds)]

    def tune_thresholds(self, validation_data, *, objective="f1", target_precision=None, batch_size=32):
        """Multi-label: tunes each label's threshold on validation data and keeps them (saved with the model).

        Args:
            validation_data: a :class:`~keras_cvcls.data.MultiLabelDataset` with this model's labels.
            objective: ``"f1"`` (maximise each label's F1) or ``"precision"`` (the lowest
                threshold whose precision reaches ``target_precision``: the most recall at that precision).
            target_precision: for ``objective="precision"``, in (0, 1].
            batch_size: images per forward pass.

        Returns:
            ``{label: {"threshold", "precision", "recall", "f1", "reached"}}`` on the validation data
            (see :func:`~keras_cvcls.evaluation.tune_thresholds`).

        Raises:
            ValueError: for a single-label model, a dataset with other labels, or a bad objective.
        """
        from keras_cvcls.evaluation.thresholds import tune_thresholds
        from keras_cvcls.training.fit_dataset import check_dataset_labels

        self._check_multi_label("tune_thresholds")
        check_dataset_labels(self, validation_data)
        scores = self.predict_scores(validation_data, batch_size=batch_size)
        tuned = tune_thresholds(validation_data.label_matrix, scores, self.labels, objective=objective,
                                target_precision=target_precision)
        self.thresholds = [tuned[label]["threshold"] for label in self.labels]
        return tuned

    def _check_multi_label(self, purpose):
        if not self.multi_label:
            raise ValueError(
                f"{purpose} is for a multi-label model (ImageClassifier(..., multi_label=True)). "
                f"Received: a single-label model with labels={self.labels!r}"
            )

    # ----------------------------------------------------------------- training
    def fine_tune(self, train, **options):
        """Transfer learning from the pretrained backbone in one call: the recipe.

        See :func:`keras_cvcls.training.fine_tune.fine_tune` for the stages and the
        options (``epochs``, ``validation_data``, ``unfreeze``, ``lr``, ``lr_per_epoch``,
        ``momentum``, ``head_c``, ``batch_size``, ``augment``, ``tensorboard_logdir``,
        ``callbacks``, ``seed``, ``verbose``, ``schedule``, ``lr_warmup_epochs``,
        ``label_smoothing``).

        Example:
            >>> model = ImageClassifier(train.labels)
            >>> model.fine_tune(train, validation_data=test).history["eval_accuracy"]
            [0.967, 0.967, 0.967, 0.967]
        """
        from keras_cvcls.training.fine_tune import fine_tune

        return fine_tune(self, train, **options)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """Configures the model for training, with good defaults for ``"auto"`` (as KerasHub tasks do).

        Args:
            optimizer: ``"auto"`` (``keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)``,
                cvtk's; a float rate, so :class:`~keras_cvcls.training.StepLR` can set one per
                epoch), an optimizer name, or a ``keras.optimizers.Optimizer`` (its
                ``learning_rate`` may be a schedule such as
                :func:`~keras_cvcls.training.step_lr_schedule`).
            loss: ``"auto"`` (``keras.losses.SparseCategoricalCrossentropy()``: integer
                labels, softmax probabilities), a loss name or a ``keras.losses.Loss``.
            metrics: ``"auto"`` (``SparseCategoricalAccuracy`` logged as ``accuracy`` and
                ``val_accuracy``), or a list of metrics. For a ``multi_label`` model ``"auto"``
                means ``BinaryCrossentropy`` and binary accuracy, micro F1 and, per label,
                ``accuracy_<label>`` and ``f1_<label>`` (see
                :func:`~keras_cvcls.training.auto_compile.auto_compile_arguments`).
            **kwargs: the other arguments of ``keras.Model.compile``.

        Example:
            >>> model.compile()                                                # the defaults
            >>> model.compile(optimizer=keras.optimizers.Adam(1e-4))           # your optimizer
            >>> model.fit(train_set, validation_data=test_set, epochs=5)     # fit keeps it
        """
        from keras_cvcls.training.auto_compile import auto_compile_arguments

        # Optimizer variables belong to the model's distribution strategy.
        with self.distribute_strategy.scope():
            arguments = auto_compile_arguments(
                optimizer, loss, metrics, multi_label_labels=self.labels if self.multi_label else None
            )
        super().compile(**arguments, **kwargs)

    def compile_from_config(self, config):
        """Compiles as the saved model was compiled (``keras.saving.load_model`` calls it).

        Keras skips a custom ``compile`` on loading unless this is overridden; the saved
        optimizer's state is then loaded into the rebuilt optimizer.
        """
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras' build before a distributed fit, from one worker-local batch under multi-worker training.

        Keras reduces the first batch over the replicas to get its shapes, and that reduction
        fails under ``MultiWorkerMirroredStrategy`` (one device per worker); a local batch has
        the same shapes.
        """
        import tensorflow as tf

        from keras_cvcls.training.distribute import input_workers

        strategy = self._distribute_strategy
        if strategy is None or input_workers(strategy) == 1 or iterator is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            batch = next(it)
            data_batch = tf.nest.map_structure(lambda x: strategy.experimental_local_results(x)[0], batch)
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def train_step(self, data):
        """Keras' train step; under multi-worker training its logs as ``[1]`` tensors.

        Keras averages the step logs over the workers with a reduction along axis 0, which
        fails on scalars under ``MultiWorkerMirroredStrategy``.
        """
        import tensorflow as tf

        from keras_cvcls.training.distribute import input_workers

        logs = super().train_step(data)
        if self._distribute_strategy is not None and input_workers(self._distribute_strategy) > 1:
            logs = {key: tf.reshape(value, [1]) for key, value in logs.items()}
        return logs

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_data=None, **kwargs):
        """Keras ``fit``; a :class:`ClassificationDataset` as ``x`` or ``validation_data`` is turned into this model's pipeline.

        It trains with what :meth:`compile` chose (by default the ``"auto"`` compile made
        when the model was built) and never compiles. With validation data Keras logs
        ``val_loss`` and ``val_accuracy``, so ``keras.callbacks.EarlyStopping``,
        ``ModelCheckpoint`` and ``ReduceLROnPlateau`` work as usual, and
        ``keras.callbacks.TensorBoard`` writes a ``validation`` run. Learning rates per
        epoch (cvtk's ``lr_per_mb``): ``callbacks=[StepLR([...])]``. The transfer-learning
        recipe is :meth:`fine_tune`.

        With a ``ClassificationDataset`` as ``x``, the training pipeline is shuffled,
        augmented and cached, the validation pipeline plain, and two callbacks are added:
        an :class:`~keras_cvcls.training.EvalHistory` (then ``model.eval_history``, cvtk's
        ``train_eval_accs``) and a throughput meter (``model.train_images_per_s``). Under a
        multi-replica ``tf.distribute`` strategy the EvalHistory does the validation (Keras'
        own fails on batches that do not split evenly across replicas) and logs the same
        ``val_accuracy`` and ``val_loss``.

        Keyword Args (``ClassificationDataset`` input only):
            batch_size: minibatch size (default 32).
            augment: a preset name (see :func:`~keras_cvcls.augment.list_augmentations`),
                a Keras layer or callable applied to training batches, or ``None``.
            seed: shuffling and augmentation seed.
            cache: keep decoded images in memory (default: when they fit in 2 GB).
            tensorboard_logdir: folder for TensorBoard logs: Keras' ``train`` and
                ``validation`` runs, plus :class:`~keras_cvcls.training.TensorBoardExtras`
                (confusion matrix, augmented samples).

        Other keyword arguments go to ``keras.Model.fit``.

        Raises:
            ValueError: for a dataset whose labels differ from the model's; for an option
                that moved to :meth:`compile` or :meth:`fine_tune` (``lr_per_epoch``,
                ``momentum``, ``optimizer``, ``weight_decay``, ``warmup_epochs``: the message
                says where); for a pipeline option without a ``ClassificationDataset``.

        Example:
            >>> model = ImageClassifier(train.labels, "resnet18", weights=None, image_size=64)
            >>> model.compile(optimizer=keras.optimizers.SGD(momentum=0.9))
            >>> model.fit(train, validation_data=test, epochs=15, callbacks=[
            ...     StepLR("0.01x7,0.001x7,0.0001"), keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)])
        """
        from keras_cvcls.data.classification_dataset import ClassificationDataset
        from keras_cvcls.training.fit_dataset import check_fit_options, fit_dataset

        check_fit_options(kwargs, dataset_input=isinstance(x, ClassificationDataset))
        if isinstance(x, ClassificationDataset):
            return fit_dataset(
                self, x, epochs=epochs, batch_size=batch_size or 32, verbose=verbose, callbacks=callbacks,
                validation_data=validation_data, **kwargs,
            )
        if isinstance(validation_data, ClassificationDataset):
            validation_data = self.pipeline(validation_data, batch_size=batch_size or 32)
        return super().fit(
            x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
            validation_data=validation_data, **kwargs,
        )

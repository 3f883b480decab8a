"""``ImageClassifier``: a backbone, pooling and a softmax head, with preprocessing inside."""

import contextlib
import json
import os

import keras
import numpy as np

from keras_cvcls.data.decode import check_resize_mode, normalize_image_size
from keras_cvcls.data.normalization import ImageNormalization
from keras_cvcls.models.backbone_registry import create_backbone, get_backbone_config

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
POOLINGS = ("avg", "max")
CLASSIFIER_FILE = "classifier.json"
MODEL_FILE = "model.keras"


@contextlib.contextmanager
def dtype_policy(precision):
    """Builds layers under a Keras dtype policy (``None`` keeps the current one)."""
    if precision in (None, "float32"):
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_precision(precision):
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS} or None. Received: precision={precision!r}")


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


@keras.saving.register_keras_serializable(package="keras_cvcls")
class ImageClassifier(keras.Model):
    """An image classifier: normalisation, a registry backbone, pooling, dropout, softmax head.

    A plain Keras model (use it with ``model.fit``, ``model.predict``,
    ``keras.saving``): it takes float32 RGB images with pixel values in [0, 255]
    (what :func:`~keras_cvcls.data.make_pipeline` yields) and returns class
    probabilities. The backbone's normalisation runs inside the model, and the
    class map (``labels``), input size and resize mode travel with it, so a saved
    or exported model needs nothing else.

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
        precision: ``None``/``"float32"``, ``"mixed_bfloat16"`` (CPUs with AMX, recent GPUs) or
            ``"mixed_float16"``; the head always computes in float32.
        training_config: a dict recorded by :meth:`fit` (kept for reference when saved).

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
        precision=None,
        training_config=None,
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
        check_precision(precision)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}. Received: pooling={pooling!r}")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
        normalization = normalization or config.normalization

        inputs = keras.Input((*size, 3), name="images", dtype="float32")
        with dtype_policy(precision):
            x = ImageNormalization(normalization, name="normalization")(inputs)
            body = create_backbone(backbone, weights=weights, input_shape=(*size, 3))
            x = body(x)
            pool = keras.layers.GlobalAveragePooling2D if pooling == "avg" else keras.layers.GlobalMaxPooling2D
            x = pool(name="pool")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name="dropout")(x)
        outputs = keras.layers.Dense(len(labels), activation="softmax", dtype="float32", name="predictions")(x)
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
        self.training_config = dict(training_config or {})
        self.weights_source = _describe_weights(weights)
        self.eval_history = None

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
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        # Saved weights are loaded after construction: do not read pretrained ones first.
        return cls(**{"weights": None, **config})

    @property
    def class_map(self):
        """``{id: label}``, the class map TF Serving clients and cvtk used."""
        return dict(enumerate(self.labels))

    def save(self, filepath, *args, **kwargs):
        """Saves to a folder (``model.keras`` + ``classifier.json``) or, for ``*.keras``, one file.

        The folder form is what :func:`load_classifier` and the CLI read; the
        ``classifier.json`` beside the model is a human-readable summary.
        """
        filepath = os.fspath(filepath)
        if filepath.endswith(".keras"):
            return super().save(filepath, *args, **kwargs)
        os.makedirs(filepath, exist_ok=True)
        super().save(os.path.join(filepath, MODEL_FILE), *args, **kwargs)
        summary = {"type": "ImageClassifier", **self.get_config()}
        with open(os.path.join(filepath, CLASSIFIER_FILE), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1, ensure_ascii=False)
        return filepath

    # ---------------------------------------------------------------- inference
    def pipeline(self, dataset, *, batch_size=32, **kwargs):
        """The input pipeline this model expects for a :class:`ClassificationDataset`."""
        from keras_cvcls.data.pipeline import make_pipeline

        return make_pipeline(dataset, image_size=self.image_size, resize_mode=self.resize_mode, batch_size=batch_size, **kwargs)

    def predict_scores(self, dataset, batch_size=32, verbose=0):
        """Class probabilities ``[N, C]`` for every image of a dataset, in dataset order."""
        return self.predict(self.pipeline(dataset, batch_size=batch_size), verbose=verbose)

    def predict_images(self, images, *, batch_size=32):
        """Class probabilities ``[N, C]`` for raw images, with the training and serving preprocessing.

        Args:
            images: a path, an http(s) URL (fetched with the hardened fetcher), encoded bytes,
                a PIL image, a numpy array of any size, or a list of these (see
                :mod:`keras_cvcls.data.image_inputs`).
            batch_size: images per forward pass.

        Returns:
            A float32 array ``[len(images), len(labels)]``.

        Raises:
            ValueError: For an input of an unknown kind, or an image that cannot be used
                (the message names it and the reason).

        Example:
            >>> model.predict_images("cat.jpg").shape
            (1, 2)
        """
        from keras_cvcls.data.image_inputs import load_images

        pixels = load_images(images, self.image_size, resize_mode=self.resize_mode)
        return np.asarray(self.predict(pixels, batch_size=batch_size, verbose=0), dtype="float32")

    def classify(self, images, *, batch_size=32):
        """Results for raw images: the top ``label``, the ``scores`` and the ``labels``.

        Accepts what :meth:`predict_images` accepts; the results are the
        :class:`~keras_cvcls.ScoringResult` objects the scoring client returns for
        the served model, so in-process and served results compare directly.

        Example:
            >>> model.classify("cat.jpg")[0].label
            'cat'
        """
        from keras_cvcls.scoring_result import ScoringResult

        labels = tuple(self.labels)
        return [
            ScoringResult(label=labels[int(np.argmax(row))], scores=row, labels=labels)
            for row in self.predict_images(images, batch_size=batch_size)
        ]

    # ----------------------------------------------------------------- training
    def fine_tune(self, train, **options):
        """Transfer learning from the pretrained backbone in one call: the recipe.

        See :func:`keras_cvcls.training.fine_tune.fine_tune` for the stages and the
        options (``epochs``, ``validation_data``, ``unfreeze``, ``lr``, ``lr_per_epoch``,
        ``momentum``, ``head_c``, ``batch_size``, ``augment``, ``tensorboard_logdir``,
        ``callbacks``, ``seed``, ``verbose``).

        Example:
            >>> model = ImageClassifier(train.labels)
            >>> model.fine_tune(train, validation_data=test).history["eval_accuracy"]
            [0.967, 0.967, 0.967, 0.967]
        """
        from keras_cvcls.training.fine_tune import fine_tune

        return fine_tune(self, train, **options)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_data=None, **kwargs):
        """Keras ``fit``; given a :class:`ClassificationDataset`, also builds pipelines and callbacks.

        With a ``ClassificationDataset`` as ``x`` (and optionally as
        ``validation_data``) this compiles with SGD + momentum, builds shuffled,
        augmented, cached ``tf.data`` pipelines, and adds :class:`StepLR`,
        :class:`EvalHistory` and TensorBoard callbacks. Anything else goes to
        ``keras.Model.fit`` unchanged.

        Keyword Args (``ClassificationDataset`` input only):
            lr_per_epoch: learning rate per epoch (cvtk's ``lr_per_mb``); the last repeats.
                Default ``[0.01]``.
            momentum: SGD momentum (default 0.9).
            optimizer: ``"sgd"`` (default, with momentum; cvtk's choice) or ``"adam"``.
            batch_size: minibatch size (default 32).
            augment: a preset name (see :func:`~keras_cvcls.augment.list_augmentations`),
                a Keras layer or callable applied to training batches, or ``None``.
            tensorboard_logdir: folder for TensorBoard logs (learning rate, confusion
                matrix and augmented samples each epoch).
            warmup_epochs: epochs with a frozen backbone before full fine-tuning (default 0).
            seed: shuffling and augmentation seed.
            cache: keep decoded images in memory (default: when they fit in 2 GB).
            weight_decay: L2-style decoupled weight decay for SGD (default 0).
        """
        from keras_cvcls.data.classification_dataset import ClassificationDataset

        if not isinstance(x, ClassificationDataset):
            return super().fit(
                x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                validation_data=validation_data, **kwargs,
            )
        from keras_cvcls.training.fit_dataset import fit_dataset

        return fit_dataset(
            self, x, epochs=epochs, batch_size=batch_size or 32, verbose=verbose, callbacks=callbacks,
            validation_data=validation_data, **kwargs,
        )

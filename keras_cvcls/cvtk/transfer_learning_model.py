"""cvtk's ``CNTKTLModel``: an :class:`~keras_cvcls.ImageClassifier` built and trained with cvtk's arguments."""

import os

import keras

from keras_cvcls.models import ImageClassifier
from keras_cvcls.models import list_backbones

# cvtk's pretrained CNTK models and the keras-cvcls backbones of the same architecture.
CVTK_BACKBONES = {
    "ResNet18_ImageNet_CNTK": "resnet18",
    "ResNet34_ImageNet_CNTK": "resnet34",
    "ResNet50_ImageNet_CNTK": "resnet50",
    "ResNet101_ImageNet_CNTK": "resnet101",
    "ResNet152_ImageNet_CNTK": "resnet152",
}
# The walkthrough's "default parameters": 15 epochs.
DEFAULT_LR_PER_MB = (0.05,) * 7 + (0.005,) * 7 + (0.0005,)


def backbone_for(base_model_name):
    """Our backbone name for a cvtk ``base_model_name`` (a keras-cvcls backbone name passes as is).

    Raises:
        ValueError: for a name that is neither, listing both kinds.

    Example:
        >>> backbone_for("ResNet50_ImageNet_CNTK")
        'resnet50'
    """
    if base_model_name in CVTK_BACKBONES:
        return CVTK_BACKBONES[base_model_name]
    if isinstance(base_model_name, str) and base_model_name in list_backbones():
        return base_model_name
    raise ValueError(
        f"base_model_name must be one of cvtk's {list(CVTK_BACKBONES)} or a keras-cvcls backbone "
        f"{list_backbones()}. Received: base_model_name={base_model_name!r}"
    )


def image_size_for(image_dims):
    """``(height, width)`` from cvtk's ``image_dims=(3, height, width)``.

    Raises:
        ValueError: unless ``image_dims`` is 3 followed by two positive ints.
    """
    ok = isinstance(image_dims, (tuple, list)) and len(image_dims) == 3 and list(image_dims)[0] == 3
    ok = ok and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in image_dims[1:])
    if not ok:
        raise ValueError(
            f"image_dims must be (3, height, width), channels first as in cvtk. Received: image_dims={image_dims!r}"
        )
    return int(image_dims[1]), int(image_dims[2])


@keras.saving.register_keras_serializable(package="keras_cvcls.cvtk")
class TransferLearningModel(ImageClassifier):
    """cvtk's ``CNTKTLModel``: an :class:`~keras_cvcls.ImageClassifier` with cvtk's arguments.

    Args:
        labels: class names (a dataset's ``labels``).
        base_model_name: a cvtk name (``"ResNet18_ImageNet_CNTK"``, ..., see ``CVTK_BACKBONES``),
            mapped to our backbone of the same architecture, or one of our backbone names
            (``"efficientnet_lite0"``, whose ImageNet weights ship with keras-cvcls).
        image_dims: ``(3, height, width)``, cvtk's channels-first input size.
        weights: as for :class:`~keras_cvcls.ImageClassifier`: ``"imagenet"`` (default; a ResNet's
            raise ``WeightsUnavailableError`` with the remedy when they cannot be had offline),
            ``None`` or a weights file.
        **kwargs: other :class:`~keras_cvcls.ImageClassifier` options (``dropout``, ``pooling``, ...).

    Raises:
        ValueError: for an unknown ``base_model_name`` or a bad ``image_dims``.

    Example:
        >>> dnn_model = TransferLearningModel(train_set.labels, base_model_name="ResNet18_ImageNet_CNTK",
        ...                                   image_dims=(3, 224, 224), weights="resnet18.pth")
        >>> dnn_model.train(train_set, lr_per_mb=[0.05] * 7 + [0.005], mb_size=32, eval_dataset=test_set)
        >>> train_accs, test_accs, epoch_numbers = dnn_model.train_eval_accs
    """

    def __init__(self, labels, base_model_name="ResNet18_ImageNet_CNTK", image_dims=(3, 224, 224), **kwargs):
        backbone = backbone_for(base_model_name)
        image_size = image_size_for(image_dims)
        super().__init__([str(label) for label in labels], backbone, image_size=image_size, **kwargs)
        self.base_model_name = base_model_name
        self.image_dims = (3, *image_size)

    def get_config(self):
        config = super().get_config()
        del config["backbone"], config["image_size"]
        return {**config, "base_model_name": self.base_model_name, "image_dims": list(self.image_dims)}

    # ----------------------------------------------------------------- training
    def train(
        self, dataset, lr_per_mb=DEFAULT_LR_PER_MB, mb_size=32, eval_dataset=None, tensorboard_logdir=None,
        *, momentum_per_mb=0.9, seed=None, verbose="auto",
    ):
        """cvtk's training: SGD with momentum, one learning rate per epoch, the whole network trained.

        One epoch per entry of ``lr_per_mb``. Compiles the model (SGD, sparse cross-entropy,
        accuracy) and runs ``keras.Model.fit`` on the shuffled dataset with a
        :class:`~keras_cvcls.StepLR`, an :class:`~keras_cvcls.EvalHistory` on ``eval_dataset``
        and, with ``tensorboard_logdir``, TensorBoard logs (stock and
        :class:`~keras_cvcls.TensorBoardExtras`).

        Args:
            dataset: the labelled training dataset, with this model's labels.
            lr_per_mb: learning rate of each epoch (per minibatch: the loss is the minibatch mean).
            mb_size: minibatch size.
            eval_dataset: optional dataset evaluated after every epoch (see :attr:`train_eval_accs`).
            tensorboard_logdir: optional TensorBoard log folder.
            momentum_per_mb: SGD momentum.
            seed: seed for shuffling and initialisation.
            verbose: Keras ``fit`` verbosity; ``"auto"``: a progress bar on a terminal, else a line per epoch.

        Returns:
            The ``keras.callbacks.History``.

        Raises:
            ValueError: for an unlabelled dataset, labels that differ from the model's, bad
                learning rates or minibatch size.
        """
        from keras_cvcls.training import EvalHistory, StepLR, TensorBoardExtras
        from keras_cvcls.training.fit_dataset import check_dataset_labels, fits_in_cache

        if isinstance(mb_size, bool) or not isinstance(mb_size, int) or mb_size < 1:
            raise ValueError(f"mb_size must be a positive int. Received: mb_size={mb_size!r}")
        step_lr = StepLR(list(lr_per_mb))
        for name, data in (("dataset", dataset), ("eval_dataset", eval_dataset)):
            if data is not None:
                data.check_labeled(f"train's {name}")
                check_dataset_labels(self, data)

        def pipeline(data, **options):
            return self.pipeline(data, batch_size=mb_size, cache=fits_in_cache(data, self.image_size), **options)

        callbacks = [step_lr]
        self.eval_history = None
        if eval_dataset is not None:
            self.eval_history = EvalHistory(pipeline(eval_dataset))
            callbacks.append(self.eval_history)
        if tensorboard_logdir:
            os.makedirs(tensorboard_logdir, exist_ok=True)
            callbacks.append(keras.callbacks.TensorBoard(tensorboard_logdir, write_graph=False, profile_batch=0))
            history = self.eval_history
            eval_data = history.eval_data if history else None
            extras = TensorBoardExtras(
                tensorboard_logdir, eval_data=eval_data, labels=self.labels, eval_history=history
            )
            callbacks.append(extras)
        if seed is not None:
            keras.utils.set_random_seed(seed)
        if verbose == "auto":
            verbose = 1 if os.isatty(1) else 2
        self.compile(
            optimizer=keras.optimizers.SGD(learning_rate=step_lr.lr_per_epoch[0], momentum=momentum_per_mb),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return keras.Model.fit(
            self, pipeline(dataset, shuffle=True, seed=seed), epochs=len(step_lr.lr_per_epoch), shuffle=False,
            callbacks=callbacks, verbose=verbose,
        )

    @property
    def train_eval_accs(self):
        """cvtk's ``(train accuracies, test accuracies, epoch numbers)`` of the last :meth:`train`.

        The train accuracy of an epoch is Keras' running accuracy over its minibatches; the
        test accuracy is measured on ``eval_dataset`` after it. Epochs count from 1.

        Raises:
            ValueError: before ``train(..., eval_dataset=...)``.
        """
        if self.eval_history is None:
            raise ValueError("train_eval_accs needs a model trained with train(..., eval_dataset=test_set).")
        train_accs, test_accs = self.eval_history.train_eval_accs
        return train_accs, test_accs, list(range(1, len(test_accs) + 1))

    # ------------------------------------------------------------ persistence
    def serialize(self, path):
        """Saves the model to ``path`` (cvtk's ``serialize``; :meth:`~keras_cvcls.ImageClassifier.save`)."""
        return self.save(path)

    @staticmethod
    def deserialize(path):
        """Loads a model saved with :meth:`serialize` (or any :func:`~keras_cvcls.load_classifier` path)."""
        from keras_cvcls.models import load_classifier

        return load_classifier(path)

    @staticmethod
    def parse_serialized_result(serialized):
        """Scores from a deployment's ``score_image`` result: :func:`keras_cvcls.serving.parse_serialized_result`."""
        from keras_cvcls.serving import parse_serialized_result

        return parse_serialized_result(serialized)

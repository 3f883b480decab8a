"""``ScikitClassifier``: DNN features + a scikit-learn learner (cvtk's linear-SVM route)."""

import json
import os

import joblib
import keras
import numpy as np

from keras_cvcls.data.decode import check_resize_mode, normalize_image_size
from keras_cvcls.data.normalization import ImageNormalization
from keras_cvcls.models.backbone_registry import create_backbone, get_backbone_config
from keras_cvcls.models.image_classifier import CLASSIFIER_FILE, ImageClassifier, predict_on
from keras_cvcls.scoring_result import scoring_results

FEATURES_FILE = "feature_extractor.keras"
LEARNER_FILE = "learner.joblib"


def _default_learner():
    from sklearn.svm import LinearSVC

    return LinearSVC(C=1.0, class_weight="balanced")


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ScikitClassifier:
    """Pooled DNN features fed to a scikit-learn classifier (default: a linear SVM).

    Args:
        dnn_model_or_backbone: an :class:`ImageClassifier` (its pooled features
            are used), a backbone name, or a Keras model mapping [0, 255] images to
            feature vectors.
        learner: a scikit-learn classifier; default ``LinearSVC(C=1.0, class_weight="balanced")``.
        weights: backbone weights when a name is given (``"imagenet"``, the default,
            ``None`` for random initialisation, or a path).
        image_size: input size when a backbone name or a feature model is given.
        resize_mode: how images are fitted to ``image_size``.

    The classifier contract, shared with :class:`~keras_cvcls.models.ImageClassifier`:
    ``fit``, ``predict_scores``, ``classify``, ``labels``, ``class_map``, ``image_size``,
    ``resize_mode``, ``to_keras`` and ``save`` (read back by :func:`load_classifier`).

    Example:
        >>> clf = ScikitClassifier("efficientnet_lite0")  # ImageNet weights, offline
        >>> clf.fit(train_set)
        >>> clf.predict(test_set)[:3]
        ['cat', 'dog', 'cat']
    """

    def __init__(self, dnn_model_or_backbone="efficientnet_lite0", learner=None, *, weights="imagenet", image_size=None, resize_mode="crop"):
        source = dnn_model_or_backbone
        if isinstance(source, ImageClassifier):
            self.feature_extractor = keras.Model(source.inputs, source.get_layer("pool").output, name="features")
            image_size, resize_mode = source.image_size, source.resize_mode
            self.backbone_name = source.backbone_name
        elif isinstance(source, str):
            config = get_backbone_config(source)
            size = normalize_image_size(image_size or config.transfer_size or config.input_size)
            inputs = keras.Input((*size, 3), name="images")
            x = ImageNormalization(config.normalization, name="normalization")(inputs)
            x = create_backbone(source, weights=weights, input_shape=(*size, 3))(x)
            outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
            self.feature_extractor = keras.Model(inputs, outputs, name="features")
            image_size = size
            self.backbone_name = source
        elif isinstance(source, keras.Model):
            self.feature_extractor = source
            image_size = image_size or tuple(source.input_shape[1:3])
            self.backbone_name = source.name
        else:
            raise ValueError(
                "dnn_model_or_backbone must be an ImageClassifier, a backbone name or a Keras model. "
                f"Received: dnn_model_or_backbone={source!r}"
            )
        check_resize_mode(resize_mode)
        self.image_size = normalize_image_size(image_size)
        self.resize_mode = resize_mode
        self.learner = learner if learner is not None else _default_learner()
        self.labels = None

    def features(self, data, batch_size=32, verbose=0, *, allow_private_addresses=None):
        """Feature vectors ``[N, D]``: every image of a dataset, in dataset order, or raw images.

        ``allow_private_addresses`` is as for :meth:`ImageClassifier.predict_images`.
        """
        features = predict_on(self.feature_extractor, data, self.image_size, self.resize_mode, batch_size=batch_size,
                              verbose=verbose, allow_private_addresses=allow_private_addresses)
        return np.asarray(features, dtype="float32")  # a bfloat16 model's features too (scikit-learn reads float32)

    def fit(self, dataset, batch_size=32, verbose="auto"):
        """Extracts features of ``dataset`` (a :class:`ClassificationDataset`) and fits the learner on them.

        Returns:
            ``self``.

        Raises:
            ValueError: when the dataset has images of fewer than two labels.
        """
        if verbose == "auto":
            verbose = 1 if os.isatty(1) else 0
        x = self.features(dataset, batch_size, verbose=verbose)
        y = np.asarray(dataset.label_ids)
        if len(set(y.tolist())) < 2:
            raise ValueError(f"Training needs images of at least two labels. Received: counts={dataset.counts()!r}")
        self.learner.fit(x, y)
        self.labels = list(dataset.labels)
        return self

    train = fit  # cvtk's name

    @property
    def class_map(self):
        """The class names in score order, a :class:`~keras_cvcls.ClassMap`."""
        from keras_cvcls.class_map import ClassMap

        self._check_trained()
        return ClassMap(self.labels)

    def _check_trained(self):
        if self.labels is None:
            raise ValueError("The classifier is not trained yet: call fit(dataset) first.")

    def predict_scores(self, data, batch_size=32, *, allow_private_addresses=None):
        """Scores ``[N, C]`` of a dataset (in dataset order) or of raw images.

        ``predict_proba`` when the learner has it, else a softmax of ``decision_function``
        (a monotone map, so rankings, ROC and PR curves are unchanged).

        Args:
            data: a :class:`~keras_cvcls.data.ClassificationDataset`, or raw images (what
                :meth:`ImageClassifier.predict_images` accepts).
            batch_size: images per forward pass of the feature extractor.
            allow_private_addresses: as for :meth:`ImageClassifier.predict_images`.
        """
        self._check_trained()
        x = self.features(data, batch_size, allow_private_addresses=allow_private_addresses)
        learner = self.learner
        scores = np.zeros((len(x), len(self.labels)), np.float32)
        if hasattr(learner, "predict_proba"):
            raw = learner.predict_proba(x)
        else:
            raw = learner.decision_function(x)
            if raw.ndim == 1:  # binary: one margin for classes_[1]
                raw = np.stack([-raw, raw], axis=1) / 2
            raw = _softmax(raw)
        scores[:, learner.classes_] = raw  # classes missing from training keep score 0
        return scores

    def predict(self, data, batch_size=32, *, allow_private_addresses=None):
        """Predicted label names, in dataset order (or the order of the raw images)."""
        scores = self.predict_scores(data, batch_size, allow_private_addresses=allow_private_addresses)
        return [self.labels[i] for i in np.argmax(scores, axis=1)]

    def classify(self, images, *, batch_size=32, allow_private_addresses=None):
        """Results for raw images, :class:`~keras_cvcls.ScoringResult` objects, as :meth:`ImageClassifier.classify`."""
        scores = self.predict_scores(images, batch_size=batch_size, allow_private_addresses=allow_private_addresses)
        return scoring_results(scores, self.labels)

    def to_keras(self):
        """The classifier as one Keras model (features + the learner as a Dense softmax layer).

        Exact for linear learners with ``coef_`` and ``intercept_`` (``LinearSVC``,
        ``LogisticRegression``): its outputs equal :meth:`predict_scores`. This is
        what :func:`~keras_cvcls.export.export_for_serving` exports (with this classifier's
        ``labels``, ``image_size`` and ``resize_mode``), since TF Serving runs TensorFlow
        graphs, not Python.

        Raises:
            ValueError: for a learner that is not linear (its decision runs in Python).
        """
        self._check_trained()
        learner = self.learner
        linear = hasattr(learner, "coef_") and hasattr(learner, "intercept_")
        multinomial_or_margin = not hasattr(learner, "predict_proba") or len(learner.classes_) == 2 or (
            getattr(learner, "multi_class", "auto") in ("auto", "multinomial") and type(learner).__name__ == "LogisticRegression"
        )
        if not (linear and multinomial_or_margin):
            raise ValueError(
                f"Cannot turn a {type(learner).__name__} into a TensorFlow graph: only linear learners with "
                "coef_ and intercept_ (LinearSVC, LogisticRegression) are exported, because TF Serving runs "
                "TensorFlow graphs, not scikit-learn. Use a linear learner, or export the ImageClassifier. "
                f"Received: learner={learner!r}"
            )
        coef = np.asarray(learner.coef_, np.float32)
        intercept = np.asarray(learner.intercept_, np.float32).reshape(-1)
        if coef.shape[0] == 1:  # binary: one margin d for classes_[1]; scores = softmax([-d/2, d/2])
            coef = np.concatenate([-coef, coef]) / 2
            intercept = np.concatenate([-intercept, intercept]) / 2
        kernel = np.zeros((coef.shape[1], len(self.labels)), np.float32)
        bias = np.full((len(self.labels),), -1e9, np.float32)  # classes never trained on: score 0
        kernel[:, learner.classes_] = coef.T
        bias[learner.classes_] = intercept
        head = keras.layers.Dense(len(self.labels), activation="softmax", dtype="float32", name="predictions")
        model = keras.Model(self.feature_extractor.inputs, head(self.feature_extractor.outputs[0]), name="scikit_classifier")
        head.set_weights([kernel, bias])
        return model

    def save(self, path):
        """Saves the feature extractor, the fitted learner and the class map to a folder."""
        from keras_cvcls.data.json_files import replacing, write_json_atomic

        self._check_trained()
        with replacing(os.path.join(path, FEATURES_FILE), suffix=".keras") as tmp:  # each file atomically
            self.feature_extractor.save(tmp)
        with replacing(os.path.join(path, LEARNER_FILE)) as tmp:
            joblib.dump(self.learner, tmp)
        summary = {
            "type": "ScikitClassifier",
            "labels": self.labels,
            "backbone": self.backbone_name,
            "image_size": list(self.image_size),
            "resize_mode": self.resize_mode,
            "learner": repr(self.learner),
        }
        write_json_atomic(os.path.join(path, CLASSIFIER_FILE), summary, indent=1, ensure_ascii=False)
        return path

    @classmethod
    def load(cls, path):
        """Loads what :meth:`save` wrote (the learner is unpickled: load only files you trust)."""
        with open(os.path.join(path, CLASSIFIER_FILE), encoding="utf-8") as f:
            summary = json.load(f)
        extractor = keras.saving.load_model(os.path.join(path, FEATURES_FILE))
        clf = cls(extractor, joblib.load(os.path.join(path, LEARNER_FILE)), image_size=summary["image_size"], resize_mode=summary["resize_mode"])
        clf.labels = summary["labels"]
        clf.backbone_name = summary["backbone"]
        return clf

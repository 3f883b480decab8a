"""Active learning: which unlabelled photos are worth labelling next.

A trained classifier scores a folder of new photos; the ones it is least sure about teach it
most. Three strategies:

* ``"uncertainty"``: least confidence, ``1 - max(p)``.
* ``"margin"``: the smallest gap between the two most probable labels, scored ``1 - (p1 - p2)``.
* ``"diverse"``: the ``count`` most uncertain photos would often be near-copies of one another
  (one confusing scene, shot ten times); this takes the ``pool_factor x count`` least
  confident, clusters their features into ``count`` groups (k-means) and picks the least
  confident photo of each group.
"""

import dataclasses
import os

import numpy as np

STRATEGIES = ("uncertainty", "margin", "diverse")
DEFAULT_POOL_FACTOR = 5


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """A photo worth labelling: its rank, file, the model's guess and how unsure it is.

    Attributes:
        rank: 1 for the most useful photo.
        id: the image's id in the unlabelled dataset.
        path: its file.
        score: the strategy's uncertainty, higher is more useful (in [0, 1]).
        predicted_label: the model's most probable label.
        probability: the model's probability of that label.
    """

    rank: int
    id: str
    path: str
    score: float
    predicted_label: str
    probability: float

    def to_dict(self):
        return dataclasses.asdict(self)


def _check_strategy(strategy):
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}. Received: strategy={strategy!r}")


def _check_count(count):
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer. Received: count={count!r}")


def uncertainty_scores(probabilities, strategy="uncertainty"):
    """How unsure the model is about each row of ``probabilities`` ``[N, C]``, higher is more unsure.

    ``"diverse"`` ranks its pool by least confidence, as ``"uncertainty"`` does.
    """
    _check_strategy(strategy)
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities must have shape [N, C] with C >= 2. Received: shape {p.shape}")
    top = -np.sort(-p, axis=1)
    if strategy == "margin":
        return 1.0 - (top[:, 0] - top[:, 1])
    return 1.0 - top[:, 0]


def rank_for_labelling(probabilities, *, count, strategy="uncertainty", features=None,
                       pool_factor=DEFAULT_POOL_FACTOR, seed=0):
    """Indices of the ``count`` rows most worth labelling, best first.

    Args:
        probabilities: ``[N, C]`` class probabilities of the unlabelled photos.
        count: how many to pick (all of them when fewer).
        strategy: one of :data:`STRATEGIES`.
        features: ``[N, D]`` features, needed by ``"diverse"``.
        pool_factor: ``"diverse"`` clusters the ``pool_factor x count`` least confident photos.
        seed: k-means seed of ``"diverse"``.

    Returns:
        A list of int indices.

    Raises:
        ValueError: for an unknown strategy, a bad count, or ``"diverse"`` without features.
    """
    _check_count(count)
    scores = uncertainty_scores(probabilities, strategy)
    order = np.argsort(-scores, kind="stable")
    if strategy != "diverse" or count >= len(order):
        return order[:count].tolist()
    if features is None or len(features) != len(scores):
        raise ValueError(
            "The diverse strategy needs one feature vector per photo. "
            f"Received: features={'None' if features is None else np.shape(features)}"
        )
    from sklearn.cluster import KMeans

    pool = order[: max(count, pool_factor * count)]
    x = np.asarray(features, dtype=np.float64)[pool]
    x = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    groups = KMeans(n_clusters=count, n_init=3, random_state=seed).fit_predict(x)
    picked = []
    for group in range(count):
        members = pool[groups == group]  # in pool order: least confident first
        if len(members):
            picked.append(int(members[0]))
    return sorted(picked, key=lambda i: -scores[i])


def suggest_labels(model, photos, *, count=20, strategy="uncertainty", batch_size=32, seed=0):
    """Ranks unlabelled photos by how much labelling them would teach ``model``.

    Args:
        model: a trained classifier (:class:`~keras_cvcls.models.ImageClassifier` or
            :class:`~keras_cvcls.models.ScikitClassifier`, e.g. from :func:`~keras_cvcls.models.load_classifier`).
        photos: a folder of photos (any layout; read unlabelled), or a
            :class:`~keras_cvcls.data.ClassificationDataset` (its labels, if any, are ignored).
        count: how many photos to suggest.
        strategy: ``"uncertainty"``, ``"margin"`` or ``"diverse"`` (see the module).
        batch_size: images per forward pass.
        seed: k-means seed of ``"diverse"``.

    Returns:
        A list of :class:`Suggestion`, best first.

    Raises:
        ValueError: for an unknown strategy, a bad count, a folder without photos, or a model
            without ``predict_scores`` and ``labels``.

    Example:
        >>> model = load_classifier("runs/1")
        >>> for s in suggest_labels(model, "new_photos/", count=5, strategy="margin"):
        ...     print(s.rank, s.id, s.predicted_label, round(s.score, 2))
    """
    from keras_cvcls.data.classification_dataset import ClassificationDataset

    _check_strategy(strategy)
    _check_count(count)
    if not (hasattr(model, "predict_scores") and getattr(model, "labels", None)):
        raise ValueError(
            "model must be a trained classifier with predict_scores and labels (load one with "
            f"keras_cvcls.load_classifier). Received: model={model!r}"
        )
    if isinstance(photos, (str, os.PathLike)):
        photos = ClassificationDataset.from_directory(photos, labeled=False)
    if not isinstance(photos, ClassificationDataset):
        raise ValueError(f"photos must be a folder or a ClassificationDataset. Received: photos={photos!r}")
    probabilities = np.asarray(model.predict_scores(photos, batch_size=batch_size))
    features = None
    if strategy == "diverse" and count < len(photos):
        features = _model_features(model, photos, batch_size)
    order = rank_for_labelling(probabilities, count=count, strategy=strategy, features=features, seed=seed)
    scores = uncertainty_scores(probabilities, strategy)
    images = photos.images
    return [
        Suggestion(
            rank, images[i].id, images[i].path, float(scores[i]), model.labels[int(np.argmax(probabilities[i]))],
            float(np.max(probabilities[i])),
        )
        for rank, i in enumerate(order, 1)
    ]


def _model_features(model, photos, batch_size):
    """The model's own pooled features (the layer before its head)."""
    from keras_cvcls.models.scikit_classifier import ScikitClassifier

    extractor = model if isinstance(model, ScikitClassifier) else ScikitClassifier(model)
    return extractor.features(photos, batch_size)

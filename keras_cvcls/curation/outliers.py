"""Outliers: images unlike anything in their own class.

An image's distance to its class is one minus the mean cosine similarity of its ``k`` nearest
neighbours of the same label (in the pretrained feature space). Each class has its own spread, so
the distance is turned into a robust z-score against that class: (distance - median) / (1.4826 x
median absolute deviation). An image far above its class (default: 3.5) is an outlier: a
placeholder, a photo of something else, a near-blank frame; on the hymenoptera training photos
the top one is ``ants/imageNotFound.gif``, a "this image is unavailable" placeholder.

Within the class rather than over the whole dataset (as cleanlab's ``OutOfDistribution`` does):
a bee among the ants is far from the ants yet close to the bees, and that is what a person
reviewing the "ants" folder wants to see (a mislabelled image is also a label-error finding).
"""

import numpy as np

DEFAULT_NEIGHBORS = 5
DEFAULT_THRESHOLD = 3.5


def class_outlier_scores(features, label_ids, *, neighbors=DEFAULT_NEIGHBORS):
    """Robust z-scores of each image's distance to its ``neighbors`` nearest images of the same label.

    Args:
        features: ``[N, D]`` feature vectors.
        label_ids: ``[N]`` integer labels.
        neighbors: how many same-label neighbours make the distance (fewer in small classes).

    Returns:
        ``(z, distance)``: float arrays ``[N]``; z is 0 in a class of fewer than three images
        (too few to say what is typical).
    """
    x = np.asarray(features, dtype=np.float32)
    x = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    y = np.asarray(label_ids)
    distance = np.zeros(len(y))
    z = np.zeros(len(y))
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if len(rows) < 3:
            continue
        k = min(neighbors, len(rows) - 1)
        similarity = x[rows] @ x[rows].T
        np.fill_diagonal(similarity, -np.inf)
        nearest = -np.partition(-similarity, k - 1, axis=1)[:, :k]
        distance[rows] = 1.0 - nearest.mean(axis=1)
        median = np.median(distance[rows])
        spread = 1.4826 * np.median(np.abs(distance[rows] - median))
        z[rows] = (distance[rows] - median) / max(spread, 1e-6)
    return z, distance

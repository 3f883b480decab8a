"""Near-duplicate images: by embedding similarity and by perceptual (difference) hash.

Two signals, either of which makes a pair: the cosine similarity of the pretrained features
(robust to crops, colour changes and re-encoding; photos of the same scene from a burst come
close too) and the 64-bit difference hash the acquisition step uses
(:func:`~keras_cvcls.data.acquisition.dedupe.dhash`: robust to re-encoding and resizing, blind to
content). On the hymenoptera photos (ImageNet ants and bees) the closest distinct photos have a
similarity of 0.81 and hashes 14 bits apart; a copy re-encoded and resized has more than 0.95
and a few bits.
"""

import dataclasses

import numpy as np

DEFAULT_SIMILARITY = 0.92
DEFAULT_HASH_DISTANCE = 5  # as the acquisition step's near-duplicate default


@dataclasses.dataclass(frozen=True)
class DuplicatePair:
    """Two images that look the same: indices into the two sides, and how close they are."""

    first: int
    second: int
    similarity: float  # cosine similarity of the features (nan when not computed)
    hash_distance: int  # bits of 64 between difference hashes (-1 when a hash is missing)


def image_hashes(dataset):
    """Difference hashes of every image of a dataset, as uint64 (0 with ``valid`` False where missing).

    Returns:
        ``(hashes, valid)``: uint64 ``[N]`` and bool ``[N]``.
    """
    return path_hashes([record.path for record in dataset.images])


def path_hashes(paths):
    """Difference hashes of image files, as :func:`image_hashes`; a file that cannot be read is not valid."""
    from keras_cvcls.data.acquisition.dedupe import dhash

    # One thread: opening an image enters warnings.catch_warnings (Pillow's warnings are sorted out),
    # which is not thread-safe, and threads would lose the caller's own warning filters and records.
    texts = [dhash(path) for path in paths]
    hashes = np.array([int(t, 16) if t else 0 for t in texts], dtype=np.uint64)
    return hashes, np.array([t is not None for t in texts])


def _unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def near_duplicate_pairs(first_hashes, second_hashes=None, *, first_features=None, second_features=None,
                         similarity=DEFAULT_SIMILARITY, hash_distance=DEFAULT_HASH_DISTANCE, block=2048):
    """Pairs of near-duplicate images between two sets (or within one, when the second is None).

    Args:
        first_hashes: ``(hashes, valid)`` of the first set (:func:`image_hashes`).
        second_hashes: the same for the second set, or None to look within the first.
        first_features: ``[N, D]`` features of the first set, or None to use the hashes only.
        second_features: ``[M, D]`` features of the second set (with ``second_hashes``).
        similarity: cosine similarity at or above which two images are near-duplicates (None: not used).
        hash_distance: Hamming distance at or below which two hashes match (None: not used).
        block: rows compared at a time (memory stays ``block x M``).

    Returns:
        A list of :class:`DuplicatePair`, for a pair within one set with ``first < second``.
    """
    within = second_hashes is None
    h1, v1 = first_hashes
    h2, v2 = first_hashes if within else second_hashes
    f1 = _unit(first_features) if first_features is not None and similarity is not None else None
    f2 = (f1 if within else _unit(second_features)) if f1 is not None else None
    pairs = []
    for start in range(0, len(h1), block):
        stop = min(start + block, len(h1))
        dist = np.bitwise_count(h1[start:stop, None] ^ h2[None, :]).astype(np.int64)
        dist[~(v1[start:stop, None] & v2[None, :])] = -1
        match = np.zeros(dist.shape, bool)
        if hash_distance is not None:
            match |= (dist >= 0) & (dist <= hash_distance)
        sim = None
        if f1 is not None:
            sim = f1[start:stop] @ f2.T
            match |= sim >= similarity
        if within:
            match &= np.arange(start, stop)[:, None] < np.arange(len(h2))[None, :]
        for i, j in zip(*np.nonzero(match)):
            pairs.append(DuplicatePair(
                int(start + i), int(j), float(sim[i, j]) if sim is not None else float("nan"), int(dist[i, j])
            ))
    return pairs

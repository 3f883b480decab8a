"""Test images that duplicate training images: a leak that inflates the test accuracy.

The check compares 64-bit difference hashes (the acquisition step's perceptual hash, robust to
re-encoding and resizing) of every test image with every training image: fast (a thumbnail
decode per file, no model), so evaluations run it whenever they know the training images.
``keras-cvcls dataset issues DIR --test TEST_DIR`` adds feature similarity, which also catches
crops and colour changes.
"""

import warnings

DEFAULT_HASH_DISTANCE = 5


class LeakageWarning(UserWarning):
    """The test images include near-duplicates of training images."""


def find_leaks(test_paths, train_paths, *, hash_distance=DEFAULT_HASH_DISTANCE):
    """Test images whose difference hash is at most ``hash_distance`` bits from a training image's.

    Args:
        test_paths: the test images' files.
        train_paths: the training images' files.
        hash_distance: largest Hamming distance (of 64 bits) that counts as a duplicate.

    Returns:
        A list of ``(test_path, train_path, distance)``, one per test image that has a duplicate
        (its closest training image), in test order.
    """
    from keras_cvcls.curation.near_duplicates import near_duplicate_pairs, path_hashes

    test_paths, train_paths = list(test_paths), list(train_paths)
    if not test_paths or not train_paths:
        return []
    pairs = near_duplicate_pairs(path_hashes(test_paths), path_hashes(train_paths), similarity=None,
                                 hash_distance=hash_distance)
    closest = {}
    for p in pairs:
        if p.first not in closest or p.hash_distance < closest[p.first].hash_distance:
            closest[p.first] = p
    return [(test_paths[i], train_paths[p.second], p.hash_distance) for i, p in sorted(closest.items())]


def warn_leaks(leaks, num_test):
    """Warns (:class:`LeakageWarning`) saying how many test images duplicate training images."""
    if not leaks:
        return
    examples = "; ".join(f"{t} ~ {s}" for t, s, _ in leaks[:3])
    warnings.warn(
        f"{len(leaks)} of the {num_test} test images are near-duplicates of training images (difference hashes "
        f"at most {DEFAULT_HASH_DISTANCE} bits apart), so the test accuracy is inflated. Remove them from the test "
        f"side; `keras-cvcls dataset issues TRAIN_DIR --test TEST_DIR` lists them. For example: {examples}",
        LeakageWarning, stacklevel=3,
    )

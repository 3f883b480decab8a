"""Deterministic, stratified train/test splits."""

import numpy as np


def stratified_split_indices(labels, train_size=0.66, *, stratify=True, seed=None):
    """Splits item indices into train and test sets.

    With ``stratify=True`` every label is split on its own, so both sides keep the
    label proportions, and a label with at least two items always lands on both
    sides. A label with a single item goes to the train side.

    Args:
        labels: sequence of labels, one per item (in a stable order).
        train_size: fraction of items (0 < train_size < 1) for the train side.
        stratify: split per label (True) or over all items at once (False).
        seed: int seed; the same seed and items give the same split.

    Returns:
        ``(train_indices, test_indices)``, both sorted lists of ints.
    """
    if not isinstance(train_size, (int, float)) or not 0 < train_size < 1:
        raise ValueError(f"train_size must be a fraction between 0 and 1. Received: train_size={train_size!r}")
    rng = np.random.default_rng(seed)
    if stratify:
        groups = {}
        for index, label in enumerate(labels):
            groups.setdefault(label, []).append(index)
        groups = [groups[label] for label in sorted(groups)]
    else:
        groups = [list(range(len(labels)))]
    train, test = [], []
    for group in groups:
        order = [group[i] for i in rng.permutation(len(group))]
        n = len(order)
        n_train = int(round(n * train_size))
        if n >= 2:
            n_train = min(max(n_train, 1), n - 1)
        else:
            n_train = n
        train.extend(order[:n_train])
        test.extend(order[n_train:])
    return sorted(train), sorted(test)

"""Iterative stratification (Sechidis, Tsoumakas and Vlahavas, 2011) for multi-label train/test splits.

Written here rather than taken from ``iterative-stratification`` (iterstrat): the algorithm
is forty lines, our splits must be deterministic for a seed and keep every label with at
least two images on both sides (iterstrat does not promise that), and it saves a dependency.
"""

import numpy as np


def iterative_split_indices(y, train_size=0.66, *, seed=None):
    """Splits multi-label items into train and test sets, label by label.

    The rarest label is placed first: its items go one by one to the side that still wants
    most of that label (ties: the side that wants most items overall, then at random), and
    each placed item counts for all its labels. Items without labels are placed by overall
    demand. Afterwards a label with at least two items that ended on one side only is mended
    by moving one of its items (the one with fewest other labels) across.

    Args:
        y: multi-hot array ``[N, C]`` (0/1), one row per item.
        train_size: fraction of items for the train side, 0 < train_size < 1.
        seed: int seed; the same seed and items give the same split.

    Returns:
        ``(train_indices, test_indices)``, both sorted lists of ints.

    Raises:
        ValueError: for a ``train_size`` outside (0, 1) or ``y`` that is not 2-D.

    Example:
        >>> train, test = iterative_split_indices([[1, 0], [0, 1], [1, 1], [1, 0]], 0.5, seed=0)
    """
    if isinstance(train_size, bool) or not isinstance(train_size, (int, float)) or not 0 < train_size < 1:
        raise ValueError(f"train_size must be a fraction between 0 and 1. Received: train_size={train_size!r}")
    y = np.asarray(y, dtype=bool)
    if y.ndim != 2:
        raise ValueError(f"y must be a multi-hot array [N, C]. Received: y with shape {list(y.shape)}")
    rng = np.random.default_rng(seed)
    n, c = y.shape
    ratios = np.array([train_size, 1 - train_size])
    wanted = n * ratios  # items each side still wants
    wanted_label = y.sum(axis=0)[None, :] * ratios[:, None]  # [2, C]
    side = np.full(n, -1)
    left = y.copy()
    while left.any():
        counts = left.sum(axis=0).astype(float)
        counts[counts == 0] = np.inf
        rarest = np.flatnonzero(counts == counts.min())
        label = rarest[rng.integers(len(rarest))] if len(rarest) > 1 else rarest[0]
        for i in rng.permutation(np.flatnonzero(left[:, label])):
            demand = wanted_label[:, label]
            best = np.flatnonzero(demand == demand.max())
            if len(best) > 1:
                best = best[wanted[best] == wanted[best].max()]
            s = best[rng.integers(len(best))] if len(best) > 1 else best[0]
            side[i] = s
            wanted[s] -= 1
            wanted_label[s] -= y[i]
            left[i] = False
    for i in rng.permutation(np.flatnonzero(side < 0)):  # items without labels
        best = np.flatnonzero(wanted == wanted.max())
        s = best[rng.integers(len(best))] if len(best) > 1 else best[0]
        side[i] = s
        wanted[s] -= 1
    if n >= 2 and (side == 1).sum() == 0:
        side[rng.integers(n)] = 1
    if n >= 2 and (side == 0).sum() == 0:
        side[rng.integers(n)] = 0
    _mend(y, side)
    return sorted(np.flatnonzero(side == 0).tolist()), sorted(np.flatnonzero(side == 1).tolist())


def _mend(y, side):
    """Moves one item across for each label with >= 2 items that sits on one side only."""
    for label in range(y.shape[1]):
        members = np.flatnonzero(y[:, label])
        if len(members) < 2:
            continue
        for empty in (0, 1):
            if (side[members] == empty).any():
                continue
            # Fewest labels first: moving it disturbs the other labels least; then the lowest index.
            order = sorted(members, key=lambda i: (y[i].sum(), i))
            for i in order:
                others = np.flatnonzero(y[i])
                # Do not empty the other side of another label in turn.
                if all((side[np.flatnonzero(y[:, o])] == side[i]).sum() > 1 or o == label for o in others):
                    side[i] = empty
                    break
            else:
                side[order[0]] = empty

"""How many labels a strategy needs: active learning simulated on photos whose labels are known.

The labels of a pool of photos are hidden; a few are revealed, a logistic regression on the
frozen features learns from them, and each round the strategy picks the next ``batch`` photos
to reveal, until ``max_labels``. Accuracy on a separate test set after every round makes the
learning curve. Comparing ``"uncertainty"`` with ``"random"`` on your own labelled data tells
whether labelling the model's suggestions pays for your kind of photos.
"""

import numpy as np

from keras_cvcls.curation.suggestions import STRATEGIES, rank_for_labelling


def simulate_active_learning(pool_features, pool_labels, test_features, test_labels, *, strategy="uncertainty",
                             start=2, batch=5, max_labels=100, seed=0):
    """Learning curve of labelling ``pool`` photos in the order ``strategy`` asks for them.

    Args:
        pool_features: ``[N, D]`` features of the pool (their labels are revealed one batch at a time).
        pool_labels: ``[N]`` integer labels of the pool.
        test_features: ``[M, D]`` features of the test photos.
        test_labels: ``[M]`` their integer labels.
        strategy: ``"random"`` or one of :data:`~keras_cvcls.curation.suggestions.STRATEGIES`.
        start: photos per label revealed at random before the first round.
        batch: photos revealed per round.
        max_labels: stop after revealing this many.
        seed: the random start (and the random strategy's order).

    Returns:
        ``(num_labels, accuracy)``: two lists, one entry per round.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    if strategy != "random" and strategy not in STRATEGIES:
        raise ValueError(f"strategy must be 'random' or one of {STRATEGIES}. Received: strategy={strategy!r}")
    x, y = normalize(np.asarray(pool_features)), np.asarray(pool_labels)
    xt, yt = normalize(np.asarray(test_features)), np.asarray(test_labels)
    rng = np.random.default_rng(seed)
    labelled = [int(i) for c in np.unique(y) for i in rng.choice(np.flatnonzero(y == c), start, replace=False)]
    random_order = [int(i) for i in rng.permutation(len(y)) if i not in set(labelled)]
    sizes, accuracy = [], []
    while True:
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(x[labelled], y[labelled])
        sizes.append(len(labelled))
        accuracy.append(float((model.predict(xt) == yt).mean()))
        if len(labelled) >= min(max_labels, len(y)):
            return sizes, accuracy
        taken = set(labelled)
        rest = np.array([i for i in range(len(y)) if i not in taken])
        count = min(batch, len(rest), max_labels - len(labelled))
        if strategy == "random":
            picked = [i for i in random_order if i not in taken][:count]
        else:
            probabilities = np.zeros((len(rest), int(y.max()) + 1))
            probabilities[:, model.classes_] = model.predict_proba(x[rest])
            picked = rest[rank_for_labelling(probabilities, count=count, strategy=strategy, features=x[rest],
                                             seed=seed)].tolist()
        labelled.extend(int(i) for i in picked)


def labels_to_reach(sizes, accuracy, target):
    """The fewest labels after which the curve stays at or above ``target`` (None if it never does)."""
    for k in range(len(sizes)):
        if all(a >= target for a in accuracy[k:]):
            return sizes[k]
    return None

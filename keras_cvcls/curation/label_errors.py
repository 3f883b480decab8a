"""Likely label errors: confident learning (cleanlab) on out-of-fold probabilities of a linear probe.

The probabilities come from a logistic regression on frozen pretrained features, cross-validated
so that every image is scored by a model that never saw its label: seconds on cached features,
where a cross-validated fine-tune would take hours. :func:`cleanlab.filter.find_label_issues`
then flags the images whose given label the data contradicts (it estimates how many labels of
each class went to each other class, and prunes that many, least confident first).
"""

import warnings

import numpy as np

DEFAULT_CV_FOLDS = 10
DEFAULT_C = 0.3  # inverse regularisation of the probe, on L2-normalised features


def out_of_fold_probabilities(features, label_ids, num_classes, *, cv_folds=DEFAULT_CV_FOLDS, seed=0):
    """Class probabilities of each image from a logistic regression that was not trained on it.

    Args:
        features: ``[N, D]`` feature vectors (L2-normalised here).
        label_ids: ``[N]`` integer labels.
        num_classes: number of classes (columns of the result).
        cv_folds: folds of the stratified cross-validation (fewer when a class has fewer images).
        seed: fold assignment seed.

    Returns:
        ``[N, num_classes]`` float64 probabilities; a class absent from the data gets 0, and the only
        image of a label gets 1 for its own label (it cannot be judged out of fold).

    Raises:
        ValueError: with fewer than two classes that have at least two images.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import normalize

    y = np.asarray(label_ids)
    present, counts = np.unique(y, return_counts=True)
    usable = present[counts >= 2]
    if len(usable) < 2:
        raise ValueError(
            "Finding label errors needs at least two labels with two or more images each. "
            f"Received: counts per label id={dict(zip(present.tolist(), counts.tolist()))}"
        )
    probabilities = np.zeros((len(y), num_classes))
    mask = np.isin(y, usable)  # a label's only image cannot be scored out of fold: it keeps probability 0
    folds = int(min(cv_folds, counts[counts >= 2].min()))
    probe = LogisticRegression(C=DEFAULT_C, max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only N members"
        scored = cross_val_predict(
            probe, normalize(features[mask]), y[mask], method="predict_proba",
            cv=StratifiedKFold(max(folds, 2), shuffle=True, random_state=seed),
        )
    rows = np.flatnonzero(mask)
    probabilities[np.ix_(rows, usable)] = scored
    alone = np.flatnonzero(~mask)
    probabilities[alone, y[alone]] = 1.0  # not judged: its label stands
    return probabilities


def label_issue_mask(label_ids, probabilities):
    """Images cleanlab's confident learning flags (``filter_by="prune_by_noise_rate"``), a boolean ``[N]``."""
    from cleanlab.filter import find_label_issues

    y = np.asarray(label_ids)
    present = np.unique(y)
    # cleanlab wants labels 0..K-1 that all occur: work on the classes present.
    remap = {c: i for i, c in enumerate(present.tolist())}
    local = np.array([remap[c] for c in y.tolist()])
    probs = probabilities[:, present]
    probs = probs / np.clip(probs.sum(axis=1, keepdims=True), 1e-12, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(find_label_issues(local, probs, filter_by="prune_by_noise_rate"), dtype=bool)

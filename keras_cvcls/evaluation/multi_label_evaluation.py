"""Score-based evaluation of a multi-label classifier (sigmoid scores, per-label thresholds)."""

import numpy as np
from sklearn import metrics

from keras_cvcls.evaluation.classification_evaluation import (
    _AVERAGE_KEYS,
    ClassificationEvaluation,
    _json_float,
    _readonly,
)

SAMPLE_AVERAGES = ("micro", "macro", "samples")


class MultiLabelEvaluation(ClassificationEvaluation):
    """Metrics, curves and interpretation of a multi-label classifier's scores on a test set.

    Every number is computed with scikit-learn on the multi-hot truth ``y_true`` ``[N, C]`` and
    the predictions ``y_pred = scores >= thresholds`` (each label its own threshold, the
    model's by default): per-label precision, recall and F1; their micro, macro and sample
    averages; mAP (the mean over labels of ``average_precision_score``); Hamming loss; the
    exact-match ratio (``accuracy_score``: all labels right); per-label precision-recall and
    ROC curves (:meth:`pr_curves`, :meth:`roc_curves`, which
    :class:`~keras_cvcls.evaluation.PrecisionRecallDisplay` and the HTML report draw).
    :meth:`most_confused` is the multi-label sense: the labels most often missed and most
    often added.

    Args:
        classifier: a multi-label classifier (``labels``, ``thresholds``, ``predict_scores``).
        dataset: a :class:`~keras_cvcls.data.MultiLabelDataset`.
        batch_size: batch size of ``predict_scores``.
        thresholds: per-label thresholds (default: the classifier's).

    Example:
        >>> ev = MultiLabelEvaluation.from_scores([[1, 0], [1, 1]], [[.9, .2], [.8, .7]], ["ant", "bee"])
        >>> ev.mean_average_precision()
        1.0
    """

    multi_label = True

    def __init__(self, classifier, dataset, batch_size=32, *, thresholds=None):
        if not getattr(dataset, "multi_label", False):
            raise ValueError(f"dataset must be a MultiLabelDataset. Received: dataset={dataset!r}")
        super().__init__(classifier, dataset, batch_size)
        self._thresholds = self._check_thresholds(thresholds if thresholds is not None else classifier.thresholds)

    @classmethod
    def from_scores(cls, y_true, scores, labels, *, thresholds=None, paths=None):
        """Builds an evaluation from known label sets and scores.

        Args:
            y_true: multi-hot ``[N, C]`` (0/1), or one list of label names per image.
            scores: probabilities ``[N, C]``, columns in the order of ``labels``.
            labels: the ``C`` label names.
            thresholds: one per label (default 0.5 each).
            paths: optional image paths, one per image.

        Raises:
            ValueError: if the shapes disagree, a name is unknown, or scores are not finite.
        """
        self = super().from_scores(y_true, scores, labels, paths=paths)
        self._thresholds = self._check_thresholds(thresholds)
        return self

    def _encode_y_true(self, y_true):
        if len(y_true) and not isinstance(y_true[0], str) and all(
            isinstance(row, (list, tuple, set, frozenset)) and all(isinstance(x, str) for x in row) for row in y_true
        ):
            index = {label: j for j, label in enumerate(self._labels)}
            matrix = np.zeros((len(y_true), len(self._labels)), np.int64)
            for i, row in enumerate(y_true):
                for name in row:
                    if name not in index:
                        raise ValueError(
                            f"`y_true` names a label not in labels={self._labels!r}. Received: y_true containing {name!r}"
                        )
                    matrix[i, index[name]] = 1
            return _readonly(matrix)
        matrix = np.asarray(y_true)
        if matrix.ndim != 2 or matrix.shape[1] != len(self._labels) or not np.isin(matrix, (0, 1)).all():
            raise ValueError(
                f"`y_true` must be multi-hot [N, {len(self._labels)}] (0/1) or lists of label names. "
                f"Received: y_true with shape {list(matrix.shape)}"
            )
        return _readonly(matrix.astype(np.int64))

    def _check_thresholds(self, thresholds):
        from keras_cvcls.models.image_classifier import check_thresholds

        return _readonly(np.asarray(check_thresholds([0.5] * len(self._labels) if thresholds is None else thresholds,
                                                     self._labels)))

    def _one_hot(self):  # the curves of the parent read the truth from here
        return self._y_true

    @property
    def thresholds(self):
        """np.ndarray: the per-label thresholds ``[C]`` (read-only)."""
        return self._thresholds

    @property
    def y_pred(self):
        """np.ndarray: predicted multi-hot labels ``[N, C]``: ``scores >= thresholds``."""
        if "y_pred" not in self._cache:
            self._cache["y_pred"] = _readonly((self.scores >= self._thresholds).astype(np.int64))
        return self._cache["y_pred"]

    # --------------------------------------------------------------- metrics
    def per_class_metrics(self):
        """Per-label ``{"precision", "recall", "f1", "support"}`` (scikit-learn, zero_division=0)."""
        p, r, f, s = metrics.precision_recall_fscore_support(self._y_true, self.y_pred, average=None, zero_division=0)
        return {
            label: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": int(s[j])}
            for j, label in enumerate(self._labels)
        }

    def averaged_metrics(self):
        """``{"micro"|"macro"|"samples": {"precision", "recall", "f1"}}`` (scikit-learn, zero_division=0)."""
        result = {}
        for average in SAMPLE_AVERAGES:
            p, r, f, _ = metrics.precision_recall_fscore_support(
                self._y_true, self.y_pred, average=average, zero_division=0
            )
            result[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
        return result

    def mean_average_precision(self):
        """mAP: the mean over labels present in the test set of ``sklearn.metrics.average_precision_score``."""
        present = self._y_true.any(axis=0)
        return float(metrics.average_precision_score(self._y_true[:, present], self.scores[:, present], average="macro"))

    def hamming_loss(self):
        """The fraction of (image, label) decisions that are wrong (``sklearn.metrics.hamming_loss``)."""
        return float(metrics.hamming_loss(self._y_true, self.y_pred))

    def exact_match_ratio(self):
        """The fraction of images whose whole label set is right (``sklearn.metrics.accuracy_score``)."""
        return float(metrics.accuracy_score(self._y_true, self.y_pred))

    def compute_accuracy(self, class_averaged=True):
        """The exact-match ratio (``class_averaged=False``) or the mean per-label accuracy (True)."""
        if class_averaged:
            return float(np.mean(self._y_true == self.y_pred))
        return self.exact_match_ratio()

    def compute_confusion_matrix(self, normalize=None):
        """Per-label 2x2 confusion matrices ``[C, 2, 2]`` (``sklearn.metrics.multilabel_confusion_matrix``)."""
        if normalize is not None:
            raise ValueError(f"A multi-label evaluation's confusion matrices are counts. Received: normalize={normalize!r}")
        return metrics.multilabel_confusion_matrix(self._y_true, self.y_pred)

    def top_k_accuracy(self, k):
        """Not defined for multi-label scores.

        Raises:
            ValueError: always; see :meth:`mean_average_precision` and :meth:`exact_match_ratio`.
        """
        raise ValueError(
            "Top-k accuracy needs one true class per image; for multi-label scores use mean_average_precision() "
            f"or exact_match_ratio(). Received: k={k!r}"
        )

    # -------------------------------------------------------- interpretation
    def most_confused(self, min_count=1):
        """The labels most often missed and most often added (the multi-label sense of fastai's).

        Returns:
            ``{"missed": [(label, count)], "added": [(label, count)]}``: false negatives and
            false positives per label, by count descending then in label order, only counts
            of at least ``min_count``.
        """
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"`min_count` must be a positive integer. Received: min_count={min_count!r}")
        missed = ((self._y_true == 1) & (self.y_pred == 0)).sum(axis=0)
        added = ((self._y_true == 0) & (self.y_pred == 1)).sum(axis=0)

        def ranked(counts):
            pairs = [(label, int(c)) for label, c in zip(self._labels, counts, strict=True) if c >= min_count]
            return sorted(pairs, key=lambda pair: -pair[1])

        return {"missed": ranked(missed), "added": ranked(added)}

    def losses(self):
        """Binary cross-entropy of every image, summed over labels (clipped as scikit-learn's ``log_loss``)."""
        eps = np.finfo(self.scores.dtype).eps
        p = np.clip(self.scores, eps, 1 - eps)
        return -(self._y_true * np.log(p) + (1 - self._y_true) * np.log(1 - p)).sum(axis=1)

    def top_losses(self, k):
        """The ``k`` images with the highest loss: ``path``, ``true_labels``, ``predicted_labels``, ``loss``."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"`k` must be a positive integer. Received: k={k!r}")
        losses = self.losses()
        order = np.argsort(-losses, kind="stable")[:k]
        return [
            {
                "path": self._paths[i],
                "true_labels": [self._labels[j] for j in np.flatnonzero(self._y_true[i])],
                "predicted_labels": [self._labels[j] for j in np.flatnonzero(self.y_pred[i])],
                "loss": float(losses[i]),
            }
            for i in order.tolist()
        ]

    # ---------------------------------------------------------------- export
    def to_dict(self):
        """The multi-label numbers as a JSON-serialisable dict.

        Returns:
            dict with ``"multi_label": True``, ``"labels"``, ``"thresholds"``, ``"per_class"``,
            ``"averages"`` (micro, macro, samples), ``"mAP"``, ``"hamming_loss"``,
            ``"exact_match_ratio"``, ``"average_precision"`` and ``"roc_auc"`` (per label,
            ``"micro"``, ``"macro"``; None where undefined) and ``"most_confused"``.
        """
        roc = self.roc_curves()
        pr = self.pr_curves()
        keys = [*self._labels, *_AVERAGE_KEYS]
        return {
            "multi_label": True,
            "num_images": int(len(self._y_true)),
            "labels": self.labels,
            "thresholds": [float(t) for t in self._thresholds],
            "per_class": self.per_class_metrics(),
            "averages": self.averaged_metrics(),
            "mAP": self.mean_average_precision(),
            "hamming_loss": self.hamming_loss(),
            "exact_match_ratio": self.exact_match_ratio(),
            "average_precision": {key: _json_float(pr[key]["average_precision"]) for key in keys},
            "roc_auc": {key: _json_float(roc[key]["auc"]) for key in keys},
            "most_confused": self.most_confused(),
        }

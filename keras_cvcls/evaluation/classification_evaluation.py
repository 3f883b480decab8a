"""Score-based evaluation of an image classifier on a labelled test set."""

import math
import os
import warnings

import numpy as np
from sklearn import metrics

_NORMALIZE_MODES = (None, "true", "pred")
_AVERAGE_KEYS = ("micro", "macro")


def _readonly(array):
    array = np.asarray(array)
    array.flags.writeable = False
    return array


def _json_float(value):
    """Returns ``value`` as a Python float, or None where it is NaN."""
    value = float(value)
    return None if math.isnan(value) else value


class ClassificationEvaluation:
    """Metrics, curves and interpretation of a classifier's scores on a test set.

    The classifier scores the dataset once, on first use, and the scores are
    cached. Every number is computed with scikit-learn. The predicted class of
    an image is the arg-max of its scores; tied scores go to the class listed
    first in ``labels``.

    Most code builds an evaluation from scores it already has, with
    :meth:`from_scores`.

    Args:
        classifier: Object with ``labels`` (list of class names, in score
            column order) and ``predict_scores(dataset, batch_size=...)``
            returning an array of shape ``[num_images, num_classes]`` of
            probabilities; or the path of an exported ``.tflite`` or ``.onnx``
            file, scored by LiteRT or ONNX Runtime
            (:func:`~keras_cvcls.models.load_edge_classifier`).
        dataset: Object with ``images``, a sequence of records with ``path``
            and ``label`` (a class name).
        batch_size: Batch size passed to ``classifier.predict_scores``.
        train_dataset: Optional training images (an object with ``images`` holding ``path`` s):
            test images that are near-duplicates of them are counted in
            :attr:`near_duplicates` and reported by a
            :class:`~keras_cvcls.evaluation.leakage.LeakageWarning` saying how many.

    Raises:
        ValueError: If ``batch_size`` is not a positive integer, or ``dataset`` is
            unlabelled (``ClassificationDataset.from_files``).

    Example:
        >>> ev = ClassificationEvaluation.from_scores(
        ...     ["cat", "dog"], [[0.9, 0.1], [0.3, 0.7]], ["cat", "dog"])
        >>> ev.compute_accuracy()
        1.0
    """

    def __init__(self, classifier, dataset, batch_size=32, *, train_dataset=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        check_labeled = getattr(dataset, "check_labeled", None)
        if check_labeled is not None:
            check_labeled("Evaluation")
        from keras_cvcls.models.edge_classifier import is_edge_model_path, load_edge_classifier

        if is_edge_model_path(classifier):
            classifier = load_edge_classifier(classifier)
        self._classifier = classifier
        self._dataset = dataset
        self._batch_size = batch_size
        self._set_labels(classifier.labels)
        images = list(dataset.images)
        self._y_true = self._encode_y_true([image.label for image in images])
        self._paths = [os.fspath(image.path) for image in images]
        self._scores = None
        self._cache = {}
        self.near_duplicates = None
        if train_dataset is not None:
            self.check_leakage([os.fspath(image.path) for image in train_dataset.images])

    @classmethod
    def from_scores(cls, y_true, scores, labels, *, paths=None, train_paths=None):
        """Builds an evaluation from known labels and scores.

        Args:
            y_true: True classes of the ``N`` images, as integer ids into
                ``labels`` or as class names.
            scores: Array-like of shape ``[N, C]``: the probability of each
                class for each image, columns in the order of ``labels``.
            labels: The ``C`` class names.
            paths: Optional image paths, one per image, used by
                :meth:`top_losses` and the report's thumbnails.
            train_paths: Optional training image files: with ``paths``, test images that
                duplicate one of them are counted and warned about (:meth:`check_leakage`).

        Returns:
            A ``ClassificationEvaluation``.

        Raises:
            ValueError: If the shapes disagree, ``labels`` has duplicates,
                ``y_true`` names an unknown class, or scores are not finite.

        Example:
            >>> ev = ClassificationEvaluation.from_scores(
            ...     [0, 1, 1], [[0.8, 0.2], [0.4, 0.6], [0.7, 0.3]], ["cat", "dog"])
            >>> ev.most_confused()
            [('dog', 'cat', 1)]
        """
        self = cls.__new__(cls)
        self._classifier = None
        self._dataset = None
        self._batch_size = None
        self._set_labels(labels)
        self._y_true = self._encode_y_true(y_true)
        n = len(self._y_true)
        if paths is None:
            self._paths = [None] * n
        else:
            paths = [os.fspath(p) for p in paths]
            if len(paths) != n:
                raise ValueError(
                    f"`paths` must have one entry per image ({n}). Received: paths with {len(paths)} entries"
                )
            self._paths = paths
        self._scores = self._check_scores(scores)
        self._cache = {}
        self.near_duplicates = None
        if train_paths is not None:
            self.check_leakage(train_paths)
        return self

    def check_leakage(self, train_paths):
        """Finds test images that are near-duplicates of training images, and warns when there are any.

        Compares difference hashes (robust to re-encoding and resizing); see
        :mod:`keras_cvcls.evaluation.leakage`. The result is kept in :attr:`near_duplicates`
        and counted in :meth:`to_dict` (``"near_duplicates_of_train"``).

        Args:
            train_paths: the training images' files.

        Returns:
            A list of ``(test_path, train_path, hash_distance)``, one per leaked test image.

        Raises:
            ValueError: when the evaluation has no image paths.

        Example:
            >>> ev.check_leakage([r.path for r in train.images])
            []
        """
        from keras_cvcls.evaluation.leakage import find_leaks, warn_leaks

        if any(p is None for p in self._paths):
            raise ValueError(
                "Checking for leaks needs the test images' paths: build the evaluation from a dataset, or "
                "pass paths= to from_scores. Received: paths=None"
            )
        self.near_duplicates = find_leaks(self._paths, [os.fspath(p) for p in train_paths])
        warn_leaks(self.near_duplicates, len(self._paths))
        return self.near_duplicates

    # ------------------------------------------------------------------ data

    def _set_labels(self, labels):
        labels = [str(label) for label in labels]
        if not labels:
            raise ValueError(f"`labels` must not be empty. Received: labels={labels!r}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"`labels` must be unique. Received: labels={labels!r}")
        self._labels = labels

    def _encode_y_true(self, y_true):
        y_true = np.asarray(y_true)
        if y_true.ndim != 1 or y_true.size == 0:
            raise ValueError(
                f"`y_true` must be a non-empty 1-D sequence. Received: y_true with shape {y_true.shape}"
            )
        num_classes = len(self._labels)
        if y_true.dtype.kind in "iu":
            bad = y_true[(y_true < 0) | (y_true >= num_classes)]
            if bad.size:
                raise ValueError(
                    f"`y_true` ids must lie in [0, {num_classes}). "
                    f"Received: y_true containing {bad[0].item()!r}"
                )
            return _readonly(y_true.astype(np.int64))
        if y_true.dtype.kind in "UO":
            index = {label: i for i, label in enumerate(self._labels)}
            encoded = np.empty(len(y_true), dtype=np.int64)
            for i, label in enumerate(y_true.tolist()):
                if label not in index:
                    raise ValueError(
                        f"`y_true` names a class not in labels={self._labels!r}. "
                        f"Received: y_true containing {label!r}"
                    )
                encoded[i] = index[label]
            return _readonly(encoded)
        raise ValueError(
            f"`y_true` must hold integer class ids or class names. Received: y_true with dtype {y_true.dtype}"
        )

    def _check_scores(self, scores):
        scores = np.asarray(scores, dtype=np.float64)
        expected = (len(self._y_true), len(self._labels))
        if scores.shape != expected:
            raise ValueError(
                f"`scores` must have shape {expected} (images, classes). "
                f"Received: scores with shape {scores.shape}"
            )
        if not np.all(np.isfinite(scores)):
            raise ValueError("`scores` must be finite. Received: scores containing NaN or inf")
        return _readonly(scores)

    @property
    def labels(self):
        """list of str: The class names, in score column order."""
        return list(self._labels)

    @property
    def num_classes(self):
        """int: The number of classes."""
        return len(self._labels)

    @property
    def y_true(self):
        """np.ndarray: True class ids, shape ``[N]`` (read-only)."""
        return self._y_true

    @property
    def paths(self):
        """list: Image paths (None where unknown), one per image."""
        return list(self._paths)

    @property
    def scores(self):
        """np.ndarray: Class scores, shape ``[N, C]`` (read-only); computed once."""
        if self._scores is None:
            scores = self._classifier.predict_scores(self._dataset, batch_size=self._batch_size)
            self._scores = self._check_scores(scores)
        return self._scores

    @property
    def y_pred(self):
        """np.ndarray: Predicted class ids (arg-max, first on ties), shape ``[N]``."""
        if "y_pred" not in self._cache:
            self._cache["y_pred"] = _readonly(np.argmax(self.scores, axis=1))
        return self._cache["y_pred"]

    def _one_hot(self):
        return np.eye(self.num_classes, dtype=np.int64)[self._y_true]

    def _check_no_reserved_labels(self):
        reserved = [label for label in self._labels if label in _AVERAGE_KEYS]
        if reserved:
            raise ValueError(
                "Per-class curves are keyed by class name next to 'micro' and 'macro', "
                f"so no class may be named so. Received: labels containing {reserved!r}"
            )

    # --------------------------------------------------------------- metrics

    def compute_accuracy(self, class_averaged=True):
        """Returns the accuracy on the test set.

        Args:
            class_averaged: If True (cvtk's default), the mean of the per-class
                recall over the classes present in the test set
                (``sklearn.metrics.balanced_accuracy_score``); if False, the
                fraction of images classified correctly.

        Returns:
            float.

        Example:
            >>> ev = ClassificationEvaluation.from_scores(
            ...     [0, 0, 0, 1], [[.9, .1], [.8, .2], [.7, .3], [.6, .4]], ["a", "b"])
            >>> ev.compute_accuracy(), ev.compute_accuracy(class_averaged=False)
            (0.5, 0.75)
        """
        if class_averaged:
            with warnings.catch_warnings():
                # Classes predicted but absent from y_true are left out on purpose.
                warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
                return float(metrics.balanced_accuracy_score(self._y_true, self.y_pred))
        return float(metrics.accuracy_score(self._y_true, self.y_pred))

    def per_class_metrics(self):
        """Returns precision, recall, F1 and support of every class.

        A class never predicted has precision 0; one absent from the test set
        has recall 0 and support 0.

        Returns:
            dict mapping each class name to a dict with ``"precision"``,
            ``"recall"``, ``"f1"`` (floats) and ``"support"`` (int).

        Example:
            >>> ev = ClassificationEvaluation.from_scores([0, 1], [[.9, .1], [.2, .8]], ["a", "b"])
            >>> ev.per_class_metrics()["b"]["f1"]
            1.0
        """
        precision, recall, f1, support = metrics.precision_recall_fscore_support(
            self._y_true,
            self.y_pred,
            labels=np.arange(self.num_classes),
            zero_division=0,
        )
        return {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(self._labels)
        }

    def compute_confusion_matrix(self, normalize=None):
        """Returns the confusion matrix, rows true classes, columns predicted.

        Args:
            normalize: None for counts, ``"true"`` to divide each row by its
                total (rows of absent classes stay 0), ``"pred"`` to divide
                each column by its total.

        Returns:
            np.ndarray of shape ``[C, C]``, for all classes of ``labels``.

        Raises:
            ValueError: If ``normalize`` is not None, ``"true"`` or ``"pred"``.

        Example:
            >>> ev = ClassificationEvaluation.from_scores([0, 1], [[.9, .1], [.6, .4]], ["a", "b"])
            >>> ev.compute_confusion_matrix().tolist()
            [[1, 0], [1, 0]]
        """
        if normalize not in _NORMALIZE_MODES:
            raise ValueError(
                f"`normalize` must be one of {_NORMALIZE_MODES}. Received: normalize={normalize!r}"
            )
        return metrics.confusion_matrix(
            self._y_true,
            self.y_pred,
            labels=np.arange(self.num_classes),
            normalize=normalize,
        )

    def top_k_accuracy(self, k):
        """Returns the fraction of images whose true class is among the k best scores.

        Args:
            k: Number of best-scored classes that count as a hit.

        Returns:
            float (``sklearn.metrics.top_k_accuracy_score``).

        Raises:
            ValueError: If ``k`` is not a positive integer.

        Example:
            >>> ev = ClassificationEvaluation.from_scores(
            ...     [2], [[.5, .3, .2]], ["a", "b", "c"])
            >>> ev.top_k_accuracy(2)
            0.0
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"`k` must be a positive integer. Received: k={k!r}")
        scores = self.scores
        if self.num_classes == 1:
            return 1.0
        if self.num_classes == 2:
            # scikit-learn takes the positive-class score for two classes.
            scores = scores[:, 1]
        return float(
            metrics.top_k_accuracy_score(self._y_true, scores, k=k, labels=np.arange(self.num_classes))
        )

    # ---------------------------------------------------------------- curves

    def roc_curves(self):
        """Returns one-vs-rest ROC curves per class, and micro and macro averages.

        A class absent from the test set (or the only class in it) has no ROC
        curve: its arrays are empty and its AUC is NaN, and it is left out of
        the macro average. The macro curve is the mean of the per-class true
        positive rates interpolated on the union of their false positive rates;
        the macro AUC is the mean of the per-class AUCs.

        Returns:
            dict mapping each class name, ``"micro"`` and ``"macro"`` to a dict
            with ``"fpr"``, ``"tpr"``, ``"thresholds"`` (read-only arrays) and
            ``"auc"`` (float, NaN where undefined).

        Raises:
            ValueError: If a class is named ``"micro"`` or ``"macro"``.

        Example:
            >>> ev = ClassificationEvaluation.from_scores([0, 1], [[.9, .1], [.2, .8]], ["a", "b"])
            >>> ev.roc_curves()["micro"]["auc"]
            1.0
        """
        self._check_no_reserved_labels()
        if "roc" in self._cache:
            return dict(self._cache["roc"])
        y_onehot = self._one_hot()
        scores = self.scores
        curves = {}
        defined = []
        for i, label in enumerate(self._labels):
            curves[label] = self._roc_curve(y_onehot[:, i], scores[:, i])
            if not math.isnan(curves[label]["auc"]):
                defined.append(i)
        curves["micro"] = self._roc_curve(y_onehot.ravel(), scores.ravel())
        if defined:
            all_fpr = np.unique(np.concatenate([curves[self._labels[i]]["fpr"] for i in defined]))
            mean_tpr = np.mean(
                [
                    np.interp(all_fpr, curves[self._labels[i]]["fpr"], curves[self._labels[i]]["tpr"])
                    for i in defined
                ],
                axis=0,
            )
            macro_auc = np.mean([curves[self._labels[i]]["auc"] for i in defined])
            curves["macro"] = {
                "fpr": _readonly(all_fpr),
                "tpr": _readonly(mean_tpr),
                "thresholds": _readonly(np.empty(0)),
                "auc": float(macro_auc),
            }
        else:
            curves["macro"] = self._undefined_roc()
        self._cache["roc"] = curves
        return dict(curves)

    @staticmethod
    def _undefined_roc():
        empty = _readonly(np.empty(0))
        return {"fpr": empty, "tpr": empty, "thresholds": empty, "auc": math.nan}

    def _roc_curve(self, y_binary, scores):
        positives = int(y_binary.sum())
        if positives == 0 or positives == len(y_binary):
            return self._undefined_roc()
        fpr, tpr, thresholds = metrics.roc_curve(y_binary, scores)
        return {
            "fpr": _readonly(fpr),
            "tpr": _readonly(tpr),
            "thresholds": _readonly(thresholds),
            "auc": float(metrics.roc_auc_score(y_binary, scores)),
        }

    def pr_curves(self):
        """Returns one-vs-rest precision-recall curves per class, micro and macro.

        A class absent from the test set has no curve: its arrays are empty
        and its average precision is NaN, and it is left out of the macro
        average. The macro curve averages the per-class interpolated precision
        (the best precision at recall at least r) over the union of the recall
        values; the macro average precision is the mean of the per-class ones.

        Returns:
            dict mapping each class name, ``"micro"`` and ``"macro"`` to a dict
            with ``"precision"``, ``"recall"``, ``"thresholds"`` (read-only
            arrays) and ``"average_precision"`` (float, NaN where undefined).

        Raises:
            ValueError: If a class is named ``"micro"`` or ``"macro"``.

        Example:
            >>> ev = ClassificationEvaluation.from_scores([0, 1], [[.9, .1], [.2, .8]], ["a", "b"])
            >>> ev.pr_curves()["macro"]["average_precision"]
            1.0
        """
        self._check_no_reserved_labels()
        if "pr" in self._cache:
            return dict(self._cache["pr"])
        y_onehot = self._one_hot()
        scores = self.scores
        curves = {}
        defined = []
        for i, label in enumerate(self._labels):
            curves[label] = self._pr_curve(y_onehot[:, i], scores[:, i])
            if not math.isnan(curves[label]["average_precision"]):
                defined.append(i)
        curves["micro"] = self._pr_curve(y_onehot.ravel(), scores.ravel())
        if defined:
            per_class = [curves[self._labels[i]] for i in defined]
            all_recall = np.unique(np.concatenate([c["recall"] for c in per_class]))
            interpolated = []
            for c in per_class:
                # Recall is decreasing in scikit-learn's output: reverse it, then
                # take the best precision at any recall >= r.
                recall, precision = c["recall"][::-1], c["precision"][::-1]
                best = np.maximum.accumulate(precision[::-1])[::-1]
                idx = np.searchsorted(recall, all_recall, side="left")
                interpolated.append(best[np.minimum(idx, len(best) - 1)])
            curves["macro"] = {
                "precision": _readonly(np.mean(interpolated, axis=0)[::-1]),
                "recall": _readonly(all_recall[::-1]),
                "thresholds": _readonly(np.empty(0)),
                "average_precision": float(np.mean([c["average_precision"] for c in per_class])),
            }
        else:
            curves["macro"] = self._undefined_pr()
        self._cache["pr"] = curves
        return dict(curves)

    @staticmethod
    def _undefined_pr():
        empty = _readonly(np.empty(0))
        return {"precision": empty, "recall": empty, "thresholds": empty, "average_precision": math.nan}

    def _pr_curve(self, y_binary, scores):
        if int(y_binary.sum()) == 0:
            return self._undefined_pr()
        precision, recall, thresholds = metrics.precision_recall_curve(y_binary, scores)
        return {
            "precision": _readonly(precision),
            "recall": _readonly(recall),
            "thresholds": _readonly(thresholds),
            "average_precision": float(metrics.average_precision_score(y_binary, scores)),
        }

    def compute_precision_recall_curve(self):
        """Returns cvtk's precision-recall curve over all (image, class) pairs.

        Each pair is a one-vs-rest binary decision: positive where the class
        is the image's true class. This is the micro-averaged curve.

        Returns:
            Tuple ``(precision, recall, thresholds)`` of arrays, as returned by
            ``sklearn.metrics.precision_recall_curve``.

        Example:
            >>> ev = ClassificationEvaluation.from_scores([0, 1], [[.9, .1], [.2, .8]], ["a", "b"])
            >>> precision, recall, thresholds = ev.compute_precision_recall_curve()
        """
        return metrics.precision_recall_curve(self._one_hot().ravel(), self.scores.ravel())

    def best_f1_threshold(self):
        """Returns the score threshold with the best F1 over all (image, class) pairs.

        A pair counts as predicted positive where its score is at least the
        threshold (see :meth:`compute_precision_recall_curve`).

        Returns:
            Tuple ``(threshold, f1)`` of floats.

        Example:
            >>> ev = ClassificationEvaluation.from_scores([0, 1], [[.9, .1], [.2, .8]], ["a", "b"])
            >>> ev.best_f1_threshold()
            (0.8, 1.0)
        """
        precision, recall, thresholds = self.compute_precision_recall_curve()
        precision, recall = precision[:-1], recall[:-1]
        denominator = precision + recall
        f1 = np.divide(
            2 * precision * recall,
            denominator,
            out=np.zeros_like(denominator),
            where=denominator > 0,
        )
        best = int(np.argmax(f1))
        return float(thresholds[best]), float(f1[best])

    # -------------------------------------------------------- interpretation

    def most_confused(self, min_count=1):
        """Returns the most frequent confusions, as fastai's ``most_confused``.

        Args:
            min_count: Smallest number of images for a confusion to be listed.

        Returns:
            list of ``(true_label, predicted_label, count)``, by count
            descending, then in class order.

        Raises:
            ValueError: If ``min_count`` is not a positive integer.

        Example:
            >>> ev = ClassificationEvaluation.from_scores([0, 1], [[.9, .1], [.6, .4]], ["a", "b"])
            >>> ev.most_confused()
            [('b', 'a', 1)]
        """
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"`min_count` must be a positive integer. Received: min_count={min_count!r}")
        cm = self.compute_confusion_matrix()
        pairs = [
            (self._labels[t], self._labels[p], int(cm[t, p]))
            for t in range(self.num_classes)
            for p in range(self.num_classes)
            if t != p and cm[t, p] >= min_count
        ]
        return sorted(pairs, key=lambda pair: -pair[2])

    def losses(self):
        """Returns the cross-entropy loss of every image's true class.

        The loss is ``-log(p)`` of the true class's score, clipped to
        ``[eps, 1]`` as ``sklearn.metrics.log_loss`` does, so its sum equals
        ``log_loss(..., normalize=False)`` for scores summing to one.

        Returns:
            np.ndarray of shape ``[N]``.
        """
        true_scores = self.scores[np.arange(len(self._y_true)), self._y_true]
        eps = np.finfo(self.scores.dtype).eps
        return -np.log(np.clip(true_scores, eps, 1.0))

    def top_losses(self, k):
        """Returns the k images with the highest loss, as fastai's ``top_losses``.

        Args:
            k: Number of images; fewer are returned if the test set is smaller.

        Returns:
            list of dicts with ``"path"`` (None if unknown), ``"true_label"``,
            ``"predicted_label"``, ``"score"`` (the predicted class's score)
            and ``"loss"`` (cross-entropy of the true class), loss descending,
            ties in test-set order.

        Raises:
            ValueError: If ``k`` is not a positive integer.

        Example:
            >>> ev = ClassificationEvaluation.from_scores([0, 1], [[.9, .1], [.6, .4]], ["a", "b"])
            >>> ev.top_losses(1)[0]["true_label"]
            'b'
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"`k` must be a positive integer. Received: k={k!r}")
        losses = self.losses()
        order = np.argsort(-losses, kind="stable")[:k]
        y_pred = self.y_pred
        return [
            {
                "path": self._paths[i],
                "true_label": self._labels[self._y_true[i]],
                "predicted_label": self._labels[y_pred[i]],
                "score": float(self.scores[i, y_pred[i]]),
                "loss": float(losses[i]),
            }
            for i in order.tolist()
        ]

    # ---------------------------------------------------------------- export

    def to_dict(self):
        """Returns the headline numbers as a JSON-serialisable dict.

        Undefined AUCs and average precisions (a class absent from the test
        set) are None.

        Returns:
            dict with ``"accuracy"``, ``"class_avg_accuracy"``, ``"per_class"``,
            ``"confusion_matrix"``, ``"labels"``, ``"roc_auc"`` and
            ``"average_precision"``; the last two are keyed by class name,
            ``"micro"`` and ``"macro"``. After a leak check (:meth:`check_leakage`),
            ``"near_duplicates_of_train"`` too: how many test images duplicate training images.

        Example:
            >>> import json
            >>> ev = ClassificationEvaluation.from_scores([0, 1], [[.9, .1], [.2, .8]], ["a", "b"])
            >>> json.loads(json.dumps(ev.to_dict()))["accuracy"]
            1.0
        """
        roc = self.roc_curves()
        pr = self.pr_curves()
        keys = [*self._labels, *_AVERAGE_KEYS]
        return {
            "accuracy": self.compute_accuracy(class_averaged=False),
            "class_avg_accuracy": self.compute_accuracy(class_averaged=True),
            "per_class": self.per_class_metrics(),
            "confusion_matrix": self.compute_confusion_matrix().astype(int).tolist(),
            "labels": self.labels,
            "roc_auc": {key: _json_float(roc[key]["auc"]) for key in keys},
            "average_precision": {key: _json_float(pr[key]["average_precision"]) for key in keys},
            **({} if self.near_duplicates is None
               else {"near_duplicates_of_train": len(self.near_duplicates)}),
        }

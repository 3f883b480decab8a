"""Scores of a classifier on images of a dataset, for the results and precision/recall views.

The scores come from one of three sources (see :class:`Results`): a training run
(its test images, scored by its model and cached by :meth:`TrainingRun.scores` in
the run folder, so a restart of the UI reads them back without loading the
model), any saved classifier (every image of the dataset), or scores computed
elsewhere and passed in memory. True labels are *not* taken from the source:
they are read from the dataset, with its label fixes, every time the evaluation
is rebuilt, so relabelling an image updates the mistakes, losses and curves at
once.
"""

import dataclasses
import os

import numpy as np
from sklearn import metrics

MAX_CURVE_POINTS = 1500
SORT_MODES = ("loss", "score", "-score", "name")
SHOW_MODES = ("all", "mistakes", "correct")
SOURCES = ("run", "model", "scores")


def counts_at(y_binary, scores, threshold):
    """Confusion counts and precision/recall of binary decisions ``score >= threshold``.

    Precision and recall equal ``sklearn.metrics.precision_score`` and
    ``recall_score`` of ``y_binary`` against ``scores >= threshold`` (with
    ``zero_division=0``): precision is 0 when nothing is predicted positive.

    Args:
        y_binary: array of 0/1 (or bool) true decisions.
        scores: array of scores, same length.
        threshold: float; a score at least this high is a positive prediction.

    Returns:
        dict with ``threshold``, ``tp``, ``fp``, ``fn``, ``tn``, ``predicted_positive``,
        ``positives``, ``precision``, ``recall``, ``f1``.

    Example:
        >>> counts_at([1, 0, 1], [0.9, 0.6, 0.3], 0.5)["precision"]
        0.5
    """
    y = np.asarray(y_binary).astype(bool)
    predicted = np.asarray(scores) >= threshold
    tp = int(np.count_nonzero(predicted & y))
    fp = int(np.count_nonzero(predicted & ~y))
    fn = int(np.count_nonzero(~predicted & y))
    tn = int(len(y) - tp - fp - fn)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {
        "threshold": float(threshold), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "predicted_positive": tp + fp, "positives": tp + fn,
        "precision": precision, "recall": recall, "f1": f1,
    }


def _curve(y_binary, scores, precision_recall_curve=None):
    """A PR curve for drawing (at most MAX_CURVE_POINTS points) and its average precision."""
    y_binary = np.asarray(y_binary)
    if not y_binary.any():
        return {"recall": [], "precision": [], "thresholds": [], "average_precision": None, "positives": 0}
    if precision_recall_curve is None:
        precision_recall_curve = metrics.precision_recall_curve(y_binary, scores)
    precision, recall, thresholds = precision_recall_curve
    thresholds = np.append(thresholds, np.nan)  # the last point (recall 0) has no threshold
    if len(recall) > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(recall) - 1, MAX_CURVE_POINTS).round().astype(int))
        precision, recall, thresholds = precision[keep], recall[keep], thresholds[keep]
    return {
        "recall": [round(float(v), 6) for v in recall],
        "precision": [round(float(v), 6) for v in precision],
        "thresholds": [None if np.isnan(v) else round(float(v), 6) for v in thresholds],
        "average_precision": float(metrics.average_precision_score(y_binary, scores)),
        "positives": int(y_binary.sum()),
    }


class Results:
    """Scores of a classifier on images of a dataset, and the views built on them.

    Make one with :meth:`from_run`, :meth:`from_classifier` or :meth:`from_scores`.

    Args:
        dataset: the :class:`~keras_cvcls.data.ClassificationDataset` shown; its label
            fixes give the true labels.
        ids: the ids of the scored images (rows of :attr:`scores`).
        score: a callable returning ``(labels, scores, from_cache)`` for those images,
            called once, by :meth:`load`.
        source: ``"run"``, ``"model"`` or ``"scores"``.
        name: what the scores are of (the run or model folder's name).
        run: the :class:`~keras_cvcls.training_run.TrainingRun` for ``source="run"``.
        missing: how many images of the source are not in the dataset.

    Example:
        >>> results = Results.from_run("runs/1", ClassificationDataset.from_directory("photos/")).load()
        >>> results.evaluation().compute_accuracy()
    """

    def __init__(self, dataset, ids, score, *, source, name, run=None, missing=0, thresholds=None):
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}. Received: source={source!r}")
        self.dataset = dataset
        self.ids = list(ids)
        self.source = source
        self.name = name
        self.run = run
        self.missing = missing
        self.labels = None
        self.scores = None
        self.from_cache = False
        self._score = score
        self._evaluation = None
        # Multi-label: the true labels are label sets, the predictions those at or above each label's threshold.
        self.multi_label = bool(getattr(dataset, "multi_label", False))
        self.thresholds = None if thresholds is None else [float(t) for t in thresholds]

    @classmethod
    def from_run(cls, run_dir, dataset, *, batch_size=32):
        """The run's test images that are in ``dataset`` (excluded ones too), scored by the run's model.

        Raises:
            ValueError: if ``run_dir`` is not a training run folder.
        """
        from keras_cvcls.training_run import TrainingRun

        run = TrainingRun.load(run_dir)
        known = {r.id for r in [*dataset.images, *dataset.excluded]}
        ids = [i for i in run.test_ids if i in known]

        def score(images):
            if run.multi_label:  # the thresholds saved with the model
                results.thresholds = list(run.model.thresholds)
            scores = run.cached_scores(images)
            if scores is not None:
                return run.labels, scores, True
            return run.labels, run.scores(images, batch_size=batch_size), False

        results = cls(dataset, ids, score, source="run", name=run.name, run=run, missing=len(run.test_ids) - len(ids))
        return results

    @classmethod
    def from_classifier(cls, classifier, dataset, *, batch_size=32):
        """Every image of ``dataset`` (excluded ones too), scored by a classifier.

        Args:
            classifier: a saved classifier's path (anything :func:`~keras_cvcls.models.load_classifier`
                reads; loaded on first use) or an ``ImageClassifier`` / ``ScikitClassifier``.
            dataset: the dataset.
            batch_size: batch size for scoring.

        Raises:
            ValueError: if ``classifier`` is neither a saved classifier's path nor a classifier.
        """
        from keras_cvcls.models import ImageClassifier, ScikitClassifier

        if isinstance(classifier, (str, os.PathLike)):
            from keras_cvcls.models.saving import find_saved_classifier

            find_saved_classifier(classifier)  # a wrong path fails now, not when the view opens
            name = os.path.basename(os.path.abspath(os.fspath(classifier)))
        elif isinstance(classifier, (ImageClassifier, ScikitClassifier)):
            name = classifier.name if isinstance(classifier, ImageClassifier) else type(classifier).__name__
        else:
            raise ValueError(
                "model must be a saved classifier's path, an ImageClassifier or a ScikitClassifier. "
                f"Received: model of type {type(classifier).__name__}"
            )

        def score(images):
            model = classifier
            if isinstance(model, (str, os.PathLike)):
                from keras_cvcls.models import load_classifier

                model = load_classifier(model)
            scores = model.predict_scores(images, batch_size=batch_size)
            if getattr(model, "multi_label", False):
                results.thresholds = list(model.thresholds)
            return list(model.class_map), np.asarray(scores, dtype=np.float32), False

        ids = [r.id for r in [*dataset.images, *dataset.excluded]]
        results = cls(dataset, ids, score, source="model", name=name)
        return results

    @classmethod
    def from_scores(cls, dataset, scores, labels=None, thresholds=None):
        """Scores computed elsewhere: one row per image of ``dataset.images``, in that order.

        Args:
            dataset: the dataset scored (e.g. a test split).
            scores: array ``[len(dataset), len(labels)]`` of class probabilities.
            labels: the class names of the score columns (e.g. the model's ``labels``);
                default: the dataset's labels.
            thresholds: a multi-label dataset's per-label thresholds (default 0.5 each).

        Raises:
            ValueError: if the shapes disagree or a score is not finite.

        Example:
            >>> Results.from_scores(test, model.predict_scores(test), model.labels)
        """
        labels = [str(label) for label in (dataset.labels if labels is None else labels)]
        if len(set(labels)) != len(labels) or not labels:
            raise ValueError(f"labels must be unique class names. Received: labels={labels!r}")
        ids = [r.id for r in dataset.images]
        try:
            scores = np.asarray(scores, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"scores must be an array of numbers. Received: scores of type {type(scores).__name__}") from None
        if scores.shape != (len(ids), len(labels)):
            raise ValueError(
                f"scores must have one row per image of the dataset and one column per label: shape "
                f"({len(ids)}, {len(labels)}). Received: scores with shape {scores.shape}"
            )
        if not np.isfinite(scores).all():
            raise ValueError("scores must be finite. Received: scores with NaN or infinite values")
        return cls(dataset, ids, lambda images: (labels, scores, False), source="scores", name="scores",
                   thresholds=thresholds)

    # ------------------------------------------------------------------ scores
    def load(self):
        """Gets the scores from the source (once); returns ``self``.

        Raises:
            ValueError: if the classifier cannot be loaded or no image is left to score.
        """
        if self.scores is not None:
            return self
        if not self.ids:
            raise ValueError(f"No image of the {self.source} {self.name!r} is in the data folder.")
        from keras_cvcls.data import ClassificationDataset

        by_id = {r.id: r for r in [*self.dataset.images, *self.dataset.excluded]}
        # Excluded images are scored too (they may come back); the label given to the
        # pipeline is irrelevant to the scores.
        first = self.dataset.labels[0]
        records = [dataclasses.replace(by_id[i], label=first, original_label=first) for i in self.ids]
        labels, scores, self.from_cache = self._score(ClassificationDataset(records, self.dataset.labels))
        self.labels, self.scores = list(labels), np.asarray(scores, dtype=np.float32)
        return self

    # -------------------------------------------------------------- evaluation
    def invalidate(self):
        """Forgets the evaluation after labels changed; the next call rebuilds it from the scores."""
        self._evaluation = None

    def evaluation(self):
        """The evaluation of the scored images that are not excluded and whose label the model knows.

        Returns:
            A ``ClassificationEvaluation`` with ``paths``; the image ids are in :attr:`evaluation_ids`.
        """
        from keras_cvcls.evaluation import ClassificationEvaluation

        if self._evaluation is None and self.multi_label:
            self._evaluation = self._multi_label_evaluation()
        if self._evaluation is None:
            self.load()
            current = {r.id: r for r in self.dataset.images}
            index = {label: i for i, label in enumerate(self.labels)}
            rows, ids, y_true, paths = [], [], [], []
            for row, image_id in enumerate(self.ids):
                record = current.get(image_id)
                if record is None or record.label not in index:
                    continue
                rows.append(row)
                ids.append(image_id)
                y_true.append(index[record.label])
                paths.append(record.path)
            if not rows:
                raise ValueError("Every scored image is excluded or has a label the model does not know.")
            evaluation = ClassificationEvaluation.from_scores(
                np.array(y_true, dtype=np.int64), self.scores[rows].astype(np.float64), self.labels, paths=paths
            )
            self._evaluation = (evaluation, ids, current)
        return self._evaluation[0]

    def _multi_label_evaluation(self):
        from keras_cvcls.evaluation import MultiLabelEvaluation

        self.load()
        current = {r.id: r for r in self.dataset.images}
        known = set(self.labels)
        rows, ids, y_true, paths = [], [], [], []
        for row, image_id in enumerate(self.ids):
            record = current.get(image_id)
            if record is None or not set(record.label) <= known:
                continue
            rows.append(row)
            ids.append(image_id)
            y_true.append(list(record.label))
            paths.append(record.path)
        if not rows:
            raise ValueError("Every scored image is excluded or has a label the model does not know.")
        evaluation = MultiLabelEvaluation.from_scores(
            y_true, self.scores[rows].astype(np.float64), self.labels, thresholds=self.thresholds, paths=paths
        )
        return (evaluation, ids, current)

    @property
    def evaluation_ids(self):
        """Image ids of the rows of :meth:`evaluation`."""
        self.evaluation()
        return self._evaluation[1]

    def summary(self):
        """Headline numbers of the current evaluation, JSON-serialisable."""
        ev = self.evaluation()
        if self.multi_label:
            return {
                "source": self.source, "name": self.name, "run_dir": self.run.run_dir if self.run is not None else None,
                "labels": list(self.labels), "multi_label": True, "thresholds": [float(t) for t in ev.thresholds],
                "num_images": int(len(ev.y_true)), "num_excluded_or_unknown": len(self.ids) - int(len(ev.y_true)),
                "num_missing": self.missing, "mistakes": int(np.count_nonzero((ev.y_pred != ev.y_true).any(axis=1))),
                "accuracy": ev.exact_match_ratio(), "class_avg_accuracy": ev.compute_accuracy(class_averaged=True),
                "mAP": ev.mean_average_precision(), "hamming_loss": ev.hamming_loss(),
                "scores_from_cache": self.from_cache,
            }
        mistakes = int(np.count_nonzero(ev.y_pred != ev.y_true))
        return {
            "source": self.source,
            "name": self.name,
            "run_dir": self.run.run_dir if self.run is not None else None,
            "labels": list(self.labels),
            "num_images": int(len(ev.y_true)),
            "num_excluded_or_unknown": len(self.ids) - int(len(ev.y_true)),
            "num_missing": self.missing,
            "mistakes": mistakes,
            "accuracy": float(ev.compute_accuracy(class_averaged=False)),
            "class_avg_accuracy": float(ev.compute_accuracy(class_averaged=True)),
            "scores_from_cache": self.from_cache,
        }

    def items(self, *, show="all", sort="loss", label=None, predicted=None):
        """Rows of the results view, filtered and sorted.

        Args:
            show: ``"all"``, ``"mistakes"`` or ``"correct"``.
            sort: ``"loss"`` (highest first), ``"score"`` (predicted class's score, highest
                first), ``"-score"`` (lowest first) or ``"name"`` (image id).
            label: keep only this true label (None for all).
            predicted: keep only this predicted label (None for all).

        Returns:
            list of dicts with ``id``, ``record`` (the dataset's image record),
            ``true_label``, ``predicted_label``, ``score``, ``true_score``, ``loss``, ``mistake``.

        Raises:
            ValueError: for an unknown ``show`` or ``sort``.
        """
        if show not in SHOW_MODES:
            raise ValueError(f"show must be one of {SHOW_MODES}. Received: show={show!r}")
        if sort not in SORT_MODES:
            raise ValueError(f"sort must be one of {SORT_MODES}. Received: sort={sort!r}")
        if self.multi_label:
            return self._multi_label_items(show, sort, label, predicted)
        ev = self.evaluation()
        _, ids, current = self._evaluation
        y_true, y_pred, scores = ev.y_true, ev.y_pred, ev.scores
        n = len(y_true)
        keep = np.ones(n, dtype=bool)
        if show == "mistakes":
            keep &= y_pred != y_true
        elif show == "correct":
            keep &= y_pred == y_true
        if label:
            keep &= y_true == (self.labels.index(label) if label in self.labels else -1)
        if predicted:
            keep &= y_pred == (self.labels.index(predicted) if predicted in self.labels else -1)
        losses = ev.losses()
        pred_scores = scores[np.arange(n), y_pred]
        true_scores = scores[np.arange(n), y_true]
        rows = np.flatnonzero(keep)
        if sort == "loss":
            rows = rows[np.argsort(-losses[rows], kind="stable")]
        elif sort == "score":
            rows = rows[np.argsort(-pred_scores[rows], kind="stable")]
        elif sort == "-score":
            rows = rows[np.argsort(pred_scores[rows], kind="stable")]
        else:
            rows = sorted(rows.tolist(), key=lambda i: ids[i])
        return [
            {
                "id": ids[i],
                "record": current[ids[i]],
                "true_label": self.labels[y_true[i]],
                "predicted_label": self.labels[y_pred[i]],
                "score": float(pred_scores[i]),
                "true_score": float(true_scores[i]),
                "loss": float(losses[i]),
                "mistake": bool(y_pred[i] != y_true[i]),
            }
            for i in (int(r) for r in rows)
        ]

    def _multi_label_items(self, show, sort, label, predicted):
        """:meth:`items` for multi-label scores: label sets, and each label's outcome (tp, fp, fn, tn)."""
        ev = self.evaluation()
        _, ids, current = self._evaluation
        y_true, y_pred, scores = ev.y_true, ev.y_pred, ev.scores
        wrong = (y_true != y_pred).any(axis=1)
        keep = np.ones(len(y_true), dtype=bool)
        if show == "mistakes":
            keep &= wrong
        elif show == "correct":
            keep &= ~wrong
        if label:
            keep &= y_true[:, self.labels.index(label)] == 1 if label in self.labels else False
        if predicted:
            keep &= y_pred[:, self.labels.index(predicted)] == 1 if predicted in self.labels else False
        losses, top = ev.losses(), scores.max(axis=1)
        rows = np.flatnonzero(keep)
        if sort == "loss":
            rows = rows[np.argsort(-losses[rows], kind="stable")]
        elif sort == "score":
            rows = rows[np.argsort(-top[rows], kind="stable")]
        elif sort == "-score":
            rows = rows[np.argsort(top[rows], kind="stable")]
        else:
            rows = sorted(rows.tolist(), key=lambda i: ids[i])
        outcome = {(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): "tn"}
        return [
            {
                "id": ids[i],
                "record": current[ids[i]],
                "true_label": [self.labels[j] for j in np.flatnonzero(y_true[i])],
                "predicted_labels": [self.labels[j] for j in np.flatnonzero(y_pred[i])],
                "per_label": {
                    name: {"outcome": outcome[(int(y_true[i, j]), int(y_pred[i, j]))], "score": float(scores[i, j])}
                    for j, name in enumerate(self.labels)
                },
                "score": float(top[i]),
                "loss": float(losses[i]),
                "mistake": bool(wrong[i]),
            }
            for i in (int(r) for r in rows)
        ]

    # -------------------------------------------------------- precision/recall
    def _binary_problems(self):
        """``(name, y_binary, scores)`` for cvtk's overall curve, then one per class (per label, multi-label)."""
        ev = self.evaluation()
        one_hot = ev.y_true if self.multi_label else np.eye(len(self.labels), dtype=np.int64)[ev.y_true]
        problems = [("overall", one_hot.ravel(), ev.scores.ravel())]
        problems += [(label, one_hot[:, c], ev.scores[:, c]) for c, label in enumerate(self.labels)]
        return problems

    def curves(self):
        """PR curves for drawing: cvtk's overall curve over all (image, class) pairs, and one per class.

        Returns:
            dict with ``labels`` and ``curves``: a list of ``{"name", "recall", "precision",
            "thresholds", "average_precision", "positives"}``, ``"overall"`` first. Curves with
            more than ``MAX_CURVE_POINTS`` points are thinned for drawing; the numbers of
            :meth:`at_threshold` are exact.
        """
        ev = self.evaluation()
        curves = []
        for name, y, s in self._binary_problems():
            prc = ev.compute_precision_recall_curve() if name == "overall" else None
            curves.append({"name": name, **_curve(y, s, prc)})
        result = {"labels": list(self.labels), "num_images": int(len(ev.y_true)), "curves": curves}
        if self.multi_label:  # the sliders per label start at the model's thresholds
            result.update(multi_label=True, label_thresholds=dict(zip(self.labels, map(float, ev.thresholds), strict=True)))
        return result

    def at_threshold(self, threshold, label_thresholds=None):
        """Precision, recall and counts of every curve at one score threshold.

        Args:
            threshold: a float; a score at least this high is a positive prediction.
            label_thresholds: optional ``{label: threshold}`` for the per-label curves (a
                multi-label model's slider per label); a label not named uses ``threshold``.

        Returns:
            dict mapping ``"overall"`` and each class name to :func:`counts_at`'s dict.

        Raises:
            ValueError: if ``threshold`` is not a finite number.
        """
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise ValueError(f"threshold must be a number. Received: threshold={threshold!r}") from None
        if not np.isfinite(threshold):
            raise ValueError(f"threshold must be finite. Received: threshold={threshold!r}")
        label_thresholds = dict(label_thresholds or {})
        unknown = sorted(set(label_thresholds) - set(self.labels))
        bad = [k for k, v in label_thresholds.items() if isinstance(v, bool) or not isinstance(v, (int, float))
               or not np.isfinite(v)]
        if unknown or bad:
            raise ValueError(
                f"label_thresholds must map labels of {self.labels} to finite numbers. "
                f"Received: label_thresholds={label_thresholds!r}"
            )
        return {
            name: counts_at(y, s, float(label_thresholds.get(name, threshold)) if name != "overall" else threshold)
            for name, y, s in self._binary_problems()
        }

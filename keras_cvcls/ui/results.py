"""A training run's predictions on its test split, for the results and precision/recall views.

The run's classifier scores the test images once; the scores are cached in
``RUN_DIR/ui_scores.npz`` with the image ids, the class names and a stamp of
the saved model, so a restart of the UI (or another UI on the same run) reads
them back without loading TensorFlow's model at all. True labels are *not*
cached: they are read from the dataset, with its label fixes, every time the
evaluation is rebuilt, so relabelling an image updates the mistakes, losses
and curves at once.
"""

import dataclasses
import hashlib
import os

import numpy as np
from sklearn import metrics

from keras_cvcls.training import run_dir as rd

SCORES_FILE = "ui_scores.npz"
MAX_CURVE_POINTS = 1500
SORT_MODES = ("loss", "score", "-score", "name")
SHOW_MODES = ("all", "mistakes", "correct")


def model_stamp(run_dir):
    """Returns a digest of the names, sizes and modification times of the files in ``RUN_DIR/model``."""
    model_dir = os.path.join(os.fspath(run_dir), rd.MODEL_DIR)
    digest = hashlib.sha1()
    for dirpath, dirnames, filenames in os.walk(model_dir):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            digest.update(f"{os.path.relpath(path, model_dir)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


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


class RunResults:
    """Scores of a run's classifier on the run's test images, and the views built on them.

    Args:
        run_dir: a training run folder (``split.json`` and ``model/``).
        dataset: the :class:`~keras_cvcls.data.ClassificationDataset` of the run's data
            folder; its label fixes give the true labels. Test ids missing from it are
            left out (see :attr:`missing`).
        batch_size: batch size for scoring.

    Raises:
        ValueError: if ``run_dir`` has no ``split.json``.

    Example:
        >>> results = RunResults("runs/1", ClassificationDataset.from_directory("photos/")).load()
        >>> results.evaluation().compute_accuracy()
    """

    def __init__(self, run_dir, dataset, *, batch_size=32):
        self.run_dir = os.path.abspath(os.fspath(run_dir))
        split_path = os.path.join(self.run_dir, rd.SPLIT_FILE)
        if not os.path.isfile(split_path):
            raise ValueError(
                f"Not a training run folder (no {rd.SPLIT_FILE}). Received: run_dir={os.fspath(run_dir)!r}"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        split = rd.read_json(split_path)
        known = {r.id for r in dataset.images} | {r.id for r in dataset.excluded}
        self.ids = [i for i in split["test"] if i in known]
        self.missing = len(split["test"]) - len(self.ids)
        self.labels = None
        self.scores = None
        self.from_cache = False
        self._evaluation = None

    @property
    def scores_path(self):
        """``RUN_DIR/ui_scores.npz``."""
        return os.path.join(self.run_dir, SCORES_FILE)

    # ------------------------------------------------------------------ scores
    def load(self):
        """Reads the cached scores, or scores the test images and caches them; returns ``self``.

        Raises:
            ValueError: if the run has no saved classifier or no test image is left.
        """
        if self.scores is not None:
            return self
        if not self.ids:
            raise ValueError(f"No test image of the run is in the data folder. Received: run_dir={self.run_dir!r}")
        stamp = model_stamp(self.run_dir)
        if self._read_cache(stamp):
            self.from_cache = True
            return self
        from keras_cvcls.data import ClassificationDataset
        from keras_cvcls.models import load_classifier

        classifier = load_classifier(self.run_dir)
        labels = [str(label) for label in classifier.labels]
        by_id = {r.id: r for r in [*self.dataset.images, *self.dataset.excluded]}
        # Every test image is scored, excluded ones too (they may come back); the label
        # given to the pipeline is irrelevant to the scores.
        records = [dataclasses.replace(by_id[i], label=labels[0], original_label=labels[0]) for i in self.ids]
        scores = classifier.predict_scores(ClassificationDataset(records, labels), batch_size=self.batch_size)
        self.labels, self.scores = labels, np.asarray(scores, dtype=np.float32)
        self._write_cache(stamp)
        return self

    def _read_cache(self, stamp):
        if not os.path.isfile(self.scores_path):
            return False
        try:
            with np.load(self.scores_path, allow_pickle=False) as data:
                if str(data["model_stamp"]) != stamp:
                    return False
                index = {str(i): n for n, i in enumerate(data["ids"].tolist())}
                if any(i not in index for i in self.ids):
                    return False
                self.labels = [str(label) for label in data["labels"].tolist()]
                self.scores = np.asarray(data["scores"], dtype=np.float32)[[index[i] for i in self.ids]]
        except (OSError, ValueError, KeyError):
            return False  # an unreadable cache is simply recomputed
        return True

    def _write_cache(self, stamp):
        tmp = self.scores_path + ".tmp.npz"
        try:
            np.savez(tmp, ids=np.array(self.ids, dtype=str), labels=np.array(self.labels, dtype=str),
                     scores=self.scores, model_stamp=np.array(stamp))
            os.replace(tmp, self.scores_path)
        except OSError:
            pass  # a read-only run folder only costs scoring again next time

    # -------------------------------------------------------------- evaluation
    def invalidate(self):
        """Forgets the evaluation after labels changed; the next call rebuilds it from the scores."""
        self._evaluation = None

    def evaluation(self):
        """The evaluation of the test images that are not excluded and whose label the model knows.

        Returns:
            A ``ClassificationEvaluation`` with ``paths``; the image ids are in :attr:`evaluation_ids`.
        """
        from keras_cvcls.evaluation import ClassificationEvaluation

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
                raise ValueError("Every test image is excluded or has a label the model does not know.")
            evaluation = ClassificationEvaluation.from_scores(
                np.array(y_true, dtype=np.int64), self.scores[rows].astype(np.float64), self.labels, paths=paths
            )
            self._evaluation = (evaluation, ids, current)
        return self._evaluation[0]

    @property
    def evaluation_ids(self):
        """Image ids of the rows of :meth:`evaluation`."""
        self.evaluation()
        return self._evaluation[1]

    def summary(self):
        """Headline numbers of the current evaluation, JSON-serialisable."""
        ev = self.evaluation()
        mistakes = int(np.count_nonzero(ev.y_pred != ev.y_true))
        return {
            "run_dir": self.run_dir,
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

    # -------------------------------------------------------- precision/recall
    def _binary_problems(self):
        """``(name, y_binary, scores)`` for cvtk's overall curve, then one per class."""
        ev = self.evaluation()
        one_hot = np.eye(len(self.labels), dtype=np.int64)[ev.y_true]
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
        return {"labels": list(self.labels), "num_images": int(len(ev.y_true)), "curves": curves}

    def at_threshold(self, threshold):
        """Precision, recall and counts of every curve at one score threshold.

        Args:
            threshold: a float; a score at least this high is a positive prediction.

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
        return {name: counts_at(y, s, threshold) for name, y, s in self._binary_problems()}

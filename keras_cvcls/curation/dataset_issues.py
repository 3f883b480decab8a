"""``find_issues``: likely label errors, leaks across the split, outliers and class-balance warnings.

One pass over cached frozen pretrained features (:func:`~keras_cvcls.curation.dataset_features`)
finds what limits a pretrained model's accuracy: the data. Each finding names an image, the
reason, a score and, for a label error, the suggested label; the findings are ranked, most
pressing first, and the review mode of the UI pages through them.
"""

import dataclasses
import json
import os

import numpy as np

from keras_cvcls.curation.features import DEFAULT_BACKBONE
from keras_cvcls.curation.label_errors import DEFAULT_CV_FOLDS
from keras_cvcls.curation.near_duplicates import DEFAULT_HASH_DISTANCE, DEFAULT_SIMILARITY
from keras_cvcls.curation.outliers import DEFAULT_NEIGHBORS, DEFAULT_THRESHOLD

# The order of the ranked list: a leak across the split is certain and falsifies the test
# accuracy; then the labels cleanlab flags; then images unlike their class; last the images
# whose out-of-fold prediction disagrees with the label without cleanlab flagging them.
FINDING_KINDS = ("duplicate", "label_error", "outlier", "possible_label_error")
FORMAT_VERSION = 1
DEFAULT_MIN_IMAGES = 20
DEFAULT_IMBALANCE = 3.0


@dataclasses.dataclass(frozen=True)
class Finding:
    """One image worth a look.

    Attributes:
        kind: ``"duplicate"`` (near-duplicate of an image on the other side of the split, or of
            another image of the dataset), ``"label_error"`` (flagged by confident learning),
            ``"outlier"`` (unlike the rest of its class) or ``"possible_label_error"`` (the
            out-of-fold prediction disagrees with the label, not flagged by confident learning).
        id: the image's id in its dataset.
        path: the image's file.
        label: its current label.
        score: how strongly the data points at the issue, comparable within a kind: for label
            errors 1 - the out-of-fold probability of the given label; for duplicates the
            feature similarity (1.0 for matching hashes when features are not used); for
            outliers the robust z-score of the distance to the class.
        reason: one sentence for a person.
        suggested_label: for label errors, the label the data suggests; else None.
        split: ``"train"`` (the dataset checked) or ``"test"`` (the test side, for leaks).
        other_id: for duplicates, the id of the matching image.
        other_path: for duplicates, the matching image's file.
    """

    kind: str
    id: str
    path: str
    label: str
    score: float
    reason: str
    suggested_label: str | None = None
    split: str = "train"
    other_id: str | None = None
    other_path: str | None = None

    def to_dict(self):
        return dataclasses.asdict(self)


class DatasetIssues:
    """What :func:`find_issues` found: ranked findings and dataset-level warnings.

    Attributes:
        findings: :class:`Finding` s, most pressing first (by kind in :data:`FINDING_KINDS`
            order, then by score).
        warnings: dicts ``{"kind", "label", "message"}``: class balance, labels with few
            images, labels missing from the test side.
        labels: the dataset's labels.
        counts: images per label of the dataset checked.
        num_images: images checked; ``num_test_images``: images on the test side (0 without one).
        probabilities: ``[N, C]`` out-of-fold probabilities of the dataset's images (None when
            read back from a file).
    """

    def __init__(self, findings, warnings, *, labels, counts, num_images, num_test_images=0, probabilities=None):
        rank = {kind: i for i, kind in enumerate(FINDING_KINDS)}
        self.findings = sorted(findings, key=lambda f: (rank[f.kind], -f.score, f.id))
        self.warnings = list(warnings)
        self.labels = list(labels)
        self.counts = dict(counts)
        self.num_images = num_images
        self.num_test_images = num_test_images
        self.probabilities = probabilities

    def of_kind(self, *kinds):
        """The findings of the given kinds, in ranked order."""
        unknown = set(kinds) - set(FINDING_KINDS)
        if unknown:
            raise ValueError(f"Unknown finding kind. Expected some of {FINDING_KINDS}. Received: kinds={sorted(unknown)!r}")
        return [f for f in self.findings if f.kind in kinds]

    @property
    def label_errors(self):
        """Label findings, flagged ones first: ``of_kind("label_error", "possible_label_error")``."""
        return self.of_kind("label_error", "possible_label_error")

    @property
    def leaks(self):
        """Near-duplicates of training images on the test side."""
        return [f for f in self.of_kind("duplicate") if f.split == "test"]

    def summary(self):
        """Number of findings per kind, and of warnings."""
        return {**{kind: len(self.of_kind(kind)) for kind in FINDING_KINDS}, "warnings": len(self.warnings)}

    def to_dict(self):
        """Everything as one JSON-serialisable dict (what ``keras-cvcls dataset issues --json`` prints)."""
        return {
            "version": FORMAT_VERSION,
            "num_images": self.num_images,
            "num_test_images": self.num_test_images,
            "labels": self.labels,
            "counts": self.counts,
            "summary": self.summary(),
            "warnings": self.warnings,
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data):
        """Reads back :meth:`to_dict`'s dict.

        Raises:
            ValueError: when ``data`` is not such a dict.
        """
        try:
            findings = [Finding(**f) for f in data["findings"]]
            bad = sorted({f.kind for f in findings} - set(FINDING_KINDS))
            if bad:
                raise ValueError(f"unknown kinds {bad}")
            return cls(
                findings, data.get("warnings", []), labels=data["labels"], counts=data.get("counts", {}),
                num_images=data.get("num_images", 0), num_test_images=data.get("num_test_images", 0),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(
                "Not a findings file: expected what `keras-cvcls dataset issues --json` prints "
                f"(DatasetIssues.to_dict()). Received: an object that fails with {type(e).__name__}: {e}"
            ) from None

    def save(self, path):
        """Writes :meth:`to_dict` as JSON (atomically); returns ``path``."""
        from keras_cvcls.data.json_files import write_json_atomic

        write_json_atomic(path, self.to_dict(), indent=1, ensure_ascii=False)
        return path

    @classmethod
    def load(cls, path):
        """Reads a file :meth:`save` (or ``dataset issues --json``) wrote.

        Raises:
            ValueError: when the file is missing or not a findings file.
        """
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"Cannot read the findings file ({e}). Received: path={os.fspath(path)!r}") from None
        return cls.from_dict(data)

    def format(self, limit=20):
        """Human-readable text: counts, warnings and the first ``limit`` findings."""
        s = self.summary()
        test = f" (and {self.num_test_images} test images)" if self.num_test_images else ""
        lines = [
            f"Checked {self.num_images} images{test}: {s['label_error']} likely label errors, "
            f"{s['possible_label_error']} possible ones, {s['duplicate']} near-duplicates, {s['outlier']} outliers."
        ]
        lines += [f"Warning: {w['message']}" for w in self.warnings]
        for rank, f in enumerate(self.findings[:limit], 1):
            lines.append(f"{rank:3d}. [{f.kind}] {f.id} ({f.label}) score {f.score:.3f}: {f.reason}")
        if len(self.findings) > limit:
            lines.append(f"... and {len(self.findings) - limit} more (--json for all)")
        return "\n".join(lines)

    def __repr__(self):
        return f"DatasetIssues({self.summary()})"


def _check_fraction(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number between {low} and {high}. Received: {name}={value!r}")


def _balance_warnings(counts, test_counts, *, min_images, imbalance):
    warnings = []
    if not counts:
        return warnings
    largest_label = max(counts, key=counts.get)
    largest = counts[largest_label]
    for label, n in counts.items():
        if n < min_images:
            warnings.append({"kind": "few_images", "label": label, "message": (
                f"{label!r} has {n} image(s), fewer than {min_images}: too few to learn it well and to measure it; "
                "add photos of it."
            )})
        if n and largest / n > imbalance:
            warnings.append({"kind": "imbalance", "label": label, "message": (
                f"{label!r} has {n} images, {largest / n:.1f}x fewer than {largest_label!r} ({largest}): the model "
                "will favour the large labels; add photos of it or weight the classes."
            )})
    for label, n in (test_counts or {}).items():
        if n == 0 and counts.get(label):
            warnings.append({"kind": "missing_in_test", "label": label, "message": (
                f"{label!r} has no test images: its accuracy cannot be measured."
            )})
    return warnings


def _label_findings(dataset, features, *, cv_folds, seed):
    from keras_cvcls.curation.label_errors import label_issue_mask, out_of_fold_probabilities

    images, labels = dataset.images, dataset.labels
    y = np.asarray(dataset.label_ids)
    probabilities = out_of_fold_probabilities(features, y, len(labels), cv_folds=cv_folds, seed=seed)
    flagged = label_issue_mask(y, probabilities)
    given = probabilities[np.arange(len(y)), y]
    predicted = probabilities.argmax(axis=1)
    kept = dataset.kept_ids
    findings = []
    for i, record in enumerate(images):
        if record.id in kept or not (flagged[i] or predicted[i] != y[i]):
            continue
        suggested = labels[predicted[i]] if predicted[i] != y[i] else None
        if flagged[i]:
            kind = "label_error"
            reason = f"confident learning flags the label: the data says {suggested or 'another label'}"
        else:
            kind = "possible_label_error"
            reason = f"a model that never saw this image predicts {suggested}"
        reason += f" ({probabilities[i, predicted[i]]:.0%}), not {record.label} ({given[i]:.0%})"
        findings.append(Finding(kind, record.id, record.path, record.label, float(1 - given[i]), reason, suggested))
    return findings, probabilities


def _outlier_findings(dataset, features, *, neighbors, threshold):
    from keras_cvcls.curation.outliers import class_outlier_scores

    z, distance = class_outlier_scores(features, dataset.label_ids, neighbors=neighbors)
    findings = []
    for i, record in enumerate(dataset.images):
        if z[i] >= threshold:
            findings.append(Finding("outlier", record.id, record.path, record.label, float(z[i]), (
                f"unlike the rest of {record.label!r}: its nearest images of that label are {distance[i]:.2f} away "
                f"(cosine distance), {z[i]:.1f} spreads above the label's typical image"
            )))
    return findings


def _duplicate_findings(dataset, test, features, test_features, *, similarity, hash_distance):
    from keras_cvcls.curation.near_duplicates import image_hashes, near_duplicate_pairs

    hashes = image_hashes(dataset)
    use_features = similarity is not None
    images = dataset.images
    if test is None:
        pairs = near_duplicate_pairs(hashes, first_features=features if use_features else None,
                                     similarity=similarity, hash_distance=hash_distance)
        other_images, split, where = images, "train", "of this dataset: a random split can put them on both sides"
    else:
        pairs = near_duplicate_pairs(
            image_hashes(test), hashes, first_features=test_features if use_features else None,
            second_features=features if use_features else None, similarity=similarity, hash_distance=hash_distance,
        )
        pairs = [dataclasses.replace(p, first=p.second, second=p.first) for p in pairs]  # (train, test)
        other_images, split, where = test.images, "test", "on the training side: a leak that inflates test accuracy"
    findings = []
    for p in pairs:
        a, b = images[p.first], other_images[p.second]
        shown, other = (b, a) if test is not None else (a, b)
        evidence = []
        if not np.isnan(p.similarity):
            evidence.append(f"feature similarity {p.similarity:.3f}")
        if p.hash_distance >= 0:
            evidence.append(f"image hashes {p.hash_distance} of 64 bits apart")
        score = p.similarity if not np.isnan(p.similarity) else 1.0 - p.hash_distance / 64
        findings.append(Finding(
            "duplicate", shown.id, shown.path, shown.label, float(score),
            f"near-duplicate of {other.id} ({other.label}) {where} ({', '.join(evidence)})",
            split=split, other_id=other.id, other_path=other.path,
        ))
    return findings


def find_issues(
    dataset, *, test=None, backbone=DEFAULT_BACKBONE, image_size=None, features=None, test_features=None,
    cv_folds=DEFAULT_CV_FOLDS, duplicate_similarity=DEFAULT_SIMILARITY, duplicate_hash_distance=DEFAULT_HASH_DISTANCE,
    outlier_threshold=DEFAULT_THRESHOLD, outlier_neighbors=DEFAULT_NEIGHBORS, min_images_per_label=DEFAULT_MIN_IMAGES,
    imbalance_ratio=DEFAULT_IMBALANCE, seed=0, cache=True, batch_size=32,
):
    """Finds likely label errors, near-duplicates across the split, outliers and class-balance problems.

    * **Label errors**: out-of-fold probabilities of a logistic regression on frozen pretrained
      features (``cv_folds``-fold cross-validation), given to cleanlab's confident learning
      (:func:`cleanlab.filter.find_label_issues`). Its flags are ``"label_error"`` findings;
      images whose out-of-fold prediction disagrees with the label but that cleanlab does not
      flag are ``"possible_label_error"``. Each carries the suggested label and a score (one
      minus the probability of the given label). Images whose label a person kept in the
      review (:meth:`~keras_cvcls.data.ClassificationDataset.keep_label`) are not reported.
    * **Near-duplicates**: pairs whose features have a cosine similarity of at least
      ``duplicate_similarity``, or whose difference hashes are at most
      ``duplicate_hash_distance`` bits apart. With ``test``, test images that duplicate a
      training image (a leak); without, pairs within ``dataset``.
    * **Outliers**: images whose distance to their nearest same-label images lies
      ``outlier_threshold`` robust spreads above their label's median
      (:mod:`keras_cvcls.curation.outliers`).
    * **Warnings**: labels with fewer than ``min_images_per_label`` images, labels
      ``imbalance_ratio`` times smaller than the largest, labels missing from ``test``.

    Args:
        dataset: the labelled :class:`~keras_cvcls.data.ClassificationDataset` to check (the
            training data).
        test: the test side (a ``ClassificationDataset``), checked for leaks; or None.
        backbone: pretrained backbone for the features (ImageNet weights, offline for the default).
        image_size: its input size (default: the backbone's transfer size).
        features: precomputed ``[len(dataset), D]`` features (default: :func:`dataset_features`, cached).
        test_features: the same for ``test``.
        cv_folds: cross-validation folds for the out-of-fold probabilities.
        duplicate_similarity: feature similarity threshold (None: hashes only).
        duplicate_hash_distance: hash distance threshold (None: features only).
        outlier_threshold: robust z-score above which an image is an outlier.
        outlier_neighbors: same-label neighbours that measure an image's distance to its label.
        min_images_per_label: fewer images than this gives a warning.
        imbalance_ratio: a label this many times smaller than the largest gives a warning.
        seed: cross-validation seed (the result is deterministic for a seed).
        cache: keep features in ``ROOT/.keras_cvcls/features/``.
        batch_size: images per forward pass when extracting features.

    Returns:
        A :class:`DatasetIssues`.

    Raises:
        ValueError: for an unlabelled dataset, fewer than two labels with two images,
            features of the wrong shape, or an option out of range.

    Example:
        >>> train = ClassificationDataset.from_directory("photos/train")
        >>> test = ClassificationDataset.from_directory("photos/val")
        >>> issues = find_issues(train, test=test)
        >>> for f in issues.findings[:5]:
        ...     print(f.kind, f.id, f.suggested_label, f.reason)
    """
    from keras_cvcls.curation.features import dataset_features
    from keras_cvcls.data.classification_dataset import ClassificationDataset

    for name, value in (("dataset", dataset), ("test", test)):
        if value is not None and not isinstance(value, ClassificationDataset):
            raise ValueError(f"{name} must be a ClassificationDataset. Received: {name}={value!r}")
    dataset.check_labeled("Finding dataset issues")
    if test is not None:
        test.check_labeled("Checking the test side")
        if set(test.labels) - set(dataset.labels):
            raise ValueError(
                "The test side has labels the dataset does not. Received: "
                f"test labels not in the dataset={sorted(set(test.labels) - set(dataset.labels))!r}"
            )
    if isinstance(cv_folds, bool) or not isinstance(cv_folds, int) or cv_folds < 2:
        raise ValueError(f"cv_folds must be an int of at least 2. Received: cv_folds={cv_folds!r}")
    if duplicate_similarity is not None:
        _check_fraction("duplicate_similarity", duplicate_similarity, 0, 1)
    if duplicate_hash_distance is not None:
        _check_fraction("duplicate_hash_distance", duplicate_hash_distance, 0, 64)
    _check_fraction("outlier_threshold", outlier_threshold, 0, float("inf"))
    _check_fraction("imbalance_ratio", imbalance_ratio, 1, float("inf"))

    def features_of(data, given, name):
        if given is None:
            return dataset_features(data, backbone=backbone, image_size=image_size, cache=cache, batch_size=batch_size)
        given = np.asarray(given, dtype=np.float32)
        if given.ndim != 2 or len(given) != len(data):
            raise ValueError(f"{name} must have one row per image ({len(data)}). Received: {name} with shape {given.shape}")
        return given

    x = features_of(dataset, features, "features")
    x_test = features_of(test, test_features, "test_features") if test is not None else None
    labels_found, probabilities = _label_findings(dataset, x, cv_folds=cv_folds, seed=seed)
    findings = [
        *labels_found,
        *_duplicate_findings(dataset, test, x, x_test, similarity=duplicate_similarity,
                             hash_distance=duplicate_hash_distance),
        *_outlier_findings(dataset, x, neighbors=outlier_neighbors, threshold=outlier_threshold),
    ]
    counts = dataset.counts()
    test_counts = {label: test.counts().get(label, 0) for label in dataset.labels} if test is not None else None
    warnings = _balance_warnings(counts, test_counts, min_images=min_images_per_label, imbalance=imbalance_ratio)
    return DatasetIssues(
        findings, warnings, labels=dataset.labels, counts=counts, num_images=len(dataset),
        num_test_images=len(test) if test is not None else 0, probabilities=probabilities,
    )

"""``MultiLabelDataset``: images that each hold a set of labels (a shelf with a can and a carton)."""

import dataclasses
import os

import numpy as np

from keras_cvcls.data.classification_dataset import ClassificationDataset, _csv_rows
from keras_cvcls.data.file_names import name_problem, printable
from keras_cvcls.data.image_check import DEFAULT_MAX_PIXELS
from keras_cvcls.data.iterative_split import iterative_split_indices
from keras_cvcls.data.label_fixes import SIDECAR_DIRNAME, SIDECAR_FILENAME, LabelFixes

# computervision-recipes' multi-label labels.csv: "filename,labels" with labels separated by spaces.
DEFAULT_SEPARATOR = " "


def _label_set(labels, separator):
    """A sorted tuple of unique label names from a list/tuple/set or a ``separator``-joined string."""
    if isinstance(labels, str):
        names = labels.split(separator) if separator else [labels]
    elif isinstance(labels, (list, tuple, set, frozenset)):
        names = [str(x) for x in labels]
    else:
        raise ValueError(
            "labels must be a list of label names or a string of names joined by the separator. "
            f"Received: labels={labels!r}"
        )
    return tuple(sorted({name.strip() for name in names if name.strip()}))


class MultiLabelDataset(ClassificationDataset):
    """A labelled set of images, each with a *set* of labels; checked when created, like its parent.

    Everything of :class:`ClassificationDataset` holds (validation of every file, ``skipped``,
    ``strict``, label fixes kept in a sidecar, ``subset``/``without``), except that an image's
    ``label`` is a sorted tuple of label names and the pipeline yields float32 multi-hot
    labels ``[B, C]`` (``label_matrix``) for a sigmoid head.

    Create one with :meth:`from_csv` (computervision-recipes' ``labels.csv``: a path column and
    a labels column whose names are joined by ``separator``, a space by default) or
    :meth:`from_list`. There is no folder layout: one subfolder per label would need the same
    photo copied into several folders; ``from_directory`` raises and says to use a CSV.

    Attributes:
        labels: the label names, sorted; column ``i`` of :attr:`label_matrix` is ``labels[i]``.
        multi_label: True.

    Example:
        >>> ds = MultiLabelDataset.from_csv("shelves/labels.csv")   # path,labels / a.jpg,can carton
        >>> train, test = ds.split(train_size=0.66, seed=0)          # iterative stratification
        >>> ds.summary()["co_occurrence"]["can"]["carton"]
        12
    """

    multi_label = True

    def __init__(self, records, labels=None, *, name=None, root=None, skipped=(), fixes=None):
        records = list(records)
        fixes = fixes if fixes is not None else LabelFixes()
        if labels is None:
            names = {name for r in records for name in (r.original_label or ())}
            names |= {name for fix in fixes.relabeled.values() for name in fix}
            labels = sorted(names)
        super().__init__(records, labels, name=name, root=root, skipped=skipped, fixes=fixes)

    # ----------------------------------------------------------------- creation
    @classmethod
    def from_directory(cls, root, **kwargs):
        """Not available: a folder per label cannot hold an image with several labels.

        Raises:
            ValueError: always, naming :meth:`from_csv`.
        """
        raise ValueError(
            "A multi-label dataset has no folder layout (a photo with two labels would need two copies). "
            "List the images and their labels in a CSV (path,labels with labels separated by spaces) and "
            f"use MultiLabelDataset.from_csv. Received: root={root!r}"
        )

    @classmethod
    def from_list(
        cls, items, *, separator=DEFAULT_SEPARATOR, name=None, root=None, sidecar=None, strict=False,
        max_pixels=DEFAULT_MAX_PIXELS, progress=None,
    ):
        """Creates a dataset from ``(path, labels)`` pairs.

        Args:
            items: iterable of ``(path, labels)``; ``labels`` is a list of names or a string of
                names joined by ``separator``. An image needs at least one label (one without
                is skipped, with the reason). Relative paths are resolved against ``root``.
            separator: what joins label names in a string (default a space).
            name, root, sidecar, strict, max_pixels, progress: as in
                :meth:`ClassificationDataset.from_list`.

        Raises:
            ValueError: for an item that is not a pair, or no usable image.

        Example:
            >>> ds = MultiLabelDataset.from_list([("a.jpg", ["can", "carton"]), ("b.jpg", "can")])
            >>> ds.labels
            ['can', 'carton']
        """
        if not isinstance(separator, str) or not separator or separator in "\r\n":
            raise ValueError(f"separator must be a non-empty string, not a line break. Received: separator={separator!r}")
        def check_labels(labels):
            labels = _label_set(labels, separator)
            bad = next((label for label in labels if name_problem(label)), None)
            if not labels:
                return labels, "no label (a multi-label image needs at least one)"
            if bad is not None:
                return labels, f"its label {printable(bad)} {name_problem(bad)}: fix the label"
            return labels, None

        return cls._from_pairs(
            items, check_labels, "(path, labels)", name=name, root=root, sidecar=sidecar, strict=strict,
            max_pixels=max_pixels, progress=progress,
        )

    @classmethod
    def from_csv(cls, csv_path, *, path_column="path", label_column="labels", separator=DEFAULT_SEPARATOR, root=None,
                 **kwargs):
        """Creates a dataset from a CSV of image paths and label sets (computervision-recipes' ``labels.csv``).

        The file has a header naming ``path_column`` and ``label_column`` (``filename`` is
        accepted for the path, computervision-recipes' name), or no header and two columns.
        The labels cell holds the label names joined by ``separator`` (a space by default:
        ``shelf1.jpg,can carton``; with ``separator=";"``: ``shelf1.jpg,can;carton``).
        Relative paths are resolved against ``root`` (default: the CSV's folder); label fixes
        go to ``CSV_DIR/.keras_cvcls/CSV_NAME.label-fixes.json``.

        Raises:
            ValueError: for a missing or empty file, or a header without the columns.
        """
        rows = _csv_rows(csv_path)
        header = [cell.strip() for cell in rows[0]]
        path_names = (path_column, "filename") if path_column == "path" else (path_column,)
        path_name = next((n for n in path_names if n in header), None)
        if path_name is not None and label_column in header:
            p, l = header.index(path_name), header.index(label_column)
            rows = rows[1:]
        elif len(header) == 2 and not any(h in ("path", "filename", "label", "labels") for h in header):
            p, l = 0, 1
        else:
            raise ValueError(
                f"The CSV needs a header with {path_column!r} and {label_column!r} columns, or two columns "
                f"(path, labels) and no header. Received: header={header!r}"
            )
        items = [(row[p].strip(), row[l] if len(row) > l else "") for row in rows]
        csv_dir = os.path.dirname(os.path.abspath(csv_path))
        sidecar = os.path.join(
            csv_dir, SIDECAR_DIRNAME, os.path.basename(csv_path) + "." + SIDECAR_FILENAME.replace("_", "-")
        )
        kwargs.setdefault("name", os.path.splitext(os.path.basename(csv_path))[0])
        return cls.from_list(items, separator=separator, root=root or csv_dir, sidecar=sidecar, **kwargs)

    # ------------------------------------------------------------------ access
    def _fixed(self, record):
        labels = self._fixes.relabeled.get(record.id)
        return dataclasses.replace(record, label=tuple(labels) if labels is not None else record.original_label)

    @property
    def images(self):
        """Usable images after label fixes (excluded images left out); ``label`` is a tuple of names."""
        if self._images is None:
            self._images = [self._fixed(r) for r in self._records if r.id not in self._fixes.excluded]
        return self._images

    @property
    def excluded(self):
        """Images excluded by a label fix (with their fixed labels, should they come back)."""
        return [self._fixed(r) for r in self._records if r.id in self._fixes.excluded]

    @property
    def label_ids(self):
        """Not defined for multi-label data: use :attr:`label_matrix`.

        Raises:
            ValueError: always.
        """
        raise ValueError(
            "A multi-label dataset has a set of labels per image, not one label id: use label_matrix "
            f"(multi-hot [N, C]). Received: dataset={self!r}"
        )

    @property
    def label_matrix(self):
        """Multi-hot labels, an int32 array ``[N, C]``: ``label_matrix[i, j] == 1`` when image ``i`` has ``labels[j]``."""
        index = {label: j for j, label in enumerate(self.labels)}
        matrix = np.zeros((len(self.images), len(self.labels)), np.int32)
        for i, r in enumerate(self.images):
            matrix[i, [index[label] for label in r.label]] = 1
        return matrix

    def counts(self):
        """Number of images holding each label, in label order."""
        return dict(zip(self.labels, (int(c) for c in self.label_matrix.sum(axis=0)), strict=True))

    def co_occurrence(self):
        """``{a: {b: images holding both a and b}}``; the diagonal is :meth:`counts`."""
        y = self.label_matrix
        both = y.T @ y
        return {a: {b: int(both[i, j]) for j, b in enumerate(self.labels)} for i, a in enumerate(self.labels)}

    def summary(self):
        """Per-label counts, label co-occurrence, label-set sizes and skipped files, as a JSON-serialisable dict.

        Returns:
            ``ClassificationDataset.summary()``'s keys plus ``"multi_label": True``,
            ``"co_occurrence": {a: {b: int}}`` and ``"labels_per_image": {n: images with n labels}``.
        """
        sizes = {}
        for r in self.images:
            sizes[len(r.label)] = sizes.get(len(r.label), 0) + 1
        return {
            **super().summary(),
            "multi_label": True,
            "co_occurrence": self.co_occurrence(),
            "labels_per_image": {str(k): v for k, v in sorted(sizes.items())},
        }

    def print_info(self):
        """Prints counts per label, the co-occurrence table and skipped files."""
        print(format_multi_label_summary(self.summary(), name=self.name))

    # ------------------------------------------------------------------ splits
    def split(self, train_size=0.66, *, stratify=True, seed=None):
        """Splits into ``(train, test)`` by iterative stratification (Sechidis et al., 2011).

        Deterministic for a seed. Each label keeps about its proportion on both sides, and a
        label with at least two images is on both sides (see
        :func:`~keras_cvcls.data.iterative_split.iterative_split_indices`). ``stratify=False``
        splits at random.
        """
        images = self.images
        if stratify:
            train_idx, test_idx = iterative_split_indices(self.label_matrix, train_size, seed=seed)
        else:
            from keras_cvcls.data.split import stratified_split_indices

            train_idx, test_idx = stratified_split_indices([0] * len(images), train_size, stratify=False, seed=seed)
        return self.subset([images[i].id for i in train_idx], "train"), self.subset(
            [images[i].id for i in test_idx], "test"
        )

    def with_labels(self, labels):
        """The same images with another label order (e.g. a trained model's ``labels``)."""
        labels = list(labels)
        unknown = sorted({name for r in self.images for name in r.label} - set(labels))
        if unknown:
            raise ValueError(f"The dataset has labels that are not in labels. Received: unknown labels={unknown!r}")
        return self._derived(self._records, labels, name=self.name, skipped=self.skipped)

    # -------------------------------------------------------------- label fixes
    def relabel(self, image, labels):
        """Gives an image another set of labels; saved to the sidecar and re-applied on load.

        Args:
            image: an :class:`ImageRecord`, an image id, or a path.
            labels: a list of names from :attr:`labels` (at least one), or one name.
        """
        labels = _label_set([labels] if isinstance(labels, str) else labels, None)
        unknown = [label for label in labels if label not in self.labels]
        if not labels or unknown:
            raise ValueError(
                f"labels must be one or more of {self.labels}. Received: labels={list(labels)!r}"
            )
        record = self._find(image)
        self._fixes.relabel(record.id, list(labels), list(record.original_label))
        self._images = None

    def toggle_label(self, image, label):
        """Adds ``label`` to an image's labels, or removes it when present; saved to the sidecar.

        Returns:
            The image's labels after the change, a tuple.

        Raises:
            ValueError: for an unknown label, or removing an image's last label.
        """
        if label not in self.labels:
            raise ValueError(f"Unknown label. Expected one of {self.labels}. Received: label={label!r}")
        current = set(self._fixed(self._find(image)).label)
        current ^= {label}
        if not current:
            raise ValueError(
                f"An image needs at least one label; exclude it instead. Received: removing its last label={label!r}"
            )
        self.relabel(image, sorted(current))
        return tuple(sorted(current))


def format_multi_label_summary(summary, name=None):
    """Human-readable text for :meth:`MultiLabelDataset.summary`: counts, co-occurrence, skipped files."""
    from keras_cvcls.data.classification_dataset import format_summary

    text = format_summary(summary, name=name)
    labels = summary["labels"]
    width = max([len(label) for label in labels] + [5])
    lines = ["Label co-occurrence (images holding both):", " " * (width + 2) + "  ".join(f"{b:>{width}}" for b in labels)]
    for a in labels:
        lines.append(f"  {a:<{width}}" + "  ".join(f"{summary['co_occurrence'][a][b]:>{width}}" for b in labels))
    lines.append("Labels per image: " + ", ".join(f"{k}: {v}" for k, v in summary["labels_per_image"].items()))
    head, _, skipped = text.partition("\nSkipped ")
    return "\n".join([head, *lines]) + (f"\nSkipped {skipped}" if skipped else "")

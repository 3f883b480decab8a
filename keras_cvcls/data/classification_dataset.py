"""Image-classification datasets: folders of class subfolders, CSV files and lists, and
unlabelled sets of new photos to score."""

import concurrent.futures
import csv
import dataclasses
import os

from keras_cvcls.data.check_cache import CHECK_CACHE_FILENAME, CheckCache, content_digest
from keras_cvcls.data.file_names import name_problem, printable
from keras_cvcls.data.image_check import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, BadImageError, ImageInfo
from keras_cvcls.data.image_check import check_image, is_hidden
from keras_cvcls.data.label_fixes import SIDECAR_DIRNAME, SIDECAR_FILENAME, LabelFixes
from keras_cvcls.data.links import outside_link_reason, outside_target
from keras_cvcls.data.split import stratified_split_indices
from keras_cvcls.progress import progress_bar


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """One usable image of a dataset.

    Attributes:
        id: stable id: the path relative to the dataset root, with ``/`` separators
            (for list datasets, the path as given). Label fixes are keyed by it.
        name: file name.
        label: label after label fixes; None in an unlabelled dataset.
        path: absolute path of the file.
        orientation: EXIF orientation (1 = upright); applied when decoding.
        width: stored width in pixels.
        height: stored height in pixels.
        original_label: the label from the folder, CSV or list, before fixes (None: unlabelled).
        format: the file's image format as Pillow names it ("JPEG", "PNG", ...).
    """

    id: str
    name: str
    label: str
    path: str
    orientation: int = 1
    width: int = 0
    height: int = 0
    original_label: str = ""
    format: str = ""


@dataclasses.dataclass(frozen=True)
class SkippedFile:
    """A file (or folder) left out of a dataset, with the reason."""

    path: str
    reason: str
    error: bool = True  # False for files that are simply not data (hidden files)


class ImageValidationError(ValueError):
    """Raised by ``strict=True`` dataset creation (and by training on files that went bad); lists every bad file.

    Args:
        skipped: the :class:`SkippedFile` s.
        remedy: what to do, ending the message (default: fix or remove them, or skip them
            with ``strict=False``).
    """

    def __init__(self, skipped, remedy="Fix or remove them, or create the dataset with strict=False to skip them."):
        self.skipped = list(skipped)
        lines = "\n".join(f"  {printable(s.path)}: {s.reason}" for s in self.skipped)
        super().__init__(f"{len(self.skipped)} file(s) cannot be used as images:\n{lines}\n{remedy}")



def _csv_rows(csv_path):
    """The non-blank rows of a CSV file (a BOM dropped); ValueError for a missing or empty file."""
    if not os.path.isfile(csv_path):
        raise ValueError(f"CSV file not found. Received: csv_path={csv_path!r}")
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"The CSV file is empty. Received: csv_path={csv_path!r}")
    return rows

def _check_all(entries, *, max_pixels, cache_path, progress, recheck=False):
    """Checks ``(id, path, label)`` entries in parallel; returns records and skipped files.

    Results are reused from the check cache while a file's content digest is unchanged,
    unless ``recheck`` (then every file is decoded again and the cache updated).
    """
    cache = CheckCache(cache_path, max_pixels)

    def check(entry):
        key, path, _ = entry
        try:
            digest = content_digest(path)
        except OSError:
            digest = None  # the check says why the file cannot be read
        cached = cache.get(key, digest) if digest and not recheck else None
        if cached:
            return (ImageInfo(**cached["info"]), None) if cached["info"] else (None, cached["reason"])
        try:
            info, reason = check_image(path, max_pixels=max_pixels), None
        except BadImageError as e:
            info, reason = None, str(e)
        if digest:
            cache.put(key, digest, info, reason)
        return info, reason

    records, skipped = [], []
    workers = min(8, 2 * (os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool, progress_bar(
        len(entries), "Checking images", unit="img", enabled=progress, min_total=200
    ) as bar:
        for (key, path, label), (info, reason) in zip(entries, pool.map(check, entries)):
            bar.update(1)
            if info is None:
                skipped.append(SkippedFile(path, reason))
            else:
                records.append(
                    ImageRecord(
                        key, os.path.basename(path), label, path, info.orientation, info.width, info.height, label, info.format
                    )
                )
    cache.save()
    return records, skipped


def _unsafe_name(path, what):
    """A :class:`SkippedFile` for a file or folder whose name cannot be used, or None."""
    problem = name_problem(os.path.basename(path))
    return SkippedFile(path, f"its {what} {problem}: rename it") if problem else None


def _image_files(folder, real_root):
    """Image files below ``folder`` (sorted, hidden ones and the sidecar left out) and skipped files.

    Links to folders are not walked (os.walk's default: no loops); those leading outside
    ``real_root`` (the dataset folder's real path), files too, are skipped as errors. Names
    with control characters or bytes that are not UTF-8 are skipped with "rename it".
    """
    paths, skipped = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        walked = []
        for d in sorted(dirnames):
            path = os.path.join(dirpath, d)
            unsafe = _unsafe_name(path, "folder name")
            if is_hidden(d):
                if d != SIDECAR_DIRNAME:
                    skipped.append(SkippedFile(path, "hidden file or folder (ignored)", error=False))
            elif unsafe:
                skipped.append(unsafe)
            elif not os.path.islink(path):
                walked.append(d)
            elif outside_target(path, real_root) is not None:
                skipped.append(SkippedFile(path, outside_link_reason(os.path.realpath(path), "folder")))
            else:
                skipped.append(SkippedFile(path, "symbolic link to a folder of the dataset: not followed", error=False))
        dirnames[:] = walked
        for filename in sorted(filenames):
            path = os.path.join(dirpath, filename)
            unsafe = _unsafe_name(path, "file name")
            target = outside_target(path, real_root)
            if is_hidden(filename):
                skipped.append(SkippedFile(path, "hidden file or folder (ignored)", error=False))
            elif unsafe:
                skipped.append(unsafe)
            elif target is not None:
                skipped.append(SkippedFile(path, outside_link_reason(target)))
            elif os.path.splitext(filename)[1].lower() not in IMAGE_EXTENSIONS:
                ext = os.path.splitext(filename)[1] or "no extension"
                skipped.append(SkippedFile(path, f"not an image file ({ext})"))
            else:
                paths.append(path)
    return paths, skipped


class ClassificationDataset:
    """A labelled set of images, checked when created (or an unlabelled one, to score).

    Create one with :meth:`from_directory` (one subfolder per label),
    :meth:`from_csv` or :meth:`from_list`; for new photos without labels, with
    :meth:`from_files` or ``from_directory(root, labeled=False)``: such a dataset
    can be scored (``make_pipeline`` then yields images only, ``predict_scores``
    works) and raises a ``ValueError`` wherever labels are needed (training,
    evaluation, :attr:`label_ids`). Every file is checked when the dataset
    is created: corrupt, truncated, empty, non-image, unsupported and oversized
    files are left out and listed in :attr:`skipped` with a reason (or, with
    ``strict=True``, raise one :class:`ImageValidationError` listing them all).

    Attributes:
        name: the dataset's name.
        labels: label names in sorted order; integer label ids index this list
            (empty for an unlabelled dataset).
        labeled: False for an unlabelled dataset (:meth:`from_files`).
        images: the usable :class:`ImageRecord` s, after label fixes.
        skipped: :class:`SkippedFile` s left out, with reasons.
        root: the folder the dataset was read from, if any.

    Example:
        >>> ds = ClassificationDataset.from_directory("photos/")
        >>> train, test = ds.split(train_size=0.66, seed=0)
        >>> ds.relabel(ds.images[0], "dog")  # saved beside the data
    """

    multi_label = False  # one label per image (MultiLabelDataset: a set of labels per image)

    def __init__(self, records, labels=None, *, name=None, root=None, skipped=(), fixes=None):
        self.name = name or (os.path.basename(os.path.normpath(root)) if root else "dataset")
        self.root = root
        self._records = list(records)
        self.skipped = list(skipped)
        self._fixes = fixes if fixes is not None else LabelFixes()
        unlabeled = sum(r.original_label is None for r in self._records)
        if unlabeled not in (0, len(self._records)):
            raise ValueError(
                "A dataset's images must all have labels, or none (an unlabelled dataset, for scoring). "
                f"Received: {unlabeled} of {len(self._records)} images without a label"
            )
        self.labeled = not unlabeled
        if labels is None and self.labeled:
            labels = sorted({r.original_label for r in self._records} | set(self._fixes.relabeled.values()))
        self.labels = list(labels or [])
        self._images = None
        self._checks = (None, DEFAULT_MAX_PIXELS)  # (check cache file, max_pixels), for recheck()

    # ----------------------------------------------------------------- creation
    @classmethod
    def from_directory(
        cls, root, *, labeled=True, name=None, strict=False, max_pixels=DEFAULT_MAX_PIXELS, progress=None
    ):
        """Reads a folder with one subfolder per label (or, unlabelled, any folder of photos).

        Images may sit in nested folders below their label folder. Hidden files
        and folders are skipped. Label fixes saved beside the data (in
        ``ROOT/.keras_cvcls/label_fixes.json``) are re-applied.

        Symbolic links: a linked file or label folder whose target lies inside
        ``root`` is used as any other; one leading outside ``root`` is not followed,
        and is listed in :attr:`skipped` with its target (see :mod:`keras_cvcls.data.links`).
        Links to folders below a label folder are not followed (listed too).

        Args:
            root: the folder.
            labeled: False to read every image below ``root``, in any folder, as an
                unlabelled dataset (see :meth:`from_files`), e.g. new photos to score.
            name: dataset name (default: the folder's name).
            strict: raise :class:`ImageValidationError` if any file is bad.
            max_pixels: largest width x height accepted (decompression-bomb guard).
            progress: show a progress bar (None: only on a terminal, for large folders).

        Raises:
            ValueError: if ``root`` is not a folder or holds no usable image.
            ImageValidationError: with ``strict=True``, listing every bad file.
        """
        if not isinstance(root, (str, os.PathLike)) or not os.path.isdir(root):
            raise ValueError(
                "root must be an existing folder with one subfolder per label (any folder of images with "
                f"labeled=False). Received: root={os.fspath(root) if isinstance(root, os.PathLike) else root!r}"
            )
        root = os.path.abspath(os.fspath(root))
        real_root = os.path.realpath(root)
        sidecar_dir = os.path.join(root, SIDECAR_DIRNAME)
        if not labeled:
            paths, skipped = _image_files(root, real_root)
            return cls._unlabeled(
                paths, skipped, name=name, root=root, cache_path=os.path.join(sidecar_dir, CHECK_CACHE_FILENAME),
                strict=strict, max_pixels=max_pixels, progress=progress,
            )
        entries, skipped, label_dirs = [], [], {}
        for entry in sorted(os.scandir(root), key=lambda e: e.name):
            if entry.name == SIDECAR_DIRNAME:
                continue
            if is_hidden(entry.name):
                skipped.append(SkippedFile(entry.path, "hidden file or folder (ignored)", error=False))
            elif entry.is_dir() and name_problem(entry.name):
                skipped.append(_unsafe_name(entry.path, "label folder name"))
            elif entry.is_dir() and outside_target(entry.path, real_root) is not None:
                reason = outside_link_reason(os.path.realpath(entry.path), "label folder")
                skipped.append(SkippedFile(entry.path, reason))
            elif entry.is_dir():
                label_dirs[entry.name] = entry.path
            else:
                skipped.append(SkippedFile(entry.path, "not inside a label folder (put images in ROOT/LABEL/)"))
        for label, label_dir in label_dirs.items():
            paths, bad = _image_files(label_dir, real_root)
            skipped.extend(bad)
            entries.extend((os.path.relpath(path, root).replace(os.sep, "/"), path, label) for path in paths)
        cache_path = os.path.join(sidecar_dir, CHECK_CACHE_FILENAME)
        records, bad = _check_all(entries, max_pixels=max_pixels, cache_path=cache_path, progress=progress)
        skipped.extend(bad)
        present = {r.original_label for r in records}
        for label, label_dir in label_dirs.items():
            if label not in present:
                skipped.append(SkippedFile(label_dir, "label folder has no usable images; the label is left out"))
        fixes = LabelFixes(os.path.join(sidecar_dir, SIDECAR_FILENAME))
        return cls._finish(records, skipped, fixes, name=name, root=root, strict=strict, checks=(cache_path, max_pixels))

    @classmethod
    def create_from_dir(cls, dataset_name, root, **kwargs):
        """cvtk's spelling of :meth:`from_directory`."""
        return cls.from_directory(root, name=dataset_name, **kwargs)

    @classmethod
    def from_list(cls, items, *, name=None, root=None, sidecar=None, strict=False, max_pixels=DEFAULT_MAX_PIXELS, progress=None):
        """Creates a dataset from ``(path, label)`` pairs.

        Args:
            items: iterable of ``(path, label)``. Relative paths are resolved against ``root``
                (default: the working directory); an image's id is the path as given.
            name: dataset name.
            root: folder relative paths are resolved against.
            sidecar: JSON file for label fixes (default: fixes are kept in memory only).
            strict, max_pixels, progress: as in :meth:`from_directory`.
        """
        def check_label(label):
            label = str(label).strip()
            if not label:
                return label, "empty label"
            if name_problem(label):
                return label, f"its label {printable(label)} {name_problem(label)}: fix the label"
            return label, None

        return cls._from_pairs(
            items, check_label, "(path, label)", name=name, root=root, sidecar=sidecar, strict=strict,
            max_pixels=max_pixels, progress=progress,
        )

    @classmethod
    def _from_pairs(cls, items, check_label, pair, *, name, root, sidecar, strict, max_pixels, progress):
        """``from_list``'s work for one label or a label set: ``check_label(value)`` returns ``(label, problem)``."""
        base = os.path.abspath(os.fspath(root)) if root else os.getcwd()
        entries, skipped = [], []
        for i, item in enumerate(items):
            try:
                path, label = item
            except (TypeError, ValueError):
                raise ValueError(f"items must be {pair} pairs. Received: item {i}={item!r}") from None
            label, problem = check_label(label)
            path = os.fspath(path)
            full = path if os.path.isabs(path) else os.path.join(base, path)
            if problem:
                skipped.append(SkippedFile(full, problem))
            elif name_problem(path):
                skipped.append(SkippedFile(full, f"its path {name_problem(path)}: rename it"))
            elif not os.path.isfile(full):
                skipped.append(SkippedFile(full, "file not found"))
            else:
                entries.append((path.replace(os.sep, "/"), os.path.abspath(full), label))
        cache = os.path.join(os.path.dirname(os.path.abspath(sidecar)), CHECK_CACHE_FILENAME) if sidecar else None
        records, bad = _check_all(entries, max_pixels=max_pixels, cache_path=cache, progress=progress)
        return cls._finish(
            records, skipped + bad, LabelFixes(sidecar), name=name, root=root, strict=strict, checks=(cache, max_pixels)
        )

    @classmethod
    def from_files(cls, paths, *, name=None, root=None, strict=False, max_pixels=DEFAULT_MAX_PIXELS, progress=None):
        """Creates an unlabelled dataset of image files: new photos to score.

        The files are checked as in :meth:`from_directory`. The dataset has no
        labels (``labels == []``, ``labeled`` False): ``make_pipeline`` yields
        image batches only, ``ImageClassifier.predict_scores`` and
        ``ScikitClassifier.predict_scores`` score it, and training, evaluation
        and :attr:`label_ids` raise a ``ValueError`` saying labels are needed.

        Args:
            paths: iterable of image file paths. Relative paths are resolved against
                ``root`` (default: the working directory); an image's id is the path as given.
            name: dataset name (default: ``"unlabeled"``).
            root: folder relative paths are resolved against.
            strict, max_pixels, progress: as in :meth:`from_directory`.

        Raises:
            ValueError: if ``paths`` is a single path rather than a list, or no file is usable.

        Example:
            >>> new = ClassificationDataset.from_files(["new/1.jpg", "new/2.jpg"])
            >>> model.predict_scores(new).shape
            (2, 3)
        """
        if isinstance(paths, (str, bytes, os.PathLike)):
            raise ValueError(
                "paths must be a list of image files; for a folder use "
                f"ClassificationDataset.from_directory(folder, labeled=False). Received: paths={paths!r}"
            )
        base = os.path.abspath(os.fspath(root)) if root else os.getcwd()
        ids = [os.fspath(p) for p in paths]
        return cls._unlabeled(
            [os.path.join(base, p) for p in ids], [], name=name, root=root, ids=ids, strict=strict,
            max_pixels=max_pixels, progress=progress,
        )

    @classmethod
    def _unlabeled(cls, paths, skipped, *, name, root, ids=None, cache_path=None, **options):
        """An unlabelled dataset of ``paths`` (ids: the paths as given, or relative to ``root``)."""
        strict = options.pop("strict")
        ids = ids or [os.path.relpath(p, root) for p in paths]
        entries, skipped = [], list(skipped)
        for key, path in zip(ids, paths, strict=True):
            if name_problem(key):
                skipped.append(SkippedFile(path, f"its path {name_problem(key)}: rename it"))
            elif os.path.isfile(path):
                entries.append((key.replace(os.sep, "/"), os.path.abspath(path), None))
            else:
                skipped.append(SkippedFile(path, "file not found"))
        records, bad = _check_all(entries, cache_path=cache_path, **options)
        name = name or (os.path.basename(os.path.normpath(root)) if root else "unlabeled")
        return cls._finish(
            records, skipped + bad, LabelFixes(), name=name, root=root, strict=strict,
            checks=(cache_path, options["max_pixels"]),
        )

    @classmethod
    def from_csv(cls, csv_path, *, path_column="path", label_column="label", root=None, **kwargs):
        """Creates a dataset from a CSV file of image paths and labels.

        The file has a header row naming ``path_column`` and ``label_column``, or
        no header and two columns (path, label). Relative paths are resolved
        against ``root`` (default: the CSV file's folder). Label fixes go to
        ``CSV_DIR/.keras_cvcls/CSV_NAME.label_fixes.json``.
        """
        rows = _csv_rows(csv_path)
        header = [cell.strip() for cell in rows[0]]
        if path_column in header and label_column in header:
            p, l = header.index(path_column), header.index(label_column)
            rows = rows[1:]
        elif len(header) >= 2:
            p, l = 0, 1
        else:
            raise ValueError(
                f"The CSV needs a header with {path_column!r} and {label_column!r} columns, or two columns "
                f"(path, label). Received: header={header!r}"
            )
        items = [(row[p].strip(), row[l].strip() if len(row) > l else "") for row in rows]
        csv_dir = os.path.dirname(os.path.abspath(csv_path))
        sidecar = os.path.join(
            csv_dir, SIDECAR_DIRNAME, os.path.basename(csv_path) + "." + SIDECAR_FILENAME.replace("_", "-")
        )
        kwargs.setdefault("name", os.path.splitext(os.path.basename(csv_path))[0])
        return cls.from_list(items, root=root or csv_dir, sidecar=sidecar, **kwargs)

    @classmethod
    def _finish(cls, records, skipped, fixes, *, name, root, strict, checks):
        if strict and any(s.error for s in skipped):
            raise ImageValidationError([s for s in skipped if s.error])
        if not records:
            reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:5])
            raise ValueError(
                "No usable images found. Expected image files in one subfolder per label "
                f"(ROOT/LABEL/IMAGE.jpg), (path, label) pairs, or image files (unlabelled). Received: root={root!r}"
                + (f". Skipped: {reasons}" if reasons else "")
            )
        records.sort(key=lambda r: (r.original_label or "", r.id))
        dataset = cls(records, name=name, root=root, skipped=skipped, fixes=fixes)
        dataset._checks = checks
        return dataset

    # ------------------------------------------------------------------ access
    @property
    def images(self):
        """Usable images after label fixes (excluded images left out), in a stable order."""
        if self._images is None:
            fixes = self._fixes
            self._images = [
                dataclasses.replace(r, label=fixes.relabeled.get(r.id, r.original_label))
                for r in self._records
                if r.id not in fixes.excluded
            ]
        return self._images

    @property
    def excluded(self):
        """Images excluded by a label fix (with their fixed label, should they come back)."""
        fixes = self._fixes
        return [
            dataclasses.replace(r, label=fixes.relabeled.get(r.id, r.original_label))
            for r in self._records
            if r.id in fixes.excluded
        ]

    @property
    def label_ids(self):
        """Integer label id of each image, indexing :attr:`labels`.

        Raises:
            ValueError: for an unlabelled dataset.
        """
        self.check_labeled("label_ids")
        index = {label: i for i, label in enumerate(self.labels)}
        return [index[r.label] for r in self.images]

    def __len__(self):
        return len(self.images)

    def __iter__(self):
        return iter(self.images)

    def __getitem__(self, index):
        return self.images[index]

    def __repr__(self):
        labels = f"labels={self.labels!r}" if self.labeled else "unlabeled"
        return f"{type(self).__name__}(name={self.name!r}, num_images={len(self)}, {labels})"

    def check_labeled(self, purpose):
        """Raises a ``ValueError`` naming ``purpose`` unless the images have labels.

        Args:
            purpose: what needs the labels, e.g. ``"Training"``; starts the message.

        Raises:
            ValueError: for an unlabelled dataset (:meth:`from_files`).
        """
        if not self.labeled:
            raise ValueError(
                f"{purpose} needs labelled images, but this dataset is unlabelled (made for scoring, by "
                "from_files or from_directory(labeled=False)). Use a dataset with labels, e.g. "
                f"from_directory(root) with one subfolder per label. Received: dataset={self!r}"
            )

    def recheck(self):
        """Checks every image again, as when the dataset was created, but decoding each file anew.

        For files that may have changed since (training stops on a file that no longer decodes,
        and asks which). A file that fails now, or that became another picture (other format,
        size or orientation than recorded), is returned; the check cache learns the new results.

        Returns:
            A list of :class:`SkippedFile`, one per image that can no longer be used as recorded.
        """
        cache_path, max_pixels = self._checks
        entries = [(r.id, r.path, r.original_label) for r in self._records]
        records, bad = _check_all(entries, max_pixels=max_pixels, cache_path=cache_path, progress=False, recheck=True)
        recorded = {r.id: r for r in self._records}
        for new in records:
            old = recorded[new.id]
            was, now = (old.format, old.width, old.height, old.orientation), (new.format, new.width, new.height, new.orientation)
            if was != now:
                bad.append(SkippedFile(
                    new.path, f"changed since the dataset was checked: was {was[0]} {was[1]}x{was[2]} (orientation "
                    f"{was[3]}), now {now[0]} {now[1]}x{now[2]} (orientation {now[3]})",
                ))
        return bad

    def counts(self):
        """Number of images per label, in label order (empty for an unlabelled dataset)."""
        counts = {label: 0 for label in self.labels}
        for r in self.images if self.labeled else ():
            counts[r.label] += 1
        return counts

    def summary(self):
        """Counts per label and skipped files, as a JSON-serialisable dict.

        Returns:
            ``{"num_images": int, "labels": [str], "counts": {label: int},
            "skipped": [{"path": str, "reason": str}]}``; paths are absolute (as a Python ``repr``
            when they hold a control character or bytes that are not UTF-8).
        """
        return {
            "num_images": len(self),
            "labels": list(self.labels),
            "counts": self.counts(),
            "skipped": [{"path": printable(s.path), "reason": s.reason} for s in self.skipped],
        }

    def print_info(self):
        """Prints counts per label and skipped files (cvtk's ``print_info``)."""
        print(format_summary(self.summary(), name=self.name))

    # ------------------------------------------------------------------ splits
    def split(self, train_size=0.66, *, stratify=True, seed=None):
        """Splits into ``(train, test)`` datasets.

        Deterministic for a seed. With ``stratify=True`` each label is split on its
        own, and a label with at least two images is on both sides. Both sides keep
        this dataset's full label list (so label ids agree) and its label fixes.

        Args:
            train_size: fraction of images for the train side, 0 < train_size < 1.
            stratify: keep label proportions on both sides.
            seed: int seed.
        """
        images = self.images
        train_idx, test_idx = stratified_split_indices(
            [r.label for r in images], train_size, stratify=stratify, seed=seed
        )
        return self.subset([images[i].id for i in train_idx], "train"), self.subset(
            [images[i].id for i in test_idx], "test"
        )

    def subset(self, ids, suffix="subset"):
        """A dataset of the images with the given ids, sharing labels and label fixes."""
        wanted = set(ids)
        unknown = wanted - {r.id for r in self._records}
        if unknown:
            raise ValueError(f"Unknown image ids. Received: ids={sorted(unknown)[:5]!r}")
        records = [r for r in self._records if r.id in wanted]
        return self._derived(records, self.labels, name=f"{self.name}-{suffix}")

    def without(self, ids):
        """The same dataset less the images with the given ids (in memory; :meth:`exclude` saves an exclusion)."""
        unwanted = set(ids)
        return self._derived([r for r in self._records if r.id not in unwanted], self.labels, name=self.name)

    def _derived(self, records, labels, *, name, skipped=()):
        dataset = type(self)(records, labels, name=name, root=self.root, skipped=skipped, fixes=self._fixes)
        dataset._checks = self._checks
        return dataset

    def with_labels(self, labels):
        """The same images with another label order (e.g. a trained model's ``labels``).

        Raises:
            ValueError: if an image's label is not in ``labels``, or the dataset is unlabelled.
        """
        self.check_labeled("with_labels")
        labels = list(labels)
        unknown = sorted({r.label for r in self.images} - set(labels))
        if unknown:
            raise ValueError(f"The dataset has labels that are not in labels. Received: unknown labels={unknown!r}")
        return self._derived(self._records, labels, name=self.name, skipped=self.skipped)

    # -------------------------------------------------------------- label fixes
    def _find(self, image):
        key = image.id if isinstance(image, ImageRecord) else os.fspath(image)
        for r in self._records:
            if key in (r.id, r.path) or os.path.abspath(key) == r.path:
                return r
        raise ValueError(f"The image is not in this dataset. Received: image={key!r}")

    def relabel(self, image, label):
        """Gives an image another label; saved to the sidecar and re-applied on load.

        Args:
            image: an :class:`ImageRecord`, an image id, or a path.
            label: one of :attr:`labels`.
        """
        if label not in self.labels:
            raise ValueError(f"Unknown label. Expected one of {self.labels}. Received: label={label!r}")
        record = self._find(image)
        self._fixes.relabel(record.id, label, record.original_label)
        self._images = None

    def exclude(self, image, excluded=True):
        """Leaves an image out (``excluded=False`` brings it back); saved to the sidecar."""
        record = self._find(image)
        self._fixes.exclude(record.id, excluded)
        self._images = None

    def keep_label(self, image, kept=True):
        """Records that a person reviewed an image's label and kept it (``kept=False`` forgets it); saved to the sidecar.

        :func:`~keras_cvcls.curation.find_issues` does not report label errors on kept images.
        """
        record = self._find(image)
        self._fixes.keep(record.id, kept)

    @property
    def kept_ids(self):
        """Ids of images whose label a person reviewed and kept (see :meth:`keep_label`)."""
        return set(self._fixes.kept)

    def add(self, path, label):
        """Labels a new photo: copies it into ``ROOT/LABEL/`` (a free name) and adds it to this dataset.

        The photo is checked as every image of the dataset is; the original file stays where it is.

        Args:
            path: the photo's file.
            label: one of :attr:`labels`.

        Returns:
            The new :class:`ImageRecord`.

        Raises:
            ValueError: for a dataset without a folder, an unknown label, or a file that is not a
                usable image (a :class:`~keras_cvcls.data.BadImageError` saying why).
        """
        import shutil

        if self.root is None or not self.labeled:
            raise ValueError(f"Photos are added to a labelled folder dataset. Received: dataset={self!r}")
        if label not in self.labels:
            raise ValueError(f"Unknown label. Expected one of {self.labels}. Received: label={label!r}")
        info = check_image(path, max_pixels=self._checks[1])
        stem, ext = os.path.splitext(os.path.basename(path))
        target, n = os.path.join(self.root, label, stem + ext), 1
        while os.path.exists(target):
            target, n = os.path.join(self.root, label, f"{stem}_{n}{ext}"), n + 1
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
        record = ImageRecord(
            f"{label}/{os.path.basename(target)}", os.path.basename(target), label, target, info.orientation,
            info.width, info.height, label, info.format,
        )
        self._records.append(record)
        self._records.sort(key=lambda r: (r.original_label or "", r.id))
        self._images = None
        return record

    def reload_fixes(self):
        """Re-reads the label-fix sidecar (after another process changed it)."""
        if self._fixes.path:
            self._fixes.__init__(self._fixes.path)
        self._images = None

    # ---------------------------------------------------------------- pipelines
    def to_tf_dataset(self, **kwargs):
        """A batched ``tf.data.Dataset`` of ``(images, label_ids)`` (images only, unlabelled); see :func:`make_pipeline`."""
        from keras_cvcls.data.pipeline import make_pipeline

        return make_pipeline(self, **kwargs)


def format_summary(summary, name=None):
    """Human-readable text for :meth:`ClassificationDataset.summary`."""
    width = max([len(label) for label in summary["labels"]] + [5])
    lines = [f"Dataset {name}: " if name else "", f"{summary['num_images']} images, {len(summary['labels'])} labels"]
    lines = ["".join(lines)]
    for label, count in summary["counts"].items():
        lines.append(f"  {label:<{width}}  {count}")
    if summary["skipped"]:
        lines.append(f"Skipped {len(summary['skipped'])} file(s):")
        lines.extend(f"  {printable(s['path'])}: {s['reason']}" for s in summary["skipped"])
    return "\n".join(lines)

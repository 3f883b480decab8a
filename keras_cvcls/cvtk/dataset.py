"""cvtk's dataset objects: :class:`keras_cvcls.ClassificationDataset` with cvtk's names.

Labels are :class:`Label` strings (``label.name`` works, and so does everything that takes
a label name); images are :class:`Image` records with cvtk's ``storage_path``, ``_labels``
and ``_storage_id``; ``size()`` and ``split(stratify="label")`` are cvtk's spellings.
"""

import dataclasses
import os

from keras_cvcls.augment import augment_dataset as _augment_dataset
from keras_cvcls.cvtk.context import Context
from keras_cvcls.data import ClassificationDataset as _ClassificationDataset
from keras_cvcls.data import ImageRecord

STRATIFY = ("label", None)


class Label(str):
    """A label name that also answers cvtk's ``label.name``."""

    __slots__ = ()

    @property
    def name(self):
        return str(self)


@dataclasses.dataclass(frozen=True)
class Image(ImageRecord):
    """An :class:`~keras_cvcls.data.ImageRecord` with cvtk's attribute names."""

    @property
    def storage_path(self):
        """The image file (cvtk's name for ``path``)."""
        return self.path

    @property
    def _labels(self):
        """cvtk's list of :class:`Label` objects (one label per image; empty when unlabelled)."""
        return [] if self.label is None else [Label(self.label)]

    @property
    def _storage_id(self):
        """cvtk's unique id (our ``id``)."""
        return self.id


class ClassificationDataset(_ClassificationDataset):
    """:class:`keras_cvcls.ClassificationDataset` with cvtk's ``Label``/``Image`` objects and names.

    Created as ours is (``create_from_dir(name, root)``, ``from_directory``, ``from_files``, ...);
    splits and augmented copies keep this class.

    Example:
        >>> dataset = ClassificationDataset.create_from_dir("recycling", "imgs_recycling")
        >>> dataset.images[2].name, dataset.labels[0].name, dataset.size()
        ('bowl_03.jpg', 'bowl', 63)
    """

    def __init__(self, records, labels=None, **kwargs):
        records = [r if isinstance(r, Image) else Image(**dataclasses.asdict(r)) for r in records]
        super().__init__(records, labels, **kwargs)
        self.labels = [Label(label) for label in self.labels]

    def size(self):
        """Number of images (cvtk's ``size()``; ``len(dataset)``)."""
        return len(self)

    def split(self, train_size=0.66, stratify="label", seed=None):
        """cvtk's ``split``: ``stratify="label"`` keeps label proportions, ``None`` does not.

        Returns:
            ``(train, test)``, as :meth:`keras_cvcls.ClassificationDataset.split`.

        Raises:
            ValueError: for another ``stratify``.
        """
        if stratify not in STRATIFY:
            raise ValueError(f"stratify must be one of {STRATIFY}. Received: stratify={stratify!r}")
        return super().split(train_size, stratify=stratify == "label", seed=seed)


def augment_dataset(dataset, pipelines, out_dir=None, *, copies=1, seed=None):
    """cvtk's ``augment_dataset(dataset, [imgaug pipelines])``: :func:`keras_cvcls.augment_dataset`.

    Args:
        dataset: a :class:`ClassificationDataset`.
        pipelines: imgaug augmenters (or callables ``f(images=[...])``), as cvtk took them.
        out_dir: folder for the augmented files; default: ``augmented/NAME`` in the global
            :class:`~keras_cvcls.cvtk.Context`'s ``temp_path``.
        copies, seed: as in :func:`keras_cvcls.augment_dataset`.

    Returns:
        A bigger dataset of ``dataset``'s class: the originals and the augmented copies.
    """
    if out_dir is None:
        out_dir = os.path.join(Context.get_global_context().storage.temp_path, "augmented", dataset.name)
    return _augment_dataset(dataset, pipelines, out_dir, copies=copies, seed=seed)

"""Frozen pretrained features of a dataset's images, cached beside the data.

The data-centric checks (label errors, near-duplicates, outliers, label suggestions) all work on
one embedding per image: the pooled output of a pretrained backbone, as
:class:`~keras_cvcls.models.ScikitClassifier` computes it. Computing it is the slow part (a
forward pass per image), so the vectors are kept in
``ROOT/.keras_cvcls/features/BACKBONE-HxW-RESIZE.npz`` and reused while an image's content
digest (:func:`~keras_cvcls.data.check_cache.content_digest`) is unchanged: a second run, or
the UI after the command line, extracts only new or changed images.
"""

import os

import numpy as np

from keras_cvcls.data.check_cache import content_digest
from keras_cvcls.data.label_fixes import SIDECAR_DIRNAME

FEATURES_DIRNAME = "features"
DEFAULT_BACKBONE = "efficientnet_lite0"


def _cache_path(dataset, backbone, image_size, resize_mode):
    if dataset.root is None:
        return None
    name = f"{backbone}-{image_size[0]}x{image_size[1]}-{resize_mode}.npz"
    return os.path.join(dataset.root, SIDECAR_DIRNAME, FEATURES_DIRNAME, name)


def _read_cache(path):
    if not path or not os.path.exists(path):
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return {(i, d): v for i, d, v in zip(data["ids"].tolist(), data["digests"].tolist(), data["features"])}
    except (OSError, ValueError, KeyError):
        return {}  # a damaged cache only costs a new extraction


def _write_cache(path, ids, digests, features):
    from keras_cvcls.data.json_files import replacing

    try:
        with replacing(path, suffix=".npz") as tmp:
            np.savez(tmp, ids=np.asarray(ids, dtype=str), digests=np.asarray(digests, dtype=str), features=features)
    except OSError:
        pass  # a read-only data folder only costs a new extraction next time


def dataset_features(dataset, *, backbone=DEFAULT_BACKBONE, image_size=None, resize_mode="crop", batch_size=32,
                     cache=True, extractor=None):
    """Pooled pretrained features of every image of a dataset, in dataset order, cached on disk.

    Args:
        dataset: a :class:`~keras_cvcls.data.ClassificationDataset` (labelled or not).
        backbone: a registered backbone name (ImageNet weights); see
            :func:`~keras_cvcls.models.list_backbones`.
        image_size: input size (default: the backbone's transfer-learning size).
        resize_mode: how images are fitted to ``image_size``.
        batch_size: images per forward pass.
        cache: read and write ``ROOT/.keras_cvcls/features/`` (a dataset without a folder is never cached).
        extractor: a :class:`~keras_cvcls.models.ScikitClassifier` to extract with (made from
            ``backbone`` when needed; pass one to share it between datasets).

    Returns:
        A float32 array ``[len(dataset), D]``.

    Raises:
        ValueError: for an unknown backbone or a dataset that is not a ``ClassificationDataset``.

    Example:
        >>> x = dataset_features(ClassificationDataset.from_directory("photos/"))
        >>> x.shape
        (398, 1280)
    """
    from keras_cvcls.data.classification_dataset import ClassificationDataset
    from keras_cvcls.data.decode import check_resize_mode, normalize_image_size
    from keras_cvcls.models.backbone_registry import get_backbone_config

    if not isinstance(dataset, ClassificationDataset):
        raise ValueError(f"dataset must be a ClassificationDataset. Received: dataset={dataset!r}")
    if extractor is not None:
        backbone, image_size, resize_mode = extractor.backbone_name, extractor.image_size, extractor.resize_mode
    config = get_backbone_config(backbone)
    check_resize_mode(resize_mode)
    image_size = normalize_image_size(image_size or config.transfer_size or config.input_size)
    path = _cache_path(dataset, backbone, image_size, resize_mode) if cache else None
    images = dataset.images
    digests = []
    for record in images:
        try:
            digests.append(content_digest(record.path))
        except OSError:
            digests.append("")
    cached = _read_cache(path)
    missing = [i for i, (r, d) in enumerate(zip(images, digests)) if (r.id, d) not in cached]
    rows = [cached.get((r.id, d)) for r, d in zip(images, digests)]
    if missing:
        if extractor is None:
            from keras_cvcls.models.scikit_classifier import ScikitClassifier

            extractor = ScikitClassifier(backbone, image_size=image_size, resize_mode=resize_mode)
        subset = dataset if len(missing) == len(images) else dataset.subset([images[i].id for i in missing])
        fresh = extractor.features(subset, batch_size)
        for i, vector in zip(missing, fresh):
            rows[i] = vector
    features = np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
    if missing and path:
        kept = {(r.id, d): v for r, d, v in zip(images, digests, features)}
        ids = {r.id for r in images}
        others = {k: v for k, v in cached.items() if k[0] not in ids}  # images of other splits of the same folder
        merged = {**others, **kept}
        _write_cache(path, [k[0] for k in merged], [k[1] for k in merged], np.stack(list(merged.values())))
    return features

"""Offline augmentation for cvtk users: write augmented copies of a dataset to disk.

cvtk augmented datasets with imgaug pipelines. :func:`augment_dataset` takes
such pipelines (or any callable of the same form) and writes the augmented
images as JPEG files, returning a bigger :class:`ClassificationDataset`. imgaug
itself is never imported here: it stays an optional extra (``keras-cvcls[imgaug]``,
which needs ``numpy<2``, so it lives in its own environment). For augmentation
during training, prefer the Keras-layer presets of
:func:`~keras_cvcls.augment.get_augmentation`.
"""

import copy
import dataclasses
import os

import numpy as np
from PIL import Image

from keras_cvcls.data.classification_dataset import ClassificationDataset, ImageRecord
from keras_cvcls.data.upright_image import open_upright

_CHUNK = 32  # images handed to a pipeline per call


def _check_pipelines(pipelines):
    single = callable(pipelines) and not isinstance(pipelines, (list, tuple))
    pipelines = [pipelines] if single else pipelines
    try:
        pipelines = list(pipelines)
    except TypeError:
        pipelines = []
    if not pipelines or not all(callable(p) for p in pipelines):
        raise ValueError(
            "pipelines must be a non-empty list of imgaug augmenters or callables used as "
            "pipeline(images=[uint8 HxWx3 arrays]) -> augmented images. "
            f"Received: pipelines={pipelines!r}"
        )
    return pipelines


def _seeded(pipeline, seed):
    """A copy of an imgaug augmenter seeded with ``seed``; other callables as they are."""
    if seed is None or not callable(getattr(pipeline, "seed_", None)):
        return pipeline
    pipeline = copy.deepcopy(pipeline)  # do not re-seed the caller's augmenter
    pipeline.seed_(seed)
    return pipeline


def _load_rgb(path):
    return np.asarray(open_upright(path))


def _to_rgb_uint8(image, index):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(
            "A pipeline must return HxWx3 (or HxW, HxWx1, HxWx4) images. "
            f"Received: image {index} with shape {image.shape}"
        )
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.number) or not np.all(np.isfinite(image)):
            raise ValueError(
                f"A pipeline must return finite pixel values. Received: image {index} with dtype {image.dtype}"
            )
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return image


def augment_dataset(dataset, pipelines, out_dir, *, copies=1, seed=None):
    """Returns a new dataset: the original images plus augmented copies written to disk.

    Each pipeline is called as ``pipeline(images=batch)`` with a list of uint8
    ``HxWx3`` RGB arrays (upright, EXIF orientation applied), imgaug's form,
    and must return the augmented images in the same order (a list or an
    array). Every image gets ``copies`` augmented versions per pipeline, saved
    as ``OUT_DIR/LABEL/STEM_augP-C.jpg`` (P: pipeline index, C: copy index).

    Args:
        dataset: A :class:`~keras_cvcls.data.ClassificationDataset`.
        pipelines: An imgaug augmenter or callable, or a list of them. A plain
            function works too, e.g. a horizontal flip:
            ``lambda *, images: [im[:, ::-1] for im in images]``.
        out_dir: Folder for the augmented files (created). It must not hold the
            dataset's own files.
        copies: Augmented versions of each image per pipeline, a positive int.
        seed: Int seed. imgaug augmenters (anything with a ``seed_`` method) are
            copied and seeded with ``seed + P``, so the same seed writes the same
            images; other callables bring their own randomness.

    Returns:
        A new dataset of ``dataset``'s class named ``NAME-augmented``, with the same
        labels (and label ids) as ``dataset``: its images first (with label
        fixes applied), then the augmented ones, whose ids are their absolute paths.

    Raises:
        ValueError: If ``pipelines``, ``copies`` or ``out_dir`` is invalid, or a
            pipeline returns the wrong number of images or unusable images.

    Example:
        >>> import imgaug.augmenters as iaa
        >>> seq = iaa.Sequential([iaa.Fliplr(0.5), iaa.Crop(percent=(0, 0.1))])
        >>> bigger = augment_dataset(train, [seq], "augmented/", copies=2, seed=0)
        >>> len(bigger) == 3 * len(train)
        True
    """
    if not isinstance(dataset, ClassificationDataset):
        raise ValueError(f"dataset must be a ClassificationDataset. Received: dataset={dataset!r}")
    dataset.check_labeled("Augmentation")
    pipelines = _check_pipelines(pipelines)
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be a positive int. Received: copies={copies!r}")
    if isinstance(seed, bool) or not (seed is None or isinstance(seed, int)):
        raise ValueError(f"seed must be None or an int. Received: seed={seed!r}")
    if not isinstance(out_dir, (str, os.PathLike)) or not os.fspath(out_dir):
        raise ValueError(f"out_dir must be a folder path. Received: out_dir={out_dir!r}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    images = dataset.images

    # Output names: STEM_augP-C.jpg in OUT_DIR/LABEL/, made unique when stems repeat.
    stems, seen = [], set()
    for record in images:
        stem = os.path.splitext(record.name)[0]
        unique, n = stem, 1
        while (record.label, unique) in seen:
            unique, n = f"{stem}-{n}", n + 1
        seen.add((record.label, unique))
        stems.append(unique)
    originals = {os.path.normcase(r.path) for r in images}

    def output_path(i, p, c):
        return os.path.join(out_dir, images[i].label, f"{stems[i]}_aug{p}-{c}.jpg")

    clash = [output_path(i, p, c) for i in range(len(images)) for p in range(len(pipelines)) for c in range(copies)]
    clash = [path for path in clash if os.path.normcase(path) in originals]
    if clash:
        raise ValueError(
            f"out_dir would overwrite the dataset's own files, e.g. {clash[0]}. Received: out_dir={out_dir!r}"
        )
    for label in {r.label for r in images}:
        os.makedirs(os.path.join(out_dir, label), exist_ok=True)

    augmented = []
    for p, pipeline in enumerate(pipelines):
        pipeline = _seeded(pipeline, None if seed is None else seed + p)
        for start in range(0, len(images), _CHUNK):
            indices = range(start, min(start + _CHUNK, len(images)))
            batch = [_load_rgb(images[i].path) for i in indices]
            for c in range(copies):
                # A fresh list each call: an augmenter may change its input in place.
                results = pipeline(images=[image.copy() for image in batch])
                results = list(results) if results is not None else []
                if len(results) != len(batch):
                    raise ValueError(
                        f"Pipeline {p} must return one image per input image ({len(batch)}). "
                        f"Received: {len(results)} images"
                    )
                for i, result in zip(indices, results, strict=True):
                    result = _to_rgb_uint8(result, i)
                    path = output_path(i, p, c)
                    Image.fromarray(result).save(path, "JPEG", quality=95)
                    record = images[i]
                    augmented.append(
                        ImageRecord(
                            id=path.replace(os.sep, "/"),
                            name=os.path.basename(path),
                            label=record.label,
                            path=path,
                            orientation=1,
                            width=result.shape[1],
                            height=result.shape[0],
                            original_label=record.label,
                        )
                    )
    # The originals keep their ids; their current labels (after fixes) become the labels.
    kept = [dataclasses.replace(r, original_label=r.label) for r in images]
    return type(dataset)(kept + augmented, dataset.labels, name=f"{dataset.name}-augmented", root=None)

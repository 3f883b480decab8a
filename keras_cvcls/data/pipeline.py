"""``tf.data`` input pipelines built from a :class:`ClassificationDataset`."""

import tensorflow as tf

from keras_cvcls.data.decode import check_resize_mode, decode_image, jpeg_scale_ratios, normalize_image_size
from keras_cvcls.data.normalization import ImageNormalization

# A TFRecord dataset is shuffled in a buffer of this many encoded images, not all of them.
SHUFFLE_BUFFER = 10_000


def make_pipeline(
    dataset,
    *,
    image_size=224,
    batch_size=32,
    resize_mode="crop",
    normalization=None,
    shuffle=False,
    seed=None,
    cache=False,
    augment=None,
    drop_remainder=False,
    repeat=False,
    num_parallel_calls=tf.data.AUTOTUNE,
    shard=None,
    limit=None,
):
    """Builds a batched ``tf.data.Dataset`` of ``(images, label_ids)`` (of images, unlabelled).

    Files are read and decoded in parallel with :func:`~keras_cvcls.data.decode.decode_image`
    (the function the SavedModel export reuses), EXIF-rotated photos turned upright,
    then optionally cached, shuffled, batched, augmented and normalised, and
    prefetched.

    Args:
        dataset: a :class:`ClassificationDataset` (a
            :class:`~keras_cvcls.data.tfrecords.TFRecordDataset`: its records are read from its
            shards, and shuffled in a buffer of ``SHUFFLE_BUFFER`` images).
        image_size: int or ``(height, width)``.
        batch_size: images per batch.
        resize_mode: ``"crop"`` (default), ``"pad"`` or ``"stretch"``.
        normalization: ``None`` to keep float pixels in [0, 255] (models built by
            keras-cvcls normalise inside), or a mode of
            :class:`~keras_cvcls.data.normalization.ImageNormalization`
            (``"imagenet"``, ``"caffe"``, ``"tf"``, ``"unit"``, ``"raw"``) to match a backbone.
        shuffle: shuffle every epoch (seeded by ``seed``).
        seed: int seed for shuffling; same seed, same order.
        cache: ``True`` to keep decoded images in memory after the first epoch,
            or a file path prefix to cache on disk. Decoded images take
            ``height * width * 12`` bytes each.
        augment: a callable (e.g. a Keras layer or ``keras.Sequential``) applied to
            each batch of [0, 255] images during iteration, before normalisation.
        drop_remainder: drop the last, smaller batch.
        repeat: repeat forever (for ``steps_per_epoch`` training).
        num_parallel_calls: parallelism of decoding.
        shard: ``(num_shards, index)``: keep images ``index, index + num_shards, ...`` of the
            (shuffled) order, as one worker of a multi-worker training does. Every worker
            shuffles with the same seed, so the shards split one order.
        limit: use only the first ``limit`` images of the (shuffled) order, before sharding
            (a multi-worker training leaves out the last incomplete global batch).

    Returns:
        A ``tf.data.Dataset`` yielding ``(float32 [B, H, W, 3], int32 [B])`` (for a
        :class:`~keras_cvcls.data.MultiLabelDataset`, float32 multi-hot labels ``[B, C]``); for an
        unlabelled dataset (``ClassificationDataset.from_files``), the image batches only,
        which ``keras.Model.predict`` takes as they are.

    Example:
        >>> ds = ClassificationDataset.from_directory("photos/")
        >>> for images, labels in make_pipeline(ds, image_size=224, batch_size=8).take(1):
        ...     print(images.shape)
        (8, 224, 224, 3)
    """
    size = normalize_image_size(image_size)
    check_resize_mode(resize_mode)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    if len(dataset) == 0:
        raise ValueError(f"The dataset has no images. Received: dataset={dataset!r}")
    normalizer = ImageNormalization(normalization) if normalization is not None else None

    images = dataset.images
    labeled = getattr(dataset, "labeled", True)
    from_records = hasattr(dataset, "records")  # a TFRecordDataset: encoded images read from its shards
    if from_records:
        ds = dataset.records()
        if not labeled:
            ds = ds.map(lambda data, orientation, label: (data, orientation))
        if shuffle and not cache:
            ds = ds.shuffle(min(len(images), SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    else:
        paths = tf.constant([r.path for r in images])
        orientations = tf.constant([r.orientation for r in images], dtype=tf.int32)
        columns = (paths, orientations)
        if getattr(dataset, "multi_label", False) and labeled:  # float32 multi-hot [N, C], for a sigmoid head
            columns += (tf.constant(dataset.label_matrix, dtype=tf.float32),)
        elif labeled:
            columns += (tf.constant(dataset.label_ids, dtype=tf.int32),)
        ds = tf.data.Dataset.from_tensor_slices(columns)
        if shuffle and not cache:
            # Shuffling file names before decoding costs nothing and needs no image buffer.
            ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if not cache:
        ds = _limit_and_shard(ds, limit, shard)

    # The EXIF step costs ~20% of decoding; leave it out of the graph when no image needs it.
    any_rotated = any(r.orientation != 1 for r in images)
    all_jpeg = all(r.format in ("JPEG", "MPO") for r in images)
    jpeg_ratio = None
    if all_jpeg:
        # Photo folders usually share one size, hence one DCT scale ratio: fix it in the graph.
        ratios = set(
            jpeg_scale_ratios(
                [r.height for r in images], [r.width for r in images], size,
                orientations=[r.orientation for r in images], resize_mode=resize_mode,
            )
        )
        jpeg_ratio = ratios.pop() if len(ratios) == 1 else None

    def load(path_or_data, orientation, *label):
        orientation = orientation if any_rotated else None
        image = decode_image(
            path_or_data if from_records else tf.io.read_file(path_or_data), size, resize_mode=resize_mode, orientation=orientation,
            image_format="jpeg" if all_jpeg else None, jpeg_ratio=jpeg_ratio,
        )
        return (image, *label) if label else image

    ds = ds.map(load, num_parallel_calls=num_parallel_calls, deterministic=True)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
        if shuffle:
            ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        ds = _limit_and_shard(ds, limit, shard)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=num_parallel_calls)
    if augment is not None:
        # Sequential: seeded random layers then draw in the same order on every run.
        # The layers work on whole batches, so this costs little parallelism.
        ds = ds.map(_on_images(augment))
    if normalizer is not None:
        ds = ds.map(_on_images(normalizer), num_parallel_calls=num_parallel_calls)
    return ds.prefetch(tf.data.AUTOTUNE)


def _limit_and_shard(ds, limit, shard):
    if limit is not None:
        ds = ds.take(limit)
    if shard is not None:
        num_shards, index = shard
        if num_shards > 1:
            ds = ds.shard(num_shards, index)
    return ds


def _on_images(fn):
    """A ``Dataset.map`` function applying ``fn`` to the images of ``(images, labels)`` or ``images``."""
    return lambda x, *label: (fn(x), *label) if label else fn(x)

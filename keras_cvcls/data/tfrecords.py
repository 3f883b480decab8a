"""Sharded TFRecords of a checked dataset (``keras-cvcls dataset to-tfrecord``), and training from them.

A folder of a few hundred photos trains from its files; one of a million images trains faster
from a few large files, read sequentially, on local disks or any ``tf.io.gfile`` URL
(``gs://``, ``s3://``, ``hdfs://``)::

    OUT/
      index.json                       labels, shards, and every image's id, label, shard and size
      images-00000-of-00004.tfrecord   tf.train.Example: image (the file's encoded bytes), label, id
      ...

Each record holds the image file's bytes as they are (no re-encoding: training decodes them
with the same :func:`~keras_cvcls.data.decode.decode_image` as files and the serving
signature), its label (name and index) and its id. Images are written in dataset order,
each shard a contiguous run of it. :func:`read_tfrecords` gives back a
:class:`~keras_cvcls.data.ClassificationDataset` (from the index alone, without reading a
shard) that splits, subsets and trains as one read from a folder: ``make_pipeline`` reads
its records from the shards.
"""

import json
import os

from keras_cvcls.data.classification_dataset import ClassificationDataset, ImageRecord
from keras_cvcls.progress import progress_bar

INDEX_FILE = "index.json"
FORMAT = "keras-cvcls-tfrecords"
VERSION = 1


def shard_name(index, shards):
    """``images-00000-of-00004.tfrecord``."""
    return f"images-{index:05d}-of-{shards:05d}.tfrecord"


def _join(folder, name):
    return folder.rstrip("/") + "/" + name if "://" in folder else os.path.join(folder, name)


def is_tfrecord_dir(path):
    """True if ``path`` (a folder or a ``tf.io.gfile`` URL) holds a ``to-tfrecord`` index."""
    path = os.fspath(path)
    if "://" not in path:
        return os.path.isfile(os.path.join(path, INDEX_FILE))
    import tensorflow as tf

    return tf.io.gfile.exists(_join(path, INDEX_FILE))


def write_tfrecords(dataset, out, *, shards=1, progress=None):
    """Writes a labelled dataset as ``shards`` TFRecord files and an index.

    Args:
        dataset: a labelled :class:`~keras_cvcls.data.ClassificationDataset` (its images were
            checked when it was created; the bad ones are not written).
        out: a new or empty folder, local or a ``tf.io.gfile`` URL.
        shards: the number of files, 1 <= shards <= number of images. Aim for files of
            100-200 MB, and at least as many shards as training workers.
        progress: show a progress bar (None: only on a terminal, for large datasets).

    Returns:
        A JSON-able summary: ``out``, ``images``, ``shards``, ``bytes`` and ``labels``.

    Raises:
        ValueError: for an unlabelled dataset, a bad ``shards``, or an ``out`` that holds files.

    Example:
        >>> ds = ClassificationDataset.from_directory("photos/")
        >>> write_tfrecords(ds, "photos-tfrecords/", shards=4)["images"]
    """
    import tensorflow as tf

    dataset.check_labeled("Writing TFRecords")
    images = dataset.images
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= max(1, len(images)):
        raise ValueError(
            f"shards must be an int from 1 to the number of images ({len(images)}). Received: shards={shards!r}"
        )
    if not images:
        raise ValueError(f"The dataset has no images to write. Received: dataset={dataset!r}")
    out = os.fspath(out)
    if tf.io.gfile.exists(out) and tf.io.gfile.listdir(out):
        raise ValueError(f"out must be a new or empty folder; it holds files. Received: out={out!r}")
    tf.io.gfile.makedirs(out)
    label_index = {label: i for i, label in enumerate(dataset.labels)}
    bounds = [len(images) * i // shards for i in range(shards + 1)]

    def feature(values, kind):
        if kind == "bytes":
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    index_images, shard_rows, total = [], [], 0
    with progress_bar(len(images), "Writing TFRecords", unit="img", enabled=progress, min_total=200) as bar:
        for shard in range(shards):
            name = shard_name(shard, shards)
            with tf.io.TFRecordWriter(_join(out, name)) as writer:
                for record in images[bounds[shard] : bounds[shard + 1]]:
                    with open(record.path, "rb") as f:
                        data = f.read()
                    total += len(data)
                    example = tf.train.Example(features=tf.train.Features(feature={
                        "image": feature([data], "bytes"),
                        "label": feature([label_index[record.label]], "int64"),
                        "label_name": feature([record.label.encode()], "bytes"),
                        "id": feature([record.id.encode()], "bytes"),
                    }))
                    writer.write(example.SerializeToString())
                    index_images.append(
                        [record.id, record.label, shard, record.orientation, record.width, record.height, record.format]
                    )
                    bar.update(1)
            shard_rows.append({"file": name, "images": bounds[shard + 1] - bounds[shard]})
    index = {
        "format": FORMAT, "version": VERSION, "name": dataset.name, "labels": list(dataset.labels),
        "shards": shard_rows, "images": index_images,
        "columns": ["id", "label", "shard", "orientation", "width", "height", "format"],
    }
    with tf.io.gfile.GFile(_join(out, INDEX_FILE), "w") as f:
        f.write(json.dumps(index, ensure_ascii=False))
    return {"out": out, "images": len(images), "shards": shards, "bytes": total, "labels": list(dataset.labels)}


class TFRecordDataset(ClassificationDataset):
    """A :class:`~keras_cvcls.data.ClassificationDataset` whose images are records of ``to-tfrecord`` shards.

    Made by :func:`read_tfrecords`. An image's ``path`` is ``SHARD#ID``; the pipeline
    reads the shards that hold its images, keeping only those (a split reads every record
    of its shards, and keeps its own).

    Attributes:
        source: the folder (or URL) of the shards.
    """

    def __init__(self, records, labels=None, *, source, **kwargs):
        super().__init__(records, labels, **kwargs)
        self.source = source

    def _derived(self, records, labels, *, name, skipped=()):
        dataset = TFRecordDataset(records, labels, source=self.source, name=name, root=self.root, skipped=skipped, fixes=self._fixes)
        dataset._checks = self._checks
        return dataset

    def recheck(self):
        """Nothing to re-check: the bytes checked when the shards were written are the bytes in them."""
        return []

    def records(self):
        """A ``tf.data.Dataset`` of ``(encoded image, orientation, label id)`` of this dataset's images, in its order."""
        import tensorflow as tf

        images = self.images
        files = sorted({r.path.rsplit("#", 1)[0] for r in images})
        ids = [r.id for r in images]
        label_ids = self.label_ids if self.labeled else [0] * len(images)
        keys = tf.constant(ids)
        label_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, tf.constant(label_ids, tf.int64)), default_value=-1
        )
        orientation_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, tf.constant([r.orientation for r in images], tf.int64)), default_value=1
        )
        spec = {"image": tf.io.FixedLenFeature([], tf.string), "id": tf.io.FixedLenFeature([], tf.string)}

        def parse(serialized):
            example = tf.io.parse_single_example(serialized, spec)
            key = example["id"]
            return example["image"], tf.cast(orientation_table.lookup(key), tf.int32), tf.cast(label_table.lookup(key), tf.int32)

        ds = tf.data.TFRecordDataset(files, num_parallel_reads=None)  # sequential: the dataset's order
        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.filter(lambda image, orientation, label: label >= 0)


def read_tfrecords(path, *, name=None):
    """Opens a folder written by :func:`write_tfrecords` (``keras-cvcls dataset to-tfrecord``) as a dataset.

    Only the index is read; training, evaluation and scoring read the shards.

    Args:
        path: the folder, local or a ``tf.io.gfile`` URL.
        name: dataset name (default: the one recorded).

    Returns:
        A :class:`TFRecordDataset`.

    Raises:
        ValueError: if ``path`` holds no index of this format.

    Example:
        >>> train, test = read_tfrecords("photos-tfrecords/").split(train_size=0.66, seed=0)
    """
    import tensorflow as tf

    path = os.fspath(path)
    index_path = _join(path, INDEX_FILE)
    try:
        with tf.io.gfile.GFile(index_path, "r") as f:
            index = json.loads(f.read())
    except (tf.errors.NotFoundError, ValueError):
        index = None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise ValueError(
            f"Not a TFRecord dataset folder (no {INDEX_FILE} written by keras-cvcls dataset to-tfrecord). "
            f"Received: path={path!r}"
        )
    if index.get("version") != VERSION:
        raise ValueError(
            f"This TFRecord dataset was written by another keras-cvcls (format version {index.get('version')}, this "
            f"one reads {VERSION}): write it again with keras-cvcls dataset to-tfrecord. Received: path={path!r}"
        )
    if "://" not in path:
        path = os.path.abspath(path)
    files = [_join(path, shard["file"]) for shard in index["shards"]]
    records = [
        ImageRecord(key, key.rsplit("/", 1)[-1], label, f"{files[shard]}#{key}", orientation, width, height, label, fmt)
        for key, label, shard, orientation, width, height, fmt in index["images"]
    ]
    return TFRecordDataset(records, index["labels"], source=path, name=name or index.get("name"))

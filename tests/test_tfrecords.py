"""Sharded TFRecords (``keras-cvcls dataset to-tfrecord``): the round trip, and training from them."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_cvcls.cli.main import main
from keras_cvcls.data import ClassificationDataset
from keras_cvcls.data.pipeline import make_pipeline
from keras_cvcls.data.tfrecords import INDEX_FILE, TFRecordDataset, read_tfrecords, write_tfrecords
from keras_cvcls.datasets import make_sample

HYMENOPTERA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "hymenoptera")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_sample(str(tmp_path_factory.mktemp("tfr") / "data"), images_per_label=7, image_size=(24, 32), seed=4)


def test_records_hold_the_files_bytes_labels_and_ids(folder, tmp_path, capsys):
    out = str(tmp_path / "tfr")
    assert main(["dataset", "to-tfrecord", folder, out, "--shards", "3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    dataset = ClassificationDataset.from_directory(folder)
    assert summary["images"] == len(dataset) == 21 and summary["shards"] == 3 and summary["skipped"] == 0
    shards = sorted(f for f in os.listdir(out) if f.endswith(".tfrecord"))
    assert shards == [f"images-0000{i}-of-00003.tfrecord" for i in range(3)] and INDEX_FILE in os.listdir(out)

    # Every record, read with TensorFlow alone: the file's bytes unchanged, its label index and id.
    spec = {k: tf.io.FixedLenFeature([], t) for k, t in (("image", tf.string), ("label", tf.int64), ("id", tf.string))}
    seen = []
    for shard in shards:
        for raw in tf.data.TFRecordDataset(os.path.join(out, shard)):
            ex = tf.io.parse_single_example(raw, spec)
            seen.append((ex["id"].numpy().decode(), int(ex["label"]), ex["image"].numpy()))
    assert [s[0] for s in seen] == [r.id for r in dataset.images]  # dataset order, shards contiguous
    for (key, label, data), record in zip(seen, dataset.images):
        assert dataset.labels[label] == record.label
        with open(record.path, "rb") as f:
            assert data == f.read()

    opened = read_tfrecords(out)
    assert isinstance(opened, TFRecordDataset) and opened.labels == dataset.labels
    assert [(r.id, r.label) for r in opened.images] == [(r.id, r.label) for r in dataset.images]
    # A split reads only its own images, in its order, with the same pixels as from the files.
    train, test = opened.split(train_size=0.6, seed=1)
    train_files, test_files = dataset.split(train_size=0.6, seed=1)
    for from_records, from_files in ((train, train_files), (test, test_files)):
        a = list(make_pipeline(from_records, image_size=16, batch_size=64).unbatch().as_numpy_iterator())
        b = list(make_pipeline(from_files, image_size=16, batch_size=64).unbatch().as_numpy_iterator())
        assert len(a) == len(b) == len(from_files)
        for (image_a, label_a), (image_b, label_b) in zip(a, b):
            assert label_a == label_b
            np.testing.assert_array_equal(image_a, image_b)
    shuffled = [int(y) for _, y in make_pipeline(train, image_size=16, batch_size=4, shuffle=True, seed=0).unbatch()]
    assert sorted(shuffled) == sorted(train.label_ids)


def test_errors_name_the_remedy(folder, tmp_path):
    dataset = ClassificationDataset.from_directory(folder)
    with pytest.raises(ValueError, match=r"shards must be an int from 1 to the number of images \(21\).*shards=0"):
        write_tfrecords(dataset, str(tmp_path / "a"), shards=0)
    with pytest.raises(ValueError, match="Not a TFRecord dataset folder.*to-tfrecord"):
        read_tfrecords(folder)
    write_tfrecords(dataset, str(tmp_path / "b"))
    with pytest.raises(ValueError, match="new or empty folder"):
        write_tfrecords(dataset, str(tmp_path / "b"))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(HYMENOPTERA), reason="the hymenoptera photos (../shared/datasets) are not here")
def test_training_from_shards_gives_the_accuracy_of_training_from_folders(tmp_path):
    """hymenoptera: the default fine-tune recipe, once from the folders, once from 4 shards each."""
    from keras_cvcls.training_run import train_run

    options = dict(image_size=128, epochs=1, seed=0, log=lambda m: None)
    shards = {}
    for side in ("train", "val"):
        shards[side] = str(tmp_path / side)
        write_tfrecords(ClassificationDataset.from_directory(os.path.join(HYMENOPTERA, side)), shards[side], shards=4)
    from_records = train_run(shards["train"], str(tmp_path / "run-tfr"), val_dir=shards["val"], **options)
    from_folders = train_run(
        os.path.join(HYMENOPTERA, "train"), str(tmp_path / "run-folders"), val_dir=os.path.join(HYMENOPTERA, "val"), **options
    )
    # The same bytes decoded by the same function in the same order: the same features, the same model.
    assert from_records["eval_accuracy"] == pytest.approx(from_folders["eval_accuracy"], abs=1e-9)
    assert from_folders["eval_accuracy"] > 0.85
    print(f"hymenoptera eval accuracy: from TFRecords {from_records['eval_accuracy']:.4f}, "
          f"from folders {from_folders['eval_accuracy']:.4f}")

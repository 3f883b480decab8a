"""Training-run folders: what ``keras-cvcls train`` writes and ``evaluate``/``export`` read.

    RUN_DIR/
      model/               the saved classifier (load_classifier(RUN_DIR) reads it)
      class_map.json       {"0": label, ...}
      split.json           data folder (and validation folder), seed, test size, train/test image ids
      history.json         train_accuracy, eval_accuracy, lr per epoch (+ Keras' logs)
      training_curve.png   train/eval accuracy per epoch
      logs/                TensorBoard logs
"""

import json
import os

from keras_cvcls.data.json_files import write_json_atomic

MODEL_DIR = "model"
SPLIT_FILE = "split.json"
HISTORY_FILE = "history.json"
CLASS_MAP_FILE = "class_map.json"
CURVE_FILE = "training_curve.png"
LOGS_DIR = "logs"


def write_json(path, data):
    write_json_atomic(path, data, indent=1, ensure_ascii=False)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_split(run_dir, data_dir=None):
    """Returns ``(train, test)`` datasets of a run, re-created from its data folder.

    Args:
        run_dir: the run folder.
        data_dir: the data folder, if it moved since training (default: the one recorded).
    """
    from keras_cvcls.data import ClassificationDataset

    path = os.path.join(run_dir, SPLIT_FILE)
    if not os.path.isfile(path):
        raise ValueError(f"Not a training run folder (no {SPLIT_FILE}). Received: run_dir={run_dir!r}")
    split = read_json(path)
    dataset = ClassificationDataset.from_directory(data_dir or split["data_dir"])
    known = {r.id for r in dataset.images}
    train = dataset.subset([i for i in split["train"] if i in known], "train")
    if split.get("val_dir"):  # a separate validation folder, not a split of the data folder
        validation = ClassificationDataset.from_directory(split["val_dir"]).with_labels(dataset.labels)
        return train, validation
    test = dataset.subset([i for i in split["test"] if i in known], "test")
    return train, test

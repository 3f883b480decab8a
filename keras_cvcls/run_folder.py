"""The training run folder's layout: its file names, and the few reads and writes that need no model.

Only this module names the files; :class:`~keras_cvcls.training_run.TrainingRun` owns
the folder and everything else goes through it::

    RUN_DIR/
      split.json           data folder (and validation folder), seed, test size, train/test image ids
      model/               the saved classifier (load_classifier(RUN_DIR) reads it)
      class_map.json       {"0": label, ...}
      history.json         train_accuracy, eval_accuracy, lr per epoch (+ Keras' logs, recipe, timing)
      training_curve.png   train/eval accuracy per epoch
      logs/                TensorBoard logs
      scores.npz           the saved model's scores, by image path (TrainingRun.scores' cache)
      report.html          the HTML report the UI serves
"""

import hashlib
import json
import os

import numpy as np

from keras_cvcls.data.json_files import write_json_atomic

MODEL_DIR = "model"
SPLIT_FILE = "split.json"
HISTORY_FILE = "history.json"
CLASS_MAP_FILE = "class_map.json"
CURVE_FILE = "training_curve.png"
LOGS_DIR = "logs"
SCORES_FILE = "scores.npz"
REPORT_FILE = "report.html"


def write_json(path, data):
    """Writes a run file atomically, indented, UTF-8."""
    write_json_atomic(path, data, indent=1, ensure_ascii=False)


def read_json(path):
    """Reads a run file."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def model_stamp(model_dir):
    """A digest of the names, sizes and modification times of the files under ``model_dir``."""
    model_dir = os.fspath(model_dir)
    digest = hashlib.sha1()
    for dirpath, dirnames, filenames in os.walk(model_dir):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            digest.update(f"{os.path.relpath(path, model_dir)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def is_run_dir(path):
    """True if ``path`` is a training run folder (it has ``split.json``)."""
    return os.path.isfile(os.path.join(os.fspath(path), SPLIT_FILE))


def read_cached_scores(run_dir):
    """The score cache of a run folder, or None when there is none (or it cannot be read).

    Returns:
        dict with ``stamp`` (the :func:`model_stamp` of the model that scored), ``labels``
        and ``rows`` (image path -> scores).
    """
    path = os.path.join(os.fspath(run_dir), SCORES_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {
                "stamp": str(data["model_stamp"]),
                "labels": [str(label) for label in data["labels"].tolist()],
                "rows": dict(zip(data["paths"].tolist(), np.asarray(data["scores"], dtype=np.float32))),
            }
    except (OSError, ValueError, KeyError):
        return None  # an unreadable cache is simply recomputed


def write_cached_scores(run_dir, paths, labels, scores):
    """Adds scores of the run's saved model to ``RUN_DIR/scores.npz`` (what :meth:`TrainingRun.scores` reads).

    Scores cached for another model (an older save) or other labels are dropped.

    Args:
        run_dir: the run folder.
        paths: absolute image paths, one per row of ``scores``.
        labels: the class names of the score columns.
        scores: array ``[len(paths), len(labels)]``.
    """
    run_dir = os.fspath(run_dir)
    stamp = model_stamp(os.path.join(run_dir, MODEL_DIR))
    rows = dict(zip(paths, np.asarray(scores, dtype=np.float32)))
    old = read_cached_scores(run_dir)
    if old is not None and old["stamp"] == stamp and old["labels"] == list(labels):
        rows = {**old["rows"], **rows}
    target = os.path.join(run_dir, SCORES_FILE)
    tmp = target + ".tmp.npz"
    try:
        np.savez(
            tmp, paths=np.array(list(rows), dtype=str), labels=np.array(list(labels), dtype=str),
            scores=np.stack(list(rows.values())).astype(np.float32), model_stamp=np.array(stamp),
        )
        os.replace(tmp, target)
    except OSError:
        pass  # a read-only run folder only costs scoring again next time

"""The training run folder's layout: its file names, and the few reads and writes that need no model.

Only this module names the files; :class:`~keras_cvcls.training_run.TrainingRun` owns
the folder and everything else goes through it::

    RUN_DIR/
      split.json           data folder (and validation folder), seed, test size, train/test image ids
      options.json         what the run was made with: create's arguments and the training call's
      model/               the saved classifier (load_classifier(RUN_DIR) reads it)
      class_map.json       {"0": label, ...}
      history.json         train_accuracy, eval_accuracy, lr per epoch (+ Keras' logs, recipe, timing)
      training_curve.png   train/eval accuracy per epoch
      logs/                TensorBoard logs
      scores.npz           the saved model's scores, by image path (TrainingRun.scores' cache)
      report.html          the HTML report the UI serves

A run is built in ``RUN_DIR.partial/`` beside it and moved into place in one step when it is
saved (:func:`publish`), so ``RUN_DIR`` holds a complete run or none: a killed run, or a killed
re-train over a finished one, never leaves a model beside another run's split. While a run is
built, ``RUN_DIR.partial/backup/`` holds what resuming it needs::

    RUN_DIR.partial/backup/
      progress.json        the finished epochs' Keras logs and evaluation record (RunProgress)
      fit-0/, fit-1/       keras.callbacks.BackupAndRestore's folder of each model.fit (weights, optimizer, epoch)
"""

import ctypes
import errno
import hashlib
import json
import os
import secrets
import shutil
import sys

import numpy as np

from keras_cvcls.data.json_files import write_json_atomic

MODEL_DIR = "model"
SPLIT_FILE = "split.json"
OPTIONS_FILE = "options.json"
PARTIAL_SUFFIX = ".partial"
BACKUP_DIR = "backup"
PROGRESS_FILE = "progress.json"
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


def partial_dir(run_dir):
    """``RUN_DIR.partial``: where the run is built until it is saved."""
    return os.path.abspath(os.fspath(run_dir)) + PARTIAL_SUFFIX


def is_resumable(partial):
    """True if ``partial`` holds a run in progress that can be resumed (its split, options and backup folder)."""
    return all(
        check(os.path.join(partial, name))
        for check, name in ((os.path.isfile, SPLIT_FILE), (os.path.isfile, OPTIONS_FILE), (os.path.isdir, BACKUP_DIR))
    )


def target_state(run_dir):
    """What ``run_dir`` holds now: ``"absent"``, ``"empty"`` (an empty folder), ``"run"`` (a training run)
    or ``"other"`` (anything else, never replaced)."""
    if not os.path.lexists(run_dir):
        return "absent"
    if os.path.isdir(run_dir) and not os.path.islink(run_dir):
        if not os.listdir(run_dir):
            return "empty"
        if is_run_dir(run_dir):
            return "run"
    return "other"


def _exchange(a, b):
    """Swaps two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where that is unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # an old kernel, or a file system without it: two renames instead
    raise OSError(code, os.strerror(code), b)


def publish(built_dir, run_dir):
    """Moves a finished run folder ``built_dir`` to ``run_dir``, replacing what is there in one step.

    On Linux the old and the new folder are swapped atomically; elsewhere (or on a file
    system that cannot) the old one is renamed aside first, and for that instant ``run_dir``
    is missing, never mixed. The old run is deleted afterwards.

    Raises:
        OSError: when the folders cannot be renamed (``built_dir`` is then left as it was).
    """
    built_dir, run_dir = os.path.abspath(built_dir), os.path.abspath(run_dir)
    if not os.path.lexists(run_dir):
        os.rename(built_dir, run_dir)
        return
    parent, name = os.path.split(run_dir)
    aside = os.path.join(parent, f".{name}.replaced-{secrets.token_hex(4)}")
    if _exchange(built_dir, run_dir):
        os.rename(built_dir, aside)  # built_dir now holds the old run
    else:
        os.rename(run_dir, aside)
        try:
            os.rename(built_dir, run_dir)
        except OSError:
            os.rename(aside, run_dir)
            raise
    shutil.rmtree(aside, ignore_errors=True)


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

"""What a training run was made with (``options.json``), and whether a folder may take a new run.

:class:`~keras_cvcls.training_run.TrainingRun` records the arguments of ``create`` and of the
training call; resuming an interrupted run requires the same ones, because
``keras.callbacks.BackupAndRestore`` can only restore the model and optimizer it backed up.
"""

import json
import os

from keras_cvcls.run_folder import is_resumable, target_state

# Training options that do not change what is trained: a resumed run may give others.
_NOT_RECORDED = ("verbose", "callbacks")


def recordable(options):
    """The options as JSON values, those that are not (callables, callbacks) left out."""
    recorded = {}
    for key, value in options.items():
        if key in _NOT_RECORDED:
            continue
        try:
            recorded[key] = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError):
            continue
    return recorded


def refuse_other_options(recorded, given, what, where):
    """Raises ``ValueError`` naming every option that differs between a run's record and a resumption."""
    different = [
        f"{key}: was {recorded.get(key)!r}, now {given.get(key)!r}"
        for key in sorted(set(recorded) | set(given))
        if recorded.get(key) != given.get(key)
    ]
    if different:
        raise ValueError(
            f"The run in {where} was {what} with other options; resume it with the same ones, or start over with "
            f"if_exists='overwrite' (keras-cvcls train --overwrite). Received: {'; '.join(different)}"
        )


def create_arguments(data_dir, val_dir, test_size, seed, backbone, weights, image_size, dropout, precision):
    """What ``options.json`` records of :meth:`TrainingRun.create`'s arguments."""
    return recordable({
        "data_dir": _absolute(data_dir), "val_dir": _absolute(val_dir) if val_dir else None,
        "test_size": None if val_dir else test_size, "seed": seed, "backbone": backbone,
        "weights": os.fspath(weights) if weights is not None else None, "image_size": image_size,
        "dropout": dropout, "precision": precision,
    })


def _absolute(path):
    """A local path made absolute; a ``tf.io.gfile`` URL (``gs://...``) as it is."""
    path = os.fspath(path)
    return path if "://" in path else os.path.abspath(path)


def check_target(run_dir, partial, if_exists):
    """Refuses a taken ``run_dir`` as ``if_exists`` says; returns True when an interrupted run is to be resumed."""
    state = target_state(run_dir)
    interrupted = is_resumable(partial)
    if state == "other":
        raise ValueError(
            "The run folder exists and is not a training run; keras-cvcls never writes into, or replaces, "
            f"other files. Choose a new or empty folder. Received: run_dir={run_dir!r}"
        )
    if if_exists == "error" and interrupted:
        raise ValueError(
            f"An interrupted run of this folder is in {partial}. Continue it from its last finished epoch with "
            "if_exists='resume' (keras-cvcls train --resume), or start over with if_exists='overwrite' "
            f"(--overwrite). Received: run_dir={run_dir!r}"
        )
    if if_exists == "error" and state == "run":
        raise ValueError(
            "The run folder already holds a training run. Replace it with if_exists='overwrite' "
            "(keras-cvcls train --overwrite: the old run stays as it is until the new one is complete), "
            f"or choose another folder. Received: run_dir={run_dir!r}"
        )
    if if_exists == "resume" and state == "run" and not interrupted:
        raise ValueError(
            "The run in this folder is complete: there is nothing to resume. Load it with TrainingRun.load, "
            f"or train it again with if_exists='overwrite'. Received: run_dir={run_dir!r}"
        )
    return if_exists == "resume" and interrupted

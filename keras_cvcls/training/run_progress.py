"""The record of a run's finished epochs, kept on disk so that a resumed fit continues it without gaps."""

import json
import math
import os

import keras

from keras_cvcls.data.json_files import write_json_atomic


def _set(record, key, epoch, value):
    """``record[key][epoch] = value``, dropping later epochs (a fit from ``epoch`` starts there afresh)."""
    values = record.setdefault(key, [])
    del values[epoch:]
    values.extend([None] * (epoch - len(values)) + [value])


def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class RunProgress(keras.callbacks.Callback):
    """Keeps each finished epoch's Keras logs and evaluation record, and gives them back to a resumed fit.

    ``keras.callbacks.BackupAndRestore`` brings a killed fit's weights, optimizer and epoch
    back; what the fit recorded of its earlier epochs (Keras' ``History``, the classifier's
    :class:`~keras_cvcls.training.EvalHistory`) died with the process. This callback writes them
    to ``path`` at the end of every epoch and, when a fit ends, fills the epochs it did not run
    itself into ``classifier.eval_history``, so the run's history has no gaps.

    Put it before ``BackupAndRestore`` in ``callbacks``: an epoch is then in the record before
    its backup exists, and a resumed fit never starts after an epoch the record lacks.

    Args:
        path: the JSON file (read when it exists); None keeps the record in memory only.
        classifier: the :class:`~keras_cvcls.models.ImageClassifier` being trained; its
            ``eval_history`` is the record in progress during a fit.

    Attributes:
        logs: ``{key: [value per epoch]}``, Keras' epoch logs (``loss``, ``val_accuracy``, ...).
        curves: ``{key: [value per epoch]}``, the classifier's ``eval_history.history``.

    Example:
        >>> progress = RunProgress("run.partial/backup/progress.json", model)
        >>> model.fit(train, epochs=8, callbacks=[progress, keras.callbacks.BackupAndRestore("run.partial/backup/fit-0")])
    """

    def __init__(self, path, classifier):
        super().__init__()
        self.path = os.fspath(path) if path is not None else None
        self.classifier = classifier
        self.logs, self.curves = {}, {}
        if self.path and os.path.isfile(self.path):
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            self.logs, self.curves = data.get("logs", {}), data.get("curves", {})
        self._first_epoch = None

    def _live_history(self):
        eval_history = getattr(self.classifier, "eval_history", None)
        return None if eval_history is None else eval_history.history

    def on_train_begin(self, logs=None):
        self._first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch is None:
            self._first_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            _set(self.logs, key, epoch, _number(value))
        history = self._live_history()
        for key, values in (history or {}).items():
            if epoch < len(values):
                _set(self.curves, key, epoch, _number(values[epoch]))
        if self.path:
            write_json_atomic(self.path, {"logs": self.logs, "curves": self.curves})

    def on_train_end(self, logs=None):
        """Puts the recorded epochs this fit started after (a resumed one) into the live record."""
        history = self._live_history()
        if history is None:
            return
        for key, recorded in self.curves.items():
            done = len(recorded) if self._first_epoch is None else min(self._first_epoch, len(recorded))
            values = history.setdefault(key, [])
            values.extend([math.nan] * (done - len(values)))
            for epoch in range(done):
                values[epoch] = math.nan if recorded[epoch] is None else recorded[epoch]

    def keras_history(self):
        """Keras' epoch logs of every epoch done, as ``History.history`` gives them (None where not finite)."""
        return {key: list(values) for key, values in self.logs.items()}

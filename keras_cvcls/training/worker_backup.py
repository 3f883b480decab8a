"""``WorkerBackup``: a non-chief worker's ``BackupAndRestore``, restoring from the chief's backup."""

import keras


class WorkerBackup(keras.callbacks.BackupAndRestore):
    """Restores a fit from the chief's ``BackupAndRestore`` folder; backs up into a folder of its own.

    In multi-worker training every worker holds the same weights and only the chief writes
    the run folder, its backup included. A resumed worker must start from the chief's state,
    so it reads the chief's backup (on storage both can read) when the fit begins. It still
    saves its own backups, to ``backup_dir`` (a temporary folder): saving reads distributed
    variables, which every worker must do together.

    Args:
        backup_dir: this worker's own backup folder.
        restore_from: the chief's ``BackupAndRestore`` folder, read at the start of the fit.

    Example:
        >>> model.fit(train, epochs=8, callbacks=[WorkerBackup("/tmp/w1/backup", "runs/1.partial/backup/fit-0")])
    """

    def __init__(self, backup_dir, restore_from):
        super().__init__(backup_dir, double_checkpoint=True, delete_checkpoint=False)
        self.restore_from = restore_from

    def on_train_begin(self, logs=None):
        """Loads the chief's latest backup, or its previous one when the latest cannot be read (as the chief does)."""
        own = (self._weights_path, self._training_metadata_path)
        chief = keras.callbacks.BackupAndRestore(self.restore_from, double_checkpoint=True)
        try:
            for paths in ((chief._weights_path, chief._training_metadata_path),
                          (chief._prev_weights_path, chief._prev_training_metadata_path)):
                self._weights_path, self._training_metadata_path = paths
                try:
                    self._load_model()
                    return
                except (OSError, ValueError, KeyError):
                    continue  # a backup cut short by the kill: the previous one, as BackupAndRestore does
        finally:
            self._weights_path, self._training_metadata_path = own

    def get_config(self):
        return {"backup_dir": self.backup_dir, "restore_from": self.restore_from}

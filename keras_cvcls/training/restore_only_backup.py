"""``RestoreOnlyBackup``: a non-chief worker's ``BackupAndRestore``, reading the chief's backup and writing none."""

import keras


class RestoreOnlyBackup(keras.callbacks.BackupAndRestore):
    """Restores a fit from another process's ``BackupAndRestore`` folder and never writes it.

    In multi-worker training every worker holds the same weights, and only the chief writes
    the run folder (its backup included). A resumed worker must start from the same state
    as the chief, so it reads the chief's backup (on storage both can read) at the start of
    the fit; it writes nothing there, and deletes nothing.

    Args:
        backup_dir: the chief's ``BackupAndRestore`` folder.

    Example:
        >>> model.fit(train, epochs=8, callbacks=[RestoreOnlyBackup("runs/1.partial/backup/fit-0")])
    """

    def __init__(self, backup_dir):
        super().__init__(backup_dir, double_checkpoint=True, delete_checkpoint=False)

    def _save_model(self):
        pass  # the chief writes the backup

    def on_train_end(self, logs=None):
        pass  # and removes it

    def get_config(self):
        return {"backup_dir": self.backup_dir}

"""cvtk's ``Context``: where outputs (exports, augmented images, saved models) are written."""

import os

DEFAULT_OUTPUT_DIR = "cvtk_output"


class StorageContext:
    """The three folders of a cvtk context; all default to ``./cvtk_output``.

    Args:
        outputs_path: folder for outputs (local deployments' exported models).
        persistent_path: folder for files kept between sessions (saved models).
        temp_path: folder for intermediate files (augmented images).
    """

    def __init__(self, outputs_path=None, persistent_path=None, temp_path=None):
        default = os.path.abspath(DEFAULT_OUTPUT_DIR)
        self.outputs_path = os.path.abspath(os.fspath(outputs_path)) if outputs_path else default
        self.persistent_path = os.path.abspath(os.fspath(persistent_path)) if persistent_path else default
        self.temp_path = os.path.abspath(os.fspath(temp_path)) if temp_path else default

    def __repr__(self):
        return (
            f"StorageContext(outputs_path={self.outputs_path!r}, persistent_path={self.persistent_path!r}, "
            f"temp_path={self.temp_path!r})"
        )


class Context:
    """cvtk's global context: a :class:`StorageContext` (``context.storage``).

    Example:
        >>> Context.create(outputs_path="out", persistent_path="out", temp_path="out")
        >>> Context.get_global_context().storage.persistent_path
        '/home/me/out'
    """

    _global = None

    def __init__(self, storage=None):
        self.storage = storage if storage is not None else StorageContext()

    @classmethod
    def create(cls, outputs_path=None, persistent_path=None, temp_path=None):
        """Creates the global context with these folders (created when first written to) and returns it."""
        cls._global = cls(StorageContext(outputs_path, persistent_path, temp_path))
        return cls._global

    @classmethod
    def get_global_context(cls):
        """The global context; a default one (``./cvtk_output``) if none was created."""
        if cls._global is None:
            cls._global = cls()
        return cls._global

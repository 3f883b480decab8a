"""Atomic JSON files: sidecars, caches and run records are never seen half-written."""

import json
import os
import tempfile


def write_json_atomic(path, data, **dump_kwargs):
    """Writes ``data`` as JSON to ``path`` through a temporary file in the same folder and a rename.

    Creates the folder when missing. ``dump_kwargs`` go to ``json.dump``.

    Raises:
        OSError: when the folder is not writable (the temporary file is removed).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, **dump_kwargs)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise

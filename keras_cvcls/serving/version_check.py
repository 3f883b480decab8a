"""Is a version folder fit to serve: complete (its files stopped changing) and consistent.

A version copied or written into the base path in place (``cp -r``, ``gsutil cp``, a slow
disk) is visible while half-written. :class:`~keras_cvcls.serving.model_manager.ModelManager`
loads a version only once :func:`folder_fingerprint` is unchanged between two looks, and
switches to it only after :func:`check_version` passes; otherwise the serving version stays
and the status shows why.
"""

import os

from keras_cvcls.serving.status import Code, ServingError


def folder_fingerprint(path):
    """Every file's relative path, size and modification time under ``path``, sorted.

    Args:
        path: a version folder.

    Returns:
        A tuple to compare with a later one; None when the folder cannot be read (it is
        being removed or renamed).
    """
    entries = []
    try:
        for root, dirs, files in os.walk(path, onerror=_raise):
            dirs.sort()
            for name in files:
                full = os.path.join(root, name)
                stat = os.stat(full)
                entries.append((os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns))
    except OSError:
        return None
    return tuple(sorted(entries))


def _raise(error):
    raise error


def _refused(loaded, reason):
    return ServingError(
        Code.FAILED_PRECONDITION,
        f"version {loaded.version} of model {loaded.name} ({loaded.path}) is not served: {reason}. The version "
        "serving before it keeps serving; this one is loaded again once its files change and stop changing "
        "(write versions elsewhere and rename them into place, as export_for_serving does).",
    )


def _score_width(loaded, signature):
    """C of the ``scores`` output ``[-1, C]``, or None when the signature does not say."""
    scores = loaded.signature_defs[signature].outputs.get("scores")
    if scores is None or scores.tensor_shape.unknown_rank or not scores.tensor_shape.dim:
        return None
    width = scores.tensor_shape.dim[-1].size
    return width if width >= 0 else None


def check_version(loaded):
    """Checks a loaded version before it serves.

    Every version needs a predict signature. A keras-cvcls export (it has the ``labels``
    signature, or ``assets/labels.txt`` and a ``scores`` output) also needs all of its
    signatures, ``assets/labels.txt`` with one complete line per ``scores`` column, and the
    labels table it loaded equal to that file (a file still being written when the version
    loaded leaves a table with truncated names).

    Args:
        loaded: a :class:`~keras_cvcls.serving.loaded_version.LoadedVersion`.

    Raises:
        ServingError: FAILED_PRECONDITION saying what is wrong.
    """
    import tensorflow as tf

    from keras_cvcls.export.saved_model import IMAGES_SIGNATURE, LABELS_ASSET, LABELS_SIGNATURE, read_labels
    from keras_cvcls.tf_serving_names import SERVING_SIGNATURE

    if not loaded.signatures:
        raise _refused(loaded, "it has no predict signature")
    labels_file = os.path.join(loaded.path, "assets", LABELS_ASSET)
    scores_signature = next((s for s in (SERVING_SIGNATURE, IMAGES_SIGNATURE) if s in loaded.signature_defs), None)
    exported = LABELS_SIGNATURE in loaded.signatures or (
        os.path.exists(labels_file) and scores_signature and _score_width(loaded, scores_signature) is not None
    )
    if not exported:
        return
    missing = [s for s in (SERVING_SIGNATURE, IMAGES_SIGNATURE, LABELS_SIGNATURE) if s not in loaded.signatures]
    if missing:
        raise _refused(loaded, f"signatures {missing} of a keras-cvcls export are missing")
    try:
        labels = read_labels(loaded.path)
    except (OSError, UnicodeDecodeError) as e:
        raise _refused(loaded, f"assets/{LABELS_ASSET} cannot be read ({e})") from None
    width = _score_width(loaded, SERVING_SIGNATURE)
    if width is not None and len(labels) != width:
        raise _refused(
            loaded, f"assets/{LABELS_ASSET} has {len(labels)} complete lines, but the scores have {width} columns"
        )
    ids = tf.range(len(labels) + 1, dtype=tf.int64)
    names = loaded.signatures[LABELS_SIGNATURE].function(class_ids=ids)["labels"].numpy()
    table = [name.decode("utf-8", "replace") for name in names]
    if table != labels + [""]:
        raise _refused(
            loaded, f"the labels it loaded {table[:-1]} differ from assets/{LABELS_ASSET} {labels} (the file changed "
            "while the version loaded)"
        )

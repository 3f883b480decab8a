"""The side files of an edge model: ``NAME.labels.txt`` and ``NAME.json`` next to ``NAME.tflite`` / ``NAME.onnx``.

A ``.tflite`` or ``.onnx`` file holds a graph of tensors; what a caller needs besides (the
class names in score order, the input size, how images were fitted to it, how the input is
quantised) is written beside it:

* ``NAME.labels.txt``: the class names, one per line, in the order of the score columns (the
  file Android and iOS sample apps bundle next to a model);
* ``NAME.json``: ``{"format", "labels", "image_size", "resize_mode", "quantization", "input",
  "output", "preprocessing", "keras_cvcls_version"}``.

Why side files rather than TFLite metadata: the metadata writer (``tflite-support``) is
unmaintained: its last release, 0.4.4 of July 2023, requires ``protobuf<4``, and TensorFlow 2.21
requires ``protobuf>=6.31.1``, so the two cannot be installed together. LiteRT's interpreter does
not read metadata anyway. Side files work for both formats and any runtime.
"""

import json
import os

from keras_cvcls.data.json_files import open_new, replacing, write_json_atomic

EDGE_FORMATS = {".tflite": "tflite", ".onnx": "onnx"}


def side_paths(model_path):
    """``(labels_path, json_path)`` of the side files of ``model_path`` (``x.tflite`` -> ``x.labels.txt``, ``x.json``)."""
    stem, _ = os.path.splitext(os.fspath(model_path))
    return stem + ".labels.txt", stem + ".json"


def check_edge_path(path, fmt):
    """Returns ``path`` as a str, or raises ValueError when it does not end in the format's suffix."""
    suffix = next(s for s, f in EDGE_FORMATS.items() if f == fmt)
    path = os.fspath(path)
    if not path.endswith(suffix):
        raise ValueError(f"The {fmt} model path must end in {suffix!r}. Received: path={path!r}")
    return path


def write_model_file(path, content, info):
    """Writes the model bytes and its side files, each atomically (a temporary file renamed into place)."""
    from keras_cvcls import __version__

    labels_path, json_path = side_paths(path)
    _write_bytes_atomic(labels_path, "".join(label + "\n" for label in info["labels"]).encode("utf-8"))
    write_json_atomic(json_path, {**info, "keras_cvcls_version": __version__}, indent=1, ensure_ascii=False)
    _write_bytes_atomic(path, content)


def _write_bytes_atomic(path, content):
    with replacing(path) as tmp, open_new(tmp, "wb") as f:
        f.write(content)


def read_edge_info(model_path):
    """Reads ``NAME.json`` beside an edge model, checked against ``NAME.labels.txt``.

    Args:
        model_path: a ``.tflite`` or ``.onnx`` file written by
            :func:`~keras_cvcls.export.export_tflite` or :func:`~keras_cvcls.export.export_onnx`.

    Returns:
        The dict written at export (``labels``, ``image_size``, ``resize_mode``, ``input``, ...).

    Raises:
        FileNotFoundError: when the model or a side file is missing (the message names it).
        ValueError: when the side files disagree or are not ours.
    """
    model_path = os.fspath(model_path)
    labels_path, json_path = side_paths(model_path)
    for needed in (model_path, json_path, labels_path):
        if not os.path.isfile(needed):
            raise FileNotFoundError(
                f"{needed} is missing: an edge model is read with the side files export_tflite/export_onnx "
                f"write next to it ({os.path.basename(labels_path)}, {os.path.basename(json_path)}). "
                f"Received: path={model_path!r}"
            )
    with open(json_path, encoding="utf-8") as f:
        info = json.load(f)
    with open(labels_path, encoding="utf-8") as f:
        labels = f.read().split("\n")[:-1]
    if not isinstance(info, dict) or info.get("labels") != labels or "image_size" not in info:
        raise ValueError(
            f"{json_path} and {labels_path} disagree, or were not written by keras-cvcls: re-export the model. "
            f"Received: labels={labels!r}"
        )
    return info

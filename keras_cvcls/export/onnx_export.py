"""Exports a classifier as an ONNX model (tf2onnx), for ONNX Runtime and the runtimes that read ONNX.

What is written (``NAME`` is the path without ``.onnx``): ``NAME.onnx`` (input ``images``
float32 ``[N, H, W, 3]``, pixel values 0-255, NHWC as in Keras; output ``scores`` float32
``[N, C]``), ``NAME.labels.txt`` and ``NAME.json``, as for TFLite
(:mod:`keras_cvcls.export.edge_files`). The model is float32; normalisation runs inside,
decoding and resizing are the caller's (:mod:`keras_cvcls.export.edge_model`).

tf2onnx (1.17) converts our float32 inference graph under TensorFlow 2.21, protobuf 7 and
NumPy 2; it is an optional dependency (``pip install 'keras-cvcls[onnx]'``).
"""

from keras_cvcls.export.edge_files import check_edge_path, write_model_file
from keras_cvcls.export.edge_model import edge_info, edge_parts, inference_function

DEFAULT_OPSET = 17


def _import_tf2onnx():
    try:
        import tf2onnx
    except ImportError as e:
        raise ImportError(
            "ONNX export needs tf2onnx and onnxruntime: pip install 'keras-cvcls[onnx]' "
            f"(tf2onnx>=1.17, onnxruntime). Received: {e}"
        ) from e
    return tf2onnx


def export_onnx(classifier, path, *, opset=DEFAULT_OPSET, labels=None, image_size=None, resize_mode=None):
    """Writes an ONNX model of a classifier, with its labels beside it.

    Args:
        classifier: an :class:`~keras_cvcls.models.ImageClassifier`, a
            :class:`~keras_cvcls.models.ScikitClassifier`, or a plain Keras model given
            ``labels``, ``image_size`` and ``resize_mode``.
        path: the file to write, ending in ``.onnx``.
        opset: the ONNX opset (default 17: ONNX Runtime 1.14+).
        labels: the class names, for a plain Keras model only.
        image_size: ``(height, width)``, for a plain Keras model only.
        resize_mode: ``"crop"``, ``"pad"`` or ``"stretch"``, for a plain Keras model only.

    Returns:
        ``path``, as a str.

    Raises:
        ValueError: for a path not ending in ``.onnx``, an ``opset`` out of range, a
            classifier that cannot be exported, or a graph tf2onnx cannot convert.
        ImportError: when tf2onnx is not installed (the message says what to install).

    Example:
        >>> export_onnx(model, "flowers.onnx")
        'flowers.onnx'
        >>> OnnxClassifier("flowers.onnx").predict_scores(test_set).shape
        (len(test_set), 3)
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= 18:
        raise ValueError(f"opset must be an int from 13 to 18 (tf2onnx 1.17's range). Received: opset={opset!r}")
    path = check_edge_path(path, "onnx")
    tf2onnx = _import_tf2onnx()
    model, labels, image_size, resize_mode = edge_parts(classifier, labels, image_size, resize_mode)
    function = inference_function(model, image_size)
    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=opset)
    except Exception as e:  # tf2onnx raises bare Exceptions and ValueErrors for unsupported ops
        raise ValueError(f"tf2onnx cannot convert this model (opset {opset}): {e}. Received: opset={opset!r}") from None
    (graph_input,), (graph_output,) = proto.graph.input, proto.graph.output
    info = edge_info(
        "onnx", labels, image_size, resize_mode, "float32",
        {"name": graph_input.name, "dtype": "float32", "shape": [-1, *image_size, 3]},
        {"name": graph_output.name, "dtype": "float32", "shape": [-1, len(labels)]},
    )
    write_model_file(path, proto.SerializeToString(), info)
    return path

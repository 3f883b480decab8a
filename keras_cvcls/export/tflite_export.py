"""Exports a classifier as a TensorFlow Lite file, in float32, float16, dynamic-range or full-integer int8.

What is written (``NAME`` is the path without ``.tflite``)::

    NAME.tflite        the model: input ``images`` [N, H, W, 3] (N = 1 until resized), output [N, C]
    NAME.labels.txt    the class names, one per line, in score order
    NAME.json          labels, image_size, resize_mode, quantization, input/output dtype and quantisation

The four quantisations:

* ``"float32"``: the Keras model's numbers (scores equal within about 1e-6).
* ``"float16"``: weights stored as float16 (half the size); computed in float32 on a CPU, in
  float16 on GPU delegates.
* ``"dynamic"``: weights stored as int8 (a quarter of the size), activations float32; the
  input and output are float32. No calibration data needed.
* ``"int8"``: full-integer quantisation, every operator in int8 (what Edge TPUs, NPUs and
  microcontrollers run), calibrated on ``representative_data``, a sample of the training split.
  The input is **uint8**: the RGB pixel values 0-255 as decoded (scale 1, zero point 0), so a
  camera frame goes in without arithmetic; the output is uint8 probabilities (scale 1/256,
  zero point 0: ``score = q / 256``). The side file records both quantisations.

The float models take float32 pixel values 0-255. In every case the model normalises inside;
the caller decodes and resizes (see :mod:`keras_cvcls.export.edge_model`).
"""

import numpy as np

from keras_cvcls.export.edge_files import check_edge_path, write_model_file
from keras_cvcls.export.edge_model import edge_info, edge_parts, frozen_function

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
DEFAULT_CALIBRATION_IMAGES = 100


def _check_quantization(quantization, representative_data):
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}. Received: quantization={quantization!r}")
    if quantization == "int8" and representative_data is None:
        raise ValueError(
            "int8 quantisation calibrates the range of every activation on representative images: pass "
            "representative_data, a sample of the training split (a ClassificationDataset, e.g. "
            "`representative_data=train_set`; about 100 images are used), or choose quantization='dynamic' "
            "(int8 weights, float activations, no calibration). Received: representative_data=None"
        )
    if quantization != "int8" and representative_data is not None:
        raise ValueError(
            f"representative_data calibrates int8 quantisation only; quantization={quantization!r} does not use it. "
            f"Received: representative_data of type {type(representative_data).__name__}"
        )


def _calibration_batches(representative_data, image_size, resize_mode, num_images, seed):
    """A generator function of ``[1, H, W, 3]`` float32 arrays, pixel values 0-255, as the converter wants."""
    from keras_cvcls.data.classification_dataset import ClassificationDataset
    from keras_cvcls.data.pipeline import make_pipeline

    if isinstance(representative_data, ClassificationDataset):
        if len(representative_data) == 0:
            raise ValueError(f"representative_data has no images. Received: representative_data={representative_data!r}")
        records = representative_data.images
        chosen = np.sort(np.random.default_rng(seed).choice(len(records), min(num_images, len(records)), replace=False))
        sample = representative_data.subset([records[i].id for i in chosen], "calibration")
        pipeline = make_pipeline(sample, image_size=image_size, resize_mode=resize_mode, batch_size=1)

        def images():
            for batch in pipeline:
                yield np.asarray(batch[0] if isinstance(batch, tuple) else batch, np.float32)
    else:
        array = np.asarray(representative_data) if not isinstance(representative_data, (str, bytes)) else None
        if array is None or array.ndim != 4 or array.shape[1:] != (*image_size, 3) or not len(array) or array.dtype.kind not in "uif":
            raise ValueError(
                "representative_data must be a ClassificationDataset (a sample of the training split) or an array "
                f"of images [N, {image_size[0]}, {image_size[1]}, 3] with pixel values 0-255. Received: "
                f"representative_data={representative_data if array is None else f'array of shape {array.shape}'!r}"
            )

        def images():
            for image in array[:num_images]:
                yield image[np.newaxis].astype(np.float32)

    def batches():
        for i, image in enumerate(images()):
            if i == 0:
                # The uint8 input's quantisation comes from the range seen here: one black and one
                # white pixel make it exactly 0-255 (scale 1, zero point 0), so callers feed raw pixels.
                image = image.copy()
                image[0, 0, 0] = 0.0
                image[0, 0, 1] = 255.0
            yield [image]

    return batches


def _converter_error_message(error):
    """The converter's own error lines (its exceptions carry a whole MLIR dump), e.g. "'tf.Erfinv' op is neither ..."."""
    found = []
    for line in str(error).splitlines():
        _, sep, message = line.partition("error: ")
        if sep and message.strip() and not message.startswith("failed while converting"):
            found.append(message.strip())
    lines = str(error).strip().splitlines()
    text = "; ".join(dict.fromkeys(found)) or (lines[0] if lines else repr(error))
    return text if len(text) < 800 else text[:800] + " ..."


def convert_to_tflite(model, image_size, *, quantization="float32", calibration=None):
    """The bytes of a ``.tflite`` file of a Keras model taking float32 ``[N, H, W, 3]`` images.

    Raises:
        ValueError: when TFLite's builtin operators cannot express the model (the message
            quotes the converter), or calibration fails.
    """
    import tensorflow as tf
    from tensorflow.lite.python.convert_phase import ConverterError

    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen_function(model, image_size)], tf.Module())
    # Builtins only: the TF-op fallback (SELECT_TF_OPS) needs the Flex delegate, which LiteRT's
    # interpreter and the mobile runtimes do not ship by default.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    try:
        return converter.convert()
    except (ConverterError, RuntimeError) as e:
        raise ValueError(
            f"TensorFlow Lite cannot convert this model to {quantization} with its builtin operators: "
            f"{_converter_error_message(e)}. Replace the layers named there by ones TFLite supports "
            f"(https://ai.google.dev/edge/litert/models/ops_compatibility), or serve the SavedModel "
            f"(export_for_serving). Received: quantization={quantization!r}"
        ) from None


def _tensor_details(details):
    scale, zero_point = details["quantization"]
    record = {"name": details["name"], "dtype": np.dtype(details["dtype"]).name,
              "shape": [int(d) for d in details["shape_signature"]]}
    if scale:
        record.update(scale=float(scale), zero_point=int(zero_point))
    return record


def export_tflite(
    classifier,
    path,
    *,
    quantization="float32",
    representative_data=None,
    num_calibration_images=DEFAULT_CALIBRATION_IMAGES,
    seed=0,
    labels=None,
    image_size=None,
    resize_mode=None,
):
    """Writes a TensorFlow Lite model with its labels for phones and edge devices.

    The model is the batch-norm-folded inference form of the classifier, in float32 (a mixed
    precision :class:`~keras_cvcls.models.ImageClassifier` is rebuilt in float32 first), with
    normalisation inside. Its input is ``images`` ``[N, H, W, 3]`` at the classifier's
    ``image_size`` (``N`` is 1 until the interpreter resizes it): float32 pixel values 0-255,
    or for ``"int8"`` uint8 pixel values as decoded. The caller decodes and fits the image to
    ``image_size`` by the ``resize_mode`` written in ``NAME.json``
    (:class:`~keras_cvcls.models.TFLiteClassifier` does it all in Python). The labels go in
    ``NAME.labels.txt`` and ``NAME.json`` beside the file, not TFLite metadata: the metadata
    writer (tflite-support 0.4.4, 2023) is unmaintained and needs ``protobuf<4``, which
    TensorFlow 2.21 excludes.

    Args:
        classifier: an :class:`~keras_cvcls.models.ImageClassifier`, a
            :class:`~keras_cvcls.models.ScikitClassifier`, or a plain Keras model given
            ``labels``, ``image_size`` and ``resize_mode`` (as for
            :func:`~keras_cvcls.export.export_for_serving`).
        path: the file to write, ending in ``.tflite``; its folder is created when missing.
        quantization: ``"float32"`` (default), ``"float16"``, ``"dynamic"`` (int8 weights,
            float activations) or ``"int8"`` (full-integer, uint8 input and output).
        representative_data: for ``"int8"`` only (required there): a
            :class:`~keras_cvcls.data.ClassificationDataset`, a sample of the training split
            (``num_calibration_images`` of its images, chosen with ``seed``, are decoded as
            training decodes them), or an array of images ``[N, H, W, 3]``, pixel values 0-255.
        num_calibration_images: how many images calibrate int8 (default 100).
        seed: which images of ``representative_data`` calibrate.
        labels: the class names, for a plain Keras model only.
        image_size: ``(height, width)``, for a plain Keras model only.
        resize_mode: ``"crop"``, ``"pad"`` or ``"stretch"``, for a plain Keras model only.

    Returns:
        ``path``, as a str.

    Raises:
        ValueError: for an unknown ``quantization``, ``"int8"`` without ``representative_data``
            (or ``representative_data`` for another quantisation), a path not ending in
            ``.tflite``, a classifier that cannot be exported, or a model TFLite's builtin
            operators cannot express (the message quotes the converter).

    Example:
        >>> train, val = ds.split(seed=0)
        >>> export_tflite(model, "flowers_int8.tflite", quantization="int8", representative_data=train)
        'flowers_int8.tflite'
        >>> TFLiteClassifier("flowers_int8.tflite").classify("rose.jpg")[0].label
        'rose'
    """
    from ai_edge_litert.interpreter import Interpreter

    _check_quantization(quantization, representative_data)
    if isinstance(num_calibration_images, bool) or not isinstance(num_calibration_images, int) or num_calibration_images < 1:
        raise ValueError(
            f"num_calibration_images must be a positive int. Received: num_calibration_images={num_calibration_images!r}"
        )
    path = check_edge_path(path, "tflite")
    model, labels, image_size, resize_mode = edge_parts(classifier, labels, image_size, resize_mode)
    calibration = None
    if quantization == "int8":
        calibration = _calibration_batches(representative_data, image_size, resize_mode, num_calibration_images, seed)
    content = convert_to_tflite(model, image_size, quantization=quantization, calibration=calibration)
    interpreter = Interpreter(model_content=content)
    (input_details,), (output_details,) = interpreter.get_input_details(), interpreter.get_output_details()
    info = edge_info("tflite", labels, image_size, resize_mode, quantization,
                     _tensor_details(input_details), _tensor_details(output_details))
    write_model_file(path, content, info)
    return path

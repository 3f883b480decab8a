"""The graph an edge export converts: the float32, batch-norm-folded inference form of a classifier.

Shared by :func:`~keras_cvcls.export.export_tflite` and :func:`~keras_cvcls.export.export_onnx`.
The graph takes float32 RGB images ``[N, H, W, 3]``, pixel values 0-255, already at the model's
``image_size``, and returns class probabilities ``[N, C]``. Normalisation runs inside it;
decoding and resizing do not (JPEG/PNG decoding is not an operator of TFLite or ONNX, and a
fixed input size is what mobile runtimes, accelerators and delegates want): the caller decodes
and fits the image to ``image_size`` as ``resize_mode`` says (``crop``: centre-crop the largest
window of the target's aspect ratio, then resize; ``pad``: resize to fit inside, keeping the
aspect ratio, and pad with black; ``stretch``: resize to the target), as
:func:`keras_cvcls.data.decode.decode_image` does for training and serving.
"""

import weakref

from keras_cvcls.export.saved_model import _check_outputs, _inference_form, _serving_parts

# The float32 copy of each mixed-precision classifier exported, built once and refreshed with its
# weights at every export (several exports of one model trace one batch-norm folding, not one each).
_FLOAT32_COPIES = weakref.WeakKeyDictionary()


def _float32_classifier(model):
    """An :class:`ImageClassifier` computing in mixed precision rebuilt in float32 (same weights).

    TFLite and ONNX converters have no bfloat16 kernels, and a float16 file is made from a
    float32 graph by the converter; the weights are float32 in every precision, so nothing is lost.
    """
    from keras_cvcls.models import ImageClassifier

    if not isinstance(model, ImageClassifier) or model.precision in (None, "float32"):
        return model
    copy = _FLOAT32_COPIES.get(model)
    if copy is None:
        copy = ImageClassifier.from_config({**model.get_config(), "precision": "float32", "compile": False})
        _FLOAT32_COPIES[model] = copy
    copy.set_weights(model.get_weights())
    return copy


def edge_parts(classifier, labels=None, image_size=None, resize_mode=None):
    """``(inference keras model, labels, (height, width), resize_mode)`` of a classifier to export.

    Raises:
        ValueError: what :func:`~keras_cvcls.export.export_for_serving` raises for a classifier
            it cannot export (no labels, wrong output, ...).
    """
    model, labels, image_size, resize_mode = _serving_parts(classifier, labels, image_size, resize_mode)
    from keras_cvcls.models import ImageClassifier

    model = _float32_classifier(model)
    _check_outputs(model, labels, image_size)
    # An ImageClassifier keeps its folded copy (refreshed with its weights); other models are folded here.
    inference = model.inference_model() if isinstance(model, ImageClassifier) else _inference_form(model)
    return inference, labels, image_size, resize_mode


def inference_function(model, image_size):
    """The model as a ``tf.function`` of one named input: ``images`` float32 ``[N, H, W, 3]`` -> ``scores``."""
    import tensorflow as tf

    spec = tf.TensorSpec([None, *image_size, 3], tf.float32, name="images")
    return tf.function(lambda images: {"scores": tf.cast(model(images, training=False), tf.float32)},
                       input_signature=[spec])


def frozen_function(model, image_size):
    """:func:`inference_function` as a concrete function with its weights as constants."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Keras 3 variables stay resource variables in a SavedModel-path conversion (TF 2.21), which
    # TFLite then reads at run time as uninitialised state; freezing them makes them weights.
    return convert_variables_to_constants_v2(inference_function(model, image_size).get_concrete_function())


def edge_info(fmt, labels, image_size, resize_mode, quantization, input_details, output_details):
    """The ``NAME.json`` side-file record of an edge model."""
    return {
        "format": fmt,
        "labels": list(labels),
        "image_size": list(image_size),
        "resize_mode": resize_mode,
        "quantization": quantization,
        "input": input_details,
        "output": output_details,
        "preprocessing": (
            f"The caller decodes the image to RGB and fits it to {image_size[0]}x{image_size[1]} "
            f"(height x width) with resize_mode={resize_mode!r}; normalisation runs inside the model."
        ),
    }

"""``TFLiteClassifier``: a ``.tflite`` file scored by the LiteRT interpreter, with the classifier contract."""

import os

import numpy as np

from keras_cvcls.models.edge_classifier import EdgeClassifier


def _quantize(pixels, details):
    """Float pixels to the input's integer type by its (scale, zero point); as they are for a float input."""
    dtype = np.dtype(details["dtype"])
    if dtype.kind == "f":
        return pixels.astype(dtype)
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(pixels / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(values, details):
    if np.dtype(details["dtype"]).kind == "f":
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


class TFLiteClassifier(EdgeClassifier):
    """A TensorFlow Lite classifier written by :func:`~keras_cvcls.export.export_tflite`, run by LiteRT.

    The interpreter is ``ai_edge_litert.interpreter.Interpreter``, the maintained successor of
    ``tf.lite.Interpreter`` (XNNPACK on CPUs). Images are decoded and fitted to the input size
    as in training; for an int8 model they are rounded to uint8 pixels as a camera gives them,
    and the uint8 output is dequantised to probabilities.

    Args:
        path: the ``.tflite`` file, with ``NAME.labels.txt`` and ``NAME.json`` beside it.
        num_threads: interpreter threads; default: all CPU cores (``os.cpu_count()``).

    Raises:
        FileNotFoundError: when the file or a side file is missing.
        ValueError: when the file is not a TFLite model of one image input and one score output.

    Example:
        >>> clf = TFLiteClassifier("flowers_int8.tflite")
        >>> clf.classify("rose.jpg")[0].label
        'rose'
        >>> ClassificationEvaluation(clf, test_set).compute_accuracy()
    """

    format = "tflite"

    def __init__(self, path, *, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        super().__init__(path)
        if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(f"num_threads must be a positive int or None. Received: num_threads={num_threads!r}")
        self.num_threads = num_threads or os.cpu_count() or 1
        try:
            self._interpreter = Interpreter(model_path=self.path, num_threads=self.num_threads)
        except ValueError as e:
            raise ValueError(f"{self.path} is not a TensorFlow Lite model LiteRT can load: {e}") from None
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1 or list(inputs[0]["shape"][1:]) != [*self.image_size, 3]:
            raise ValueError(
                f"{self.path} must have one image input [N, {self.image_size[0]}, {self.image_size[1]}, 3] and one "
                f"output, as its side file says. Received: inputs {[list(d['shape']) for d in inputs]}, "
                f"{len(outputs)} outputs"
            )
        self._input, self._output = inputs[0], outputs[0]
        self._batch = None

    @property
    def input_dtype(self):
        """The numpy dtype the model takes: float32, or uint8 for an int8 model."""
        return np.dtype(self._input["dtype"])

    def _run(self, pixels):
        if self._batch != len(pixels):
            self._interpreter.resize_tensor_input(self._input["index"], [len(pixels), *self.image_size, 3])
            self._interpreter.allocate_tensors()
            self._batch = len(pixels)
        self._interpreter.set_tensor(self._input["index"], _quantize(pixels, self._input))
        self._interpreter.invoke()
        return _dequantize(self._interpreter.get_tensor(self._output["index"]), self._output)

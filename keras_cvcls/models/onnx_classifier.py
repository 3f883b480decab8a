"""``OnnxClassifier``: an ``.onnx`` file scored by ONNX Runtime, with the classifier contract."""

import os

import numpy as np

from keras_cvcls.models.edge_classifier import EdgeClassifier


class OnnxClassifier(EdgeClassifier):
    """An ONNX classifier written by :func:`~keras_cvcls.export.export_onnx`, run by ONNX Runtime on the CPU.

    Args:
        path: the ``.onnx`` file, with ``NAME.labels.txt`` and ``NAME.json`` beside it.
        num_threads: intra-op threads; default: all CPU cores (``os.cpu_count()``).

    Raises:
        FileNotFoundError: when the file or a side file is missing.
        ImportError: when onnxruntime is not installed.

    Example:
        >>> OnnxClassifier("flowers.onnx").classify("rose.jpg")[0].label
        'rose'
    """

    format = "onnx"

    def __init__(self, path, *, num_threads=None):
        try:
            import onnxruntime
        except ImportError as e:
            raise ImportError(f"Running an ONNX model needs onnxruntime: pip install 'keras-cvcls[onnx]'. Received: {e}") from e

        super().__init__(path)
        if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(f"num_threads must be a positive int or None. Received: num_threads={num_threads!r}")
        self.num_threads = num_threads or os.cpu_count() or 1
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.num_threads
        self._session = onnxruntime.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        (self._input,), (self._output,) = self._session.get_inputs(), self._session.get_outputs()

    def _run(self, pixels):
        return np.asarray(self._session.run([self._output.name], {self._input.name: pixels})[0], np.float32)

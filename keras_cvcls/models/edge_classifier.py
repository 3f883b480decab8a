"""``EdgeClassifier``: the classifier contract over an exported ``.tflite`` or ``.onnx`` file.

An edge model is scored in Python as on a device: images are decoded and fitted to the
model's input size by the training pipeline's own function, quantised where the input is
integer, run by the runtime (LiteRT, ONNX Runtime), and the output dequantised. So
``ClassificationEvaluation(load_edge_classifier("m.tflite"), test_set)`` measures the file a
phone runs with the same metrics and report as the Keras model.
"""

import os

import numpy as np

from keras_cvcls.export.edge_files import EDGE_FORMATS, read_edge_info
from keras_cvcls.scoring_result import scoring_results


class EdgeClassifier:
    """Base class: labels, input size and resize mode from the side files; subclasses run one batch.

    Subclasses implement ``_run(pixels)``: float32 ``[N, H, W, 3]`` pixel values 0-255 in,
    float32 probabilities ``[N, C]`` out.

    Args:
        path: the model file; ``NAME.labels.txt`` and ``NAME.json`` must lie beside it.

    Raises:
        FileNotFoundError: when the file or a side file is missing.
    """

    format = None

    def __init__(self, path):
        self.path = os.fspath(path)
        self.info = read_edge_info(self.path)
        if self.info.get("format") != self.format:
            raise ValueError(
                f"{self.path} is recorded as a {self.info.get('format')!r} model in its side file, not {self.format!r}. "
                f"Received: path={self.path!r}"
            )
        self.labels = list(self.info["labels"])
        self.image_size = tuple(int(x) for x in self.info["image_size"])
        self.resize_mode = self.info["resize_mode"]
        self.quantization = self.info.get("quantization")

    def __repr__(self):
        return f"{type(self).__name__}({self.path!r}, quantization={self.quantization!r}, labels={self.labels!r})"

    @property
    def class_map(self):
        """The class names in score order, a :class:`~keras_cvcls.ClassMap`."""
        from keras_cvcls.class_map import ClassMap

        return ClassMap(self.labels)

    def _run(self, pixels):
        raise NotImplementedError

    def predict_scores(self, data, batch_size=32, *, allow_private_addresses=None):
        """Class probabilities ``[N, C]``: every image of a dataset, in dataset order, or raw images.

        Args:
            data: a :class:`~keras_cvcls.data.ClassificationDataset`, or raw images (a path,
                an http(s) URL, encoded bytes, a PIL image, an array, or a list of these).
            batch_size: images per call of the runtime.
            allow_private_addresses: as for :meth:`ImageClassifier.predict_images`.

        Returns:
            A float32 array ``[N, len(labels)]``.
        """
        from keras_cvcls.data.classification_dataset import ClassificationDataset

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
        if isinstance(data, ClassificationDataset):
            from keras_cvcls.data.pipeline import make_pipeline

            batches = (
                np.asarray(batch[0] if isinstance(batch, tuple) else batch)
                for batch in make_pipeline(data, image_size=self.image_size, resize_mode=self.resize_mode,
                                           batch_size=batch_size)
            )
        else:
            from keras_cvcls.data.image_inputs import load_images

            pixels = load_images(data, self.image_size, resize_mode=self.resize_mode,
                                 allow_private_addresses=allow_private_addresses)
            batches = (pixels[i : i + batch_size] for i in range(0, len(pixels), batch_size))
        scores = [self._run(np.asarray(batch, np.float32)) for batch in batches]
        if not scores:
            return np.zeros((0, len(self.labels)), np.float32)
        return np.concatenate(scores).astype(np.float32)

    def predict_images(self, images, *, batch_size=32, allow_private_addresses=None):
        """Class probabilities ``[N, C]`` for raw images (what :meth:`predict_scores` accepts)."""
        return self.predict_scores(images, batch_size=batch_size, allow_private_addresses=allow_private_addresses)

    def classify(self, images, *, batch_size=32, allow_private_addresses=None):
        """Results for raw images, :class:`~keras_cvcls.ScoringResult` objects, as :meth:`ImageClassifier.classify`."""
        scores = self.predict_scores(images, batch_size=batch_size, allow_private_addresses=allow_private_addresses)
        return scoring_results(scores, self.labels)


def is_edge_model_path(path):
    """Whether ``path`` names an edge model file (``.tflite`` or ``.onnx``)."""
    return isinstance(path, (str, os.PathLike)) and os.path.splitext(os.fspath(path))[1].lower() in EDGE_FORMATS


def load_edge_classifier(path, **options):
    """Loads a ``.tflite`` (:class:`TFLiteClassifier`) or ``.onnx`` (:class:`OnnxClassifier`) model.

    Args:
        path: a file written by :func:`~keras_cvcls.export.export_tflite` or
            :func:`~keras_cvcls.export.export_onnx`, with its side files.
        **options: passed to the class (``num_threads``).

    Raises:
        ValueError: when ``path`` ends in neither ``.tflite`` nor ``.onnx``.
        FileNotFoundError: when the file or a side file is missing.

    Example:
        >>> ev = ClassificationEvaluation(load_edge_classifier("flowers_int8.tflite"), test_set)
    """
    if not is_edge_model_path(path):
        raise ValueError(f"An edge model file ends in one of {sorted(EDGE_FORMATS)}. Received: path={path!r}")
    fmt = EDGE_FORMATS[os.path.splitext(os.fspath(path))[1].lower()]
    if fmt == "tflite":
        from keras_cvcls.models.tflite_classifier import TFLiteClassifier

        return TFLiteClassifier(path, **options)
    from keras_cvcls.models.onnx_classifier import OnnxClassifier

    return OnnxClassifier(path, **options)

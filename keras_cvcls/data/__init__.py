"""Datasets, image checks and input pipelines.

Names are imported on first use (PEP 562), so the TensorFlow-free parts (image checks,
normalisation modes, upright opening) can be used without importing TensorFlow.
"""

from keras_cvcls.lazy_imports import lazy_exports

_EXPORTS = {
    "ClassificationDataset": "keras_cvcls.data.classification_dataset",
    "ImageRecord": "keras_cvcls.data.classification_dataset",
    "ImageValidationError": "keras_cvcls.data.classification_dataset",
    "SkippedFile": "keras_cvcls.data.classification_dataset",
    "RESIZE_MODES": "keras_cvcls.data.decode",
    "decode_image": "keras_cvcls.data.decode",
    "DEFAULT_MAX_PIXELS": "keras_cvcls.data.image_check",
    "BadImageError": "keras_cvcls.data.image_check",
    "check_image": "keras_cvcls.data.image_check",
    "NORMALIZATIONS": "keras_cvcls.data.normalization_modes",
    "ImageNormalization": "keras_cvcls.data.normalization",
    "make_pipeline": "keras_cvcls.data.pipeline",
    "open_upright": "keras_cvcls.data.upright_image",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

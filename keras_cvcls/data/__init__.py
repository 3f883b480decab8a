"""Datasets, image checks and input pipelines.

Names are imported on first use (PEP 562), so the TensorFlow-free parts (image checks,
normalisation modes, upright opening) can be used without importing TensorFlow.
"""

from keras_cvcls.lazy_imports import exports_by_module, lazy_exports

# The module (in this package) that defines each public name.
_EXPORTS = exports_by_module(__name__, {
    "classification_dataset": ["ClassificationDataset", "ImageRecord", "ImageValidationError", "SkippedFile"],
    "decode": ["RESIZE_MODES", "decode_image"],
    "multi_label_dataset": ["MultiLabelDataset"],
    "image_check": ["DEFAULT_MAX_PIXELS", "BadImageError", "check_image"],
    "normalization": ["ImageNormalization"],
    "normalization_modes": ["NORMALIZATIONS"],
    "pipeline": ["make_pipeline"],
    "tfrecords": ["TFRecordDataset", "read_tfrecords", "write_tfrecords"],
    "upright_image": ["open_upright"],
})
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

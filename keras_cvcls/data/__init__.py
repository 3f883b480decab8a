"""Datasets, image checks and input pipelines."""

from keras_cvcls.data.classification_dataset import ClassificationDataset
from keras_cvcls.data.classification_dataset import ImageRecord
from keras_cvcls.data.classification_dataset import ImageValidationError
from keras_cvcls.data.classification_dataset import SkippedFile
from keras_cvcls.data.decode import RESIZE_MODES, decode_image
from keras_cvcls.data.image_check import DEFAULT_MAX_PIXELS, BadImageError, check_image
from keras_cvcls.data.normalization import NORMALIZATIONS, ImageNormalization
from keras_cvcls.data.pipeline import make_pipeline

"""keras-cvcls: from a folder of photos to an image classifier served by TensorFlow Serving.

The public API, re-exported here::

    import keras_cvcls as kc

    ds = kc.ClassificationDataset.from_directory("photos/")
    train, test = ds.split(train_size=0.66, seed=0)
    pipeline = kc.make_pipeline(train, image_size=224, batch_size=32, shuffle=True, seed=0)
"""

__version__ = "0.1.0"

from keras_cvcls import datasets
from keras_cvcls.data import DEFAULT_MAX_PIXELS
from keras_cvcls.data import NORMALIZATIONS
from keras_cvcls.data import RESIZE_MODES
from keras_cvcls.data import BadImageError
from keras_cvcls.data import ClassificationDataset
from keras_cvcls.data import ImageNormalization
from keras_cvcls.data import ImageRecord
from keras_cvcls.data import ImageValidationError
from keras_cvcls.data import SkippedFile
from keras_cvcls.data import check_image
from keras_cvcls.data import decode_image
from keras_cvcls.data import make_pipeline
from keras_cvcls.datasets import make_sample

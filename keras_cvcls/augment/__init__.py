"""Augmentation: Keras-layer presets for ``tf.data`` and models; offline augmentation with imgaug.

Example:
    >>> from keras_cvcls.augment import get_augmentation, list_augmentations
    >>> list_augmentations()
    ['none', 'light', 'standard', 'strong']
    >>> pipeline = make_pipeline(train, image_size=224, augment=get_augmentation("standard", seed=0))

imgaug is optional and never imported by this package: :func:`augment_dataset`
calls any imgaug augmenter (or callable of the same form) you pass it.
"""

from keras_cvcls.augment.augment_dataset import augment_dataset
from keras_cvcls.augment.presets import DEFAULT_AUGMENTATION
from keras_cvcls.augment.presets import get_augmentation
from keras_cvcls.augment.presets import get_augmentation_config
from keras_cvcls.augment.presets import list_augmentations

__all__ = [
    "DEFAULT_AUGMENTATION",
    "augment_dataset",
    "get_augmentation",
    "get_augmentation_config",
    "list_augmentations",
]

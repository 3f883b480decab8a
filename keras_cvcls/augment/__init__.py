"""Augmentation: a registry of Keras-layer presets for ``tf.data`` and models; offline augmentation with imgaug.

Example:
    >>> from keras_cvcls.augment import get_augmentation, list_augmentations, register_augmentation
    >>> list_augmentations()
    ['none', 'light', 'standard', 'strong']
    >>> register_augmentation("flips", {"flip": "horizontal_and_vertical"})
    >>> pipeline = make_pipeline(train, image_size=224, augment=get_augmentation("standard", seed=0))

``None`` means no augmentation everywhere (``get_augmentation(None)`` is the ``"none"``
preset). Names are imported on first use (PEP 562): the registry reads without TensorFlow.
imgaug is optional and never imported by this package: :func:`augment_dataset` calls any
imgaug augmenter (or callable of the same form) you pass it.
"""

from keras_cvcls.lazy_imports import exports_by_module, lazy_exports

# The module (in this package) that defines each public name.
_EXPORTS = exports_by_module(__name__, {
    "augment_dataset": ["augment_dataset"],
    "augmentation_layers": ["get_augmentation"],
    "augmentation_registry": ["DEFAULT_AUGMENTATION", "get_augmentation_config", "list_augmentations", "register_augmentation"],
})
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

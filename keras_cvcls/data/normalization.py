"""Pixel normalisation matching a backbone, as a serializable Keras layer.

The same layer runs inside ``tf.data`` (when a pipeline is asked to normalise) and
inside the model (so an exported model takes raw 0-255 pixels), so training and
serving cannot disagree about it.
"""

import keras
from keras import ops

from keras_cvcls.data.normalization_modes import NORMALIZATIONS, check_normalization


def _check_mode(mode):
    check_normalization(mode, "mode")


@keras.saving.register_keras_serializable(package="keras_cvcls")
class ImageNormalization(keras.layers.Layer):
    """Normalises float RGB images with pixel values in [0, 255].

    Args:
        mode: One of ``"raw"``, ``"unit"``, ``"tf"``, ``"imagenet"``, ``"caffe"``, ``"lite"``
            (see ``NORMALIZATIONS``).

    Example:
        >>> layer = ImageNormalization("imagenet")
        >>> layer(np.full((1, 2, 2, 3), 255.0)).shape
        TensorShape([1, 2, 2, 3])
    """

    def __init__(self, mode="imagenet", **kwargs):
        super().__init__(**kwargs)
        _check_mode(mode)
        self.mode = mode
        spec = NORMALIZATIONS[mode]
        self._scale = spec["scale"]
        self._mean = spec["mean"]
        self._inv_std = tuple(1.0 / s for s in spec["std"])
        self._bgr = spec["bgr"]

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        if self._bgr:
            images = ops.flip(images, axis=-1)
        if self.mode == "raw":
            return images
        mean = ops.convert_to_tensor(self._mean, dtype=self.compute_dtype)
        inv_std = ops.convert_to_tensor(self._inv_std, dtype=self.compute_dtype)
        return (images * self._scale - mean) * inv_std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config

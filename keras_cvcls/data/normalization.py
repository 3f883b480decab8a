"""Pixel normalisation matching a backbone, as a serializable Keras layer.

The same layer runs inside ``tf.data`` (when a pipeline is asked to normalise) and
inside the model (so an exported model takes raw 0-255 pixels), so training and
serving cannot disagree about it.
"""

import keras
from keras import ops

# name -> (scale applied to 0..255 input, mean subtracted after scaling, std divided, BGR?)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZATIONS = {
    # No change: float pixels in [0, 255] (EfficientNetV2, ConvNeXt, MobileNetV3 in Keras
    # applications normalise inside the model themselves).
    "raw": dict(scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), bgr=False),
    # [0, 1].
    "unit": dict(scale=1 / 255.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), bgr=False),
    # [-1, 1]: keras.applications "tf" mode (ResNetV2, MobileNetV2).
    "tf": dict(scale=1 / 127.5, mean=(1.0, 1.0, 1.0), std=(1.0, 1.0, 1.0), bgr=False),
    # ImageNet mean/std on [0, 1] pixels: torchvision / timm ResNets (resnet18, resnet34).
    "imagenet": dict(scale=1 / 255.0, mean=_IMAGENET_MEAN, std=_IMAGENET_STD, bgr=False),
    # keras.applications "caffe" mode (ResNet50/101/152): RGB->BGR, ImageNet mean subtracted.
    "caffe": dict(scale=1.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0), bgr=True),
    # (x - 127) / 128: EfficientNet-Lite (the TF Lite checkpoints' own preprocessing).
    "lite": dict(scale=1.0, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0), bgr=False),
}


def _check_mode(mode):
    if mode not in NORMALIZATIONS:
        raise ValueError(
            f"Unknown normalization mode. Expected one of {sorted(NORMALIZATIONS)}. "
            f"Received: mode={mode!r}"
        )


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

"""The pixel normalisation modes, as plain data (no Keras): what each backbone expects.

``normalization.ImageNormalization`` applies them; the backbone registry checks its configs
against them without importing Keras.
"""

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


def check_normalization(mode, argument="normalization"):
    """Raises ``ValueError`` unless ``mode`` is one of :data:`NORMALIZATIONS`.

    Args:
        mode: the value to check.
        argument: the argument name the message gives.
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(
            f"Unknown normalization mode; expected one of {sorted(NORMALIZATIONS)}. Received: {argument}={mode!r}"
        )

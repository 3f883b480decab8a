"""``BackboneConfig``: a registered backbone's defaults, plain data in the style of a timm pretrained cfg."""

import dataclasses

from keras_cvcls.data.normalization_modes import check_normalization


@dataclasses.dataclass(frozen=True)
class BackboneConfig:
    """Default configuration of a registered backbone (plain data, like a timm pretrained cfg).

    Args:
        name: Registry name, e.g. ``"resnet18"``.
        input_size: Default (square) input side in pixels, the size the ImageNet weights
            were trained at.
        normalization: How the caller must normalise [0, 255] RGB pixels before the
            backbone: one of the modes of ``keras_cvcls.data.normalization``
            (``"raw"``, ``"unit"``, ``"tf"``, ``"imagenet"``, ``"caffe"``).
        imagenet_weights: Human-readable description of where ``weights="imagenet"``
            comes from.
        feature_dim: Channels of the output feature map.
        transfer_size: Default input side for transfer learning (``ImageClassifier``'s
            default ``image_size``), where measurement found one better than
            ``input_size``; ``None`` means ``input_size``.
        top_layer: Name of the first layer of the backbone's last stage: the part
            ``ImageClassifier.fine_tune(unfreeze="top")`` trains. ``None`` if not set.
        depthwise: Whether the backbone is built on depthwise convolutions (it steers
            ``precision="auto"``, see :mod:`keras_cvcls.models.precision`).

    Raises:
        ValueError: If ``normalization`` is unknown or a size is not positive.

    Example:
        >>> BackboneConfig("tiny", 32, "unit", "none", 8).feature_dim
        8
    """

    name: str
    input_size: int
    normalization: str
    imagenet_weights: str
    feature_dim: int
    transfer_size: int | None = None
    top_layer: str | None = None
    depthwise: bool = False

    def __post_init__(self):
        check_normalization(self.normalization)
        for field in ("input_size", "feature_dim", "transfer_size"):
            value = getattr(self, field)
            if field == "transfer_size" and value is None:
                continue
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive integer. Received: {field}={value!r}")

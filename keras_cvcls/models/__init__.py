"""Backbones (a timm-style registry), EfficientNet-Lite, ResNet-18/34, ImageClassifier and ScikitClassifier.

Names are imported on first use (PEP 562): the registry (``list_backbones``,
``get_backbone_config``, ``register_backbone``) reads without importing TensorFlow.
"""

from keras_cvcls.lazy_imports import lazy_exports

_EXPORTS = {
    "BackboneConfig": "keras_cvcls.models.backbone_config",
    "EfficientNetLite": "keras_cvcls.models.efficientnet_lite",
    "ImageClassifier": "keras_cvcls.models.image_classifier",
    "ScikitClassifier": "keras_cvcls.models.scikit_classifier",
    "UnsafeCheckpointError": "keras_cvcls.models.torch_checkpoint",
    "WeightsUnavailableError": "keras_cvcls.models.imagenet_weights",
    "create_backbone": "keras_cvcls.models.backbone_registry",
    "get_backbone_config": "keras_cvcls.models.backbone_registry",
    "list_backbones": "keras_cvcls.models.backbone_registry",
    "load_classifier": "keras_cvcls.models.saving",
    "load_efficientnet_lite_state_dict": "keras_cvcls.models.efficientnet_lite",
    "load_torchvision_state_dict": "keras_cvcls.models.resnet",
    "read_torch_state_dict": "keras_cvcls.models.torch_checkpoint",
    "register_backbone": "keras_cvcls.models.backbone_registry",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

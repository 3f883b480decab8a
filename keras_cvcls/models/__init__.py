"""Backbones (a timm-style registry), EfficientNet-Lite, ResNet-18/34, ImageClassifier and ScikitClassifier.

Names are imported on first use (PEP 562): the registry (``list_backbones``,
``get_backbone_config``, ``register_backbone``) reads without importing TensorFlow.
"""

from keras_cvcls.lazy_imports import exports_by_module, lazy_exports

# The module (in this package) that defines each public name.
_EXPORTS = exports_by_module(__name__, {
    "backbone_config": ["BackboneConfig"],
    "batch_norm_folding": ["fold_batch_norm"],
    "backbone_registry": ["create_backbone", "get_backbone_config", "list_backbones", "register_backbone"],
    "edge_classifier": ["EdgeClassifier", "load_edge_classifier"],
    "efficientnet_lite": ["EfficientNetLite", "load_efficientnet_lite_state_dict"],
    "fused_batch_norm": ["FusedBatchNormalization", "fuse_batch_norm"],
    "image_classifier": ["ImageClassifier"],
    "imagenet_weights": ["WeightsUnavailableError"],
    "onnx_classifier": ["OnnxClassifier"],
    "resnet": ["load_torchvision_state_dict"],
    "saving": ["load_classifier"],
    "scikit_classifier": ["ScikitClassifier"],
    "tflite_classifier": ["TFLiteClassifier"],
    "torch_checkpoint": ["UnsafeCheckpointError", "read_torch_state_dict"],
})
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

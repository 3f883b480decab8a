"""Backbones (a timm-style registry), EfficientNet-Lite, ResNet-18/34, ImageClassifier and ScikitClassifier."""

from keras_cvcls.models.backbones import BackboneConfig
from keras_cvcls.models.backbones import WeightsUnavailableError
from keras_cvcls.models.backbones import create_backbone
from keras_cvcls.models.backbones import get_backbone_config
from keras_cvcls.models.backbones import list_backbones
from keras_cvcls.models.backbones import register_backbone
from keras_cvcls.models.efficientnet_lite import EfficientNetLite
from keras_cvcls.models.efficientnet_lite import load_efficientnet_lite_state_dict
from keras_cvcls.models.image_classifier import ImageClassifier
from keras_cvcls.models.resnet import load_torchvision_state_dict
from keras_cvcls.models.saving import load_classifier
from keras_cvcls.models.scikit_classifier import ScikitClassifier
from keras_cvcls.models.torch_checkpoint import UnsafeCheckpointError
from keras_cvcls.models.torch_checkpoint import read_torch_state_dict

__all__ = [
    "BackboneConfig",
    "EfficientNetLite",
    "ImageClassifier",
    "ScikitClassifier",
    "UnsafeCheckpointError",
    "WeightsUnavailableError",
    "create_backbone",
    "get_backbone_config",
    "list_backbones",
    "load_efficientnet_lite_state_dict",
    "load_classifier",
    "load_torchvision_state_dict",
    "read_torch_state_dict",
    "register_backbone",
]

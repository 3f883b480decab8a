"""Backbones (a timm-style registry), ResNet-18/34, ImageClassifier and ScikitClassifier."""

from keras_cvcls.models.backbones import BackboneConfig
from keras_cvcls.models.backbones import WeightsUnavailableError
from keras_cvcls.models.backbones import create_backbone
from keras_cvcls.models.backbones import get_backbone_config
from keras_cvcls.models.backbones import list_backbones
from keras_cvcls.models.backbones import register_backbone
from keras_cvcls.models.image_classifier import ImageClassifier
from keras_cvcls.models.resnet import load_torchvision_state_dict
from keras_cvcls.models.saving import load_classifier
from keras_cvcls.models.scikit_classifier import ScikitClassifier

__all__ = [
    "BackboneConfig",
    "ImageClassifier",
    "ScikitClassifier",
    "WeightsUnavailableError",
    "create_backbone",
    "get_backbone_config",
    "list_backbones",
    "load_classifier",
    "load_torchvision_state_dict",
    "register_backbone",
]

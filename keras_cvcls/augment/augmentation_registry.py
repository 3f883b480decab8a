"""The augmentation registry: named presets, plain data, readable without TensorFlow.

Like the backbone registry: :func:`register_augmentation` adds a preset,
:func:`list_augmentations` names them (the command line offers them as ``--augment``
choices), :func:`get_augmentation_config` reads one; ``augmentation_layers.get_augmentation``
builds the Keras layers. ``None`` means no augmentation wherever an augmentation is asked for.

The layers run inside ``tf.data`` (``make_pipeline(..., augment=...)``) and inside
a model (where they are active only in training). Presets are plain data: a dict
of options, each mapping onto one Keras layer, overridable by keyword:

* ``flip``: ``RandomFlip`` mode, ``"horizontal"``, ``"vertical"``,
  ``"horizontal_and_vertical"``, or None (off).
* ``rotation``: ``RandomRotation`` factor, a fraction of a full turn (0.05 = +-18 degrees).
* ``zoom``: ``RandomZoom`` height factor (the aspect ratio is kept); negative
  values zoom in (a random crop, resized), positive ones zoom out.
* ``translation``: ``RandomTranslation`` factor, a fraction of height and width.
* ``contrast``: ``RandomContrast`` factor; contrast scaled by a random value in [1 - f, 1 + f].
* ``brightness``: ``RandomBrightness`` factor; a random fraction in [-f, f] of 255 added.
* ``fill_mode``: how rotation, zoom and translation fill the border:
  ``"reflect"`` (default), ``"wrap"``, ``"constant"`` (black) or ``"nearest"``.
* ``mixup``: ``keras.layers.MixUp`` alpha (pairs of images blended, their one-hot labels
  with the same weights), or None (off).
* ``cutmix``: ``keras.layers.CutMix`` factor (a patch of another image pasted in, labels
  weighted by area), or None (off). At most one of ``mixup`` and ``cutmix``.

``mixup`` and ``cutmix`` mix labels as well as images, so they are not among the layers of
``get_augmentation`` (which sees images only): the recipes (``fine_tune``, the full recipe,
``ImageClassifier.fit`` with a categorical loss) apply them to whole batches with one-hot labels
(:mod:`keras_cvcls.augment.label_mixing`).

Factors are a number ``f`` (meaning ``(-f, f)``) or a ``(low, high)`` pair, as the
Keras layers take them; 0 or None leaves the layer out. Colour layers use
``value_range=(0, 255)``, and a final ``ReLU(max_value=255)`` layer named
``"clip_0_255"`` clips float rounding of the resampling, so outputs stay in [0, 255].
"""

import dataclasses

from keras_cvcls.references import is_reference

_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")
_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
OPTIONS = ("flip", "rotation", "zoom", "translation", "contrast", "brightness", "fill_mode", "mixup", "cutmix")

_OFF = {
    "flip": None,
    "rotation": None,
    "zoom": None,
    "translation": None,
    "contrast": None,
    "brightness": None,
    "fill_mode": "reflect",
    "mixup": None,
    "cutmix": None,
}

# The recommended preset for training from scratch; None (no augmentation) is the default everywhere.
DEFAULT_AUGMENTATION = "standard"
NO_AUGMENTATION = "none"


@dataclasses.dataclass(frozen=True)
class _Preset:
    options: dict | None  # preset options (see the module docstring), or None for a builder
    builder: object = None  # callable or "module:function": builder(seed) -> layer or list of layers


_REGISTRY: dict[str, _Preset] = {}


def register_augmentation(name, preset, *, overwrite=False):
    """Adds a named augmentation preset.

    Args:
        name: the preset's name, e.g. ``"flips"`` (then ``get_augmentation("flips")`` and
            ``keras-cvcls train --augment flips``).
        preset: a dict of preset options (``flip``, ``rotation``, ``zoom``, ``translation``,
            ``contrast``, ``brightness``, ``fill_mode``; see the module docstring), checked
            now; or a builder ``builder(seed) -> keras layer or list of layers`` (a callable,
            or a ``"module:function"`` string imported on first use).
        overwrite: whether to replace an existing preset of that name.

    Raises:
        ValueError: for a bad name, an unknown option or value, a preset that is neither
            options nor a builder, or a name already registered (without ``overwrite``).

    Example:
        >>> register_augmentation("flips", {"flip": "horizontal_and_vertical"})
        >>> get_augmentation("flips", seed=0).layers[0].mode
        'horizontal_and_vertical'
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"name must be a non-empty string without surrounding spaces. Received: name={name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(
            f"Augmentation {name!r} is already registered; pass overwrite=True to replace it. Received: name={name!r}"
        )
    if isinstance(preset, dict):
        check_augmentation_options(preset)
        entry = _Preset(options=dict(preset))
    elif callable(preset) or is_reference(preset):
        entry = _Preset(options=None, builder=preset)
    else:
        raise ValueError(
            'preset must be a dict of options or a builder (a callable or a "module:function" string). '
            f"Received: preset={preset!r}"
        )
    _REGISTRY[name] = entry


def list_augmentations():
    """Returns the names of the augmentation presets, in registration order.

    Example:
        >>> list_augmentations()
        ['none', 'light', 'standard', 'strong']
    """
    return list(_REGISTRY)


def get_preset(name):
    """The registered preset called ``name`` (None means ``"none"``).

    Raises:
        ValueError: for a name that is not registered.
    """
    if name is None:
        name = NO_AUGMENTATION
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"Unknown augmentation preset; expected one of {list(_REGISTRY)}. Received: name={name!r}")
    return _REGISTRY[name]


def _check_factor(name, value):
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        and value[0] <= value[1]
    ):
        return (float(value[0]), float(value[1]))
    raise ValueError(
        f"{name} must be None, a non-negative number or a (low, high) pair with low <= high. "
        f"Received: {name}={value!r}"
    )


def check_augmentation_options(options):
    """Checks preset options; returns every option with values normalised (None for a layer left out).

    Raises:
        ValueError: for an unknown option or a bad value.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        received = ", ".join(f"{key}={options[key]!r}" for key in unknown)
        raise ValueError(
            f"Unknown augmentation option(s) {unknown}; expected some of {list(OPTIONS)}. Received: {received}"
        )
    config = {**_OFF, **options}
    flip = config["flip"]
    if flip in (None, False, "none"):
        config["flip"] = None
    elif flip not in _FLIP_MODES:
        raise ValueError(f"flip must be one of {_FLIP_MODES} or None. Received: flip={flip!r}")
    if config["fill_mode"] not in _FILL_MODES:
        raise ValueError(f"fill_mode must be one of {_FILL_MODES}. Received: fill_mode={config['fill_mode']!r}")
    for key in ("rotation", "zoom", "translation", "contrast", "brightness"):
        config[key] = _check_factor(key, config[key])
    for key in ("mixup", "cutmix"):
        value = config[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
                                  or (key == "cutmix" and value > 1)):
            bound = "in (0, 1]" if key == "cutmix" else "> 0"
            raise ValueError(f"{key} must be None or a number {bound}. Received: {key}={value!r}")
        config[key] = None if value is None else float(value)
    if config["mixup"] and config["cutmix"]:
        raise ValueError(
            "Give at most one of mixup and cutmix (each mixes pairs of images and their labels). "
            f"Received: mixup={config['mixup']!r}, cutmix={config['cutmix']!r}"
        )
    return config


def get_augmentation_config(name=None, **overrides):
    """Returns the options of a preset, with overrides applied and checked.

    Args:
        name: A preset name from :func:`list_augmentations`; None means ``"none"``.
        **overrides: Options to change (see the module docstring).

    Returns:
        A dict with every option: ``flip``, ``rotation``, ``zoom``,
        ``translation``, ``contrast``, ``brightness``, ``fill_mode``, ``mixup`` and
        ``cutmix`` (None for a layer left out).

    Raises:
        ValueError: For an unknown preset, a preset made by a builder (it has no options),
            an unknown option or a bad value.

    Example:
        >>> get_augmentation_config("light", flip=None)["zoom"]
        (-0.1, 0.0)
    """
    preset = get_preset(name)
    if preset.options is None:
        raise ValueError(
            f"Augmentation {name!r} is made by a builder and has no options; call get_augmentation({name!r}). "
            f"Received: name={name!r}"
        )
    return check_augmentation_options({**preset.options, **overrides})


# The built-in presets: one explicit table.
_BUILTIN_PRESETS = {
    "none": {},
    "light": {"flip": "horizontal", "zoom": (-0.1, 0.0), "translation": 0.05},
    "standard": {
        "flip": "horizontal",
        "zoom": (-0.2, 0.0),
        "translation": 0.05,
        "rotation": 0.03,
        "contrast": 0.2,
        "brightness": 0.1,
    },
    "strong": {
        "flip": "horizontal",
        "zoom": (-0.35, 0.1),
        "translation": 0.1,
        "rotation": 0.08,
        "contrast": 0.4,
        "brightness": 0.25,
    },
}
for _name, _options in _BUILTIN_PRESETS.items():
    register_augmentation(_name, _options)
del _name, _options

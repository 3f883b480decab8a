"""Augmentation presets: Keras preprocessing layers for batches of [0, 255] float images.

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

Factors are a number ``f`` (meaning ``(-f, f)``) or a ``(low, high)`` pair, as the
Keras layers take them; 0 or None leaves the layer out. Colour layers use
``value_range=(0, 255)``, and a final ``ReLU(max_value=255)`` layer named
``"clip_0_255"`` clips float rounding of the resampling, so outputs stay in [0, 255].
"""

import itertools

import keras

_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")
_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_OPTIONS = ("flip", "rotation", "zoom", "translation", "contrast", "brightness", "fill_mode")

_OFF = {
    "flip": None,
    "rotation": None,
    "zoom": None,
    "translation": None,
    "contrast": None,
    "brightness": None,
    "fill_mode": "reflect",
}

_PRESETS = {
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

DEFAULT_AUGMENTATION = "standard"


def list_augmentations():
    """Returns the names of the augmentation presets.

    Example:
        >>> list_augmentations()
        ['none', 'light', 'standard', 'strong']
    """
    return list(_PRESETS)


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


def get_augmentation_config(name=DEFAULT_AUGMENTATION, **overrides):
    """Returns the options of a preset, with overrides applied and checked.

    Args:
        name: A preset name from :func:`list_augmentations`.
        **overrides: Options to change (see the module docstring).

    Returns:
        A dict with every option: ``flip``, ``rotation``, ``zoom``,
        ``translation``, ``contrast``, ``brightness`` and ``fill_mode``
        (None for a layer left out).

    Raises:
        ValueError: For an unknown preset, an unknown option or a bad value.

    Example:
        >>> get_augmentation_config("light", flip=None)["zoom"]
        (-0.1, 0.0)
    """
    if name not in _PRESETS:
        raise ValueError(f"Unknown augmentation preset. Expected one of {list(_PRESETS)}. Received: name={name!r}")
    unknown = sorted(set(overrides) - set(_OPTIONS))
    if unknown:
        received = ", ".join(f"{key}={overrides[key]!r}" for key in unknown)
        raise ValueError(
            f"Unknown augmentation option(s) {unknown}. Expected some of {list(_OPTIONS)}. Received: {received}"
        )
    config = {**_OFF, **_PRESETS[name], **overrides}
    flip = config["flip"]
    if flip in (None, False, "none"):
        config["flip"] = None
    elif flip not in _FLIP_MODES:
        raise ValueError(f"flip must be one of {_FLIP_MODES} or None. Received: flip={flip!r}")
    if config["fill_mode"] not in _FILL_MODES:
        raise ValueError(f"fill_mode must be one of {_FILL_MODES}. Received: fill_mode={config['fill_mode']!r}")
    for key in ("rotation", "zoom", "translation", "contrast", "brightness"):
        config[key] = _check_factor(key, config[key])
    return config


def _layers_from_config(config, seed):
    seeds = itertools.count(seed) if seed is not None else itertools.repeat(None)
    fill = config["fill_mode"]
    layers = []
    if config["flip"]:
        layers.append(keras.layers.RandomFlip(config["flip"], seed=next(seeds)))
    if config["rotation"]:
        layers.append(keras.layers.RandomRotation(config["rotation"], fill_mode=fill, seed=next(seeds)))
    if config["zoom"]:
        layers.append(keras.layers.RandomZoom(config["zoom"], fill_mode=fill, seed=next(seeds)))
    if config["translation"]:
        t = config["translation"]
        layers.append(keras.layers.RandomTranslation(t, t, fill_mode=fill, seed=next(seeds)))
    if config["contrast"]:
        layers.append(keras.layers.RandomContrast(config["contrast"], value_range=(0, 255), seed=next(seeds)))
    if config["brightness"]:
        layers.append(keras.layers.RandomBrightness(config["brightness"], value_range=(0, 255), seed=next(seeds)))
    if layers:
        # Bilinear resampling can overshoot 255 by float rounding (255.00003); clip to [0, 255].
        layers.append(keras.layers.ReLU(max_value=255.0, name="clip_0_255"))
    return layers


def get_augmentation(name_or_layers=None, *, seed=None, **overrides):
    """Returns a ``keras.Sequential`` that randomly augments batches of [0, 255] images.

    Args:
        name_or_layers: A preset name (``"none"``, ``"light"``, ``"standard"``,
            ``"strong"``; None means ``"standard"``), or a Keras layer or list
            of Keras layers to wrap as they are.
        seed: Int seed for a reproducible preset (each layer gets its own
            seed derived from it); None for fresh randomness.
        **overrides: Preset options to change, e.g. ``rotation=0.1``,
            ``flip="horizontal_and_vertical"``, ``contrast=None`` (see the
            module docstring for all options).

    Returns:
        A ``keras.Sequential`` named ``"augmentation_NAME"``, usable as
        ``make_pipeline(..., augment=...)`` and as the first layers of a model
        (inactive at inference). Presets end with a ``"clip_0_255"`` layer;
        ``"none"`` holds a single ``Identity`` layer.

    Raises:
        ValueError: For an unknown preset or option, a bad option value, or
            options given with layers.

    Example:
        >>> augment = get_augmentation("standard", seed=0, rotation=0.1)
        >>> pipeline = make_pipeline(train, image_size=224, augment=augment)
    """
    if name_or_layers is None:
        name_or_layers = DEFAULT_AUGMENTATION
    if isinstance(name_or_layers, str):
        if isinstance(seed, bool) or not (seed is None or isinstance(seed, int)):
            raise ValueError(f"seed must be None or an int. Received: seed={seed!r}")
        config = get_augmentation_config(name_or_layers, **overrides)
        layers = _layers_from_config(config, seed) or [keras.layers.Identity()]
        return keras.Sequential(layers, name=f"augmentation_{name_or_layers}")
    layers = [name_or_layers] if isinstance(name_or_layers, keras.layers.Layer) else name_or_layers
    try:
        layers = list(layers)
    except TypeError:
        layers = None
    if not layers or not all(isinstance(layer, keras.layers.Layer) for layer in layers):
        raise ValueError(
            f"name_or_layers must be a preset name from {list(_PRESETS)}, a Keras layer or a non-empty list of "
            f"Keras layers. Received: name_or_layers={name_or_layers!r}"
        )
    if overrides or seed is not None:
        given = {**overrides, **({"seed": seed} if seed is not None else {})}
        raise ValueError(
            "seed and preset options apply to presets only; configure your layers directly. "
            f"Received: {', '.join(f'{k}={v!r}' for k, v in given.items())}"
        )
    return keras.Sequential(layers, name="augmentation")

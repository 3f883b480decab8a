"""``get_augmentation``: the Keras preprocessing layers of a preset, for batches of [0, 255] float images.

The layers run inside ``tf.data`` (``make_pipeline(..., augment=...)``) and inside a model
(where they are active only in training). Presets are registered in
``augmentation_registry``; Keras is imported only when layers are built.
"""

import itertools

from keras_cvcls.augment.augmentation_registry import NO_AUGMENTATION, get_augmentation_config, get_preset
from keras_cvcls.augment.augmentation_registry import list_augmentations
from keras_cvcls.references import resolve_reference


def _layers_from_config(config, seed):
    import keras

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
        name_or_layers: A preset name from :func:`list_augmentations` (built in:
            ``"none"``, ``"light"``, ``"standard"``, ``"strong"``); None means ``"none"``
            (no augmentation); or a Keras layer or list of Keras layers to wrap as they are.
        seed: Int seed for a reproducible preset (each layer gets its own
            seed derived from it); None for fresh randomness.
        **overrides: Preset options to change, e.g. ``rotation=0.1``,
            ``flip="horizontal_and_vertical"``, ``contrast=None`` (see the
            ``augmentation_registry`` docstring for all options).

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
    import keras

    if name_or_layers is None:
        name_or_layers = NO_AUGMENTATION
    if isinstance(name_or_layers, str):
        if isinstance(seed, bool) or not (seed is None or isinstance(seed, int)):
            raise ValueError(f"seed must be None or an int. Received: seed={seed!r}")
        preset = get_preset(name_or_layers)
        if preset.options is None:
            if overrides:
                raise ValueError(
                    f"Augmentation {name_or_layers!r} is made by a builder and takes no options; configure the "
                    f"builder instead. Received: {', '.join(f'{k}={v!r}' for k, v in overrides.items())}"
                )
            built = resolve_reference(preset.builder)(seed)
            layers = _checked_layers(built, name_or_layers)
        else:
            config = get_augmentation_config(name_or_layers, **overrides)
            layers = _layers_from_config(config, seed) or [keras.layers.Identity()]
        return keras.Sequential(layers, name=f"augmentation_{name_or_layers}")
    layers = _checked_layers(name_or_layers, None)
    if overrides or seed is not None:
        given = {**overrides, **({"seed": seed} if seed is not None else {})}
        raise ValueError(
            "seed and preset options apply to presets only; configure your layers directly. "
            f"Received: {', '.join(f'{k}={v!r}' for k, v in given.items())}"
        )
    return keras.Sequential(layers, name="augmentation")


def _checked_layers(value, preset_name):
    """``value`` (a layer or an iterable of layers) as a non-empty list of Keras layers."""
    import keras

    layers = [value] if isinstance(value, keras.layers.Layer) else value
    try:
        layers = list(layers)
    except TypeError:
        layers = None
    if not layers or not all(isinstance(layer, keras.layers.Layer) for layer in layers):
        if preset_name is not None:
            raise ValueError(
                f"The builder of augmentation {preset_name!r} must return a Keras layer or a non-empty list of "
                f"them. Received: {value!r}"
            )
        raise ValueError(
            f"name_or_layers must be a preset name from {list_augmentations()}, a Keras layer or a non-empty list "
            f"of Keras layers. Received: name_or_layers={value!r}"
        )
    return layers

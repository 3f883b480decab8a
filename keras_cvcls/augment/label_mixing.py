"""MixUp and CutMix on whole batches, with one-hot labels: ``tf.data`` transforms over Keras' layers.

``keras.layers.MixUp`` and ``keras.layers.CutMix`` do the mixing (a preset's ``mixup`` /
``cutmix`` option, see :mod:`keras_cvcls.augment.augmentation_registry`); this module turns
``(images, label ids)`` batches into ``(mixed images, mixed one-hot labels)`` for them, so a
model trained on them needs a categorical loss (``CategoricalCrossentropy``, whose
``label_smoothing`` is the third regulariser: see
:func:`~keras_cvcls.training.auto_compile_arguments`). The same transform works on cached
backbone activations (``fine_tune``'s top stage), which are image-shaped too.

Example:
    >>> mixer = get_label_mixing("light", seed=0, mixup=0.2)
    >>> train = mix_batches(model.pipeline(train_set, shuffle=True), mixer, num_classes=2)
    >>> model.compile(**auto_compile_arguments(one_hot=True))
    >>> model.fit(train, epochs=3)
"""

import keras
import tensorflow as tf

from keras_cvcls.augment.augmentation_registry import get_augmentation_config, get_preset

MIXING_LAYERS = ("MixUp", "CutMix")


def get_label_mixing(augment=None, *, seed=None, **overrides):
    """The MixUp or CutMix layer a preset asks for, or None.

    Args:
        augment: a preset name (its ``mixup`` / ``cutmix`` option), None, a
            ``keras.layers.MixUp`` / ``keras.layers.CutMix`` (returned as it is), or anything
            else (a layer or callable of image augmentation: no label mixing, None).
        seed: int seed of the layer.
        **overrides: preset options, e.g. ``mixup=0.2``.

    Returns:
        A ``keras.layers.MixUp`` (``alpha=mixup``), a ``keras.layers.CutMix``
        (``factor=cutmix``), or None.

    Raises:
        ValueError: for an unknown preset or a bad option.
    """
    if isinstance(augment, keras.layers.Layer) and type(augment).__name__ in MIXING_LAYERS:
        return augment
    if augment is not None and not isinstance(augment, str):
        return None
    if isinstance(augment, str) and get_preset(augment).options is None:
        return None  # a builder preset: image layers only
    config = get_augmentation_config(augment, **overrides)
    if config["mixup"]:
        return keras.layers.MixUp(alpha=config["mixup"], seed=seed)
    if config["cutmix"]:
        return keras.layers.CutMix(factor=config["cutmix"], seed=seed)
    return None


def _check_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2. Received: num_classes={num_classes!r}")


def one_hot_batches(dataset, num_classes):
    """``(x, label ids)`` batches -> ``(x, float32 one-hot labels)``; already one-hot labels pass as they are."""
    _check_classes(num_classes)

    def one_hot(x, y):
        if y.shape.rank == 2:
            return x, tf.cast(y, tf.float32)
        return x, tf.one_hot(tf.cast(y, tf.int32), num_classes, dtype=tf.float32)

    return dataset.map(one_hot, num_parallel_calls=tf.data.AUTOTUNE)


def mix_batches(dataset, mixer, num_classes):
    """Applies a MixUp / CutMix layer to every ``(x, label ids)`` batch of a ``tf.data.Dataset``.

    Args:
        dataset: batches of ``(images or activations [B, H, W, C], int labels [B])``.
        mixer: a ``keras.layers.MixUp`` or ``keras.layers.CutMix`` (see :func:`get_label_mixing`);
            None only turns the labels one-hot.
        num_classes: the number of classes.

    Returns:
        A ``tf.data.Dataset`` of ``(mixed x, mixed one-hot labels [B, num_classes])``: each
        label row sums to 1.
    """
    dataset = one_hot_batches(dataset, num_classes)
    if mixer is None:
        return dataset

    def mix(x, y):
        dtype = x.dtype
        out = mixer({"images": tf.cast(x, tf.float32), "labels": y}, training=True)
        return tf.cast(out["images"], dtype), tf.cast(out["labels"], tf.float32)

    # Sequential: a seeded layer then draws the same stream on every run.
    return dataset.map(mix)


__all__ = ["get_label_mixing", "mix_batches", "one_hot_batches"]

"""MixUp, CutMix and label smoothing: exact values of the mixing, and the recipes training with them."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cvcls.augment import get_augmentation, get_augmentation_config, register_augmentation
from keras_cvcls.augment import augmentation_registry
from keras_cvcls.augment.label_mixing import get_label_mixing, mix_batches
from keras_cvcls.data import ClassificationDataset
from keras_cvcls.datasets import make_sample
from keras_cvcls.models import ImageClassifier
from keras_cvcls.training import auto_compile_arguments

B, H, W = 6, 12, 16


def batch():
    images = np.random.default_rng(0).uniform(0, 255, (B, H, W, 3)).astype("float32")
    return tf.data.Dataset.from_tensors((images, np.arange(B, dtype="int32"))), images  # image i has class i


def partners(labels):
    """For each row, the other image it was mixed with (itself when paired with itself) and its weight."""
    own = labels[np.arange(B), np.arange(B)]
    other = labels.copy()
    other[np.arange(B), np.arange(B)] = -1
    return np.where(own > 1 - 1e-6, np.arange(B), other.argmax(1)), own


def test_mixup_blends_images_with_the_weights_of_their_labels():
    data, images = batch()
    mixer = get_label_mixing("light", seed=1, mixup=0.4)
    assert isinstance(mixer, keras.layers.MixUp) and mixer.alpha == 0.4
    mixed, labels = next(iter(mix_batches(data, mixer, num_classes=B)))
    mixed, labels = mixed.numpy(), labels.numpy()
    np.testing.assert_allclose(labels.sum(1), 1.0, atol=1e-6)  # weights sum to 1
    assert np.all(labels >= 0) and np.count_nonzero(labels, axis=1).max() <= 2
    partner, weight = partners(labels)
    assert np.any((weight > 0.01) & (weight < 0.99))  # something is actually mixed
    for i in range(B):
        expected = weight[i] * images[i] + (1 - weight[i]) * images[partner[i]]
        np.testing.assert_allclose(mixed[i], expected, rtol=1e-5, atol=1e-3)


def test_cutmix_pastes_a_patch_whose_area_is_the_partners_label_weight():
    data, images = batch()
    mixer = get_label_mixing(None, seed=3, cutmix=1.0)
    assert isinstance(mixer, keras.layers.CutMix)
    mixed, labels = (t.numpy() for t in next(iter(mix_batches(data, mixer, num_classes=B))))
    np.testing.assert_allclose(labels.sum(1), 1.0, atol=1e-6)
    partner, weight = partners(labels)
    pasted_any = False
    for i in range(B):
        from_self = np.all(mixed[i] == images[i], axis=-1)
        from_partner = np.all(mixed[i] == images[partner[i]], axis=-1)
        assert np.all(from_self | from_partner)  # every pixel is one image's or the other's
        if partner[i] != i:
            pasted_any |= bool((~from_self).any())
            # The patch's area is 1 - weight, up to the rounding of its borders to whole pixels.
            assert abs(from_self.mean() - weight[i]) <= (H + W + 1) / (H * W)
    assert pasted_any


def test_no_mixing_unless_asked_and_options_checked():
    assert get_label_mixing("light") is None and get_label_mixing(None) is None
    assert get_label_mixing(get_augmentation("light")) is None  # image layers: no labels to mix
    labels = next(iter(mix_batches(batch()[0], None, num_classes=B)))[1].numpy()
    np.testing.assert_array_equal(labels, np.eye(B))
    assert get_augmentation_config("light", mixup=0.2)["mixup"] == 0.2
    assert [type(layer).__name__ for layer in get_augmentation("light", mixup=0.2).layers][-1] == "ReLU"
    with pytest.raises(ValueError, match="at most one of mixup and cutmix.*Received: mixup=0.2, cutmix=1.0"):
        get_augmentation_config("light", mixup=0.2, cutmix=1.0)
    with pytest.raises(ValueError, match="cutmix must be None or a number in \\(0, 1\\]. Received: cutmix=2"):
        get_augmentation_config("none", cutmix=2)


def test_registered_mixup_preset(monkeypatch):
    monkeypatch.setattr(augmentation_registry, "_REGISTRY", dict(augmentation_registry._REGISTRY))
    register_augmentation("light_mixup", {"flip": "horizontal", "mixup": 0.2})
    assert isinstance(get_label_mixing("light_mixup", seed=0), keras.layers.MixUp)


def test_label_smoothing_loss_equals_the_formula():
    arguments = auto_compile_arguments(label_smoothing=0.1)
    loss, metric = arguments["loss"], arguments["metrics"][0]
    assert isinstance(loss, keras.losses.CategoricalCrossentropy) and metric.name == "accuracy"
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    y = np.eye(3, dtype="float32")[[0, 1]]
    target = y * 0.9 + 0.1 / 3  # (1 - eps) * one-hot + eps / classes
    expected = np.mean(-(target * np.log(probs)).sum(1))
    assert float(loss(y, probs)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="Received: label_smoothing=1"):
        auto_compile_arguments(label_smoothing=1)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = make_sample(str(tmp_path_factory.mktemp("reg")), images_per_label=8, image_size=(32, 32), seed=1)
    return ClassificationDataset.from_directory(root).split(train_size=0.66, seed=0)


@pytest.mark.parametrize("unfreeze", ["top", "all"])
def test_fine_tune_trains_with_mixup_and_label_smoothing(split, unfreeze, monkeypatch):
    monkeypatch.setattr(augmentation_registry, "_REGISTRY", dict(augmentation_registry._REGISTRY))
    register_augmentation("flip_cutmix", {"flip": "horizontal", "cutmix": 1.0})
    train, test = split
    model = ImageClassifier(train.labels, image_size=32)
    history = model.fine_tune(
        train, validation_data=test, epochs=1, unfreeze=unfreeze, augment="flip_cutmix", label_smoothing=0.1,
        schedule="one-cycle", lr=1e-3, verbose=0,
    )
    record = model.training_config["unfreeze"]
    assert record["mixing"] == "CutMix" and record["label_smoothing"] == 0.1 and record["schedule"] == "one-cycle"
    assert len(history.history["eval_accuracy"]) == 2 and np.isfinite(history.history["eval_loss"][1])
    assert 0 <= history.history["eval_accuracy"][1] <= 1


def test_fit_with_mixup_needs_a_categorical_loss(split):
    train, test = split
    model = ImageClassifier(train.labels, "resnet18", weights=None, image_size=32)
    with pytest.raises(ValueError, match="mixes labels \\(MixUp\\).*one_hot=True.*Received: loss="):
        model.fit(train, augment=get_label_mixing(None, mixup=0.2), epochs=1, verbose=0)
    model.compile(**auto_compile_arguments(one_hot=True))
    history = model.fit(train, validation_data=test, augment=get_label_mixing(None, mixup=0.2, seed=0), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and "val_accuracy" in history.history

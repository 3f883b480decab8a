import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cvcls.data import ClassificationDataset
from keras_cvcls.datasets import make_sample
from keras_cvcls.models import ImageClassifier, ScikitClassifier, load_classifier


@pytest.fixture(scope="module")
def small_split(tmp_path_factory):
    root = make_sample(str(tmp_path_factory.mktemp("d")), images_per_label=8, image_size=(32, 40))
    return ClassificationDataset.from_directory(root).split(seed=0)


def test_config_round_trip_mirrors_init():
    model = ImageClassifier(["a", "b"], "resnet18", weights=None, image_size=(32, 48), dropout=0.2, pooling="max", resize_mode="pad")
    config = model.get_config()
    clone = ImageClassifier.from_config(config)
    assert clone.get_config() == config
    assert clone.image_size == (32, 48) and clone.labels == ["a", "b"] and clone.class_map == {0: "a", 1: "b"}
    assert clone.normalization == "imagenet"  # the backbone's default
    assert clone.output_shape == (None, 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: labels="):
        ImageClassifier("cat")
    with pytest.raises(ValueError, match="Received: pooling='mean'"):
        ImageClassifier(["a", "b"], pooling="mean", image_size=32)
    with pytest.raises(ValueError, match="Received: precision='half'"):
        ImageClassifier(["a", "b"], precision="half", image_size=32)
    with pytest.raises(ValueError, match="resnet9"):
        ImageClassifier(["a", "b"], "resnet9")


def test_fit_with_datasets_runs_step_lr_and_eval_history(small_split, tmp_path):
    train, test = small_split
    model = ImageClassifier(train.labels, "resnet18", weights=None, image_size=32)
    history = model.fit(
        train, epochs=3, batch_size=8, lr_per_epoch=[0.02, 0.005], validation_data=test,
        augment="light", seed=0, tensorboard_logdir=str(tmp_path / "logs"), verbose=0,
    )
    assert model.eval_history.history["lr"] == pytest.approx([0.02, 0.005, 0.005])
    assert len(model.eval_history.history["eval_accuracy"]) == 3
    # The last eval accuracy is model.evaluate's on the same data.
    _, accuracy = model.evaluate(model.pipeline(test, batch_size=8), verbose=0)
    assert model.eval_history.history["eval_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)
    assert "eval_accuracy" in history.history
    assert model.training_config["lr_per_epoch"] == [0.02, 0.005]
    assert model.train_images_per_s > 0
    tags = set()
    extras = tmp_path / "logs" / "extras"
    for name in os.listdir(extras):
        for event in tf.compat.v1.train.summary_iterator(str(extras / name)):
            tags.update(v.tag for v in event.summary.value)
    # The confusion matrix comes from EvalHistory's predictions of the same epoch (one eval pass).
    assert {"learning_rate", "confusion_matrix", "augmented_samples"} <= tags


def test_warmup_freezes_the_backbone_first(small_split):
    train, test = small_split
    frozen = ImageClassifier(train.labels, "resnet18", weights=None, image_size=32)
    first = frozen.backbone.trainable_weights[0].numpy().copy()
    frozen.fit(train, epochs=2, warmup_epochs=1, batch_size=8, validation_data=test, verbose=0)
    assert len(frozen.eval_history.history["eval_accuracy"]) == 2
    assert frozen.backbone.trainable
    assert not np.array_equal(first, frozen.backbone.trainable_weights[0].numpy())


def test_fit_rejects_mismatched_labels(small_split):
    train, _ = small_split
    model = ImageClassifier(["x", "y"], "resnet18", weights=None, image_size=32)
    with pytest.raises(ValueError, match="labels differ"):
        model.fit(train, epochs=1)


@pytest.mark.parametrize("suffix", ["", ".keras"])
def test_save_load_predicts_identically(small_split, tmp_path, suffix):
    train, test = small_split
    model = ImageClassifier(train.labels, "resnet18", weights=None, image_size=32, dropout=0.1)
    model.fit(train, epochs=1, batch_size=8, verbose=0, validation_data=test)
    path = str(tmp_path / ("saved" + suffix))
    model.save(path)
    loaded = load_classifier(path)
    assert isinstance(loaded, ImageClassifier)
    assert loaded.labels == model.labels and loaded.image_size == model.image_size
    assert loaded.training_config == model.training_config
    np.testing.assert_array_equal(loaded.predict_scores(test), model.predict_scores(test))
    if not suffix:
        with open(os.path.join(path, "classifier.json")) as f:
            assert json.load(f)["labels"] == model.labels


def test_scikit_classifier_trains_saves_and_loads(small_split, tmp_path):
    train, test = small_split
    dnn = ImageClassifier(train.labels, "resnet18", weights=None, image_size=32)
    clf = ScikitClassifier(dnn).train(train, verbose=0)
    scores = clf.predict_scores(test)
    assert scores.shape == (len(test), 3)
    np.testing.assert_allclose(scores.sum(axis=1), 1, rtol=1e-5)
    assert clf.predict(test) == [clf.labels[i] for i in scores.argmax(1)]
    clf.save(str(tmp_path / "svm"))
    loaded = load_classifier(str(tmp_path / "svm"))
    assert isinstance(loaded, ScikitClassifier) and loaded.labels == clf.labels
    np.testing.assert_array_equal(loaded.predict_scores(test), scores)
    by_name = ScikitClassifier("resnet18", weights=None, image_size=32).train(train, verbose=0)
    assert len(by_name.predict(test)) == len(test)
    with pytest.raises(ValueError, match="not trained"):
        ScikitClassifier("resnet18", weights=None, image_size=32).predict(test)


def test_mixed_bfloat16_keeps_the_head_in_float32(small_split):
    train, test = small_split
    model = ImageClassifier(train.labels, "resnet18", weights=None, image_size=32, precision="mixed_bfloat16")
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    assert model.backbone.layers[2].dtype_policy.name == "mixed_bfloat16"
    model.fit(train, epochs=1, batch_size=8, verbose=0, validation_data=test)
    scores = model.predict_scores(test)
    assert scores.dtype == np.float32 and np.isfinite(scores).all()
    assert keras.config.dtype_policy().name == "float32"  # global policy restored


def test_load_classifier_errors(tmp_path):
    with pytest.raises(ValueError, match="No saved classifier"):
        load_classifier(str(tmp_path))


@pytest.mark.slow
def test_trains_under_mirrored_strategy_on_two_logical_cpus(small_split, tmp_path):
    train, _ = small_split
    root = os.path.dirname(os.path.dirname(train.images[0].path))
    code = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from keras_cvcls.data import ClassificationDataset
        from keras_cvcls.models import ImageClassifier
        train, test = ClassificationDataset.from_directory({root!r}).split(seed=0)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = ImageClassifier(train.labels, "resnet18", weights=None, image_size=32)
        assert model.distribute_strategy is strategy
        model.fit(train, epochs=2, batch_size=8, validation_data=test, verbose=0)
        assert model.distribute_strategy.num_replicas_in_sync == 2
        var = model.trainable_weights[0]
        assert isinstance(var.value, tf.distribute.DistributedValues) or "Mirrored" in type(var.value).__name__, type(var.value)
        print("OK", model.eval_history.history["eval_accuracy"])
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK" in done.stdout

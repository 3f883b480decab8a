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
from keras_cvcls.training import StepLR


@pytest.fixture(scope="module")
def small_split(tmp_path_factory):
    root = make_sample(str(tmp_path_factory.mktemp("d")), images_per_label=8, image_size=(32, 40))
    return ClassificationDataset.from_directory(root).split(seed=0)


def test_config_round_trip_mirrors_init():
    model = ImageClassifier(["a", "b"], "resnet18", weights=None, image_size=(32, 48), dropout=0.2, pooling="max", resize_mode="pad")
    config = model.get_config()
    clone = ImageClassifier.from_config(config)
    assert clone.get_config() == config
    assert clone.image_size == (32, 48) and clone.labels == ["a", "b"] and clone.class_map == ["a", "b"]
    assert clone.class_map.to_dict() == {0: "a", 1: "b"}
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


def test_fit_with_datasets_builds_pipelines_and_keeps_the_compiled_optimizer(small_split, tmp_path):
    train, test = small_split
    model = ImageClassifier(train.labels, "resnet18", weights=None, image_size=32)
    optimizer = keras.optimizers.SGD(learning_rate=0.02, momentum=0.9)
    model.compile(optimizer=optimizer)
    history = model.fit(
        train, epochs=3, batch_size=8, validation_data=test, augment="light", seed=0,
        tensorboard_logdir=str(tmp_path / "logs"), callbacks=[StepLR([0.02, 0.005])], verbose=0,
    )
    assert model.optimizer is optimizer
    assert model.eval_history.history["lr"] == pytest.approx([0.02, 0.005, 0.005])
    assert history.history["learning_rate"] == pytest.approx([0.02, 0.005, 0.005])
    # Keras validated the validation pipeline: the last val_accuracy is model.evaluate's on it.
    _, accuracy = model.evaluate(model.pipeline(test, batch_size=8), verbose=0)
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)
    assert model.eval_history.history["eval_accuracy"] == history.history["val_accuracy"]
    assert not any(key.startswith("eval_") for key in history.history)
    assert model.training_config["lr_per_epoch"] == [0.02, 0.005]
    assert model.training_config["optimizer"] == "SGD"
    assert model.train_images_per_s > 0
    tags = set()
    extras = tmp_path / "logs" / "extras"
    for name in os.listdir(extras):
        for event in tf.compat.v1.train.summary_iterator(str(extras / name)):
            tags.update(v.tag for v in event.summary.value)
    assert tags == {"confusion_matrix", "augmented_samples"}  # the learning rate is Keras' (train run)


def test_fit_refuses_options_that_moved_to_compile_or_fine_tune(small_split):
    train, _ = small_split
    model = ImageClassifier(train.labels, "resnet18", weights=None, image_size=32)
    optimizer = model.optimizer
    for option, where in [
        ("lr_per_epoch", r"StepLR\(lr_per_epoch\)"),
        ("momentum", r"compile\(optimizer=keras\.optimizers\.SGD"),
        ("optimizer", r"compile\(optimizer=\.\.\.\)"),
        ("weight_decay", r"weight_decay=\.\.\."),
        ("warmup_epochs", r"fine_tune"),
    ]:
        with pytest.raises(ValueError, match=rf"fit does not take {option}: fit never compiles; .*{where}"):
            model.fit(train, epochs=1, verbose=0, **{option: 1})
    with pytest.raises(ValueError, match=r"\['augment'\] build the input pipeline.*Received: augment='light'"):
        model.fit(model.pipeline(train), augment="light", verbose=0)
    assert model.optimizer is optimizer and model.training_config == {}


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
    clf = ScikitClassifier(dnn).fit(train, verbose=0)
    scores = clf.predict_scores(test)
    assert scores.shape == (len(test), 3)
    np.testing.assert_allclose(scores.sum(axis=1), 1, rtol=1e-5)
    assert clf.predict(test) == [clf.labels[i] for i in scores.argmax(1)]
    clf.save(str(tmp_path / "svm"))
    loaded = load_classifier(str(tmp_path / "svm"))
    assert isinstance(loaded, ScikitClassifier) and loaded.labels == clf.labels
    np.testing.assert_array_equal(loaded.predict_scores(test), scores)
    by_name = ScikitClassifier("resnet18", weights=None, image_size=32).fit(train, verbose=0)
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

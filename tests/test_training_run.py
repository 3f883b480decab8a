"""TrainingRun: a run folder made step by step, read back whole, scored once and evaluated."""

import json
import os

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score

import keras_cvcls as kc
from keras_cvcls.datasets import make_sample
from keras_cvcls.models import ImageClassifier, load_classifier
from keras_cvcls.run_folder import SCORES_FILE
from keras_cvcls.training_run import TrainingRun

TINY = dict(backbone="resnet18", weights=None, image_size=32)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_sample(str(tmp_path_factory.mktemp("run-data") / "data"), images_per_label=8, image_size=(32, 40), seed=2)


@pytest.fixture(scope="module")
def full_run(data_dir, tmp_path_factory):
    """A run created, trained with the full recipe (2 epochs) and saved; returns it and its folder."""
    run_dir = str(tmp_path_factory.mktemp("full") / "run")
    run = TrainingRun.create(run_dir, data_dir, test_size=0.25, seed=1, **TINY)
    assert os.path.isfile(os.path.join(run_dir, "split.json")) and not os.path.exists(os.path.join(run_dir, "model"))
    run.fit(epochs=2, lr_per_epoch="0.01,0.001", batch_size=8, augment="none", verbose=0)
    assert run.save() == os.path.abspath(run_dir)
    return run, run_dir


def test_create_fit_save_then_load_gives_everything_back(full_run):
    run, run_dir = full_run
    assert kc.TrainingRun is TrainingRun
    train, test = run.split
    assert len(train) == 18 and len(test) == 6 and not {r.id for r in train} & {r.id for r in test}
    assert run.history["recipe"] == "full" and run.history["lr"] == pytest.approx([0.01, 0.001])
    assert len(run.history["eval_accuracy"]) == 2 and run.history["train_images_per_s"] > 0

    loaded = TrainingRun.load(run_dir)
    assert loaded.run_dir == run.run_dir and loaded.seed == 1 and loaded.test_size == 0.25
    assert [r.id for r in loaded.split[0]] == [r.id for r in train]
    assert [r.id for r in loaded.split[1]] == [r.id for r in test]
    # The history went through JSON: the same numbers.
    assert loaded.history == json.loads(json.dumps(run.history))
    assert loaded.labels == ["checks", "dots", "stripes"]  # from class_map.json, no model loaded
    assert loaded._model is None
    assert isinstance(loaded.model, ImageClassifier) and loaded.model.training_config["lr_per_epoch"] == [0.01, 0.001]
    np.testing.assert_allclose(loaded.model.predict_scores(test), run.model.predict_scores(test), atol=1e-5)
    assert os.path.getsize(loaded.curve_path) > 1000 and os.path.isdir(loaded.logs_dir)


def test_scores_are_cached_by_path_until_the_model_changes(full_run, data_dir):
    run, run_dir = full_run
    cache = os.path.join(run_dir, SCORES_FILE)
    if os.path.exists(cache):
        os.remove(cache)
    loaded = TrainingRun.load(run_dir)
    _, test = loaded.split
    assert loaded.cached_scores(test) is None
    scores = loaded.scores()
    expected = load_classifier(run_dir).predict_scores(test)
    assert scores.shape == (6, 3) and os.path.isfile(cache)
    np.testing.assert_allclose(scores, expected, atol=1e-5)

    # Another process reads them back without the model; a larger dataset is scored again and merged.
    again = TrainingRun.load(run_dir)
    np.testing.assert_array_equal(again.cached_scores(test), scores)
    assert again._model is None
    everything = kc.ClassificationDataset.from_directory(data_dir)
    assert again.cached_scores(everything) is None
    all_scores = again.scores(everything)
    by_path = dict(zip([r.path for r in everything.images], all_scores))
    np.testing.assert_allclose([by_path[r.path] for r in test.images], scores, atol=1e-5)
    np.testing.assert_array_equal(TrainingRun.load(run_dir).cached_scores(test), scores)

    # A re-saved model (another stamp) makes the cache stale.
    model_file = os.path.join(run_dir, "model", "model.keras")
    st = os.stat(model_file)
    os.utime(model_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert TrainingRun.load(run_dir).cached_scores(test) is None


def test_evaluate_matches_scikit_learn_and_writes_the_report(full_run, data_dir, tmp_path):
    _, run_dir = full_run
    run = TrainingRun.load(run_dir)
    _, test = run.split
    report = tmp_path / "report.html"
    evaluation = run.evaluate(report=str(report))
    scores = load_classifier(run_dir).predict_scores(test)
    y_true = np.asarray(test.label_ids)
    assert evaluation.compute_accuracy(class_averaged=False) == pytest.approx(accuracy_score(y_true, scores.argmax(1)))
    assert evaluation.compute_accuracy() == pytest.approx(balanced_accuracy_score(y_true, scores.argmax(1)))
    html = report.read_text(encoding="utf-8")
    assert "training-curve" in html and f"Evaluation of {run.name}" in html

    # Another folder, with only some of the labels: scored on its own images.
    other = make_sample(str(tmp_path / "other"), images_per_label=2, image_size=32, labels=("dots", "stripes"), seed=7)
    metrics = run.evaluate(other).to_dict()
    assert metrics["labels"] == ["checks", "dots", "stripes"] and metrics["per_class"]["checks"]["support"] == 0
    unknown = make_sample(str(tmp_path / "unknown"), images_per_label=2, image_size=32, labels=("dots",), seed=7)
    os.rename(os.path.join(unknown, "dots"), os.path.join(unknown, "cows"))
    with pytest.raises(ValueError, match="not in labels"):
        run.evaluate(unknown)


def test_fine_tune_recipe_round_trip(data_dir, tmp_path):
    run = TrainingRun.create(tmp_path / "run", data_dir, image_size=32, seed=0)  # pretrained EfficientNet-Lite0
    history = run.fine_tune(epochs=1, batch_size=8, augment="none", verbose=0)
    assert history["recipe"] == "fine-tune" and len(history["eval_accuracy"]) == 2  # head, then one epoch
    run.save()
    loaded = TrainingRun.load(tmp_path / "run")
    assert loaded.history["eval_accuracy"] == history["eval_accuracy"]
    assert loaded.model.training_config["recipe"] == "fine_tune" and loaded.model.training_config["weights"] == "imagenet"
    np.testing.assert_allclose(loaded.scores(), run.model.predict_scores(run.split[1]), atol=1e-5)


def test_errors_name_the_remedy(data_dir, tmp_path):
    with pytest.raises(ValueError, match="Not a training run folder"):
        TrainingRun.load(data_dir)
    with pytest.raises(ValueError, match="test_size must be"):
        TrainingRun.create(tmp_path / "bad", data_dir, test_size=1.5, **TINY)
    assert not os.path.exists(tmp_path / "bad")
    run = TrainingRun.create(tmp_path / "run", data_dir, **TINY)
    with pytest.raises(ValueError, match="validation_data"):
        run.fit(epochs=1, validation_data=run.split[0])
    with pytest.raises(ValueError, match="no saved model yet"):
        TrainingRun.load(tmp_path / "run").model
    with pytest.raises(ValueError, match="recipe must be one of"):
        kc.train_run(data_dir, str(tmp_path / "run2"), recipe="quick", **TINY)

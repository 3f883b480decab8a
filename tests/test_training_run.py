"""TrainingRun: a run folder made step by step, read back whole, scored once and evaluated."""

import json
import os
import shutil

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
    # Built beside its folder, and moved into place when saved.
    assert run.partial_dir == os.path.abspath(run_dir) + ".partial" and not os.path.exists(run_dir)
    assert os.path.isfile(os.path.join(run.partial_dir, "split.json"))
    run.fit(epochs=2, lr_per_epoch="0.01,0.001", batch_size=8, augment="none", verbose=0)
    assert os.path.isdir(os.path.join(run.partial_dir, "logs")) and not os.path.exists(run_dir)
    assert run.save() == os.path.abspath(run_dir)
    assert run.partial_dir is None and not os.path.exists(run_dir + ".partial")
    assert sorted(os.listdir(run_dir)) == [
        "class_map.json", "history.json", "logs", "model", "options.json", "split.json", "training_curve.png",
    ]
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
    with pytest.raises(ValueError, match="The run is not finished.*run.partial.*--resume"):
        TrainingRun.load(tmp_path / "run")
    with pytest.raises(ValueError, match="recipe must be one of"):
        kc.train_run(data_dir, str(tmp_path / "run2"), recipe="quick", **TINY)


def test_a_taken_run_folder_is_refused_and_replaced_only_when_the_new_run_is_complete(full_run, data_dir, tmp_path):
    _, done = full_run
    with pytest.raises(ValueError, match="already holds a training run.*if_exists='overwrite'"):
        TrainingRun.create(done, data_dir, **TINY)
    with pytest.raises(ValueError, match="complete: there is nothing to resume"):
        TrainingRun.create(done, data_dir, if_exists="resume", **TINY)
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine")
    for if_exists in ("error", "overwrite", "resume"):
        with pytest.raises(ValueError, match="not a training run; keras-cvcls never writes into"):
            TrainingRun.create(mine, data_dir, if_exists=if_exists, **TINY)
    assert os.listdir(mine) == ["todo.txt"]
    with pytest.raises(ValueError, match="if_exists must be one of"):
        TrainingRun.create(tmp_path / "x", data_dir, if_exists="replace", **TINY)

    # A copy of the finished run, re-trained over with another split.
    old = str(tmp_path / "run")
    shutil.copytree(done, old)
    before = {name: (tmp_path / "run" / name).read_bytes() for name in ("split.json", "history.json", "model/model.keras")}
    run = TrainingRun.create(old, data_dir, seed=5, if_exists="overwrite", **TINY)
    run.fit(epochs=1, lr_per_epoch="0.01", batch_size=8, augment="none", verbose=0)
    assert {name: (tmp_path / "run" / name).read_bytes() for name in before} == before  # untouched until save
    assert TrainingRun.load(old).split[1].images == full_run[0].split[1].images
    run.save()
    assert json.loads((tmp_path / "run" / "split.json").read_text())["seed"] == 5
    assert len(TrainingRun.load(old).history["eval_accuracy"]) == 1
    assert sorted(os.listdir(tmp_path)) == ["notes", "run"]  # nothing left beside it


def test_a_single_label_dataset_is_refused_before_anything_is_written(tmp_path):
    one = make_sample(str(tmp_path / "one"), images_per_label=3, image_size=32, labels=("dots", "stripes"), seed=3)
    shutil.rmtree(os.path.join(one, "stripes"))
    with pytest.raises(ValueError, match=r"at least two labels.*Received: labels=\['dots'\] \(3 images\)"):
        TrainingRun.create(tmp_path / "run", one, **TINY)
    assert sorted(os.listdir(tmp_path)) == ["one"]


def test_resume_continues_from_the_last_finished_epoch_with_the_same_options(data_dir, tmp_path):
    import keras

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    class Epochs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.begun = []

        def on_epoch_begin(self, epoch, logs=None):
            self.begun.append(epoch)

    options = dict(epochs=3, lr_per_epoch="0.02x2,0.005", batch_size=8, augment="none", verbose=0)
    run = TrainingRun.create(tmp_path / "run", data_dir, seed=1, **TINY)
    with pytest.raises(KeyboardInterrupt):
        run.fit(callbacks=[Interrupt()], **options)
    with pytest.raises(ValueError, match="An interrupted run of this folder is in .*run.partial.*if_exists='resume'"):
        TrainingRun.create(tmp_path / "run", data_dir, seed=1, **TINY)
    with pytest.raises(ValueError, match="made with other options.*seed: was 1, now 2"):
        TrainingRun.create(tmp_path / "run", data_dir, seed=2, if_exists="resume", **TINY)
    resumed = TrainingRun.create(tmp_path / "run", data_dir, seed=1, if_exists="resume", **TINY)
    assert resumed.resumed and resumed.test_ids == run.test_ids
    with pytest.raises(ValueError, match="trained with other options.*epochs: was 3, now 5"):
        resumed.fit(**{**options, "epochs": 5})
    epochs = Epochs()
    history = resumed.fit(callbacks=[epochs], **options)
    assert epochs.begun == [2]  # epochs 0 and 1 were backed up
    assert history["lr"] == pytest.approx([0.02, 0.02, 0.005])
    assert all(len(history[key]) == 3 and None not in history[key] for key in ("train_accuracy", "eval_accuracy", "lr"))
    assert all(len(values) == 3 and None not in values for values in history["keras"].values())
    resumed.save()
    assert not os.path.exists(tmp_path / "run.partial")
    assert TrainingRun.load(tmp_path / "run").history["lr"] == pytest.approx([0.02, 0.02, 0.005])


@pytest.mark.parametrize("on_bad_image", ["stop", "skip"])
def test_an_image_that_goes_bad_during_training_is_named(data_dir, tmp_path, on_bad_image):
    import warnings

    from keras_cvcls.data import ImageValidationError

    data = shutil.copytree(data_dir, tmp_path / "data")
    run = TrainingRun.create(tmp_path / "run", data, seed=1, **TINY)
    victim = run.split[0].images[3].path
    st = os.stat(victim)
    with open(victim, "r+b") as f:  # the same size and time, other bytes: the checks' cache cannot tell
        f.write(bytes(np.random.default_rng(0).integers(0, 256, st.st_size, dtype=np.uint8)))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    options = dict(epochs=1, lr_per_epoch="0.01", batch_size=8, augment="none", verbose=0, on_bad_image=on_bad_image)
    if on_bad_image == "stop":
        with pytest.raises(ImageValidationError, match="cannot be used as images") as raised:
            run.fit(**options)
        message = str(raised.value)
        assert f"  {victim}: not an image" in message and "--resume" in message
        assert "Traceback" not in message and "Op:" not in message
        assert [s.path for s in raised.value.skipped] == [victim]
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = run.fit(**options)
    notes = [str(w.message) for w in caught if "changed during training" in str(w.message)]
    assert len(notes) == 1 and repr(victim) in notes[0]
    assert len(history["eval_accuracy"]) == 1 and victim not in [r.path for r in run.split[0].images]
    run.save()
    assert victim in [s.path for s in kc.ClassificationDataset.from_directory(data).skipped]  # the cache learnt it


def test_a_full_disk_leaves_the_saved_model_whole(full_run, tmp_path):
    import resource
    import signal

    run, run_dir = full_run
    folder = tmp_path / "model"
    run.model.save(str(folder))
    before = (folder / "model.keras").read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 3, hard))  # files larger than this cannot be written
    try:
        with pytest.raises(OSError, match="File too large"):
            run.model.save(str(folder))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert sorted(os.listdir(folder)) == ["classifier.json", "model.keras"]  # no temporary file left
    assert (folder / "model.keras").read_bytes() == before
    np.testing.assert_allclose(
        load_classifier(str(folder)).predict_scores(run.split[1]), run.model.predict_scores(run.split[1]), atol=1e-5
    )

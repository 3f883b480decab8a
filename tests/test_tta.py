"""Test-time augmentation: the views, the average, and evaluate --tta; the CLI's --schedule."""

import json

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import accuracy_score

from keras_cvcls.cli.main import main
from keras_cvcls.datasets import make_sample
from keras_cvcls.models import ImageClassifier
from keras_cvcls.models.test_time_augmentation import TTA_VIEWS, tta_views
from keras_cvcls.training_run import TrainingRun

SIZE = 32


def test_views_are_the_image_its_mirror_and_the_central_crop():
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 24, 3)).astype("float32")
    views = tta_views(images).numpy().reshape(len(TTA_VIEWS), 2, 16, 24, 3)
    np.testing.assert_array_equal(views[0], images)
    np.testing.assert_array_equal(views[1], images[:, :, ::-1])
    crop = tf.image.resize(images[:, 1:15, 1:22], (16, 24)).numpy()  # 14 = round(16 * .875), 21 = round(24 * .875)
    np.testing.assert_allclose(views[2], crop, atol=1e-4)
    np.testing.assert_allclose(views[3], crop[:, :, ::-1], atol=1e-4)


def test_predict_images_tta_averages_the_scores_of_the_views():
    model = ImageClassifier(["a", "b", "c"], image_size=SIZE)
    images = np.random.default_rng(1).uniform(0, 255, (3, SIZE, SIZE, 3)).astype("float32")
    views = tta_views(images).numpy()
    each = model.predict_images(list(views)).reshape(len(TTA_VIEWS), 3, 3)  # the oracle: one view at a time
    scores = model.predict_images(list(images), tta=True)
    np.testing.assert_allclose(scores, each.mean(0), atol=1e-5)
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=1e-5)
    assert not np.allclose(scores, model.predict_images(list(images)), atol=1e-4)  # it did change something
    with pytest.raises(ValueError, match="Received: tta='yes'"):
        model.predict_images(list(images), tta="yes")


def test_train_with_schedule_then_evaluate_tta(tmp_path, capsys):
    data = make_sample(str(tmp_path / "data"), images_per_label=8, image_size=(32, 40), seed=4)
    run_dir = str(tmp_path / "run")
    code = main([
        "train", data, "--image-size", str(SIZE), "--epochs", "2", "--batch-size", "8", "--schedule", "one-cycle",
        "--lr", "0.001", "--label-smoothing", "0.1", "--out", run_dir, "--json",
    ])
    assert code == 0
    trained = json.loads(capsys.readouterr().out)
    run = TrainingRun.load(run_dir)
    record = run.model.training_config["unfreeze"]
    assert record["schedule"] == "one-cycle" and record["label_smoothing"] == 0.1
    # One-cycle: the last epoch ends at the schedule's final rate, the recorded lr falls after the peak.
    assert trained["history"]["lr"][1] > trained["history"]["lr"][2]

    assert main(["evaluate", run_dir, "--tta", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    _, test = run.split
    expected = run.model.predict_scores(test, tta=True)
    assert metrics["tta"] is True
    assert metrics["accuracy"] == pytest.approx(accuracy_score(test.label_ids, expected.argmax(1)))

    code = main(["train", data, "--schedule", "cosine", "--lr", "0.01x2,0.001", "--out", str(tmp_path / "r2"), "--json"])
    assert code == 2 and "one (peak) learning rate" in json.loads(capsys.readouterr().out)["error"]

"""lr_find: the exponential ramp, the suggestion rule, the weights put back, PNG and TensorBoard; on real photos,
the suggested rate trains to at least the default's accuracy."""

import glob
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cvcls.data import ClassificationDataset
from keras_cvcls.datasets import make_sample
from keras_cvcls.models import ImageClassifier
from keras_cvcls.training import lr_find

HYMENOPTERA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "hymenoptera")


def linear_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model, tf.data.Dataset.from_tensor_slices((x, y)).batch(32)


def test_ramp_is_exponential_suggestion_follows_the_rule_and_weights_are_restored(tmp_path):
    model, data = linear_problem()
    before = [w.copy() for w in model.get_weights()]
    result = lr_find(model, data, start_lr=1e-4, end_lr=1e4, num_steps=60, logdir=str(tmp_path / "logs"),
                     plot_path=str(tmp_path / "lr.png"))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    n = len(result.learning_rates)
    expected = [1e-4 * (1e8) ** (i / 59) for i in range(n)]
    np.testing.assert_allclose(result.learning_rates, expected, rtol=1e-12)
    assert result.stopped_early and n < 60  # 1e4 diverges on a linear softmax
    # Smoothing: the bias-corrected exponential moving average, recomputed here.
    average, smooth = 0.0, []
    for i, loss in enumerate(result.losses):
        average = 0.98 * average + 0.02 * loss
        smooth.append(average / (1 - 0.98 ** (i + 1)))
    np.testing.assert_allclose(result.smoothed_losses, smooth, rtol=1e-9)
    best = int(np.argmin(smooth[:-1]))  # the last point is the divergence that stopped the test
    assert result.min_loss_lr == result.learning_rates[best] and result.suggestion == pytest.approx(result.min_loss_lr / 10)
    assert smooth[-1] > 4 * min(smooth[:-1])
    assert result.steepest <= result.min_loss_lr
    assert os.path.getsize(tmp_path / "lr.png") > 5000
    events = glob.glob(str(tmp_path / "logs" / "lr_find" / "events.out.tfevents.*"))
    assert events
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(events[0]) for v in e.summary.value}
    assert {"lr_find/loss", "lr_find/smoothed_loss", "lr_find/learning_rate", "lr_find/plot"} <= tags
    assert set(result.to_dict()) >= {"suggestion", "learning_rates", "rule"}


def test_lr_find_errors():
    model, data = linear_problem()
    with pytest.raises(ValueError, match="end_lr must be larger.*Received: end_lr=1e-05"):
        lr_find(model, data, start_lr=1e-4, end_lr=1e-5)
    with pytest.raises(ValueError, match="Received: num_steps=2"):
        lr_find(model, data, num_steps=2)
    with pytest.raises(ValueError, match="Received: dataset=list"):
        lr_find(model, [1, 2])


def test_image_classifier_ramps_the_recipes_stage_and_restores_everything(tmp_path):
    root = make_sample(str(tmp_path / "data"), images_per_label=6, image_size=(32, 32), seed=2)
    train = ClassificationDataset.from_directory(root)
    model = ImageClassifier(train.labels, image_size=32)
    before = [w.copy() for w in model.get_weights()]
    trainable = [layer.trainable for layer in model.backbone.layers]
    result = lr_find(model, train, num_steps=12, batch_size=8)
    assert len(result.learning_rates) >= 2 and all(math.isfinite(v) for v in result.losses[:2])
    assert 1e-8 < result.suggestion < 1
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [layer.trainable for layer in model.backbone.layers] == trainable


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(HYMENOPTERA), reason=f"real photos not found at {HYMENOPTERA}")
def test_suggested_rate_trains_to_at_least_the_defaults_accuracy_on_hymenoptera():
    """Acceptance: on real photos (Lite0 at 160 px to keep CI short), fine_tune(lr=suggestion) >= fine_tune()."""
    train = ClassificationDataset.from_directory(os.path.join(HYMENOPTERA, "train"))
    val = ClassificationDataset.from_directory(os.path.join(HYMENOPTERA, "val")).with_labels(train.labels)
    model = ImageClassifier(train.labels, image_size=160)
    result = lr_find(model, train)
    default = model.fine_tune(train, validation_data=val, verbose=0).history["eval_accuracy"][-1]
    model = ImageClassifier(train.labels, image_size=160)
    suggested = model.fine_tune(train, validation_data=val, lr=result.suggestion, verbose=0).history["eval_accuracy"][-1]
    print(f"lr_find suggestion {result.suggestion:.3g}: accuracy {suggested:.4f}; default (3e-4) {default:.4f}")
    assert suggested >= default


def test_lr_find_command_writes_plot_json_and_tensorboard(tmp_path, capsys):
    import json

    from keras_cvcls.cli.main import main

    root = make_sample(str(tmp_path / "data"), images_per_label=5, image_size=(32, 32), seed=3)
    out = tmp_path / "lr"
    assert main(["lr-find", root, "--image-size", "32", "--steps", "8", "--batch-size", "8", "--out", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["suggestion"] == pytest.approx(report["min_loss_lr"] / 10) and report["image_size"] == [32, 32]
    assert json.loads((out / "lr_find.json").read_text())["suggestion"] == report["suggestion"]
    assert (out / "lr_find.png").stat().st_size > 5000 and glob.glob(str(out / "logs" / "lr_find" / "events.*"))
    assert main(["lr-find", root, "--steps", "2", "--out", str(out), "--json"]) == 2
    assert "num_steps" in json.loads(capsys.readouterr().out)["error"]

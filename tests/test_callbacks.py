import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from keras_cvcls.data import ClassificationDataset, make_pipeline
from keras_cvcls.datasets import make_sample
from keras_cvcls.training import EvalHistory, StepLR, TensorBoardExtras, image_grid
from keras_cvcls.training import parse_lr_schedule, step_lr_schedule

SIZE = 16

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = make_sample(str(tmp_path_factory.mktemp("shapes")), images_per_label=8, image_size=(20, 20))
    ds = ClassificationDataset.from_directory(root)
    train, test = ds.split(train_size=0.75, seed=0)
    return {
        "labels": ds.labels,
        "train": make_pipeline(train, image_size=SIZE, batch_size=4, shuffle=True, seed=0),
        "train_plain": make_pipeline(train, image_size=SIZE, batch_size=8),
        "test": make_pipeline(test, image_size=SIZE, batch_size=4),
        # All 24 images, for finer accuracies; reshuffled every pass, so predictions must stay aligned with labels.
        "all": make_pipeline(ds, image_size=SIZE, batch_size=5),
        "all_shuffled": make_pipeline(ds, image_size=SIZE, batch_size=5, shuffle=True, seed=1),
    }


def tiny_model(learning_rate=0.05, seed=0, metrics=("accuracy",), num_classes=3, l2=None):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 127.5, offset=-1),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=l2 and keras.regularizers.L2(l2)),
        ]
    )
    optimizer = keras.optimizers.SGD(learning_rate, momentum=0.9)
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=list(metrics))
    return model


class LearningRateProbe(keras.callbacks.Callback):
    """Reads the optimizer's learning rate at each epoch start and before each batch."""

    def __init__(self):
        super().__init__()
        self.at_epoch_begin, self.per_batch = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.at_epoch_begin.append(float(self.model.optimizer.learning_rate))
        self.per_batch.append([])

    def on_train_batch_begin(self, batch, logs=None):
        self.per_batch[-1].append(float(self.model.optimizer.learning_rate))


# ---------------------------------------------------------------- schedules


def test_parse_lr_schedule_expands_counts():
    assert parse_lr_schedule("0.05x7,0.005x7,0.0005") == [0.05] * 7 + [0.005] * 7 + [0.0005]
    assert parse_lr_schedule(" 1e-2 X 2 : 1e-3*1 ") == [0.01, 0.01, 0.001]
    assert parse_lr_schedule("0.1") == [0.1]


@pytest.mark.parametrize("bad", ["", "  ", "0.1,,0.01", "0.1x", "0.1x0", "0.1x1.5", "abc", "-0.1", "0x3", "0.1 0.2"])
def test_parse_lr_schedule_rejects_bad_strings(bad):
    with pytest.raises(ValueError, match="Received: schedule="):
        parse_lr_schedule(bad)


def test_step_lr_schedule_changes_rate_at_the_first_step_of_each_epoch():
    schedule = step_lr_schedule([0.1, 0.01, 0.001], steps_per_epoch=3)
    rates = [float(schedule(step)) for step in range(12)]
    expected = [0.1] * 3 + [0.01] * 3 + [0.001] * 6
    np.testing.assert_allclose(rates, expected, rtol=1e-6)
    assert float(step_lr_schedule("0.2", steps_per_epoch=5)(100)) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        step_lr_schedule([0.1], steps_per_epoch=0)
    with pytest.raises(ValueError, match="lr_per_epoch"):
        step_lr_schedule([], steps_per_epoch=3)


def test_step_lr_schedule_in_fit_gives_each_epoch_its_rate(data):
    model = tiny_model()
    steps = len(list(data["train"]))  # 18 images, batches of 4
    optimizer = keras.optimizers.SGD(step_lr_schedule([0.1, 0.02], steps_per_epoch=steps))
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    probe = LearningRateProbe()
    model.fit(data["train"], epochs=3, callbacks=[probe], verbose=0)
    for epoch, rates in enumerate(probe.per_batch):
        assert len(rates) == steps
        np.testing.assert_allclose(rates, [0.1 if epoch == 0 else 0.02] * steps, rtol=1e-6)


# ---------------------------------------------------------------- StepLR


def test_step_lr_sets_the_listed_rate_every_epoch_and_repeats_the_last(data):
    model = tiny_model()
    step_lr = StepLR([0.1, 0.02])
    probe = LearningRateProbe()
    history = model.fit(data["train"], epochs=3, callbacks=[step_lr, probe], verbose=0)
    expected = np.float32([0.1, 0.02, 0.02])  # the optimizer keeps the rate in float32
    assert probe.at_epoch_begin == expected.tolist()
    assert [set(rates) for rates in probe.per_batch] == [{float(rate)} for rate in expected]
    assert history.history["learning_rate"] == expected.tolist()  # Keras' name, as LearningRateScheduler
    assert [step_lr.rate_for_epoch(e) for e in range(5)] == [0.1, 0.02, 0.02, 0.02, 0.02]


def test_step_lr_accepts_a_schedule_string_and_prints_when_verbose(data, capsys):
    model = tiny_model()
    history = model.fit(data["train"].take(1), epochs=2, callbacks=[StepLR("0.3x1,0.03", verbose=1)], verbose=0)
    np.testing.assert_allclose(history.history["learning_rate"], [0.3, 0.03], rtol=1e-6)
    assert "Epoch 2: StepLR setting learning rate to 0.03." in capsys.readouterr().out


def test_step_lr_get_config_round_trip():
    step_lr = StepLR("0.1x2,0.01", verbose=1)
    config = step_lr.get_config()
    assert config == {"lr_per_epoch": [0.1, 0.1, 0.01], "verbose": 1}
    clone = StepLR.from_config(config)
    assert clone.get_config() == config
    assert StepLR(**config).get_config() == config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr_per_epoch": []}, "Received: lr_per_epoch=\\[\\]"),
        ({"lr_per_epoch": [0.1, -1]}, "Received: lr_per_epoch="),
        ({"lr_per_epoch": [0.1, "fast"]}, "Received: lr_per_epoch="),
        ({"lr_per_epoch": None}, "Received: lr_per_epoch=None"),
        ({"lr_per_epoch": [0.1], "verbose": 5}, "Received: verbose=5"),
    ],
)
def test_step_lr_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StepLR(**kwargs)


def test_step_lr_explains_an_optimizer_with_a_schedule(data):
    model = tiny_model()
    model.compile(keras.optimizers.SGD(step_lr_schedule([0.1, 0.01], 2)), "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="step_lr_schedule"):
        model.fit(data["train"], epochs=1, callbacks=[StepLR([0.1])], verbose=0)


# ---------------------------------------------------------------- EvalHistory


class EvaluateProbe(keras.callbacks.Callback):
    """Runs ``model.evaluate`` at each epoch end, after the callbacks listed before it."""

    def __init__(self, eval_data, train_data=None):
        super().__init__()
        self.eval_data, self.train_data = eval_data, train_data
        self.eval_accuracy, self.eval_loss, self.train_accuracy, self.logged = [], [], [], []

    def on_epoch_end(self, epoch, logs=None):
        self.logged.append(dict(logs))
        result = self.model.evaluate(self.eval_data, verbose=0, return_dict=True)
        self.eval_accuracy.append(result["accuracy"])
        self.eval_loss.append(result["loss"])
        if self.train_data is not None:
            result = self.model.evaluate(self.train_data, verbose=0, return_dict=True)
            self.train_accuracy.append(result["accuracy"])


def test_eval_history_accuracy_and_loss_equal_model_evaluate_every_epoch(data, tmp_path):
    model = tiny_model(l2=0.01)  # the reported loss includes regularisation
    eval_history = EvalHistory(data["all_shuffled"])
    probe = EvaluateProbe(data["all"])
    history = model.fit(data["train"], epochs=3, callbacks=[StepLR([0.3, 0.1]), eval_history, probe], verbose=0)

    assert len(eval_history.history["eval_accuracy"]) == 3
    # The model must learn something (not predict one class) for the comparison to mean much.
    assert max(eval_history.history["eval_accuracy"]) > 0.5, eval_history.history
    for ours, keras_value in zip(eval_history.history["eval_accuracy"], probe.eval_accuracy, strict=True):
        assert abs(ours - keras_value) < 1e-6
    for ours, keras_value in zip(eval_history.history["eval_loss"], probe.eval_loss, strict=True):
        assert abs(ours - keras_value) < 1e-5
    # Given eval_data and a fit without validation data, it is the validation, under Keras' names only.
    assert [logs["val_accuracy"] for logs in probe.logged] == eval_history.history["eval_accuracy"]
    assert [logs["val_loss"] for logs in probe.logged] == eval_history.history["eval_loss"]
    assert sorted(history.history) == ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    np.testing.assert_allclose(eval_history.history["train_accuracy"], history.history["accuracy"], rtol=1e-6)
    np.testing.assert_allclose(eval_history.history["train_loss"], history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(eval_history.history["lr"], [0.3, 0.1, 0.1], rtol=1e-6)
    train_accs, eval_accs = eval_history.train_eval_accs
    assert train_accs == eval_history.history["train_accuracy"] and eval_accs == eval_history.history["eval_accuracy"]

    path = tmp_path / "curves.png"
    display = eval_history.plot(str(path))
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(display.lines_) == ["eval_accuracy", "lr", "train_accuracy"]


def test_eval_history_measures_train_accuracy_on_train_data(data):
    model = tiny_model(learning_rate=0.3)
    eval_history = EvalHistory(data["test"], train_data=data["train_plain"], verbose=1)
    probe = EvaluateProbe(data["test"], data["train_plain"])
    model.fit(data["train"], epochs=2, callbacks=[eval_history, probe], verbose=0)
    for ours, keras_value in zip(eval_history.history["train_accuracy"], probe.train_accuracy, strict=True):
        assert abs(ours - keras_value) < 1e-6


def test_eval_history_without_a_train_accuracy_metric_records_nan_and_plots(data, tmp_path):
    model = tiny_model(metrics=())
    eval_history = EvalHistory(data["test"])
    model.fit(data["train"], epochs=2, callbacks=[eval_history], verbose=0)
    assert all(np.isnan(eval_history.history["train_accuracy"]))
    display = eval_history.plot(str(tmp_path / "eval.png"))
    assert "train_accuracy" not in display.lines_ and (tmp_path / "eval.png").stat().st_size > 0


def test_eval_history_reads_keras_validation_and_plots_without_eval_data(data, tmp_path):
    model = tiny_model(learning_rate=0.3)
    validated = EvalHistory()
    model.fit(data["train"], validation_data=data["test"], epochs=2, callbacks=[validated], verbose=0)
    result = model.evaluate(data["test"], verbose=0, return_dict=True)
    assert validated.history["eval_accuracy"][-1] == pytest.approx(result["accuracy"], abs=1e-6)
    assert validated.history["eval_loss"][-1] == pytest.approx(result["loss"], rel=1e-5)

    # Its own eval_data beside Keras' validation: recorded, and Keras' val_ numbers left alone.
    own = EvalHistory(data["all"])
    history = model.fit(data["train"], validation_data=data["test"], epochs=1, callbacks=[own], verbose=0)
    on_test = model.evaluate(data["test"], verbose=0, return_dict=True)
    on_all = model.evaluate(data["all"], verbose=0, return_dict=True)
    assert history.history["val_accuracy"] == [pytest.approx(on_test["accuracy"], abs=1e-6)]
    assert own.history["eval_accuracy"] == [pytest.approx(on_all["accuracy"], abs=1e-6)]

    unvalidated = EvalHistory()
    history = model.fit(data["train"], epochs=2, callbacks=[unvalidated], verbose=0)
    assert all(np.isnan(unvalidated.history["eval_accuracy"])) and all(np.isnan(unvalidated.history["eval_loss"]))
    np.testing.assert_allclose(unvalidated.history["train_accuracy"], history.history["accuracy"], rtol=1e-6)
    display = unvalidated.plot(str(tmp_path / "train_only.png"))
    assert sorted(display.lines_) == ["lr", "train_accuracy"]
    assert (tmp_path / "train_only.png").stat().st_size > 1000

    # A fit continuing from initial_epoch=2 keeps the first two epochs; one from 0 starts afresh.
    first_two = list(unvalidated.history["train_accuracy"])
    model.fit(data["train"], initial_epoch=2, epochs=3, callbacks=[unvalidated], verbose=0)
    assert unvalidated.history["train_accuracy"][:2] == first_two and len(unvalidated.history["train_accuracy"]) == 3
    model.fit(data["train"], epochs=1, callbacks=[unvalidated], verbose=0)
    assert len(unvalidated.history["train_accuracy"]) == 1

    no_metric = tiny_model(metrics=())
    blind = EvalHistory()
    no_metric.fit(data["train"], epochs=1, callbacks=[blind], verbose=0)
    with pytest.raises(ValueError, match="No accuracy to plot"):
        blind.plot()


def test_eval_history_rejects_bad_arguments_and_plot_before_training(data):
    with pytest.raises(ValueError, match="Received: eval_data=3"):
        EvalHistory(3)
    with pytest.raises(ValueError, match="Received: train_data=3"):
        EvalHistory(data["test"], train_data=3)
    with pytest.raises(ValueError, match="No epoch recorded"):
        EvalHistory(data["test"]).plot()


# ---------------------------------------------------------------- TensorBoardExtras


def read_run(run_dir):
    accumulator = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return accumulator


def decoded_images(accumulator, tag):
    """``{step: decoded image}`` of an image summary (tensor: width, height, PNG bytes)."""
    images = {}
    for event in accumulator.Tensors(tag):
        value = tf.make_ndarray(event.tensor_proto)
        width, height = int(value[0]), int(value[1])
        image = tf.io.decode_png(value[2]).numpy()
        assert image.shape[:2] == (height, width)
        images[event.step] = image
    return images


def test_tensorboard_extras_writes_confusion_matrix_and_samples_beside_the_stock_callback(data, tmp_path):
    log_dir = str(tmp_path / "logs")
    model = tiny_model()
    flip = keras.layers.RandomFlip("horizontal", seed=0)
    augmented = data["train"].map(lambda x, y: (flip(x), y))
    extras = TensorBoardExtras(log_dir, eval_data=data["test"], labels=data["labels"], sample_images=augmented, max_samples=6)
    assert extras._writer is None and not os.path.exists(log_dir)  # created lazily
    callbacks = [
        StepLR([0.1, 0.01]),
        EvalHistory(),
        keras.callbacks.TensorBoard(log_dir),
        extras,
    ]
    model.fit(augmented, validation_data=data["test"], epochs=2, callbacks=callbacks, verbose=0)
    assert extras._writer is None  # closed when training ended

    run = read_run(extras.run_dir)
    assert set(run.Tags()["tensors"]) == {"confusion_matrix", "augmented_samples"}
    matrices = decoded_images(run, "confusion_matrix")
    assert sorted(matrices) == [0, 1]
    for image in matrices.values():
        assert image.shape[2] == 3 and min(image.shape[:2]) > 100 and image.std() > 10
    samples = decoded_images(run, "augmented_samples")
    assert sorted(samples) == [0, 1]
    for image in samples.values():
        assert image.shape == (2 * (SIZE + 2) - 2, 3 * (SIZE + 2) - 2, 3)  # 6 images, 3 columns

    # The learning rate once per epoch, in one place: Keras' train run.
    train_run = read_run(os.path.join(log_dir, "train"))
    scalars = {tag for tag in train_run.Tags()["tensors"] if tag.startswith("epoch_")}
    assert scalars == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    lr = {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in train_run.Tensors("epoch_learning_rate")}
    assert lr == pytest.approx({0: 0.1, 1: 0.01})
    validation_run = read_run(os.path.join(log_dir, "validation"))
    assert {"epoch_loss", "epoch_accuracy"} <= set(validation_run.Tags()["tensors"])


def test_tensorboard_extras_takes_a_batch_tensor_and_works_without_eval_data(data, tmp_path):
    images = next(iter(data["train"]))[0]
    extras = TensorBoardExtras(str(tmp_path), sample_images=images, max_samples=4)
    model = tiny_model()
    model.fit(data["train"].take(1), epochs=1, callbacks=[extras], verbose=0)
    run = read_run(extras.run_dir)
    assert "confusion_matrix" not in run.Tags()["tensors"]
    (grid,) = decoded_images(run, "augmented_samples").values()
    np.testing.assert_array_equal(grid, image_grid(images.numpy()[:4]))
    assert grid.shape == (2 * SIZE + 2, 2 * SIZE + 2, 3)


def test_tensorboard_extras_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Received: max_samples=0"):
        TensorBoardExtras(str(tmp_path), max_samples=0)
    with pytest.raises(ValueError, match="Received: log_dir=None"):
        TensorBoardExtras(None)
    with pytest.raises(ValueError, match="Received: labels=\\[\\]"):
        TensorBoardExtras(str(tmp_path), labels=[])


def test_image_grid_tiles_and_clips():
    images = np.stack([np.full((2, 3, 3), v, np.float32) for v in (-5, 100, 300)])
    grid = image_grid(images, ncols=2, spacing=1)
    assert grid.shape == (5, 7, 3) and grid.dtype == np.uint8
    assert grid[0, 0, 0] == 0 and grid[0, 4, 0] == 100 and grid[3, 0, 0] == 255 and grid[3, 4, 0] == 0

"""TFLite (float32, float16, dynamic, int8) and ONNX export, scored by LiteRT and ONNX Runtime.

Fast tests use a tiny seeded model on scikit-image's sample photos; the slow test trains
EfficientNet-Lite0 once with the default recipe on hymenoptera (module fixture) and checks the
issue's bars on its validation photos through the command line.
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from keras_cvcls.cli.edge_commands import default_edge_path
from keras_cvcls.cli.main import main
from keras_cvcls.data import ClassificationDataset
from keras_cvcls.evaluation import ClassificationEvaluation
from keras_cvcls.export import export_onnx, export_tflite, read_edge_info
from keras_cvcls.models import ImageClassifier, OnnxClassifier, TFLiteClassifier, load_classifier, load_edge_classifier
from keras_cvcls.serving.testing import make_tiny_classifier

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the test extra) provides the sample photos")

HYMENOPTERA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "hymenoptera")
LABELS = ["cat", "dog", "fox"]
TINY = {"labels": LABELS, "image_size": (32, 32), "resize_mode": "crop"}


def _photos():
    return [skimage_data.chelsea(), skimage_data.coffee(), skimage_data.astronaut(), skimage_data.rocket()]


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_classifier(LABELS, (32, 32), seed=3)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """Real photos as a labelled folder: chelsea and astronaut 'cat', coffee 'dog', rocket 'fox'."""
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    for (name, label), image in zip([("chelsea", "cat"), ("coffee", "dog"), ("astronaut", "cat"), ("rocket", "fox")], _photos()):
        os.makedirs(root / label, exist_ok=True)
        Image.fromarray(image).save(root / label / f"{name}.jpg", quality=92)
    return ClassificationDataset.from_directory(str(root)).with_labels(LABELS)


def _keras_scores(model, images):
    from keras_cvcls.data.image_inputs import load_images

    return np.asarray(model.predict(load_images(images, (32, 32)), verbose=0))


def test_float_files_score_like_the_keras_model_on_real_photos(tiny, tmp_path):
    reference = _keras_scores(tiny, _photos())
    sizes = {}
    for quantization, tolerance in (("float32", 1e-4), ("float16", 1e-2), ("dynamic", 5e-2)):
        path = export_tflite(tiny, tmp_path / f"tiny_{quantization}.tflite", quantization=quantization, **TINY)
        clf = TFLiteClassifier(path)
        scores = clf.predict_images(_photos(), batch_size=3)  # batches of 3 then 1: the input is resized
        assert scores.shape == (4, 3) and scores.dtype == np.float32
        np.testing.assert_allclose(scores, reference, atol=tolerance)
        assert clf.input_dtype == np.float32 and clf.quantization == quantization
        sizes[quantization] = os.path.getsize(path)
    assert sizes["float16"] < sizes["float32"]
    assert [r.label for r in clf.classify(_photos())] == [LABELS[i] for i in reference.argmax(1)]


def test_side_files_say_labels_size_resize_and_quantisation(tiny, tmp_path, photo_folder):
    path = export_tflite(tiny, str(tmp_path / "out" / "tiny.tflite"), quantization="int8",
                         representative_data=photo_folder, **TINY)
    assert path == str(tmp_path / "out" / "tiny.tflite")
    assert sorted(os.listdir(tmp_path / "out")) == ["tiny.json", "tiny.labels.txt", "tiny.tflite"]
    with open(tmp_path / "out" / "tiny.labels.txt", encoding="utf-8") as f:
        assert f.read() == "cat\ndog\nfox\n"
    info = read_edge_info(path)
    assert info["format"] == "tflite" and info["quantization"] == "int8" and info["labels"] == LABELS
    assert info["image_size"] == [32, 32] and info["resize_mode"] == "crop"
    # uint8 input: raw pixels (scale 1, zero point 0); uint8 output: probability * 256.
    assert {k: info["input"][k] for k in ("dtype", "shape", "scale", "zero_point")} == {
        "dtype": "uint8", "shape": [-1, 32, 32, 3], "scale": 1.0, "zero_point": 0}
    assert {k: info["output"][k] for k in ("dtype", "scale", "zero_point")} == {"dtype": "uint8", "scale": 1 / 256, "zero_point": 0}


def test_int8_runs_on_uint8_pixels_close_to_the_keras_model(tiny, tmp_path, photo_folder):
    from ai_edge_litert.interpreter import Interpreter

    path = export_tflite(tiny, tmp_path / "tiny_int8.tflite", quantization="int8", representative_data=photo_folder, **TINY)
    reference = _keras_scores(tiny, _photos())
    clf = TFLiteClassifier(path)
    assert clf.input_dtype == np.uint8
    np.testing.assert_allclose(clf.predict_images(_photos()), reference, atol=0.05)
    # By hand, as on a device: uint8 pixels in, uint8 scores out.
    from keras_cvcls.data.image_inputs import load_images

    pixels = np.round(load_images(_photos()[:1], (32, 32))).astype(np.uint8)
    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["dtype"] == np.uint8 and out["dtype"] == np.uint8
    interpreter.set_tensor(inp["index"], pixels)
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(out["index"])[0] / 256, reference[0], atol=0.05)


def test_evaluation_of_the_file_equals_the_keras_models(tiny, tmp_path, photo_folder):
    path = export_tflite(tiny, tmp_path / "tiny.tflite", **TINY)
    keras_scores = np.asarray(tiny.predict(photo_folder.to_tf_dataset(image_size=32, batch_size=4), verbose=0))
    expected = ClassificationEvaluation.from_scores(photo_folder.label_ids, keras_scores, LABELS,
                                                    paths=[r.path for r in photo_folder.images])
    for evaluation in (ClassificationEvaluation(path, photo_folder, batch_size=3),  # the path is enough
                       ClassificationEvaluation(load_edge_classifier(path), photo_folder)):
        np.testing.assert_allclose(evaluation.scores, expected.scores, atol=1e-4)
        got, want = evaluation.to_dict(), expected.to_dict()
        assert got["accuracy"] == want["accuracy"] and got["confusion_matrix"] == want["confusion_matrix"]
        assert got["per_class"] == want["per_class"]


def test_onnx_scores_like_the_keras_model(tiny, tmp_path):
    path = export_onnx(tiny, tmp_path / "tiny.onnx", **TINY)
    assert read_edge_info(path)["format"] == "onnx"
    clf = load_edge_classifier(path)
    assert isinstance(clf, OnnxClassifier) and clf.labels == LABELS
    np.testing.assert_allclose(clf.predict_images(_photos(), batch_size=3), _keras_scores(tiny, _photos()), atol=1e-4)


def test_a_mixed_precision_classifier_is_exported_in_float32(tmp_path):
    model = ImageClassifier(["a", "b"], weights=None, image_size=32, precision="mixed_bfloat16")
    path = export_tflite(model, tmp_path / "m.tflite")
    images = _photos()[:2]
    float32 = ImageClassifier.from_config({**model.get_config(), "precision": "float32"})
    float32.set_weights(model.get_weights())
    np.testing.assert_allclose(TFLiteClassifier(path).predict_images(images), float32.predict_images(images), atol=1e-4)
    info = read_edge_info(path)
    assert info["labels"] == ["a", "b"] and info["image_size"] == [32, 32]


class _Erfinv(keras.layers.Layer):
    """tf.math.erfinv: no TFLite builtin operator computes it."""

    def call(self, x):
        return tf.math.erfinv(x / 512.0)


def test_errors_are_clear(tiny, tmp_path, photo_folder):
    out = str(tmp_path / "m.tflite")
    with pytest.raises(ValueError, match=r"quantization must be one of .*Received: quantization='int4'"):
        export_tflite(tiny, out, quantization="int4", **TINY)
    with pytest.raises(ValueError, match=r"int8 quantisation calibrates.*representative_data=train_set.*Received: representative_data=None"):
        export_tflite(tiny, out, quantization="int8", **TINY)
    with pytest.raises(ValueError, match="calibrates int8 quantisation only"):
        export_tflite(tiny, out, quantization="float16", representative_data=photo_folder, **TINY)
    with pytest.raises(ValueError, match=r"array of images \[N, 32, 32, 3\].*Received: representative_data='array of shape \(2, 8, 8, 3\)'"):
        export_tflite(tiny, out, quantization="int8", representative_data=np.zeros((2, 8, 8, 3)), **TINY)
    with pytest.raises(ValueError, match=r"must end in '.tflite'. Received: path="):
        export_tflite(tiny, str(tmp_path / "m.onnx"), **TINY)
    with pytest.raises(ValueError, match="A plain Keras model carries no class map"):
        export_tflite(tiny, out)
    inputs = keras.Input((32, 32, 3))
    x = _Erfinv()(keras.layers.GlobalAveragePooling2D()(inputs))
    unconvertible = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    with pytest.raises(ValueError, match=r"TensorFlow Lite cannot convert this model to float32 .*'tf.Erfinv' op is neither"):
        export_tflite(unconvertible, out, **TINY)
    assert not os.path.exists(out) and not os.listdir(tmp_path)  # nothing half-written
    path = export_tflite(tiny, out, **TINY)
    os.remove(tmp_path / "m.labels.txt")
    with pytest.raises(FileNotFoundError, match=r"m.labels.txt is missing"):
        TFLiteClassifier(path)
    with pytest.raises(ValueError, match=r"ends in one of \['.onnx', '.tflite'\]"):
        load_edge_classifier(str(tmp_path / "m.keras"))


# ---------------------------------------------------------------- real photos, trained Lite0


@pytest.fixture(scope="module")
def hymenoptera_run(tmp_path_factory):
    """EfficientNet-Lite0, the default recipe (fine-tune), trained once at 224 px by the command line."""
    if not os.path.isdir(HYMENOPTERA):
        pytest.skip("../shared/datasets/hymenoptera is absent (a user's clone)")
    base = tmp_path_factory.mktemp("hymenoptera")
    data = shutil.copytree(HYMENOPTERA, base / "data")  # the shared copy is read-only
    run = str(base / "run")
    assert main(["train", str(data / "train"), "--val", str(data / "val"), "--image-size", "224", "--out", run]) == 0
    return data, run


@pytest.mark.slow
def test_trained_lite0_exports_float32_float16_int8_within_the_bars(hymenoptera_run, tmp_path, capsys):
    data, run = hymenoptera_run
    model = load_classifier(run)
    val = ClassificationDataset.from_directory(str(data / "val")).with_labels(model.labels)
    keras_scores = model.predict_scores(val)
    keras_accuracy = accuracy_score(val.label_ids, keras_scores.argmax(1))
    assert keras_accuracy >= 0.9

    sizes = {}
    for quantization, tolerance in (("float32", 1e-4), ("float16", 1e-2)):
        path = export_tflite(model, tmp_path / f"lite0_{quantization}.tflite", quantization=quantization)
        scores = TFLiteClassifier(path).predict_scores(val)  # LiteRT on the real photos
        assert np.abs(scores - keras_scores).max() <= tolerance, (quantization, np.abs(scores - keras_scores).max())
        sizes[quantization] = os.path.getsize(path)

    # int8 by the command line: calibrated on the run's training split, then evaluated as a file.
    out = str(tmp_path / "lite0_int8.tflite")
    assert main(["export", run, "--format", "tflite", "--quantize", "int8", "--output", out, "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["path"] == out and exported["quantization"] == "int8" and exported["size_bytes"] == os.path.getsize(out)
    assert main(["evaluate", out, "--data", str(data / "val"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    int8_scores = TFLiteClassifier(out).predict_scores(val)  # scikit-learn as the oracle of the reported numbers
    assert metrics["accuracy"] == pytest.approx(accuracy_score(val.label_ids, int8_scores.argmax(1)))
    assert metrics["class_avg_accuracy"] == pytest.approx(balanced_accuracy_score(val.label_ids, int8_scores.argmax(1)))
    assert metrics["accuracy"] >= keras_accuracy - 0.01, (metrics["accuracy"], keras_accuracy)
    assert exported["size_bytes"] <= 0.30 * sizes["float32"], (exported["size_bytes"], sizes)


def _json_error(capsys):
    out, err = capsys.readouterr()
    error = json.loads(out)
    assert set(error) == {"error", "kind"} and "Traceback" not in err
    return error


def test_cli_errors_and_calibration_folder(tmp_path, capsys, photo_folder):
    saved = str(tmp_path / "saved")
    ImageClassifier(LABELS, "resnet18", weights=None, image_size=32).save(saved)  # a model folder, not a run
    cases = [
        (["export", saved, "--format", "onnx", "--quantize", "int8"], "--format onnx exports float32 only"),
        (["export", saved, "--format", "tflite", "--base", str(tmp_path / "m")], "--base, --version and --no-warmup are for --format savedmodel"),
        (["export", saved, "--quantize", "int8", "--base", str(tmp_path / "m")], "--base is required, and --quantize"),
        (["export", saved, "--format", "tflite", "--calibration-data", str(tmp_path)], "calibrates --quantize int8 only"),
        (["export", saved, "--format", "tflite", "--quantize", "int8"], "pass --calibration-data DIR"),
        (["evaluate", str(tmp_path / "m.tflite")], "pass --data DIR"),
    ]
    for argv, message in cases:
        assert main([*argv, "--json"]) == 2, argv
        error = _json_error(capsys)
        assert error["kind"] == "usage" and message in error["error"], (argv, error)
    assert main(["evaluate", str(tmp_path / "m.tflite"), "--data", str(photo_folder.root), "--json"]) == 2
    assert _json_error(capsys)["kind"] == "not_found"

    out = str(tmp_path / "edge" / "m.tflite")
    argv = ["export", saved, "--format", "tflite", "--quantize", "int8", "--calibration-data", str(photo_folder.root)]
    assert main([*argv, "--output", out, "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported == {"path": out, "format": "tflite", "quantization": "int8", "size_bytes": os.path.getsize(out),
                        "labels_path": str(tmp_path / "edge" / "m.labels.txt"), "info_path": str(tmp_path / "edge" / "m.json")}
    report = str(tmp_path / "report.html")
    assert main(["evaluate", out, "--data", str(photo_folder.root), "--report", report, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    scores = TFLiteClassifier(out).predict_scores(photo_folder)
    assert metrics["accuracy"] == accuracy_score(photo_folder.label_ids, scores.argmax(1))
    assert os.path.getsize(report) > 1000
    assert default_edge_path("runs/x", "tflite", "int8") == os.path.join("runs/x", "model_int8.tflite")
    assert default_edge_path("runs/x", "onnx", "float32") == os.path.join("runs/x", "model.onnx")


def test_evaluate_an_exported_file_with_tta_is_refused(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "m.tflite"), "--data", str(tmp_path), "--tta", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert "--tta" in error["error"] and "Evaluate the training run with --tta" in error["error"]

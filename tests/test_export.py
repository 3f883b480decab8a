import contextlib
import io
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import yaml
from conftest import gradient, jpeg_bytes
from PIL import Image

from keras_cvcls.data.decode import decode_image
from keras_cvcls.export import export_for_serving, list_versions, read_labels
from keras_cvcls.export import saved_model as saved_model_module
from keras_cvcls.serving.testing import make_tiny_classifier

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVING = os.path.join(REPO, "serving")
LABELS = ["cat", "dog", "fox"]
# A plain Keras model carries no class map: export is told it.
TINY = {"labels": LABELS, "image_size": (16, 16), "resize_mode": "crop"}


@pytest.fixture(scope="module")
def classifier():
    return make_tiny_classifier(LABELS, (16, 16), seed=1)


@pytest.fixture(scope="module")
def exported(classifier, tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "clf"
    return export_for_serving(classifier, base, **TINY), base


def _png_bytes(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def test_versions_are_numbered_atomic_and_labels_are_an_asset(classifier, tmp_path):
    base = tmp_path / "clf"
    first = export_for_serving(classifier, base, warmup=False, **TINY)
    second = export_for_serving(classifier, base, warmup=False, **TINY)
    tenth = export_for_serving(classifier, str(base), version=10, warmup=False, **TINY)
    assert [os.path.basename(p) for p in (first, second, tenth)] == ["1", "2", "10"]
    assert list_versions(base) == [1, 2, 10]
    assert sorted(os.listdir(base)) == ["1", "10", "2"]  # no staging folders left behind
    assert read_labels(first) == LABELS
    with open(os.path.join(first, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read() == "cat\ndog\nfox\n"
    with pytest.raises(FileExistsError, match="version 2 already exists"):
        export_for_serving(classifier, base, version=2, **TINY)
    for bad in (0, -1, "3", 1.5, True):
        with pytest.raises(ValueError, match="Received: version="):
            export_for_serving(classifier, base, version=bad, **TINY)


def test_a_failed_export_leaves_no_version_and_no_staging_folder(classifier, tmp_path, monkeypatch):
    base = tmp_path / "clf"
    export_for_serving(classifier, base, warmup=False, **TINY)

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(saved_model_module, "_write_warmup", broken)
    with pytest.raises(OSError, match="disk full"):
        export_for_serving(classifier, base, **TINY)
    assert os.listdir(base) == ["1"]


def test_signatures_named_inputs_and_outputs(exported):
    path, _ = exported
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {"serving_default", "predict_images", "labels", "classification"}
    sig = loaded.signatures["serving_default"]
    assert sig.structured_input_signature[1] == {"image_bytes": tf.TensorSpec([None], tf.string, "image_bytes")}
    assert sig.structured_outputs["scores"].shape.as_list() == [None, 3]
    assert sig.structured_outputs["scores"].dtype == tf.float32
    assert sig.structured_outputs["classes"].shape.as_list() == [None]
    assert sig.structured_outputs["classes"].dtype == tf.string
    images = loaded.signatures["predict_images"].structured_input_signature[1]["images"]
    assert images.shape.as_list() == [None, 16, 16, 3] and images.dtype == tf.float32
    names = loaded.signatures["labels"](class_ids=tf.constant([2, 0, 1], tf.int64))["labels"]
    assert [n.decode() for n in names.numpy()] == ["fox", "cat", "dog"]


def test_saved_model_cli_show_all_lists_the_signatures(exported, monkeypatch):
    from tensorflow.python.tools import saved_model_cli

    path, _ = exported
    monkeypatch.setattr(sys, "argv", ["saved_model_cli", "show", "--dir", path, "--all"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        saved_model_cli.main()
    text = out.getvalue()
    for expected in (
        "signature_def['serving_default']",
        "inputs['image_bytes'] tensor_info:",
        "outputs['scores'] tensor_info:",
        "outputs['classes'] tensor_info:",
        "signature_def['predict_images']",
        "inputs['images'] tensor_info:",
        "shape: (-1, 16, 16, 3)",
        "signature_def['labels']",
        "Method name is: tensorflow/serving/predict",
    ):
        assert expected in text, expected


def _saved_model(path):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return proto


def test_classification_signature_is_tf_servings_classify_and_scores_as_predict(exported):
    path, _ = exported
    signature_defs = _saved_model(path).meta_graphs[0].signature_def
    classification = signature_defs["classification"]
    assert classification.method_name == "tensorflow/serving/classify"
    assert set(classification.inputs) == {"inputs"} and set(classification.outputs) == {"classes", "scores"}
    assert signature_defs["serving_default"].method_name == "tensorflow/serving/predict"
    files = [jpeg_bytes(gradient(40, 56, seed=s)) for s in range(2)]
    examples = [
        tf.train.Example(
            features=tf.train.Features(feature={"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f]))})
        ).SerializeToString()
        for f in files
    ]
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["classification"](inputs=tf.constant(examples))
    expected = loaded.signatures["serving_default"](image_bytes=tf.constant(files))["scores"].numpy()
    np.testing.assert_array_equal(out["scores"].numpy(), expected)
    assert out["classes"].numpy().tolist() == [[b"cat", b"dog", b"fox"]] * 2
    no_image = tf.train.Example().SerializeToString()
    with pytest.raises(tf.errors.InvalidArgumentError, match="image/encoded"):
        loaded.signatures["classification"](inputs=tf.constant([no_image]))


@pytest.mark.parametrize(
    "signature, feed",
    [
        ("predict_images", np.zeros((2, 3), np.float32)),  # rank 2: crashed inside oneDNN on TF Serving
        ("predict_images", np.zeros((1, 8, 8, 3), np.float32)),
        ("serving_default", np.array([[b"x"]], object)),
        ("labels", np.zeros((1, 1), np.int64)),
        ("classification", np.array([[b""]], object)),
    ],
)
def test_signatures_check_input_shapes_in_the_graph(exported, signature, feed):
    # TF Serving feeds the signature's tensors through a C++ Session without checking shapes
    # (predict_util.cc): a session callable made from CallableOptions does the same, without
    # the shape check Session.run adds in Python.
    from tensorflow.core.protobuf import config_pb2

    path, _ = exported
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        signature_def = meta_graph.signature_def[signature]
        (info,) = signature_def.inputs.values()
        outputs = [t.name for t in signature_def.outputs.values()]
        run = session._make_callable_from_options(config_pb2.CallableOptions(feed=[info.name], fetch=outputs))
        with pytest.raises(tf.errors.InvalidArgumentError, match="is not compatible with expected shape"):
            run(feed)


@pytest.mark.parametrize("resize_mode", ["crop", "pad", "stretch"])
def test_serving_graph_matches_in_process_decode_and_predict(resize_mode, tmp_path):
    classifier = make_tiny_classifier(LABELS, (16, 24), seed=2)
    path = export_for_serving(classifier, tmp_path / "clf", warmup=False, labels=LABELS, image_size=(16, 24), resize_mode=resize_mode)
    loaded = tf.saved_model.load(path)
    files = [jpeg_bytes(gradient(48, 64, seed=0), quality=92), _png_bytes(gradient(40, 30, seed=1))]
    served = loaded.signatures["serving_default"](image_bytes=tf.constant(files))
    images = tf.stack([decode_image(f, (16, 24), resize_mode=resize_mode, orientation=None) for f in files])
    expected = classifier(images, training=False).numpy()
    np.testing.assert_allclose(served["scores"].numpy(), expected, atol=1e-6)
    assert [c.decode() for c in served["classes"].numpy()] == [LABELS[i] for i in expected.argmax(-1)]
    direct = loaded.signatures["predict_images"](images=images)
    np.testing.assert_allclose(direct["scores"].numpy(), expected, atol=1e-6)


def test_warmup_requests_are_prediction_logs_that_run(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    path, _ = exported
    warmup = os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
    records = [r.numpy() for r in tf.data.TFRecordDataset(warmup)]
    assert records
    loaded = tf.saved_model.load(path)
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record)
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        images = tf.make_ndarray(request.inputs["image_bytes"])
        assert images[0][:2] == b"\xff\xd8"  # a JPEG
        out = loaded.signatures["serving_default"](image_bytes=tf.constant(images))
        assert out["scores"].shape == (len(images), 3)


def test_classifier_lacking_what_export_needs_is_refused(tmp_path):
    import keras

    plain = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")]
    )
    with pytest.raises(ValueError, match=r"plain Keras model carries no class map: pass \['labels', 'image_size', 'resize_mode'\]"):
        export_for_serving(plain, tmp_path / "a")
    with pytest.raises(ValueError, match=r"pass \['resize_mode'\]"):
        export_for_serving(plain, tmp_path / "a", labels=["a", "b"], image_size=16)
    given = {"image_size": (16, 16), "resize_mode": "crop"}
    with pytest.raises(ValueError, match=r"output has shape \[1, 2\] for one image, but it has 3 labels"):
        export_for_serving(plain, tmp_path / "a", labels=["a", "b", "c"], **given)
    with pytest.raises(ValueError, match="duplicates"):
        export_for_serving(plain, tmp_path / "a", labels=["a", "a"], **given)
    with pytest.raises(ValueError, match="without line breaks"):
        export_for_serving(plain, tmp_path / "a", labels=["a", "b\nc"], **given)
    with pytest.raises(ValueError, match=r"resize_mode must be one of .* Received: resize_mode='zoom'"):
        export_for_serving(plain, tmp_path / "a", labels=["a", "b"], image_size=(16, 16), resize_mode="zoom")
    with pytest.raises(ValueError, match=r"classifier failed on a float32 input of shape \[1, 8, 8, 3\]"):
        export_for_serving(plain, tmp_path / "a", labels=["a", "b"], image_size=(8, 8), resize_mode="crop")
    logits = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="must output class probabilities"):
        export_for_serving(logits, tmp_path / "a", labels=["a", "b"], **given)
    with pytest.raises(ValueError, match="classifier must be an ImageClassifier, a ScikitClassifier, or a Keras model"):
        export_for_serving("model.keras", tmp_path / "a")
    assert list_versions(tmp_path / "a") == []


def test_a_classifier_of_the_contract_exports_with_its_own_class_map(tmp_path):
    from keras_cvcls.models import ImageClassifier

    model = ImageClassifier(LABELS, "resnet18", weights=None, image_size=(16, 24), resize_mode="pad")
    path = export_for_serving(model, tmp_path / "clf", warmup=False)
    assert read_labels(path) == model.class_map == LABELS
    loaded = tf.saved_model.load(path)
    images = loaded.signatures["predict_images"].structured_input_signature[1]["images"]
    assert images.shape.as_list() == [None, 16, 24, 3]
    pixels = tf.fill([1, 16, 24, 3], 100.0)
    np.testing.assert_allclose(loaded.signatures["predict_images"](images=pixels)["scores"].numpy(),
                               model.predict_scores(pixels.numpy()), atol=1e-5)
    with pytest.raises(ValueError, match=r"ImageClassifier carries its own labels.*Received: labels=\['x'\]"):
        export_for_serving(model, tmp_path / "other", labels=["x"])
    assert list_versions(tmp_path / "other") == []


# Deployment assets for real TF Serving (serving/ at the repository root).


def test_models_config_files_parse_as_model_server_config():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from keras_cvcls.serving import read_model_config_file

    for name in ("models.config", "models.canary.config"):
        path = os.path.join(SERVING, name)
        with open(path, encoding="utf-8") as f:
            config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
        (model,) = config.model_config_list.config
        assert (model.name, model.base_path, model.model_platform) == ("classifier", "/models/classifier", "tensorflow")
        ours = read_model_config_file(path)[0]
        assert ours.name == "classifier"
    canary = read_model_config_file(os.path.join(SERVING, "models.canary.config"))[0]
    assert canary.version_policy == "specific" and canary.versions == (1, 2)
    assert canary.version_labels == {"stable": 1, "canary": 2}


def test_batching_parameters_parse_as_batching_parameters():
    from google.protobuf import text_format

    from keras_cvcls.serving import BatchingParameters, read_batching_parameters_file

    path = os.path.join(SERVING, "batching_parameters.txt")
    with open(path, encoding="utf-8") as f:
        params = text_format.Parse(f.read(), BatchingParameters())
    assert BatchingParameters.DESCRIPTOR.full_name == "tensorflow.serving.BatchingParameters"
    assert params.max_batch_size.value == 32 and params.batch_timeout_micros.value == 2000
    options = read_batching_parameters_file(path)
    assert (options.max_batch_size, options.batch_timeout_micros, options.max_enqueued_batches) == (32, 2000, 100)
    with pytest.raises(ValueError, match="not a valid BatchingParameters"):
        from keras_cvcls.serving import parse_batching_parameters

        parse_batching_parameters("max_batch_size: 3")


def test_dockerfiles_build_on_tensorflow_serving():
    with open(os.path.join(SERVING, "Dockerfile"), encoding="utf-8") as f:
        cpu = f.read()
    with open(os.path.join(SERVING, "Dockerfile.gpu"), encoding="utf-8") as f:
        gpu = f.read()
    assert "FROM tensorflow/serving:${TF_SERVING_VERSION}" in cpu and "ARG TF_SERVING_VERSION=latest\n" in cpu
    assert "ARG TF_SERVING_VERSION=latest-gpu" in gpu and "FROM tensorflow/serving:${TF_SERVING_VERSION}" in gpu
    for text in (cpu, gpu):
        assert "COPY ${MODEL_DIR} /models/classifier" in text
        assert "ENV MODEL_NAME=classifier" in text
        assert "--batching_parameters_file=/config/batching_parameters.txt" in text
        assert "EXPOSE 8500 8501" in text


def test_k8s_manifests():
    docs = {}
    for name in ("deployment.yaml", "service.yaml", "hpa.yaml", "kustomization.yaml"):
        with open(os.path.join(SERVING, "k8s", name), encoding="utf-8") as f:
            docs[name] = yaml.safe_load(f)
    deployment = docs["deployment.yaml"]
    assert deployment["kind"] == "Deployment"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert sorted(p["containerPort"] for p in container["ports"]) == [8500, 8501]
    assert {"name": "MODEL_NAME", "value": "classifier"} in container["env"]
    probe = container["readinessProbe"]["httpGet"]
    assert probe == {"path": "/v1/models/classifier", "port": 8501}
    service = docs["service.yaml"]
    assert service["kind"] == "Service"
    assert sorted(p["port"] for p in service["spec"]["ports"]) == [8500, 8501]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    hpa = docs["hpa.yaml"]
    assert hpa["kind"] == "HorizontalPodAutoscaler" and hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert set(docs["kustomization.yaml"]["resources"]) == {"deployment.yaml", "service.yaml", "hpa.yaml"}

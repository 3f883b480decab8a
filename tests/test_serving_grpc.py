"""The embedded server's gRPC API (tensorflow-serving-api protos) and its version management."""

import concurrent.futures
import io
import os
import shutil
import threading
import time

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from conftest import gradient, jpeg_bytes
from google.protobuf import text_format
from PIL import Image
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from keras_cvcls.data.decode import decode_image
from keras_cvcls.export import export_for_serving
from keras_cvcls.serving import ModelServer
from keras_cvcls.serving.testing import make_tiny_classifier

LABELS = ["cat", "dog", "fox"]
TINY = {"labels": LABELS, "image_size": (16, 16), "resize_mode": "crop"}  # what export needs of a plain model
NAME = "clf"
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def classifier():
    return make_tiny_classifier(LABELS, (16, 16), seed=4)


@pytest.fixture(scope="module")
def server(classifier, tmp_path_factory):
    base = tmp_path_factory.mktemp("grpc") / NAME
    export_for_serving(classifier, base, **TINY)
    with ModelServer(
        base,
        NAME,
        rest_port=None,
        grpc_port=0,
        host="127.0.0.1",
        version_labels={"stable": 1},
        batching_parameters={"max_batch_size": 8, "batch_timeout_micros": 1000},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(server.grpc_target)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


@pytest.fixture(scope="module")
def images():
    return [jpeg_bytes(gradient(48, 64, seed=s), quality=90) for s in range(3)]


def predict_request(files, name=NAME, signature="", version=None, label=None, output_filter=()):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    if files is not None:
        request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(files, dtype=tf.string))
    request.output_filter.extend(output_filter)
    return request


def status_request(name=NAME, version=None, label=None):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    return request


def rpc_error(call, request):
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=TIMEOUT)
    return info.value.code(), info.value.details()


def test_predict_equals_in_process_and_reports_the_version(stubs, classifier, images):
    prediction, _ = stubs
    response = prediction.Predict(predict_request(images), timeout=TIMEOUT)
    assert (response.model_spec.name, response.model_spec.version.value) == (NAME, 1)
    assert response.model_spec.signature_name == "serving_default"
    batch = tf.stack([decode_image(f, (16, 16), resize_mode="crop", orientation=None) for f in images])
    expected = classifier(batch, training=False).numpy()
    scores = tf.make_ndarray(response.outputs["scores"])
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert len(response.outputs["scores"].float_val) == expected.size  # values in float_val, as TF Serving
    assert [c.decode() for c in tf.make_ndarray(response.outputs["classes"])] == [
        LABELS[i] for i in expected.argmax(-1)
    ]
    for request in (predict_request(images, version=1), predict_request(images, label="stable")):
        again = prediction.Predict(request, timeout=TIMEOUT)
        np.testing.assert_allclose(tf.make_ndarray(again.outputs["scores"]), expected, atol=1e-5)


def test_output_filter(stubs, images):
    prediction, _ = stubs
    response = prediction.Predict(predict_request(images[:1], output_filter=["classes"]), timeout=TIMEOUT)
    assert list(response.outputs) == ["classes"]


def test_float_signature(stubs, classifier):
    prediction, _ = stubs
    pixels = np.asarray(gradient(16, 16), np.float32)[None]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = NAME
    request.model_spec.signature_name = "predict_images"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(pixels))  # packed tensor_content works too
    response = prediction.Predict(request, timeout=TIMEOUT)
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["scores"]), classifier(pixels, training=False).numpy(), atol=1e-5
    )


def test_get_model_metadata(stubs):
    prediction, _ = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = NAME
    response = prediction.GetModelMetadata(request, timeout=TIMEOUT)
    assert (response.model_spec.name, response.model_spec.version.value) == (NAME, 1)
    defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(defs)
    serving = defs.signature_def["serving_default"]
    assert serving.method_name == "tensorflow/serving/predict"
    assert serving.inputs["image_bytes"].dtype == tf.string.as_datatype_enum
    assert [d.size for d in serving.outputs["scores"].tensor_shape.dim] == [-1, 3]
    assert set(defs.signature_def) == {"serving_default", "predict_images", "labels", "classification", "__saved_model_init_op"}


def test_get_model_status(stubs):
    _, models = stubs
    for request in (status_request(), status_request(version=1), status_request(label="stable")):
        response = models.GetModelStatus(request, timeout=TIMEOUT)
        (entry,) = response.model_version_status
        assert entry.version == 1
        assert entry.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        assert (entry.status.error_code, entry.status.error_message) == (0, "")


def test_errors_have_tf_servings_codes_and_messages(stubs, images):
    prediction, models = stubs
    C = grpc.StatusCode
    cases = [
        (models.GetModelStatus, status_request("nope"), C.NOT_FOUND, "Could not find any versions of model nope"),
        (models.GetModelStatus, status_request(version=5), C.NOT_FOUND, f"Could not find version 5 of model {NAME}"),
        (
            prediction.Predict,
            predict_request(images, "nope"),
            C.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            prediction.Predict,
            predict_request(images, version=3),
            C.NOT_FOUND,
            f"Servable not found for request: Specific({NAME}, 3)",
        ),
        (
            prediction.Predict,
            predict_request(images, label="beta"),
            C.INVALID_ARGUMENT,
            "Unrecognized servable version label: beta",
        ),
        (
            prediction.Predict,
            predict_request(images, signature="nope"),
            C.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        (
            prediction.Predict,
            predict_request(None),
            C.INVALID_ARGUMENT,
            "input size does not match signature: 0!=1 len({}) != len({image_bytes}). Sent extra: {}. "
            "Missing but required: {image_bytes}.",
        ),
        (
            prediction.Predict,
            predict_request(images, output_filter=["nope"]),
            C.INVALID_ARGUMENT,
            "output tensor alias not found in signature: nope Outputs expected to be in the set {classes,scores}.",
        ),
        (
            prediction.Predict,
            predict_request(images, output_filter=["scores", "scores"]),
            C.INVALID_ARGUMENT,
            "duplicate output tensor alias: scores",
        ),
        (prediction.Predict, predict_request([b"garbage"]), C.INVALID_ARGUMENT, "Unknown image file format."),
        (prediction.Predict, predict_pb2.PredictRequest(), C.INVALID_ARGUMENT, "Missing ModelSpec"),
    ]
    wrong_dtype = predict_request(None)
    wrong_dtype.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([1.0, 2.0]))
    cases.append(
        (prediction.Predict, wrong_dtype, C.INVALID_ARGUMENT, "Expects arg[0] to be string but float is provided")
    )
    no_field = get_model_metadata_pb2.GetModelMetadataRequest()
    no_field.model_spec.name = NAME
    cases.append(
        (
            prediction.GetModelMetadata,
            no_field,
            C.INVALID_ARGUMENT,
            "GetModelMetadataRequest must specify at least one metadata_field",
        )
    )
    other_field = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["saved_model"])
    other_field.model_spec.name = NAME
    cases.append(
        (prediction.GetModelMetadata, other_field, C.INVALID_ARGUMENT, "Metadata field saved_model is not supported")
    )
    for call, request, code, message in cases:
        got_code, details = rpc_error(call, request)
        assert (got_code, message in details) == (code, True), (code, message, got_code, details)


def test_full_batch_queue_answers_unavailable(classifier, tmp_path):
    base = tmp_path / NAME
    export_for_serving(classifier, base, **TINY, warmup=False)
    y, x = np.mgrid[0:1600, 0:1600]
    buf = io.BytesIO()
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)).save(buf, "PNG", compress_level=1)
    request = predict_request([buf.getvalue()])
    options = {"max_batch_size": 1, "max_enqueued_batches": 1, "num_batch_threads": 1}
    with ModelServer(base, NAME, rest_port=None, grpc_port=0, host="127.0.0.1", batching_parameters=options) as srv:
        with grpc.insecure_channel(srv.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            barrier = threading.Barrier(12)

            def send(_):
                barrier.wait()
                try:
                    stub.Predict(request, timeout=30)
                    return grpc.StatusCode.OK, ""
                except grpc.RpcError as e:
                    return e.code(), e.details()

            with concurrent.futures.ThreadPoolExecutor(12) as pool:
                results = list(pool.map(send, range(12)))
    codes = [c for c, _ in results]
    assert grpc.StatusCode.OK in codes and grpc.StatusCode.UNAVAILABLE in codes, codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
    assert (
        "The batch scheduling queue to which this task was submitted is full"
        in dict(results)[grpc.StatusCode.UNAVAILABLE]
    )


# Versions: policies, labels, reloads, broken versions.


def _versions(server, name=NAME):
    body = requests.get(f"{server.rest_url}/v1/models/{name}", timeout=10).json()
    return {
        int(v["version"]): (v["state"], v["status"]["error_code"], v["status"]["error_message"])
        for v in body["model_version_status"]
    }


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    base = tmp_path_factory.mktemp("versions") / NAME
    export_for_serving(make_tiny_classifier(LABELS, (16, 16), seed=5), base, version=1, warmup=False, **TINY)
    export_for_serving(make_tiny_classifier(["a", "b", "c"], (16, 16), seed=6), base, version=2, warmup=False, **{**TINY, "labels": ["a", "b", "c"]})
    return base


def test_latest_policy_serves_the_highest_version(two_versions, images):
    with ModelServer(two_versions, NAME, rest_port=0, grpc_port=0, host="127.0.0.1") as srv:
        assert _versions(srv) == {2: ("AVAILABLE", "OK", "")}
        body = requests.post(
            f"{srv.rest_url}/v1/models/{NAME}:predict", json={"signature_name": "labels", "inputs": [0]}
        ).json()
        assert body == {"outputs": ["a"]}


def test_all_policy_and_labels_from_a_model_config_file(two_versions, tmp_path, images):
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list { config { name: 'clf' base_path: '%s' model_platform: 'tensorflow' "
        "model_version_policy { specific { versions: 1 versions: 2 } } "
        "version_labels { key: 'stable' value: 1 } version_labels { key: 'canary' value: 2 } } }" % two_versions
    )
    with ModelServer(model_config_file=str(config), rest_port=0, grpc_port=0, host="127.0.0.1") as srv:
        assert _versions(srv) == {1: ("AVAILABLE", "OK", ""), 2: ("AVAILABLE", "OK", "")}
        for label, first in (("stable", "cat"), ("canary", "a")):
            url = f"{srv.rest_url}/v1/models/{NAME}/labels/{label}:predict"
            assert requests.post(url, json={"signature_name": "labels", "inputs": [0]}).json() == {"outputs": [first]}
        with grpc.insecure_channel(srv.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(predict_request(images[:1], label="canary"), timeout=TIMEOUT)
            assert response.model_spec.version.value == 2
            # HandleReloadConfigRequest: keep only version 1, under a new label.
            reload = model_management_pb2.ReloadConfigRequest()
            text_format.Parse(
                "model_config_list { config { name: 'clf' base_path: '%s' model_platform: 'tensorflow' "
                "model_version_policy { specific { versions: 1 } } version_labels { key: 'prod' value: 1 } } }"
                % two_versions,
                reload.config,
            )
            models = model_service_pb2_grpc.ModelServiceStub(channel)
            assert models.HandleReloadConfigRequest(reload, timeout=TIMEOUT).status.error_code == 0
            assert _versions(srv) == {1: ("AVAILABLE", "OK", ""), 2: ("END", "OK", "")}
            response = stub.Predict(predict_request(images[:1], label="prod"), timeout=TIMEOUT)
            assert response.model_spec.version.value == 1


def test_broken_new_version_keeps_the_served_one_and_shows_the_error(classifier, tmp_path, images):
    base = tmp_path / NAME
    export_for_serving(classifier, base, **TINY, version=1, warmup=False)
    with ModelServer(
        base,
        NAME,
        rest_port=0,
        grpc_port=0,
        host="127.0.0.1",
        file_system_poll_wait_seconds=0.1,
        max_num_load_retries=0,
    ) as srv:
        broken = base / "2"
        staging = tmp_path / "staging"
        staging.mkdir()
        (staging / "saved_model.pb").write_bytes(b"this is not a SavedModel")
        os.rename(staging, broken)
        _wait_for(lambda: _versions(srv).get(2, ("",))[0] == "END")
        states = _versions(srv)
        assert states[1] == ("AVAILABLE", "OK", "")
        state, code, message = states[2]
        assert code != "OK" and "saved_model.pb" in message, states[2]
        with grpc.insecure_channel(srv.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert stub.Predict(predict_request(images[:1]), timeout=TIMEOUT).model_spec.version.value == 1
            # A good version 3 replaces version 1; the failed version 2 stays reported.
            export_for_serving(classifier, base, **TINY, version=3, warmup=False)
            _wait_for(lambda: _versions(srv).get(1, ("",))[0] == "END")
            assert stub.Predict(predict_request(images[:1]), timeout=TIMEOUT).model_spec.version.value == 3
        assert _versions(srv)[3] == ("AVAILABLE", "OK", "") and _versions(srv)[2][0] == "END"
        shutil.rmtree(broken)


def _served_labels(server):
    body = {"signature_name": "labels", "inputs": [0, 1, 2]}
    return requests.post(f"{server.rest_url}/v1/models/{NAME}:predict", json=body, timeout=10).json()["outputs"]


def test_half_written_version_is_refused_until_complete(classifier, tmp_path):
    # The attack: a version copied into the base path in place, its labels.txt still being
    # written ("chee" of "cheetah"), was served, and kept its truncated names for good.
    base = tmp_path / NAME
    export_for_serving(classifier, base, **TINY, version=1, warmup=False)
    new_labels = ["cat", "dog", "cheetah"]
    ready = export_for_serving(
        make_tiny_classifier(new_labels, (16, 16), seed=9), tmp_path / "staging", version=2, warmup=False,
        **{**TINY, "labels": new_labels},
    )
    with ModelServer(
        base, NAME, rest_port=0, grpc_port=None, host="127.0.0.1", file_system_poll_wait_seconds=0.1
    ) as srv:
        shutil.copytree(ready, base / "2", ignore=shutil.ignore_patterns("labels.txt"))
        labels_file = base / "2" / "assets" / "labels.txt"
        labels_file.write_text("cat\ndog\nchee")
        _wait_for(lambda: _versions(srv).get(2, ("",))[0] == "END")
        time.sleep(0.5)  # five more polls: refused while its files stay the same
        states = _versions(srv)
        assert states[1] == ("AVAILABLE", "OK", "")
        state, code, message = states[2]
        assert (state, code) == ("END", "FAILED_PRECONDITION"), states[2]
        assert "labels.txt has 2 complete lines, but the scores have 3 columns" in message
        assert "keeps serving" in message
        assert _served_labels(srv) == LABELS
        labels_file.write_text("cat\ndog\ncheetah\n")  # the writer finishes
        _wait_for(lambda: _versions(srv).get(1, ("",))[0] == "END")
        assert _versions(srv)[2] == ("AVAILABLE", "OK", "")
        assert _served_labels(srv) == new_labels


def test_a_version_loads_once_its_files_stop_changing(classifier, tmp_path):
    base = tmp_path / NAME
    export_for_serving(classifier, base, **TINY, version=1, warmup=False)
    ready = export_for_serving(classifier, tmp_path / "staging", **TINY, version=2, warmup=False)
    # No poller thread: each poll_once() is one look at the base path.
    with ModelServer(
        base, NAME, rest_port=0, grpc_port=None, host="127.0.0.1", file_system_poll_wait_seconds=0
    ) as srv:
        shutil.copytree(ready, base / "2")
        srv.manager.poll_once()
        assert _versions(srv) == {2: ("START", "OK", ""), 1: ("AVAILABLE", "OK", "")}
        with open(base / "2" / "variables" / "more", "ab") as still_writing:
            still_writing.write(b"x")
        srv.manager.poll_once()
        assert _versions(srv)[2] == ("START", "OK", "")
        srv.manager.poll_once()  # unchanged since the last look: loads
        assert _versions(srv) == {2: ("AVAILABLE", "OK", ""), 1: ("END", "OK", "")}


def test_an_export_missing_signatures_is_refused(classifier, tmp_path):
    base = tmp_path / NAME
    export_for_serving(classifier, base, **TINY, version=1, warmup=False)
    table = tf.constant(LABELS)
    labels_only = tf.Module()
    labels_only.labels = tf.function(
        lambda class_ids: {"labels": tf.gather(table, class_ids)},
        input_signature=[tf.TensorSpec([None], tf.int64, name="class_ids")],
    )
    tf.saved_model.save(labels_only, str(tmp_path / "staging"), signatures={"labels": labels_only.labels})
    os.rename(tmp_path / "staging", base / "2")
    with ModelServer(base, NAME, rest_port=0, grpc_port=None, host="127.0.0.1") as srv:
        states = _versions(srv)
        assert states[1] == ("AVAILABLE", "OK", "")
        assert states[2][:2] == ("END", "FAILED_PRECONDITION")
        assert "signatures ['serving_default', 'predict_images'] of a keras-cvcls export are missing" in states[2][2]


def test_missing_base_path_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="base path"):
        ModelServer(tmp_path / "nothing", NAME, rest_port=0, grpc_port=0)
    with pytest.raises(ValueError, match="exactly one of model_base_path"):
        ModelServer(rest_port=0, grpc_port=0)

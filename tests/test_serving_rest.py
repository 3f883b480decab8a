"""The embedded server's REST API against TF Serving's documented and coded behaviour."""

import base64
import concurrent.futures
import io
import json
import threading
import time

import numpy as np
import pytest
import requests
import tensorflow as tf
from conftest import gradient, jpeg_bytes
from PIL import Image

from keras_cvcls.data.decode import decode_image
from keras_cvcls.export import export_for_serving
from keras_cvcls.serving import ModelServer
from keras_cvcls.serving.testing import make_tiny_classifier

LABELS = ["cat", "dog", "fox"]
TINY = {"labels": LABELS, "image_size": (16, 16), "resize_mode": "crop"}  # what export needs of a plain model
NAME = "clf"


@pytest.fixture(scope="module")
def classifier():
    return make_tiny_classifier(LABELS, (16, 16), seed=3)


@pytest.fixture(scope="module")
def server(classifier, tmp_path_factory):
    base = tmp_path_factory.mktemp("rest") / NAME
    export_for_serving(classifier, base, **TINY)
    with ModelServer(
        base,
        NAME,
        rest_port=0,
        grpc_port=None,
        host="127.0.0.1",
        version_labels={"stable": 1},
        batching_parameters={"max_batch_size": 8, "batch_timeout_micros": 1000, "max_enqueued_batches": 100},
        max_request_bytes=1 << 20,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def images():
    return [jpeg_bytes(gradient(48, 64, seed=s), quality=90) for s in range(3)]


def b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


def expected_scores(classifier, files):
    batch = tf.stack([decode_image(f, (16, 16), resize_mode="crop", orientation=None) for f in files])
    return classifier(batch, training=False).numpy()


def get(server, path):
    return requests.get(server.rest_url + path, timeout=10)


def post(server, path, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(server.rest_url + path, data=data, timeout=10)


def error_of(response):
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


# Status and metadata bodies.


def test_status_body_is_tf_servings(server):
    expected = {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    for path in (f"/v1/models/{NAME}", f"/v1/models/{NAME}/versions/1", f"/v1/models/{NAME}/labels/stable"):
        response = get(server, path)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json() == expected


def test_metadata_body_is_tf_servings(server):
    response = get(server, f"/v1/models/{NAME}/metadata")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"model_spec", "metadata"}
    assert body["model_spec"] == {"name": NAME, "signature_name": "", "version": "1"}
    defs = body["metadata"]["signature_def"]["signature_def"]
    assert set(defs) == {"serving_default", "predict_images", "labels", "classification", "__saved_model_init_op"}
    serving = defs["serving_default"]
    assert serving["method_name"] == "tensorflow/serving/predict"
    image_bytes = serving["inputs"]["image_bytes"]
    assert image_bytes["dtype"] == "DT_STRING"
    assert image_bytes["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert image_bytes["name"] == "serving_default_image_bytes:0"
    assert serving["outputs"]["scores"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in serving["outputs"]["scores"]["tensor_shape"]["dim"]] == ["-1", "3"]
    assert serving["outputs"]["classes"]["dtype"] == "DT_STRING"
    images = defs["predict_images"]["inputs"]["images"]
    assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "16", "16", "3"]
    assert get(server, f"/v1/models/{NAME}/versions/1/metadata").json() == body
    assert get(server, f"/v1/models/{NAME}/labels/stable/metadata").json() == body


# Predictions: both request formats, b64, equal to in-process predictions.


def test_row_and_columnar_b64_predictions_equal_in_process(server, classifier, images):
    expected = expected_scores(classifier, images)
    bodies = {
        "row": {"instances": [b64(f) for f in images]},
        "row named": {"instances": [{"image_bytes": b64(f)} for f in images]},
        "columnar": {"inputs": [b64(f) for f in images]},
        "columnar named": {"inputs": {"image_bytes": [b64(f) for f in images]}, "signature_name": "serving_default"},
    }
    for kind, body in bodies.items():
        response = post(server, f"/v1/models/{NAME}:predict", body)
        assert response.status_code == 200, (kind, response.text)
        if kind.startswith("row"):
            rows = response.json()["predictions"]
            assert [set(r) for r in rows] == [{"scores", "classes"}] * 3
            scores = np.array([r["scores"] for r in rows])
            classes = [r["classes"] for r in rows]
        else:
            outputs = response.json()["outputs"]
            assert set(outputs) == {"scores", "classes"}
            scores, classes = np.array(outputs["scores"]), outputs["classes"]
        np.testing.assert_allclose(scores, expected, atol=1e-5)
        assert classes == [LABELS[i] for i in expected.argmax(-1)]


def test_version_and_label_urls_predict(server, images):
    for path in (f"/v1/models/{NAME}/versions/1:predict", f"/v1/models/{NAME}/labels/stable:predict"):
        response = post(server, path, {"instances": [b64(images[0])]})
        assert response.status_code == 200 and len(response.json()["predictions"]) == 1


def test_float_input_signature_and_single_output_shapes(server, classifier):
    pixels = np.asarray(gradient(16, 16), dtype=np.float32)
    response = post(
        server, f"/v1/models/{NAME}:predict", {"signature_name": "predict_images", "instances": [pixels.tolist()]}
    )
    assert response.status_code == 200, response.text
    expected = classifier(pixels[None], training=False).numpy()
    np.testing.assert_allclose(response.json()["predictions"][0]["scores"], expected[0], atol=1e-5)
    # One output: row format gives a plain list of values, columnar gives the value itself.
    row = post(server, f"/v1/models/{NAME}:predict", {"signature_name": "labels", "instances": [2, 0]})
    assert row.json() == {"predictions": ["fox", "cat"]}
    columnar = post(server, f"/v1/models/{NAME}:predict", {"signature_name": "labels", "inputs": [1]})
    assert columnar.json() == {"outputs": ["dog"]}


def test_floats_are_written_as_tf_serving_writes_them(server):
    pixels = np.zeros((1, 16, 16, 3), np.float32)
    response = post(
        server, f"/v1/models/{NAME}:predict", {"signature_name": "predict_images", "inputs": pixels.tolist()}
    )
    text = response.text
    scores = response.json()["outputs"]["scores"][0]
    for value in scores:
        shortest = "%.6g" % value
        written = shortest if np.float32(shortest) == np.float32(value) else "%.9g" % value
        assert written in text


# Every error case: TF Serving's HTTP status and message.

ERRORS = [
    # (method, path, body, HTTP status, (part of) the error message)
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("GET", f"/v1/models/{NAME}/versions/7", None, 404, f"Could not find version 7 of model {NAME}"),
    ("GET", "/v1/models/nope/metadata", None, 404, "Servable not found for request: Latest(nope)"),
    (
        "GET",
        f"/v1/models/{NAME}/versions/7/metadata",
        None,
        404,
        f"Servable not found for request: Specific({NAME}, 7)",
    ),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ("GET", "/v1/nothing", None, 400, "Malformed request: GET /v1/nothing"),
    ("POST", f"/v1/models/{NAME}", "{}", 400, f"Malformed request: POST /v1/models/{NAME}"),
    ("POST", "/v1/models/nope:predict", {"instances": [1]}, 404, "Servable not found for request: Latest(nope)"),
    (
        "POST",
        f"/v1/models/{NAME}/versions/9:predict",
        {"instances": [1]},
        404,
        f"Servable not found for request: Specific({NAME}, 9)",
    ),
    (
        "POST",
        f"/v1/models/{NAME}/labels/beta:predict",
        {"instances": [1]},
        400,
        "Unrecognized servable version label: beta",
    ),
    ("POST", f"/v1/models/{NAME}:predict", "", 400, "JSON Parse error: The document is empty"),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        "{nope",
        400,
        "JSON Parse error: Missing a name for object member. at offset: 1",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        '{"instances": [1,]}',
        400,
        "JSON Parse error: Invalid value. at offset: 17",
    ),
    ("POST", f"/v1/models/{NAME}:predict", "[1, 2]", 400, "JSON Value: [1, 2] Is not object"),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"signature_name": "x"},
        400,
        'Serving signature name: "x" not found in signature def',
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"signature_name": 100},
        400,
        "'signature_name' key must be a string value.",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"instances": [], "inputs": []},
        400,
        "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"signature_name": "serving_default"},
        400,
        "Missing 'inputs' or 'instances' key",
    ),
    ("POST", f"/v1/models/{NAME}:predict", {"instances": []}, 400, "No values in 'instances' array"),
    ("POST", f"/v1/models/{NAME}:predict", {"instances": {"a": 1}}, 400, "Excepting 'instances' to be an list/array"),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"instances": [1.5]},
        400,
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON Value: 1.5 Type: Number is not of expected type: string",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"inputs": [True]},
        400,
        "JSON Value: true Type: True is not of expected type: string",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"signature_name": "predict_images", "inputs": [[[["a", 1, 2]]]]},
        400,
        'JSON Value: "a" Type: String is not of expected type: float',
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"signature_name": "labels", "inputs": [1.5]},
        400,
        "JSON Value: 1.5 Type: Number is not of expected type: int64",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"instances": [{"b64": "!!"}]},
        400,
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: Unable to base64 decode",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"instances": [{"image_bytes": "x", "other": "y"}]},
        400,
        "Failed to process element: 0 key: other of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON object: does not have named input: other",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"instances": [{"image_bytes": "x"}, "y"]},
        400,
        "Expecting object but got list at item 1 of input list",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"instances": ["x", {"image_bytes": "y"}]},
        400,
        "Expecting value/list but got object at item 1 of input list",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"inputs": {"images": ["x"]}},
        400,
        "Missing named input: image_bytes in 'inputs' object.",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"signature_name": "predict_images", "instances": [[[[1, 2, 3]]], [[[1, 2, 3], [4, 5, 6]]]]},
        400,
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
        "Expecting tensor size: 3 but got: 6",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"signature_name": "predict_images", "inputs": [[[1, 2, 3]]]},
        400,
        "input 'images' has shape [1,1,3], but signature 'predict_images' expects [-1,16,16,3]",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        {"signature_name": "labels", "inputs": [[1, 2], [3]]},
        400,
        "Encountered list at unexpected size: 1 at level: 1 expected size: 2",
    ),
    ("POST", f"/v1/models/{NAME}:predict", {"instances": [b64(b"not an image")]}, 400, "Unknown image file format."),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        '{"inputs": %s1%s}' % ("[" * 65, "]" * 65),
        400,
        "JSON arrays nested 65 levels deep would make a tensor of 65 dimensions; at most 64 are supported",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:predict",
        '{"inputs": [%s]}' % ("7" * 5000),
        400,
        "JSON Parse error: Number too big to be stored in double. at offset: 12",
    ),
    (
        "POST",
        f"/v1/models/{NAME}:classify",
        {"examples": []},
        400,
        "'examples' value is an empty array",
    ),
]


@pytest.mark.parametrize("method,path,body,status,message", ERRORS, ids=[f"{e[0]} {e[1]} {e[4][:40]}" for e in ERRORS])
def test_errors_have_tf_servings_status_and_message(server, method, path, body, status, message):
    response = get(server, path) if method == "GET" else post(server, path, body)
    assert response.status_code == status, response.text
    assert message in error_of(response), error_of(response)


@pytest.mark.parametrize("key", ["inputs", "instances"])
def test_arrays_nested_too_deep_for_a_tensor_are_400_json_errors(server, key):
    # 65 to 989 levels were a plain-text 500 (numpy has at most 64 dimensions).
    for depth in (65, 100, 300, 600, 989, 990, 5000):
        response = post(server, f"/v1/models/{NAME}:predict", '{"%s": %s1%s}' % (key, "[" * depth, "]" * depth))
        assert response.status_code == 400, (depth, response.text[:200])
        message = error_of(response)
        assert "at most 64 are supported" in message or "Terminate parsing" in message, (depth, message)


def test_paths_outside_v1_are_not_found(server):
    assert get(server, "/healthz").status_code == 404


def test_request_size_limit(server):
    body = json.dumps({"instances": [b64(b"\0" * (1 << 20))]})
    response = post(server, f"/v1/models/{NAME}:predict", body)
    assert response.status_code == 413
    assert "larger than the server's limit of 1048576 bytes" in error_of(response)


def test_reading_the_json_counts_in_the_request_timeout(classifier, tmp_path):
    base = tmp_path / NAME
    export_for_serving(classifier, base, **TINY, warmup=False)
    body = json.dumps({"signature_name": "labels", "inputs": list(range(2_000_000))})  # 16 MB: seconds to read
    with ModelServer(base, NAME, rest_port=0, grpc_port=None, host="127.0.0.1", rest_api_timeout_in_ms=100) as srv:
        started = time.monotonic()
        response = requests.post(f"{srv.rest_url}/v1/models/{NAME}:predict", data=body, timeout=30)
        assert (response.status_code, error_of(response)) == (504, "Deadline Exceeded")
        assert time.monotonic() - started < 2.0


def test_one_bad_image_in_a_batch_does_not_fail_the_others(server, images):
    bodies = [{"instances": [b64(images[0])]}] * 6 + [{"instances": [b64(b"garbage")]}]
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda b: post(server, f"/v1/models/{NAME}:predict", b), bodies))
    assert [r.status_code for r in responses] == [200] * 6 + [400]


def _large_png(side=1600):
    y, x = np.mgrid[0:side, 0:side]
    image = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def test_full_batch_queue_answers_503(classifier, tmp_path):
    base = tmp_path / NAME
    export_for_serving(classifier, base, **TINY, warmup=False)
    body = json.dumps({"instances": [b64(_large_png())]})
    options = {"max_batch_size": 1, "max_enqueued_batches": 1, "num_batch_threads": 1, "batch_timeout_micros": 0}
    with ModelServer(base, NAME, rest_port=0, grpc_port=None, host="127.0.0.1", batching_parameters=options) as srv:
        barrier = threading.Barrier(12)

        def send(_):
            barrier.wait()
            return post(srv, f"/v1/models/{NAME}:predict", body)

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(send, range(12)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) >= 1 and codes.count(503) >= 1 and set(codes) <= {200, 503}, codes
    refused = [r for r in responses if r.status_code == 503][0]
    assert error_of(refused) == "The batch scheduling queue to which this task was submitted is full"


def test_graceful_shutdown_finishes_requests_in_flight(classifier, tmp_path, images):
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    base = tmp_path / NAME
    export_for_serving(classifier, base, **TINY, warmup=False)
    # Requests wait up to 2 s in the batch queue: they are surely in flight when stop() starts.
    options = {"max_batch_size": 64, "batch_timeout_micros": 2_000_000}
    srv = ModelServer(base, NAME, rest_port=0, grpc_port=0, host="127.0.0.1", batching_parameters=options).start()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = NAME
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([images[0]], dtype=tf.string))
    with grpc.insecure_channel(srv.grpc_target) as channel, concurrent.futures.ThreadPoolExecutor(2) as pool:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        rest = pool.submit(post, srv, f"/v1/models/{NAME}:predict", {"instances": [b64(images[0])]})
        rpc = pool.submit(stub.Predict, request, timeout=30)
        time.sleep(0.5)
        started = time.monotonic()
        srv.stop()
        assert rest.result().status_code == 200
        assert rpc.result().outputs["scores"].tensor_shape.dim[0].size == 1
    assert time.monotonic() - started < 5
    with pytest.raises(requests.ConnectionError):
        get(srv, f"/v1/models/{NAME}")

"""The embedded server's gRPC API, config reloads and Classify/Regress, case by case against TF Serving's source.

Each test names the TF Serving (or TensorFlow) source file and the line or test that defines the
expected code and message (tensorflow/serving at HEAD), and runs against a real embedded server
on loopback.
"""

import logging

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from conftest import gradient, jpeg_bytes
from google.protobuf import text_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from keras_cvcls.export import export_for_serving
from keras_cvcls.serving import ModelServer
from keras_cvcls.serving.testing import make_tiny_classifier

LABELS = ["cat", "dog", "fox"]
TINY = {"labels": LABELS, "image_size": (16, 16), "resize_mode": "crop"}
NAME = "clf"
TIMEOUT = 20.0
C = grpc.StatusCode


@pytest.fixture(scope="module")
def classifier():
    return make_tiny_classifier(LABELS, (16, 16), seed=7)


@pytest.fixture(scope="module")
def base(classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp("conformance") / NAME
    export_for_serving(classifier, path, warmup=False, **TINY)
    return path


@pytest.fixture(scope="module")
def server(base):
    with ModelServer(base, NAME, rest_port=0, grpc_port=0, host="127.0.0.1", version_labels={"stable": 1}) as running:
        yield running


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as opened:
        yield opened


@pytest.fixture(scope="module")
def prediction(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def models(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


@pytest.fixture(scope="module")
def images():
    return [jpeg_bytes(gradient(40, 56, seed=s), quality=90) for s in range(3)]


def rpc_error(call, request):
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=TIMEOUT)
    return info.value.code(), info.value.details()


def predict_request(inputs, name=NAME, signature=""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for key, proto in inputs.items():
        request.inputs[key].CopyFrom(proto)
    return request


def reload_request(text):
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, request.config)
    return request


def config_entry(name, base_path, platform="tensorflow", extra=""):
    platform_field = f"model_platform: '{platform}'" if platform is not None else ""
    return f"config {{ name: '{name}' base_path: '{base_path}' {platform_field} {extra} }}"


def config_list(*entries):
    return "model_config_list { " + " ".join(entries) + " }"


# ---------------------------------------------------------------- item 6: gRPC messages


def test_empty_model_name_is_invalid_argument(prediction, images):
    # server_core.cc, ServableRequestFromModelSpec: errors::InvalidArgument("ModelSpec has no name specified.")
    request = predict_request({"image_bytes": tf.make_tensor_proto(images[:1])}, name="")
    assert rpc_error(prediction.Predict, request) == (C.INVALID_ARGUMENT, "ModelSpec has no name specified.")


def test_wrong_input_alias_is_not_found_in_request(prediction, images):
    # predict_util.cc PreProcessPrediction: VerifyRequestInputsSize passes (1 == 1), then
    # tensorflow/cc/saved_model/util.cc GetInputValues: "Signature input alias: ..., not found in request ..."
    request = predict_request({"image": tf.make_tensor_proto(images[:1])})
    code, message = rpc_error(prediction.Predict, request)
    assert code == C.INVALID_ARGUMENT
    assert message == (
        "Signature input alias: image_bytes(feed name: serving_default_image_bytes:0) not found in request and "
        "no default value provided. Inputs expected to be in the request {image}, or default input alias set: "
    )


def test_tensor_content_not_matching_its_shape_is_a_parsing_error(prediction):
    # tensorflow/cc/saved_model/util.cc GetInputValues: Tensor::FromProto fails ->
    # InvalidArgumentError("tensor parsing error: ", alias); tensor.cc: tensor_content must fill the shape exactly.
    proto = tf.make_tensor_proto(np.zeros((1, 16, 16, 3), np.float32))
    proto.tensor_shape.dim[0].size = 2
    request = predict_request({"images": proto}, signature="predict_images")
    assert rpc_error(prediction.Predict, request) == (C.INVALID_ARGUMENT, "tensor parsing error: images")


def test_typed_values_are_padded_or_cut_to_the_shape_as_tensorflow_does(prediction):
    # tensor.cc FromProtoField: fewer values repeat the last one, more are cut to the shape.
    proto = tf.make_tensor_proto(np.array([0, 1, 2, 7, 9], np.int64))
    proto.ClearField("tensor_content")
    proto.int64_val.extend([0, 1, 2, 7, 9])
    proto.tensor_shape.dim[0].size = 4
    response = prediction.Predict(predict_request({"class_ids": proto}, signature="labels"), timeout=TIMEOUT)
    assert list(response.outputs["labels"].string_val) == [b"cat", b"dog", b"fox", b""]


def test_long_messages_are_truncated_at_1024_characters(prediction):
    # grpc_status_util.cc ToGRPCStatus: kErrorMessageLimit = 1024, then "...TRUNCATED".
    long_name = "x" * 2000
    request = predict_request({"image_bytes": tf.make_tensor_proto([b""])}, name=long_name)
    code, message = rpc_error(prediction.Predict, request)
    full = f"Servable not found for request: Latest({long_name})"
    assert (code, message) == (C.NOT_FOUND, full[:1024] + "...TRUNCATED")


# ---------------------------------------------------------------- item 1: config reloads


def test_reload_refusals_are_grpc_errors_with_tf_servings_messages(models, base, server):
    # model_service_impl.cc HandleReloadConfigRequest returns ToGRPCStatus(status); messages from
    # server_core.cc: ValidateModelConfigList, ValidateNoModelsChangePlatforms, UpdateModelVersionLabelMap,
    # GetPlatform, CreateStoragePathRoutes (server_core_test.cc: ReloadConfig* cases).
    cases = [
        (
            "custom_model_config { }",
            C.INVALID_ARGUMENT,
            "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is "
            "currently supported",
        ),
        (
            config_list(config_entry(NAME, base), config_entry(NAME, base)),
            C.INVALID_ARGUMENT,
            f"Illegal to list model {NAME} multiple times in config list",
        ),
        (
            config_list(config_entry(NAME, "models/clf")),
            C.INVALID_ARGUMENT,
            f"Expected model {NAME} to have an absolute path or URI; got base_path()=models/clf",
        ),
        (
            config_list(config_entry(NAME, base, platform="other")),
            C.INVALID_ARGUMENT,
            f"Illegal to change a model's platform. For model {NAME} platform was tensorflow and new platform "
            "requested is other",
        ),
        (
            config_list(config_entry(NAME, base, platform=None)),
            C.INVALID_ARGUMENT,
            "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
            f"ModelServerConfig::model_platform, model name is {NAME}",
        ),
        (
            config_list(config_entry(NAME, base), config_entry("other", base, platform=None)),
            C.INVALID_ARGUMENT,
            "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
            "ModelServerConfig::model_platform, model name is other",
        ),
        (
            config_list(config_entry(NAME, base), config_entry("other", base, platform="pytorch")),
            C.INVALID_ARGUMENT,
            "Model other requests unsupported platform pytorch",
        ),
        (
            config_list(config_entry(NAME, base, extra="version_labels { key: 'next' value: 2 }")),
            C.FAILED_PRECONDITION,
            f"Request to assign label to version 2 of model {NAME}, which is not currently available for inference",
        ),
    ]
    for text, code, message in cases:
        assert rpc_error(models.HandleReloadConfigRequest, reload_request(text)) == (code, message), text
    # a refused config changed nothing
    assert server.manager.model_names == [NAME]
    assert server.manager.get_servable(NAME, label="stable").version == 1


def test_reload_with_a_label_on_an_available_version_succeeds(models, base, server):
    # server_core.cc UpdateModelVersionLabelMap: a label on an AVAILABLE version is accepted.
    text = config_list(config_entry(NAME, base, extra="version_labels { key: 'stable' value: 1 }"))
    response = models.HandleReloadConfigRequest(reload_request(text), timeout=TIMEOUT)
    assert response.status.error_code == 0
    assert server.manager.get_servable(NAME, label="stable").version == 1


def test_reload_and_poller_never_load_one_version_twice(classifier, tmp_path, caplog):
    # The poller scans every 10 ms while the reload adds a model: each version loads exactly once.
    first, second = tmp_path / "a", tmp_path / "b"
    export_for_serving(classifier, first, warmup=False, **TINY)
    export_for_serving(classifier, second, warmup=False, **TINY)
    with ModelServer(first, "a", rest_port=None, grpc_port=0, host="127.0.0.1", file_system_poll_wait_seconds=0.01) as srv:
        with caplog.at_level(logging.INFO, logger="keras_cvcls.serving.model_manager"):
            with grpc.insecure_channel(srv.grpc_target) as channel:
                stub = model_service_pb2_grpc.ModelServiceStub(channel)
                text = config_list(config_entry("a", first), config_entry("b", second))
                assert stub.HandleReloadConfigRequest(reload_request(text), timeout=60).status.error_code == 0
        loads = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Loading servable")]
        assert loads == ["Loading servable: {name: b version: 1}"]
        assert srv.manager.get_servable("b").version == 1


# ---------------------------------------------------------------- item 7: Classify, Regress, MultiInference


def image_example(data):
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
    return tf.train.Example(features=tf.train.Features(feature={"image/encoded": feature}))


def in_process_scores(base, files):
    loaded = tf.saved_model.load(str(base / "1"))
    return loaded.signatures["serving_default"](image_bytes=tf.constant(files))["scores"].numpy()


def classification_request(files, signature="classification", name=NAME):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for data in files:
        request.input.example_list.examples.add().CopyFrom(image_example(data))
    return request


def test_grpc_classify_scores_equal_in_process_scores(prediction, base, images):
    # classifier.cc RunClassify / PostProcessClassificationResult: one Classifications per example,
    # a (label, score) per class; MakeModelSpec echoes name, signature and version.
    response = prediction.Classify(classification_request(images), timeout=TIMEOUT)
    expected = in_process_scores(base, images)
    got = np.array([[c.score for c in row.classes] for row in response.result.classifications], np.float32)
    np.testing.assert_array_equal(got, expected)
    assert [[c.label for c in row.classes] for row in response.result.classifications] == [LABELS] * len(images)
    assert (response.model_spec.name, response.model_spec.signature_name) == (NAME, "classification")
    assert response.model_spec.version.value == 1


def test_rest_classify_scores_equal_in_process_scores_and_context_applies(server, base, images):
    # json_tensor.cc FillClassifyRegressRequestFromJson ("examples", optional "context", {"b64": ...} bytes);
    # MakeJsonFromClassificationResult writes {"results": [[[label, score], ...], ...]}.
    import base64

    b64 = [{"b64": base64.b64encode(f).decode()} for f in images]
    url = f"{server.rest_url}/v1/models/{NAME}:classify"
    body = {"signature_name": "classification", "examples": [{"image/encoded": b} for b in b64]}
    reply = requests.post(url, json=body, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [[pair[0] for pair in row] for row in results] == [LABELS] * len(images)
    np.testing.assert_allclose(
        np.array([[pair[1] for pair in row] for row in results]), in_process_scores(base, images), rtol=1e-5
    )
    # the context's features join every example's (util.cc InputToSerializedExampleTensor)
    with_context = {"signature_name": "classification", "context": {"image/encoded": b64[0]}, "examples": [{}, {}]}
    reply = requests.post(url, json=with_context, timeout=TIMEOUT)
    rows = reply.json()["results"]
    assert rows[0] == rows[1] and [pair[0] for pair in rows[0]] == LABELS


def test_rest_classify_and_regress_bodies_are_validated_as_tf_serving_does(server):
    # json_tensor.cc FillClassifyRegressRequestFromJson / MakeExampleFromJsonObject / AddValueToFeature.
    url = f"{server.rest_url}/v1/models/{NAME}"
    cases = [
        (":classify", {"signature_name": "classification"},
         'JSON Value: {\n    "signature_name": "classification"\n} When method is classify, key \'examples\' is expected and was not found'),
        (":regress", {"examples": {}}, 'JSON Value: {\n    "examples": {}\n} Expecting \'examples\' value to be an list/array'),
        (":classify", {"examples": []}, "JSON Value: {\n    \"examples\": []\n} 'examples' value is an empty array"),
        (":classify", {"examples": [1]}, "Example must be JSON object but got JSON Number"),
        (":classify", {"examples": [{"x": [1, "a"]}]}, "Unexpected element type in feature: x expecting type: int64"),
        (":classify", {"examples": [{"x": None}]}, "Feature: x has element with unexpected JSON type: Null"),
        (":classify", {"examples": [{"x": [[1]]}]}, "Feature: x has element with unexpected JSON type: Array"),
        (":classify", {"examples": [{"x": 2**63}]}, "Feature: x has uint64_t element. Only int64_t is supported."),
        (":classify", {"context": 3, "examples": [{}]}, "Example must be JSON object but got JSON Number"),
        (":classify", {"signature_name": 3, "examples": [{}]},
         # Arrays on one line: JsonValueToDebugString's kFormatSingleLineArray (util/json_tensor.cc).
         'JSON Value: {\n    "signature_name": 3,\n    "examples": [{}]\n} not formatted correctly. '
         "'signature_name' key must be a string value."),
    ]
    for verb, body, message in cases:
        reply = requests.post(url + verb, json=body, timeout=TIMEOUT)
        assert (reply.status_code, reply.json()) == (400, {"error": message}), (verb, body, reply.text)


def test_regress_and_classify_without_such_signatures_answer_as_tf_serving(prediction, server):
    # regressor.cc GetRegressionSignatureDef / PreProcessRegression and classifier.cc
    # GetClassificationSignatureDef / PreProcessClassification, method-name check off (main.cc default).
    regression = regression_pb2.RegressionRequest()
    regression.model_spec.name = NAME
    regression.input.example_list.examples.add()
    assert rpc_error(prediction.Regress, regression) == (C.INVALID_ARGUMENT, "Expected one output Tensor.")
    regression.model_spec.signature_name = "nope"
    assert rpc_error(prediction.Regress, regression) == (
        C.INVALID_ARGUMENT,
        "No signature was found with the name: nope",
    )
    regression.model_spec.signature_name = "labels"
    code, message = rpc_error(prediction.Regress, regression)
    assert code == C.INVALID_ARGUMENT and message.startswith("No regression inputs found in SignatureDef: inputs {")
    code, message = rpc_error(prediction.Classify, classification_request([b"x"], signature=""))
    assert code == C.INVALID_ARGUMENT
    assert message.startswith("No classification inputs found in SignatureDef: inputs {\n  key: \"image_bytes\"")
    empty = classification_request([])
    assert rpc_error(prediction.Classify, empty) == (C.INVALID_ARGUMENT, "Input is empty.")
    assert rpc_error(prediction.Regress, regression_pb2.RegressionRequest()) == (C.INVALID_ARGUMENT, "Missing ModelSpec")
    reply = requests.post(f"{server.rest_url}/v1/models/{NAME}:regress", json={"examples": [{}]}, timeout=TIMEOUT)
    assert (reply.status_code, reply.json()) == (400, {"error": "Expected one output Tensor."})


def test_multi_inference_answers_as_tf_serving(prediction, base, images):
    # multi_inference.cc TensorFlowMultiInferenceRunner::Infer and multi_inference_helper.cc.
    def request(*tasks):
        message = inference_pb2.MultiInferenceRequest()
        for name, signature, method in tasks:
            task = message.tasks.add()
            task.model_spec.name, task.model_spec.signature_name, task.method_name = name, signature, method
        message.input.example_list.examples.add().CopyFrom(image_example(images[0]))
        return message

    classify, regress = "tensorflow/serving/classify", "tensorflow/serving/regress"
    cases = [
        (request(), C.INVALID_ARGUMENT, "ModelSpec has no name specified."),
        (request((NAME, "", regress)), C.INVALID_ARGUMENT, "Expected one output Tensor."),
        (request((NAME, "nope", classify)), C.INVALID_ARGUMENT, "Requested signature not found in model graph: nope"),
        (request((NAME, "classification", classify), ("other", "x", classify)), C.INVALID_ARGUMENT,
         "All ModelSpecs in a MultiInferenceRequest must access the same model name."),
        (request((NAME, "classification", classify), (NAME, "classification", classify)), C.INVALID_ARGUMENT,
         "Duplicate evaluation of signature: classification"),
        (request((NAME, "classification", "tensorflow/serving/predict")), C.UNIMPLEMENTED,
         "Unsupported signature method_name: tensorflow/serving/predict"),
        (request(("nope", "", classify)), C.NOT_FOUND, "Servable not found for request: Latest(nope)"),
    ]
    for message, code, text in cases:
        assert rpc_error(prediction.MultiInference, message) == (code, text)
    response = prediction.MultiInference(request((NAME, "classification", classify)), timeout=TIMEOUT)
    (result,) = response.results
    scores = [c.score for c in result.classification_result.classifications[0].classes]
    np.testing.assert_array_equal(np.array(scores, np.float32), in_process_scores(base, images[:1])[0])

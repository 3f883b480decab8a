"""REST / JSON / HTTP conformance with TF Serving's current source (issue 14 items 2, 4, 5, 8).

Each test cites the TF Serving file (github.com/tensorflow/serving, ``tensorflow_serving/``) and
the code or test that defines the behaviour, and pins the status code and message text against
a real embedded server on loopback.
"""

import json

import pytest
import requests

from keras_cvcls.export import export_for_serving
from keras_cvcls.serving import ModelServer
from keras_cvcls.serving.server import DEFAULT_MAX_REQUEST_BYTES
from keras_cvcls.serving.testing import make_tiny_classifier

LABELS = ["cat", "dog"]
NAME = "clf"
PREDICT = f"/v1/models/{NAME}:predict"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("conformance") / NAME
    classifier = make_tiny_classifier(LABELS, (16, 16), seed=1)
    for _ in range(2):  # versions 1 and 2
        export_for_serving(classifier, base, labels=LABELS, image_size=(16, 16), resize_mode="crop")
    with ModelServer(
        base, NAME, rest_port=0, grpc_port=None, host="127.0.0.1", model_version_policy="all", version_labels={"stable": 1}
    ) as running:
        running.manager.wait_until_available(NAME, 2)
        yield running


def call(server, method, path, body=None, headers=None):
    data = body if body is None or isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.request(method, server.rest_url + path, data=data, headers=headers, timeout=30)


def error(response):
    return response.json()["error"]


def pixels_body(value_text):
    """A predict_images body of one 16x16 image whose first value is ``value_text`` (raw JSON)."""
    row = ", ".join(["[1, 2, 3]"] * 16)
    rows = ", ".join([f"[{row}]"] * 15)
    first = ", ".join([f"[{value_text}, 2, 3]"] + ["[1, 2, 3]"] * 15)
    return '{"signature_name": "predict_images", "instances": [[[%s], %s]]}' % (first, rows)


# Item 2: numbers in JSON (util/json_tensor.cc).


def test_integer_above_2_24_is_accepted_for_a_float_input(server):
    """json_tensor.cc AddValueToTensor, case DT_FLOAT: ``IsNumber()`` then ``GetFloat()``, no precision check."""
    response = call(server, "POST", PREDICT, pixels_body("16777217"))
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1


def test_value_beyond_float_range_is_accepted_for_a_float_input(server):
    """json_tensor.cc AddValueToTensor, case DT_FLOAT: ``GetFloat()`` of 1e39 is a float infinity, no error."""
    response = call(server, "POST", PREDICT, pixels_body("1e39"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("token", ["Inf", "-Inf", "NaN", "Infinity", "-Infinity"])
def test_nan_and_inf_tokens_are_accepted(server, token):
    """json_tensor.cc ParseJson: ``kParseNanAndInfFlag``; json_tensor_test.cc SingleTensorRowFormat ("[1.0, NaN]")."""
    response = call(server, "POST", PREDICT, pixels_body(token))
    assert response.status_code == 200, response.text


def test_number_too_big_for_a_double_is_a_parse_error_at_its_offset(server):
    """json_tensor.cc ParseJson: rapidjson's kParseErrorNumberTooBig, reported at the number's start."""
    body = '{"instances": [1e400]}'
    response = call(server, "POST", PREDICT, body)
    assert response.status_code == 400
    assert error(response) == "JSON Parse error: Number too big to be stored in double. at offset: 15"


def test_data_after_the_root_object_is_ignored(server):
    """json_tensor.cc ParseJson: ``kParseStopWhenDoneFlag`` stops reading after the root value."""
    response = call(server, "POST", PREDICT, pixels_body("1") + ' trailing {"not": json')
    assert response.status_code == 200, response.text


def test_deep_nesting_in_an_unused_key_is_accepted(server):
    """json_tensor.cc ParseJson: ``kParseIterativeFlag`` (no recursion limit); only known keys are read."""
    body = pixels_body("1")[:-1] + ', "unused": %s1%s}' % ("[" * 5000, "]" * 5000)
    response = call(server, "POST", PREDICT, body)
    assert response.status_code == 200, response.text


def test_the_first_of_duplicate_keys_wins(server):
    """json_tensor.cc FillPredictRequestFromJson: ``doc.FindMember(...)`` returns the first member of a name."""
    body = '{"signature_name": "predict_images", ' + pixels_body("1")[1:].replace(
        '"signature_name": "predict_images"', '"signature_name": "nope"'
    )
    response = call(server, "POST", PREDICT, body)
    assert response.status_code == 200, response.text


def test_echoed_values_are_on_one_line_and_cut_at_256_bytes(server):
    """json_tensor.cc JsonValueToDebugString: PrettyWriter with kFormatSingleLineArray, kMaxJsonDebugStringBytes = 256."""
    response = call(server, "POST", PREDICT, json.dumps({"instances": [], "x": list(range(200))}))
    assert response.status_code == 400
    expected = '{\n    "instances": [],\n    "x": ['
    for i in range(200):  # JsonWriterWithLimit: each value is written while fewer than 256 bytes are
        if len(expected) >= 256:
            break
        expected += (", " if i else "") + str(i)
    assert error(response) == f"JSON Value: {expected} No values in 'instances' array"


def test_a_nan_in_an_echoed_value_ends_the_quote(server):
    """json_tensor.cc JsonValueToDebugString: rapidjson's writer has no kWriteNanAndInfFlag, so it stops at NaN."""
    response = call(server, "POST", PREDICT, '{"instances": [], "x": [1.5, NaN, 2]}')
    assert response.status_code == 400
    assert error(response) == 'JSON Value: {\n    "instances": [],\n    "x": [1.5,  No values in \'instances\' array'


# Item 4: URLs and HTTP (model_servers/http_server.cc, http_rest_api_handler.cc, http_rest_api_util.cc).


def test_the_verb_is_case_sensitive(server):
    """http_rest_api_handler.cc ProcessRequest: the regex is ``(?i)`` but dispatch compares ``*method == "predict"``."""
    response = call(server, "POST", f"/v1/models/{NAME}:PREDICT", pixels_body("1"))
    assert response.status_code == 400
    assert error(response) == f"Malformed request: POST /v1/models/{NAME}:PREDICT"


def test_the_subresource_is_case_sensitive(server):
    """http_rest_api_handler.cc ProcessRequest: only ``model_subresource == "metadata"`` is metadata, else status."""
    response = call(server, "GET", f"/v1/models/{NAME}/METADATA")
    assert response.status_code == 200
    assert [v["version"] for v in response.json()["model_version_status"]] == ["2", "1"]


def test_a_query_string_is_part_of_the_model_name(server):
    """evhttp_request.cc ParsedEvRequest::decode: ``uri_path()`` is path and query; kModelStatusApiRegex takes it."""
    response = call(server, "GET", f"/v1/models/{NAME}?x=1")
    assert response.status_code == 404
    assert error(response) == f"Could not find any versions of model {NAME}?x=1"


def test_a_query_string_after_the_verb_is_a_malformed_request(server):
    """evhttp_request.cc: the query is in ``uri_path()``; kPredictionApiGegex must match it whole."""
    response = call(server, "POST", PREDICT + "?x=1", pixels_body("1"))
    assert response.status_code == 400
    assert error(response) == f"Malformed request: POST {PREDICT}?x=1"


@pytest.mark.parametrize("origin", ["http://example.com", "https://example.com"])
def test_options_with_an_http_origin_is_200_with_an_empty_body(server, origin):
    """http_server.cc ProcessRequest: OPTIONS with ``RE2::PartialMatch(origin, "https?://")`` is OK, no handler runs."""
    response = call(server, "OPTIONS", PREDICT, headers={"Origin": origin})
    assert (response.status_code, response.content) == (200, b"")


@pytest.mark.parametrize("headers", [{}, {"Origin": "null"}])
def test_options_without_an_http_origin_is_400(server, headers):
    """http_server.cc ProcessRequest: FailedPrecondition("Origin header is missing in CORS preflight"), no body."""
    response = call(server, "OPTIONS", PREDICT, headers=headers)
    assert (response.status_code, response.content) == (400, b"")


def test_content_type_is_application_json_without_charset(server):
    """http_rest_api_util.cc AddHeaders: ``{"Content-Type", "application/json"}``, for answers and errors."""
    assert call(server, "GET", f"/v1/models/{NAME}").headers["Content-Type"] == "application/json"
    assert call(server, "POST", PREDICT, "{").headers["Content-Type"] == "application/json"


# Item 5: status with a label (model_servers/get_model_status_impl.cc).


@pytest.mark.parametrize("label", ["stable", "unknown"])
def test_status_with_a_label_ignores_it_and_returns_all_versions(server, label):
    """get_model_status_impl.cc GetModelStatusWithModelSpec: only ``model_spec.has_version()`` narrows the answer."""
    everything = call(server, "GET", f"/v1/models/{NAME}")
    response = call(server, "GET", f"/v1/models/{NAME}/labels/{label}")
    assert response.status_code == 200, response.text
    assert response.json() == everything.json()
    assert [v["version"] for v in response.json()["model_version_status"]] == ["2", "1"]


# Item 8: request size limit (model_servers/server.cc).


def test_the_default_request_limit_is_tf_servings_grpc_limit(server):
    """server.cc BuildAndStart: ``builder.SetMaxMessageSize(std::numeric_limits<int32_t>::max())``; REST sets none.

    A 65 MiB body (past the old 64 MiB default) is read and parsed, not refused with 413.
    """
    assert DEFAULT_MAX_REQUEST_BYTES == 2**31 - 1
    body = b'{"instances": "' + b"a" * (65 << 20) + b'"'
    response = call(server, "POST", PREDICT, body)
    assert response.status_code == 400
    assert error(response) == f"JSON Parse error: Missing a comma or '}}' after an object member. at offset: {len(body)}"

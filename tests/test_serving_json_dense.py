"""REST JSON read without a Python object per number: the same tensors and errors as json.loads."""

import random
import time

import numpy as np
import pytest

from keras_cvcls.serving import json_tensor
from keras_cvcls.serving.json_dense import find_dense_arrays
from keras_cvcls.serving.status import Code, ServingError

DTYPES = [json_tensor.DT_FLOAT, json_tensor.DT_DOUBLE, json_tensor.DT_INT32, json_tensor.DT_INT64]
DTYPES += [json_tensor.DT_INT8, json_tensor.DT_UINT8, json_tensor.DT_UINT64, json_tensor.DT_STRING, json_tensor.DT_BOOL]
# Numbers at every edge a dtype has: float32 and float64 precision, int32/int64/uint64 range, -0.
NUMBERS = [
    "0", "-0", "-0.0", "1", "-7", "255", "300", "16777215", "16777217", "16777217.0", "2147483648", "-2147483649",
    "9007199254740993", "9223372036854775808", "18446744073709551615", "1.5", "-2.25", "1e3", "1E-3", "0.1",
    "3.4028235e38", "3.5e38", "1e400", "123.456e-7", "7.000000000000001", "1" * 70, "0." + "3" * 70,
]
JUNK = list('[],.-e1 x"{}0') + ["true", "null", "NaN", '"a[1,2]"', '{"b64": "AA=="}', "[[1]]", "\f", "\u00e9"]


def _array(rng, shape, numbers):
    space = lambda: rng.choice(["", "", " ", "\n", " \t", "\r\n  "])  # noqa: E731
    if not shape:
        return rng.choice(numbers)
    items = [_array(rng, shape[1:], numbers) + space() for _ in range(shape[0])]
    return "[" + space() + ("," + space()).join(items) + "]"


def _body(rng):
    shape = [rng.randint(1, 4) for _ in range(rng.randint(1, 4))]
    numbers = rng.sample(NUMBERS, rng.randint(1, 4))
    a, b = _array(rng, shape, numbers), _array(rng, shape, numbers)
    text = rng.choice([
        '{"instances": %s}' % a,
        '{"inputs": %s, "signature_name": "s"}' % a,
        '{"instances": [{"x": %s}, {"x": %s}]}' % (a, b),
        '{"inputs": {"x": %s}}' % a,
        '{"instances": [%s, %s]}' % (a, b),
        '{"instances": [{"x": %s, "y": "s[1,2]"}]}' % a,
        '{"inputs": [%s, true, null]}' % a,
        a,
    ])
    if rng.random() < 0.5:  # malformed, ragged or mistyped somewhere
        text = list(text)
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(len(text))
            if rng.random() < 0.4:
                del text[i]
            else:
                text.insert(i, rng.choice(JUNK))
        text = "".join(text)
    return text.encode("utf-8")


def _read(body, dtype, min_dense_bytes):
    try:
        doc = json_tensor.parse_json(body, min_dense_bytes=min_dense_bytes)
        allow_fast = b"true" not in body and b"false" not in body
        signature, inputs, fmt = json_tensor.fill_predict_request(doc, lambda _: {"x": dtype}, allow_fast=allow_fast)
        return signature, fmt, {k: (v.dtype.str, v.shape, v.tolist()) for k, v in inputs.items()}
    except ServingError as e:
        return e.code.name, e.message


def test_dense_arrays_convert_as_the_json_parser_converts_them():
    rng = random.Random(13)
    dense_bodies = 0
    for _ in range(600):
        body = _body(rng)
        dtype = rng.choice(DTYPES)
        dense_bodies += bool(find_dense_arrays(body, 1))
        expected = _read(body, dtype, min_dense_bytes=10**9)  # no dense arrays: json.loads only
        for min_dense_bytes in (1, 9, 40):
            assert repr(_read(body, dtype, min_dense_bytes)) == repr(expected), (body, dtype, min_dense_bytes)
    assert dense_bodies > 300  # the comparison exercised the dense path


def test_a_malformed_number_in_a_large_array_is_reported_at_its_offset():
    numbers = ", ".join(["12.5"] * 100_000)
    body = ('{"inputs": [[%s], [%s, 1.2.3, 4]]}' % (numbers, numbers)).encode()
    with pytest.raises(ServingError) as error:
        json_tensor.parse_json(body)
    offset = body.index(b".3, 4]")
    assert error.value.message == f"JSON Parse error: Missing a comma or ']' after an array element. at offset: {offset}"


def test_a_large_dense_array_is_one_array_with_its_shape():
    pixels = np.random.default_rng(0).integers(0, 25600, (40, 16, 16, 3)) / 100
    text = str(pixels.tolist())
    body = ('{"signature_name": "predict_images", "instances": %s}' % text).encode()
    doc = json_tensor.parse_json(body)
    assert repr(doc["instances"]) == f"DenseArray(shape=[40, 16, 16, 3], bytes={len(text)})"
    _, inputs, _ = json_tensor.fill_predict_request(doc, lambda _: {"images": json_tensor.DT_FLOAT})
    np.testing.assert_array_equal(inputs["images"], pixels.astype(np.float32))


def test_reading_stops_at_the_deadline():
    body = ('{"inputs": %s}' % np.arange(300_000).reshape(1000, 300).tolist()).encode()
    past = time.monotonic() - 1
    with pytest.raises(ServingError) as error:
        json_tensor.parse_json(body, deadline=past)
    assert (error.value.code, error.value.message) == (Code.DEADLINE_EXCEEDED, "Deadline Exceeded")
    doc = json_tensor.parse_json(body)
    with pytest.raises(ServingError) as error:
        json_tensor.fill_predict_request(doc, lambda _: {"x": json_tensor.DT_INT64}, deadline=past)
    assert error.value.code == Code.DEADLINE_EXCEEDED


def test_values_outside_dense_arrays_are_limited():
    body = ('{"inputs": [%s]}' % ", ".join(["true"] * (json_tensor.MAX_JSON_VALUES + 1))).encode()
    with pytest.raises(ServingError) as error:
        json_tensor.parse_json(body)
    assert error.value.code == Code.INVALID_ARGUMENT
    assert f"this server reads at most {json_tensor.MAX_JSON_VALUES} that way" in error.value.message

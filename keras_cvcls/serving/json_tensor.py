"""TF Serving's REST JSON <-> tensors (``tensorflow_serving/util/json_tensor.cc``), in Python.

Request formats: row (``{"instances": [...]}``) and columnar (``{"inputs": ...}``), optional
``signature_name``; binary strings as ``{"b64": "..."}``. Responses: ``{"predictions": [...]}``
for row requests and ``{"outputs": ...}`` for columnar ones; string outputs whose name ends in
``_bytes`` are written as ``{"b64": ...}``; floats printed as TF Serving prints them (shortest
of 6 significant digits that round-trips, else 9 for float / 17 for double). Error messages
are TF Serving's, word for word where the Python JSON parser allows.
"""

import base64
import binascii
import json
import math

import numpy as np

from keras_cvcls.serving.status import Code, ServingError, invalid_argument

# TensorFlow DataType enum values (tensorflow/core/framework/types.proto).
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_STRING = 1, 2, 3, 4, 5, 6, 7
DT_INT64, DT_BOOL, DT_HALF, DT_UINT32, DT_UINT64 = 9, 10, 19, 22, 23
_NUMPY = {
    DT_FLOAT: np.float32,
    DT_DOUBLE: np.float64,
    DT_INT32: np.int32,
    DT_INT16: np.int16,
    DT_INT8: np.int8,
    DT_UINT8: np.uint8,
    DT_STRING: object,
    DT_INT64: np.int64,
    DT_BOOL: np.bool_,
    DT_UINT32: np.uint32,
    DT_UINT64: np.uint64,
}
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_MAX_FLOAT = float(np.finfo(np.float32).max)

# Python json messages -> rapidjson's (GetParseError_En), for TF Serving's "JSON Parse error: ...".
_PARSE_ERRORS = (
    ("Expecting value", "Invalid value."),
    ("Expecting property name enclosed in double quotes", "Missing a name for object member."),
    ("Expecting ':' delimiter", "Missing a colon after a name of object member."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid control character", "Invalid encoding in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
    ("Invalid \\uXXXX escape", "Incorrect hex digit after \\u escape in string."),
    ("Extra data", "The document root must not be followed by other values."),
)


def _parse_error_message(error, text):
    message = error.msg
    for python, rapid in _PARSE_ERRORS:
        if message.startswith(python):
            message = rapid
            break
    else:
        if message.startswith("Expecting ',' delimiter"):
            # rapidjson says which container is open; find it from the text before the error.
            depth_obj = text.rfind("{", 0, error.pos) > text.rfind("[", 0, error.pos)
            message = (
                "Missing a comma or '}' after an object member."
                if depth_obj
                else "Missing a comma or ']' after an array element."
            )
    return f"JSON Parse error: {message} at offset: {error.pos}"


def parse_json(body):
    """Parses a request body; ServingError(INVALID_ARGUMENT) with TF Serving's message when invalid."""
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    except UnicodeDecodeError as e:
        raise invalid_argument(f"JSON Parse error: Invalid encoding in string. at offset: {e.start}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise invalid_argument(_parse_error_message(e, text)) from None
    except RecursionError:
        raise invalid_argument("JSON Parse error: Terminate parsing due to Handler error. at offset: 0") from None
    if not isinstance(doc, dict):
        raise _format_error(doc, "Is not object")
    return doc


def json_type_string(value):
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def format_decimal(value, double=False):
    """TF Serving's WriteDecimal: 6 significant digits if they round-trip, else full precision."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = "%.6g" % value
    if double:
        if float(text) != value:
            text = "%.17g" % value
    elif np.float32(text) != np.float32(value):
        text = "%.9g" % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def json_value_to_string(value):
    """A JSON value as TF Serving quotes it in error messages (rapidjson's pretty writer)."""
    if isinstance(value, float):
        return format_decimal(value, double=float(np.float32(value)) != value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=4, ensure_ascii=False, allow_nan=True)
    return json.dumps(value, ensure_ascii=False)


def _format_error(value, *parts):
    return invalid_argument("JSON Value: ", json_value_to_string(value), " ", *parts)


def _type_error(value, dtype):
    from keras_cvcls.serving.predictor import dtype_string

    return invalid_argument(
        f"JSON Value: {json_value_to_string(value)} Type: {json_type_string(value)} is not of expected type: "
        f"{dtype_string(dtype)}"
    )


def _is_b64_object(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _decode_b64(value):
    if not _is_b64_object(value):
        raise invalid_argument(f"JSON Value: {json_value_to_string(value)} not formatted correctly for base64 data")
    text = value["b64"]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_argument("Unable to base64 decode") from None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _lossless(value, digits):
    if isinstance(value, float) and not math.isfinite(value):
        return True
    if isinstance(value, int):
        return abs(value) <= (1 << digits) - 1
    limit = _MAX_FLOAT if digits == 24 else float("inf")
    return -limit <= value <= limit


def _convert_value(value, dtype):
    """AddValueToTensor: one JSON scalar -> a Python value for the tensor."""
    if dtype in (DT_FLOAT, DT_DOUBLE):
        if not _is_number(value):
            raise _type_error(value, dtype)
        if not _lossless(value, 24 if dtype == DT_FLOAT else 53):
            target = "float" if dtype == DT_FLOAT else "double"
            raise invalid_argument(
                f"Cannot convert JSON value: {json_value_to_string(value)} to {target} without loss of precision."
            )
        return value
    if dtype in (DT_INT32, DT_INT16, DT_INT8, DT_UINT8):
        if not (isinstance(value, int) and not isinstance(value, bool) and _INT32[0] <= value <= _INT32[1]):
            raise _type_error(value, dtype)
        return value
    if dtype == DT_STRING:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return value.encode("utf-8")
    if dtype == DT_INT64:
        if not (isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]):
            raise _type_error(value, dtype)
        return value
    if dtype == DT_BOOL:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    if dtype in (DT_UINT32, DT_UINT64):
        bits = 32 if dtype == DT_UINT32 else 64
        if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**bits):
            raise _type_error(value, dtype)
        return value
    from keras_cvcls.serving.predictor import dtype_string

    raise ServingError(
        Code.UNIMPLEMENTED, f"Conversion of JSON Value: {json_value_to_string(value)} to type: {dtype_string(dtype)}"
    )


def _dense_shape(value):
    """GetDenseTensorShape: list lengths following the first element at each level."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value, level, shape, dtype, flat):
    """FillTensorProto: checks the nesting against ``shape`` and appends leaf values to ``flat``."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise invalid_argument(
                f"JSON Value: {json_value_to_string(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {rank}"
            )
        if isinstance(value, dict):
            if dtype != DT_STRING:
                raise _type_error(value, dtype)
            flat.append(_decode_b64(value))
        else:
            flat.append(_convert_value(value, dtype))
        return
    if level >= rank:
        raise invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, flat)


def _fast_numeric(value, dtype, shape):
    """np.array for plain regular numeric nests, or None to take the checking path."""
    if dtype not in (DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64) or not shape:
        return None
    try:
        array = np.array(value)
    except (ValueError, OverflowError):
        return None
    if list(array.shape) != shape or array.dtype.kind not in "if":
        return None
    if dtype == DT_FLOAT:
        if array.dtype.kind == "i":
            if array.size and np.abs(array).max() > (1 << 24) - 1:
                return None
        elif array.size and np.abs(array[np.isfinite(array)]).max(initial=0.0) > _MAX_FLOAT:
            return None
        return array.astype(np.float32)
    if dtype == DT_DOUBLE:
        if array.dtype.kind == "i" and array.size and np.abs(array).max() > (1 << 53) - 1:
            return None
        return array.astype(np.float64)
    if array.dtype.kind != "i":
        return None
    low, high = _INT32 if dtype == DT_INT32 else _INT64
    if array.size and (array.min() < low or array.max() > high):
        return None
    return array.astype(_NUMPY[dtype])


def value_to_array(value, dtype, allow_fast=True):
    """A JSON value -> numpy array of ``dtype`` (a DataType enum), checked as TF Serving checks it."""
    shape = _dense_shape(value)
    if allow_fast:
        array = _fast_numeric(value, dtype, shape)
        if array is not None:
            return array
    flat = []
    _fill(value, 0, shape, dtype, flat)
    numpy_dtype = _NUMPY.get(dtype, object)
    if numpy_dtype is object:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    return np.array(flat, dtype=numpy_dtype).reshape(shape)


def _fill_from_instances(instances, infos, allow_fast):
    """FillTensorMapFromInstancesList."""
    first = instances[0]
    if not isinstance(first, dict) and len(infos) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
            "tensorinfo_map"
        )

    def is_element_object(value):
        return isinstance(value, dict) and not _is_b64_object(value)

    objects = is_element_object(first)
    names = set(infos)
    values = {name: [] for name in infos}
    shapes = {}

    def add(item, name):
        if name not in infos:
            raise invalid_argument("JSON object: does not have named input: ", name)
        array = value_to_array(item, infos[name], allow_fast)
        if name not in shapes:
            shapes[name] = array.shape
        elif int(np.prod(shapes[name])) != array.size:
            raise invalid_argument(f"Expecting tensor size: {int(np.prod(shapes[name]))} but got: {array.size}")
        elif shapes[name] != array.shape:
            raise invalid_argument(
                f"Expecting shape [{','.join(map(str, shapes[name]))}] but got: [{','.join(map(str, array.shape))}]"
            )
        values[name].append(array)

    for index, element in enumerate(instances):
        if objects:
            if not is_element_object(element):
                raise invalid_argument(f"Expecting object but got list at item {index} of input list")
            for name, item in element.items():
                try:
                    add(item, name)
                except ServingError as e:
                    raise invalid_argument(
                        f"Failed to process element: {index} key: {name} of 'instances' list. Error: "
                        f"{e.code.name}: {e.message}"
                    ) from None
            if set(element) != names:
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{json_value_to_string(element)} keys must be equal to: {','.join(sorted(names))}"
                )
        else:
            if is_element_object(element):
                raise invalid_argument(f"Expecting value/list but got object at item {index} of input list")
            name = next(iter(infos))
            try:
                add(element, name)
            except ServingError as e:
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. Error: {e.code.name}: {e.message}"
                ) from None
    return {name: np.stack(arrays) for name, arrays in values.items() if arrays}


def _fill_from_inputs(value, infos, allow_fast):
    """FillTensorMapFromInputsMap."""
    if not isinstance(value, dict) or _is_b64_object(value):
        if len(infos) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
                "tensorinfo_map"
            )
        name, dtype = next(iter(infos.items()))
        return {name: value_to_array(value, dtype, allow_fast)}
    tensors = {}
    for name, dtype in infos.items():
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = value_to_array(value[name], dtype, allow_fast)
    return tensors


def fill_predict_request(doc, get_input_dtypes, *, allow_fast=True):
    """FillPredictRequestFromJson: a parsed body -> ``(signature_name, inputs, format)``.

    Args:
        doc: the parsed JSON object.
        get_input_dtypes: ``f(signature_name) -> {input name: DataType enum}``; it resolves the
            model (and raises NOT_FOUND / INVALID_ARGUMENT) after the signature name is read,
            in TF Serving's order.
        allow_fast: use numpy for regular numeric nests (False when the body has JSON booleans,
            which numpy would take as numbers).

    Returns:
        ``(signature_name, {name: array}, "row" | "columnar")``.
    """
    signature_name = ""
    if "signature_name" in doc:
        if not isinstance(doc["signature_name"], str):
            raise _format_error(doc, "not formatted correctly. 'signature_name' key must be a string value.")
        signature_name = doc["signature_name"]
    infos = get_input_dtypes(signature_name)
    if not infos:
        raise invalid_argument("Failed to get input map for signature: ", signature_name or "DEFAULT")
    if "instances" in doc:
        if "inputs" in doc:
            raise _format_error(
                doc, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "
            )
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise _format_error(doc, "Excepting 'instances' to be an list/array")
        if not instances:
            raise _format_error(doc, "No values in 'instances' array")
        return signature_name, _fill_from_instances(instances, infos, allow_fast), "row"
    if "inputs" in doc:
        return signature_name, _fill_from_inputs(doc["inputs"], infos, allow_fast), "columnar"
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _scalar_text(value, dtype_kind, as_bytes):
    if dtype_kind == "f":
        return value  # already formatted
    if dtype_kind == "b":
        return "true" if value else "false"
    if dtype_kind in "iu":
        return str(int(value))
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    if as_bytes:
        return '{"b64": "' + base64.b64encode(data).decode("ascii") + '"}'
    return json.dumps(data.decode("utf-8", errors="replace"), ensure_ascii=False)


def _texts(array, as_bytes):
    """Flat list of JSON texts for every element of ``array``."""
    flat = array.ravel()
    kind = array.dtype.kind
    if kind == "f":
        double = array.dtype == np.float64
        return [format_decimal(v, double) for v in flat.tolist()]
    return [_scalar_text(v, kind, as_bytes) for v in flat.tolist()]


def _nest(texts, shape, start=0):
    """Builds nested JSON arrays from flat element texts; returns (text, next_start)."""
    if not shape:
        return texts[start], start + 1
    parts = []
    for _ in range(shape[0]):
        part, start = _nest(texts, shape[1:], start)
        parts.append(part)
    return "[" + ", ".join(parts) + "]", start


def make_json_from_tensors(outputs, fmt):
    """MakeJsonFromTensors: outputs -> the response body (``predictions`` or ``outputs``)."""
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    arrays = {name: np.asarray(outputs[name]) for name in names}
    if fmt == "row":
        batch = -1
        for name in names:
            if arrays[name].ndim == 0:
                raise invalid_argument(f"Tensor name: {name} has no shape information ")
            size = arrays[name].shape[0]
            if batch >= 0 and size != batch:
                raise invalid_argument(f"Tensor name: {name} has inconsistent batch size: {size} expecting: {batch}")
            batch = size
        texts = {name: _texts(arrays[name], name.endswith("_bytes")) for name in names}
        per_row = {name: int(np.prod(arrays[name].shape[1:])) for name in names}
        rows = []
        for i in range(batch):
            items = []
            for name in names:
                n = per_row[name]
                text, _ = _nest(texts[name][i * n : (i + 1) * n], arrays[name].shape[1:])
                items.append(text if len(names) == 1 else f'"{name}": {text}')
            rows.append(items[0] if len(names) == 1 else "{" + ", ".join(items) + "}")
        return '{\n    "predictions": [\n        ' + ",\n        ".join(rows) + "\n    ]\n}"
    items = []
    for name in names:
        text, _ = _nest(_texts(arrays[name], name.endswith("_bytes")), arrays[name].shape)
        items.append(text if len(names) == 1 else f'"{name}": {text}')
    body = items[0] if len(names) == 1 else "{\n        " + ",\n        ".join(items) + "\n    }"
    return '{\n    "outputs": ' + body + "\n}"


def make_json_error(message):
    """The error body: ``{"error": "..."}``."""
    return json.dumps({"error": message}, indent=4, ensure_ascii=False)

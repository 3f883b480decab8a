"""TF Serving's REST JSON <-> tensors (``tensorflow_serving/util/json_tensor.cc``), in Python.

Request formats: row (``{"instances": [...]}``) and columnar (``{"inputs": ...}``), optional
``signature_name``; binary strings as ``{"b64": "..."}``. Responses: ``{"predictions": [...]}``
for row requests and ``{"outputs": ...}`` for columnar ones; string outputs whose name ends in
``_bytes`` are written as ``{"b64": ...}``; floats printed as TF Serving prints them (shortest
of 6 significant digits that round-trips, else 9 for float / 17 for double). Error messages
are TF Serving's, word for word where the Python JSON parser allows.

Memory: dense numeric arrays of a body (numbers only, equal lengths at each level; what clients
send for images and features) are read by :mod:`keras_cvcls.serving.json_dense` straight into
numpy arrays, at the cost of the tensor; the rest goes through ``json.loads``, whose Python
objects cost up to ~100 bytes a value, so a body may hold at most :data:`MAX_JSON_VALUES`
values outside dense arrays.
"""

import base64
import binascii
import bisect
import json
import math
import re
import secrets
import sys

import numpy as np

from keras_cvcls.serving.json_dense import MAX_RANK, DenseArray, DenseValueError, check_deadline, find_dense_arrays
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
# Dense numeric arrays of at least this many bytes are read without a Python object per number.
DENSE_MIN_BYTES = 4096
# Values (numbers, strings, lists, objects) a body may hold outside dense arrays: json.loads
# makes a Python object of each, ~100 bytes for a number in a list of its own.
MAX_JSON_VALUES = 1 << 20
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"')

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


def _parse_error_message(message, offset, body, byte_offset):
    for python, rapid in _PARSE_ERRORS:
        if message.startswith(python):
            message = rapid
            break
    else:
        if message.startswith("Expecting ',' delimiter"):
            # rapidjson says which container is open; find it from the text before the error.
            depth_obj = body.rfind(b"{", 0, byte_offset) > body.rfind(b"[", 0, byte_offset)
            message = (
                "Missing a comma or '}' after an object member."
                if depth_obj
                else "Missing a comma or ']' after an array element."
            )
    return f"JSON Parse error: {message} at offset: {offset}"


class _Reduced:
    """The body with each dense array replaced by a small placeholder object, and the way back."""

    def __init__(self, body, arrays):
        self.body, self.arrays = body, arrays
        self.nonce = secrets.token_hex(8)
        pieces, self._starts, self._moves, previous, size = [], [], [], 0, 0
        for index, array in enumerate(arrays):
            placeholder = b'{"%s":%d}' % (self.nonce.encode(), index)
            pieces += [body[previous : array.start], placeholder]
            size += array.start - previous
            self._starts.append(size)
            self._moves.append((array.start, len(placeholder), array.end - array.start))
            size += len(placeholder)
            previous = array.end
        self.text = b"".join(pieces + [body[previous:]]) if arrays else body

    def body_offset(self, offset):
        """The body's byte offset of the reduced text's byte ``offset``."""
        index = bisect.bisect_right(self._starts, offset) - 1
        if index < 0:
            return offset
        start, reduced_length, length = self._moves[index]
        inside = offset - self._starts[index]
        return start if inside < reduced_length else start + length + inside - reduced_length

    def restore(self, doc):
        """``doc`` with its placeholder objects replaced by their :class:`DenseArray`."""

        def array_of(value):
            if isinstance(value, dict) and len(value) == 1 and self.nonce in value:
                return self.arrays[value[self.nonce]]
            return None

        if not self.arrays:
            return doc
        if (top := array_of(doc)) is not None:
            return top
        stack = [doc]
        while stack:
            node = stack.pop()
            for key, value in list(enumerate(node) if isinstance(node, list) else node.items()):
                if isinstance(value, (list, dict)):
                    if (array := array_of(value)) is not None:
                        node[key] = array
                    else:
                        stack.append(value)
        return doc


def _char_offset(body, byte_offset):
    """Error offsets count characters, as the Python JSON parser does."""
    return byte_offset if body.isascii() else len(body[:byte_offset].decode("utf-8", errors="replace"))


def _check_value_count(text):
    """INVALID_ARGUMENT when ``text`` holds more than MAX_JSON_VALUES values (strings not counted inside)."""
    bare = _JSON_STRING.sub(b'""', text)
    count = bare.count(b",") + bare.count(b"[") + bare.count(b"{") + 1
    if count > MAX_JSON_VALUES:
        raise invalid_argument(
            f"The JSON body holds about {count} values outside dense numeric arrays; this server reads at most "
            f"{MAX_JSON_VALUES} that way. Send numbers as dense arrays (numbers only, every list at a level of the "
            'same length) and binary data as {"b64": ...} strings, or use the gRPC API.'
        )


def parse_json(body, *, deadline=None, min_dense_bytes=DENSE_MIN_BYTES):
    """Parses a request body; ServingError(INVALID_ARGUMENT) with TF Serving's message when invalid.

    Args:
        body: the request body, ``bytes`` (or ``str``).
        deadline: a ``time.monotonic()`` time; past it, DEADLINE_EXCEEDED.
        min_dense_bytes: dense numeric arrays at least this long stay text until converted
            (as :class:`~keras_cvcls.serving.json_dense.DenseArray` values in the result).

    Returns:
        The JSON object, a dict.
    """
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    arrays = find_dense_arrays(body, min_dense_bytes, deadline=deadline) if len(body) >= min_dense_bytes else []
    reduced = _Reduced(body, arrays)
    _check_value_count(reduced.text)
    check_deadline(deadline)
    try:
        text = reduced.text.decode("utf-8")
    except UnicodeDecodeError as e:
        offset = reduced.body_offset(e.start)
        raise invalid_argument(f"JSON Parse error: Invalid encoding in string. at offset: {offset}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        byte_offset = reduced.body_offset(e.pos if text.isascii() else len(text[: e.pos].encode("utf-8")))
        offset = _char_offset(body, byte_offset)
        raise invalid_argument(_parse_error_message(e.msg, offset, body, byte_offset)) from None
    except RecursionError:
        raise invalid_argument("JSON Parse error: Terminate parsing due to Handler error. at offset: 0") from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        digits = re.search(rb"-?[0-9]{%d,}" % (sys.get_int_max_str_digits() + 1), reduced.text)
        offset = _char_offset(body, reduced.body_offset(digits.start() if digits else 0))
        message = f"JSON Parse error: Number too big to be stored in double. at offset: {offset}"
        raise invalid_argument(message) from None
    doc = reduced.restore(doc)
    if not isinstance(doc, dict):
        raise _format_error(doc, "Is not object")
    return doc


def json_type_string(value):
    if isinstance(value, DenseArray):
        return "Array"
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


# Dense arrays longer than this are summarised in error messages instead of printed in full.
_QUOTED_DENSE_BYTES = 1 << 16


def _dense_for_message(value):
    if not isinstance(value, DenseArray):
        raise TypeError(f"not JSON: {type(value).__name__}")
    if value.end - value.start <= _QUOTED_DENSE_BYTES:
        return value.to_list()
    return f"<{value.size} numbers, shape [{','.join(map(str, value.shape))}]>"


def json_value_to_string(value):
    """A JSON value as TF Serving quotes it in error messages (rapidjson's pretty writer)."""
    if isinstance(value, float):
        with np.errstate(over="ignore"):  # beyond float32's range: a double
            return format_decimal(value, double=float(np.float32(value)) != value)
    if isinstance(value, DenseArray):
        value = _dense_for_message(value)
    try:
        if isinstance(value, (dict, list)):
            return json.dumps(value, indent=4, ensure_ascii=False, allow_nan=True, default=_dense_for_message)
        return json.dumps(value, ensure_ascii=False)
    except RecursionError:
        return "<a value nested too deeply to print>"


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
    if isinstance(value, DenseArray):
        shape.extend(value.shape)
    return shape


def _check_rank(shape, batch_dims=0):
    """INVALID_ARGUMENT for arrays nested deeper than a tensor's dimensions (``batch_dims``: added by stacking)."""
    rank = len(shape) + batch_dims
    if rank > MAX_RANK:
        raise invalid_argument(
            f"JSON arrays nested {rank} levels deep would make a tensor of {rank} dimensions; "
            f"at most {MAX_RANK} are supported"
        )


def _suspicious_numbers(dtype):
    """``f(values, tokens) -> mask`` of the dense-array numbers a plain cast may get wrong.

    Those go through :func:`_convert_value` one by one, which alone decides what a number means
    for a dtype; this mask only has to include every number it could refuse or change.
    """
    if dtype in (DT_FLOAT, DT_DOUBLE):
        exact, limit = ((1 << 24) - 1, _MAX_FLOAT) if dtype == DT_FLOAT else ((1 << 53) - 1, math.inf)

        def suspicious(values, tokens):
            magnitude = np.abs(values)
            mask = ~np.isfinite(values) | (magnitude > limit)
            large = magnitude > exact  # an integer this large loses precision
            return mask | (large & tokens.is_int) if large.any() else mask

        return suspicious
    bounds = {DT_INT32: _INT32, DT_INT16: _INT32, DT_INT8: _INT32, DT_UINT8: _INT32, DT_INT64: _INT64}
    bounds.update({DT_UINT32: (0, 2**32 - 1), DT_UINT64: (0, 2**64 - 1)})
    if dtype not in bounds:
        return lambda values, tokens: np.ones(len(values), bool)  # numbers are not strings or booleans
    low, high = bounds[dtype]
    # A token of up to 15 characters is an integer float64 holds exactly.
    return lambda values, tokens: ~tokens.is_int | (tokens.lengths > 15) | (values < low) | (values > high)


def _dense_values(array, dtype, deadline):
    """The numbers of a :class:`DenseArray` as a flat array of ``dtype``.

    Raises:
        DenseValueError: the first number :func:`_convert_value` refuses.
    """
    return array.to_array(
        _NUMPY.get(dtype, object), _suspicious_numbers(dtype), lambda v: _convert_value(v, dtype), deadline=deadline
    )


def _fill_dense(array, level, shape, dtype, flat, deadline):
    """FillTensorProto for a dense array at ``level``: its lengths first, then its numbers."""
    rank = len(shape)
    for offset, size in enumerate(array.shape):
        if level + offset >= rank:
            raise invalid_argument(f"Encountered list at unexpected level: {level + offset} expected < {rank}")
        if size != shape[level + offset]:
            raise invalid_argument(
                f"Encountered list at unexpected size: {size} at level: {level + offset} expected size: "
                f"{shape[level + offset]}"
            )
    if level + len(array.shape) != rank:
        raise invalid_argument(
            f"JSON Value: {json_value_to_string(array.first_value())} found at incorrect level: "
            f"{level + len(array.shape) + 1} in the JSON DOM. Expected at level: {rank}"
        )
    try:
        flat.append(_dense_values(array, dtype, deadline))
    except DenseValueError as e:
        raise e.error from None


def _fill(value, level, shape, dtype, flat, deadline=None):
    """FillTensorProto: checks the nesting against ``shape`` and appends leaf values to ``flat``."""
    rank = len(shape)
    if isinstance(value, DenseArray):
        _fill_dense(value, level, shape, dtype, flat, deadline)
        return
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
        _fill(item, level + 1, shape, dtype, flat, deadline)


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
    # Beyond 2**24 (2**53) a JSON integer does not fit a float (double); numpy has made floats
    # of any integers mixed with floats, so large values take the checking path either way.
    if dtype == DT_FLOAT:
        if array.size and np.abs(array[np.isfinite(array)]).max(initial=0) > (1 << 24) - 1:
            return None
        return array.astype(np.float32)
    if dtype == DT_DOUBLE:
        if array.size and np.abs(array[np.isfinite(array)]).max(initial=0) > (1 << 53) - 1:
            return None
        return array.astype(np.float64)
    if array.dtype.kind != "i":
        return None
    low, high = _INT32 if dtype == DT_INT32 else _INT64
    if array.size and (array.min() < low or array.max() > high):
        return None
    return array.astype(_NUMPY[dtype])


def _contains_dense(value):
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, DenseArray)


def _scalars_array(values, numpy_dtype):
    if numpy_dtype in (np.int8, np.int16, np.uint8):  # an int32 value keeps its low bits, as in TF Serving
        return np.array(values, dtype=np.int64).astype(numpy_dtype)
    return np.array(values, dtype=numpy_dtype)


def _join(flat, numpy_dtype):
    """One flat array of the values and arrays ``_fill`` collected, in order."""
    if numpy_dtype is object:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array
    if not any(isinstance(item, np.ndarray) for item in flat):
        return _scalars_array(flat, numpy_dtype)
    pieces, scalars = [], []
    for item in flat:
        if isinstance(item, np.ndarray):
            if scalars:
                pieces.append(_scalars_array(scalars, numpy_dtype))
                scalars = []
            pieces.append(item)
        else:
            scalars.append(item)
    if scalars:
        pieces.append(_scalars_array(scalars, numpy_dtype))
    return np.concatenate(pieces)


def value_to_array(value, dtype, allow_fast=True, *, deadline=None, batch_dims=0):
    """A JSON value -> numpy array of ``dtype`` (a DataType enum), checked as TF Serving checks it."""
    if isinstance(value, DenseArray):
        _check_rank(value.shape, batch_dims)
        try:
            return _dense_values(value, dtype, deadline).reshape(value.shape)
        except DenseValueError as e:
            raise e.error from None
    shape = _dense_shape(value)
    _check_rank(shape, batch_dims)
    if allow_fast and not _contains_dense(value):
        array = _fast_numeric(value, dtype, shape)
        if array is not None:
            return array
    flat = []
    _fill(value, 0, shape, dtype, flat, deadline)
    return _join(flat, _NUMPY.get(dtype, object)).reshape(shape)


def _dense_instances(instances, infos, deadline):
    """FillTensorMapFromInstancesList for a dense array of instances: one conversion, no stacking."""
    name, dtype = next(iter(infos.items()))
    _check_rank(instances.shape)
    try:
        return {name: _dense_values(instances, dtype, deadline).reshape(instances.shape)}
    except DenseValueError as e:
        index = e.index // max(1, int(np.prod(instances.shape[1:])))
        raise invalid_argument(
            f"Failed to process element: {index} of 'instances' list. Error: {e.error.code.name}: {e.error.message}"
        ) from None


def _fill_from_instances(instances, infos, allow_fast, deadline=None):
    """FillTensorMapFromInstancesList."""
    plain = isinstance(instances, DenseArray) or not isinstance(instances[0], dict)
    if plain and len(infos) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
            "tensorinfo_map"
        )
    if isinstance(instances, DenseArray):
        return _dense_instances(instances, infos, deadline)
    first = instances[0]

    def is_element_object(value):
        return isinstance(value, dict) and not _is_b64_object(value)

    objects = is_element_object(first)
    names = set(infos)
    values = {name: [] for name in infos}
    shapes = {}

    def add(item, name):
        if name not in infos:
            raise invalid_argument("JSON object: does not have named input: ", name)
        check_deadline(deadline)
        array = value_to_array(item, infos[name], allow_fast, deadline=deadline, batch_dims=1)
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


def _fill_from_inputs(value, infos, allow_fast, deadline=None):
    """FillTensorMapFromInputsMap."""
    if not isinstance(value, dict) or _is_b64_object(value):
        if len(infos) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
                "tensorinfo_map"
            )
        name, dtype = next(iter(infos.items()))
        return {name: value_to_array(value, dtype, allow_fast, deadline=deadline)}
    tensors = {}
    for name, dtype in infos.items():
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = value_to_array(value[name], dtype, allow_fast, deadline=deadline)
    return tensors


def fill_predict_request(doc, get_input_dtypes, *, allow_fast=True, deadline=None):
    """FillPredictRequestFromJson: a parsed body -> ``(signature_name, inputs, format)``.

    Args:
        doc: the parsed JSON object.
        get_input_dtypes: ``f(signature_name) -> {input name: DataType enum}``; it resolves the
            model (and raises NOT_FOUND / INVALID_ARGUMENT) after the signature name is read,
            in TF Serving's order.
        allow_fast: use numpy for regular numeric nests (False when the body has JSON booleans,
            which numpy would take as numbers).
        deadline: a ``time.monotonic()`` time; past it, DEADLINE_EXCEEDED.

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
        if not isinstance(instances, (list, DenseArray)):
            raise _format_error(doc, "Excepting 'instances' to be an list/array")
        if isinstance(instances, list) and not instances:
            raise _format_error(doc, "No values in 'instances' array")
        return signature_name, _fill_from_instances(instances, infos, allow_fast, deadline), "row"
    if "inputs" in doc:
        return signature_name, _fill_from_inputs(doc["inputs"], infos, allow_fast, deadline), "columnar"
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

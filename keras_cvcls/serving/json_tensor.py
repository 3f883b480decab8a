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
import decimal
import itertools
import json
import math
import re
import secrets

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
# Dense numeric arrays of at least this many bytes are read without a Python object per number.
DENSE_MIN_BYTES = 4096
# Values (numbers, strings, lists, objects) a body may hold outside dense arrays: json.loads
# makes a Python object of each, ~100 bytes for a number in a list of its own.
MAX_JSON_VALUES = 1 << 20
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"')
_WHITESPACE = " \t\n\r"
# Numbers that may exceed a double (rapidjson: "Number too big to be stored in double"): a quick
# look first, then strings skipped and each candidate converted.
_MAYBE_BIG = re.compile(rb"[eE]\+?0*[1-9][0-9]{2}|[0-9]{309}")
_STRING_OR_BIG = re.compile(_JSON_STRING.pattern + rb"|(-?[0-9][0-9.]*(?:[eE]\+?[0-9]+|[0-9]{308}))")
_BIG_IN_DENSE = re.compile(rb"-?[0-9][0-9.]*[eE]\+?0*[1-9][0-9]{2,}")
# Tokens rapidjson's kParseNanAndInfFlag reads and Python's parser does not.
_NON_STANDARD_CONSTANT = re.compile(r"-?(?:NaN|Inf)")

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


def _parse_error_message(message, body, byte_offset):
    """rapidjson's GetParseError_En text for a Python parser message."""
    for python, rapid in _PARSE_ERRORS:
        if message.startswith(python):
            return rapid
    if message.startswith("Expecting ',' delimiter"):
        # rapidjson says which container is open; find it from the text before the error.
        depth_obj = body.rfind(b"{", 0, byte_offset) > body.rfind(b"[", 0, byte_offset)
        return "Missing a comma or '}' after an object member." if depth_obj else "Missing a comma or ']' after an array element."
    return message


def _first_wins(pairs):
    """An object's members; of duplicate names the first counts, as rapidjson's FindMember finds it."""
    members = dict(pairs)
    if len(members) != len(pairs):
        members = {}
        for key, value in pairs:
            members.setdefault(key, value)
    return members


_DECODER = json.JSONDecoder(object_pairs_hook=_first_wins)


def _is_too_big(token):
    return math.isinf(float(token))


def _first_number_too_big(reduced, body, arrays, before):
    """The body offset of the first number beyond a double's range (before ``before``), or None."""
    found = []
    if _MAYBE_BIG.search(reduced.text):
        for match in _STRING_OR_BIG.finditer(reduced.text):
            if match.group(1) is not None and _is_too_big(match.group(1)):
                found.append(reduced.body_offset(match.start()))
                break
    for array in arrays:
        for match in _BIG_IN_DENSE.finditer(body, array.start, array.end):
            if _is_too_big(match.group()):
                found.append(match.start())
                break
    found = [offset for offset in found if offset < before]
    return min(found) if found else None


_SPACE = re.compile(r"[ \t\n\r]*+")
_TOKEN = re.compile(
    r"([\[\]{},:\"])|(-?(?:NaN|Infinity|Inf)|true|false|null)|(-?(?:0|[1-9][0-9]*+)(\.[0-9]++)?+([eE][+\-]?+[0-9]++)?+)"
)
_CONSTANTS = {"true": True, "false": False, "null": None}


def _scalar(constant, number, fraction, exponent):
    if constant is not None:
        if constant in _CONSTANTS:
            return _CONSTANTS[constant]
        return float(constant)  # NaN, -NaN, Inf, -Inf, Infinity, -Infinity
    if fraction is None and exponent is None and len(number) < 300:
        return int(number)
    value = float(number)
    return value if fraction or exponent or math.isinf(value) else int(number)


class _OpenObject:
    __slots__ = ("members", "name")

    def __init__(self):
        self.members, self.name = {}, None


def _parse_iteratively(text, pos, deadline):
    """rapidjson's iterative parser: no depth limit, ``Inf`` / ``NaN`` tokens, first duplicate wins.

    Returns:
        ``(document, None, end)``, or ``(None, (offset, rapidjson message), None)``; numbers
        beyond a double are left to :func:`_first_number_too_big`.
    """
    stack, state, n = [], "start", len(text)  # stack: open lists and _OpenObjects
    steps = 0
    while True:
        pos = _SPACE.match(text, pos).end()
        if pos >= n:
            break
        steps += 1
        if steps & 0xFFFF == 0:
            check_deadline(deadline)
        match = _TOKEN.match(text, pos)
        punct, constant, number = match.groups()[:3] if match else (None, None, None)
        top = stack[-1] if stack else None
        if state in ("start", "value", "first_value"):
            if punct == "[":
                stack.append([])
                state, pos = "first_value", match.end()
                continue
            if punct == "{":
                stack.append(_OpenObject())
                state, pos = "first_key", match.end()
                continue
            if punct == "]" and state == "first_value":
                value, pos = stack.pop(), match.end()
            elif punct == '"':
                try:
                    value, pos = json.decoder.scanstring(text, pos + 1)
                except json.JSONDecodeError as e:
                    message = _parse_error_message(e.msg, b"", 0)
                    return None, ((n if e.msg.startswith("Unterminated") else e.pos), message), None
            elif constant is not None or number is not None:
                value, pos = _scalar(constant, number, match.group(4), match.group(5)), match.end()
            else:
                return None, (pos, "Invalid value."), None
        elif state in ("key", "first_key"):
            if punct == "}" and state == "first_key":
                value, pos = stack.pop().members, match.end()
            elif punct == '"':
                try:
                    top.name, pos = json.decoder.scanstring(text, pos + 1)
                except json.JSONDecodeError as e:
                    message = _parse_error_message(e.msg, b"", 0)
                    return None, ((n if e.msg.startswith("Unterminated") else e.pos), message), None
                state = "colon"
                continue
            else:
                return None, (pos, "Missing a name for object member."), None
        elif state == "colon":
            if punct != ":":
                return None, (pos, "Missing a colon after a name of object member."), None
            state, pos = "value", match.end()
            continue
        else:  # after a value inside a list or an object
            closing = "]" if isinstance(top, list) else "}"
            if punct == ",":
                state, pos = ("value" if closing == "]" else "key"), match.end()
                continue
            if punct != closing:
                what = "a comma or ']' after an array element" if closing == "]" else "a comma or '}' after an object member"
                return None, (pos, f"Missing {what}."), None
            value, pos = stack.pop(), match.end()
            value = value if closing == "]" else value.members
        if not stack:
            return value, None, pos  # kParseStopWhenDoneFlag
        top = stack[-1]
        if isinstance(top, list):
            top.append(value)
        else:
            top.members.setdefault(top.name, value)
        state = "after"
    messages = {
        "start": "The document is empty.",
        "first_key": "Missing a name for object member.",
        "key": "Missing a name for object member.",
        "colon": "Missing a colon after a name of object member.",
        "value": "Invalid value.",
        "first_value": "Invalid value.",
    }
    if state == "after":
        what = "a comma or ']' after an array element" if isinstance(stack[-1], list) else "a comma or '}' after an object member"
        return None, (pos, f"Missing {what}."), None
    return None, (pos, messages[state]), None


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
        stack = [doc] if isinstance(doc, (list, dict)) else []
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

    def body_offset(char_offset):
        return reduced.body_offset(char_offset if text.isascii() else len(text[:char_offset].encode("utf-8")))

    start = len(text) - len(text.lstrip(_WHITESPACE))
    if start == len(text):
        raise invalid_argument(f"JSON Parse error: The document is empty. at offset: {_char_offset(body, len(body))}")
    error = root_end = None  # (body byte offset, message); the root value's end in the body
    try:
        # kParseStopWhenDoneFlag: what follows the root value is not read.
        doc, end = _DECODER.raw_decode(text, start)
        root_end = body_offset(end)
    except json.JSONDecodeError as e:
        if _NON_STANDARD_CONSTANT.match(text, e.pos):  # Inf, -Inf, -NaN: rapidjson's own reading
            doc, error, end = _parse_iteratively(text, start, deadline)
            if error is None:
                root_end = body_offset(end)
            else:
                error = (body_offset(error[0]), error[1])
        else:
            byte_offset = body_offset(e.pos)
            error = (byte_offset, _parse_error_message(e.msg, body, byte_offset))
    except RecursionError:  # nested deeper than Python's parser goes: rapidjson parses iteratively
        doc, error, end = _parse_iteratively(text, start, deadline)
        if error is None:
            root_end = body_offset(end)
        else:
            error = (body_offset(error[0]), error[1])
    except ValueError:  # an integer of more digits than Python converts: a number too big, found below
        error = (len(body), "")
    big = _first_number_too_big(reduced, body, arrays, min(root_end or len(body), error[0] if error else len(body)))
    if big is not None:
        error = (big, "Number too big to be stored in double.")
    if error is not None:
        raise invalid_argument(f"JSON Parse error: {error[1]} at offset: {_char_offset(body, error[0])}")
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


# json_tensor.cc: kMaxJsonDebugStringBytes. Quoting stops once this many bytes are written.
MAX_JSON_DEBUG_STRING_BYTES = 256
_ESCAPES = {i: "\\u%04X" % i for i in range(0x20)}
_ESCAPES.update({0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"})
_DENSE_TOKEN = re.compile(rb"[\[\]]|[^,\[\]\s]+")


def _rapid_string(text):
    return '"' + text.translate(_ESCAPES) + '"'


def _rapid_double(value):
    """rapidjson's Writer::Double (Grisu shortest digits, Prettify); None for NaN and infinities."""
    if not math.isfinite(value):
        return None  # the writer fails without kWriteNanAndInfFlag, and quoting stops there
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    _, digit_tuple, k = decimal.Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    length = len(digits)
    kk = length + k
    if 0 <= k and kk <= 21:
        text = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        text = digits[:kk] + "." + digits[kk:]
    elif -6 < kk <= 0:
        text = "0." + "0" * -kk + digits
    elif length == 1:
        text = f"{digits}e{kk - 1}"
    else:
        text = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + text


def _rapid_scalar(value):
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return _rapid_string(value)
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return str(value)
    return _rapid_double(float(value))  # beyond 64 bits rapidjson keeps a double


def _dense_events(array):
    for match in _DENSE_TOKEN.finditer(array.body, array.start, array.end):
        token = match.group()
        yield (token.decode(),) if token in (b"[", b"]") else ("v", json.loads(token))


def _events(value):
    """The rapidjson handler calls of ``value``: ("{",), ("k", name), ("v", scalar), ("}",), ... lazily."""
    stack = [iter((value,))]
    while stack:
        item = next(stack[-1], stack)
        if item is stack:
            stack.pop()
        elif isinstance(item, tuple):
            yield item
        elif isinstance(item, dict):
            yield ("{",)
            members = itertools.chain.from_iterable((("k", k), v) for k, v in item.items())
            stack.append(itertools.chain(members, (("}",),)))
        elif isinstance(item, list):
            yield ("[",)
            stack.append(itertools.chain(item, (("]",),)))
        elif isinstance(item, DenseArray):
            stack.append(_dense_events(item))
        else:
            yield ("v", item)


def json_value_to_string(value):
    """A JSON value as TF Serving quotes it in error messages (``JsonValueToDebugString``).

    rapidjson's PrettyWriter with ``kFormatSingleLineArray`` (arrays on one line, objects
    indented by 4), stopped once :data:`MAX_JSON_DEBUG_STRING_BYTES` are written: the text may
    be cut anywhere. It walks the value without recursion and reads a dense array only as far
    as it prints it.
    """
    parts, size, levels = [], 0, []  # levels: [in an array, values written]
    for event in _events(value):
        if size >= MAX_JSON_DEBUG_STRING_BYTES:
            break
        kind = event[0]
        if kind in ("}", "]"):
            _, count = levels.pop()
            text = "\n" + " " * (4 * len(levels)) + "}" if kind == "}" and count else kind
        else:
            text = ""
            if levels:
                level = levels[-1]
                if level[0]:
                    text = ", " if level[1] else ""
                else:
                    text = (",\n" if level[1] % 2 == 0 else ": ") if level[1] else "\n"
                    text += " " * (4 * len(levels)) if level[1] % 2 == 0 else ""
                level[1] += 1
            if kind in ("{", "["):
                levels.append([kind == "[", 0])
                text += kind
            else:
                scalar = _rapid_string(event[1]) if kind == "k" else _rapid_scalar(event[1])
                if scalar is None:
                    parts.append(text)
                    break
                text += scalar
        parts.append(text)
        size += len(text.encode("utf-8"))
    return "".join(parts)


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


def _convert_value(value, dtype):
    """AddValueToTensor: one JSON scalar -> a Python value for the tensor."""
    if dtype in (DT_FLOAT, DT_DOUBLE):
        if not _is_number(value):
            raise _type_error(value, dtype)
        # GetFloat() / GetDouble(): any number, through a double (TF Serving dropped its
        # precision check in 2021); beyond float range a float is infinite.
        return float(value)
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
        # Read as doubles and cast, as GetFloat() does; numbers beyond a double fail the parse.
        return lambda values, tokens: np.zeros(len(values), bool)
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
    if dtype in (DT_FLOAT, DT_DOUBLE):
        if array.dtype.kind == "i" and array.size and np.abs(array).max() > (1 << 53):
            return None  # numpy's int64 -> float32 cast skips the double GetFloat() goes through
        with np.errstate(over="ignore"):  # beyond float range: infinite, as the C++ cast makes it
            return array.astype(_NUMPY[dtype])
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
    with np.errstate(over="ignore"):  # a double beyond float range: infinite, as the C++ cast makes it
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

"""Dense numeric JSON arrays, found and read straight from the request bytes.

``json.loads`` turns every number of a REST body into a Python object and every innermost list
into a Python list: about 80 bytes per number, 20 times the float32 tensor they become (a 38 MB
body of pixels needs 300+ MB before a single array exists). The arrays clients send are nearly
always *dense*: numbers only, every list at a level equally long. Such an array is found here
by vectorised scans of the bytes, its shape is read from its bracket skeleton, and its numbers
are parsed chunk by chunk into one preallocated numpy array, so reading it costs the tensor
plus a few MiB, whatever the body holds.

:func:`find_dense_arrays` returns the outermost dense arrays of at least ``min_bytes`` bytes;
anything else (strings, objects, booleans, ragged or invalid arrays) is left to the JSON parser
of :mod:`keras_cvcls.serving.json_tensor`, which also decides what each number means for a
dtype: this module only reads numbers, it never rejects one.
"""

import json
import re
import time

import numpy as np

from keras_cvcls.serving.status import Code, ServingError

# JSON whitespace is these four; \f and \v are not.
_WS = rb" \t\n\r"
_NUMCHARS = rb"0-9.eE+\-"
_CLASS = rb"[" + _NUMCHARS + rb",\[\]" + _WS + rb"]"
# A JSON number of at most 64 digits before and after the point (longer ones, which Python
# may refuse to convert, are left to the JSON parser).
_NUM = rb"-?+(?:0|[1-9][0-9]{0,63}+)(?:\.[0-9]{1,64}+)?+(?:[eE][+\-]?+[0-9]{1,8}+)?+(?![" + _NUMCHARS + rb"])"
_W = rb"[" + _WS + rb"]*+"
_VALUE = rb"(?:\[" + _W + rb")*+" + _NUM + _W
# Numbers and brackets in JSON's order: '[' or a number after '[' and ',', ',' or ']' after a
# number and ']'. With balanced brackets, exactly the arrays of numbers without empty lists.
_CLOSE = rb"(?:\]" + _W + rb")*+"
_NUMBER_ARRAY_TOKENS = re.compile(_W + _VALUE + rb"(?:" + _CLOSE + rb"," + _W + _VALUE + rb")*+" + _CLOSE)
_FIRST_NUMBER = re.compile(_NUM)
# A tensor has at most 64 dimensions (numpy's limit); an array deeper than that along its first
# elements holds nothing that can be a tensor's value.
MAX_RANK = 64
_TOO_DEEP = re.compile(rb"(?:\[" + _W + rb"){%d}" % (MAX_RANK + 1))
_STRING = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_BRACKETS_TO_SPACES = bytes.maketrans(b"[]", b"  ")
_NOT_STRUCTURE = b" \t\n\r0123456789.eE+-"
_CHUNK_BYTES = 1 << 20


def _table(chars):
    table = np.zeros(256, bool)
    table[list(chars)] = True
    return table


_IS_NUMBER_CHAR = _table(b"0123456789.eE+-")
_IS_FRACTION_CHAR = _table(b".eE")


def check_deadline(deadline):
    """Raises DEADLINE_EXCEEDED once ``time.monotonic()`` passes ``deadline`` (None: no deadline)."""
    if deadline is not None and time.monotonic() > deadline:
        raise ServingError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded")


class DenseValueError(Exception):
    """A number of a dense array that the value converter refused.

    Attributes:
        index: the number's position in the flattened array.
        error: the converter's :class:`~keras_cvcls.serving.status.ServingError`.
    """

    def __init__(self, index, error):
        super().__init__(error.message)
        self.index = index
        self.error = error


class DenseArray:
    """A dense JSON array of numbers, kept as ``body[start:end]`` until it is converted.

    Attributes:
        shape: the list lengths, outermost first (all positive).
    """

    __slots__ = ("body", "start", "end", "shape")

    def __init__(self, body, start, end, shape):
        self.body, self.start, self.end, self.shape = body, start, end, tuple(shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __repr__(self):
        return f"DenseArray(shape={list(self.shape)}, bytes={self.end - self.start})"

    def first_value(self):
        """The first number, as the JSON parser reads it (an int or a float)."""
        match = _FIRST_NUMBER.search(self.body, self.start, self.end)
        return json.loads(match.group())

    def to_list(self):
        """The nested lists ``json.loads`` makes of the text (for small arrays in error messages)."""
        return json.loads(self.body[self.start : self.end])

    def to_array(self, dtype, suspicious, convert, *, deadline=None):
        """Parses the numbers into a flat numpy array of ``dtype``.

        Args:
            dtype: the numpy dtype of the result.
            suspicious: ``f(values, tokens) -> bool mask`` of the numbers (``values``: parsed as
                float64; ``tokens``: a :class:`Tokens` of their text) that a plain cast to
                ``dtype`` may get wrong; they go through ``convert`` one by one.
            convert: ``f(value) -> value`` for one JSON number (``int`` or ``float``); it raises
                :class:`ServingError` for a number the dtype does not take.
            deadline: a ``time.monotonic()`` time; past it, DEADLINE_EXCEEDED.

        Returns:
            A 1-D array of ``self.size`` values.

        Raises:
            DenseValueError: the first number ``convert`` refuses, with its flat index.
            ServingError: DEADLINE_EXCEEDED.
        """
        out = np.empty(self.size, dtype)
        integer = np.dtype(dtype).kind in "iub"
        filled, pos, end = 0, self.start, self.end
        while pos < end:
            check_deadline(deadline)
            cut = end if end - pos <= _CHUNK_BYTES else self.body.find(b",", pos + _CHUNK_BYTES, end)
            cut = end if cut < 0 else cut
            chunk = self.body[pos:cut]
            values = np.fromstring(chunk.translate(_BRACKETS_TO_SPACES), np.float64, sep=",")
            if len(values) != chunk.count(b",") + 1 or filled + len(values) > self.size:  # checked when found
                raise ServingError(Code.INTERNAL, "dense JSON array changed while it was read")
            tokens = Tokens(chunk)
            zeros = (values == 0) & np.signbit(values)
            if zeros.any():  # "-0" is the integer 0; only "-0.0" is the float -0.0
                values[zeros & tokens.is_int] = 0.0
            target = out[filled : filled + len(values)]
            with np.errstate(invalid="ignore", over="ignore"):  # such numbers are suspicious, and redone below
                target[...] = values.astype(np.int64).astype(dtype) if integer else values.astype(dtype)
            for i in np.flatnonzero(suspicious(values, tokens)):
                try:
                    value = convert(json.loads(tokens.text(i)))
                except ServingError as e:
                    raise DenseValueError(filled + int(i), e) from None
                try:
                    target[i] = value
                except OverflowError:  # an int32 for an int8 input: TF Serving keeps the low bits
                    target[i] = np.int64(value).astype(dtype)
            filled += len(values)
            pos = cut + 1
        return out


class Tokens:
    """The number tokens of a piece of a dense array, found when first asked for."""

    def __init__(self, chunk):
        self._chunk = chunk
        self._bounds = None

    def _find(self):
        if self._bounds is None:
            chars = np.frombuffer(self._chunk, np.uint8)
            edges = np.diff(_IS_NUMBER_CHAR[chars].view(np.int8), prepend=np.int8(0), append=np.int8(0))
            starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            fractions = np.add.reduceat(_IS_FRACTION_CHAR[chars].view(np.uint8), starts) if len(starts) else starts
            self._bounds = starts, stops, fractions == 0
        return self._bounds

    @property
    def is_int(self):
        """True for the numbers written without a fraction or an exponent (JSON integers)."""
        return self._find()[2]

    @property
    def lengths(self):
        """Characters in each number."""
        starts, stops, _ = self._find()
        return stops - starts

    def text(self, i):
        starts, stops, _ = self._find()
        return self._chunk[starts[i] : stops[i]]


def _canonical_length(dims):
    """Length of the bracket-and-comma skeleton of a dense array of shape ``dims``."""
    length = 0
    for d in reversed(dims):
        length = 2 + d * length + (d - 1)
    return length


def _skeleton_is_dense(skeleton, at, dims):
    """True when ``skeleton[at:]`` starts with the canonical skeleton of shape ``dims``."""
    length = _canonical_length(dims)
    if skeleton[at : at + 1] != b"[" or skeleton[at + length - 1 : at + length] != b"]":
        return False
    d = dims[0]
    if len(dims) == 1:
        return skeleton.count(b",", at + 1, at + length - 1) == d - 1
    child = _canonical_length(dims[1:])
    if not _skeleton_is_dense(skeleton, at + 1, dims[1:]):
        return False
    pattern = b"," + bytes(skeleton[at + 1 : at + 1 + child])
    return skeleton.count(pattern, at + 1 + child, at + length - 1) == d - 1


def _dense_shape(body, start, end, deadline, tokens_checked=False):
    """``(shape, tokens_ok)``: the shape if ``body[start:end]`` is a dense JSON array of numbers,
    else None; whether it holds numbers in JSON's order (so it is ragged or too deep if not dense).

    ``body[start:end]`` is a balanced run of number characters, whitespace, commas and brackets;
    ``tokens_checked``: its tokens are known to be in order (it is inside a ragged array).
    """
    if not tokens_checked and not _NUMBER_ARRAY_TOKENS.fullmatch(body, start, end):
        return None, False
    return _skeleton_shape(body, start, end, deadline), True


def _skeleton_shape(body, start, end, deadline):
    """The shape of a JSON array of numbers if it is dense, read from its brackets and commas."""
    check_deadline(deadline)
    skeleton = b"".join(
        body[pos : min(pos + _CHUNK_BYTES, end)].translate(None, _NOT_STRUCTURE)
        for pos in range(start, end, _CHUNK_BYTES)
    )
    rank = 0
    while rank <= MAX_RANK and rank < len(skeleton) and skeleton[rank] == ord("["):
        rank += 1
    if rank > MAX_RANK:
        return None
    dims, inner = [], 0  # inner: skeleton length of one element of the level below
    for level in range(rank - 1, -1, -1):
        closes = skeleton.find(b"]" * (rank - level))
        length = closes + (rank - level) - level
        if closes < 0 or (length - 1) % (inner + 1):
            return None
        dims.insert(0, (length - 1) // (inner + 1))
        inner = length
    if not dims or min(dims) < 1 or len(skeleton) != _canonical_length(dims):
        return None
    return dims if _skeleton_is_dense(skeleton, 0, dims) else None


def _outermost_arrays(body, start, end, min_bytes, deadline):
    """``[(start, end)]`` of the outermost balanced ``[...]`` of ``min_bytes`` or more inside ``body[start:end]``.

    ``body[start:end]`` holds only number characters, whitespace, commas and brackets, and may
    begin or end inside arrays. Linear time and a few MiB of memory: the depth after each
    bracket is computed chunk by chunk, with its running minimum from the left and from the
    right, which say for each bracket whether its partner, and its parent's partner, lie
    inside the run.
    """
    bounds = list(range(start, end, _CHUNK_BYTES)) + [end]

    def brackets(a, b):
        chars = np.frombuffer(body, np.uint8, count=b - a, offset=a)
        where = np.flatnonzero((chars == ord("[")) | (chars == ord("]")))
        opening = chars[where] == ord("[")
        return where + a, opening, np.cumsum(np.where(opening, 1, -1), dtype=np.int64)

    first_depth, chunk_min, depth = [], [], 0
    for a, b in zip(bounds, bounds[1:]):
        check_deadline(deadline)
        _, _, steps = brackets(a, b)
        first_depth.append(depth)
        chunk_min.append(depth + int(steps.min()) if len(steps) else depth)
        depth += int(steps[-1]) if len(steps) else 0
    suffix_min = np.minimum.accumulate(chunk_min[::-1])[::-1].tolist() + [np.iinfo(np.int64).max]
    spans, pending, prefix_min = [], None, 0  # prefix_min: min(0, depths before the chunk)
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        check_deadline(deadline)
        where, opening, steps = brackets(a, b)
        if not len(where):
            continue
        d = first_depth[k] + steps
        left = np.minimum(np.minimum.accumulate(d), prefix_min)
        left_before = np.concatenate(([prefix_min], left[:-1]))
        right = np.minimum(np.minimum.accumulate(d[::-1])[::-1], suffix_min[k + 1])
        right_after = np.concatenate((right[1:], [suffix_min[k + 1]]))
        # '[' opens from depth b = d-1; ']' closes back to b = d. A bracket's partner is in the
        # run when the depth reaches b on the other side; its parent is complete when the
        # depth reaches b-1 on both sides. Outermost: partner in, parent not complete.
        level = np.where(opening, d - 1, d)
        parent_complete = (left_before <= level - 1) & (right_after <= level - 1)
        opens = where[opening & (right_after <= level) & ~parent_complete]
        closes = where[~opening & (left_before <= level) & ~parent_complete] + 1
        prefix_min = int(left[-1])
        if pending is not None and len(closes):
            if closes[0] - pending >= min_bytes:
                spans.append((pending, int(closes[0])))
            closes, pending = closes[1:], None
        if len(opens) > len(closes):
            pending, opens = int(opens[-1]), opens[:-1]
        large = closes - opens >= min_bytes
        spans.extend(zip(opens[large].tolist(), closes[large].tolist()))
    return spans


def _number_runs(body, min_bytes):
    """``[(start, end)]`` of the runs of at least ``min_bytes`` number characters, whitespace,
    commas and brackets outside JSON strings."""
    short = rb"|" + _CLASS + rb"{1,%d}+(?!" % (min_bytes - 1) + _CLASS + rb")" if min_bytes > 1 else b""
    skip = rb"(?:" + _STRING + rb"|[^\"" + _NUMCHARS + rb",\[\]" + _WS + rb"]++" + short + rb")*+"
    pattern = re.compile(skip + rb"(" + _CLASS + rb"{%d,}+)" % min_bytes)
    runs, pos = [], 0
    # match, not finditer: a failed match has skipped to the end (or to an unterminated string,
    # which ends the JSON anyway); retrying one byte further on would rescan the rest each time.
    while match := pattern.match(body, pos):
        runs.append(match.span(1))
        pos = match.end()
    return runs


def find_dense_arrays(body, min_bytes, *, deadline=None):
    """The outermost dense arrays of numbers of at least ``min_bytes`` bytes in a JSON text.

    A balanced array that is not dense (ragged, or holding a malformed number) is searched for
    dense arrays inside it, so a body that is dense but for one corner keeps most of it here.

    Args:
        body: the request body (``bytes``).
        min_bytes: smaller arrays are left to the JSON parser.
        deadline: a ``time.monotonic()`` time; past it, DEADLINE_EXCEEDED.

    Returns:
        A list of :class:`DenseArray`, in body order, not overlapping.
    """
    found = []
    todo = [(start, end, 0, False) for start, end in _number_runs(body, min_bytes)]
    while todo:
        start, end, depth, tokens_checked = todo.pop()
        for a, b in _outermost_arrays(body, start, end, min_bytes, deadline):
            shape, tokens_ok = _dense_shape(body, a, b, deadline, tokens_checked)
            if shape is not None:
                found.append(DenseArray(body, a, b, shape))
            elif depth < MAX_RANK and not _TOO_DEEP.match(body, a):  # ragged or malformed: look inside
                todo.append((a + 1, b - 1, depth + 1, tokens_ok))
    found.sort(key=lambda array: array.start)
    return found

"""Canonical status codes, the server's error type and TF Serving's HTTP mapping."""

import enum
import re

# Eager TensorFlow prefixes op errors with where the graph was traced; TF Serving's sessions
# report the op's own message, so the prefix is dropped.
_EAGER_PREFIX = re.compile(
    r"^Graph execution error:\s*(?:Detected at node .*? defined at \(most recent call last\):\n"
    r"(?:<stack traces unavailable>\n|(?:.*\n)*?)(?=\S))?",
)
_EAGER_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\]\s*$")


class Code(enum.IntEnum):
    """The canonical (gRPC / absl) status codes, numbered as TensorFlow and gRPC number them."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# TF Serving's ToHTTPStatusCode (tensorflow_serving/model_servers/http_server.cc).
HTTP_STATUS = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


class ServingError(Exception):
    """An error the server answers with: a canonical code and TF Serving's message.

    Args:
        code: a :class:`Code`.
        message: the text clients receive (REST ``{"error": message}``, gRPC details).
    """

    def __init__(self, code, message):
        super().__init__(message)
        self.code = Code(code)
        self.message = message

    @property
    def http_status(self):
        return HTTP_STATUS[self.code]

    @classmethod
    def from_tf_error(cls, error):
        """Maps a ``tf.errors.OpError`` (its code numbering is the canonical one)."""
        return cls(Code(error.error_code), _EAGER_SUFFIX.sub("", _EAGER_PREFIX.sub("", error.message, count=1)).strip())

    def __repr__(self):
        return f"ServingError({self.code.name}, {self.message!r})"


def invalid_argument(*parts):
    return ServingError(Code.INVALID_ARGUMENT, "".join(str(p) for p in parts))


def not_found(*parts):
    return ServingError(Code.NOT_FOUND, "".join(str(p) for p in parts))

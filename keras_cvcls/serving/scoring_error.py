"""``ScoringError``: what every scoring call raises when the server (or the transport) says no."""


class ScoringError(Exception):
    """A scoring call failed; ``message`` is the server's (or the transport's) own text.

    Attributes:
        code: the canonical status name, e.g. ``"NOT_FOUND"``, ``"INVALID_ARGUMENT"``,
            ``"UNAVAILABLE"``, ``"DEADLINE_EXCEEDED"``.
        message: the error message.
        http_status: the HTTP status (REST), else None.
    """

    def __init__(self, code, message, http_status=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status

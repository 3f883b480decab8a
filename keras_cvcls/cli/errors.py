"""How the command line ends: exit codes, and errors as one line (or one JSON object under ``--json``)."""

import json
import sys

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and failed (server error, weights unavailable, ...)
EXIT_USAGE = 2  # the user's input is wrong (argparse's own code)
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class UsageError(Exception):
    """A user mistake: reported as one line (or one JSON object), exit code 2."""


def report_error(message, kind, *, as_json=False, exit_code=EXIT_FAILED):
    """Reports an error and returns the exit code to end with.

    Without ``--json``: ``keras-cvcls: error: MESSAGE`` on stderr. With ``--json``: exactly one
    JSON object ``{"error": MESSAGE, "kind": KIND}`` on stdout, so a script reading stdout
    always gets JSON.

    Args:
        message: what went wrong and what to do.
        kind: a short machine-readable category, e.g. ``"usage"``, ``"invalid_value"``,
            ``"not_found"``, ``"scoring"``, ``"weights_unavailable"``, ``"interrupted"``.
        as_json: whether the command was given ``--json``.
        exit_code: the code returned.

    Returns:
        ``exit_code``.

    Example:
        >>> return report_error("version 5 already exists", "exists", as_json=args.json)
    """
    if as_json:
        print(json.dumps({"error": str(message), "kind": kind}, ensure_ascii=False), flush=True)
    else:
        print(f"keras-cvcls: error: {message}", file=sys.stderr, flush=True)
    return exit_code

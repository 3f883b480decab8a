"""Scores from a serialized scoring result, as cvtk's ``parse_serialized_result`` read them."""

import json

import numpy as np


def parse_serialized_result(serialized):
    """Scores from a serialized result, as cvtk's ``parse_serialized_result`` returned them.

    Accepts :meth:`ScoringResult.to_json` output (or a list of them), a TF Serving REST
    response body (``predictions`` or ``outputs``), or a plain JSON list of scores.

    Args:
        serialized: a JSON string or bytes, or the already parsed object.

    Returns:
        float32 scores: ``[C]`` for one image, ``[N, C]`` for several.

    Raises:
        ValueError: when no scores can be found.

    Example:
        >>> scores = parse_serialized_result(client.score_image("cat.jpg").to_json())
        >>> client.class_map[int(np.argmax(scores))]
        'cat'
    """
    value = json.loads(serialized) if isinstance(serialized, (str, bytes, bytearray)) else serialized

    def numeric(x):
        try:
            array = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError):
            return None
        return array if array.ndim >= 1 else None

    def from_row(row):
        if isinstance(row, dict):
            if "scores" in row:
                return numeric(row["scores"])
            found = [a for a in (numeric(v) for v in row.values()) if a is not None]
            return found[0] if len(found) == 1 else None
        return numeric(row)

    result = None
    if isinstance(value, dict):
        if "scores" in value:
            result = numeric(value["scores"])
        elif "predictions" in value:
            rows = [from_row(r) for r in value["predictions"]]
            result = None if any(r is None for r in rows) else np.stack(rows)
        elif "outputs" in value:
            result = from_row(value["outputs"])
    elif isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            rows = [from_row(v) for v in value]
            result = None if any(r is None for r in rows) else np.stack(rows)
        else:
            result = numeric(value)
    if result is None:
        raise ValueError(f"no scores found in the serialized result. Received: serialized={str(serialized)[:200]!r}")
    return result

"""The download manifest: one JSON object per line, appended as work is done.

Records are keyed; when a key repeats, the last record wins, so a re-run can
append without rewriting the file, and a run cut short loses at most the line
being written.
"""

import datetime
import json
import os
import threading

MANIFEST_FILENAME = "manifest.jsonl"
# Record types.
IMAGE, SEARCH = "image", "search"
# Image statuses.
OK, DUPLICATE, FAILED = "ok", "duplicate", "failed"


class Manifest:
    """Reads and appends ``manifest.jsonl``.

    Image records: ``{"type": "image", "key", "label", "source", "status", ...}``
    with ``status`` ``"ok"`` (plus ``file``, ``sha256``, ``dhash``, ``format``,
    ``width``, ``height``), ``"duplicate"`` (plus ``sha256``, ``duplicate_of``,
    ``distance``) or ``"failed"`` (plus ``reason``, ``permanent``). Search records:
    ``{"type": "search", "key", "label", "query", "count", "results"}``.

    Args:
        path: the manifest file (created on first append).
    """

    def __init__(self, path):
        self.path = path
        self._latest = {}
        self._lock = threading.Lock()
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a line cut short by an interrupted run
                    if isinstance(record, dict) and "key" in record:
                        self._latest[record["key"]] = record

    def get(self, key):
        return self._latest.get(key)

    def records(self, type_=IMAGE):
        return [r for r in self._latest.values() if r.get("type") == type_]

    def append(self, record):
        record = {**record, "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._latest[record["key"]] = record
        return record

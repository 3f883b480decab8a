"""The download manifest: one JSON object per line, appended as work is done.

Records are keyed; when a key repeats, the last record wins, so a re-run can
append without rewriting the file, and a run cut short loses at most the line
being written. Each record is appended with one ``write`` to a file opened with
``O_APPEND``, so records never interleave, and a line left unfinished by a killed
run is ended before the next record, which therefore stays readable.
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
        self._unfinished_line = False
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    self._unfinished_line = not line.endswith("\n")
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
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._unfinished_line:
                line = b"\n" + line
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                written = os.write(fd, line)
                while written < len(line):  # a regular file takes it in one write; a signal may cut it short
                    written += os.write(fd, line[written:])
            finally:
                os.close(fd)
            self._unfinished_line = False
            self._latest[record["key"]] = record
        return record

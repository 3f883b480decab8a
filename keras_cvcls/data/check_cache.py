"""The image-check cache (``ROOT/.keras_cvcls/checks.json``): each file's check result, keyed by its content.

A result is reused only while the file's :func:`content_digest` is unchanged. Size and
modification time are not enough: a file rewritten with other bytes of the same size and its
old modification time (a copy tool, a restore, a hostile writer) would be trusted, and the
promise that a file that passed its check cannot fail training would break.
"""

import dataclasses
import hashlib
import json
import os

from keras_cvcls.data.json_files import write_json_atomic

CHECK_CACHE_FILENAME = "checks.json"
FORMAT_VERSION = 2  # version 1 kept "entries" keyed by size and mtime (a new key: older versions re-check, not crash)
DIGEST_CHUNK_BYTES = 64 * 1024


def content_digest(path):
    """A digest of a file's size, its first 64 KiB and its last 64 KiB (the whole of a small file).

    Cheap (at most 128 KiB read), and it changes when an image is rewritten: the headers
    and the end of the data (where truncation shows) are in the bytes read.

    Raises:
        OSError: when the file cannot be read.
    """
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        digest.update(str(size).encode() + b"\0")
        digest.update(f.read(DIGEST_CHUNK_BYTES))
        if size > DIGEST_CHUNK_BYTES:
            f.seek(max(DIGEST_CHUNK_BYTES, size - DIGEST_CHUNK_BYTES))
            digest.update(f.read(DIGEST_CHUNK_BYTES))
    return digest.hexdigest()


class CheckCache:
    """Check results by image id, valid while the file's content digest matches.

    Args:
        path: the JSON file, or None for no cache.
        max_pixels: the check's pixel limit; results made under another limit are not reused.
    """

    def __init__(self, path, max_pixels):
        self.path, self.max_pixels, self.entries, self.dirty = path, max_pixels, {}, False
        if path and os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
                if data.get("version") == FORMAT_VERSION and data.get("max_pixels") == max_pixels:
                    self.entries = dict(data.get("images", {}))
            except (OSError, ValueError, AttributeError):
                self.entries = {}

    def get(self, key, digest):
        """The cached ``{"info": dict or None, "reason": str or None}`` for this content, or None."""
        entry = self.entries.get(key)
        if isinstance(entry, dict) and entry.get("digest") == digest:
            return entry
        return None

    def put(self, key, digest, info=None, reason=None):
        """Records a result: ``info`` (an ``ImageInfo``) for a good file, ``reason`` for a bad one."""
        self.entries[key] = {"digest": digest, "info": dataclasses.asdict(info) if info else None, "reason": reason}
        self.dirty = True

    def save(self):
        if not (self.path and self.dirty):
            return
        try:
            write_json_atomic(self.path, {"version": FORMAT_VERSION, "max_pixels": self.max_pixels, "images": self.entries})
        except OSError:
            pass  # a read-only data folder only costs a re-check next time

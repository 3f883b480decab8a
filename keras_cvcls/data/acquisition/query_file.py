"""The cvtk query file: ``{"label": ["text query", "../folder", "https://host/img.jpg"], ...}``."""

import dataclasses
import json
import os
import re

from keras_cvcls.data.acquisition.safe_paths import safe_label

ENTRY_KINDS = ("folder", "url", "query")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PATH_PREFIXES = ("./", "../", "/", "~", ".\\", "..\\", "\\")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


@dataclasses.dataclass(frozen=True)
class QueryEntry:
    """One entry of a query file.

    Attributes:
        label: the label as written in the query file.
        folder: the safe folder name the label's images go to (see :func:`safe_label`).
        kind: ``"folder"`` (a local folder of images), ``"url"`` (one image) or
            ``"query"`` (a text query for an image-search provider).
        value: the absolute folder path, the URL, or the query text.
        text: the entry exactly as written.
    """

    label: str
    folder: str
    kind: str
    value: str
    text: str


def classify_entry(text, base_dir):
    """Classifies one entry as a local folder, a URL or a text query.

    Anything that starts with a URL scheme (``scheme://``) is a URL; whether its
    scheme is allowed (only http and https) is decided when it is fetched, so a
    ``file://`` or ``ftp://`` entry is reported as a failure, not searched for.
    Entries written as paths (``./x``, ``../x``, ``/x``, ``~/x``, ``C:\\x``) are
    folders, resolved against ``base_dir``; so are entries with a path
    separator that name an existing folder. Everything else is a text query.

    Args:
        text: the entry, stripped of surrounding whitespace.
        base_dir: the query file's folder.

    Returns:
        ``(kind, value)``.
    """
    if _URL.match(text):
        return "url", text
    resolved = os.path.abspath(os.path.join(base_dir, os.path.expanduser(text)))
    if text in (".", "..") or text.startswith(_PATH_PREFIXES) or _DRIVE.match(text):
        return "folder", resolved
    if ("/" in text or "\\" in text) and os.path.isdir(resolved):
        return "folder", resolved
    return "query", text


def read_query_file(path):
    """Reads a cvtk query file into :class:`QueryEntry` s, in file order.

    The file is a JSON object mapping each label to a list of entries (a single
    string is accepted too); relative folders are resolved against the query
    file's folder. Labels become safe folder names with :func:`safe_label`.

    Args:
        path: the JSON file.

    Returns:
        A list of :class:`QueryEntry`.

    Raises:
        ValueError: if the file is missing or not valid JSON of that shape, a
            label is unusable, or two labels map to the same folder.

    Example:
        >>> entries = read_query_file("queries.json")  # {"cat": ["cat photo", "../cats"]}
        >>> [(e.folder, e.kind) for e in entries]
        [('cat', 'query'), ('cat', 'folder')]
    """
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise ValueError(f"query_file must be an existing JSON file. Received: query_file={path!r}")
    path = os.fspath(path)

    def no_duplicate_keys(pairs):
        keys = [k for k, _ in pairs]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"The query file repeats label(s) {repeated}. Received: query_file={path!r}")
        return dict(pairs)

    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f, object_pairs_hook=no_duplicate_keys)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"Cannot read the query file as JSON ({e}). Received: query_file={path!r}") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(
            'The query file must hold a non-empty JSON object {"label": ["query", "../folder", "https://..."], ...}. '
            f"Received: {type(data).__name__} in query_file={path!r}"
        )
    base_dir = os.path.dirname(os.path.abspath(path))
    entries, folders = [], {}
    for label, items in data.items():
        folder = safe_label(label)
        if folders.setdefault(folder.casefold(), label) != label:
            raise ValueError(
                f"Labels {folders[folder.casefold()]!r} and {label!r} map to the same folder {folder!r}. "
                f"Received: label={label!r}"
            )
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list) or not items:
            raise ValueError(f"Each label needs a non-empty list of entries. Received: {label!r}: {items!r}")
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise ValueError(f"Entries must be non-empty strings. Received: {label!r}: {item!r}")
            kind, value = classify_entry(item.strip(), base_dir)
            entries.append(QueryEntry(label, folder, kind, value, item))
    return entries

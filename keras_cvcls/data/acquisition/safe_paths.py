"""Safe folder and file names, and the containment check made before every write.

Labels, URL paths and server headers (``Content-Disposition``) are untrusted
text: they become one path component each, never a path, and every write is
checked (with :func:`os.path.realpath`) to land inside the output folder.
"""

import os
import re
import unicodedata

# Characters that are path separators, control characters or forbidden on Windows.
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
# Names the folder-dataset reader treats as hidden system files.
_SYSTEM_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}
MAX_LABEL_CHARS = 100
MAX_STEM_CHARS = 80


class UnsafePathError(ValueError):
    """A write that would land outside the output folder."""


def _clean_component(text, max_chars):
    text = unicodedata.normalize("NFC", text)
    text = _UNSAFE_CHARS.sub("_", text)
    # Invisible format characters (e.g. right-to-left overrides that disguise an
    # extension), surrogates and line separators.
    text = "".join("_" if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in text)
    # Leading dots would hide the entry (or make it "." / ".."); trailing dots and
    # spaces are dropped by Windows.
    text = text.strip().lstrip(".").strip()
    text = text[:max_chars].rstrip(". ")
    if text.split(".")[0].upper() in _WINDOWS_RESERVED or text.lower() in _SYSTEM_NAMES:
        text += "_"
    return text


def safe_label(label):
    """Turns a label into a safe folder name (one path component).

    Path separators split the label into parts; empty, ``.`` and ``..`` parts
    are dropped and the rest joined with ``_``, so ``"../escape"`` becomes
    ``"escape"`` and ``"/abs/path"`` becomes ``"abs_path"``. Characters that are
    unsafe in file names become ``_``; leading dots are removed (a dot-folder
    would be hidden from the dataset).

    Args:
        label: the label as written in the query file.

    Returns:
        The folder name.

    Raises:
        ValueError: if the label is not a string or has no usable characters.

    Example:
        >>> safe_label("../escape")
        'escape'
    """
    if not isinstance(label, str):
        raise ValueError(f"A label must be a string. Received: label={label!r}")
    parts = [p for p in re.split(r"[/\\]+", label) if p.strip() not in ("", ".", "..")]
    name = _clean_component("_".join(parts), MAX_LABEL_CHARS)
    if not name:
        raise ValueError(f"A label must contain at least one letter or digit usable in a folder name. Received: label={label!r}")
    return name


def safe_stem(hint, default="image"):
    """Turns an untrusted file name (URL path, header, file) into a safe file stem.

    Only the last path component of ``hint`` is kept (after turning ``\\`` into
    ``/``), its extension is dropped (the caller adds the one matching the
    image's real format), unsafe characters become ``_`` and leading dots are
    removed.

    Example:
        >>> safe_stem("../../evil.jpg")
        'evil'
    """
    name = (hint or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = os.path.splitext(name)[0]
    stem = _clean_component(stem, MAX_STEM_CHARS)
    return stem or default


def ensure_inside(root_real, path):
    """Raises :class:`UnsafePathError` unless ``path`` resolves inside ``root_real``.

    Args:
        root_real: the output folder, already passed through :func:`os.path.realpath`.
        path: the path about to be written (it need not exist yet).

    Returns:
        ``path``, for chaining.
    """
    real = os.path.realpath(path)
    if real != root_real and os.path.commonpath([root_real, real]) != root_real:
        raise UnsafePathError(f"refusing to write outside the output folder: {path} resolves to {real}")
    return path

"""File names and labels a dataset can hold: no control characters, valid UTF-8.

A ``\\n`` in a file name fakes lines in ``dataset info``; in a label it trains, and is refused only
when the model is exported. Datasets leave such files out when they are created, with the reason,
and print unsafe names as their Python ``repr``.
"""

import unicodedata

# Control characters, line and paragraph separators, and lone surrogates (bytes that are not UTF-8).
_UNSAFE_CATEGORIES = {"Cc": "the control character", "Zl": "the line separator", "Zp": "the paragraph separator"}


def name_problem(name):
    """Why ``name`` (a file name, folder name, relative path or label) cannot be used, or None.

    Example:
        >>> name_problem("cat 1.jpg") is None, name_problem(chr(10)) is None
        (True, False)
    """
    for ch in name:
        category = unicodedata.category(ch)
        if category == "Cs":
            return "is not valid UTF-8 (it holds an undecodable byte)"
        if category in _UNSAFE_CATEGORIES:
            return f"contains {_UNSAFE_CATEGORIES[category]} {ch!r}"
    return None


def printable(name):
    """``name`` as it is, or its ``repr`` when it holds a character that would break a line of output."""
    return name if name_problem(name) is None else repr(name)

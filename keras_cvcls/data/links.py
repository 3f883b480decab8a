"""Symbolic links in a dataset folder: those leading out of it are not followed.

A link inside a dataset folder whose target lies inside the folder is an
ordinary file or label folder. One whose target lies outside it is left out,
and listed among the dataset's skipped files with the target and the remedy:
a dataset is what its folder holds, so the UI never serves, and training never
reads, a file elsewhere on the machine (say, another user's photos linked into
a shared dataset).
"""

import os


def is_within(path, folder):
    """True if ``path`` is ``folder`` or lies below it, comparing the paths as written.

    Args:
        path: a path.
        folder: a folder's path.

    Example:
        >>> is_within("/data/photos/cat/1.jpg", "/data/photos")
        True
    """
    path, folder = os.path.abspath(os.fspath(path)), os.path.abspath(os.fspath(folder))
    return os.path.commonpath([path, folder]) == folder


def outside_target(path, real_root):
    """The real target of ``path`` if it is a link leading outside ``real_root``, else None.

    Args:
        path: a file or folder inside the dataset folder.
        real_root: the dataset folder's real path (``os.path.realpath``).

    Returns:
        The link's resolved target (which may not exist), or None when ``path`` is
        not a link or resolves inside ``real_root``.
    """
    if not os.path.islink(path):
        return None
    target = os.path.realpath(path)
    return None if is_within(target, real_root) else target


_REMEDIES = {
    "file": "copy the file into the dataset to use it",
    "folder": "copy its images into the dataset to use them",
    "label folder": "the label is left out; copy its images into the dataset to use them",
}


def outside_link_reason(target, kind="file"):
    """The reason recorded for a link leading outside the dataset folder.

    Args:
        target: the link's resolved target.
        kind: ``"file"``, ``"folder"`` or ``"label folder"``.
    """
    return f"symbolic link to a {kind} outside the dataset folder ({target}): not followed; {_REMEDIES[kind]}"

"""Thumbnails for the browser views, made on first request and cached on disk, privately.

A thumbnail is a JPEG no larger than ``size`` x ``size`` pixels, turned upright
by its EXIF orientation. It is cached under a name derived from the image id,
the file's real path, modification time and size, and the thumbnail size, so a
changed file gets a new thumbnail and an unchanged one is never decoded twice.

The cache is the user's own: by default ``$XDG_CACHE_HOME/keras_cvcls/thumbs``
(``~/.cache/keras_cvcls/thumbs``), one folder per dataset, made with mode 0700,
never a shared or predictable temporary folder, nor the dataset folder, which
other users of a shared dataset can write. A cache folder that another user owns
or can write is refused, and a cached file is served only if it is a regular file
of the user's own (not a link), so a thumbnail planted by someone else is never
shown: it is made again.
"""

import hashlib
import io
import os
import stat
import tempfile

from PIL import Image

from keras_cvcls.data.upright_image import open_upright

CACHE_DIRNAME = "keras_cvcls"
THUMBS_DIRNAME = "thumbs"


def user_cache_dir():
    """Returns the user's keras-cvcls cache folder: ``$XDG_CACHE_HOME/keras_cvcls`` or ``~/.cache/keras_cvcls``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification says.

    Returns:
        The path of a folder (not created).
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, CACHE_DIRNAME)


def default_cache_dir(root):
    """Returns the thumbnail folder of a dataset: ``user_cache_dir()/thumbs/<hash of ROOT's real path>``.

    Args:
        root: the dataset's folder, or None (a dataset made from a list of files).

    Returns:
        The path of a folder (not created).
    """
    source = os.path.realpath(os.fspath(root)) if root is not None else "-"
    digest = hashlib.sha256(os.fsencode(source)).hexdigest()[:16]
    return os.path.join(user_cache_dir(), THUMBS_DIRNAME, digest)


def make_private_dir(path, *, top=None):
    """Creates ``path`` if needed and checks that no one else can write in it or swap it.

    Args:
        path: the folder.
        top: ``path`` or a folder above it (default: ``path``). Every folder from
            ``top`` down to ``path`` is created with mode 0700 if missing, and must
            be a folder (not a link) of the user's own that only the user can write.

    Returns:
        ``path``, absolute.

    Raises:
        ValueError: if a folder from ``top`` down to ``path`` cannot be created, is a
            link or not a folder, belongs to another user, or can be written by the
            group or others.

    Example:
        >>> make_private_dir(default_cache_dir("photos/"), top=user_cache_dir())
    """
    path = os.path.abspath(os.fspath(path))
    top = path if top is None else os.path.abspath(os.fspath(top))
    if os.path.commonpath([path, top]) != top:
        raise ValueError(f"top must be path or a folder above it. Received: path={path!r}, top={top!r}")
    chain = [path]
    while chain[-1] != top:
        chain.append(os.path.dirname(chain[-1]))
    for folder in reversed(chain):  # top first
        try:
            if folder == top:
                os.makedirs(os.path.dirname(top), exist_ok=True)
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                pass
            st = os.lstat(folder)
        except OSError as e:
            raise ValueError(
                f"Cannot create the thumbnail cache folder {folder} ({e.strerror}). Set XDG_CACHE_HOME to a "
                f"folder you can write, or pass thumb_cache_dir=. Received: thumb cache folder={folder!r}"
            ) from None
        problem = None
        if stat.S_ISLNK(st.st_mode):
            problem = "is a link, not a folder"
        elif not stat.S_ISDIR(st.st_mode):
            problem = "is not a folder"
        elif st.st_uid != os.geteuid():
            problem = f"belongs to another user (uid {st.st_uid})"
        elif st.st_mode & 0o022:
            problem = f"can be written by other users (mode {stat.S_IMODE(st.st_mode):o})"
        if problem:
            raise ValueError(
                f"The thumbnail cache folder {folder} {problem}, so thumbnails found there cannot be trusted. "
                "Remove it (or chmod 700 it, if it is yours), or pass thumb_cache_dir= a private folder. "
                f"Received: thumb cache folder={folder!r}"
            )
    return path


def _own_regular_file(path):
    """True if ``path`` is a regular file (not a link) of the user's own."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()


def make_thumbnail(path, size=160, *, quality=85):
    """Decodes an image and returns a JPEG thumbnail of it.

    Args:
        path: the image file.
        size: the longest side of the thumbnail, in pixels.
        quality: JPEG quality.

    Returns:
        The JPEG bytes.

    Raises:
        OSError: if the file cannot be read or decoded.

    Example:
        >>> jpeg = make_thumbnail("photos/cat/1.jpg", size=128)
    """
    image = open_upright(path, draft_size=(2 * size, 2 * size), background=(255, 255, 255))
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


class ThumbnailCache:
    """JPEG thumbnails on disk, keyed by image id, real path, file modification time and size.

    A cached file is used only if it is a regular file of the user's own; anything
    else found under its name is replaced by a new thumbnail. :meth:`for_dataset`
    makes the private cache of a dataset, checked when made.

    Args:
        cache_dir: folder for the thumbnails (created on first write).
        size: the longest side of a thumbnail, in pixels.

    Raises:
        ValueError: if ``size`` is not an int between 16 and 1024.

    Example:
        >>> cache = ThumbnailCache.for_dataset("photos/", size=160)
        >>> jpeg_path = cache.get("cat/1.jpg", "photos/cat/1.jpg")
    """

    def __init__(self, cache_dir, size=160):
        if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 1024:
            raise ValueError(f"size must be an int between 16 and 1024. Received: size={size!r}")
        self.cache_dir = os.fspath(cache_dir)
        self.size = size

    @classmethod
    def for_dataset(cls, root, size=160, *, cache_dir=None):
        """The thumbnail cache of a dataset, in a private folder made (and checked) now.

        Args:
            root: the dataset's folder, or None.
            size: the longest side of a thumbnail, in pixels.
            cache_dir: a folder of your choice instead of :func:`default_cache_dir`;
                it must be yours and writable by you only.

        Raises:
            ValueError: for a bad ``size``, or a cache folder others can write (see
                :func:`make_private_dir`).
        """
        cache = cls(default_cache_dir(root) if cache_dir is None else cache_dir, size=size)
        cache.cache_dir = make_private_dir(cache.cache_dir, top=user_cache_dir() if cache_dir is None else None)
        return cache

    def key(self, image_id, path):
        """Returns the cache key of an image: changes when the file changes.

        Raises:
            OSError: if the file is gone.
        """
        st = os.stat(path)
        text = f"{image_id}\0{os.path.realpath(path)}\0{st.st_mtime_ns}\0{st.st_size}\0{self.size}"
        return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()

    def path_for(self, key):
        """Returns where the thumbnail with this key is (or will be) stored."""
        return os.path.join(self.cache_dir, key[:2], key + ".jpg")

    def get(self, image_id, path):
        """Returns the path of the image's thumbnail, making it if needed.

        Args:
            image_id: the image's id in its dataset.
            path: the image file.

        Returns:
            Path of a JPEG file.

        Raises:
            OSError: if the image cannot be read or decoded.
        """
        target = self.path_for(self.key(image_id, path))
        if _own_regular_file(target):
            return target
        jpeg = make_thumbnail(path, self.size)
        directory = os.path.dirname(target)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(jpeg)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return target

    def clear(self):
        """Deletes every cached thumbnail; returns how many were deleted."""
        removed = 0
        if not os.path.isdir(self.cache_dir):
            return 0
        for dirpath, _, filenames in os.walk(self.cache_dir):
            for name in filenames:
                if name.endswith(".jpg"):
                    os.remove(os.path.join(dirpath, name))
                    removed += 1
        return removed

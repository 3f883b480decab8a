"""Thumbnails for the browser views, made on first request and cached on disk.

A thumbnail is a JPEG no larger than ``size`` x ``size`` pixels, turned upright
by its EXIF orientation. It is cached under a name derived from the image id,
the file's modification time and size, and the thumbnail size, so a changed
file gets a new thumbnail and an unchanged one is never decoded twice.
"""

import hashlib
import io
import os
import tempfile

from PIL import Image

from keras_cvcls.data.label_fixes import SIDECAR_DIRNAME
from keras_cvcls.data.upright_image import open_upright

THUMBS_DIRNAME = "thumbs"


def default_cache_dir(root):
    """Returns ``ROOT/.keras_cvcls/thumbs``, or a folder in the temp dir when ``root`` is None or read-only.

    Args:
        root: the dataset's folder, or None.

    Returns:
        The path of a folder (not created).
    """
    if root is not None:
        sidecar = os.path.join(os.fspath(root), SIDECAR_DIRNAME)
        probe = sidecar if os.path.isdir(sidecar) else os.fspath(root)
        if os.access(probe, os.W_OK):
            return os.path.join(sidecar, THUMBS_DIRNAME)
    digest = hashlib.sha1(os.fsencode(os.path.abspath(os.fspath(root)) if root else b"-")).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"keras_cvcls-thumbs-{digest}")


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
    """JPEG thumbnails on disk, keyed by image id, file modification time and size.

    Args:
        cache_dir: folder for the thumbnails (created on first write).
        size: the longest side of a thumbnail, in pixels.

    Raises:
        ValueError: if ``size`` is not an int between 16 and 1024.

    Example:
        >>> cache = ThumbnailCache("photos/.keras_cvcls/thumbs", size=160)
        >>> jpeg_path = cache.get("cat/1.jpg", "photos/cat/1.jpg")
    """

    def __init__(self, cache_dir, size=160):
        if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 1024:
            raise ValueError(f"size must be an int between 16 and 1024. Received: size={size!r}")
        self.cache_dir = os.fspath(cache_dir)
        self.size = size

    def key(self, image_id, path):
        """Returns the cache key of an image: changes when the file changes.

        Raises:
            OSError: if the file is gone.
        """
        st = os.stat(path)
        text = f"{image_id}\0{st.st_mtime_ns}\0{st.st_size}\0{self.size}"
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
        if os.path.exists(target):
            return target
        jpeg = make_thumbnail(path, self.size)
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
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

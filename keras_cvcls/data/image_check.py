"""Image validation at dataset-creation time.

Every file is checked once, when a dataset is created, with the same decoder the
training pipeline and the serving signature use (TensorFlow's), so a bad file is
reported up front with a reason instead of failing an epoch half-way through.
Pillow's warnings about a file (a malformed EXIF block makes one per broken tag) are reported
as one :class:`ImageWarning` naming it.
"""

import dataclasses
import os
import warnings

from PIL import Image, UnidentifiedImageError

from keras_cvcls.data.pillow_warnings import gathering_pillow_warnings

# Pillow's own decompression-bomb threshold (about 89.5 megapixels, e.g. 10,000 x 8,950).
DEFAULT_MAX_PIXELS = 89_478_485

# Formats TensorFlow decodes (and so training and TF Serving can read).
SUPPORTED_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "GIF": "gif", "BMP": "bmp", "WEBP": "webp"}
# Extensions that announce an image. Files with any other extension are not images.
IMAGE_EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp",
    ".tif", ".tiff", ".heic", ".heif", ".avif", ".ico", ".ppm", ".pgm", ".pbm", ".pnm", ".psd", ".jp2", ".svg",
}
EXIF_ORIENTATION_TAG = 274


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What the check learnt about a good image."""

    format: str
    width: int
    height: int
    mode: str
    orientation: int = 1


class BadImageError(ValueError):
    """A file that cannot be used as a training image; the message is the reason."""


class ImageWarning(UserWarning):
    """A usable image Pillow had complaints about (e.g. a malformed EXIF block), reported once per file."""


def is_hidden(name):
    return name.startswith(".") or name in {"Thumbs.db", "desktop.ini", "__MACOSX"}


def _sniff(path):
    with open(path, "rb") as f:
        head = f.read(512)
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<svg", b"<")):
        return "it holds HTML/XML text"
    try:
        head.decode("utf-8")
        return "it holds text"
    except UnicodeDecodeError:
        return "its content is not a recognised image format"


def inspect_image(path, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Reads an image's header: format, size, mode and EXIF orientation.

    Cheap: no pixel data is decoded. Pillow's warnings pass through: :func:`check_image`
    gathers them.

    Raises:
        BadImageError: with the reason the file cannot be used.
    """
    ext = os.path.splitext(path)[1].lower()
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise BadImageError(f"cannot read file: {e.strerror}") from None
    if size == 0:
        raise BadImageError("empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            fmt, (width, height), mode = im.format, im.size, im.mode
            orientation = 1
            if fmt in SUPPORTED_FORMATS:
                try:
                    orientation = int(im.getexif().get(EXIF_ORIENTATION_TAG, 1) or 1)
                except Exception:  # a broken EXIF block does not make the pixels unusable
                    orientation = 1
    except Image.DecompressionBombError as e:
        raise BadImageError(f"too large (possible decompression bomb): {e}") from None
    except UnidentifiedImageError:
        raise BadImageError(f"not an image: {_sniff(path)} (extension {ext or 'none'})") from None
    except OSError as e:
        raise BadImageError(f"corrupt or truncated image (unreadable header): {e}") from None
    if fmt not in SUPPORTED_FORMATS:
        raise BadImageError(
            f"unsupported format {fmt}: convert it to JPEG or PNG "
            f"(supported: {', '.join(sorted(set(SUPPORTED_FORMATS.values())))})"
        )
    if width * height > max_pixels:
        raise BadImageError(
            f"too large: {width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels} "
            "(possible decompression bomb; raise max_pixels if the image is genuine)"
        )
    if orientation not in range(1, 9):
        orientation = 1
    return ImageInfo(fmt, width, height, mode, orientation)


def _tf_message(error):
    message = str(getattr(error, "message", error)).strip()
    message = message.split("[Op:")[0].strip()
    if "}}" in message:
        message = message.split("}}", 1)[1].strip()
    return message or type(error).__name__


def decode_check(path):
    """Fully decodes the file: with Pillow (clear messages), then with TensorFlow.

    TensorFlow's decoder is the one training and serving use, so a file that
    passes cannot fail mid-epoch; Pillow goes first because it names the problem
    (e.g. "image file is truncated") without C++ log lines. Pillow's warnings pass through:
    :func:`check_image` gathers them.

    Raises:
        BadImageError: when the pixel data is corrupt or truncated.
    """
    import tensorflow as tf

    try:
        with Image.open(path) as im:
            im.draft("RGB", (64, 64))  # JPEG: decode at 1/8 scale; every byte is still parsed
            im.load()
    except Image.DecompressionBombError as e:
        raise BadImageError(f"too large (possible decompression bomb): {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise BadImageError(f"corrupt or truncated image data: {e}") from None
    try:
        data = tf.io.read_file(path)
        tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.OpError as e:
        raise BadImageError(f"corrupt or truncated image data: {_tf_message(e)}") from None


def check_image(path, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Checks one file; returns its :class:`ImageInfo` or raises :class:`BadImageError`.

    Whatever Pillow warns about a usable file (a malformed EXIF block: one warning per broken
    tag) is reported as one :class:`ImageWarning` that names the file. Safe to call from
    several threads at once.
    """
    with gathering_pillow_warnings() as caught:
        info = inspect_image(path, max_pixels=max_pixels)
        decode_check(path)
    if caught:
        warnings.warn(
            ImageWarning(
                f"{path!r}: Pillow reported {len(caught)} problem(s) reading this image (first: {caught[0]!r}), "
                f"e.g. a malformed EXIF block. Its pixels decode, so it is used, with EXIF orientation "
                f"{info.orientation}; re-save it to repair the metadata."
            ),
            stacklevel=2,
        )
    return info

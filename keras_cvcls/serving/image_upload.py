"""The bytes a scoring client uploads for an image: turned upright, scaled down when asked.

Scaling keeps the aspect ratio and never enlarges, so the served model crops the same window
of the picture as it would from the original; see :func:`prepare_image`.
"""

import io

from keras_cvcls.data.upright_image import open_upright

_JPEG_QUALITY = 95


def check_resize_dims(dims):
    """``image_resize_dims`` checked: None, one positive int, or a ``(width, height)`` pair of them."""
    if dims is None:
        return None
    if isinstance(dims, int) and not isinstance(dims, bool) and dims > 0:
        return dims
    try:
        w, h = (int(d) for d in dims)
    except (TypeError, ValueError):
        w = h = 0
    if w <= 0 or h <= 0:
        raise ValueError(
            "image_resize_dims must be a (width, height) pair of positive ints, or one int for the shorter "
            f"side. Received: image_resize_dims={dims!r}"
        )
    return (w, h)


def _image_header(data):
    """``(EXIF orientation, (width, height) as stored)``, or None when PIL cannot read ``data``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.getexif().get(0x0112, 1) or 1), image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None  # not an image PIL knows: sent as is, the server reports why it cannot decode it


def _upload_size(size, image_resize_dims):
    """The ``(width, height)`` an upright image of ``size`` is uploaded at: aspect ratio kept.

    The image is scaled down, by one factor for both sides, to the smallest size that still
    covers ``image_resize_dims``, and never scaled up. The served model fits the upload to its
    input size itself (centre-crop, pad or stretch, as it was trained); a uniformly scaled upload
    gives it the same picture as the original, whereas stretching to ``(width, height)`` would
    distort every photo whose aspect ratio differs.

    Args:
        size: ``(width, height)`` of the upright image.
        image_resize_dims: ``(width, height)``: the upload is at least this large in both
            sides; one int: the shorter side; None: ``size``.

    Returns:
        ``(width, height)``; ``size`` itself when the image is already no larger.

    Example:
        >>> _upload_size((600, 400), (224, 224))
        (336, 224)
        >>> _upload_size((600, 400), 200), _upload_size((100, 80), (224, 224))
        ((300, 200), (100, 80))
    """
    dims = check_resize_dims(image_resize_dims)
    width, height = size
    if dims is None:
        return (width, height)
    if isinstance(dims, int):
        scale = dims / min(width, height)
    else:
        scale = max(dims[0] / width, dims[1] / height)
    if scale >= 1:
        return (width, height)
    return (max(1, round(width * scale)), max(1, round(height * scale)))


def prepare_image(data, image_resize_dims=None):
    """Bytes to upload: turned upright (EXIF orientation) and scaled down client-side when asked.

    Scaling keeps the aspect ratio: ``(width, height)`` is the size the upload must still
    cover (the image is scaled by ``max(width / W, height / H)``), one int the shorter side;
    an image already no larger is never scaled up. The served model then crops or pads the
    same window of the picture as it would from the original, so the scores differ from the
    original's only by resampling and JPEG re-encoding; stretching to ``(width, height)``
    would distort every photo of another aspect ratio.
    Untouched bytes are sent when the image is upright and needs no scaling; otherwise the
    image is re-encoded as JPEG (quality 95).

    Args:
        data: encoded image bytes.
        image_resize_dims: ``(width, height)``, one int (shorter side), or None.

    Returns:
        Encoded image bytes.
    """
    from PIL import Image

    check_resize_dims(image_resize_dims)
    header = _image_header(data)
    if header is None:
        return data
    orientation, (width, height) = header
    if orientation in (5, 6, 7, 8):  # turned a quarter: upright, the sides swap
        width, height = height, width
    size = _upload_size((width, height), image_resize_dims)
    if orientation == 1 and size == (width, height):
        return data
    image = open_upright(data)
    if size != image.size:
        image = image.resize(size, Image.BICUBIC)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=_JPEG_QUALITY)
    return buf.getvalue()

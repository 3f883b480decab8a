"""Opening an image with Pillow the way the model sees it: turned upright by EXIF, in RGB.

TensorFlow's decoder (``data/decode.py``) applies the EXIF orientation and drops alpha; every
place that reads pixels with Pillow (thumbnails, figures, offline augmentation, duplicate
hashes, client-side resizing) goes through :func:`open_upright` so it sees the same picture.
"""

import io
import os
import warnings


def open_upright(source, *, mode="RGB", draft_size=None, background=None, max_pixels=None):
    """An image turned upright by its EXIF orientation, converted to ``mode``, pixels loaded.

    Args:
        source: a file path, encoded bytes, a binary file object, or a ``PIL.Image.Image``.
        mode: ``"RGB"`` (default) or ``"L"`` (grey).
        draft_size: ``(width, height)``: let a JPEG decode at a reduced scale no smaller than
            this (faster thumbnails and hashes); None decodes at full size.
        background: an RGB colour to composite transparent pixels onto (display); None drops
            alpha as TensorFlow's decoder does.
        max_pixels: refuse images larger than this many pixels; None uses Pillow's own limit.

    Returns:
        A ``PIL.Image.Image`` in ``mode``, independent of the file (which is closed).

    Raises:
        BadImageError: when the image exceeds ``max_pixels``.
        OSError: when the file cannot be read or is not an image Pillow knows
            (``PIL.UnidentifiedImageError`` is an ``OSError``).

    Example:
        >>> image = open_upright("photos/cat/1.jpg")
        >>> image.mode
        'RGB'
    """
    from PIL import Image

    if mode not in ("RGB", "L"):
        raise ValueError(f'mode must be "RGB" or "L". Received: mode={mode!r}')
    if isinstance(source, Image.Image):
        _check_pixels(source, max_pixels)
        return _upright(source, mode, background)
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    elif isinstance(source, os.PathLike):
        source = os.fspath(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # palette transparency, EXIF oddities
        with Image.open(source) as image:
            _check_pixels(image, max_pixels)
            if draft_size is not None:
                image.draft(mode, tuple(draft_size))
            return _upright(image, mode, background)


def _check_pixels(image, max_pixels):
    if max_pixels is not None and image.width * image.height > max_pixels:
        from keras_cvcls.data.image_check import BadImageError

        raise BadImageError(
            f"too large: {image.width}x{image.height} pixels exceeds max_pixels={max_pixels}; raise max_pixels "
            "if the image is genuine"
        )


def _upright(image, mode, background):
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image)
    if background is not None and (image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, tuple(background))
        image.paste(rgba, mask=rgba.getchannel("A"))
    elif image.mode in ("P", "PA", "LA", "RGBA", "I;16", "I", "F", "CMYK") and mode == "L":
        image = image.convert("RGB")
    image = image.convert(mode)
    image.load()
    return image

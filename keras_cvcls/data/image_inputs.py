"""Raw images in, model-ready pixels out: what ``predict_images`` and ``classify`` accept.

One image or a list of them, each one of:

- a path (``str`` or ``os.PathLike``) to an image file;
- an ``http(s)://`` URL, fetched by the hardened fetcher of ``data/acquisition`` (public
  addresses only unless ``allow_private_addresses``, every redirect checked, a wall-clock
  timeout, size cap, content-type check, bounded redirects and retries);
- encoded bytes (a JPEG, PNG, ... file's content);
- a PIL image;
- a numpy array ``[H, W, 3]`` (RGB) or ``[H, W]`` (grey) of any size, pixel values in
  [0, 255]; a ``[N, H, W, 3]`` array is N images.

Files, URLs and bytes go through the same checks as a dataset's files (``check_image``: pixel
cap, corrupt data, unsupported formats) and then through ``decode_image``, the function the
training pipeline and the exported serving signature run, EXIF orientation included. PIL
images are turned upright by their EXIF tag; arrays are taken as they are. Both are then
cropped and resized by the same code as decoded files.
"""

import contextlib
import os
import tempfile

import numpy as np

from keras_cvcls.data.decode import decode_image, fit_image, normalize_image_size
from keras_cvcls.data.image_check import DEFAULT_MAX_PIXELS, BadImageError, check_image
from keras_cvcls.data.upright_image import open_upright


def _describe(image):
    if _is_url(image):
        from keras_cvcls.data.acquisition.fetch import without_credentials

        return repr(without_credentials(image))
    if isinstance(image, (str, os.PathLike)):
        return repr(os.fspath(image))
    if isinstance(image, (bytes, bytearray)):
        return f"<{len(image)} bytes>"
    if isinstance(image, np.ndarray):
        return f"<array {image.shape} {image.dtype}>"
    return f"<{type(image).__name__}>"


def _is_url(value):
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def _as_list(images):
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images)
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("Expected at least one image. Received: images=[]")
        return list(images)
    return [images]


@contextlib.contextmanager
def _temporary_path():
    handle, path = tempfile.mkstemp(prefix="keras-cvcls-image-")
    os.close(handle)
    try:
        yield path
    finally:
        if os.path.exists(path):
            os.remove(path)


def _checked_file(path, max_pixels):
    """Runs the dataset checks on an image file; returns its bytes and EXIF orientation."""
    orientation = check_image(path, max_pixels=max_pixels).orientation
    with open(path, "rb") as f:
        return f.read(), orientation


def _fetched(url, max_pixels, allow_private_addresses):
    from keras_cvcls.data.acquisition.fetch import FetchError, fetch_image_bytes

    try:
        data = fetch_image_bytes(url, allow_private_addresses=allow_private_addresses)
    except FetchError as e:
        raise BadImageError(f"could not fetch it: {e}") from None
    return _checked_bytes(data, max_pixels)


def _checked_bytes(data, max_pixels):
    with _temporary_path() as path:
        with open(path, "wb") as f:
            f.write(data)
        return _checked_file(path, max_pixels)


def _array_pixels(image):
    from PIL import Image

    if isinstance(image, Image.Image):
        image = np.asarray(open_upright(image))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4) or 0 in image.shape:
        raise BadImageError(f"expected an [H, W, 3] RGB or [H, W] grey array, got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise BadImageError(f"expected numbers, got dtype {image.dtype}")
    pixels = image[..., :3].astype("float32")
    if not np.isfinite(pixels).all():
        raise BadImageError("the array holds NaN or infinite values")
    return pixels


def load_images(images, image_size, *, resize_mode="crop", max_pixels=DEFAULT_MAX_PIXELS, allow_private_addresses=None):
    """Turns raw images into a float32 batch ``[N, H, W, 3]`` in [0, 255], as training sees them.

    Args:
        images: one image or a list (see the module docstring for the accepted kinds).
        image_size: int or ``(height, width)``, the model's input size.
        resize_mode: ``"crop"``, ``"pad"`` or ``"stretch"``, the model's.
        max_pixels: largest image accepted (decompression-bomb guard), as for datasets.
        allow_private_addresses: also fetch URLs on loopback, private and link-local
            addresses (None: ``$KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES``, else False).

    Returns:
        A numpy array ``[N, height, width, 3]``.

    Raises:
        ValueError: For an input of an unknown kind, or (``BadImageError``) an image that
            cannot be used; the message names the image and the reason.

    Example:
        >>> load_images(["cat.jpg", "https://example.org/dog.png"], 224).shape
        (2, 224, 224, 3)
    """
    import tensorflow as tf
    from PIL import Image

    from keras_cvcls.data.acquisition.public_address import private_addresses_allowed

    size = normalize_image_size(image_size)
    if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:] == (*size, 3) and len(images):
        # A batch already at the model's size: fitting each image would leave it as it is.
        try:
            return _array_pixels(images.reshape(-1, size[1], 3)).reshape(images.shape)
        except BadImageError as e:
            raise BadImageError(f"The images cannot be used: {e}. Received: images of shape {images.shape}") from None
    allow_private = private_addresses_allowed(allow_private_addresses)
    batch = []
    for index, image in enumerate(_as_list(images)):
        try:
            if isinstance(image, (Image.Image, np.ndarray)):
                batch.append(fit_image(tf.constant(_array_pixels(image)), size, resize_mode=resize_mode).numpy())
                continue
            if _is_url(image):
                data, orientation = _fetched(image, max_pixels, allow_private)
            elif isinstance(image, (str, os.PathLike)):
                path = os.fspath(image)
                if not os.path.isfile(path):
                    raise BadImageError("no such file (pass a path, an http(s) URL, bytes, a PIL image or an array)")
                data, orientation = _checked_file(path, max_pixels)
            elif isinstance(image, (bytes, bytearray)):
                data, orientation = _checked_bytes(bytes(image), max_pixels)
            else:
                raise ValueError(
                    "Expected a path, an http(s) URL, bytes, a PIL image or a numpy array. "
                    f"Received: images[{index}] of type {type(image).__name__}"
                )
            batch.append(decode_image(tf.constant(data), size, resize_mode=resize_mode, orientation=orientation).numpy())
        except BadImageError as e:
            raise BadImageError(f"Image {index} ({_describe(image)}) cannot be used: {e}. Received: images[{index}]={_describe(image)}") from None
    return np.stack(batch)

"""Encoded bytes from whatever names an image: a path, an ``http(s)://`` URL, bytes, PIL, an array."""

import io
import os

import numpy as np


def is_url(value):
    """True for an ``http://`` or ``https://`` string."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def read_image_bytes(image, *, timeout, allow_private_addresses=None):
    """The encoded bytes of ``image``, downloading a URL within ``timeout`` seconds.

    URLs go through the dataset downloader's hardened fetcher: public addresses only (every
    redirect checked, the connection pinned to the checked address) unless
    ``allow_private_addresses``, a size cap, image content types only, and ``timeout`` as a
    wall-clock limit on the whole download.

    Args:
        image: a file path, an ``http(s)://`` URL, encoded bytes, a PIL image or a uint8
            array ``[H, W, 3]`` (PIL images and arrays are encoded as PNG).
        timeout: seconds a download may take.
        allow_private_addresses: also download from loopback, private and link-local
            addresses (None: ``$KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES``, else False).

    Returns:
        The encoded image as bytes (not decoded or checked here: the server says what is wrong).

    Raises:
        ValueError: for an unsupported ``image`` or a URL that cannot be downloaded.
        FileNotFoundError: for a missing file.

    Example:
        >>> data = read_image_bytes("photos/cat/1.jpg", timeout=10)
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if is_url(image):
        from keras_cvcls.data.acquisition.fetch import FetchError, FetchOptions, fetch_image_bytes, without_credentials

        try:
            return fetch_image_bytes(image, options=FetchOptions(timeout=timeout, total_timeout=timeout),
                                     allow_private_addresses=allow_private_addresses)
        except FetchError as e:
            raise ValueError(
                f"Could not download the image ({e}); check the URL. Received: image={without_credentials(image)!r}"
            ) from None
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:
            return f.read()
    return _encode_in_memory(image)


def _encode_in_memory(image):
    from PIL import Image

    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(
                f"an array image must be uint8 [H, W] or [H, W, C]. Received: array of shape {image.shape}, "
                f"dtype {image.dtype}"
            )
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise ValueError(
            "image must be a file path, an http(s) URL, encoded bytes, a PIL image or a uint8 array. "
            f"Received: image of type {type(image).__name__}"
        )
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()

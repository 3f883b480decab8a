"""Image sizes read from headers in the graph, and decode_image's pixel cap (issue 13, item 2)."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_cvcls.data.decode import decode_image
from keras_cvcls.data.encoded_size import encoded_image_size
from keras_cvcls.data.image_check import DEFAULT_MAX_PIXELS


def _encode(image, fmt, **kwargs):
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _formats():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8))
    top_down = bytearray(_encode(image, "BMP"))
    top_down[22:26] = (-37 & 0xFFFFFFFF).to_bytes(4, "little")  # a negative height: rows stored top-down
    return {
        "jpeg": _encode(image, "JPEG"),
        "png": _encode(image, "PNG"),
        "gif": _encode(image, "GIF"),
        "bmp": _encode(image, "BMP"),
        "bmp top-down": bytes(top_down),
        "webp lossy (VP8)": _encode(image, "WEBP", lossless=False),
        "webp lossless (VP8L)": _encode(image, "WEBP", lossless=True),
        "webp extended (VP8X)": _encode(image.convert("RGBA"), "WEBP", exif=b"Exif\0\0MM"),
    }


@pytest.mark.parametrize("name", list(_formats()))
def test_every_format_tensorflow_decodes_has_its_size_read(name):
    data = _formats()[name]
    height, width = encoded_image_size(tf.constant(data))
    assert (int(height), int(width)) == (37, 53)
    assert tf.io.decode_image(data, channels=3, expand_animations=False).shape[:2] == (37, 53)


@pytest.mark.parametrize("data", [b"", b"\x89PN", b"not an image at all, just some text"])
def test_other_bytes_have_no_size(data):
    assert [int(x) for x in encoded_image_size(tf.constant(data))] == [0, 0]


def test_an_image_over_max_pixels_is_refused_before_decoding():
    bomb = _encode(Image.new("1", (20000, 20000)), "PNG")  # 50 kB; 1.2 GB decoded to RGB
    with pytest.raises(tf.errors.InvalidArgumentError, match=(
        r"Image too large: 20000x20000 = 400000000 pixels exceeds max_pixels=89478485 \(possible decompression bomb\)"
    )):
        decode_image(tf.constant(bomb), 16, max_pixels=DEFAULT_MAX_PIXELS)
    small = _formats()["png"]
    assert decode_image(tf.constant(small), 16, max_pixels=37 * 53).shape == (16, 16, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="37 = 1961 pixels exceeds max_pixels=1960"):
        decode_image(tf.constant(small), 16, max_pixels=37 * 53 - 1)

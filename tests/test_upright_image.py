"""open_upright: the one way keras-cvcls opens an image with Pillow (upright, RGB)."""

import io

import numpy as np
import pytest
from PIL import Image

from conftest import gradient
from keras_cvcls.data import BadImageError, open_upright


def _jpeg_with_orientation(array, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", quality=95, exif=exif)
    return buf.getvalue()


@pytest.mark.parametrize("orientation, size", [(1, (64, 48)), (3, (64, 48)), (6, (48, 64)), (8, (48, 64))])
def test_exif_orientation_is_applied(tmp_path, orientation, size):
    array = gradient(48, 64)
    data = _jpeg_with_orientation(array, orientation)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    for source in (data, path, str(path), io.BytesIO(data)):
        image = open_upright(source)
        assert (image.mode, image.size) == ("RGB", size)
    upright = np.asarray(open_upright(data), np.float32)
    red_top = upright[..., 0]
    # The red channel fades downwards in the stored picture; where it ends up tells the turn.
    if orientation == 1:
        assert red_top[0].mean() > red_top[-1].mean() + 100
    if orientation == 3:
        assert red_top[-1].mean() > red_top[0].mean() + 100
    if orientation == 6:  # stored turned 90 degrees: upright, the top row is on the right
        assert red_top[:, -1].mean() > red_top[:, 0].mean() + 100
    if orientation == 8:
        assert red_top[:, 0].mean() > red_top[:, -1].mean() + 100


def test_alpha_is_dropped_or_composited_and_grey_mode():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 1] = 200  # green, fully transparent
    image = Image.fromarray(rgba, "RGBA")
    assert np.asarray(open_upright(image))[0, 0].tolist() == [0, 200, 0]  # as TensorFlow's decoder: alpha dropped
    assert np.asarray(open_upright(image, background=(255, 255, 255)))[0, 0].tolist() == [255, 255, 255]
    assert open_upright(image, mode="L").mode == "L"
    with pytest.raises(ValueError, match="Received: mode='CMYK'"):
        open_upright(image, mode="CMYK")


def test_max_pixels_and_unreadable_data():
    data = _jpeg_with_orientation(gradient(48, 64), 1)
    with pytest.raises(BadImageError, match="exceeds max_pixels=100"):
        open_upright(data, max_pixels=100)
    with pytest.raises(OSError):
        open_upright(b"not an image")

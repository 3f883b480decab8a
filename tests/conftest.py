import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# precision="auto" would pick bfloat16 on some machines and float32 on others; tests compare
# scores exactly, so they pin float32. tests/test_precision.py and the precision test of the
# CLI unset this to test "auto" itself; the bfloat16 paths have tests that ask for it.
os.environ["KERAS_CVCLS_PRECISION"] = "float32"

import numpy as np
import pytest
from PIL import Image


def gradient(h=48, w=64, seed=0):
    """A smooth RGB test image whose orientation is recognisable (red top, blue left)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = 255 * (1 - y / (h - 1))  # red fades downwards
    img[..., 2] = 255 * (1 - x / (w - 1))  # blue fades rightwards
    img[..., 1] = rng.uniform(60, 120)
    return img.astype(np.uint8)


def save(path, image, fmt=None, **kwargs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, fmt, **kwargs)
    return path


def jpeg_bytes(array, **kwargs):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def make_mixed_folder(root):
    """A folder dataset mixing good images of every odd kind with every kind of bad file.

    Returns ``(good, bad, hidden)``: dicts of relative path -> description.
    """
    good, bad, hidden = {}, {}, {}
    g = gradient()

    def put_good(rel, image, fmt=None, **kw):
        save(os.path.join(root, rel), image, fmt, **kw)
        good[rel] = rel

    put_good("cat/plain.jpg", g, quality=95)
    put_good("cat/grey.jpg", Image.fromarray(g).convert("L"))
    put_good("cat/cmyk.jpg", Image.fromarray(g).convert("CMYK"))
    put_good("cat/palette.png", Image.fromarray(g).convert("P"))
    put_good("cat/rgba.png", Image.fromarray(g).convert("RGBA"))
    put_good("cat/sixteen.png", Image.fromarray(g[..., 0].astype(np.uint16) * 257))
    put_good("dog/ünïcødé 猫 photo.jpg", g)
    put_good("dog/with space.png", g)
    put_good("dog/anim.gif", Image.fromarray(g).convert("P"))
    put_good("dog/nested/deeper.bmp", g)
    put_good("dog/photo.webp", g)
    exif = Image.Exif()
    exif[274] = 6
    put_good("dog/rotated.jpg", np.ascontiguousarray(np.rot90(g, 1)), exif=exif.tobytes(), quality=95)

    def put_bad(rel, data):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        bad[rel] = rel

    jpeg = jpeg_bytes(gradient(96, 128))
    put_bad("cat/truncated.jpg", jpeg[: len(jpeg) // 2])
    put_bad("cat/empty.jpg", b"")
    put_bad("cat/page.jpg", b"<!DOCTYPE html><html><body>Not found</body></html>")
    buf = io.BytesIO()
    Image.fromarray(gradient(96, 128)).save(buf, "PNG")
    png = bytearray(buf.getvalue())
    start = png.index(b"IDAT") + 20
    png[start : start + 200] = bytes(200)  # scrambled compressed data
    put_bad("dog/corrupt.png", bytes(png))
    buf = io.BytesIO()
    Image.fromarray(g).save(buf, "TIFF")
    put_bad("dog/scan.tiff", buf.getvalue())
    buf = io.BytesIO()
    Image.new("1", (16000, 12000)).save(buf, "PNG")  # 192 Mpx: a decompression bomb in a small file
    put_bad("dog/bomb.png", buf.getvalue())
    put_bad("dog/notes.txt", b"some notes")
    os.makedirs(os.path.join(root, "empty_label"))
    bad["empty_label"] = "empty_label"
    for rel in (".DS_Store", "cat/.hidden.jpg", "dog/._resource.jpg"):
        path = os.path.join(root, rel)
        with open(path, "wb") as f:
            f.write(b"\0\1")
        hidden[rel] = rel
    return good, bad, hidden


@pytest.fixture
def mixed_folder(tmp_path):
    root = tmp_path / "mixed"
    good, bad, hidden = make_mixed_folder(str(root))
    return str(root), good, bad, hidden


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory):
    from keras_cvcls.datasets import make_sample

    return make_sample(str(tmp_path_factory.mktemp("sample")), images_per_label=12, image_size=(48, 64))


@pytest.fixture(scope="session", autouse=True)
def _user_cache_of_the_session(tmp_path_factory):
    """Per-user caches (the UI's thumbnails in ``$XDG_CACHE_HOME/keras_cvcls``) of the tests, and of the
    processes they start, go to a folder of the session, not to the user's ``~/.cache``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import gradient, jpeg_bytes, save
from PIL import Image, ImageOps

from keras_cvcls.data import ClassificationDataset, ImageNormalization, decode_image, make_pipeline


def collect(ds):
    images, labels = [], []
    for x, y in ds:
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)


def test_batches_have_shape_dtype_and_label_ids_in_label_order(sample_dir):
    ds = ClassificationDataset.from_directory(sample_dir)
    pipeline = make_pipeline(ds, image_size=(32, 40), batch_size=5)
    x, y = next(iter(pipeline))
    assert x.shape == (5, 32, 40, 3) and x.dtype == tf.float32 and y.dtype == tf.int32
    images, labels = collect(pipeline)
    assert images.shape == (36, 32, 40, 3)
    assert labels.tolist() == ds.label_ids
    assert 0 <= images.min() and images.max() <= 255 and images.max() > 100


def test_odd_images_reach_the_model_as_upright_rgb(mixed_folder):
    root, good, _, _ = mixed_folder
    ds = ClassificationDataset.from_directory(root)
    images, _ = collect(make_pipeline(ds, image_size=(48, 64), resize_mode="stretch", batch_size=4))
    upright = gradient().astype(np.float32)
    for record, image in zip(ds.images, images):
        if record.name == "sixteen.png":
            expected = np.repeat(upright[..., :1], 3, axis=-1)  # 16-bit grey scaled to 8 bits
        elif record.name == "grey.jpg":
            expected = np.asarray(Image.fromarray(gradient()).convert("L").convert("RGB"), np.float32)
        else:
            with Image.open(record.path) as im:
                expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), np.float32)
        tolerance = 12 if record.name.endswith((".jpg", ".webp")) else 1
        assert np.abs(image - expected).mean() < tolerance, record.name
    rotated = images[[r.name for r in ds.images].index("rotated.jpg")]
    assert np.abs(rotated - upright).mean() < 3  # EXIF orientation 6 applied
    assert rotated[:4, :, 0].mean() > 200 and rotated[-4:, :, 0].mean() < 60  # red on top


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_turned_upright(tmp_path, orientation):
    upright = gradient(30, 50)
    # How a camera stores each orientation (inverse of the viewing transform).
    stored = {
        1: upright,
        2: upright[:, ::-1],
        3: upright[::-1, ::-1],
        4: upright[::-1],
        5: upright.transpose(1, 0, 2),
        6: np.rot90(upright, 1),
        7: np.rot90(upright.transpose(1, 0, 2), 2),
        8: np.rot90(upright, -1),
    }[orientation]
    exif = Image.Exif()
    exif[274] = orientation
    path = save(str(tmp_path / "a" / "x.png"), np.ascontiguousarray(stored), exif=exif.tobytes())
    with Image.open(path) as im:
        assert np.array_equal(np.asarray(ImageOps.exif_transpose(im)), upright)  # the oracle agrees
    ds = ClassificationDataset.from_directory(tmp_path)
    assert ds.images[0].orientation == orientation
    image, _ = collect(make_pipeline(ds, image_size=(30, 50), resize_mode="stretch"))
    np.testing.assert_allclose(image[0], upright, atol=1e-3)


def test_seeded_shuffle_is_deterministic_and_reshuffles_each_epoch(sample_dir):
    ds = ClassificationDataset.from_directory(sample_dir)
    a = make_pipeline(ds, image_size=16, batch_size=36, shuffle=True, seed=3)
    b = make_pipeline(ds, image_size=16, batch_size=36, shuffle=True, seed=3)
    first = [y.numpy().tolist() for _, y in a]
    assert first == [y.numpy().tolist() for _, y in b]
    assert first != [y.numpy().tolist() for _, y in a]  # second epoch differs
    assert sorted(first[0]) == sorted(ds.label_ids)


def test_cache_gives_the_same_images(sample_dir, tmp_path):
    ds = ClassificationDataset.from_directory(sample_dir)
    plain, _ = collect(make_pipeline(ds, image_size=24, batch_size=8))
    memory = make_pipeline(ds, image_size=24, batch_size=8, cache=True)
    collect(memory)
    np.testing.assert_array_equal(collect(memory)[0], plain)
    on_disk, _ = collect(make_pipeline(ds, image_size=24, batch_size=8, cache=str(tmp_path / "cache")))
    np.testing.assert_array_equal(on_disk, plain)


@pytest.mark.parametrize("mode", ["imagenet", "caffe", "tf", "unit", "raw"])
def test_normalization_matches_the_backbone_convention(sample_dir, mode):
    import keras

    ds = ClassificationDataset.from_directory(sample_dir)
    raw, _ = collect(make_pipeline(ds, image_size=16, batch_size=36))
    normed, _ = collect(make_pipeline(ds, image_size=16, batch_size=36, normalization=mode))
    expected = {
        "imagenet": (raw / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225],
        "caffe": keras.applications.resnet50.preprocess_input(raw.copy()),
        "tf": keras.applications.resnet_v2.preprocess_input(raw.copy()),
        "unit": raw / 255.0,
        "raw": raw,
    }[mode]
    np.testing.assert_allclose(normed, expected, rtol=1e-5, atol=1e-4)
    layer = ImageNormalization.from_config(ImageNormalization(mode).get_config())
    assert layer.mode == mode


def test_resize_modes():
    wide = np.zeros((40, 80, 3), np.uint8)
    wide[:, :20] = 255  # white left quarter
    data = tf.constant(jpeg_bytes(wide, quality=100))
    crop = decode_image(data, 40, resize_mode="crop").numpy()
    pad = decode_image(data, 40, resize_mode="pad").numpy()
    stretch = decode_image(data, 40, resize_mode="stretch").numpy()
    assert crop[:, :, 0].mean() < 30  # the centre 40x40 holds no white
    assert pad[:8].mean() < 5 and pad[-8:].mean() < 5  # black bars top and bottom
    assert stretch[:, :8].mean() > 200  # the white quarter squeezed to the left
    with pytest.raises(ValueError, match="Received: resize_mode='fit'"):
        decode_image(data, 40, resize_mode="fit")
    with pytest.raises(ValueError, match="Received: image_size=0"):
        decode_image(data, 0)


@pytest.mark.parametrize("shape", [(3024, 4032), (777, 1001), (1200, 300), (225, 224), (20, 30)])
@pytest.mark.parametrize("target", [224, (100, 180)])
def test_jpeg_fast_path_matches_a_full_decode(shape, target):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    image = np.stack([x * 255 / shape[1], y * 255 / shape[0], (x + y) % 256], -1)
    image = np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)
    data = tf.constant(jpeg_bytes(image, quality=95))
    fast = decode_image(data, target).numpy()
    # Oracle: the same crop from a full decode, resized with Pillow's antialiasing.
    th, tw = (target, target) if isinstance(target, int) else target
    h, w = shape
    ch, cw = min(h, round(w * th / tw)), min(w, round(h * tw / th))
    top, left = (h - ch) // 2, (w - cw) // 2
    full = Image.fromarray(image[top : top + ch, left : left + cw]).resize((tw, th), Image.BILINEAR, reducing_gap=None)
    assert fast.shape == (th, tw, 3)
    assert np.abs(fast - np.asarray(full, np.float32)).mean() < 6


def test_decode_runs_inside_a_serving_style_function_on_a_batch_of_bytes(sample_dir):
    ds = ClassificationDataset.from_directory(sample_dir)
    files = [open(r.path, "rb").read() for r in ds.images[:3]]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(image_bytes):
        return tf.map_fn(lambda b: decode_image(b, 24), image_bytes, fn_output_signature=tf.float32)

    served = serve(tf.constant(files)).numpy()
    trained, _ = collect(make_pipeline(ds.subset([r.id for r in ds.images[:3]]), image_size=24))
    np.testing.assert_array_equal(served, trained)


def test_pipeline_argument_errors(sample_dir):
    ds = ClassificationDataset.from_directory(sample_dir)
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        make_pipeline(ds, batch_size=0)
    with pytest.raises(ValueError, match="Received: mode='bgr'"):
        make_pipeline(ds, normalization="bgr")


@pytest.mark.parametrize("sizes", [[(1200, 1600)] * 3, [(1200, 1600), (300, 400), (3000, 2000)]])
def test_pipeline_planned_jpeg_ratio_matches_the_generic_decode(tmp_path, sizes):
    rng = np.random.default_rng(1)
    for i, (h, w) in enumerate(sizes):
        y, x = np.mgrid[0:h, 0:w]
        image = np.stack([x * 255 / w, y * 255 / h, rng.uniform(0, 255) + 0 * x], -1).astype(np.uint8)
        save(str(tmp_path / "d" / "a" / f"{i}.jpg"), image, quality=90)
    ds = ClassificationDataset.from_directory(tmp_path / "d")
    images, _ = collect(make_pipeline(ds, image_size=(100, 120), batch_size=8))
    for record, image in zip(ds.images, images):
        reference = decode_image(tf.io.read_file(record.path), (100, 120)).numpy()
        np.testing.assert_array_equal(image, reference)

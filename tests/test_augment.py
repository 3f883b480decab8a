import io
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")

from keras_cvcls.augment import augment_dataset, get_augmentation, get_augmentation_config, list_augmentations
from keras_cvcls.augment import augmentation_registry, register_augmentation
from keras_cvcls.data import ClassificationDataset, make_pipeline
from keras_cvcls.datasets import SAMPLE_LABELS, make_sample

SIZE = 16


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = make_sample(
        str(tmp_path_factory.mktemp("shapes")), images_per_label=4, image_size=(24, 32), labels=SAMPLE_LABELS[:2]
    )
    return ClassificationDataset.from_directory(root)


def collect(pipeline):
    return np.concatenate([x for x, _ in pipeline.as_numpy_iterator()])


def random_batch(seed=0):
    batch = np.random.default_rng(seed).uniform(0, 255, (4, SIZE, SIZE, 3)).astype("float32")
    batch[0], batch[1] = 0, 255  # extremes must stay in range
    return batch


# ---------------------------------------------------------------- presets


def test_list_augmentations():
    assert list_augmentations() == ["none", "light", "standard", "strong"]


@pytest.mark.parametrize("name", list_augmentations())
def test_every_preset_runs_in_make_pipeline_reproducibly_and_keeps_0_255(shapes, name):
    def run():
        # Sequential augmentation map: parallel calls would draw the random stream in a varying order.
        augment = get_augmentation(name, seed=0)
        pipeline = make_pipeline(shapes, image_size=SIZE, batch_size=3, augment=augment, num_parallel_calls=1)
        return collect(pipeline), collect(pipeline)

    (first, second), (again, _) = run(), run()
    plain = collect(make_pipeline(shapes, image_size=SIZE, batch_size=3))
    assert first.shape == plain.shape and first.dtype == np.float32
    assert first.min() >= 0 and first.max() <= 255
    np.testing.assert_array_equal(first, again)  # same seed, same images
    if name == "none":
        np.testing.assert_array_equal(first, plain)
    else:
        assert np.abs(first - plain).mean() > 1
        assert np.abs(first - second).mean() > 1  # new draws each epoch


@pytest.mark.parametrize("name", list_augmentations())
def test_every_preset_keeps_extreme_values_in_range(name):
    augment = get_augmentation(name, seed=1)
    for _ in range(3):
        out = keras.ops.convert_to_numpy(augment(random_batch(), training=True))
        assert out.min() >= 0 and out.max() <= 255


def test_presets_grow_in_strength():
    configs = {name: get_augmentation_config(name) for name in list_augmentations()}
    assert all(value is None for key, value in configs["none"].items() if key != "fill_mode")
    for key in ("rotation", "contrast", "brightness"):
        assert configs["standard"][key] < configs["strong"][key]
    assert configs["light"]["zoom"][0] > configs["standard"]["zoom"][0] > configs["strong"]["zoom"][0]
    assert [type(layer).__name__ for layer in get_augmentation("standard").layers] == [
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomContrast",
        "RandomBrightness",
        "ReLU",  # clips to [0, 255]
    ]


def test_none_means_no_augmentation():
    """None is the "none" preset: one Identity layer that leaves images as they are."""
    for augment in (get_augmentation(None), get_augmentation()):
        assert augment.name == "augmentation_none"
        assert [type(layer).__name__ for layer in augment.layers] == ["Identity"]
        batch = random_batch()
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(augment(batch, training=True)), batch)
    assert get_augmentation_config(None) == get_augmentation_config("none")


@pytest.fixture
def isolated_presets(monkeypatch):
    """A copy of the augmentation registry, so tests can register presets without leaking them."""
    monkeypatch.setattr(augmentation_registry, "_REGISTRY", dict(augmentation_registry._REGISTRY))


def test_register_augmentation_options(isolated_presets):
    register_augmentation("flips", {"flip": "horizontal_and_vertical", "rotation": 0.1})
    assert list_augmentations() == ["none", "light", "standard", "strong", "flips"]
    assert get_augmentation_config("flips")["rotation"] == 0.1
    augment = get_augmentation("flips", seed=0, rotation=None)
    assert augment.name == "augmentation_flips"
    assert [type(layer).__name__ for layer in augment.layers] == ["RandomFlip", "ReLU"]
    with pytest.raises(ValueError, match="already registered.*Received: name='flips'"):
        register_augmentation("flips", {})
    register_augmentation("flips", {"flip": "vertical"}, overwrite=True)
    assert get_augmentation("flips").layers[0].mode == "vertical"


def _two_flips(seed):
    return [keras.layers.RandomFlip("horizontal", seed=seed), keras.layers.RandomFlip("vertical", seed=seed)]


def test_register_augmentation_builder(isolated_presets):
    register_augmentation("two_flips", _two_flips)
    register_augmentation("by_reference", f"{__name__}:_two_flips")
    for name in ("two_flips", "by_reference"):
        augment = get_augmentation(name, seed=3)
        assert [layer.mode for layer in augment.layers] == ["horizontal", "vertical"]
    with pytest.raises(ValueError, match="takes no options.*Received: rotation=0.1"):
        get_augmentation("two_flips", rotation=0.1)
    with pytest.raises(ValueError, match="has no options"):
        get_augmentation_config("two_flips")
    register_augmentation("broken", lambda seed: "not a layer")
    with pytest.raises(ValueError, match="builder of augmentation 'broken' must return"):
        get_augmentation("broken")


@pytest.mark.parametrize(
    "name, preset, match",
    [
        ("", {}, "Received: name=''"),
        ("twist", {"twist": 1}, "Unknown augmentation option.*Received: twist=1"),
        ("bad", {"rotation": -1}, "Received: rotation=-1"),
        ("bad", 42, "Received: preset=42"),
        ("bad", "not a reference", "Received: preset='not a reference'"),
    ],
)
def test_register_augmentation_rejects_bad_presets(isolated_presets, name, preset, match):
    with pytest.raises(ValueError, match=match):
        register_augmentation(name, preset)
    assert name not in list_augmentations()


def test_keyword_overrides_change_and_remove_layers():
    augment = get_augmentation("standard", rotation=0.1, flip="horizontal_and_vertical", contrast=None, zoom=(-0.3, 0.2))
    layers = {type(layer).__name__: layer for layer in augment.layers}
    assert "RandomContrast" not in layers
    assert layers["RandomFlip"].mode == "horizontal_and_vertical"
    assert layers["RandomRotation"].get_config()["factor"] in (0.1, (-0.1, 0.1), [-0.1, 0.1])
    assert layers["RandomZoom"].get_config()["height_factor"] in ((-0.3, 0.2), [-0.3, 0.2])
    assert layers["RandomBrightness"].get_config()["value_range"] in ((0, 255), [0, 255])
    assert get_augmentation("light", fill_mode="constant").layers[1].fill_mode == "constant"
    assert [type(layer).__name__ for layer in get_augmentation("none", flip="vertical").layers] == ["RandomFlip", "ReLU"]


def test_seeds_make_presets_reproducible():
    a = get_augmentation("strong", seed=3)(random_batch(), training=True)
    b = get_augmentation("strong", seed=3)(random_batch(), training=True)
    c = get_augmentation("strong", seed=4)(random_batch(), training=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(c)).mean() > 1


def test_layers_are_wrapped_as_given():
    flip = keras.layers.RandomFlip("vertical")
    assert get_augmentation([flip]).layers == [flip]
    assert get_augmentation(flip).layers == [flip]


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("extreme",), {}, "Received: name='extreme'"),
        (("standard",), {"rotate": 0.1}, "Unknown augmentation option.*Received: rotate=0.1"),
        (("standard",), {"flip": "diagonal"}, "Received: flip='diagonal'"),
        (("standard",), {"rotation": -0.1}, "Received: rotation=-0.1"),
        (("standard",), {"zoom": (0.2, -0.2)}, "Received: zoom=\\(0.2, -0.2\\)"),
        (("standard",), {"fill_mode": "mirror"}, "Received: fill_mode='mirror'"),
        (("standard",), {"seed": "0"}, "Received: seed='0'"),
        (([keras.layers.RandomFlip()],), {"rotation": 0.1}, "presets only.*Received: rotation=0.1"),
        (([keras.layers.RandomFlip()],), {"seed": 0}, "presets only.*Received: seed=0"),
        (([],), {}, "Received: name_or_layers=\\[\\]"),
        (([np.flipud],), {}, "Received: name_or_layers="),
    ],
)
def test_get_augmentation_rejects_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_augmentation(*args, **kwargs)


def test_augmentation_inside_a_model_trains_and_is_inactive_at_inference(shapes, tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            get_augmentation("strong", seed=0),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    pipeline = make_pipeline(shapes, image_size=SIZE, batch_size=4)
    model.fit(pipeline, epochs=1, verbose=0)

    augment = model.layers[0]
    batch = random_batch()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(augment(batch, training=False)), batch)
    assert np.abs(keras.ops.convert_to_numpy(augment(batch, training=True)) - batch).mean() > 1
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded.predict(batch, verbose=0), model.predict(batch, verbose=0), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- augment_dataset


def hflip(*, images):
    """A numpy pipeline with imgaug's calling form."""
    return [image[:, ::-1] for image in images]


def load(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.float32)


def jpeg(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=95)
    return buffer


def test_augment_dataset_with_a_numpy_callable_writes_copies_and_keeps_labels(shapes, tmp_path):
    out = tmp_path / "augmented"
    bigger = augment_dataset(shapes, [hflip], str(out), copies=2)

    assert len(bigger) == 3 * len(shapes) and bigger.labels == shapes.labels
    assert bigger.counts() == {label: 3 * n for label, n in shapes.counts().items()}
    assert bigger.name == f"{shapes.name}-augmented"
    assert [r.id for r in bigger.images[: len(shapes)]] == [r.id for r in shapes.images]
    new = bigger.images[len(shapes) :]
    assert len({r.id for r in bigger.images}) == len(bigger)
    by_name = {r.name: r for r in shapes.images}
    for record in new:
        assert os.path.isfile(record.path) and record.path.startswith(str(out / record.label) + os.sep)
        stem, suffix = record.name.rsplit("_aug", 1)
        assert suffix in ("0-0.jpg", "0-1.jpg")
        original = by_name[stem + ".jpg"]
        assert record.label == original.label and (record.width, record.height) == (32, 24)
        flipped = np.ascontiguousarray(load(original.path).astype(np.uint8)[:, ::-1])
        np.testing.assert_array_equal(load(record.path), load(jpeg(flipped)))  # same pixels, same encoder
    # The new dataset feeds the training pipeline like any other.
    images = collect(make_pipeline(bigger, image_size=SIZE, batch_size=8))
    assert images.shape == (len(bigger), SIZE, SIZE, 3)


def test_augment_dataset_accepts_array_outputs_grey_and_float_images(shapes, tmp_path):
    def to_grey_array(*, images):
        return np.stack(images).mean(axis=-1)  # [N, H, W] float

    def brighten_list(*, images):
        return [image.astype(np.float32) * 2.0 for image in images]  # floats beyond 255

    bigger = augment_dataset(shapes, [to_grey_array, brighten_list], str(tmp_path), seed=0)
    assert len(bigger) == 3 * len(shapes)
    grey = [r for r in bigger.images if "_aug0-0" in r.name]
    bright = [r for r in bigger.images if "_aug1-0" in r.name]
    assert len(grey) == len(bright) == len(shapes)
    pixels = load(grey[0].path)
    assert np.abs(pixels[..., 0] - pixels[..., 2]).max() < 4
    assert load(bright[0].path).max() >= 250


def test_augment_dataset_keeps_label_fixes_and_the_full_label_list(shapes, tmp_path):
    first, second = shapes.labels
    ds = ClassificationDataset.from_list([(r.path, r.label) for r in shapes.images])
    ds.relabel(ds.images[0], second)
    ds.exclude(ds.images[1])
    first_only = ds.subset([r.id for r in ds.images if r.label == first])
    bigger = augment_dataset(first_only, hflip, str(tmp_path))  # one callable, not a list
    assert bigger.labels == [first, second]
    assert set(bigger.label_ids) == {0}
    assert len(bigger) == 2 * len(first_only)

    fixed = augment_dataset(ds, [hflip], str(tmp_path / "fixed"))
    relabelled = [r for r in fixed.images if r.name.startswith(os.path.splitext(ds.images[0].name)[0] + "_aug")]
    assert [r.label for r in relabelled] == [second] and f"{os.sep}{second}{os.sep}" in relabelled[0].path
    assert len(fixed) == 2 * len(ds)


class FakeAugmenter:
    """Stands in for an imgaug augmenter: callable with images=, seedable with seed_()."""

    def __init__(self):
        self.rng = np.random.default_rng()
        self.seeded_with = None

    def seed_(self, entropy):
        self.seeded_with = entropy
        self.rng = np.random.default_rng(entropy)

    def __call__(self, *, images):
        return [np.clip(image + self.rng.integers(-40, 40), 0, 255).astype(np.uint8) for image in images]


def test_augment_dataset_seeds_a_copy_of_seedable_augmenters(shapes, tmp_path):
    augmenter = FakeAugmenter()
    a = augment_dataset(shapes, [augmenter, augmenter], str(tmp_path / "a"), seed=7)
    b = augment_dataset(shapes, [augmenter, augmenter], str(tmp_path / "b"), seed=7)
    assert augmenter.seeded_with is None  # the caller's augmenter is left alone
    pixels_a = [load(r.path) for r in a.images[len(shapes) :]]
    pixels_b = [load(r.path) for r in b.images[len(shapes) :]]
    for x, y in zip(pixels_a, pixels_b, strict=True):
        np.testing.assert_array_equal(x, y)
    n = len(shapes)
    assert any(np.abs(x - y).mean() > 1 for x, y in zip(pixels_a[:n], pixels_a[n:], strict=True))  # seed + P


def test_augment_dataset_rejects_bad_arguments(shapes, tmp_path):
    with pytest.raises(ValueError, match="Received: pipelines="):
        augment_dataset(shapes, [], str(tmp_path))
    with pytest.raises(ValueError, match="Received: pipelines="):
        augment_dataset(shapes, ["Fliplr"], str(tmp_path))
    with pytest.raises(ValueError, match="Received: copies=0"):
        augment_dataset(shapes, [hflip], str(tmp_path), copies=0)
    with pytest.raises(ValueError, match="Received: dataset="):
        augment_dataset([("a.jpg", "cat")], [hflip], str(tmp_path))
    with pytest.raises(ValueError, match="one image per input image"):
        augment_dataset(shapes, [lambda *, images: images[:1]], str(tmp_path))
    with pytest.raises(ValueError, match="HxWx3"):
        augment_dataset(shapes, [lambda *, images: [image[..., :2] for image in images]], str(tmp_path))


def test_augment_dataset_never_overwrites_the_dataset(tmp_path):
    image = np.zeros((8, 8, 3), np.uint8)
    for name in ("img.jpg", "img_aug0-0.jpg"):
        os.makedirs(tmp_path / "cat", exist_ok=True)
        Image.fromarray(image).save(tmp_path / "cat" / name)
    ds = ClassificationDataset.from_directory(str(tmp_path))
    with pytest.raises(ValueError, match="overwrite the dataset's own files"):
        augment_dataset(ds, [hflip], str(tmp_path))


def test_importing_the_augment_package_does_not_import_imgaug():
    code = textwrap.dedent(
        """
        import sys

        attempts = []

        class Spy:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "imgaug":
                    attempts.append(name)
                return None

        sys.meta_path.insert(0, Spy())
        import keras_cvcls.augment
        assert not attempts and "imgaug" not in sys.modules, attempts
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]

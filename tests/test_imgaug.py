"""augment_dataset with real imgaug pipelines.

imgaug 0.4.0 needs numpy<2, so these tests run in the separate environment
``.venv-imgaug`` (``python3 .ci/imgaug_env.py``); elsewhere they are skipped.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

try:
    import imgaug.augmenters as iaa
except (ImportError, AttributeError) as error:  # AttributeError: imgaug 0.4.0 under numpy 2 (np.sctypes)
    iaa = None
    SKIP_REASON = (
        f"imgaug is not importable here ({type(error).__name__}: {error}); "
        "run these tests in .venv-imgaug: python3 .ci/imgaug_env.py"
    )
else:
    SKIP_REASON = ""

from keras_cvcls.augment import augment_dataset
from keras_cvcls.data import ClassificationDataset, make_pipeline
from keras_cvcls.datasets import SAMPLE_LABELS, make_sample

pytestmark = [pytest.mark.imgaug, pytest.mark.skipif(iaa is None, reason=SKIP_REASON)]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = make_sample(
        str(tmp_path_factory.mktemp("shapes")), images_per_label=5, image_size=(24, 32), labels=SAMPLE_LABELS[:2]
    )
    return ClassificationDataset.from_directory(root)


def seed_pipeline():
    """The pipeline of the cvtk notebooks."""
    return iaa.Sequential([iaa.Fliplr(0.5), iaa.Crop(percent=(0, 0.1))])


def load(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.float32)


def test_imgaug_seed_pipeline_writes_changed_copies_with_their_labels(shapes, tmp_path):
    out = tmp_path / "augmented"
    bigger = augment_dataset(shapes, [seed_pipeline()], str(out), copies=2, seed=0)

    assert len(bigger) == 3 * len(shapes) and bigger.labels == shapes.labels
    assert bigger.counts() == {label: 3 * n for label, n in shapes.counts().items()}
    originals = {os.path.splitext(r.name)[0]: r for r in shapes.images}
    new = bigger.images[len(shapes) :]
    differences = []
    for record in new:
        assert os.path.isfile(record.path) and os.path.dirname(record.path) == str(out / record.label)
        original = originals[record.name.rsplit("_aug", 1)[0]]
        assert record.label == original.label
        augmented = load(record.path)
        assert augmented.shape == (24, 32, 3)  # Crop keeps the size by default
        differences.append(np.abs(augmented - load(original.path)).mean())
    on_disk = sorted(p.name for label in shapes.labels for p in (out / label).iterdir())
    assert on_disk == sorted(r.name for r in new)
    # Flips and crops change nearly every copy (a copy with no flip and a 0% crop is possible).
    assert sum(d > 5 for d in differences) >= 0.75 * len(differences)
    images = np.concatenate([x for x, _ in make_pipeline(bigger, image_size=16, batch_size=8).as_numpy_iterator()])
    assert images.shape == (len(bigger), 16, 16, 3)


def test_imgaug_same_seed_same_images_and_the_callers_augmenter_untouched(shapes, tmp_path):
    pipeline = seed_pipeline()
    state_before = pipeline.random_state.copy().generate_seed_()
    a = augment_dataset(shapes, [pipeline], str(tmp_path / "a"), seed=3)
    b = augment_dataset(shapes, [pipeline], str(tmp_path / "b"), seed=3)
    c = augment_dataset(shapes, [pipeline], str(tmp_path / "c"), seed=4)
    n = len(shapes)
    for x, y in zip(a.images[n:], b.images[n:], strict=True):
        np.testing.assert_array_equal(load(x.path), load(y.path))
    assert any(not np.array_equal(load(x.path), load(z.path)) for x, z in zip(a.images[n:], c.images[n:], strict=True))
    assert pipeline.random_state.copy().generate_seed_() == state_before


def test_importing_the_augment_package_does_not_import_imgaug_even_when_installed():
    code = textwrap.dedent(
        """
        import sys
        import keras_cvcls.augment
        assert "imgaug" not in sys.modules, sorted(m for m in sys.modules if m.startswith("imgaug"))
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]

"""Where decoded training images are cached: memory, disk or nowhere, and the decision logged."""

import glob
import logging
import os
import tempfile

import keras
import pytest

from keras_cvcls.data import ClassificationDataset
from keras_cvcls.datasets import make_sample
from keras_cvcls.training import fit_dataset as fit_module
from keras_cvcls.training.fit_dataset import choose_cache


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = make_sample(str(tmp_path_factory.mktemp("cache") / "data"), images_per_label=6, image_size=(24, 32), seed=1)
    return ClassificationDataset.from_directory(root)


def test_memory_below_the_limit_disk_above_it_none_for_multi_worker(dataset, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="keras_cvcls.training.fit_dataset")
    cache, reason = choose_cache(dataset, (32, 32))
    assert cache is True and reason.startswith("in memory")
    monkeypatch.setattr(fit_module, "CACHE_LIMIT_BYTES", 1000)  # 18 images of 32x32 take 221 KB decoded
    cache, reason = choose_cache(dataset, (32, 32), temp_dir=str(tmp_path))
    assert os.path.dirname(cache) == str(tmp_path) and os.path.isdir(cache) and reason.startswith("on disk")
    cache, reason = choose_cache(dataset, (32, 32), workers=2)
    assert cache is False and "multi-worker" in reason
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 3 and all("Decoded-image cache of 18 training images" in m for m in logged)
    assert "on disk" in logged[1]


@pytest.mark.slow
def test_a_fit_whose_images_do_not_fit_in_memory_caches_on_disk_and_cleans_up(dataset, monkeypatch):
    from keras_cvcls.models import ImageClassifier

    monkeypatch.setattr(fit_module, "CACHE_LIMIT_BYTES", 1000)
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "keras-cvcls-cache-*")))
    model = ImageClassifier(dataset.labels, "mobilenetv3_small", weights=None, image_size=32, precision="float32")
    model.compile()
    seen = []

    class Look(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.extend(set(glob.glob(os.path.join(tempfile.gettempdir(), "keras-cvcls-cache-*", "train*"))))

    model.fit(dataset, epochs=1, batch_size=8, verbose=0, seed=0, callbacks=[Look()])
    assert model.training_config["input_cache"].startswith("on disk")
    assert seen  # tf.data's cache files were there during the fit
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "keras-cvcls-cache-*"))) == before  # and are gone

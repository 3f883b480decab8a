"""Unknown keyword arguments raise, naming themselves and the valid ones, instead of vanishing in ``**kwargs``."""

import re

import keras
import numpy as np
import pytest

from keras_cvcls.augment import get_augmentation
from keras_cvcls.data import ClassificationDataset
from keras_cvcls.data.normalization import ImageNormalization
from keras_cvcls.datasets import make_sample
from keras_cvcls.models import ImageClassifier, load_classifier


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    return make_sample(str(tmp_path_factory.mktemp("d")), images_per_label=4, image_size=(32, 40))


def small_model(labels=("a", "b"), **kwargs):
    return ImageClassifier(list(labels), "resnet18", weights=None, image_size=32, **kwargs)


def test_cvtk_argument_names_raise_naming_them_and_the_valid_ones():
    with pytest.raises(ValueError) as info:
        ImageClassifier(["a", "b"], base_model_name="resnet50", image_dims=(3, 48, 48))
    message = str(info.value)
    assert "Unknown argument(s) ['base_model_name', 'image_dims'] for ImageClassifier" in message
    assert "'backbone'" in message and "'image_size'" in message  # what was meant
    assert "Received: base_model_name='resnet50', image_dims=(3, 48, 48)" in message


def test_typo_raises_naming_it_and_the_valid_ones():
    with pytest.raises(ValueError, match=re.escape("Unknown argument(s) ['image_szie'] for ImageClassifier")) as info:
        ImageClassifier(["a", "b"], image_szie=48)
    message = str(info.value)
    assert "Valid: ['labels', 'backbone', 'weights', 'image_size'," in message
    assert message.endswith("Received: image_szie=48")


def test_dtype_is_refused_rather_than_dropped():
    # keras.Model (Functional) accepts dtype and ignores it; the model's precision argument is the one that works.
    with pytest.raises(ValueError, match=r"\['dtype'\].*'precision'.*Received: dtype='float16'"):
        small_model(dtype="float16")


def test_keras_model_arguments_still_work():
    model = small_model(name="x", trainable=False)
    assert model.name == "x" and not model.trainable


def test_save_and_load_round_trip(tmp_path):
    model = small_model(name="x")
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = model.predict(images, verbose=0)
    model.save(str(tmp_path / "folder"))
    model.save(str(tmp_path / "one.keras"))
    for loaded in (load_classifier(str(tmp_path / "folder")), keras.saving.load_model(str(tmp_path / "one.keras"))):
        assert isinstance(loaded, ImageClassifier)
        assert loaded.get_config() == model.get_config()
        assert loaded.name == "x" and loaded.labels == ["a", "b"]
        np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-6)
    # Keras clones a Functional subclass into a plain Functional model (same layers, same name).
    clone = keras.models.clone_model(model)
    assert clone.name == "x" and clone.output_shape == (None, 2)


def test_fit_on_a_dataset_rejects_a_typo_before_touching_the_model(sample_dir):
    train = ClassificationDataset.from_directory(sample_dir)
    model = small_model(train.labels)
    # lr is fine_tune's; fit takes the pipeline options and Keras' own. Checked before
    # anything is built or recorded.
    with pytest.raises(ValueError, match=r"\['lr'\] for ImageClassifier\.fit.*'augment'.*Received: lr=0\.1"):
        model.fit(train, epochs=2, lr=0.1, verbose=0)
    assert model.backbone.trainable and model.training_config == {}
    with pytest.raises(ValueError, match=r"\['epoch'\]"):
        model.fit(train, epoch=3, verbose=0)


def test_ui_server_rejects_unknown_and_inapplicable_options(sample_dir):
    pytest.importorskip("aiohttp")
    from keras_cvcls.ui import UIServer, create_app

    with pytest.raises(ValueError, match=r"\['page_szie'\] for UIServer\. Valid: \['model', 'scores', 'labels', 'page_size', .*Received: page_szie=10"):
        UIServer(sample_dir, page_szie=10)
    # An application is built already: its options would have been dropped without a word.
    with pytest.raises(ValueError, match=r"\['page_size'\] for UIServer given an application"):
        UIServer(create_app(sample_dir), page_size=10)


@pytest.mark.parametrize(
    ("typo", "call"),
    [
        pytest.param("epoch", lambda model, data, tmp: model.fine_tune(data, epoch=1), id="fine_tune"),
        pytest.param("batchsize", lambda model, data, tmp: model.pipeline(data, batchsize=8), id="pipeline"),
        pytest.param("epoch", lambda model, data, tmp: model.fit(np.zeros((2, 32, 32, 3)), np.zeros(2), epoch=1), id="fit_arrays"),
        pytest.param("overwite", lambda model, data, tmp: model.save(str(tmp / "m"), overwite=True), id="save"),
        pytest.param("imagesize", lambda model, data, tmp: data.to_tf_dataset(imagesize=32), id="to_tf_dataset"),
        pytest.param("strcit", lambda model, data, tmp: ClassificationDataset.create_from_dir("d", data.root, strcit=True), id="create_from_dir"),
        # Keras' Layer.__init__ checks the kwargs a layer passes on.
        pytest.param("nmae", lambda model, data, tmp: ImageNormalization("imagenet", nmae="n"), id="layer"),
        pytest.param("rotate", lambda model, data, tmp: get_augmentation("light", rotate=0.1), id="augmentation"),
    ],
)
def test_typos_raise_where_kwargs_are_passed_on(typo, call, sample_dir, tmp_path):
    # These pass **kwargs to a function with a fixed signature (TypeError) or a checking one (ValueError).
    data = ClassificationDataset.from_directory(sample_dir)
    with pytest.raises((TypeError, ValueError), match=f"'{typo}'"):
        call(small_model(data.labels), data, tmp_path)


def test_serve_rejects_a_typo(tmp_path):
    from keras_cvcls.serving.server import serve

    with pytest.raises(TypeError, match="enable_bathing"):
        serve(str(tmp_path), "m", enable_bathing=True)

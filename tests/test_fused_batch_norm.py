"""FusedBatchNormalization computes what keras.layers.BatchNormalization computes (issue 12, item 1)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cvcls.models.fused_batch_norm import FusedBatchNormalization, fuse_batch_norm

TOL = {"float32": dict(rtol=1e-4, atol=1e-4), "bfloat16": dict(rtol=2e-2, atol=3e-2)}


def _pair(dtype, **kwargs):
    stock = keras.layers.BatchNormalization(dtype=dtype if dtype == "float32" else "mixed_bfloat16", **kwargs)
    fused = FusedBatchNormalization(dtype=dtype if dtype == "float32" else "mixed_bfloat16", **kwargs)
    stock.build((None, 5, 6, 4))
    fused.build((None, 5, 6, 4))
    rng = np.random.default_rng(0)
    values = {"gamma": rng.uniform(0.5, 1.5, 4), "beta": rng.normal(0, 1, 4), "moving_mean": rng.normal(0, 1, 4),
              "moving_variance": rng.uniform(0.5, 2, 4)}
    for layer in (stock, fused):
        for variable in layer.weights:
            variable.assign(values[variable.path.split("/")[-1]].astype("float32"))
    x = tf.constant(rng.normal(2, 3, (3, 5, 6, 4)).astype("float32"))
    return stock, fused, tf.cast(x, dtype)


def _run(layer, x, training):
    weights = tf.constant(np.random.default_rng(2).normal(0, 1, x.shape).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
    grads = tape.gradient(loss, [x, *layer.trainable_variables])
    return y, grads


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("training", [True, False])
def test_outputs_gradients_and_moving_statistics_match_keras(dtype, training):
    stock, fused, x = _pair(dtype, momentum=0.9, epsilon=1e-3)
    y0, g0 = _run(stock, x, training)
    y1, g1 = _run(fused, x, training)
    assert y1.dtype == y0.dtype
    np.testing.assert_allclose(np.float32(y1), np.float32(y0), **TOL[dtype])
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(np.float32(a), np.float32(b), **TOL[dtype])
    for a, b in zip(fused.non_trainable_weights, stock.non_trainable_weights):
        np.testing.assert_allclose(np.float32(a), np.float32(b), **TOL[dtype])
    if training:  # the moving statistics did move (a test that cannot fail is a defect)
        assert not np.allclose(np.float32(fused.moving_mean), np.float32(_pair(dtype)[1].moving_mean))


def test_frozen_layer_runs_in_inference_mode_like_keras():
    stock, fused, x = _pair("float32")
    stock.trainable = fused.trainable = False
    before = np.float32(fused.moving_mean).copy()
    np.testing.assert_allclose(fused(x, training=True), stock(x, training=True), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.float32(fused.moving_mean), before)


def test_without_scale_or_center_and_with_tiny_epsilon_match_keras():
    for kwargs in ({"scale": False, "center": False}, {"epsilon": 1e-6}):
        stock, fused, x = _pair("float32", **kwargs)
        np.testing.assert_allclose(fused(x, training=True), stock(x, training=True), rtol=1e-4, atol=1e-4)


def test_fuse_batch_norm_copies_a_model_and_round_trips_as_keras_file(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
    model = keras.Model(inputs, outputs)
    model.layers[2].set_weights([np.full(4, 1.5, "float32"), np.full(4, 0.2, "float32"),
                                 np.full(4, 0.1, "float32"), np.full(4, 2.0, "float32")])
    fused = fuse_batch_norm(model)
    assert [type(layer).__name__ for layer in fused.layers].count("FusedBatchNormalization") == 1
    images = np.random.default_rng(1).uniform(0, 1, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(fused.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-5)
    fused.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert any(isinstance(layer, FusedBatchNormalization) for layer in loaded.layers)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="takes a keras.Model"):
        fuse_batch_norm("model.keras")


def test_masked_input_is_refused_with_the_remedy():
    with pytest.raises(ValueError, match="does not take masked input.*keras.layers.BatchNormalization"):
        FusedBatchNormalization()(tf.zeros((1, 2, 2, 3)), mask=tf.ones((1, 2, 2), bool))


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_lite0", "resnet50"])
def test_builtin_backbones_use_the_fused_layer(backbone):
    from keras_cvcls.models import create_backbone

    model = create_backbone(backbone, weights=None, input_shape=(32, 32, 3))
    kinds = {type(layer).__name__ for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)}
    assert kinds == {"FusedBatchNormalization"}


_MIRRORED = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from keras_cvcls.models.fused_batch_norm import FusedBatchNormalization
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
rng = np.random.default_rng(3)
x = rng.normal(1, 2, (8, 5, 6, 4)).astype("float32")
y = rng.normal(0, 1, (8, 5, 6, 4)).astype("float32")
results = []
for layer_class in (keras.layers.BatchNormalization, FusedBatchNormalization):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((5, 6, 4)), keras.layers.Conv2D(4, 1), layer_class(momentum=0.5)])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    results.append([np.float32(w) for w in model.get_weights()])
for a, b in zip(*results):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
assert not np.allclose(results[1][-2], 0.0), "the moving mean did not move"
print("MATCH")
"""


def test_under_mirrored_strategy_matches_keras_unsynchronized():
    """Two replicas on two logical CPUs: the fused layer trains as Keras' own with synchronized=False."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _MIRRORED], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "MATCH" in done.stdout, done.stderr[-3000:]

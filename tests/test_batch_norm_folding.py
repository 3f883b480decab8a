"""Batch norms folded into convolutions for inference compute what the model computes (issue 12, item 2)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cvcls.models import ImageClassifier, fold_batch_norm

RNG = np.random.default_rng(0)


def _randomize_batch_norms(model):
    """Non-trivial statistics, so a fold that ignored them would be caught."""
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.moving_mean.shape[0]
            layer.moving_mean.assign(RNG.normal(0, 0.5, c))
            layer.moving_variance.assign(RNG.uniform(0.3, 3, c))
            layer.gamma.assign(RNG.uniform(0.5, 1.5, c))
            layer.beta.assign(RNG.normal(0, 0.5, c))


def _batch_norms(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def test_folds_conv_and_depthwise_pairs_and_keeps_the_rest():
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(6, 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)  # folded: conv without bias
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3)(x)  # folded: depthwise with bias, multiplier 2
    y = keras.layers.Conv2D(4, 1)(x)
    a = keras.layers.BatchNormalization()(y)  # not folded: the conv has a second consumer
    b = keras.layers.ReLU()(y)
    x = keras.layers.Concatenate()([a, b])
    x = keras.layers.BatchNormalization()(keras.layers.ReLU()(x))  # not folded: not after a conv
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    _randomize_batch_norms(model)
    for layer in model.layers:
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([RNG.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    folded = fold_batch_norm(model)
    assert len(_batch_norms(model)) == 4 and len(_batch_norms(folded)) == 2
    images = RNG.uniform(-1, 1, (3, 12, 12, 3)).astype("float32")
    expected = model(images, training=False).numpy()
    np.testing.assert_allclose(folded(images, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)


TOLERANCE = {"float32": dict(rtol=1e-4, atol=1e-5), "mixed_bfloat16": dict(rtol=0, atol=2e-2)}


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_image_classifier_predicts_with_the_folded_copy_at_current_weights(precision):
    keras.utils.set_random_seed(0)
    model = ImageClassifier(["a", "b", "c"], "resnet18", weights=None, image_size=32, precision=precision)
    _randomize_batch_norms(model)
    images = RNG.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    inference = model.inference_model()
    assert _batch_norms(model) and not _batch_norms(inference)
    assert {layer.dtype_policy.name for layer in inference._flatten_layers() if layer.weights} >= {precision}
    np.testing.assert_allclose(model.predict_scores(images), model(images, training=False), **TOLERANCE[precision])
    before = model.predict_scores(images)
    model.fit(images, np.array([0, 1, 2, 0]), epochs=1, verbose=0)  # moves weights and statistics
    after = model.predict_scores(images)
    assert np.abs(after - before).max() > 0.05, "training did not change the scores"
    np.testing.assert_allclose(after, model(images, training=False), **TOLERANCE[precision])
    assert model.inference_model() is inference  # built once, refreshed


def test_export_serves_the_folded_graph(tmp_path):
    from keras_cvcls.export import export_for_serving

    keras.utils.set_random_seed(1)
    model = ImageClassifier(["a", "b"], "resnet18", weights=None, image_size=32)
    _randomize_batch_norms(model)
    export_for_serving(model, tmp_path, 1, warmup=False)
    loaded = tf.saved_model.load(str(tmp_path / "1"))
    signature = loaded.signatures["predict_images"]
    ops = {node.op for node in signature.graph.as_graph_def().node}
    for function in signature.graph.as_graph_def().library.function:
        ops.update(node.op for node in function.node_def)
    assert "Conv2D" in ops and not any(op.startswith("FusedBatchNorm") for op in ops), sorted(ops)
    images = RNG.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    served = signature(images=tf.constant(images))["scores"].numpy()
    np.testing.assert_allclose(served, model(images, training=False), rtol=1e-4, atol=1e-5)


def test_subclassed_and_non_models_are_refused():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="Functional and Sequential models only"):
        fold_batch_norm(Sub())
    with pytest.raises(ValueError, match="takes a keras.Model"):
        fold_batch_norm("model.keras")

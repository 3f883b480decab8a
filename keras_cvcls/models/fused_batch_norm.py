"""``FusedBatchNormalization``: Keras' batch normalization as one fused TensorFlow op each way.

Keras 3's ``BatchNormalization`` on the TensorFlow backend upcasts bfloat16 input to float32,
computes the moments with reduce ops and applies the unfused formula: about a dozen small ops
forward and more in the gradient. TensorFlow's ``FusedBatchNormV3`` is one op each way, and
oneDNN runs it on bfloat16 input with float32 statistics. This layer is a drop-in subclass with
Keras' semantics (momentum, epsilon, moving statistics, ``training`` and ``trainable``: a frozen
layer runs in inference mode) that takes the fused path where it applies: 4-D channels-last
input on the TensorFlow backend, no renorm, not synchronized, ``epsilon >= 1.001e-5``.
Elsewhere it computes exactly what ``keras.layers.BatchNormalization`` computes, by calling it.
Masked input is refused (the fused kernel has no masked moments): use Keras' own layer there.

Under ``tf.distribute`` it behaves as Keras' layer with ``synchronized=False``: each replica
normalises with its own batch's moments, and the moving statistics are updated as Keras
updates them. ``synchronized=True`` (cross-replica moments) takes Keras' own computation.
"""

import keras

# TensorFlow's fused kernel clamps a smaller epsilon to this (cuDNN's minimum).
_MIN_FUSED_EPSILON = 1.001e-5
_FUSED_DTYPES = ("float32", "bfloat16", "float16")


@keras.saving.register_keras_serializable(package="keras_cvcls")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed with TensorFlow's fused kernel where it applies.

    Takes exactly ``BatchNormalization``'s arguments, and saves and loads like it.

    Example:
        >>> bn = FusedBatchNormalization()
        >>> bn(np.zeros((2, 4, 4, 3), "float32"), training=True).shape
        TensorShape([2, 4, 4, 3])
    """

    def _fusable(self, inputs, mask):
        if mask is not None:
            raise ValueError(
                f"FusedBatchNormalization {self.name!r} does not take masked input (the fused kernel has no "
                "masked moments); use keras.layers.BatchNormalization after a masking layer. "
                f"Received: a mask of shape {tuple(mask.shape)}"
            )
        if keras.backend.backend() != "tensorflow" or self.renorm or self.synchronized:
            return False
        if len(inputs.shape) != 4 or self.epsilon < _MIN_FUSED_EPSILON:
            return False
        axis = self.axis[0] if isinstance(self.axis, (list, tuple)) else self.axis
        return axis in (-1, 3) and keras.backend.standardize_dtype(inputs.dtype) in _FUSED_DTYPES

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels], "float32")
        beta = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels], "float32")
        if training and self.trainable:
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True,
            )
            # The kernel returns the variance with Bessel's correction, for running averages;
            # Keras averages the biased variance (the one it normalises with).
            n = tf.cast(tf.size(inputs) // channels, "float32")
            variance = variance * tf.where(n > 1.0, (n - 1.0) / tf.maximum(n, 1.0), 1.0)
            momentum = self.momentum
            self.moving_mean.assign(self.moving_mean * momentum + tf.cast(mean, "float32") * (1.0 - momentum))
            self.moving_variance.assign(
                self.moving_variance * momentum + tf.cast(variance, "float32") * (1.0 - momentum)
            )
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, mean=tf.cast(self.moving_mean, "float32"),
                variance=tf.cast(self.moving_variance, "float32"), epsilon=self.epsilon, data_format="NHWC",
                is_training=False,
            )
        return tf.cast(outputs, self.compute_dtype)


def fuse_batch_norm(model):
    """A copy of a Keras model with every ``BatchNormalization`` computed by the fused kernel.

    The copy has the same layers, names and weights; only the batch-norm layers become
    :class:`FusedBatchNormalization`, which computes the same values (see its docstring for
    where it falls back to Keras' own computation).

    Args:
        model: a Functional or Sequential ``keras.Model``.

    Returns:
        The new model, with ``model``'s weights.

    Raises:
        ValueError: if ``model`` is not a ``keras.Model`` (a subclassed model cannot be cloned:
            build its batch norms as ``FusedBatchNormalization`` instead).

    Example:
        >>> fast = fuse_batch_norm(keras.applications.ResNet50(weights=None))
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"fuse_batch_norm takes a keras.Model. Received: model of type {type(model).__name__}")

    def clone(layer):
        if type(layer) is keras.layers.BatchNormalization:
            return FusedBatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    try:
        fused = keras.models.clone_model(model, clone_function=clone)
    except ValueError as e:
        raise ValueError(
            "fuse_batch_norm can copy Functional and Sequential models only; in a subclassed model, build the "
            f"batch norms as FusedBatchNormalization. Received: model {model.name!r} ({e})"
        ) from None
    fused.set_weights(model.get_weights())
    return fused

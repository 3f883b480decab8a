"""``fold_batch_norm``: an inference copy of a Keras model with batch norms folded into convolutions.

In inference a batch norm after a convolution is an affine map per channel,
``y = (conv(x) - mean) * gamma / sqrt(var + eps) + beta``, so it can be folded into the
convolution's kernel and bias: ``kernel * s`` and ``(bias - mean) * s + beta`` with
``s = gamma / sqrt(var + eps)``. The folded model computes the same function with one op less
per pair (and oneDNN's graph rewriter then fuses the convolution, its bias and the following
ReLU into one kernel). It is for inference only: it has no batch statistics to train with.
"""

import keras

_FOLDABLE_CONVS = ("Conv2D", "DepthwiseConv2D")


def _single_producer(layer):
    """The layer whose output is ``layer``'s only input, or None."""
    if len(layer._inbound_nodes) != 1:
        return None
    node = layer._inbound_nodes[0]
    if len(node.input_tensors) != 1:
        return None
    history = getattr(node.input_tensors[0], "_keras_history", None)
    return history.operation if history is not None else None


def _foldable_pairs(model, pairs):
    """Fills ``pairs`` {id(batch norm): convolution} for every foldable pair in ``model`` and its sub-models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _foldable_pairs(layer, pairs)
            continue
        if not isinstance(layer, keras.layers.BatchNormalization) or layer.renorm or layer.synchronized:
            continue
        axis = layer.axis[0] if isinstance(layer.axis, (list, tuple)) else layer.axis
        conv = _single_producer(layer)
        if (
            conv is None
            or type(conv).__name__ not in _FOLDABLE_CONVS
            or type(conv).__module__.split(".")[0] != "keras"
            or conv.data_format != "channels_last"
            or conv.activation is not keras.activations.linear
            or len(conv._inbound_nodes) != 1
            or len(conv._outbound_nodes) != 1
            or axis not in (-1, len(layer.input.shape) - 1)
        ):
            continue
        pairs[id(layer)] = conv
    return pairs


def functional_graph(model):
    """``model`` as a plain Functional or Sequential model over the same layers, or None if subclassed."""
    if isinstance(model, keras.Sequential):
        return model
    if hasattr(model, "_run_through_graph"):
        # A Functional subclass (ImageClassifier) as a plain Functional model over the same layers.
        return keras.Model(model.input, model.output, name=model.name)
    return None


class BatchNormFolding:
    """A folded inference copy of a model, kept in step with the model's weights by :meth:`refresh`.

    Built once (the graph copy), refreshed cheaply before each use, so predictions made after
    more training never come from stale weights. :func:`fold_batch_norm` is the one-shot form.

    Args:
        model: a Functional or Sequential ``keras.Model``.

    Raises:
        ValueError: if ``model`` is not a Functional or Sequential ``keras.Model``.
    """

    def __init__(self, model):
        if not isinstance(model, keras.Model):
            raise ValueError(f"fold_batch_norm takes a keras.Model. Received: model of type {type(model).__name__}")
        graph = functional_graph(model)
        if graph is None:
            raise ValueError(
                "fold_batch_norm can copy Functional and Sequential models only (a subclassed model has no "
                f"graph to rewrite). Received: model {model.name!r} of type {type(model).__name__}"
            )
        pairs = _foldable_pairs(graph, {})
        convs = {id(conv) for conv in pairs.values()}
        clones, folded_away = {}, set()

        def clone(layer):
            if id(layer) in pairs:
                new = keras.layers.Identity(name=layer.name)  # never called: see call() below
                folded_away.add(id(new))
            elif id(layer) in convs and not layer.use_bias:
                new = layer.__class__.from_config({**layer.get_config(), "use_bias": True})
            else:
                new = layer.__class__.from_config(layer.get_config())
            clones[id(layer)] = (layer, new)
            return new

        def call(layer, *args, **kwargs):
            if id(layer) in folded_away:
                return args[0]  # the convolution's output, which now includes the batch norm
            return layer(*args, **kwargs)

        self.model = keras.models.clone_model(graph, clone_function=clone, call_function=call, recursive=True)
        bn_of = {id(conv): bn for bn_id, conv in pairs.items() for bn, _ in [clones[bn_id]]}
        # (source layer, its copy, the batch norm folded into it or None); folded-away norms have no copy.
        self._copies = [
            (layer, new, bn_of.get(id(layer))) for layer, new in clones.values() if id(layer) not in pairs and layer.weights
        ]
        self.num_folded = len(pairs)
        self._refresh_graph = None
        self.refresh()

    def refresh(self):
        """Copies the source model's current weights into the folded copy, folding as it goes.

        One TensorFlow graph reads every source variable and writes every copy (tens of
        milliseconds for ResNet-50, where ``set_weights`` layer by layer took 160 ms).
        """
        import tensorflow as tf

        if self._refresh_graph is None:
            self._refresh_graph = tf.function(self._assign_all, autograph=False)
        self._refresh_graph()
        return self.model

    def _assign_all(self):
        import tensorflow as tf

        for layer, new, bn in self._copies:
            if bn is None:
                for target, source in zip(new.weights, layer.weights):
                    target.assign(source.value)
                continue
            kernel = layer.weights[0].value  # [kh, kw, in, out] or, depthwise, [kh, kw, in, multiplier]
            channels = bn.moving_mean.shape[0]
            scale = tf.math.rsqrt(bn.moving_variance.value + bn.epsilon)
            if bn.scale:
                scale = scale * bn.gamma.value
            shift = -bn.moving_mean.value * scale
            if layer.use_bias:
                shift = shift + layer.weights[1].value * scale
            if bn.center:
                shift = shift + bn.beta.value
            if type(layer).__name__ == "DepthwiseConv2D":
                scale = tf.reshape(scale, [kernel.shape[2], kernel.shape[3]])
            else:
                scale = tf.reshape(scale, [channels])
            new_kernel, new_bias = new.weights
            new_kernel.assign(kernel * scale)
            new_bias.assign(shift)


def fold_batch_norm(model):
    """An inference copy of ``model`` with each batch norm after a convolution folded into it.

    A ``BatchNormalization`` (or :class:`FusedBatchNormalization`) whose only input is a
    ``Conv2D`` or ``DepthwiseConv2D`` with no activation, and that is that convolution's only
    consumer, is folded into the convolution's kernel and bias and disappears from the graph.
    Other layers are copied with their weights; nested Functional and Sequential models
    (backbones) are folded too. The copy computes ``model(x, training=False)`` up to rounding.

    Args:
        model: a Functional or Sequential ``keras.Model`` (an
            :class:`~keras_cvcls.models.ImageClassifier` is one).

    Returns:
        A new Functional ``keras.Model`` for inference (``predict``, export); not for training.

    Raises:
        ValueError: if ``model`` is not a ``keras.Model``, or is subclassed (not Functional or
            Sequential).

    Example:
        >>> fast = fold_batch_norm(keras.applications.ResNet50(weights=None))
        >>> len([l for l in fast.layers if "bn" in l.name and l.weights])
        0
    """
    return BatchNormFolding(model).model

"""A tiny real classifier for tests and examples of export and serving.

A plain Keras model: export it with the ``labels``, ``image_size`` and ``resize_mode`` it was
built for (``export_for_serving(model, base, labels=..., image_size=..., resize_mode=...)``). It
takes well under a second to build, export and load.
"""


def make_tiny_classifier(labels=("cat", "dog", "fox"), image_size=(16, 16), seed=0):
    """Builds a small convolutional classifier with random (seeded) weights.

    Args:
        labels: class names.
        image_size: ``(height, width)`` of the model input.
        seed: weight initialisation seed; equal seeds give equal models.

    Returns:
        A ``keras.Model`` from float32 images ``[N, H, W, 3]`` (0-255) to probabilities ``[N, C]``.

    Example:
        >>> model = make_tiny_classifier(["a", "b"], (16, 16))
        >>> model(np.zeros((1, 16, 16, 3), "float32")).shape
        TensorShape([1, 2])
    """
    import keras

    h, w = image_size
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((h, w, 3), dtype="float32")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", kernel_initializer=init)(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=init)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(labels), activation="softmax", kernel_initializer=init)(x)
    return keras.Model(inputs, outputs, name="tiny_classifier")

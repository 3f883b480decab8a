"""What the benchmarks compare against: the plain-Keras models and the machine's matmul peak."""

import time


def matmul_gflops(dtype, n=2048, seconds=3.0):
    """The machine's dense matmul rate for ``dtype`` (float32 or bfloat16), in GFLOP/s."""
    import tensorflow as tf

    a, b = (tf.cast(tf.random.normal((n, n)), dtype) for _ in range(2))
    f = tf.function(lambda x, y: tf.matmul(x, y))
    f(a, b).numpy()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        f(a, b).numpy()
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def plain_keras_model(name, num_classes, image_size=224):
    """The architecture as a plain-Keras user has it, with Keras' own ``BatchNormalization``.

    ResNet-50 is ``keras.applications.ResNet50``; ResNet-18 and EfficientNet-Lite0 (not in
    ``keras.applications``) are keras-cvcls' Functional definitions with their batch norms
    turned back into Keras' layer, plus average pooling and a softmax head.
    """
    import keras

    if name == "resnet50":
        return keras.applications.ResNet50(weights=None, input_shape=(image_size, image_size, 3), classes=num_classes)
    from keras_cvcls.models import create_backbone

    def stock(layer):
        if isinstance(layer, keras.layers.BatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    body = create_backbone(name, weights=None, input_shape=(image_size, image_size, 3))
    body = keras.models.clone_model(body, clone_function=stock)
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.GlobalAveragePooling2D()(body(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", dtype="float32")(x))

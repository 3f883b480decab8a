"""Running a loaded signature on numpy inputs, with TensorFlow's errors as TF Serving reports them."""

from keras_cvcls.serving.status import Code, ServingError


def run_signature(signature, inputs):
    """Runs a signature on numpy inputs; returns its outputs as numpy arrays.

    Raises:
        ServingError: with the TensorFlow error's code and message when the graph fails.
    """
    import tensorflow as tf

    try:
        outputs = signature.function(**{key: tf.constant(value) for key, value in inputs.items()})
    except tf.errors.OpError as e:
        raise ServingError.from_tf_error(e) from e
    except (TypeError, ValueError) as e:  # argument binding of the concrete function
        raise ServingError(Code.INVALID_ARGUMENT, str(e)) from e
    return {key: value.numpy() for key, value in outputs.items()}

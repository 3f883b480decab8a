"""Warm-up at load time: replaying a version's ``assets.extra/tf_serving_warmup_requests``, as TF Serving does."""

import os

from keras_cvcls.serving.signature_run import run_signature
from keras_cvcls.serving.status import Code, ServingError
from keras_cvcls.tf_serving_names import MAX_WARMUP_RECORDS, WARMUP_FILE


def replay_warmup_requests(version):
    """Replays a loaded version's ``assets.extra/tf_serving_warmup_requests`` as TF Serving does at load.

    Args:
        version: a :class:`~keras_cvcls.serving.loaded_version.LoadedVersion`.

    Returns:
        How many requests were replayed (0 without a warm-up file).

    Raises:
        ServingError: for too many records, a log type other than ``predict_log``, or a request that fails.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(version.path, WARMUP_FILE)
    if not os.path.exists(path):
        return 0
    count = 0
    try:
        for record in tf.data.TFRecordDataset(path):
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise ServingError(
                    Code.INVALID_ARGUMENT,
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}",
                )
            entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            if entry.WhichOneof("log_type") != "predict_log":
                raise ServingError(
                    Code.UNIMPLEMENTED,
                    f"Unsupported log_type for warmup: {entry.WhichOneof('log_type')} (only predict_log)",
                )
            request = entry.predict_log.request
            signature = version.signature(request.model_spec.signature_name)
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
            run_signature(signature, inputs)
    except tf.errors.OpError as e:
        raise ServingError(Code(e.error_code), f"Failed to warm up {path}: {e.message}") from e
    except ServingError as e:
        raise ServingError(e.code, f"Failed to warm up {path}: {e.message}") from e
    return count

"""The Predict path shared by REST and gRPC: validation as TF Serving does it, then run.

Requests are checked against the signature (input names, dtypes, shapes; output filter) with
TF Serving's messages, then run through the batch scheduler when batching is on, or on a
worker thread.
"""

import concurrent.futures
import dataclasses

from keras_cvcls.serving.signature_run import run_signature
from keras_cvcls.serving.status import Code, ServingError, invalid_argument


def dtype_string(dtype_enum):
    """TensorFlow's DataTypeString: "float", "string", "int64", ..."""
    import tensorflow as tf

    names = {tf.float32: "float", tf.float64: "double", tf.float16: "half"}
    dtype = tf.dtypes.as_dtype(dtype_enum)
    return names.get(dtype, dtype.name)


def array_dtype_enum(array):
    """The DataType enum of a numpy array (object arrays hold strings)."""
    import tensorflow as tf

    if array.dtype == object or array.dtype.kind in "SU":
        return tf.string.as_datatype_enum
    return tf.dtypes.as_dtype(array.dtype).as_datatype_enum


@dataclasses.dataclass
class PredictResult:
    """Outputs of one Predict call and the version and signature that answered."""

    model_name: str
    version: int
    signature_name: str
    outputs: dict


def _shape_text(shape):
    return "[" + ",".join("-1" if d is None or d < 0 else str(d) for d in shape) + "]"


def check_input_names(signature, names):
    """Checks the request's input names against a signature, as TF Serving does before reading them.

    The count first (``predict_util.cc``'s VerifyRequestInputsSize), then every signature input
    alias (TensorFlow's ``saved_model::GetInputValues``; our signatures have no defaults).
    """
    expected = signature.inputs
    names = set(names)
    if len(names) != len(expected):
        sent, wanted = sorted(names), sorted(expected)
        raise invalid_argument(
            f"input size does not match signature: {len(names)}!={len(expected)} len({{{','.join(sent)}}}) != "
            f"len({{{','.join(wanted)}}}). Sent extra: {{{','.join(sorted(set(sent) - set(wanted)))}}}. "
            f"Missing but required: {{{','.join(sorted(set(wanted) - set(sent)))}}}."
        )
    for alias in sorted(expected):
        if alias not in names:
            feed_name = signature.signature_def.inputs[alias].name
            raise invalid_argument(
                f"Signature input alias: {alias}(feed name: {feed_name}) not found in request and no default "
                f"value provided. Inputs expected to be in the request {{{','.join(sorted(names))}}}, or default "
                "input alias set: "
            )


def validate_inputs(signature, inputs):
    """Checks input names, dtypes and shapes against a signature (TF Serving's messages)."""
    expected = signature.inputs
    check_input_names(signature, inputs)
    for index, key in enumerate(sorted(expected)):
        dtype, shape = expected[key]
        value = inputs[key]
        if array_dtype_enum(value) != dtype:
            raise invalid_argument(
                f"Expects arg[{index}] to be {dtype_string(dtype)} but {dtype_string(array_dtype_enum(value))} "
                "is provided"
            )
        if shape is not None and (
            value.ndim != len(shape) or any(d >= 0 and d != s for d, s in zip(shape, value.shape, strict=True))
        ):
            raise invalid_argument(
                f"input '{key}' has shape {_shape_text(value.shape)}, but signature '{signature.name}' "
                f"expects {_shape_text(shape)}"
            )


def check_output_filter(signature, output_filter):
    seen = set()
    for alias in output_filter:
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                f"{{{','.join(sorted(signature.outputs))}}}."
            )
        if alias in seen:
            raise invalid_argument("duplicate output tensor alias: ", alias)
        seen.add(alias)


class Predictor:
    """Runs Predict requests on a :class:`~keras_cvcls.serving.model_manager.ModelManager`.

    Args:
        manager: the model manager.
        scheduler: a :class:`~keras_cvcls.serving.batching.BatchScheduler`, or None to run
            each request on its own.
        max_workers: threads running unbatched requests.
    """

    def __init__(self, manager, scheduler=None, max_workers=8):
        self.manager = manager
        self.scheduler = scheduler
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="keras-cvcls-predict")

    def submit(self, servable, signature_name, inputs, output_filter=()):
        """Validates a request and starts it; returns a Future of :class:`PredictResult`.

        Args:
            servable: the :class:`~keras_cvcls.serving.loaded_version.LoadedVersion` addressed.
            signature_name: "" for ``serving_default``.
            inputs: input name -> numpy array (strings as object arrays of bytes).
            output_filter: output names to return; empty for all.

        Raises:
            ServingError: when the request does not fit the signature, or batching refuses it.
        """
        signature = servable.signature(signature_name)
        validate_inputs(signature, inputs)
        output_filter = list(output_filter)
        check_output_filter(signature, output_filter)

        def finish(outputs):
            if output_filter:
                outputs = {k: outputs[k] for k in output_filter}
            return PredictResult(servable.name, servable.version, signature.name, outputs)

        result = concurrent.futures.Future()

        def chain(done):
            if done.cancelled():
                result.cancel()
                return
            error = done.exception()
            if error is not None:
                result.set_exception(error)
            else:
                result.set_result(finish(done.result()))

        if self.scheduler is not None:
            inner = self.scheduler.schedule((servable, signature.name), lambda x: run_signature(signature, x), inputs)
        else:
            inner = self._executor.submit(run_signature, signature, inputs)
        inner.add_done_callback(chain)
        result.add_done_callback(lambda f: inner.cancel() if f.cancelled() else None)
        return result

    def predict(self, servable, signature_name, inputs, output_filter=(), timeout=None):
        """Blocking :meth:`submit`.

        Raises:
            ServingError: as :meth:`submit`, from the run, or DEADLINE_EXCEEDED after ``timeout`` s.
        """
        future = self.submit(servable, signature_name, inputs, output_filter)
        return wait(future, timeout)

    def close(self):
        self._executor.shutdown(wait=True, cancel_futures=False)


def wait(future, timeout):
    """``future.result(timeout)`` that cancels the request and raises DEADLINE_EXCEEDED on time-out."""
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise ServingError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded") from None

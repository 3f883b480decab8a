"""TF Serving's gRPC API with tensorflow-serving-api's own service definitions.

``tensorflow.serving.PredictionService``: ``Predict`` (with ``output_filter``),
``GetModelMetadata``, ``Classify``, ``Regress`` and ``MultiInference``
(:mod:`~keras_cvcls.serving.example_requests`); ``tensorflow.serving.ModelService``: ``GetModelStatus`` and
``HandleReloadConfigRequest``. Errors use TF Serving's status codes and messages.
"""

import logging
from concurrent import futures

import grpc
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.apis import regression_pb2

from keras_cvcls.serving import example_requests, protos
from keras_cvcls.serving.config_reload import reload_config
from keras_cvcls.serving.predictor import check_input_names, wait
from keras_cvcls.serving.status import Code, ServingError, invalid_argument

log = logging.getLogger(__name__)


def _spec(model_spec):
    """(name, version, label) of a ModelSpec."""
    which = model_spec.WhichOneof("version_choice")
    version = model_spec.version.value if which == "version" else None
    label = model_spec.version_label if which == "version_label" else None
    return model_spec.name, version, label


# grpc_status_util.cc's ToGRPCStatus: longer messages are cut and marked.
_MESSAGE_LIMIT = 1024


def grpc_message(message):
    """The status message TF Serving's gRPC API sends: at most 1,024 characters, then ``...TRUNCATED``."""
    return message if len(message) <= _MESSAGE_LIMIT else message[:_MESSAGE_LIMIT] + "...TRUNCATED"


def _abort(context, error):
    context.abort(getattr(grpc.StatusCode, error.code.name), grpc_message(error.message))


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``tensorflow.serving.PredictionService`` on a model manager and predictor."""

    def __init__(self, manager, predictor):
        self.manager = manager
        self.predictor = predictor

    def Predict(self, request, context):
        try:
            if not request.HasField("model_spec"):
                raise invalid_argument("Missing ModelSpec")
            servable = self.manager.get_servable(*_spec(request.model_spec))
            signature = servable.signature(request.model_spec.signature_name)
            check_input_names(signature, request.inputs)
            inputs = {}
            for alias in sorted(signature.inputs):
                inputs[alias] = protos.tensor_from_proto(request.inputs[alias])
                if inputs[alias] is None:
                    raise invalid_argument("tensor parsing error: ", alias)
            future = self.predictor.submit(
                servable, request.model_spec.signature_name, inputs, list(request.output_filter)
            )
            result = wait(future, context.time_remaining())
        except ServingError as e:
            _abort(context, e)
        response = predict_pb2.PredictResponse()
        protos.model_spec_proto(response.model_spec, result.model_name, result.version, result.signature_name)
        for key, value in result.outputs.items():
            response.outputs[key].CopyFrom(protos.tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):
        try:
            if not request.HasField("model_spec"):
                raise invalid_argument("Missing ModelSpec")
            if not request.metadata_field:
                raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
            for field in request.metadata_field:
                if field != "signature_def":
                    raise invalid_argument(f"Metadata field {field} is not supported")
            servable = self.manager.get_servable(*_spec(request.model_spec))
        except ServingError as e:
            _abort(context, e)
        return protos.metadata_response(servable)

    def _examples(self, request, context, model_spec, run, response):
        try:
            if model_spec is None:
                raise invalid_argument("Missing ModelSpec")
            servable = self.manager.get_servable(*_spec(model_spec))
            return run(servable, request, response)
        except ServingError as e:
            _abort(context, e)

    def Classify(self, request, context):
        model_spec = request.model_spec if request.HasField("model_spec") else None
        return self._examples(request, context, model_spec, example_requests.classify, classification_pb2.ClassificationResponse())

    def Regress(self, request, context):
        model_spec = request.model_spec if request.HasField("model_spec") else None
        return self._examples(request, context, model_spec, example_requests.regress, regression_pb2.RegressionResponse())

    def MultiInference(self, request, context):
        # multi_inference_helper.cc: the first task's ModelSpec picks the model (an empty one if none).
        model_spec = request.tasks[0].model_spec if request.tasks else model_pb2.ModelSpec()
        return self._examples(
            request, context, model_spec, example_requests.multi_inference, inference_pb2.MultiInferenceResponse()
        )


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``tensorflow.serving.ModelService``: status and config reloads."""

    def __init__(self, manager):
        self.manager = manager

    def GetModelStatus(self, request, context):
        try:
            if not request.HasField("model_spec"):
                raise invalid_argument("Missing ModelSpec")
            return protos.status_response(self.manager, *_spec(request.model_spec))
        except ServingError as e:
            _abort(context, e)

    def HandleReloadConfigRequest(self, request, context):
        """Applies a new model config; a refused one fails the RPC with TF Serving's code and message."""
        try:
            try:
                reload_config(self.manager, request.config)
            except FileNotFoundError as e:  # TF Serving would wait for the folder: see serving/README.md
                raise ServingError(Code.NOT_FOUND, str(e)) from None
            except ValueError as e:
                raise invalid_argument(str(e)) from None
        except ServingError as e:
            log.error("ReloadConfig failed: %s", e.message)
            _abort(context, e)
        response = model_management_pb2.ReloadConfigResponse()
        response.status.error_code = int(Code.OK)
        return response


class GrpcServer:
    """The gRPC endpoint of a :class:`~keras_cvcls.serving.server.ModelServer`.

    Args:
        manager: the model manager.
        predictor: the predictor.
        host: address to bind.
        port: port to bind; 0 picks a free one (see :attr:`port` after :meth:`start`).
        max_request_bytes: largest message accepted (RESOURCE_EXHAUSTED above).
        max_workers: RPCs handled at once.
    """

    def __init__(self, manager, predictor, *, host="0.0.0.0", port=8500, max_request_bytes=64 << 20, max_workers=64):
        self.host = host
        self.port = port
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers, thread_name_prefix="keras-cvcls-grpc"),
            options=[
                ("grpc.max_receive_message_length", max_request_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(manager, predictor), self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager), self._server)

    def start(self):
        """Binds and starts serving; returns the bound port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        try:
            port = self._server.add_insecure_port(f"{host}:{self.port}")
        except RuntimeError as e:
            raise OSError(f"could not bind the gRPC port {self.host}:{self.port}: {e}") from e
        if port == 0:
            raise OSError(f"could not bind the gRPC port {self.host}:{self.port}")
        self.port = port
        self._server.start()
        return port

    def stop(self, grace=5.0, wait=True):
        """Refuses new RPCs at once, lets running ones finish for up to ``grace`` seconds.

        Returns:
            A ``threading.Event`` set when the server has stopped (already set when ``wait``).
        """
        stopped = self._server.stop(grace)
        if wait:
            stopped.wait(grace + 5)
        return stopped

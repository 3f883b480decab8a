"""The gRPC transport of :class:`~keras_cvcls.serving.ScoringClient`: TF Serving's PredictionService."""

from keras_cvcls.serving.scoring_error import ScoringError


class GrpcTransport:
    """gRPC calls to TF Serving's PredictionService and ModelService; failures become :class:`ScoringError`."""

    def __init__(self, target, model_name, version, version_label, timeout, max_message_bytes):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self._grpc = grpc
        self.channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.max_receive_message_length", -1),
            ],
        )
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.model_name, self.version, self.version_label = model_name, version, version_label
        self.timeout = timeout

    def _spec(self, spec, signature_name=None):
        spec.name = self.model_name
        if self.version is not None:
            spec.version.value = int(self.version)
        elif self.version_label is not None:
            spec.version_label = self.version_label
        if signature_name is not None:
            spec.signature_name = signature_name

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except self._grpc.RpcError as e:
            raise ScoringError(e.code().name, e.details() or str(e)) from None

    def model_status(self):
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec)
        response = self._call(self.models.GetModelStatus, request)
        return json_format.MessageToDict(
            response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )

    def metadata(self):
        from tensorflow_serving.apis import get_model_metadata_pb2

        from keras_cvcls.serving.protos import metadata_dict

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        return metadata_dict(self._call(self.prediction.GetModelMetadata, request))

    def predict(self, signature_name, inputs, output_dtypes, wanted):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, signature_name)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        request.output_filter.extend(sorted(wanted))
        response = self._call(self.prediction.Predict, request)
        outputs = {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
        version = response.model_spec.version.value if response.model_spec.HasField("version") else None
        return outputs, version

    def close(self):
        self.channel.close()

"""Status and metadata responses as tensorflow-serving-api protos, and their JSON forms.

The REST bodies are printed from the same protos the gRPC API returns, with TF Serving's
JSON options (field names kept, default values printed), so both APIs say the same thing.
"""

import json

import numpy as np

from keras_cvcls.serving.status import Code

_STATE_ENUM = {"START": 10, "LOADING": 20, "AVAILABLE": 30, "UNLOADING": 40, "END": 50}


def model_spec_proto(spec, name, version=None, signature_name=None):
    spec.name = name
    if version is not None:
        spec.version.value = int(version)
    if signature_name is not None:
        spec.signature_name = signature_name
    return spec


def status_response(manager, name, version=None, label=None):
    """GetModelStatusResponse for a model (all versions, or the one asked for).

    ``label`` is ignored, as TF Serving's ``GetModelStatusWithModelSpec`` ignores it
    (``get_model_status_impl.cc`` reads ``model_spec.version()`` only): a request with a
    label, known or not, gets every version.
    """
    from tensorflow_serving.apis import get_model_status_pb2

    del label
    response = get_model_status_pb2.GetModelStatusResponse()
    for number, state in manager.version_states(name, version):
        entry = response.model_version_status.add()
        entry.version = number
        entry.state = _STATE_ENUM[state.state]
        if state.error is not None:
            entry.status.error_code = int(state.error.code)
            entry.status.error_message = state.error.message
        else:
            entry.status.error_code = int(Code.OK)
    return response


def metadata_response(servable):
    """GetModelMetadataResponse: the version's SignatureDefMap under ``signature_def``."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    response = get_model_metadata_pb2.GetModelMetadataResponse()
    model_spec_proto(response.model_spec, servable.name, servable.version)
    response.metadata["signature_def"].Pack(servable.signature_def_map())
    return response


def _to_dict(message):
    from google.protobuf import json_format

    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def status_json(response):
    """TF Serving's REST body for a GetModelStatusResponse."""
    return json.dumps(_to_dict(response), indent=1)


def metadata_dict(response):
    """``{"model_spec": {...}, "metadata": {"signature_def": {...}}}``, as TF Serving's REST prints it."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_defs)
    return {"model_spec": _to_dict(response.model_spec), "metadata": {"signature_def": _to_dict(signature_defs)}}


def metadata_json(response):
    return json.dumps(metadata_dict(response), indent=1)


def tensor_proto(array):
    """A TensorProto with values in the typed fields (TF Serving's ``AsProtoField``): ``float_val``, ..."""
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2

    array = np.asarray(array)
    proto = tensor_pb2.TensorProto()
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape])
    proto.tensor_shape.CopyFrom(shape)
    flat = array.ravel()
    if array.dtype == object or array.dtype.kind in "SU":
        proto.dtype = tf.string.as_datatype_enum
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat.tolist())
        return proto
    dtype = tf.dtypes.as_dtype(array.dtype)
    proto.dtype = dtype.as_datatype_enum
    field = {
        tf.float32: "float_val",
        tf.float64: "double_val",
        tf.int32: "int_val",
        tf.int16: "int_val",
        tf.int8: "int_val",
        tf.uint8: "int_val",
        tf.int64: "int64_val",
        tf.bool: "bool_val",
        tf.uint32: "uint32_val",
        tf.uint64: "uint64_val",
    }.get(dtype)
    if field is None:  # half, bfloat16, complex: the packed form
        return tf.make_tensor_proto(array)
    getattr(proto, field).extend(flat.tolist())
    return proto


_TYPED_FIELDS = (
    "half_val",
    "float_val",
    "double_val",
    "int_val",
    "string_val",
    "int64_val",
    "bool_val",
    "uint32_val",
    "uint64_val",
)


def tensor_from_proto(proto):
    """A TensorProto as a numpy array, as TensorFlow's ``Tensor::FromProto`` reads it; None when it cannot.

    ``tensor_content`` must hold exactly the shape's elements; typed fields (``float_val``, ...)
    with fewer values repeat the last one, with more are cut to the shape (``tensor.cc``'s
    FromProtoField).
    """
    import tensorflow as tf

    shape = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in shape):
        return None
    count = int(np.prod(shape, dtype=np.int64))
    if not proto.tensor_content:
        extra = [name for name in _TYPED_FIELDS if len(getattr(proto, name)) > count]
        if extra:
            copy = type(proto)()
            copy.CopyFrom(proto)
            for name in extra:
                del getattr(copy, name)[count:]
            proto = copy
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError):
        return None

"""A loaded SavedModel version: its signatures (SignatureDefs and concrete functions) and metadata."""

import os

from keras_cvcls.serving.status import Code, ServingError
from keras_cvcls.serving.warmup import replay_warmup_requests
from keras_cvcls.tf_serving_names import SERVING_SIGNATURE


class SignatureInfo:
    """One callable signature of a loaded version: its SignatureDef and concrete function."""

    def __init__(self, name, signature_def, function):
        self.name = name
        self.signature_def = signature_def
        self.function = function
        self.inputs = {key: (info.dtype, _shape(info)) for key, info in signature_def.inputs.items()}
        self.outputs = {key: (info.dtype, _shape(info)) for key, info in signature_def.outputs.items()}


def _shape(tensor_info):
    """[-1, 32, ...] from a TensorInfo, or None for an unknown rank."""
    shape = tensor_info.tensor_shape
    return None if shape.unknown_rank else [d.size for d in shape.dim]


class LoadedVersion:
    """A loaded SavedModel version: its signatures and its SignatureDef map (for metadata)."""

    def __init__(self, name, version, path):
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        self.name = name
        self.version = version
        self.path = path
        pb = os.path.join(path, "saved_model.pb")
        if not os.path.exists(pb):
            raise ServingError(
                Code.NOT_FOUND,
                f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}. "
                "Check that the directory exists and that you have the right permissions for accessing it.",
            )
        saved_model = saved_model_pb2.SavedModel()
        try:
            with open(pb, "rb") as f:
                saved_model.ParseFromString(f.read())
        except Exception as e:  # protobuf's DecodeError and friends: a corrupt file
            raise ServingError(Code.DATA_LOSS, f"Can't parse {pb} as binary proto: {e}") from e
        meta_graphs = [m for m in saved_model.meta_graphs if "serve" in m.meta_info_def.tags]
        if not meta_graphs:
            raise ServingError(
                Code.NOT_FOUND,
                "Could not find meta graph def matching supplied tags: { serve }. To inspect available "
                "tag-sets in the SavedModel, please use the SavedModel CLI: `saved_model_cli`",
            )
        self.signature_defs = dict(meta_graphs[0].signature_def)
        try:
            self._loaded = tf.saved_model.load(path, tags=["serve"])
        except tf.errors.OpError as e:
            raise ServingError.from_tf_error(e) from e
        except (ValueError, OSError, TypeError, KeyError) as e:
            raise ServingError(Code.UNKNOWN, f"Failed to load SavedModel at {path}: {e}") from e
        self.signatures = {
            name: SignatureInfo(name, self.signature_defs[name], fn)
            for name, fn in self._loaded.signatures.items()
            if name in self.signature_defs
        }
        self._metadata_json = None

    def signature(self, name):
        """The :class:`SignatureInfo` called ``name`` ("" means ``serving_default``).

        Raises:
            ServingError: FAILED_PRECONDITION when there is no such signature (TF Serving's message).
        """
        name = name or SERVING_SIGNATURE
        info = self.signatures.get(name)
        if info is None:
            if name in self.signature_defs:
                raise ServingError(
                    Code.INTERNAL,
                    "Expected prediction signature method_name to be one of {tensorflow/serving/predict, "
                    "tensorflow/serving/classify, tensorflow/serving/regress}. Was: "
                    + self.signature_defs[name].method_name,
                )
            raise ServingError(Code.FAILED_PRECONDITION, f'Serving signature key "{name}" not found.')
        return info

    def signature_def_map(self):
        from tensorflow_serving.apis import get_model_metadata_pb2

        result = get_model_metadata_pb2.SignatureDefMap()
        for key, value in self.signature_defs.items():
            result.signature_def[key].CopyFrom(value)
        return result

    def warm_up(self):
        """Replays ``assets.extra/tf_serving_warmup_requests`` like TF Serving does at load time; returns the count."""
        return replay_warmup_requests(self)

"""A served model's image signature and class-name signature, found in its metadata.

Signature, input and output names are read from the metadata (TF Serving's JSON shape), never
assumed: the image input is the one string input, the scores the one ``[batch, classes]`` float
output, the class names the signature from an int id to a string.
"""

import dataclasses

from keras_cvcls.serving.scoring_error import ScoringError
from keras_cvcls.tf_serving_names import SERVING_SIGNATURE


def _signature_defs(metadata):
    return metadata["metadata"]["signature_def"]["signature_def"]


def _dims(tensor_info):
    shape = tensor_info.get("tensor_shape", {})
    if shape.get("unknown_rank"):
        return None
    return [int(d.get("size", -1)) for d in shape.get("dim", [])]


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a client needs to know of a served model, read from its metadata."""

    signature_name: str
    image_input: str
    scores_output: str
    classes_output: str
    num_classes: int
    labels_signature: tuple  # (signature name, input name, output name) or None
    output_dtypes: dict  # signature name -> {output name: dtype name}
    present_output: str = None  # a multi-label model's string [batch, classes] output: labels above threshold


def model_info(metadata, signature_name):
    """Finds the image input and the score/class outputs from metadata (no hard-coded names)."""
    defs = _signature_defs(metadata)
    name = signature_name or SERVING_SIGNATURE
    if name not in defs:
        raise ScoringError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found.')
    signature = defs[name]
    strings = [k for k, v in signature.get("inputs", {}).items() if v.get("dtype") == "DT_STRING"]
    if len(signature.get("inputs", {})) != 1 or len(strings) != 1:
        raise ScoringError(
            "FAILED_PRECONDITION",
            f"signature {name!r} must take one string input (encoded images); it takes "
            f"{ {k: v.get('dtype') for k, v in signature.get('inputs', {}).items()} }",
        )
    outputs = signature.get("outputs", {})
    scores = [k for k, v in outputs.items() if v.get("dtype") == "DT_FLOAT" and len(_dims(v) or []) == 2]
    classes = [k for k, v in outputs.items() if v.get("dtype") == "DT_STRING" and len(_dims(v) or []) == 1]
    present = [k for k, v in outputs.items() if v.get("dtype") == "DT_STRING" and len(_dims(v) or []) == 2]
    if len(scores) != 1:
        raise ScoringError(
            "FAILED_PRECONDITION", f"signature {name!r} must have one float output [batch, classes]; found {scores}"
        )
    num_classes = _dims(outputs[scores[0]])[1]
    labels_signature = None
    for key, sig in sorted(defs.items()):
        ins, outs = sig.get("inputs", {}), sig.get("outputs", {})
        if (
            len(ins) == 1
            and len(outs) == 1
            and next(iter(ins.values())).get("dtype") in ("DT_INT64", "DT_INT32")
            and next(iter(outs.values())).get("dtype") == "DT_STRING"
        ):
            labels_signature = (key, next(iter(ins)), next(iter(outs)))
            break
    dtypes = {k: {o: v.get("dtype") for o, v in sig.get("outputs", {}).items()} for k, sig in defs.items()}
    return ModelInfo(
        name,
        strings[0],
        scores[0],
        classes[0] if len(classes) == 1 else None,
        num_classes if num_classes and num_classes > 0 else None,
        labels_signature,
        dtypes,
        present[0] if len(present) == 1 else None,
    )

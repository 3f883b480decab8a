"""Classify, Regress and MultiInference: requests of ``tf.Example`` protos, as TF Serving runs them.

The signature checks and messages are TF Serving's (``classifier.cc``, ``regressor.cc``,
``multi_inference.cc``, ``util.cc``), with the signature method-name check off, as
``tensorflow_model_server`` runs by default (``--enable_signature_method_name_check=false``).
REST bodies (``:classify``, ``:regress``) are read as ``json_tensor.cc``'s
``FillClassifyRegressRequestFromJson`` reads them, and results written as
``MakeJsonFromClassificationResult`` / ``MakeJsonFromRegressionResult`` write them.

A keras-cvcls export answers Classify through its ``classification`` signature (the encoded
image under the ``image/encoded`` bytes feature); it has no regression signature.
"""

import base64
import binascii

import numpy as np

from keras_cvcls.serving.json_tensor import format_decimal, json_type_string, json_value_to_string
from keras_cvcls.serving.signature_run import run_signature
from keras_cvcls.serving.status import invalid_argument
from keras_cvcls.tf_serving_names import SERVING_SIGNATURE

CLASSIFY_INPUTS = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"
REGRESS_INPUTS = "inputs"
REGRESS_OUTPUTS = "outputs"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def _debug_string(signature_def):
    from google.protobuf import text_format

    return text_format.MessageToString(signature_def)


def _signature_def(servable, signature_name):
    name = signature_name or SERVING_SIGNATURE
    signature_def = servable.signature_defs.get(name)
    if signature_def is None:
        raise invalid_argument("No signature was found with the name: ", name)
    return name, signature_def


def check_classification_signature(signature_def):
    """``classifier.cc``'s PreProcessClassification: the output aliases to fetch."""
    if len(signature_def.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature_def.outputs) not in (1, 2):
        raise invalid_argument(f"Expected one or two output Tensors, found {len(signature_def.outputs)}")
    if CLASSIFY_INPUTS not in signature_def.inputs:
        raise invalid_argument("No classification inputs found in SignatureDef: ", _debug_string(signature_def))
    outputs = [alias for alias in (CLASSIFY_CLASSES, CLASSIFY_SCORES) if alias in signature_def.outputs]
    if not outputs:
        raise invalid_argument(
            'Expected classification signature outputs to contain at least one of "classes" or "scores". '
            "Signature was: ",
            _debug_string(signature_def),
        )
    return outputs


def check_regression_signature(signature_def):
    """``regressor.cc``'s PreProcessRegression."""
    if len(signature_def.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature_def.outputs) != 1:
        raise invalid_argument("Expected one output Tensor.")
    if REGRESS_INPUTS not in signature_def.inputs:
        raise invalid_argument("No regression inputs found in SignatureDef: ", _debug_string(signature_def))
    if REGRESS_OUTPUTS not in signature_def.outputs:
        raise invalid_argument("No regression outputs found in SignatureDef: ", _debug_string(signature_def))
    return [REGRESS_OUTPUTS]


def serialized_examples(input_proto):
    """``util.cc``'s InputToSerializedExampleTensor: an ``Input`` proto -> object array of serialized Examples.

    With a context, each example is the context's bytes followed by its own (so its features win).
    """
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples = [e.SerializeToString() for e in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        context = input_proto.example_list_with_context.context.SerializeToString()
        examples = [context + e.SerializeToString() for e in input_proto.example_list_with_context.examples]
    else:
        examples = []
    if not examples:
        raise invalid_argument("Input is empty.")
    return np.array(examples, dtype=object)


def _run(servable, name, input_proto, outputs):
    examples = serialized_examples(input_proto)
    signature = servable.signature(name)
    return len(examples), run_signature(signature, {CLASSIFY_INPUTS: examples}), outputs


def _classification_result(result, count, outputs):
    """``classifier.cc``'s PostProcessClassificationResult into a ClassificationResult proto."""
    classes, scores = outputs.get(CLASSIFY_CLASSES), outputs.get(CLASSIFY_SCORES)
    for alias, value, dtype in ((CLASSIFY_CLASSES, classes, "DT_STRING"), (CLASSIFY_SCORES, scores, "DT_FLOAT")):
        if value is None:
            continue
        if value.ndim != 2:
            shape = ",".join(str(d) for d in value.shape)
            raise invalid_argument(f"Expected Tensor shape: [batch_size num_classes] but got [{shape}]")
        ok = value.dtype == object if alias == CLASSIFY_CLASSES else value.dtype == np.float32
        if not ok:
            raise invalid_argument(f"Expected {alias} Tensor of {dtype}.")
        if value.shape[0] != count:
            raise invalid_argument(f"Expected {alias} output batch size of {count}. Got: {value.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid_argument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    width = (classes if classes is not None else scores).shape[1]
    for i in range(count):
        entry = result.classifications.add()
        for c in range(width):
            item = entry.classes.add()
            if classes is not None:
                item.label = classes[i, c].decode("utf-8", "replace")
            if scores is not None:
                item.score = float(scores[i, c])
    return result


def _regression_result(result, count, outputs):
    """``regressor.cc``'s PostProcessRegressionResult into a RegressionResult proto."""
    values = outputs[REGRESS_OUTPUTS]
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.shape[0] != count:
        raise invalid_argument(
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"[{','.join(str(d) for d in outputs[REGRESS_OUTPUTS].shape)}]"
        )
    for value in values:
        result.regressions.add().value = float(value)
    return result


def _run_task(servable, request, response, check_signature, fill_result):
    """Runs a Classification or Regression request: the signature, the run, the model spec, the result."""
    from keras_cvcls.serving.protos import model_spec_proto

    name, signature_def = _signature_def(servable, request.model_spec.signature_name)
    outputs = check_signature(signature_def)
    count, values, _ = _run(servable, name, request.input, outputs)
    model_spec_proto(response.model_spec, servable.name, servable.version, name)
    fill_result(response.result, count, {k: values[k] for k in outputs})
    return response


def classify(servable, request, response):
    """Runs a ClassificationRequest on a loaded version; fills and returns ``response``."""
    return _run_task(servable, request, response, check_classification_signature, _classification_result)


def regress(servable, request, response):
    """Runs a RegressionRequest on a loaded version; fills and returns ``response``."""
    return _run_task(servable, request, response, check_regression_signature, _regression_result)


def multi_inference(servable, request, response):
    """``multi_inference.cc``: classify and regress tasks on one model, over one input."""
    from keras_cvcls.serving.protos import model_spec_proto

    model_name, seen, tasks = "", set(), []
    for task in request.tasks:
        if not task.model_spec.name:
            raise invalid_argument("Found ModelSpec with an empty model name.")
        if not model_name:
            model_name = task.model_spec.name
        elif model_name != task.model_spec.name:
            raise invalid_argument("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
        name = task.model_spec.signature_name or SERVING_SIGNATURE
        if name in seen:
            raise invalid_argument("Duplicate evaluation of signature: ", name)
        seen.add(name)
        signature_def = servable.signature_defs.get(name)
        if signature_def is None:
            raise invalid_argument("Requested signature not found in model graph: ", name)
        if task.method_name == CLASSIFY_METHOD:
            outputs = check_classification_signature(signature_def)
        elif task.method_name == REGRESS_METHOD:
            outputs = check_regression_signature(signature_def)
        else:
            from keras_cvcls.serving.status import Code, ServingError

            raise ServingError(Code.UNIMPLEMENTED, f"Unsupported signature method_name: {task.method_name}")
        tasks.append((task, name, outputs))
    for task, name, outputs in tasks:
        count, values, _ = _run(servable, name, request.input, outputs)
        result = response.results.add()
        if task.method_name == CLASSIFY_METHOD:
            _classification_result(result.classification_result, count, {k: values[k] for k in outputs})
        else:
            _regression_result(result.regression_result, count, {k: values[k] for k in outputs})
        model_spec_proto(result.model_spec, task.model_spec.name, servable.version, name)
    return response


# ---------------------------------------------------------------- REST bodies


def _format_error(doc, *parts):
    return invalid_argument("JSON Value: ", json_value_to_string(doc), " ", *parts)


def _incompatible(name, feature):
    kind = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}.get(feature.WhichOneof("kind"))
    return invalid_argument(f"Unexpected element type in feature: {name} expecting type: {kind or 'UNKNOWN'}")


def _add_value(value, name, feature):
    """``json_tensor.cc``'s AddValueToFeature."""
    kind = feature.WhichOneof("kind")

    def need(wanted):
        if kind not in (None, wanted):
            raise _incompatible(name, feature)

    if value is None or isinstance(value, list) or (isinstance(value, dict) and set(value) != {"b64"}):
        raise invalid_argument(f"Feature: {name} has element with unexpected JSON type: {json_type_string(value)}")
    if isinstance(value, bool):
        need("int64_list")
        feature.int64_list.value.append(int(value))
    elif isinstance(value, dict):
        if not isinstance(value["b64"], str):
            raise invalid_argument(f"Feature: {name} has element with unexpected JSON type: Object")
        need("bytes_list")
        text = value["b64"]
        try:
            feature.bytes_list.value.append(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))
        except (binascii.Error, ValueError):
            raise invalid_argument("Unable to base64 decode") from None
    elif isinstance(value, str):
        need("bytes_list")
        feature.bytes_list.value.append(value.encode("utf-8"))
    elif isinstance(value, float) or value >= 1 << 64 or value < -(1 << 63):  # rapidjson holds these as doubles
        need("float_list")
        feature.float_list.value.append(float(value))
    else:
        need("int64_list")
        if value >= 1 << 63:
            raise invalid_argument(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        feature.int64_list.value.append(value)


def _example_from_json(value, example):
    """``json_tensor.cc``'s MakeExampleFromJsonObject."""
    if not isinstance(value, dict):
        raise invalid_argument(f"Example must be JSON object but got JSON {json_type_string(value)}")
    for name, content in value.items():
        feature = example.features.feature[name]
        for item in content if isinstance(content, list) else [content]:
            _add_value(item, name, feature)
    return example


def fill_request_from_json(doc, request):
    """``FillClassifyRegressRequestFromJson``: a parsed ``:classify`` / ``:regress`` body into ``request``.

    Args:
        doc: the parsed JSON object (:func:`~keras_cvcls.serving.json_tensor.parse_json`).
        request: a ClassificationRequest or RegressionRequest; its ``model_spec`` signature and
            ``input`` are filled.
    """
    if "signature_name" in doc:
        if not isinstance(doc["signature_name"], str):
            raise _format_error(doc, "not formatted correctly. 'signature_name' key must be a string value.")
        request.model_spec.signature_name = doc["signature_name"]
    has_context = "context" in doc
    if has_context:
        _example_from_json(doc["context"], request.input.example_list_with_context.context)
    if "examples" not in doc:
        raise _format_error(doc, "When method is classify, key 'examples' is expected and was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise _format_error(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise _format_error(doc, "'examples' value is an empty array")
    for value in examples:
        target = request.input.example_list_with_context if has_context else request.input.example_list
        _example_from_json(value, target.examples.add())
    return request


def classification_json(result):
    """``MakeJsonFromClassificationResult``: ``{"results": [[[label, score], ...], ...]}``, rapidjson's layout."""
    if not result.classifications:
        raise invalid_argument("Cannot convert empty ClassificationResults to JSON")
    import json

    rows = [
        "[" + ", ".join(f"[{json.dumps(c.label, ensure_ascii=False)}, {format_decimal(c.score)}]" for c in row.classes) + "]"
        for row in result.classifications
    ]
    return '{\n    "results": [' + ", ".join(rows) + "\n    ]\n}"


def regression_json(result):
    """``MakeJsonFromRegressionResult``: ``{"results": [value, ...]}``."""
    if not result.regressions:
        raise invalid_argument("Cannot convert empty RegressionResults to JSON")
    return '{\n    "results": [' + ", ".join(format_decimal(r.value) for r in result.regressions) + "]\n}"

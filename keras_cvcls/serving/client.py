"""Scoring clients for TF Serving (and ``keras-cvcls serve``): REST and gRPC, same methods.

``ScoringClient(url=...)`` talks REST, ``ScoringClient(grpc=...)`` talks gRPC; both have
``score_image``, ``score_images``, ``model_status``, ``metadata`` and ``class_map``. Every call
has a timeout; a failed call raises :class:`ScoringError` carrying the server's own message;
only UNAVAILABLE (server starting, queue full, connection refused) is retried. Signature,
input and output names are read from the model's metadata, never assumed.

cvtk users: ``score_image(path_or_url, image_resize_dims=[224, 224])`` and
``parse_serialized_result(result.to_json())`` work as they did; ``class_map`` maps score
indices to class names.
"""

import base64
import dataclasses
import io
import json
import os
import time
import urllib.parse

import numpy as np

from keras_cvcls.scoring_result import ScoringResult

_HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "RESOURCE_EXHAUSTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_PARAMETERS = {"add_softmax": bool}
_JPEG_QUALITY = 95


class ScoringError(Exception):
    """A scoring call failed; ``message`` is the server's (or the transport's) own text.

    Attributes:
        code: the canonical status name, e.g. ``"NOT_FOUND"``, ``"INVALID_ARGUMENT"``,
            ``"UNAVAILABLE"``, ``"DEADLINE_EXCEEDED"``.
        message: the error message.
        http_status: the HTTP status (REST), else None.
    """

    def __init__(self, code, message, http_status=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


def parse_serialized_result(serialized):
    """Scores from a serialized result, as cvtk's ``parse_serialized_result`` returned them.

    Accepts :meth:`ScoringResult.to_json` output (or a list of them), a TF Serving REST
    response body (``predictions`` or ``outputs``), or a plain JSON list of scores.

    Args:
        serialized: a JSON string or bytes, or the already parsed object.

    Returns:
        float32 scores: ``[C]`` for one image, ``[N, C]`` for several.

    Raises:
        ValueError: when no scores can be found.

    Example:
        >>> scores = parse_serialized_result(client.score_image("cat.jpg").to_json())
        >>> client.class_map[int(np.argmax(scores))]
        'cat'
    """
    value = json.loads(serialized) if isinstance(serialized, (str, bytes, bytearray)) else serialized

    def numeric(x):
        try:
            array = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError):
            return None
        return array if array.ndim >= 1 else None

    def from_row(row):
        if isinstance(row, dict):
            if "scores" in row:
                return numeric(row["scores"])
            found = [a for a in (numeric(v) for v in row.values()) if a is not None]
            return found[0] if len(found) == 1 else None
        return numeric(row)

    result = None
    if isinstance(value, dict):
        if "scores" in value:
            result = numeric(value["scores"])
        elif "predictions" in value:
            rows = [from_row(r) for r in value["predictions"]]
            result = None if any(r is None for r in rows) else np.stack(rows)
        elif "outputs" in value:
            result = from_row(value["outputs"])
    elif isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            rows = [from_row(v) for v in value]
            result = None if any(r is None for r in rows) else np.stack(rows)
        else:
            result = numeric(value)
    if result is None:
        raise ValueError(f"no scores found in the serialized result. Received: serialized={str(serialized)[:200]!r}")
    return result


def _check_parameters(parameters):
    if parameters is None:
        return
    if not isinstance(parameters, dict) or any(
        k not in _PARAMETERS or not isinstance(v, _PARAMETERS[k]) for k, v in parameters.items()
    ):
        raise ValueError(
            'parameters must be None or a dict like {"add_softmax": True}; the exported model already ends in a '
            f"softmax, so scores are probabilities either way. Received: parameters={parameters!r}"
        )


def _check_resize_dims(dims):
    if dims is None:
        return None
    if isinstance(dims, int) and not isinstance(dims, bool) and dims > 0:
        return dims
    try:
        w, h = (int(d) for d in dims)
    except (TypeError, ValueError):
        w = h = 0
    if w <= 0 or h <= 0:
        raise ValueError(
            "image_resize_dims must be a (width, height) pair of positive ints, or one int for the shorter "
            f"side. Received: image_resize_dims={dims!r}"
        )
    return (w, h)


def _image_header(data):
    """``(EXIF orientation, (width, height) as stored)``, or None when PIL cannot read ``data``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.getexif().get(0x0112, 1) or 1), image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None  # not an image PIL knows: sent as is, the server reports why it cannot decode it


def _upload_size(size, image_resize_dims):
    """The ``(width, height)`` an upright image of ``size`` is uploaded at: aspect ratio kept.

    The image is scaled down, by one factor for both sides, to the smallest size that still
    covers ``image_resize_dims``, and never scaled up. The served model fits the upload to its
    input size itself (centre-crop, pad or stretch, as it was trained); a uniformly scaled upload
    gives it the same picture as the original, whereas stretching to ``(width, height)`` would
    distort every photo whose aspect ratio differs.

    Args:
        size: ``(width, height)`` of the upright image.
        image_resize_dims: ``(width, height)``: the upload is at least this large in both
            sides; one int: the shorter side; None: ``size``.

    Returns:
        ``(width, height)``; ``size`` itself when the image is already no larger.

    Example:
        >>> _upload_size((600, 400), (224, 224))
        (336, 224)
        >>> _upload_size((600, 400), 200), _upload_size((100, 80), (224, 224))
        ((300, 200), (100, 80))
    """
    dims = _check_resize_dims(image_resize_dims)
    width, height = size
    if dims is None:
        return (width, height)
    if isinstance(dims, int):
        scale = dims / min(width, height)
    else:
        scale = max(dims[0] / width, dims[1] / height)
    if scale >= 1:
        return (width, height)
    return (max(1, round(width * scale)), max(1, round(height * scale)))


def prepare_image(data, image_resize_dims=None):
    """Bytes to upload: turned upright (EXIF orientation) and scaled down client-side when asked.

    Scaling keeps the aspect ratio: ``(width, height)`` is the size the upload must still
    cover (the image is scaled by ``max(width / W, height / H)``), one int the shorter side;
    an image already no larger is never scaled up. The served model then crops or pads the
    same window of the picture as it would from the original, so the scores differ from the
    original's only by resampling and JPEG re-encoding; stretching to ``(width, height)``
    would distort every photo of another aspect ratio.
    Untouched bytes are sent when the image is upright and needs no scaling; otherwise the
    image is re-encoded as JPEG (quality 95).

    Args:
        data: encoded image bytes.
        image_resize_dims: ``(width, height)``, one int (shorter side), or None.

    Returns:
        Encoded image bytes.
    """
    from PIL import Image, ImageOps

    _check_resize_dims(image_resize_dims)
    header = _image_header(data)
    if header is None:
        return data
    orientation, (width, height) = header
    if orientation in (5, 6, 7, 8):  # turned a quarter: upright, the sides swap
        width, height = height, width
    size = _upload_size((width, height), image_resize_dims)
    if orientation == 1 and size == (width, height):
        return data
    with Image.open(io.BytesIO(data)) as image:
        image = ImageOps.exif_transpose(image)
        image = image.convert("RGB")
        if size != image.size:
            image = image.resize(size, Image.BICUBIC)
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=_JPEG_QUALITY)
        return buf.getvalue()


def _is_url(value):
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def _signature_defs(metadata):
    return metadata["metadata"]["signature_def"]["signature_def"]


def _dims(tensor_info):
    shape = tensor_info.get("tensor_shape", {})
    if shape.get("unknown_rank"):
        return None
    return [int(d.get("size", -1)) for d in shape.get("dim", [])]


@dataclasses.dataclass(frozen=True)
class _ModelInfo:
    signature_name: str
    image_input: str
    scores_output: str
    classes_output: str
    num_classes: int
    labels_signature: tuple  # (signature name, input name, output name) or None
    output_dtypes: dict  # signature name -> {output name: dtype name}


def _model_info(metadata, signature_name):
    """Finds the image input and the score/class outputs from metadata (no hard-coded names)."""
    defs = _signature_defs(metadata)
    name = signature_name or "serving_default"
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
    return _ModelInfo(
        name,
        strings[0],
        scores[0],
        classes[0] if len(classes) == 1 else None,
        num_classes if num_classes and num_classes > 0 else None,
        labels_signature,
        dtypes,
    )


class _RestTransport:
    def __init__(self, url, model_name, version, version_label, timeout):
        import requests

        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"url must look like http://HOST:PORT. Received: url={url!r}")
        self._requests = requests
        self.session = requests.Session()
        self.timeout = timeout
        path = f"/v1/models/{urllib.parse.quote(model_name, safe='')}"
        if version is not None:
            path += f"/versions/{int(version)}"
        elif version_label is not None:
            path += f"/labels/{urllib.parse.quote(version_label, safe='')}"
        self.model_url = url.rstrip("/") + path

    def _call(self, method, url, body=None):
        requests = self._requests
        try:
            response = self.session.request(
                method,
                url,
                data=body,
                headers={"Content-Type": "application/json"} if body is not None else None,
                timeout=self.timeout,
            )
        except requests.Timeout as e:
            raise ScoringError("DEADLINE_EXCEEDED", f"no answer from {url} within {self.timeout} s: {e}") from e
        except requests.ConnectionError as e:
            raise ScoringError("UNAVAILABLE", f"cannot connect to {url}: {e}") from e
        if response.status_code != 200:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text.strip() or response.reason
            code = _HTTP_CODES.get(response.status_code, "UNKNOWN")
            raise ScoringError(code, message, http_status=response.status_code)
        try:
            return response.json()
        except ValueError as e:
            raise ScoringError("INTERNAL", f"the server's answer is not JSON: {response.text[:200]!r}") from e

    def model_status(self):
        return self._call("GET", self.model_url)

    def metadata(self):
        return self._call("GET", self.model_url + "/metadata")

    def predict(self, signature_name, inputs, output_dtypes, wanted):
        body = {
            "signature_name": signature_name,
            "inputs": {
                name: (
                    [{"b64": base64.b64encode(v).decode("ascii")} for v in value.ravel()]
                    if value.dtype == object
                    else value.tolist()
                )
                for name, value in inputs.items()
            },
        }
        answer = self._call("POST", self.model_url + ":predict", json.dumps(body))
        outputs = answer["outputs"]
        if len(output_dtypes) == 1:
            outputs = {next(iter(output_dtypes)): outputs}
        result = {}
        for name, value in outputs.items():
            if name not in wanted:
                continue
            if output_dtypes.get(name) == "DT_STRING":
                array = np.asarray(value, dtype=object)
                flat = [
                    base64.b64decode(v["b64"]) if isinstance(v, dict) else str(v).encode("utf-8") for v in array.ravel()
                ]
                packed = np.empty(len(flat), dtype=object)
                packed[:] = flat
                result[name] = packed.reshape(array.shape)
            else:
                result[name] = np.asarray(value, dtype=np.float32 if output_dtypes.get(name) == "DT_FLOAT" else None)
        return result, None

    def close(self):
        self.session.close()


class _GrpcTransport:
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


class ScoringClient:
    """Scores images on a TF Serving model over REST or gRPC; the same methods either way.

    Args:
        url: REST base URL, e.g. ``http://localhost:8501``.
        grpc: gRPC target, e.g. ``localhost:8500``; give exactly one of ``url`` and ``grpc``.
        model_name: the served model's name.
        timeout: seconds each call may take (also used for downloading image URLs).
        version: ask a specific version (exclusive with ``version_label``).
        version_label: ask a labelled version, e.g. ``"stable"``.
        signature_name: the image signature; default ``serving_default``.
        max_retries: retries of a call that failed with UNAVAILABLE (0 for none).
        retry_backoff: seconds before the first retry; doubled each time.
        batch_size: most images per request in :meth:`score_images`.
        max_message_bytes: largest gRPC request.

    Raises:
        ValueError: for missing or contradictory arguments.

    Example:
        >>> client = ScoringClient(url="http://localhost:8501", model_name="flowers")
        >>> result = client.score_image("rose.jpg")
        >>> result.label, result.probabilities()["rose"]
        ('rose', 0.93)
    """

    def __init__(
        self,
        url=None,
        grpc=None,
        model_name=None,
        timeout=10.0,
        *,
        version=None,
        version_label=None,
        signature_name=None,
        max_retries=2,
        retry_backoff=0.1,
        batch_size=32,
        max_message_bytes=64 << 20,
    ):
        if (url is None) == (grpc is None):
            raise ValueError(f"give exactly one of url and grpc. Received: url={url!r}, grpc={grpc!r}")
        if not model_name or not isinstance(model_name, str):
            raise ValueError(f"model_name must be the served model's name. Received: model_name={model_name!r}")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds. Received: timeout={timeout!r}")
        if version is not None and version_label is not None:
            raise ValueError(
                f"give at most one of version and version_label. Received: version={version!r}, "
                f"version_label={version_label!r}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
        self.model_name = model_name
        self.timeout = float(timeout)
        self.signature_name = signature_name
        self.max_retries = int(max_retries)
        self.retry_backoff = float(retry_backoff)
        self.batch_size = batch_size
        self.protocol = "rest" if url is not None else "grpc"
        if url is not None:
            self._transport = _RestTransport(url, model_name, version, version_label, self.timeout)
        else:
            self._transport = _GrpcTransport(grpc, model_name, version, version_label, self.timeout, max_message_bytes)
        self._info = None
        self._class_map = None
        self._class_map_fetched = False

    def _retrying(self, fn, *args):
        for attempt in range(self.max_retries + 1):
            try:
                return fn(*args)
            except ScoringError as e:
                if e.code != "UNAVAILABLE" or attempt == self.max_retries:
                    raise
                time.sleep(self.retry_backoff * 2**attempt)

    def model_status(self):
        """The model's version status, TF Serving's JSON shape (``{"model_version_status": [...]}``).

        Raises:
            ScoringError: e.g. NOT_FOUND for an unknown model.
        """
        return self._retrying(self._transport.model_status)

    def metadata(self):
        """The model's signatures, TF Serving's JSON shape (``{"model_spec", "metadata"}``).

        Raises:
            ScoringError: e.g. NOT_FOUND for an unknown model.
        """
        return self._retrying(self._transport.metadata)

    def refresh(self):
        """Forgets the cached metadata and class map (after the served version changed)."""
        self._info = None
        self._class_map = None
        self._class_map_fetched = False

    def _model_info(self):
        if self._info is None:
            self._info = _model_info(self.metadata(), self.signature_name)
        return self._info

    @property
    def class_map(self):
        """Class names in score order (``class_map[i]`` names ``scores[i]``), or None.

        Read once from the model's class-name signature (``labels`` in models exported by
        keras-cvcls).
        """
        if not self._class_map_fetched:
            info = self._model_info()
            if info.labels_signature is not None and info.num_classes:
                signature, input_name, output_name = info.labels_signature
                ids = np.arange(info.num_classes, dtype=np.int64)
                outputs, _ = self._retrying(
                    self._transport.predict, signature, {input_name: ids}, info.output_dtypes[signature], [output_name]
                )
                self._class_map = [v.decode("utf-8") for v in outputs[output_name].tolist()]
            self._class_map_fetched = True
        return self._class_map

    def encode_image(self, image, image_resize_dims=None):
        """The bytes :meth:`score_image` uploads for ``image`` (upright, resized if asked).

        Args:
            image: a file path, an ``http(s)://`` URL, encoded bytes, a PIL image or a uint8
                array ``[H, W, 3]``.
            image_resize_dims: ``(width, height)``: scale down before upload, aspect ratio
                kept, to the smallest size that still covers ``width`` x ``height``; one int:
                the shorter side; None: as is. Never scaled up.

        Raises:
            ValueError: for an unsupported ``image`` or a URL that cannot be downloaded.
            FileNotFoundError: for a missing file.
        """
        if isinstance(image, (bytes, bytearray, memoryview)):
            data = bytes(image)
        elif _is_url(image):
            import requests

            try:
                response = requests.get(image, timeout=self.timeout)
                response.raise_for_status()
            except requests.RequestException as e:
                raise ValueError(f"could not download the image. Received: image={image!r} ({e})") from e
            data = response.content
        elif isinstance(image, (str, os.PathLike)):
            with open(image, "rb") as f:
                data = f.read()
        else:
            data = _encode_in_memory(image)
        return prepare_image(data, image_resize_dims)

    def score_image(self, image, image_resize_dims=None, parameters=None):
        """Scores one image.

        Args:
            image: a file path, an ``http(s)://`` URL, encoded bytes, a PIL image or a uint8 array.
            image_resize_dims: ``(width, height)`` to scale down to client-side before upload
                (smaller uploads): the aspect ratio is kept and the result still covers
                ``width`` x ``height`` (a 600x400 photo with ``(224, 224)`` is sent as
                336x224), so the served model crops the same window as from the original and
                the scores differ only by resampling and JPEG re-encoding. One int: the
                shorter side. None: upload as is. Images are never scaled up. EXIF
                orientation is applied client-side either way.
            parameters: cvtk's ``{"add_softmax": True}``, accepted for compatibility: the
                exported model ends in a softmax, so scores are probabilities.

        Returns:
            A :class:`ScoringResult`.

        Raises:
            ScoringError: with the server's message (bad image, unknown model, ...).
        """
        return self.score_images([image], image_resize_dims, parameters)[0]

    def score_images(self, images, image_resize_dims=None, parameters=None):
        """Scores several images, ``batch_size`` per request; returns a list of :class:`ScoringResult`.

        Raises:
            ScoringError: with the server's message.
        """
        _check_parameters(parameters)
        if isinstance(images, (str, bytes, os.PathLike)):
            raise ValueError(f"images must be a list; use score_image for one. Received: images={images!r}")
        payloads = [self.encode_image(image, image_resize_dims) for image in images]
        info = self._model_info()
        dtypes = info.output_dtypes[info.signature_name]
        wanted = [info.scores_output] + ([info.classes_output] if info.classes_output else [])
        labels = self.class_map
        results = []
        for start in range(0, len(payloads), self.batch_size):
            chunk = payloads[start : start + self.batch_size]
            batch = np.empty(len(chunk), dtype=object)
            batch[:] = chunk
            outputs, version = self._retrying(
                self._transport.predict, info.signature_name, {info.image_input: batch}, dtypes, wanted
            )
            scores = np.asarray(outputs[info.scores_output], dtype=np.float32)
            classes = outputs.get(info.classes_output) if info.classes_output else None
            for i, row in enumerate(scores):
                if classes is not None:
                    label = classes[i].decode("utf-8") if isinstance(classes[i], bytes) else str(classes[i])
                elif labels is not None:
                    label = labels[int(np.argmax(row))]
                else:
                    label = str(int(np.argmax(row)))
                results.append(ScoringResult(label, row, tuple(labels) if labels else None, version))
        return results

    def close(self):
        self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _encode_in_memory(image):
    from PIL import Image

    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(
                f"an array image must be uint8 [H, W] or [H, W, C]. Received: array of shape {image.shape}, "
                f"dtype {image.dtype}"
            )
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise ValueError(
            "image must be a file path, an http(s) URL, encoded bytes, a PIL image or a uint8 array. "
            f"Received: image of type {type(image).__name__}"
        )
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()

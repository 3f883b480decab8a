"""TF Serving's REST API (``/v1/models/...``) on aiohttp.

Routes are matched with TF Serving's own regular expressions on the raw path:

* ``GET /v1/models/NAME[/versions/N | /labels/L]`` - model status
* ``GET /v1/models/NAME[/versions/N | /labels/L]/metadata`` - signatures
* ``POST /v1/models/NAME[/versions/N | /labels/L]:predict`` - row or columnar JSON
* ``POST /v1/models/NAME[/versions/N | /labels/L]:classify`` / ``:regress`` - ``examples``
  (and ``context``), read by :mod:`~keras_cvcls.serving.example_requests`

The path matched is the raw request target, query string included, as TF Serving's
``uri_path()`` is (``/v1/models/m?x=1`` asks for the model ``m?x=1``). The regular expressions
ignore case, the dispatch after them does not: ``:PREDICT`` is a malformed request and
``/METADATA`` asks for the status (``http_rest_api_handler.cc``). ``OPTIONS`` is a CORS
preflight: 200 with an empty body when the ``Origin`` header holds ``http://`` or ``https://``,
else 400 (``http_server.cc``).

Errors are ``{"error": "..."}`` with TF Serving's HTTP status for the error's code. The server
runs on its own event loop in a background thread; the JSON work runs on a thread pool so the
loop only moves bytes. The request timeout covers the whole request: reading the JSON into
tensors (which stops itself at the deadline), the prediction and writing the response.
"""

import asyncio
import logging
import re
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from keras_cvcls.http_thread import AiohttpThread
from keras_cvcls.serving import example_requests, json_tensor, protos
from keras_cvcls.serving.json_dense import check_deadline
from keras_cvcls.serving.status import Code, ServingError, invalid_argument
from keras_cvcls.tf_serving_names import SERVING_SIGNATURE

log = logging.getLogger(__name__)

_V1_RE = re.compile(r"(?i)/v1/.*")
_PREDICT_RE = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)"
)
_STATUS_RE = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")
# Request bodies up to this size are parsed on the event loop, larger ones in the thread pool.
_INLINE_BODY_BYTES = 256 * 1024
_JSON_HEADERS = {"Content-Type": "application/json"}  # TF Serving's AddHeaders: no charset
_CORS_ORIGIN = re.compile(r"https?://")


def _version(text):
    if text is None:
        return None
    value = int(text)
    if value >= 2**63:
        raise invalid_argument(f"Failed to convert version: {text} to numeric.")
    return value


def _unquote(text):
    return None if text is None else urllib.parse.unquote(text)


class RestServer:
    """The REST endpoint of a :class:`~keras_cvcls.serving.server.ModelServer`.

    Args:
        manager: the :class:`~keras_cvcls.serving.model_manager.ModelManager`.
        predictor: the :class:`~keras_cvcls.serving.predictor.Predictor`.
        host: address to bind.
        port: port to bind; 0 picks a free one (see :attr:`port` after :meth:`start`).
        max_request_bytes: larger bodies are refused with 413.
        timeout_ms: a request running longer gets DEADLINE_EXCEEDED (504), as
            ``--rest_api_timeout_in_ms``; 0 for none.
        num_threads: threads parsing and writing JSON.
        grace: seconds :meth:`stop` waits for running requests.
    """

    def __init__(
        self,
        manager,
        predictor,
        *,
        host="0.0.0.0",
        port=8501,
        max_request_bytes=2**31 - 1,
        timeout_ms=30000,
        num_threads=8,
        grace=5.0,
    ):
        self.manager = manager
        self.predictor = predictor
        self.host = host
        self.port = port
        self.max_request_bytes = max_request_bytes
        self.timeout = timeout_ms / 1000 if timeout_ms else None
        self.grace = grace
        self._pool = ThreadPoolExecutor(num_threads, thread_name_prefix="keras-cvcls-rest")
        self._server = None

    def start(self):
        """Binds the port and serves in a background thread; returns the bound port."""
        from aiohttp import web

        app = web.Application(client_max_size=self.max_request_bytes)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = AiohttpThread(app, self.host, self.port, name="keras-cvcls-rest", shutdown_timeout=self.grace)
        self.port = self._server.start()
        return self.port

    def stop(self):
        """Stops accepting connections, lets running requests finish (up to ``grace`` s), stops."""
        if self._server is None:
            return
        self._server.stop()
        self._server = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _handle(self, request):
        from aiohttp import web

        deadline = time.monotonic() + self.timeout if self.timeout else None
        path = request.raw_path  # the query string is part of it, as in TF Serving
        if not _V1_RE.fullmatch(path):
            return web.Response(status=404)  # TF Serving has no handler outside /v1/
        if request.method == "OPTIONS":  # a CORS preflight, answered before the REST handler
            return web.Response(status=200 if _CORS_ORIGIN.search(request.headers.get("Origin", "")) else 400)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._error(413, f"Request body is larger than the server's limit of {self.max_request_bytes} bytes")
        try:
            if request.method == "POST" and (match := _PREDICT_RE.fullmatch(path)):
                name, version, label, verb = match.groups()
                name, version, label = _unquote(name), _version(version), _unquote(label)
                if verb not in ("predict", "classify", "regress"):  # the regex ignores case, the dispatch does not
                    raise invalid_argument(f"Malformed request: {request.method} {path}")
                if verb == "predict":
                    text = await self._predict(name, version, label, body, deadline)
                else:
                    text = await _before(
                        deadline,
                        asyncio.get_running_loop().run_in_executor(
                            self._pool, self._examples, verb, name, version, label, body
                        ),
                    )
            elif request.method == "GET" and (match := _STATUS_RE.fullmatch(path)):
                name, version, label, subresource = match.groups()
                name, version, label = _unquote(name), _version(version), _unquote(label)
                if not name:
                    raise invalid_argument("Missing model name in request.")
                if subresource == "metadata":  # any other case of it asks for the status
                    servable = self.manager.get_servable(name, version, label)
                    text = protos.metadata_json(protos.metadata_response(servable))
                else:
                    text = protos.status_json(protos.status_response(self.manager, name, version, label))
            else:
                raise invalid_argument(f"Malformed request: {request.method} {path}")
        except ServingError as e:
            return self._error(e.http_status, e.message)
        return web.Response(body=text.encode("utf-8"), headers=_JSON_HEADERS)

    def _error(self, status, message):
        from aiohttp import web

        return web.Response(status=status, body=json_tensor.make_json_error(message).encode("utf-8"), headers=_JSON_HEADERS)

    async def _predict(self, name, version, label, body, deadline):
        loop = asyncio.get_running_loop()
        # A typical request (a few images, tens of kB) parses in ~0.1 ms: doing that on the event
        # loop costs less than two thread hand-offs. Large bodies go to the thread pool.
        inline = len(body) <= _INLINE_BODY_BYTES
        if inline:
            future, fmt = self._submit(name, version, label, body, deadline)
        else:
            submitted = loop.run_in_executor(self._pool, self._submit, name, version, label, body, deadline)
            future, fmt = await _before(deadline, submitted)
        try:
            result = await _before(deadline, asyncio.wrap_future(future))
        except ServingError:
            future.cancel()
            raise
        if inline:
            return json_tensor.make_json_from_tensors(result.outputs, fmt)
        written = loop.run_in_executor(self._pool, json_tensor.make_json_from_tensors, result.outputs, fmt)
        return await _before(deadline, written)

    def _examples(self, verb, name, version, label, body):
        """``:classify`` / ``:regress`` (:mod:`~keras_cvcls.serving.example_requests`)."""
        from tensorflow_serving.apis import classification_pb2, regression_pb2

        request = classification_pb2.ClassificationRequest() if verb == "classify" else regression_pb2.RegressionRequest()
        example_requests.fill_request_from_json(json_tensor.parse_json(body, min_dense_bytes=float("inf")), request)
        servable = self.manager.get_servable(name, version, label)
        if verb == "classify":
            response = example_requests.classify(servable, request, classification_pb2.ClassificationResponse())
            return example_requests.classification_json(response.result)
        response = example_requests.regress(servable, request, regression_pb2.RegressionResponse())
        return example_requests.regression_json(response.result)

    def _submit(self, name, version, label, body, deadline):
        doc = json_tensor.parse_json(body, deadline=deadline)
        resolved = {}

        def input_dtypes(signature_name):
            servable = self.manager.get_servable(name, version, label)
            key = signature_name or SERVING_SIGNATURE
            signature_def = servable.signature_defs.get(key)
            if signature_def is None:
                raise invalid_argument(f'Serving signature name: "{key}" not found in signature def')
            resolved["servable"] = servable
            return {k: v.dtype for k, v in signature_def.inputs.items()}

        allow_fast = b"true" not in body and b"false" not in body
        signature_name, inputs, fmt = json_tensor.fill_predict_request(
            doc, input_dtypes, allow_fast=allow_fast, deadline=deadline
        )
        check_deadline(deadline)  # the caller may have answered 504 already: run nothing
        return self.predictor.submit(resolved["servable"], signature_name, inputs), fmt


async def _before(deadline, awaitable):
    """Awaits ``awaitable``; DEADLINE_EXCEEDED when ``deadline`` (``time.monotonic()``) comes first."""
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise ServingError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded") from None

"""The REST transport of :class:`~keras_cvcls.serving.ScoringClient`: TF Serving's ``/v1`` API over HTTP."""

import base64
import json
import urllib.parse

import numpy as np

from keras_cvcls.serving.scoring_error import ScoringError

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


class RestTransport:
    """REST calls to ``/v1/models/NAME[/versions/N | /labels/L]``; failures become :class:`ScoringError`."""

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

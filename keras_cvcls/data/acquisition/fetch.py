"""HTTP(S) downloads with timeouts, bounded retries and redirects, a size cap and type checks."""

import dataclasses
import email.message
import hashlib
import io
import json
import os
import time
import urllib.parse

import requests

ALLOWED_SCHEMES = ("http", "https")
# Statuses worth another try: the server may answer later.
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
# Content types that may hold an image whose format only the bytes tell.
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/binary"}
MAX_RETRY_AFTER = 30.0
USER_AGENT = "keras-cvcls-dataset-download/1"


@dataclasses.dataclass(frozen=True)
class FetchOptions:
    """How URLs are fetched.

    Attributes:
        timeout: seconds to connect, and the longest wait for the next bytes.
        total_timeout: seconds one attempt may take in all (slow-drip guard).
        retries: further attempts after a timeout, a connection error or a
            408/429/5xx answer; other failures are final.
        backoff: seconds before the first retry, doubled for each next one (a
            server's ``Retry-After`` is honoured up to 30 s).
        max_redirects: redirects followed before giving up.
        max_bytes: largest body accepted (after content decoding).
        user_agent: the ``User-Agent`` header.
    """

    timeout: float = 10.0
    total_timeout: float = 60.0
    retries: int = 2
    backoff: float = 0.5
    max_redirects: int = 5
    max_bytes: int = 20 * 2**20
    user_agent: str = USER_AGENT

    def __post_init__(self):
        for name in ("timeout", "total_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds. Received: {name}={value!r}")
        for name, low in (("retries", 0), ("max_redirects", 0), ("max_bytes", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}. Received: {name}={value!r}")
        if isinstance(self.backoff, bool) or not isinstance(self.backoff, (int, float)) or self.backoff < 0:
            raise ValueError(f"backoff must be a number of seconds >= 0. Received: backoff={self.backoff!r}")


class FetchError(Exception):
    """A URL that could not be fetched; the message is the reason.

    Attributes:
        reason: why.
        permanent: ``False`` when another run may succeed (timeouts, connection
            errors, 429/5xx answers), ``True`` otherwise.
    """

    def __init__(self, reason, *, permanent):
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


class _Transient(Exception):
    def __init__(self, reason, retry_after=None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


@dataclasses.dataclass(frozen=True)
class FetchResult:
    """A body saved to disk.

    Attributes:
        final_url: the URL after redirects.
        content_type: the ``Content-Type`` media type (lower case, no parameters).
        filename_hint: the untrusted name the server or URL suggests.
        sha256: hex digest of the saved bytes.
        size: bytes saved.
    """

    final_url: str
    content_type: str
    filename_hint: str
    sha256: str
    size: int


def check_url(url):
    """Raises a permanent :class:`FetchError` unless ``url`` is an http(s) URL with a host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise FetchError(f"unsupported URL scheme {parts.scheme!r}: only http and https URLs are fetched", permanent=True)
    if not parts.hostname:
        raise FetchError("URL has no host", permanent=True)


def _retry_after(response):
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return None


def _status_error(response):
    status = f"HTTP {response.status_code} {response.reason or ''}".strip()
    if response.status_code in RETRY_STATUSES:
        return _Transient(status, _retry_after(response))
    return FetchError(status, permanent=True)


def _send(session, url, options, headers=None, params=None):
    """One GET, redirects not followed, body not read yet."""
    check_url(url)
    headers = {"User-Agent": options.user_agent, **(headers or {})}
    try:
        return session.get(
            url, params=params, headers=headers, timeout=(options.timeout, options.timeout),
            stream=True, allow_redirects=False,
        )
    except requests.Timeout:
        raise _Transient(f"timed out (no answer within {options.timeout:g} s)") from None
    except requests.ConnectionError as e:
        raise _Transient(f"connection failed: {_short(e)}") from None
    except requests.RequestException as e:  # invalid URL, too many header bytes, ...
        raise FetchError(f"request failed: {_short(e)}", permanent=True) from None


def _short(error):
    text = str(error.args[0] if error.args else error)
    return text if len(text) <= 200 else text[:197] + "..."


def _read_body(response, options, deadline, sink):
    """Streams the body into ``sink``; returns ``(size, sha256)``; enforces size and time caps."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > options.max_bytes:
        raise FetchError(f"too large: Content-Length {int(length)} bytes exceeds max_bytes={options.max_bytes}", permanent=True)
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > options.max_bytes:
                raise FetchError(f"too large: body exceeds max_bytes={options.max_bytes}", permanent=True)
            if time.monotonic() > deadline:
                raise _Transient(f"too slow: not complete within total_timeout={options.total_timeout:g} s")
            digest.update(chunk)
            sink.write(chunk)
    except requests.exceptions.ContentDecodingError as e:
        raise FetchError(f"undecodable response body: {_short(e)}", permanent=True) from None
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as e:
        raise _Transient(f"connection broke while reading: {_short(e)}") from None
    return size, digest.hexdigest()


def _filename_hint(response, url):
    disposition = response.headers.get("Content-Disposition", "")
    if disposition:
        message = email.message.EmailMessage()
        try:
            message["Content-Disposition"] = disposition
            name = message.get_filename()
        except (ValueError, TypeError, IndexError):
            name = None
        if name:
            return name
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path)


def _with_retries(attempt, options):
    tries = 0
    while True:
        try:
            return attempt()
        except _Transient as e:
            if tries >= options.retries:
                suffix = f" (after {tries + 1} attempts)" if tries else ""
                raise FetchError(e.reason + suffix, permanent=False) from None
            delay = e.retry_after if e.retry_after is not None else options.backoff * 2**tries
            time.sleep(delay)
            tries += 1


def _media_type(response):
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _follow(session, url, options, headers=None, params=None):
    """GETs ``url``, following at most ``max_redirects`` redirects; returns ``(response, final_url)``."""
    visited, current = [url], url
    for _ in range(options.max_redirects + 1):
        response = _send(session, current, options, headers, params)
        if not response.is_redirect:
            return response, current
        response.close()
        target = urllib.parse.urljoin(current, response.headers["Location"])
        if target in visited:
            raise FetchError(f"redirect loop: {current} -> {target}", permanent=True)
        visited.append(target)
        current, params = target, None
    raise FetchError(f"too many redirects (more than max_redirects={options.max_redirects})", permanent=True)


def fetch_image(url, dest, *, session, options):
    """Downloads ``url`` into the file ``dest`` (created or overwritten).

    Only http(s) URLs are fetched, redirects included. Answers whose
    ``Content-Type`` is neither ``image/*`` nor generic binary are refused
    before their body is read, as are bodies over ``options.max_bytes``.
    Whether the bytes are a usable image is for the caller to check.

    Args:
        url: the URL.
        dest: the file to write; removed again if the download fails.
        session: a :class:`requests.Session` (one per thread).
        options: :class:`FetchOptions`.

    Returns:
        A :class:`FetchResult`.

    Raises:
        FetchError: with the reason, and whether a later run may succeed.
    """

    def attempt():
        deadline = time.monotonic() + options.total_timeout
        response, final_url = _follow(session, url, options, {"Accept": "image/*;q=1.0, */*;q=0.1"})
        with response:
            if response.status_code != 200:
                raise _status_error(response)
            media_type = _media_type(response)
            if media_type == "image/svg+xml":
                raise FetchError("server sent an SVG drawing (image/svg+xml), not a photo", permanent=True)
            if not media_type.startswith("image/") and media_type not in _GENERIC_TYPES:
                raise FetchError(f"server sent Content-Type {media_type}, not an image", permanent=True)
            with open(dest, "wb") as sink:
                size, sha256 = _read_body(response, options, deadline, sink)
            return FetchResult(final_url, media_type, _filename_hint(response, final_url), sha256, size)

    try:
        return _with_retries(attempt, options)
    except FetchError:
        if os.path.exists(dest):
            os.remove(dest)
        raise


def get_json(url, *, session, options, params=None, headers=None):
    """GETs a JSON document (an API answer): no redirects, size-capped, retried like images.

    Raises:
        FetchError: on any failure; HTTP statuses are in the reason.
    """
    def attempt():
        deadline = time.monotonic() + options.total_timeout
        response = _send(session, url, options, {"Accept": "application/json", **(headers or {})}, params)
        with response:
            if response.is_redirect:
                raise FetchError(
                    f"the endpoint redirects to {response.headers['Location']}; use the final URL", permanent=True
                )
            if response.status_code != 200:
                raise _status_error(response)
            buffer = io.BytesIO()
            _read_body(response, options, deadline, buffer)
        try:
            return json.loads(buffer.getvalue().decode(response.encoding or "utf-8"))
        except (UnicodeDecodeError, LookupError, ValueError) as e:
            raise FetchError(f"the answer is not JSON: {e}", permanent=True) from None

    return _with_retries(attempt, options)

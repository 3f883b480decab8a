"""HTTP(S) downloads with timeouts, bounded retries and redirects, a size cap and type checks.

Sessions come from :func:`~keras_cvcls.data.acquisition.guarded_session.guarded_session`:
every hop's address is checked and pinned, and a :class:`Deadline` bounds each URL in
wall-clock time, retries and redirects included.
"""

import dataclasses
import email.message
import hashlib
import http.client
import io
import json
import os
import time
import urllib.parse

import requests

from keras_cvcls.data.acquisition.deadline import Deadline
from keras_cvcls.data.acquisition.guarded_session import GuardedAdapter, guarded_session
from keras_cvcls.data.acquisition.public_address import PrivateAddressError, private_addresses_allowed

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
        total_timeout: seconds one URL may take in all, wall-clock: every attempt,
            redirect and wait between attempts (slow-drip guard; the connection is cut
            when it passes, whatever it is doing).
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
        final_url: the URL after redirects (without any ``user:password@``).
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


def without_credentials(url):
    """``url`` with any ``user:password@`` removed (for records and messages)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


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


def _send(session, url, options, deadline, headers=None, params=None):
    """One GET, redirects not followed, body not read yet."""
    check_url(url)
    headers = {"User-Agent": options.user_agent, **(headers or {})}
    try:
        return session.get(
            url, params=params, headers=headers, timeout=(options.timeout, options.timeout),
            stream=True, allow_redirects=False,
        )
    except PrivateAddressError as e:
        # Not permanent: a re-run with allow_private_addresses=True tries it again.
        raise FetchError(str(e), permanent=False) from None
    except requests.RequestException as e:
        if deadline.passed():
            raise _Transient(_too_slow(deadline)) from None
        violation = _protocol_violation(e)
        if violation is not None:  # the server will answer the same way next time
            raise FetchError(f"the server broke the HTTP protocol: {violation}", permanent=True) from None
        if isinstance(e, requests.Timeout):
            raise _Transient(f"timed out (no answer within {options.timeout:g} s)") from None
        if isinstance(e, requests.ConnectionError):
            raise _Transient(f"connection failed: {_short(e)}") from None
        raise FetchError(f"request failed: {_short(e)}", permanent=True) from None  # invalid URL, ...


def _protocol_violation(error):
    """The ``http.client`` complaint (e.g. "got more than 100 headers") behind ``error``, or None.

    A lost connection (``RemoteDisconnected``, ``IncompleteRead``) is not a violation.
    """
    seen, todo = set(), [error]
    while todo:
        e = todo.pop()
        if id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        if isinstance(e, http.client.HTTPException) and not isinstance(
            e, (http.client.RemoteDisconnected, http.client.IncompleteRead)
        ):
            return f"{type(e).__name__}: {e}" if type(e) is not http.client.HTTPException else str(e)
        todo.extend(a for a in e.args if isinstance(a, BaseException))
        todo.extend(x for x in (e.__cause__, e.__context__, getattr(e, "reason", None)) if x is not None)
    return None


def _too_slow(deadline):
    return f"too slow: not complete within {deadline.reason}"


def _short(error):
    text = str(error.args[0] if error.args else error)
    return text if len(text) <= 200 else text[:197] + "..."


def _read_body(response, options, deadline, sink):
    """Streams the body into ``sink``; returns ``(size, sha256)``; enforces the size cap and the deadline."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > options.max_bytes:
        raise FetchError(f"too large: Content-Length {int(length)} bytes exceeds max_bytes={options.max_bytes}", permanent=True)
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > options.max_bytes:
                raise FetchError(f"too large: body exceeds max_bytes={options.max_bytes}", permanent=True)
            if deadline.passed():
                raise _Transient(_too_slow(deadline))
            digest.update(chunk)
            sink.write(chunk)
    except requests.exceptions.ContentDecodingError as e:
        raise FetchError(f"undecodable response body: {_short(e)}", permanent=True) from None
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as e:
        if deadline.passed():  # the deadline cut the connection
            raise _Transient(_too_slow(deadline)) from None
        raise _Transient(f"connection broke while reading: {_short(e)}") from None
    if deadline.passed():
        raise _Transient(_too_slow(deadline))
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


def _with_retries(attempt, options, deadline):
    tries = 0
    while True:
        try:
            return attempt()
        except _Transient as e:
            suffix = f" (after {tries + 1} attempts)" if tries else ""
            delay = e.retry_after if e.retry_after is not None else options.backoff * 2**tries
            if tries >= options.retries or deadline.passed():
                raise FetchError(e.reason + suffix, permanent=False) from None
            if delay >= deadline.remaining():  # no time left for another attempt
                raise FetchError(f"{e.reason}{suffix}; no time left to retry within {deadline.reason}", permanent=False) from None
            time.sleep(delay)
            tries += 1


def _media_type(response):
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _follow(session, url, options, deadline, headers=None):
    """GETs ``url``, following at most ``max_redirects`` redirects; returns ``(response, final_url)``."""
    visited, current = [url], url
    for _ in range(options.max_redirects + 1):
        response = _send(session, current, options, deadline, headers)
        if not response.is_redirect:
            return response, current
        response.close()
        target = urllib.parse.urljoin(current, response.headers["Location"])
        if target in visited:
            raise FetchError(f"redirect loop: {without_credentials(current)} -> {without_credentials(target)}", permanent=True)
        visited.append(target)
        current = target
    raise FetchError(f"too many redirects (more than max_redirects={options.max_redirects})", permanent=True)


def _check_session(session):
    if not session.adapters or not all(isinstance(a, GuardedAdapter) for a in session.adapters.values()):
        raise ValueError(
            "session must come from guarded_session(...), which checks and pins every address. "
            f"Received: session={session!r}"
        )


def _url_deadline(options, run_deadline):
    """The :class:`Deadline` of one URL: ``total_timeout`` from now, or the run's, whichever is first."""
    seconds, reason = options.total_timeout, f"total_timeout={options.total_timeout:g} s"
    if run_deadline is not None and run_deadline - time.monotonic() < seconds:
        seconds, reason = run_deadline - time.monotonic(), "the run's run_timeout"
    return Deadline(seconds, reason)


def _fetch(url, sink, *, session, options, run_deadline):
    """Fetches an image URL into ``sink`` (a binary file, rewound for every attempt); returns a :class:`FetchResult`."""
    _check_session(session)
    with _url_deadline(options, run_deadline) as deadline:

        def attempt():
            response, final_url = _follow(session, url, options, deadline, {"Accept": "image/*;q=1.0, */*;q=0.1"})
            with response:
                if response.status_code != 200:
                    raise _status_error(response)
                media_type = _media_type(response)
                if media_type == "image/svg+xml":
                    raise FetchError("server sent an SVG drawing (image/svg+xml), not a photo", permanent=True)
                if not media_type.startswith("image/") and media_type not in _GENERIC_TYPES:
                    raise FetchError(f"server sent Content-Type {media_type}, not an image", permanent=True)
                sink.seek(0)
                sink.truncate()
                size, sha256 = _read_body(response, options, deadline, sink)
                return FetchResult(without_credentials(final_url), media_type, _filename_hint(response, final_url),
                                   sha256, size)

        return _with_retries(attempt, options, deadline)


def fetch_image(url, dest, *, session, options, run_deadline=None):
    """Downloads ``url`` into the file ``dest`` (created or overwritten).

    Only http(s) URLs are fetched, redirects included, and (unless the session allows
    private addresses) only from public addresses, every hop checked. Answers whose
    ``Content-Type`` is neither ``image/*`` nor generic binary are refused before their
    body is read, as are bodies over ``options.max_bytes``. The whole fetch, retries
    included, ends by ``options.total_timeout`` (or ``run_deadline``, if sooner). Whether
    the bytes are a usable image is for the caller to check.

    Args:
        url: the URL.
        dest: the file to write; removed again if the download fails.
        session: a session from :func:`guarded_session` (one per thread).
        options: :class:`FetchOptions`.
        run_deadline: a :func:`time.monotonic` time by which to stop anyway (a whole run's limit).

    Returns:
        A :class:`FetchResult`.

    Raises:
        FetchError: with the reason, and whether a later run may succeed.
        ValueError: for a session that does not check addresses.
    """
    try:
        with open(dest, "wb") as sink:
            return _fetch(url, sink, session=session, options=options, run_deadline=run_deadline)
    except FetchError:
        if os.path.exists(dest):
            os.remove(dest)
        raise


def fetch_image_bytes(url, *, options=None, allow_private_addresses=None):
    """Downloads one image URL into memory, as :func:`fetch_image` does into a file.

    For single images (scoring, prediction): a session is opened and closed here.

    Args:
        url: the http(s) URL.
        options: :class:`FetchOptions` (default: the defaults).
        allow_private_addresses: fetch from loopback, private and link-local addresses too
            (None: ``$KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES``, else False).

    Returns:
        The body as bytes.

    Raises:
        FetchError: with the reason.

    Example:
        >>> data = fetch_image_bytes("https://example.org/cat.jpg")
    """
    allowed = private_addresses_allowed(allow_private_addresses)
    buffer = io.BytesIO()
    with guarded_session(allow_private_addresses=allowed) as session:
        _fetch(url, buffer, session=session, options=options or FetchOptions(), run_deadline=None)
    return buffer.getvalue()


def get_json(url, *, session, options, params=None, headers=None):
    """GETs a JSON document (an API answer): no redirects, size-capped, retried like images.

    Raises:
        FetchError: on any failure; HTTP statuses are in the reason.
    """
    _check_session(session)
    with _url_deadline(options, None) as deadline:

        def attempt():
            response = _send(session, url, options, deadline, {"Accept": "application/json", **(headers or {})}, params)
            with response:
                if response.is_redirect:
                    raise FetchError(
                        f"the endpoint redirects to {without_credentials(response.headers['Location'])}; "
                        "use the final URL", permanent=True,
                    )
                if response.status_code != 200:
                    raise _status_error(response)
                buffer = io.BytesIO()
                _read_body(response, options, deadline, buffer)
            try:
                return json.loads(buffer.getvalue().decode(response.encoding or "utf-8"))
            except (UnicodeDecodeError, LookupError, ValueError) as e:
                raise FetchError(f"the answer is not JSON: {e}", permanent=True) from None

        return _with_retries(attempt, options, deadline)

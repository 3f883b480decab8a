"""Image search for text queries: a pluggable provider interface and one HTTP JSON provider.

cvtk searched with Bing Image Search v7, which Microsoft retired in 2025. Any
service can be plugged in by subclassing :class:`ImageSearchProvider`;
:class:`JsonImageSearchProvider` talks to any API with Bing v7's request and
answer shape (several hosted search APIs and self-hosted proxies offer it).
"""

import abc
import os
import threading

from keras_cvcls.data.acquisition.download_options import ENDPOINT_ENV, KEY_ENV
from keras_cvcls.data.acquisition.fetch import FetchError, FetchOptions, get_json
from keras_cvcls.data.acquisition.guarded_session import guarded_session

KEY_HEADER_ENV = "KERAS_CVCLS_SEARCH_KEY_HEADER"


class SearchError(Exception):
    """A search that failed; the message is the reason."""


class MissingSearchKeyError(ValueError):
    """No API key (or endpoint) for the image-search provider."""


class ImageSearchProvider(abc.ABC):
    """Finds image URLs for a text query.

    Subclasses implement :meth:`search`; ``download_dataset`` calls it once per
    text query of the query file (results are remembered in the manifest, so a
    re-run does not search again).

    Example:
        >>> class Fixed(ImageSearchProvider):
        ...     def search(self, query, count):
        ...         return [{"content_url": "https://example.com/cat.jpg", "name": "cat"}][:count]
    """

    @abc.abstractmethod
    def search(self, query, count):
        """Searches for images.

        Args:
            query: the text query.
            count: the most results wanted.

        Returns:
            A list of at most ``count`` dicts, best first, each with at least
            ``"content_url"`` (the image's URL); ``"name"`` and
            ``"host_page_url"`` are optional.

        Raises:
            SearchError: when the search fails.
        """


class JsonImageSearchProvider(ImageSearchProvider):
    """An image-search API with Bing Image Search v7's shape.

    Request: ``GET {endpoint}?q=QUERY&count=N&offset=K`` with the key in a
    header (``Authorization: Bearer KEY`` by default; with any other header
    name, e.g. ``Ocp-Apim-Subscription-Key``, the bare key). Answer: JSON
    ``{"value": [{"contentUrl": ..., "name": ..., "hostPageUrl": ...}, ...],
    "nextOffset": K}`` (``nextOffset`` optional). Pages of at most
    ``page_size`` are requested until ``count`` results are found or the
    results end (an empty page, one with nothing new, or a short page without
    ``nextOffset``). The endpoint is the user's choice and may be on their own
    network; the image URLs it returns are untrusted, and ``download_dataset``
    checks their addresses like any other URL's.

    Args:
        endpoint: the search URL (default: ``$KERAS_CVCLS_SEARCH_ENDPOINT``).
        api_key: the key (default: ``$KERAS_CVCLS_SEARCH_KEY``).
        key_header: the header carrying the key (default:
            ``$KERAS_CVCLS_SEARCH_KEY_HEADER``, else ``"Authorization"``).
        page_size: most results asked for per request.
        params: further query parameters sent with every request (e.g.
            ``{"safeSearch": "Strict"}``).
        options: :class:`FetchOptions` for the API calls (timeouts, retries).
        env: where the defaults are read (default: ``os.environ``); any mapping,
            e.g. a settings object's dict.

    Raises:
        MissingSearchKeyError: naming the variable to set when the key or
            endpoint is missing.

    Example:
        >>> provider = JsonImageSearchProvider("https://search.example.com/v7.0/images/search", api_key="...")
        >>> urls = [r["content_url"] for r in provider.search("tabby cat", 20)]
    """

    def __init__(self, endpoint=None, api_key=None, *, key_header=None, page_size=50, params=None, options=None, env=None):
        env = os.environ if env is None else env
        self.endpoint = endpoint or env.get(ENDPOINT_ENV, "")
        api_key = api_key or env.get(KEY_ENV, "")
        if not api_key:
            raise MissingSearchKeyError(
                f"Text queries need an image-search API key: set the environment variable {KEY_ENV} "
                f"(and {ENDPOINT_ENV}), or pass search_provider=... . Received: {KEY_ENV} unset"
            )
        if not self.endpoint:
            raise MissingSearchKeyError(
                f"Text queries need an image-search endpoint: set the environment variable {ENDPOINT_ENV} "
                f"to the search URL. Received: {ENDPOINT_ENV} unset"
            )
        if not self.endpoint.lower().startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL. Received: endpoint={self.endpoint!r}")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be a positive integer. Received: page_size={page_size!r}")
        self.key_header = key_header or env.get(KEY_HEADER_ENV, "") or "Authorization"
        self._key_value = f"Bearer {api_key}" if self.key_header.lower() == "authorization" else api_key
        self.page_size = page_size
        self.params = dict(params or {})
        self.options = options or FetchOptions(timeout=10.0, retries=2)
        self._local = threading.local()

    def __repr__(self):  # never shows the key
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, key_header={self.key_header!r})"

    def _session(self):
        if not hasattr(self._local, "session"):
            # The endpoint is the user's own setting (like a scoring server's address), so it
            # may be on their network; the image URLs it answers with are checked when fetched.
            self._local.session = guarded_session(allow_private_addresses=True)
        return self._local.session

    def search(self, query, count):
        results, seen, offset = [], set(), 0
        for _ in range(count // self.page_size + 3):  # bounded, even if the API ignores count
            wanted = min(self.page_size, count - len(results))
            params = {**self.params, "q": query, "count": wanted, "offset": offset}
            try:
                answer = get_json(
                    self.endpoint, session=self._session(), options=self.options, params=params,
                    headers={self.key_header: self._key_value},
                )
            except FetchError as e:
                hint = f" (check {KEY_ENV})" if e.reason.startswith(("HTTP 401", "HTTP 403")) else ""
                raise SearchError(f"image search for {query!r} failed: {e.reason}{hint}") from None
            items = answer.get("value") if isinstance(answer, dict) else None
            if not isinstance(items, list):
                raise SearchError(f'image search for {query!r}: the answer has no "value" list')
            found = len(results)
            for item in items:
                url = item.get("contentUrl") if isinstance(item, dict) else None
                if isinstance(url, str) and url and url not in seen:
                    seen.add(url)
                    results.append({"content_url": url, "name": item.get("name"), "host_page_url": item.get("hostPageUrl")})
            next_offset = answer.get("nextOffset")
            # Stop at the end of the results: a page that is empty, adds nothing new,
            # or is short without a nextOffset to continue from.
            if len(results) >= count or len(results) == found or (len(items) < wanted and next_offset is None):
                break
            offset = next_offset if isinstance(next_offset, int) and next_offset > offset else offset + len(items)
        return results[:count]

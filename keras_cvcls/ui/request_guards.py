"""The UI server's guards against other web pages: a Host allow-list and a per-session token.

A web page the user visits can make the browser send requests to the UI's port.
Two guards keep such a page out:

* **DNS rebinding.** A page on ``attacker.example`` can have that name resolve to
  ``127.0.0.1``; the browser then treats the UI as the page's own origin and lets
  it read every answer. The browser still sends ``Host: attacker.example``, so
  the server answers only requests addressed to a name it was bound for:
  ``localhost``, ``127.0.0.1``, ``::1``, the ``host`` it was started with, the
  names passed as ``allowed_hosts``, or the literal IP address the connection
  arrived on (reachable only by that address, never through a rebinding name).
  Others get **421 Misdirected Request**: the request reached a server that does
  not serve that authority (RFC 9110, 15.5.20), which tells a user behind a proxy
  what is wrong better than a bare 403.
* **Cross-site requests.** Every request that changes something (any method
  but GET, HEAD and OPTIONS) must carry the session's token in the
  :data:`TOKEN_HEADER` header, or it gets **403 Forbidden**. The token is made
  with :mod:`secrets` when the application is created and written into the
  page the server serves (``<meta name="keras-cvcls-token">``), which only a
  page of the UI's own origin can read. The notebook widget reads it from the
  same page, fetched over the kernel's comm.
"""

import hmac
import ipaddress
import json
import secrets

from aiohttp import web

TOKEN_HEADER = "X-Keras-Cvcls-Token"
TOKEN_META_NAME = "keras-cvcls-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def host_name(authority):
    """The host name of a ``Host`` header, lower case, without port, brackets or a final dot.

    Args:
        authority: ``"name"``, ``"name:port"``, ``"[v6]"`` or ``"[v6]:port"``.

    Returns:
        The name (``"localhost"``, ``"::1"``, ...), or None when ``authority`` is not one.

    Example:
        >>> host_name("[::1]:8765")
        '::1'
    """
    text = authority.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not text[end + 1 :].startswith(":")):
            return None
        name = text[1:end]
    elif text.count(":") > 1:
        name = text  # an IPv6 address without brackets (no port can follow)
    else:
        name = text.partition(":")[0]
    name = name.rstrip(".")
    return name or None


def _ip(text):
    """``text`` as an IP address (IPv4-mapped IPv6 as IPv4, zone dropped), or None when it is a name."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class RequestGuard:
    """The Host allow-list and the session token of one UI application.

    Args:
        allowed_hosts: host names (or addresses) accepted in the ``Host`` header
            besides ``localhost``, ``127.0.0.1``, ``::1`` and the address a
            connection arrived on.

    Attributes:
        token: the session's token, made with :func:`secrets.token_urlsafe`.

    Example:
        >>> guard = RequestGuard(["photos.lan"])
        >>> app = web.Application(middlewares=[guard.middleware])
    """

    def __init__(self, allowed_hosts=()):
        if isinstance(allowed_hosts, (str, bytes)):
            raise ValueError(f"allowed_hosts must be a list of host names. Received: allowed_hosts={allowed_hosts!r}")
        self.token = secrets.token_urlsafe(32)
        self._names = set(LOOPBACK_HOSTS)
        for host in allowed_hosts:
            self.allow_host(host)

    @property
    def allowed_hosts(self):
        """The host names accepted in every case, sorted."""
        return sorted(self._names)

    def allow_host(self, host):
        """Accepts ``host`` (a name or address the server is reached by) in the ``Host`` header.

        A wildcard address (``""``, ``0.0.0.0``, ``::``) adds nothing: a client never
        addresses it; the address a connection arrives on is accepted anyway.

        Raises:
            ValueError: if ``host`` is not a str.
        """
        if not isinstance(host, str):
            raise ValueError(f"A host must be a str. Received: host={host!r}")
        if host in WILDCARD_HOSTS:
            return
        name = host_name(host)
        if name is not None:
            self._names.add(name)

    def host_allowed(self, request):
        """True if ``request`` is addressed (its ``Host`` header) to a name this server serves."""
        header = request.headers.get("Host")
        name = host_name(header) if header else None
        if name is None:
            return False
        if name in self._names:
            return True
        address = _ip(name)
        if address is None:
            return False
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        local = _ip(sockname[0]) if isinstance(sockname, tuple) and sockname else None
        return address == local

    def token_valid(self, request):
        """True if ``request`` carries the session's token."""
        given = request.headers.get(TOKEN_HEADER, "")
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode())

    @web.middleware
    async def middleware(self, request, handler):
        """Answers 421 to a request for another host, and 403 to a change without the token."""
        if not self.host_allowed(request):
            sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
            port = sockname[1] if isinstance(sockname, tuple) and len(sockname) > 1 else "PORT"
            raise _refusal(
                web.HTTPMisdirectedRequest,
                f"This keras-cvcls UI answers requests for {', '.join(self.allowed_hosts)} or its IP address only. "
                f"Open it at http://127.0.0.1:{port}/ (or start it with --allow-host NAME, allowed_hosts=[NAME] in "
                f"Python, to reach it by another name). Received: Host={request.headers.get('Host')!r}",
            )
        if request.method not in SAFE_METHODS and not self.token_valid(request):
            raise _refusal(
                web.HTTPForbidden,
                f"Changes need the session's token in the {TOKEN_HEADER} header (the UI's page sends it); "
                "reload the page if the server was restarted. "
                f"Received: {TOKEN_HEADER} {'wrong' if request.headers.get(TOKEN_HEADER) else 'missing'}",
            )
        return await handler(request)


def _refusal(cls, message):
    return cls(text=json.dumps({"error": message}), content_type="application/json")

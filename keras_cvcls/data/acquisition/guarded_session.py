"""A :class:`requests.Session` that connects only to the public addresses it checked, within a deadline.

Every connection resolves its host once, refuses it unless every address is public (see
:mod:`~keras_cvcls.data.acquisition.public_address`), and connects to the checked address
itself: the ``Host`` header, TLS server name and certificate check still use the host name,
but no second DNS answer is asked for, so DNS rebinding between check and connect cannot
reach a private address. Redirects are new requests and new connections, so every hop is
checked. Every socket it opens or re-uses is watched by the thread's current
:class:`~keras_cvcls.data.acquisition.deadline.Deadline`.

Behind an HTTP proxy (``HTTP(S)_PROXY``) the proxy connects: the target's name is resolved
and checked before the request, but the proxy resolves it again, so pinning is then the
proxy's job.
"""

import socket
import urllib.parse

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from keras_cvcls.data.acquisition.deadline import watch_socket
from keras_cvcls.data.acquisition.public_address import resolve_checked


class _GuardedConnection:
    """Mixed into urllib3's connections: checked, pinned addresses; sockets watched by the deadline."""

    check_addresses = True

    def _new_conn(self):
        if not self.check_addresses:
            sock = super()._new_conn()
        else:
            sock = self._connect_checked()
        watch_socket(sock)
        return sock

    def _connect_checked(self):
        try:
            addresses = resolve_checked(self._dns_host, self.port, allow_private=False)
        except socket.gaierror as e:
            raise NameResolutionError(self.host, self, e) from e
        error = OSError(f"{self.host} has no IPv4 or IPv6 address")
        for _, address in addresses:
            try:
                return urllib3_connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except socket.timeout as e:
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")
                error.__cause__ = e
            except OSError as e:
                error = NewConnectionError(self, f"Failed to establish a new connection: {e}")
        raise error

    def request(self, *args, **kwargs):
        if self.sock is not None:  # a kept-alive connection from an earlier fetch
            watch_socket(self.sock)
        return super().request(*args, **kwargs)


def _pool_classes(check_addresses):
    name = "Checked" if check_addresses else "Watched"
    connections = {
        scheme: type(f"{name}{base.__name__}", (_GuardedConnection, base), {"check_addresses": check_addresses})
        for scheme, base in (("http", HTTPConnection), ("https", HTTPSConnection))
    }
    return {
        scheme: type(f"{name}{pool.__name__}", (pool,), {"ConnectionCls": connections[scheme]})
        for scheme, pool in (("http", HTTPConnectionPool), ("https", HTTPSConnectionPool))
    }


_CHECKED_POOLS, _WATCHED_POOLS = _pool_classes(True), _pool_classes(False)


class GuardedAdapter(HTTPAdapter):
    """requests' HTTP adapter with checked, pinned connections (see the module docstring).

    Args:
        allow_private_addresses: connect to any address (sockets are still watched by the deadline).
    """

    def __init__(self, *, allow_private_addresses):
        self.allow_private_addresses = allow_private_addresses
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS if self.allow_private_addresses else _CHECKED_POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS managers bring their own pools
            manager.pool_classes_by_scheme = _WATCHED_POOLS  # the connection goes to the proxy, the user's choice
        return manager

    def send(self, request, **kwargs):
        if not self.allow_private_addresses and select_proxy(request.url, kwargs.get("proxies") or {}):
            parts = urllib.parse.urlsplit(request.url)
            try:
                resolve_checked(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), allow_private=False)
            except socket.gaierror as e:
                raise requests.ConnectionError(f"cannot resolve {parts.hostname}: {e}", request=request) from None
        return super().send(request, **kwargs)


def guarded_session(*, allow_private_addresses):
    """A new :class:`requests.Session` whose connections are checked, pinned and deadline-watched.

    Args:
        allow_private_addresses: connect to private, loopback and link-local addresses too.

    Returns:
        The session (close it when done).

    Example:
        >>> with guarded_session(allow_private_addresses=False) as session:
        ...     session.get("http://127.0.0.1:8080/")   # raises PrivateAddressError
    """
    session = requests.Session()
    adapter = GuardedAdapter(allow_private_addresses=allow_private_addresses)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


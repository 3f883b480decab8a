"""Which network addresses a URL fetch may reach: public ones, unless the user allows their own network.

A URL from a query file, a search answer, a redirect or a scoring call is untrusted: it may
name ``127.0.0.1``, a cloud metadata service (``169.254.169.254``) or a host on the user's
network, whose answers would end up in a dataset or a score (server-side request forgery).
Such addresses are refused unless ``allow_private_addresses`` is given (or the environment
variable ``KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES=1`` is set, e.g. for a whole notebook or CI job).
"""

import ipaddress
import os
import socket

ALLOW_PRIVATE_ENV = "KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
# NAT64's well-known prefix: the last 32 bits are the IPv4 address reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
REMEDY = ("to fetch from your own network, pass allow_private_addresses=True (command line: "
          f"--allow-private-addresses) or set {ALLOW_PRIVATE_ENV}=1")


class PrivateAddressError(ValueError):
    """A URL host that resolves to an address that is not public; the message says which and why.

    Attributes:
        host: the host name as written in the URL.
        address: the refused address.
        kind: what the address is, e.g. ``"a loopback address"``.
    """

    def __init__(self, host, address, kind):
        self.host, self.address, self.kind = host, address, kind
        what = f"{host} resolves to {address}, {kind}" if host != address else f"{address} is {kind}"
        super().__init__(f"refused: {what}; only public addresses are fetched by default ({REMEDY})")


def private_addresses_allowed(value=None):
    """Whether private addresses may be fetched: ``value`` if it is a bool, else the environment's say.

    Args:
        value: True or False, or None for ``$KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES``
            (``1``/``true``/``yes``/``on`` allow; unset or ``0``/``false``/``no``/``off`` refuse).

    Raises:
        ValueError: for a value that is neither, or an unreadable environment variable.
    """
    if isinstance(value, bool):
        return value
    if value is not None:
        raise ValueError(f"allow_private_addresses must be True, False or None. Received: allow_private_addresses={value!r}")
    text = os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(
        f"{ALLOW_PRIVATE_ENV} must be 1 or 0 (true/false, yes/no, on/off). "
        f"Received: {ALLOW_PRIVATE_ENV}={os.environ[ALLOW_PRIVATE_ENV]!r}"
    )


def _embedded_ipv4(ip):
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), or None."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address; the server's is the relay's
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def non_public_kind(address):
    """What makes ``address`` non-public (e.g. ``"a loopback address"``), or None for a public address.

    Refused: loopback, private (RFC 1918, unique-local ``fc00::/7``), shared (carrier-grade NAT),
    link-local (``169.254.0.0/16``, ``fe80::/10``), multicast, reserved, unspecified and every
    other address IANA marks as not globally reachable; IPv6 addresses that embed an IPv4 one
    (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64) are judged by the IPv4 address.

    Args:
        address: an IP address, as text or an :mod:`ipaddress` object.

    Example:
        >>> non_public_kind("::ffff:10.0.0.1")
        'a private address'
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if ip.version == 6:
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return non_public_kind(embedded)
    for test, kind in (
        ("is_unspecified", "an unspecified address"), ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"), ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"), ("is_private", "a private address"),
    ):
        if getattr(ip, test):
            return kind
    if not ip.is_global:
        return "an address that is not publicly routable"
    return None


def resolve_checked(host, port, *, allow_private):
    """Resolves ``host`` once and checks every address it gave.

    The caller connects to the returned addresses themselves, never to the name again, so a DNS
    answer that changes between the check and the connection (DNS rebinding) cannot slip a
    private address through.

    Args:
        host: the host name or literal address.
        port: the port (``getaddrinfo`` wants it).
        allow_private: skip the check (still resolves).

    Returns:
        A list of ``(family, address)``, in ``getaddrinfo`` order, without repeats.

    Raises:
        PrivateAddressError: when any address is not public. One such address refuses the
            host: a name that answers with both a public and a private address is not trusted.
        socket.gaierror: when the name does not resolve (also for a name too long to encode).
    """
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as e:  # an empty or over-long label: no such name
        raise socket.gaierror(socket.EAI_NONAME, f"invalid host name {host!r}: {e}") from None
    found = []
    for family, _, _, _, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        if not allow_private:
            kind = non_public_kind(sockaddr[0])
            if kind is not None:
                raise PrivateAddressError(host, sockaddr[0], kind)
        if (family, sockaddr[0]) not in found:
            found.append((family, sockaddr[0]))
    return found

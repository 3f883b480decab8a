"""The addresses a serving command listens on, as it prints them: the bound one, and one to use here."""

WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def is_wildcard(host):
    """True for an address that binds every network interface (``""``, ``0.0.0.0``, ``::``)."""
    return host in WILDCARD_HOSTS


def bound_address(host, port):
    """``HOST:PORT`` as bound: ``0.0.0.0:8501``, ``[::]:8501``, ``127.0.0.1:8501``.

    Args:
        host: the address given to bind (``""`` binds every IPv4 interface, as ``0.0.0.0``).
        port: the bound port.
    """
    host = host or "0.0.0.0"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def local_address(host, port):
    """``HOST:PORT`` a client on this machine connects to: ``127.0.0.1`` for a wildcard host."""
    return bound_address("127.0.0.1" if is_wildcard(host) else host, port)


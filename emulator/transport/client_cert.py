"""The TLS client certificate a `requests` call asks to present, for the transports that do not
run a real TLS handshake (in-process and direct)."""
from __future__ import annotations

from typing import Any


def client_cert_bytes(cert: Any) -> bytes | None:
    """The certificate file named by requests' `cert=` (a path, or a (certfile, keyfile) pair),
    or None when there is none to present.

    A file that cannot be read (missing, unreadable) means no certificate: the request goes out
    without one, as a TLS stack with no usable certificate presents none, and the service answers
    it as an unauthenticated request."""
    if not cert:
        return None
    path = cert[0] if isinstance(cert, (tuple, list)) else cert
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None

"""base64url (RFC 4648 §5) as JOSE uses it: no padding on the wire."""
from __future__ import annotations

import base64
import binascii
import re

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*").fullmatch
_TO_STD = bytes.maketrans(b"-_", b"+/")
_VALUE = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
#: Bits the last character of an unpadded segment carries beyond the data, by len % 4.
_SPARE_BITS = {0: 0, 2: 0x0F, 3: 0x03}


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url text of `data`."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Lenient base64url: padding optional, surrounding whitespace ignored. Raises
    binascii.Error (a ValueError) on text that is not base64."""
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_decode_strict(segment: str) -> bytes | None:
    """Strict base64url (PyJWT's rules: alphabet only, no padding, canonical) or None."""
    n = len(segment)
    rem = n % 4
    if rem == 1 or not _SEGMENT(segment):
        return None
    # Canonical form only: no stray bits in the last character (PyJWT re-encodes and compares).
    if rem and _VALUE[segment[-1]] & _SPARE_BITS[rem]:
        return None
    try:
        return binascii.a2b_base64(segment.encode("ascii").translate(_TO_STD) + b"=" * (-n % 4))
    except (binascii.Error, ValueError):
        return None

"""Fast verification of compact RS256 / HS256 JWS on the services' hot paths.

PyJWT stays the reference: it encodes every token, and this module hands a token back to
`jwt.get_unverified_header` / `jwt.decode` whenever it is not a plain, well-formed JWS, so every
refusal (bad segment, bad header, disallowed alg, bad signature, non-object payload, non-string
`sub` / `jti`) raises PyJWT's own exception with PyJWT's own message. What this module does
itself is only what PyJWT does for a well-formed token, with C-speed steps instead of PyJWT's
per-character base64 alphabet check (costly on a PRT request carrying its x5c certificate):

- segments: exactly three, base64url alphabet only, no padding, canonical (re-encodes to itself);
- header: a JSON object, without `b64` / `crit`, `kid` (if present) a string;
- signature: `alg` among the allowed ones; RS256 = RSASSA-PKCS1-v1_5 SHA-256 with the given public
  key, HS256 = HMAC-SHA256 (constant-time compare) with the given secret;
- payload: a JSON object, `sub` and `jti` (if present) strings.

Claims checks (exp, nbf, aud, iss, tenant) stay with the callers, exactly as with `jwt.decode`
called with those checks switched off, which is how every caller here uses it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.utils import is_pem_format, is_ssh_key

from .wire.b64 import b64url_decode_strict

#: Options every hot-path caller gives jwt.decode (claims checked by the caller).
NO_CLAIM_CHECKS = {"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False,
                   "verify_iss": False}


class Parsed:
    """A compact JWS that passed PyJWT's structural checks."""

    __slots__ = ("header", "payload", "signing_input", "signature")

    def __init__(self, header: dict[str, Any], payload: bytes, signing_input: bytes, signature: bytes):
        self.header = header
        self.payload = payload
        self.signing_input = signing_input
        self.signature = signature


def parse(token: Any) -> Parsed | None:
    """The token's parts when it is a plain, well-formed compact JWS; else None (PyJWT decides)."""
    if not isinstance(token, str):
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    h64, p64, s64 = parts
    header_raw = b64url_decode_strict(h64)
    if header_raw is None:
        return None
    payload = b64url_decode_strict(p64)
    if payload is None:
        return None
    signature = b64url_decode_strict(s64)
    if signature is None:
        return None
    try:
        header = json.loads(header_raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(header, dict) or "b64" in header or "crit" in header:
        return None
    if "kid" in header and not isinstance(header["kid"], str):
        return None
    return Parsed(header, payload, f"{h64}.{p64}".encode("ascii"), signature)


def get_unverified_header(token: Any, parsed: Parsed | None = None) -> dict[str, Any]:
    """Same as `jwt.get_unverified_header` (same exceptions)."""
    p = parsed if parsed is not None else parse(token)
    if p is None:
        return jwt.get_unverified_header(token)
    return p.header


def _rs256_ok(key: Any, p: Parsed) -> bool | None:
    if not isinstance(key, RSAPublicKey) or key.key_size < 2048:
        return None   # PyJWT prepares other key forms itself (and warns about short keys)
    try:
        key.verify(p.signature, p.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _hs256_ok(key: Any, p: Parsed) -> bool | None:
    if not isinstance(key, bytes) or len(key) < 32:
        return None
    if is_pem_format(key) or is_ssh_key(key):
        return None   # PyJWT refuses such secrets with its own error
    return hmac.compare_digest(p.signature, hmac.new(key, p.signing_input, hashlib.sha256).digest())


def decode(token: Any, key: Any, algorithms: Sequence[str], *, parsed: Parsed | None = None) -> dict[str, Any]:
    """Same as `jwt.decode(token, key, algorithms=algorithms, options=NO_CLAIM_CHECKS)`: signature,
    alg and the payload's shape are checked; the claims are the caller's to check."""
    p = parsed if parsed is not None else parse(token)
    alg = p.header.get("alg") if p is not None else None
    ok = None
    if alg in algorithms:
        if alg == "RS256":
            ok = _rs256_ok(key, p)
        elif alg == "HS256":
            ok = _hs256_ok(key, p)
    if ok is False:
        raise jwt.InvalidSignatureError("Signature verification failed")
    if ok:
        try:
            claims = json.loads(p.payload)
        except (ValueError, RecursionError):
            claims = None
        if (isinstance(claims, dict) and ("sub" not in claims or isinstance(claims["sub"], str))
                and ("jti" not in claims or isinstance(claims["jti"], str))):
            return claims
    return jwt.decode(token, key, algorithms=list(algorithms), options=dict(NO_CLAIM_CHECKS))

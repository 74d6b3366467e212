"""Client credentials with a certificate: verify a `client_assertion` JWT (RFC 7523) against the
certificates registered on the application."""
from __future__ import annotations

import hashlib

import jwt
from cryptography import x509

from ...wire.b64 import b64url_encode
from .exceptions import AadstsError
from .prt import check_time_window


def verify_client_assertion(ctx, tenant, app, assertion: str) -> dict:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise AadstsError(50027, error="invalid_request", message="JWT token is invalid or malformed.") from None
    x5t = header.get("x5t") or header.get("x5t#S256")
    if not isinstance(x5t, str):
        x5t = None   # absent or not a string (a list, a number): no certificate can match
    for der in app.certificates:
        digests = {b64url_encode(hashlib.sha1(der).digest()), b64url_encode(hashlib.sha256(der).digest())}
        if x5t not in digests:
            continue
        key = x509.load_der_x509_certificate(der).public_key()
        try:
            claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256"],
                                options={"verify_exp": False, "verify_nbf": False, "verify_aud": False})
        except jwt.PyJWTError:
            raise AadstsError(700027) from None
        # The PRT's time-window rule and AADSTS700024 text. An assertion must carry exp (absent
        # counts as 0, so expired); nbf only when present; iat is not checked here.
        window = {"exp": _numeric_date(claims, "exp")}
        if "nbf" in claims:
            window["nbf"] = _numeric_date(claims, "nbf")
        check_time_window(ctx.world, window)
        if claims.get("iss") != app.app_id or claims.get("sub") != app.app_id:
            raise AadstsError(700023, error="invalid_client",
                              message="Client assertion audience claim does not match Realm issuer.")
        return claims
    raise AadstsError(700027, message=f"Client assertion contains an invalid signature. [Reason - The key was not "
                      f"found., Thumbprint of key used by client: '{x5t}']")


def _numeric_date(claims: dict, name: str) -> float:
    """A NumericDate claim (RFC 7519 §2); absent counts as 0. Anything else makes the JWT malformed."""
    value = claims.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise AadstsError(50027, error="invalid_request",
                          message=f"JWT token is invalid or malformed. The '{name}' claim is not a number.")
    return float(value)

"""The Primary Refresh Token protocol on the token endpoint (join-protocol.md §4, real-clients.md §3.3-3.4).

- `srv_challenge(ctx)`: `grant_type=srv_challenge` -> `{"Nonce": ...}` (valid five minutes).
- `jwt_bearer(ctx, form, tenant_ref)`: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with
  `request=<JWT>`:
  * RS256 with an `x5c` header (the DRS device certificate): PRT issuance. The signed payload carries
    the inner grant (`password` or `refresh_token`) and a `request_nonce`. Reply: the PRT, the session
    key wrapped (RSA-OAEP, SHA-1) to the device's transport key, id_token, client_info.
  * HS256 with a `ctx` header: PRT use (app token for `client_id`/`resource`) or renewal (`aza` in
    scope). The HMAC key is the KDF v2 derivation of the session key; the reply is a JWE
    (`alg=dir`, A256GCM) under the KDF v1 derivation with a fresh `ctx`.

The token handler of the identity service routes those grants here.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

from ... import jose
from ...http import Response, json_response, text_response
from ...wire.b64 import b64url_decode, b64url_encode
from ...world import events, policy
from ...world.models import BROKER_CLIENT_ID, WINDOWS_CLOUDAP_CLIENT_ID
from ..registration import certificates as certs
from .exceptions import AadstsError
from .tokens import client_info, find_resource, issuer

NONCE_LIFETIME = 300
MAX_CLOCK_SKEW = 300
PRT_LIFETIME = 1209599           # 14 days, as "expires_in" of a real PRT reply
NONCE_PREFIX = "AwABEgEAAAADAOz_BQD0_"
KDF_LABEL = b"AzureAD-SecureConversation"
AAD_GRAPH_APP_ID = "00000002-0000-0000-c000-000000000000"
WINDOWS_SIGN_IN = "Windows Sign In"

_APP_NAMES = {
    WINDOWS_CLOUDAP_CLIENT_ID: WINDOWS_SIGN_IN,
    BROKER_CLIENT_ID: "Microsoft Authentication Broker",
    "1b730954-1685-4b74-9bfd-dac224a7b894": "Azure Active Directory PowerShell",
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46": "Microsoft Azure CLI",
    "1950a258-227b-4e31-a9cf-717495945fc2": "Microsoft Azure PowerShell",
    "d3590ed6-52b3-4102-aeff-aad2292ab01c": "Microsoft Office",
    "dd762716-544d-4aeb-a526-687b73838a22": "Device Registration Client",
}


# -- errors not in the shared catalogue --------------------------------------------------------

def _bad_request(detail: str = "") -> AadstsError:
    return AadstsError(9002313, message="Invalid request. Request is malformed or invalid." + (f" {detail}" if detail else ""))


def _device_auth_failed(detail: str = "") -> AadstsError:
    # AADSTS50155 DeviceAuthenticationFailed: our choice for an unknown/deleted device, a certificate
    # not issued by DRS, or a request signature that does not verify (join-protocol.md §4 lists
    # 50155 for an invalid device).
    return AadstsError(50155, message="Device authentication failed for this user." + (f" {detail}" if detail else ""))


def _nonce_invalid() -> AadstsError:
    # Inferred: same code as a missing nonce, with a text saying why.
    return AadstsError(140000, message="Request nonce is not valid or has expired.")


def _prt_expired() -> AadstsError:
    return AadstsError(700082, message="The refresh token has expired due to inactivity. The token was issued "
                       "more than 14 days ago.")


def _unknown_resource(resource: str, tenant) -> AadstsError:
    return AadstsError(500011, error="invalid_resource",
                       message=f"The resource principal named {resource} was not found in the tenant named "
                               f"{tenant.display_name}. This can happen if the application has not been installed "
                               "by the administrator of the tenant or consented to by any user in the tenant. You "
                               "might have sent your authentication request to the wrong tenant.")


# -- helpers ------------------------------------------------------------------------------------

def kdf(session_key: bytes, context: bytes) -> bytes:
    """SP 800-108 counter mode HMAC-SHA256, label AzureAD-SecureConversation (KDF v1)."""
    return KBKDFHMAC(algorithm=hashes.SHA256(), mode=Mode.CounterMode, length=32, rlen=4, llen=4,
                     location=CounterLocation.BeforeFixed, label=KDF_LABEL, context=context,
                     fixed=None).derive(session_key)


def kdf_v2(session_key: bytes, ctx: bytes, payload: bytes) -> bytes:
    """KDF v2: the v1 derivation with context SHA256(ctx || JWT payload bytes)."""
    return kdf(session_key, hashlib.sha256(ctx + payload).digest())


def encrypt_response(session_key: bytes, data: dict[str, Any], ctx: bytes | None = None) -> str:
    """The compact JWE a PRT-signed request is answered with: alg dir, A256GCM, key = KDF v1 of `ctx`."""
    ctx = ctx if ctx is not None else os.urandom(24)
    header = b64url_encode(json.dumps({"alg": "dir", "enc": "A256GCM", "ctx": base64.b64encode(ctx).decode()},
                                      separators=(",", ":")).encode())
    iv = os.urandom(12)
    sealed = AESGCM(kdf(session_key, ctx)).encrypt(iv, json.dumps(data, separators=(",", ":")).encode(),
                                                  header.encode("ascii"))
    return f"{header}..{b64url_encode(iv)}.{b64url_encode(sealed[:-16])}.{b64url_encode(sealed[-16:])}"


def session_key_jwe(session_key: bytes, transport_key) -> str:
    """Session key wrapped with RSA-OAEP (SHA-1) to the transport key, as the second JWE segment."""
    header = b64url_encode(json.dumps({"enc": "A256GCM", "alg": "RSA-OAEP"}, separators=(",", ":")).encode())
    wrapped = transport_key.encrypt(session_key, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    iv = os.urandom(12)
    sealed = AESGCM(session_key).encrypt(iv, b"{}", header.encode("ascii"))
    parts = (wrapped, iv, sealed[:-16], sealed[-16:])
    return ".".join([header, *map(b64url_encode, parts)])


def _fmt_time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def check_time_window(world, payload: dict[str, Any]) -> None:
    """Refuse a signed request whose iat/nbf/exp show a device clock more than five minutes off."""
    now = world.clock.timestamp()
    iat, nbf, exp = _num(payload.get("iat")), _num(payload.get("nbf")), _num(payload.get("exp"))
    start = nbf if nbf is not None else iat
    bad = ((iat is not None and abs(iat - now) > MAX_CLOCK_SKEW)
           or (nbf is not None and nbf - now > MAX_CLOCK_SKEW)
           or (exp is not None and now - exp > MAX_CLOCK_SKEW))
    if bad:
        raise AadstsError(700024, now=_fmt_time(now),
                          nbf=_fmt_time(start) if start is not None else "(none)",
                          exp=_fmt_time(exp) if exp is not None else "(none)")


def _check_nonce(world, payload: dict[str, Any]) -> None:
    value = payload.get("request_nonce")
    if not value:
        raise AadstsError(140000)
    issued = world.nonces.get(str(value))
    # Inferred: a nonce may be used more than once within its five minutes (Windows reuses the
    # nonce of one challenge for the PRT request and the cookie of the same logon).
    if issued is None or world.clock.timestamp() - issued > NONCE_LIFETIME:
        raise _nonce_invalid()


def new_challenge_nonce(world) -> str:
    """A srv_challenge nonce, in the shape of the real ones (join-protocol.md §4)."""
    return world.remember_nonce(NONCE_PREFIX + b64url_encode(world.ids.token_bytes(96)))


def _headers(ctx) -> dict[str, str]:
    h = {"x-ms-request-id": ctx.request_id, "Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
    crid = ctx.request.headers.get("client-request-id")
    if crid:
        h["client-request-id"] = crid
    return h


def _sign_in(ctx, tenant, *, user=None, device=None, app_id: str = WINDOWS_CLOUDAP_CLIENT_ID,
             resource_id: str | None = AAD_GRAPH_APP_ID, resource_name: str | None = "Windows Azure Active Directory",
             error: AadstsError | None = None, upn: str | None = None, interactive: bool = True, ca=None) -> None:
    events.record_sign_in(
        ctx.world, tenant, user=user, app_id=app_id, app_display_name=_APP_NAMES.get(app_id, app_id),
        resource_id=resource_id, resource_display_name=resource_name,
        error_code=error.code if error else 0, failure_reason=error.text if error else None,
        device=device, correlation_id=ctx.request.headers.get("client-request-id"), is_interactive=interactive,
        user_agent=ctx.request.headers.get("user-agent", ""), upn_attempted=upn, ca=ca,
        authentication_requirement="singleFactorAuthentication")


# -- grant_type=srv_challenge ----------------------------------------------------------------------

def srv_challenge(ctx) -> Response:
    return json_response({"Nonce": new_challenge_nonce(ctx.world)}, headers=_headers(ctx))


# -- grant_type=jwt-bearer with request= ------------------------------------------------------------

def jwt_bearer(ctx, form: dict, tenant_ref: str) -> Response:
    request = form.get("request")
    if not request:
        raise AadstsError(900144, parameter="request")
    parsed = jose.parse(request)
    try:
        header = jose.get_unverified_header(request, parsed)
    except jwt.PyJWTError:
        raise _bad_request("The 'request' parameter is not a valid JWT.") from None
    alg = header.get("alg")
    if alg == "RS256" and header.get("x5c"):
        return _issue_prt(ctx, form, tenant_ref, request, header, parsed)
    if alg == "HS256" and header.get("ctx"):
        return _use_prt(ctx, form, tenant_ref, request, header, parsed)
    raise _bad_request("The signed request must be RS256 with x5c or HS256 with ctx.")


def _tenant_scope(world, tenant_ref: str):
    """The tenant named in the URL, or None for common/organizations."""
    if not tenant_ref or tenant_ref.lower() in ("common", "organizations"):
        return None
    t = world.tenant(tenant_ref)
    if t is None:
        raise AadstsError(90002, tenant=tenant_ref)
    return t


def _issue_prt(ctx, form: dict, tenant_ref: str, request: str, header: dict,
               parsed: jose.Parsed | None = None) -> Response:
    world = ctx.world
    url_tenant = _tenant_scope(world, tenant_ref)
    x5c = header.get("x5c")
    if isinstance(x5c, list):
        x5c = x5c[0] if x5c else ""
    try:
        cert = certs.load_certificate(str(x5c))
        device_id = certs.verify_issued_by_drs(world, cert)
    except certs.KeyMaterialError as exc:
        raise _device_auth_failed(str(exc)) from None
    now_dt = world.clock.now()
    if now_dt > cert.not_valid_after_utc or now_dt < cert.not_valid_before_utc - dt.timedelta(seconds=MAX_CLOCK_SKEW):
        raise _device_auth_failed("The device certificate is not within its validity period.")
    try:
        # Same checks as jwt.decode(..., options={verify_exp/nbf/iat/aud/iss: False}); see emulator/jose.py.
        payload = jose.decode(request, cert.public_key(), ("RS256",), parsed=parsed)
    except jwt.InvalidSignatureError:
        raise _device_auth_failed("The request signature does not match the device certificate.") from None
    except jwt.PyJWTError as exc:
        raise _bad_request(str(exc)) from None

    tid = certs.tenant_id_of(cert)
    tenant = world.tenants.get(tid) if tid else None
    device = tenant.device_by_device_id(device_id) if tenant is not None else None
    if device is None or (url_tenant is not None and url_tenant is not tenant):
        raise _device_auth_failed(f"The device object by the given id ({device_id}) is not found.")
    if device.cert_thumbprint and device.cert_thumbprint != certs.thumbprint(certs.der(cert)):
        raise _device_auth_failed("The device certificate is not the one registered for this device.")
    if not device.account_enabled:
        err = AadstsError(135011)
        _sign_in(ctx, tenant, device=device, error=err, upn=payload.get("username"))
        raise err
    check_time_window(world, payload)
    _check_nonce(world, payload)

    client_id = str(payload.get("client_id") or WINDOWS_CLOUDAP_CLIENT_ID)
    grant = payload.get("grant_type")
    if grant == "password":
        user, amr = _password_user(ctx, tenant, device, payload)
    elif grant == "refresh_token":
        user, amr = _refresh_token_user(ctx, tenant, payload)
    elif not grant:
        raise AadstsError(900144, parameter="grant_type")
    else:
        raise AadstsError(70003, grant_type=grant)

    session_key = world.ids.token_bytes(32)
    prt = _store_prt(world, tenant, user, device, session_key, amr, client_id)
    transport = None
    if device.transport_key:
        try:
            transport = certs.public_key_from_transport_blob(device.transport_key)
        except certs.KeyMaterialError:
            transport = None
    if transport is None:
        transport = cert.public_key()
    try:
        wrapped = session_key_jwe(session_key, transport)
    except ValueError:   # a transport key OpenSSL cannot encrypt to (e.g. stored before DRS checked sizes)
        with world.lock:
            world.prts.pop(prt, None)
        raise _device_auth_failed("The device transport key cannot be used.") from None
    with world.lock:
        device.approximate_last_sign_in = world.clock.now()
    _sign_in(ctx, tenant, user=user, device=device, app_id=WINDOWS_CLOUDAP_CLIENT_ID)
    out = _prt_reply(ctx, tenant, user, device, prt, client_id, form)
    out["session_key_jwe"] = wrapped
    return json_response(out, headers=_headers(ctx))


def _password_user(ctx, tenant, device, payload: dict[str, Any]):
    username = str(payload.get("username") or "")
    password = payload.get("password")
    if not username:
        raise AadstsError(900144, parameter="username")
    if password is None:
        raise AadstsError(900144, parameter="password")
    user = tenant.user_by_upn(username)
    if user is None:
        err = AadstsError(50034, identifier=username, tenant=tenant.initial_domain)
        _sign_in(ctx, tenant, device=device, error=err, upn=username)
        raise err
    if user.password != password:
        err = AadstsError(50126)
        _sign_in(ctx, tenant, user=user, device=device, error=err)
        raise err
    if not user.account_enabled:
        err = AadstsError(50057)
        _sign_in(ctx, tenant, user=user, device=device, error=err)
        raise err
    return user, ["pwd"]


def _refresh_token_user(ctx, tenant, payload: dict[str, Any]):
    rt = payload.get("refresh_token")
    if not rt:
        raise AadstsError(900144, parameter="refresh_token")
    rec = ctx.world.refresh_tokens.get(str(rt)) or ctx.world.prts.get(str(rt))
    if rec is None:
        raise _bad_request("The refresh token is not valid.")
    # Refresh tokens of the token endpoint carry "tenant"/"user"; PRT records "tenant_id"/"user_id".
    rec_tid = rec.get("tenant") or rec.get("tenant_id")
    if rec_tid != tenant.id:
        raise _bad_request("The refresh token was issued for another tenant.")
    user = tenant.users.get(rec.get("user") or rec.get("user_id") or "")
    if user is None:
        raise AadstsError(50034, identifier=rec.get("upn", ""), tenant=tenant.initial_domain)
    if not user.account_enabled:
        raise AadstsError(50057)
    return user, list(rec.get("amr") or ["pwd"])


def _store_prt(world, tenant, user, device, session_key: bytes, amr: list[str], client_id: str) -> str:
    prt = "0.A" + b64url_encode(world.ids.token_bytes(96)) + "." + b64url_encode(world.ids.token_bytes(48))
    with world.lock:
        world.prts[prt] = {"tenant_id": tenant.id, "user_id": user.id, "device_id": device.device_id,
                           "session_key": session_key, "issued": world.clock.timestamp(), "amr": list(amr),
                           "client_id": client_id, "upn": user.user_principal_name}
    return prt


def _prt_reply(ctx, tenant, user, device, prt: str, client_id: str, form: dict) -> dict[str, Any]:
    now = int(ctx.world.clock.timestamp())
    out: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": str(PRT_LIFETIME),
        "ext_expires_in": "0",
        "expires_on": str(now + PRT_LIFETIME),
        "refresh_token": prt,
        "refresh_token_expires_in": PRT_LIFETIME,
        "id_token": issuer(ctx.world).id_token(tenant, user, client_id, version="1.0",
                                               extra={"deviceid": device.device_id}),
    }
    if str(form.get("client_info", "1")) == "1":
        out["client_info"] = client_info(user, tenant)
    return out


def _use_prt(ctx, form: dict, tenant_ref: str, request: str, header: dict,
             parsed: jose.Parsed | None = None) -> Response:
    world = ctx.world
    url_tenant = _tenant_scope(world, tenant_ref)
    parts = request.split(".")
    if len(parts) != 3:
        raise _bad_request("The 'request' parameter is not a valid JWT.")
    try:
        ctx_bytes = base64.b64decode(str(header["ctx"]) + "=" * (-len(str(header["ctx"])) % 4))
        payload_bytes = b64url_decode(parts[1])
        payload = json.loads(payload_bytes)
    except Exception:  # noqa: BLE001
        raise _bad_request("The 'request' parameter is not a valid JWT.") from None
    if not isinstance(payload, dict):
        raise _bad_request()
    prt = payload.get("refresh_token")
    if not prt:
        raise AadstsError(900144, parameter="refresh_token")
    rec = world.prts.get(str(prt))
    if rec is None:
        raise _bad_request("The primary refresh token is not valid.")
    session_key: bytes = rec["session_key"]
    kdf_ver = header.get("kdf_ver", 1)
    key = kdf_v2(session_key, ctx_bytes, payload_bytes) if str(kdf_ver) == "2" else kdf(session_key, ctx_bytes)
    try:
        jose.decode(request, key, ("HS256",), parsed=parsed)
    except jwt.PyJWTError:
        raise _device_auth_failed("The request was not signed with the session key of this token.") from None

    tenant = world.tenants.get(rec["tenant_id"])
    if tenant is None or (url_tenant is not None and url_tenant is not tenant):
        raise _bad_request("The primary refresh token was issued for another tenant.")
    if world.clock.timestamp() - rec["issued"] > PRT_LIFETIME + 1:
        raise _prt_expired()
    device = tenant.device_by_device_id(rec["device_id"])
    if device is None:
        raise _device_auth_failed(f"The device object by the given id ({rec['device_id']}) is not found.")
    if not device.account_enabled:
        raise AadstsError(135011)
    user = tenant.users.get(rec["user_id"])
    if user is None:
        raise AadstsError(50034, identifier=rec.get("upn", ""), tenant=tenant.initial_domain)
    if not user.account_enabled:
        raise AadstsError(50057)
    check_time_window(world, payload)
    _check_nonce(world, payload)
    grant = payload.get("grant_type")
    if grant != "refresh_token":
        raise AadstsError(70003, grant_type=grant or "")

    client_id = str(payload.get("client_id") or WINDOWS_CLOUDAP_CLIENT_ID)
    scope = str(payload.get("scope") or "")
    amr = list(rec.get("amr") or ["pwd"])
    with world.lock:
        device.approximate_last_sign_in = world.clock.now()
    if "aza" in scope.split():
        # Renewal: a new PRT bound to the same session key.
        new_prt = _store_prt(world, tenant, user, device, session_key, amr, rec.get("client_id") or client_id)
        _sign_in(ctx, tenant, user=user, device=device, interactive=False)
        out = _prt_reply(ctx, tenant, user, device, new_prt, client_id, form)
        return text_response(encrypt_response(session_key, out), content_type="application/jose; charset=utf-8",
                             headers=_headers(ctx))
    return _app_token(ctx, tenant, user, device, payload, client_id, amr, session_key)


def _app_token(ctx, tenant, user, device, payload, client_id: str, amr: list[str], session_key: bytes) -> Response:
    world = ctx.world
    iss = issuer(world)
    now = int(world.clock.timestamp())
    resource_ref = str(payload.get("resource") or "")
    out: dict[str, Any] = {"token_type": "Bearer", "scope": str(payload.get("scope") or "openid")}
    resource = None
    if resource_ref:
        resource = find_resource(resource_ref)
        if resource is None:
            err = _unknown_resource(resource_ref, tenant)
            _sign_in(ctx, tenant, user=user, device=device, app_id=client_id, resource_id=None,
                     resource_name=resource_ref, error=err, interactive=False)
            raise err
        ca = policy.evaluate_conditional_access(tenant, user, resource.app_id, device=device,
                                                mfa_done="mfa" in amr)
        err = None
        if ca.block:
            err = AadstsError(53003)
        elif ca.compliant_device:
            err = AadstsError(53000)
        elif ca.domain_joined_device:
            err = AadstsError(53001)
        elif ca.mfa:
            err = AadstsError(50076, resource=resource.app_id)
        _sign_in(ctx, tenant, user=user, device=device, app_id=client_id, resource_id=resource.app_id,
                 resource_name=resource.display_name, error=err, interactive=False, ca=ca)
        if err is not None:
            raise err
        token = iss.access_token(tenant, resource, client_id, user=user, amr=amr, device_id=device.device_id)
        out.update({"expires_in": "3599", "ext_expires_in": "3599", "expires_on": str(now + 3599),
                    "not_before": str(now), "resource": resource.uri, "access_token": token})
    else:
        _sign_in(ctx, tenant, user=user, device=device, app_id=client_id, interactive=False)
        out.update({"expires_in": "3599", "expires_on": str(now + 3599)})
    # Same record shape as the token endpoint's own refresh tokens (responses.issue_tokens), so a
    # later grant_type=refresh_token redeems it; the device id keeps the deviceid claim.
    rt_resource = resource or find_resource(AAD_GRAPH_APP_ID)
    out["refresh_token"] = iss.refresh_token({
        "tenant": tenant.id, "user": user.id, "client_id": client_id, "resource": rt_resource.app_id,
        "scopes": list(rt_resource.default_scopes), "amr": amr, "acrs": [], "device_id": device.device_id,
        "oidc": ["openid"], "version": "1.0"})
    out["refresh_token_expires_in"] = 1209599
    out["id_token"] = iss.id_token(tenant, user, client_id, version="1.0")
    out["client_info"] = client_info(user, tenant)
    return text_response(encrypt_response(session_key, out), content_type="application/jose; charset=utf-8",
                         headers=_headers(ctx))

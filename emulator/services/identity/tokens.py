"""Issuing and validating the identity service's JWTs.

Access tokens for Microsoft first-party resources are v1-format (issuer `https://sts.windows.net/
<tid>/`), as Graph, DRS and Intune tokens really are; id_tokens follow the endpoint version. All
are RS256 with the world's issuer key, whose `kid` is published in the JWKS.

Resource services (DRS, Graph, Intune) call `validate_access_token`.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from ... import jose
from ...world.models import (
    DRS_APP_ID,
    DRS_RESOURCE,
    GRAPH_APP_ID,
    GRAPH_RESOURCE,
    INTUNE_APP_ID,
    INTUNE_ENROLLMENT_APP_ID,
    INTUNE_ENROLLMENT_RESOURCE,
    OFFICE_PORTAL_APP_ID,
    Tenant,
    User,
)

ACCESS_TOKEN_LIFETIME = 3599
LOGIN_HOST = "login.microsoftonline.com"


@dataclass(frozen=True)
class Resource:
    app_id: str
    uri: str
    display_name: str
    #: Delegated scopes granted for `.default` (a first-party app's pre-consented set).
    default_scopes: tuple[str, ...] = ()


RESOURCES: tuple[Resource, ...] = (
    Resource(GRAPH_APP_ID, GRAPH_RESOURCE, "Microsoft Graph",
             ("User.Read", "Directory.Read.All", "Device.Read.All", "Policy.Read.All", "AuditLog.Read.All",
              "DeviceManagementManagedDevices.Read.All", "DeviceManagementServiceConfig.Read.All")),
    Resource(DRS_APP_ID, DRS_RESOURCE, "Device Registration Service", ("adrs_access",)),
    Resource(INTUNE_ENROLLMENT_APP_ID, INTUNE_ENROLLMENT_RESOURCE, "Microsoft Intune Enrollment", ("user_impersonation",)),
    Resource(INTUNE_APP_ID, "https://manage.microsoft.com/", "Microsoft Intune", ("user_impersonation",)),
    Resource(OFFICE_PORTAL_APP_ID, "https://portal.office.com/", "Microsoft Office 365 Portal", ("user_impersonation",)),
    Resource("00000002-0000-0000-c000-000000000000", "https://graph.windows.net", "Windows Azure Active Directory",
             ("User.Read",)),
    Resource("797f4846-ba00-4fd7-ba43-dac1f8f63013", "https://management.azure.com/",
             "Windows Azure Service Management API", ("user_impersonation",)),
)

_BY_KEY: dict[str, Resource] = {}
for _r in RESOURCES:
    for _k in (_r.app_id, _r.uri, _r.uri.rstrip("/"), _r.uri.rstrip("/") + "/"):
        _BY_KEY[_k.lower()] = _r
_BY_KEY["https://management.core.windows.net/"] = _BY_KEY["https://management.azure.com/"]


def find_resource(ref: str) -> Resource | None:
    return _BY_KEY.get(ref.lower()) if ref else None


def parse_v2_scopes(scope: str) -> tuple[Resource | None, list[str], set[str]]:
    """Split a v2 `scope` string into (resource, delegated scopes, OIDC scopes).

    `User.Read` alone means Microsoft Graph; `https://x/.default` or `<appid>/.default` name the
    resource explicitly. Returns resource None when the scope names an unknown resource.
    """
    oidc = {"openid", "profile", "offline_access", "email"}
    wanted: list[str] = []
    resource: Resource | None = None
    seen_oidc: set[str] = set()
    for s in scope.split():
        if s in oidc:
            seen_oidc.add(s)
            continue
        if "/" in s and (s.startswith("http") or s.startswith("urn:") or s.count("-") >= 4):
            base, _, perm = s.rpartition("/")
            r = find_resource(base) or find_resource(base + "/")
            if r is None:
                return None, [s], seen_oidc
            resource = r
            wanted.extend(r.default_scopes if perm == ".default" else [perm])
        else:
            resource = resource or find_resource(GRAPH_APP_ID)
            wanted.append(s)
    if resource is None and not wanted:
        resource = find_resource(GRAPH_APP_ID)
        wanted = ["User.Read"]
    return resource, wanted, seen_oidc


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def client_info(user: User, tenant: Tenant) -> str:
    return _b64url(json.dumps({"uid": user.id, "utid": tenant.id}, separators=(",", ":")).encode())


class TokenIssuer:
    """Signs tokens for one world."""

    def __init__(self, world):
        self.world = world

    @property
    def key(self) -> RSAPrivateKey:
        return self.world.issuer_key

    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        return jwt.encode(claims, self.key, algorithm="RS256",
                          headers={"typ": typ, "kid": self.world.issuer_kid, "x5t": self.world.issuer_kid})

    def _times(self, lifetime: int) -> dict[str, int]:
        now = int(self.world.clock.timestamp())
        return {"iat": now, "nbf": now, "exp": now + lifetime}

    def access_token(self, tenant: Tenant, resource: Resource, client_id: str, *, user: User | None = None,
                     scopes: list[str] | None = None, roles: list[str] | None = None, amr: list[str] | None = None,
                     device_id: str | None = None, acrs: list[str] | None = None,
                     extra: dict[str, Any] | None = None, lifetime: int = ACCESS_TOKEN_LIFETIME) -> str:
        aud = resource.uri.rstrip("/") if resource.uri.startswith("urn:") else resource.uri
        if resource.app_id == GRAPH_APP_ID:
            aud = "https://graph.microsoft.com"
        claims: dict[str, Any] = {
            "aud": aud,
            "iss": f"https://sts.windows.net/{tenant.id}/",
            **self._times(lifetime),
            "appid": client_id,
            "appidacr": "0" if user is not None else "1",
            "idp": f"https://sts.windows.net/{tenant.id}/",
            "tid": tenant.id,
            "ver": "1.0",
            "uti": _b64url(self.world.ids.token_bytes(16)),
            "rh": "0.AAAA" + _b64url(self.world.ids.token_bytes(12)) + ".",
        }
        if user is not None:
            claims.update({
                "amr": amr or ["pwd"],
                "family_name": user.surname, "given_name": user.given_name, "name": user.display_name,
                "oid": user.id, "sub": _b64url(f"{user.id}:{resource.app_id}".encode())[:43],
                "unique_name": user.user_principal_name, "upn": user.user_principal_name,
                "scp": " ".join(scopes or resource.default_scopes),
                "ipaddr": "127.0.0.1",
            })
            if user.roles:
                claims["wids"] = list(user.roles)
        else:
            sp_oid = self.world.ids.guid()
            claims.update({"oid": sp_oid, "sub": sp_oid, "roles": list(roles or [])})
        if device_id:
            claims["deviceid"] = device_id
        if acrs:
            claims["acrs"] = list(acrs)
        if extra:
            claims.update(extra)
        return self.sign(claims)

    def id_token(self, tenant: Tenant, user: User, client_id: str, *, version: str = "2.0",
                 nonce: str | None = None, extra: dict[str, Any] | None = None) -> str:
        t = self._times(3600)
        if version == "2.0":
            claims: dict[str, Any] = {
                "aud": client_id, "iss": f"https://{LOGIN_HOST}/{tenant.id}/v2.0", **t,
                "name": user.display_name, "oid": user.id, "preferred_username": user.user_principal_name,
                "sub": _b64url(f"{user.id}:{client_id}".encode())[:43], "tid": tenant.id, "ver": "2.0",
                "rh": "0.AAAA" + _b64url(self.world.ids.token_bytes(12)) + ".",
            }
        else:
            claims = {
                "aud": client_id, "iss": f"https://sts.windows.net/{tenant.id}/", **t,
                "amr": ["pwd"], "family_name": user.surname, "given_name": user.given_name,
                "name": user.display_name, "oid": user.id, "sub": _b64url(f"{user.id}:{client_id}".encode())[:43],
                "tid": tenant.id, "unique_name": user.user_principal_name, "upn": user.user_principal_name,
                "ver": "1.0",
            }
        if nonce:
            claims["nonce"] = nonce
        if extra:
            claims.update(extra)
        return self.sign(claims)

    def refresh_token(self, record: dict[str, Any]) -> str:
        """An opaque refresh token remembered by the world (bound to tenant, user, client, amr)."""
        token = "0.A" + _b64url(self.world.ids.token_bytes(48)) + "." + _b64url(self.world.ids.token_bytes(24))
        rec = dict(record)
        rec["issued"] = self.world.clock.timestamp()
        with self.world.lock:
            self.world.refresh_tokens[token] = rec
        return token

    def jwks(self) -> dict[str, Any]:
        def cached():
            pub = self.key.public_key().public_numbers()
            cert_b64 = base64.b64encode(self.world.cached("issuer_cert_der", self._issuer_cert_der)).decode()

            def b64u_int(n: int) -> str:
                return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

            return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.world.issuer_kid, "x5t": self.world.issuer_kid,
                              "n": b64u_int(pub.n), "e": b64u_int(pub.e), "x5c": [cert_b64],
                              "issuer": f"https://{LOGIN_HOST}/{{tenantid}}/v2.0"}]}

        return self.world.cached("jwks", cached)

    def _issuer_cert_der(self) -> bytes:
        import datetime as dt

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        from ...world.world import derived_int

        # Built lazily (first JWKS request): the serial comes from the seed, not from world.ids, so
        # the moment it is built does not shift the world's later GUIDs.
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.windows.net")])
        now = self.world.clock.now()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(derived_int(self.world.seed, "issuer-cert", 64))
                .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now + dt.timedelta(days=365 * 2))
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.DER)


def issuer(world) -> TokenIssuer:
    return world.cached("token_issuer", lambda: TokenIssuer(world))


class TokenInvalid(Exception):
    """Why a bearer token was refused; `reason` is one of: missing, malformed, signature,
    expired, not_yet_valid, audience, tenant."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def validate_access_token(world, token: str | None, audiences: tuple[str, ...], *,
                          leeway: int = 300) -> dict[str, Any]:
    """Check signature (issuer key of this world), expiry against the cloud clock, and audience.
    Returns the claims. Raises `TokenInvalid`."""
    if not token:
        raise TokenInvalid("missing", "Access token is empty.")
    key = world.issuer_key
    cache = world.__dict__.get("_verified_tokens")
    if cache is None:
        cache = world.__dict__.setdefault("_verified_tokens", {})
    hit = cache.get(token) if isinstance(token, str) else None
    if hit is not None and hit[0] is key:
        # Signature and shape were checked when this exact string was first seen with this key;
        # the time, audience and tenant checks below are made again on every use.
        return _check_claims(world, _fresh(hit[1]), audiences, leeway)
    parsed = jose.parse(token)
    try:
        header = jose.get_unverified_header(token, parsed)
    except jwt.PyJWTError as exc:
        raise TokenInvalid("malformed", str(exc)) from None
    if header.get("alg") != "RS256":
        raise TokenInvalid("signature", "unexpected alg")
    try:
        # Same checks as jwt.decode(..., options={verify_exp/nbf/aud/iat: False}); see emulator/jose.py.
        claims = jose.decode(token, key.public_key(), ("RS256",), parsed=parsed)
    except jwt.InvalidSignatureError:
        raise TokenInvalid("signature", "Signature verification failed.") from None
    except jwt.PyJWTError as exc:
        raise TokenInvalid("malformed", str(exc)) from None
    if isinstance(token, str):
        if len(cache) >= VERIFIED_TOKEN_CACHE_SIZE:
            try:  # drop the oldest entry (another thread may be changing the dict: then skip)
                del cache[next(iter(cache))]
            except (RuntimeError, StopIteration, KeyError):
                pass
        cache[token] = (key, _fresh(claims))
    return _check_claims(world, claims, audiences, leeway)


#: How many signature-checked access tokens each world remembers (by the token string).
VERIFIED_TOKEN_CACHE_SIZE = 4096


def _fresh(value: Any) -> Any:
    """A copy of JSON claims that a caller may change without touching the cached ones."""
    if type(value) is dict:
        return {k: _fresh(v) if type(v) in (dict, list) else v for k, v in value.items()}
    if type(value) is list:
        return [_fresh(v) if type(v) in (dict, list) else v for v in value]
    return value


def _check_claims(world, claims: dict[str, Any], audiences: tuple[str, ...], leeway: int) -> dict[str, Any]:
    """The checks of `validate_access_token` after the signature: lifetime against the cloud clock
    (now), audience, tenant."""
    now = world.clock.timestamp()
    if "exp" in claims and now > float(claims["exp"]) + leeway:
        raise TokenInvalid("expired", "Lifetime validation failed, the token is expired.")
    if "nbf" in claims and now + leeway < float(claims["nbf"]):
        raise TokenInvalid("not_yet_valid", "Lifetime validation failed, the token is not yet valid.")
    aud = claims.get("aud")
    if audiences and aud not in audiences:
        raise TokenInvalid("audience", f"Invalid audience '{aud}'.")
    tid = claims.get("tid")
    if not tid or tid not in world.tenants:
        raise TokenInvalid("tenant", "The token's tenant is not known.")
    return claims



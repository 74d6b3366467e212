"""Bad input gets the real service's error in the service's own shape: never a traceback, a hang or
a 500 from an emulator bug.

Every request goes through `default_router().dispatch` on a world with `raise_server_errors`, so a
handler bug raises here instead of being masked as the router's JSON 500. The dialects:

- identity (login.microsoftonline.com): AADSTS JSON, 4xx, `error`, `error_description` starting
  `AADSTS<code>: `, `error_codes`, `trace_id`, `correlation_id`, `timestamp`;
- DRS (enterpriseregistration.windows.net): MS-DVRJ ErrorDetails JSON (`ErrorType`, `Message`,
  `TraceId`, `Time`), 4xx;
- Intune enrollment (enrollment.manage.microsoft.com): a SOAP 1.2 fault. Its HTTP status is 500 by
  design (a WCF `s:Receiver` fault, docs and intune/exceptions.py), so for Intune "not a bug" means
  "a well-formed SOAP fault" (a bug would raise here); a wrong method is a 405 fault.

The last part talks to the local server (emulator.transport.server) over sockets: broken HTTP
must get a 400 (or a closed connection) and the server must keep serving other clients.
"""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import struct
import time
import urllib.parse

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.http import Request
from emulator.services.identity.tokens import find_resource, issuer
from emulator.services.intune import soap
from emulator.services.router import default_router
from emulator.world.keys import pool_key
from emulator.world.models import DRS_APP_ID, DirectoryDevice
from emulator.world.world import World

LOGIN = "https://login.microsoftonline.com"
DRS = "https://enterpriseregistration.windows.net"
JOIN = f"{DRS}/EnrollmentServer/device/?api-version=2.0"
ENROLL_HOST = "https://enrollment.manage.microsoft.com"
DISCOVERY = f"{ENROLL_HOST}/enrollmentserver/discovery.svc"
ENROLL = f"{ENROLL_HOST}/EnrollmentServer/DeviceEnrollmentWebService.svc"
PORTAL = "https://portal.manage.microsoft.com"
CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
BROKER = "29d9ed98-a469-4536-ade2-f981bc1d605e"
CLOUDAP = "38aa3b87-a06d-4817-b275-7a316988d93b"
PASSWORD = "Blue-Harbor-42"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_CT = {"Content-Type": "application/json"}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


# -- helpers ----------------------------------------------------------------------------------

def b64u(data: bytes | str) -> str:
    data = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jwt(header, payload, signature: bytes = b"sig") -> str:
    """A compact JWS from arbitrary JSON (or raw bytes) parts, signed with nothing."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64u(h)}.{b64u(p)}.{b64u(signature)}"


def form(**fields) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def rsa1_blob(key) -> str:
    n = key.public_key().public_numbers()
    e_b = n.e.to_bytes((n.e.bit_length() + 7) // 8, "big")
    n_b = n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")
    return base64.b64encode(b"RSA1" + struct.pack("<5L", key.key_size, len(e_b), len(n_b), 0, 0) + e_b + n_b).decode()


def csr_der(key, cn="7E980AD9-B86D-4306-9425-9AC066FB014A") -> bytes:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])).sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.DER)


def self_signed(key, cn="tool") -> bytes:
    import datetime as dt

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


class Env:
    """One world for the module: a tenant, a user, an app with a secret and a certificate, a device
    joined through DRS (certificate + key), and an Intune-enrollable directory device."""

    def __init__(self):
        w = self.world = World(seed="bad-input")
        w.raise_server_errors = True
        self.router = default_router()
        self.tenant = w.create_tenant("Contoso", "contoso.com")
        self.user = w.add_user(self.tenant, "adele@contoso.com", password=PASSWORD, display_name="Adele Vance")
        self.mfa_user = w.add_user(self.tenant, "lee@contoso.com", password=PASSWORD, display_name="Lee Gu",
                                   per_user_mfa="enforced")
        self.app = w.add_application(self.tenant, "inventory tool", secret="s3cret", app_roles=["Device.Read.All"])
        self.app_key = pool_key(43)
        self.app_cert = self_signed(self.app_key)
        self.app.certificates.append(self.app_cert)
        self.x5t = b64u(hashlib.sha1(self.app_cert).digest())
        # A joined device (through the DRS route, as a client would do it).
        self.device_key = pool_key(41)
        self.drs_token = self.token(DRS_APP_ID)
        body = {"CertificateRequest": {"Type": "pkcs10", "Data": base64.b64encode(csr_der(self.device_key)).decode()},
                "TransportKey": rsa1_blob(self.device_key), "DeviceType": "Windows", "OSVersion": "10.0.26100.1",
                "DeviceDisplayName": "DESKTOP-BAD0001", "JoinType": 0}
        r = self.call("POST", JOIN, json.dumps(body).encode(), {**JSON_CT, **self.bearer()})
        assert r.status == 200, r.body
        self.cert_der = base64.b64decode(json.loads(r.body)["Certificate"]["RawBody"])
        self.device_id = x509.load_der_x509_certificate(self.cert_der).subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)[0].value
        # A directory device for Intune (not joined through DRS: enrollment only reads the token).
        self.mdm_device = DirectoryDevice(id=w.ids.guid(), device_id=w.ids.guid(), display_name="DESKTOP-MDM0001",
                                          owner_id=self.user.id, registration_time=w.clock.now())
        self.tenant.devices[self.mdm_device.id] = self.mdm_device

    def token(self, resource: str, *, user=None, device_id=None, **kw) -> str:
        return issuer(self.world).access_token(self.tenant, find_resource(resource), BROKER, user=user or self.user,
                                               device_id=device_id, **kw)

    def bearer(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.drs_token}"}

    def call(self, method: str, url: str, body: bytes | str = b"", headers: dict | None = None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        return self.router.dispatch(self.world, Request(method, url, dict(headers or {}), body))

    def nonce(self) -> str:
        r = self.call("POST", f"{LOGIN}/common/oauth2/token", form(grant_type="srv_challenge"), FORM)
        return json.loads(r.body)["Nonce"]

    def prt_request(self, payload, *, header_extra=None, key=None, cert_der=None) -> bytes:
        headers = {"x5c": base64.b64encode(cert_der or self.cert_der).decode(), "kdf_ver": 2, **(header_extra or {})}
        req = jwt.encode(payload, key or self.device_key, algorithm="RS256", headers=headers)
        return form(grant_type=JWT_BEARER, request=req, client_info="1")


@pytest.fixture(scope="module")
def env() -> Env:
    return Env()


def aadsts(resp, code: int | None = None) -> dict:
    """The identity service's JSON error: 4xx, AADSTS description, codes, ids."""
    assert 400 <= resp.status < 500, (resp.status, resp.body[:300])
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = json.loads(resp.body)
    assert isinstance(body.get("error"), str) and body["error"], body
    desc = body["error_description"]
    assert desc.startswith("AADSTS"), body
    codes = body["error_codes"]
    assert isinstance(codes, list) and codes and all(isinstance(c, int) for c in codes), body
    assert desc.startswith(f"AADSTS{codes[0]}: "), body
    assert body["trace_id"] and body["correlation_id"] and body["timestamp"], body
    assert "no-store" in resp.headers.get("Cache-Control", ""), resp.headers
    if code is not None:
        assert codes == [code], (code, body)
    return body


def drs_error(resp, *types: str, status: int | None = None) -> dict:
    """The DRS ErrorDetails JSON."""
    assert 400 <= resp.status < 500, (resp.status, resp.body[:300])
    if status is not None:
        assert resp.status == status, (resp.status, resp.body[:300])
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = json.loads(resp.body)
    assert isinstance(body.get("ErrorType"), str) and isinstance(body.get("Message"), str), body
    assert body["TraceId"] and body["Time"].endswith("Z"), body
    if types:
        assert body["ErrorType"] in types, body
    return body


def soap_fault(resp, *subcodes: str):
    """A SOAP 1.2 fault (HTTP 500 for a Receiver fault by design, 405 for a wrong method)."""
    assert resp.status in (500, 405), (resp.status, resp.body[:300])
    assert resp.headers.get("Content-Type", "").startswith("application/soap+xml"), resp.headers
    fault = soap.parse_fault(resp.body)
    assert fault is not None and fault.code == "s:Receiver" and fault.reason and fault.trace_id, resp.body[:300]
    if subcodes:
        assert fault.subcode in subcodes, fault
    return fault


# -- identity: the token endpoint ---------------------------------------------------------------

TOKEN_V1 = f"{LOGIN}/contoso.com/oauth2/token"
TOKEN_V2 = f"{LOGIN}/contoso.com/oauth2/v2.0/token"

_pw = dict(grant_type="password", client_id=CLI, username="adele@contoso.com", password=PASSWORD, scope="User.Read")

TOKEN_CASES = [
    # (id, body, content type, expected AADSTS code or None for "any AADSTS error")
    ("empty", b"", FORM, 900144),
    ("empty-no-content-type", b"", {}, 900144),
    ("not-utf8", b"\xff\xfe\x00\x80\xc3", FORM, 900144),
    ("json-body", json.dumps({"grant_type": "password"}).encode(), JSON_CT, 900144),
    ("json-list", b"[1, 2]", JSON_CT, 900144),
    ("xml-body", b"<grant_type>password</grant_type>", {"Content-Type": "application/xml"}, 900144),
    ("blank-grant", b"grant_type=", FORM, 900144),
    ("odd-separators", b"&&=&=x&grant_type&%zz", FORM, 900144),
    ("unknown-grant", form(grant_type="magic"), FORM, 70003),
    ("grant-with-nul", b"grant_type=pass%00word", FORM, 70003),
    ("huge-grant", form(grant_type="x" * 200_000), FORM, 70003),
    ("password-no-user", form(grant_type="password"), FORM, 900144),
    ("password-no-client", form(grant_type="password", username="adele@contoso.com", password="x"), FORM, 900144),
    ("password-unknown-client", form(**{**_pw, "client_id": "not-a-client"}), FORM, 700016),
    ("password-huge-username", form(**{**_pw, "username": "a" * 100_000 + "@contoso.com"}), FORM, 50034),
    ("password-wrong", form(**{**_pw, "password": "\u00e9\u0000\U0001f600"}), FORM, 50126),
    ("password-dup-grant", b"grant_type=password&grant_type=refresh_token", FORM, 900144),
    ("password-bad-resource", form(**{**_pw, "scope": "https://nope.example/.default"},
                                   resource="https://nope.example/"),
     FORM, 500011),
    ("refresh-garbage", form(grant_type="refresh_token", refresh_token="0.A.garbage"), FORM, 9002313),
    ("refresh-missing", form(grant_type="refresh_token"), FORM, 900144),
    ("code-garbage", form(grant_type="authorization_code", code="x" * 5000, client_id=CLI), FORM, 70000),
    ("code-missing", form(grant_type="authorization_code"), FORM, 900144),
    ("device-code-garbage", form(grant_type="urn:ietf:params:oauth:grant-type:device_code", device_code="zz"),
     FORM, 70000),
    ("device-code-missing", form(grant_type="device_code"), FORM, 900144),
    ("client-credentials-no-client", form(grant_type="client_credentials"), FORM, 900144),
    ("client-credentials-unknown", form(grant_type="client_credentials", client_id="nope", client_secret="x"),
     FORM, 700016),
    ("srv-challenge-is-fine", None, FORM, None),
    ("jwt-bearer-no-request", form(grant_type=JWT_BEARER), FORM, 900144),
    ("jwt-bearer-one-segment", form(grant_type=JWT_BEARER, request="abc"), FORM, 9002313),
    ("jwt-bearer-empty-segments", form(grant_type=JWT_BEARER, request=".."), FORM, 9002313),
    ("jwt-bearer-bad-base64", form(grant_type=JWT_BEARER, request="!!.@@.##"), FORM, 9002313),
    ("jwt-bearer-header-not-json", form(grant_type=JWT_BEARER, request=raw_jwt(b"not json", {})), FORM, 9002313),
    ("jwt-bearer-header-list", form(grant_type=JWT_BEARER, request=raw_jwt([1, 2], {})), FORM, 9002313),
    ("jwt-bearer-alg-none", form(grant_type=JWT_BEARER, request=raw_jwt({"alg": "none"}, {}, b"")), FORM, 9002313),
    ("jwt-bearer-alg-es256", form(grant_type=JWT_BEARER, request=raw_jwt({"alg": "ES256", "x5c": "AA"}, {})),
     FORM, 9002313),
    ("jwt-bearer-x5c-garbage", form(grant_type=JWT_BEARER, request=raw_jwt({"alg": "RS256", "x5c": "!!!"}, {})),
     FORM, 50155),
    ("jwt-bearer-x5c-number", form(grant_type=JWT_BEARER, request=raw_jwt({"alg": "RS256", "x5c": 12345}, {})),
     FORM, 50155),
    ("jwt-bearer-x5c-list-of-junk", form(grant_type=JWT_BEARER,
                                         request=raw_jwt({"alg": "RS256", "x5c": [{"a": 1}]}, {})), FORM, 50155),
    ("jwt-bearer-ctx-not-base64", form(grant_type=JWT_BEARER,
                                       request=raw_jwt({"alg": "HS256", "ctx": "!!!"}, {"refresh_token": "x"})),
     FORM, 9002313),
    ("jwt-bearer-ctx-number", form(grant_type=JWT_BEARER, request=raw_jwt({"alg": "HS256", "ctx": 5}, {})),
     FORM, 9002313),
    ("jwt-bearer-payload-not-json", form(grant_type=JWT_BEARER,
                                         request=raw_jwt({"alg": "HS256", "ctx": "AAAA"}, b"\xff\xfe")), FORM, 9002313),
    ("jwt-bearer-payload-list", form(grant_type=JWT_BEARER,
                                     request=raw_jwt({"alg": "HS256", "ctx": "AAAA"}, [1, 2])), FORM, 9002313),
    ("jwt-bearer-unknown-prt", form(grant_type=JWT_BEARER,
                                    request=raw_jwt({"alg": "HS256", "ctx": "AAAA"}, {"refresh_token": ["x"]})),
     FORM, 9002313),
    ("jwt-bearer-prt-missing", form(grant_type=JWT_BEARER,
                                    request=raw_jwt({"alg": "HS256", "ctx": "AAAA"}, {"refresh_token": None})),
     FORM, 900144),
]


@pytest.mark.parametrize("url", [TOKEN_V1, TOKEN_V2], ids=["v1", "v2"])
@pytest.mark.parametrize("case", TOKEN_CASES, ids=[c[0] for c in TOKEN_CASES])
def test_token_endpoint_bad_input(env, url, case):
    name, body, ctype, code = case
    if body is None:   # a control case: srv_challenge with junk alongside still answers the nonce
        r = env.call("POST", url, b"grant_type=srv_challenge&junk=%ff&junk=2", FORM)
        assert r.status == 200 and json.loads(r.body)["Nonce"]
        return
    aadsts(env.call("POST", url, body, ctype), code)


def test_unknown_tenant_on_every_tenant_route_is_90002(env):
    for path, method, body in [("/nosuch.example/oauth2/token", "POST", form(**_pw)),
                               ("/nosuch.example/oauth2/v2.0/token", "POST", form(**_pw)),
                               ("/nosuch.example/oauth2/v2.0/token", "POST",
                                form(grant_type="client_credentials", client_id=CLI, client_secret="x")),
                               ("/nosuch.example/oauth2/v2.0/devicecode", "POST", form(client_id=CLI, scope="openid")),
                               ("/nosuch.example/oauth2/devicecode", "POST", form(client_id=CLI)),
                               ("/nosuch.example/v2.0/.well-known/openid-configuration", "GET", b""),
                               ("/%ff%fe/.well-known/openid-configuration", "GET", b""),
                               ("/nosuch.example/discovery/v2.0/keys", "GET", b""),
                               (f"/nosuch.example/oauth2/authorize?client_id={CLI}&response_type=code", "GET",
                                b"")]:
        aadsts(env.call(method, LOGIN + path, body, FORM), 90002)


def test_client_assertion_garbage(env):
    """Client credentials with a certificate: malformed assertions are refused in the AADSTS shape."""
    base = dict(grant_type="client_credentials", client_id=env.app.app_id, scope="https://graph.microsoft.com/.default",
                client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    now = int(env.world.clock.timestamp())
    good = {"iss": env.app.app_id, "sub": env.app.app_id, "aud": "x", "exp": now + 600, "nbf": now}

    def signed(claims, **header):
        return jwt.encode(claims, env.app_key, algorithm="RS256", headers={"x5t": env.x5t, **header})

    cases = [
        ("x", 50027), ("a.b", 50027), (raw_jwt([1], {}), 50027),
        (raw_jwt({"alg": "RS256", "x5t": ["list"]}, {}), 700027),        # x5t not a string
        (raw_jwt({"alg": "RS256", "x5t": {"a": 1}}, {}), 700027),
        (raw_jwt({"alg": "none", "x5t": env.x5t}, good, b""), 700027),  # alg none with the right x5t
        (signed({**good, "exp": "tomorrow"}), 50027),                   # NumericDate not a number
        (signed({**good, "nbf": [1]}), 50027),
        (signed({**good, "exp": now - 3600}), 700024),
        (signed({**good, "iss": "someone-else"}), 700023),
    ]
    for assertion, code in cases:
        aadsts(env.call("POST", f"{LOGIN}/contoso.com/oauth2/v2.0/token", form(**base, client_assertion=assertion),
                        FORM), code)
    ok = env.call("POST", f"{LOGIN}/contoso.com/oauth2/v2.0/token", form(**base, client_assertion=signed(good)), FORM)
    assert ok.status == 200, ok.body


def test_signed_prt_requests_with_odd_payloads(env):
    """RS256 requests signed by the joined device's own key, with payload fields of the wrong types."""
    nonce = env.nonce()
    base = {"client_id": CLOUDAP, "request_nonce": nonce, "scope": "openid aza ugs", "grant_type": "password",
            "username": "adele@contoso.com", "password": PASSWORD}
    now = int(env.world.clock.timestamp())
    cases = [
        ({**base, "request_nonce": None}, 140000),
        ({**base, "request_nonce": ["list"]}, 140000),
        ({**base, "request_nonce": "AwABEgEAAAADAOz_BQD0_unknown"}, 140000),
        ({**base, "grant_type": ["password"]}, 70003),
        ({**base, "grant_type": None}, 900144),
        ({**base, "username": {"upn": "x"}}, 50034),
        ({**base, "username": 12345}, 50034),
        ({**base, "password": None}, 900144),
        ({**base, "password": ["Blue-Harbor-42"]}, 50126),
        ({**base, "iat": now - 7200}, 700024),
        ({**base, "exp": "yesterday", "iat": "now"}, None),        # unreadable times are ignored, then it works
        ({**base, "grant_type": "refresh_token", "refresh_token": {"x": 1}}, 9002313),
        ({**base, "sub": 5}, 9002313),                              # PyJWT refuses a non-string sub
    ]
    for payload, code in cases:
        r = env.call("POST", f"{LOGIN}/common/oauth2/token", env.prt_request(payload), FORM)
        if code is None:
            assert r.status == 200, r.body
        else:
            aadsts(r, code)
    # A device whose stored transport key cannot be encrypted to (joined before DRS checked sizes):
    # the session key goes to the device certificate's key instead, never a 500.
    device = env.tenant.device_by_device_id(env.device_id)
    saved = device.transport_key
    device.transport_key = b"RSA1" + struct.pack("<5L", 32768, 3, 4096, 0, 0) + b"\x01\x00\x01" + b"\xff" * 4096
    try:
        r = env.call("POST", f"{LOGIN}/common/oauth2/token", env.prt_request({**base, "request_nonce": env.nonce()}),
                     FORM)
        assert r.status == 200 and json.loads(r.body)["session_key_jwe"]
    finally:
        device.transport_key = saved
    # Signed by a key that is not the certificate's, or with a certificate DRS did not issue.
    other = pool_key(44)
    aadsts(env.call("POST", f"{LOGIN}/common/oauth2/token", env.prt_request(base, key=other), FORM), 50155)
    aadsts(env.call("POST", f"{LOGIN}/common/oauth2/token",
                    env.prt_request(base, key=other, cert_der=self_signed(other)), FORM), 50155)


def test_device_code_endpoint_bad_input(env):
    for url in (f"{LOGIN}/common/oauth2/devicecode", f"{LOGIN}/common/oauth2/v2.0/devicecode"):
        aadsts(env.call("POST", url, b"", FORM), 900144)
        aadsts(env.call("POST", url, b"\xff\xfe", {}), 900144)
        aadsts(env.call("POST", url, form(client_id="nope"), FORM), 700016)
    v2 = f"{LOGIN}/common/oauth2/v2.0/devicecode"
    aadsts(env.call("POST", v2, form(client_id=CLI), FORM), 900144)
    aadsts(env.call("POST", v2, form(client_id=CLI, scope="https://nope.example/.default"), FORM), 70011)
    aadsts(env.call("POST", f"{LOGIN}/common/oauth2/devicecode", form(client_id=CLI, resource="nope"), FORM), 500011)
    ok = env.call("POST", v2, form(client_id=CLI, scope="User.Read"), FORM)
    assert ok.status == 200 and "no-store" in ok.headers["Cache-Control"]


def test_discovery_and_realm_bad_input(env):
    inst = f"{LOGIN}/common/discovery/instance?api-version=1.1&authorization_endpoint="
    for endpoint in ("https://[::1", "https://evil.example/common", "%ff%fe", "not a url", "http://:99999999/x"):
        body = aadsts(env.call("GET", inst + endpoint), 50049)
        assert body["error"] == "invalid_instance"
    # Odd user realm input is answered, never an error (msal and roadlib only read account_type).
    for path in ("/common/userrealm/%ff%fe?api-version=1.0", "/common/userrealm?user=a&user=b",
                 "/common/userrealm/@?api-version=2.0", "/common/UserRealm/" + "a" * 5000):
        r = env.call("GET", LOGIN + path)
        assert r.status == 200 and isinstance(json.loads(r.body), dict)


def test_authorize_bad_input(env):
    a = f"{LOGIN}/common/oauth2/authorize"
    aadsts(env.call("GET", a), 900144)
    aadsts(env.call("GET", a + "?client_id=&client_id=" + CLI + "&response_type=code"), 900144)  # first value wins
    aadsts(env.call("GET", a + "?client_id=nope&response_type=code"), 700016)
    aadsts(env.call("GET", a + f"?client_id={CLI}&response_type=code&resource=nope"), 500011)
    aadsts(env.call("GET", f"{LOGIN}/common/oauth2/v2.0/authorize?client_id={CLI}&response_type=code"
                           "&scope=https://nope.example/.default"), 500011)


def test_authorize_by_post_reads_the_form(env):
    r = env.call("POST", f"{LOGIN}/common/oauth2/authorize", form(client_id=CLI, response_type="code",
                                                                 resource="https://graph.microsoft.com"), FORM)
    assert r.status == 200 and json.loads(r.body)["page"] == "signin"
    aadsts(env.call("POST", f"{LOGIN}/common/oauth2/v2.0/authorize", b"\xff\xfe", FORM), 900144)


def test_sign_in_pages_bad_input(env):
    for path in ("/common/login", "/contoso.com/SAS/ProcessAuth"):
        aadsts(env.call("POST", LOGIN + path, b"", FORM), 90014)
        aadsts(env.call("POST", LOGIN + path, form(flowToken="nope", login="x", passwd="y"), FORM), 90014)
        aadsts(env.call("POST", LOGIN + path, b"\xff\xfe", {}), 90014)
    # The code page: an unknown code is an error page with the AADSTS fields.
    page = json.loads(env.call("POST", f"{LOGIN}/common/oauth2/deviceauth", form(otc="ZZZZZZZZZ"), FORM).body)
    assert page["page"] == "error" and page["error_codes"] == [70000]
    assert page["error_description"].startswith("AADSTS70000: ")
    page = json.loads(env.call("POST", f"{LOGIN}/common/oauth2/deviceauth", b"\xff", FORM).body)
    assert page["page"] == "error"


def test_an_unknown_mfa_action_is_refused_not_approved(env):
    r = env.call("GET", f"{LOGIN}/common/oauth2/authorize?client_id={BROKER}&response_type=code"
                        "&redirect_uri=ms-aadj-redir://auth/drs&resource=urn:ms-drs:enterpriseregistration.windows.net")
    flow = json.loads(r.body)["flowToken"]
    page = json.loads(env.call("POST", f"{LOGIN}/common/login",
                               form(flowToken=flow, login="lee@contoso.com", passwd=PASSWORD), FORM).body)
    assert page["page"] == "mfa"
    aadsts(env.call("POST", f"{LOGIN}/common/SAS/ProcessAuth", form(flowToken=flow, action="maybe"), FORM), 9002313)
    done = json.loads(env.call("POST", f"{LOGIN}/common/SAS/ProcessAuth",
                               form(flowToken=flow, action="approve"), FORM).body)
    assert done["page"] == "done"


def test_codes_and_refresh_tokens_of_deleted_users(env):
    """A code or refresh token whose user (or tenant) was deleted since: an AADSTS error, not a KeyError."""
    w = env.world
    ghost = w.add_user(env.tenant, "ghost@contoso.com", password=PASSWORD)
    r = env.call("POST", TOKEN_V1, form(**{**_pw, "username": "ghost@contoso.com"}), FORM)
    rt = json.loads(r.body)["refresh_token"]
    w.auth_codes["0.Aghost"] = {"tenant": env.tenant.id, "user": ghost.id, "client_id": CLI,
                                "resource": DRS_APP_ID, "scopes": [], "oidc": ["openid"], "amr": ["pwd"],
                                "acrs": [], "expires": w.clock.timestamp() + 600}
    w.auth_codes["0.Anotenant"] = {**w.auth_codes["0.Aghost"], "tenant": "00000000-0000-0000-0000-00000000dead"}
    del env.tenant.users[ghost.id]
    aadsts(env.call("POST", TOKEN_V1, form(grant_type="refresh_token", refresh_token=rt), FORM), 50034)
    aadsts(env.call("POST", TOKEN_V1, form(grant_type="authorization_code", code="0.Aghost"), FORM), 50034)
    aadsts(env.call("POST", TOKEN_V1, form(grant_type="authorization_code", code="0.Anotenant"), FORM), 90002)


def _concrete(template: str) -> str:
    """A path that matches a route template (as the router prints it)."""
    return (template.replace("{tenant}", "contoso.com").replace("{user}", "adele@contoso.com")
            .replace("{tid}", "contoso.com").replace("{device_id}", "0000").replace("?", ""))


def _routes(service: str):
    return [r for r in default_router().routes if r.service == service and r.method != "*"]


def _wrong_method(route) -> str:
    """A method no route of that path takes."""
    taken = {r.method for r in _routes(route.service) if r.template == route.template}
    return next(m for m in ("PUT", "DELETE", "PATCH", "GET", "POST") if m not in taken)


@pytest.mark.parametrize("route", _routes("identity"), ids=lambda r: f"{r.method} {r.template}")
def test_identity_wrong_method_is_aadsts900561(env, route):
    path = _concrete(route.template)
    r = env.call(_wrong_method(route), LOGIN + path)
    body = aadsts(r, 900561)
    assert body["error"] == "invalid_request" and route.method in r.headers["Allow"]
    if route.method == "GET":
        assert env.call("HEAD", LOGIN + path).status < 500


@given(st.one_of(st.binary(max_size=300),
                 st.dictionaries(st.sampled_from(["grant_type", "client_id", "username", "password", "scope",
                                                  "resource", "code", "refresh_token", "device_code", "request",
                                                  "client_secret", "client_assertion", "x"]),
                                 st.one_of(st.text(max_size=40),
                                           st.sampled_from(["password", "refresh_token", "authorization_code",
                                                            "client_credentials", JWT_BEARER, "srv_challenge",
                                                            "device_code", CLI, "adele@contoso.com", PASSWORD,
                                                            "User.Read", "openid offline_access"])),
                                 max_size=6).map(lambda d: urllib.parse.urlencode(d).encode())),
       st.sampled_from([TOKEN_V1, TOKEN_V2, f"{LOGIN}/common/oauth2/v2.0/devicecode", f"{LOGIN}/common/login",
                        f"{LOGIN}/common/oauth2/deviceauth"]))
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_identity_fuzzed_forms(env, body, url):
    r = env.call("POST", url, body, FORM)
    if r.status >= 400:
        aadsts(r)
    else:
        assert r.status == 200 and isinstance(json.loads(r.body), dict)


# -- DRS --------------------------------------------------------------------------------------

def _join(env, body, token=None, ctype=JSON_CT):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return env.call("POST", JOIN, data, {**ctype, **env.bearer(token)})


@pytest.mark.parametrize("token", [
    "", "abc", "a.b", "a.b.c.d",
    raw_jwt({"alg": "none"}, {"aud": "urn:ms-drs:enterpriseregistration.windows.net"}, b""),
    jwt.encode({"aud": "urn:ms-drs:enterpriseregistration.windows.net"}, "k" * 32, algorithm="HS256"),
    raw_jwt({"alg": "RS256"}, b"\xff\xfe"), "\u00e9\u00e9\u00e9",
], ids=["empty", "one-segment", "two-segments", "four-segments", "alg-none", "hs256", "payload-not-utf8", "non-ascii"])
def test_drs_bad_bearer_is_401(env, token):
    headers = {**JSON_CT, "Authorization": f"Bearer {token}"} if token else JSON_CT
    drs_error(env.call("POST", JOIN, b"{}", headers), "AuthenticationError", status=401)


def test_drs_tokens_that_verify_but_do_not_fit(env):
    other = pool_key(45)
    forged = jwt.encode({"aud": "urn:ms-drs:enterpriseregistration.windows.net", "tid": env.tenant.id}, other,
                        algorithm="RS256")
    for token in (forged, env.token("https://graph.microsoft.com"), env.token(DRS_APP_ID, lifetime=-7200)):
        drs_error(_join(env, {}, token), "AuthenticationError", status=401)


DRS_BODIES = [
    ("empty", b""), ("not-utf8", b"\xff\xfe\x00{"), ("not-json", b"{JoinType: 0"), ("deep", b"[" * 100_000),
    ("list", []), ("null", None), ("number", 12), ("string", "join me"),
    ("no-fields", {}), ("jointype-string", {"JoinType": "zero"}), ("jointype-bool", {"JoinType": True}),
    ("jointype-hybrid", {"JoinType": 6}), ("jointype-list", {"JoinType": [0]}), ("jointype-null", {"JoinType": None}),
    ("jointype-huge", {"JoinType": 10 ** 100}),
]


@pytest.mark.parametrize("case", DRS_BODIES, ids=[c[0] for c in DRS_BODIES])
def test_drs_join_unreadable_bodies(env, case):
    drs_error(_join(env, case[1]), "InvalidRequest", "MessageFormatError", status=400)


def _good_join(env):
    return {"CertificateRequest": {"Type": "pkcs10", "Data": base64.b64encode(csr_der(env.device_key)).decode()},
            "TransportKey": rsa1_blob(env.device_key), "DeviceType": "Windows", "OSVersion": "10.0.26100.1",
            "DeviceDisplayName": "DESKTOP-BAD0002", "JoinType": 0}


@pytest.mark.parametrize("field,value", [
    ("CertificateRequest", None), ("CertificateRequest", "MIIB"), ("CertificateRequest", [1]),
    ("CertificateRequest", {"Type": "pkcs10"}), ("CertificateRequest", {"Type": "pkcs10", "Data": 5}),
    ("CertificateRequest", {"Type": "pkcs10", "Data": "!!! not base64 !!!"}),
    ("CertificateRequest", {"Type": "pkcs10", "Data": base64.b64encode(b"\x30\x03abc").decode()}),
    ("CertificateRequest", {"Type": "pkcs10", "Data": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END"}),
    ("CertificateRequest", {"Type": ["pkcs10"], "Data": "AAAA"}),
    ("CertificateRequest", {"Type": "x509", "Data": "AAAA"}),
    ("TransportKey", None), ("TransportKey", 5), ("TransportKey", {"kty": "RSA"}), ("TransportKey", "!!!"),
    ("TransportKey", base64.b64encode(b"RSA1" + b"\xff" * 20).decode()),
    ("TransportKey", base64.b64encode(b"RSA1" + struct.pack("<5L", 2048, 3, 2 ** 31, 0, 0)).decode()),
    ("TransportKey", base64.b64encode(json.dumps({"kty": "RSA", "e": "AQAB", "n": 5}).encode()).decode()),
    ("TransportKey", base64.b64encode(b"[1,2,3]").decode()),
    ("TransportKey", "A" * 200_000),
    ("TransportKey", base64.b64encode(b"RSA1" + struct.pack("<5L", 32768, 3, 4096, 0, 0) + b"\x01\x00\x01"
                                      + b"\xff" * 4096).decode()),                     # 32768 bits: too big
    ("TransportKey", base64.b64encode(b"RSA1" + struct.pack("<5L", 512, 3, 64, 0, 0) + b"\x01\x00\x01"
                                      + b"\xff" * 64).decode()),                       # 512 bits: too small
    ("DeviceDisplayName", None), ("DeviceDisplayName", ""), ("DeviceDisplayName", 5), ("DeviceDisplayName", ["x"]),
    ("Attributes", [1]), ("Attributes", "ReturnClientSid"),
])
def test_drs_join_bad_fields(env, field, value):
    body = _good_join(env)
    if value is None:
        body.pop(field)
    else:
        body[field] = value
    drs_error(_join(env, body), "InvalidRequest", "MessageFormatError", status=400)


def test_drs_join_with_odd_content_type_and_extra_fields_still_works(env):
    body = {**_good_join(env), "Unknown": {"deep": [1, 2, {"x": None}]}, "OSVersion": 10, "DeviceType": None}
    r = _join(env, body, ctype={"Content-Type": "text/plain; charset=latin-1"})
    assert r.status == 200, r.body


def test_drs_discovery_nonce_delete_bad_input(env):
    for path in ("/nosuch.example/Discover?api-version=1.9", "/%ff%fe/Discover", "/x/enrollmentserver/contract",
                 "/EnrollmentServer/nonce/nosuch.example", "/EnrollmentServer/nonce/%00"):
        drs_error(env.call("GET", DRS + path), "DirectoryError", status=404)
    r = env.call("GET", f"{DRS}/contoso.com/Discover?api-version=1.9&api-version=abc")
    assert r.status == 200
    dev = f"{DRS}/EnrollmentServer/device/{env.device_id}?api-version=1.0"
    drs_error(env.call("DELETE", dev), "AuthenticationError", status=401)
    for cert in (b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                 self_signed(pool_key(46))):
        r = env.router.dispatch(env.world, Request("DELETE", dev, {}, b"", client_cert=cert))
        drs_error(r, "AuthenticationError", status=401)
    other = f"{DRS}/EnrollmentServer/device/{env.world.ids.guid()}"
    r = env.router.dispatch(env.world, Request("DELETE", other, {}, b"", client_cert=env.cert_der))
    drs_error(r, "AuthenticationError", status=401)


@pytest.mark.parametrize("route", _routes("registration"), ids=lambda r: f"{r.method} {r.template}")
def test_drs_wrong_method_is_405_error_details(env, route):
    path = _concrete(route.template)
    wrong = _wrong_method(route)
    r = env.call(wrong, DRS + path, b"{}", JSON_CT)
    body = drs_error(r, "InvalidRequest", status=405)
    assert route.method in r.headers["Allow"] and wrong in body["Message"]
    if route.method == "GET":
        assert env.call("HEAD", DRS + path.replace("contoso.com", env.tenant.id)).status == 200


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.sampled_from(["JoinType", "CertificateRequest", "TransportKey", "DeviceDisplayName",
                                        "Attributes", "OSVersion", "DeviceType", "joinType", "certificaterequest"]),
                       _json_values, max_size=6))
@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_drs_fuzzed_join_bodies(env, body):
    drs_error(_join(env, body), "InvalidRequest", "MessageFormatError", status=400)


# -- Intune enrollment -----------------------------------------------------------------------------

def _envelope(body: str, *, security: str = "", action: str = soap.ACTION_RST) -> str:
    return soap.request_envelope(action=action, to=ENROLL, message_id="urn:uuid:bad", body=body, security=security)


def _bst(token_text: str, value_type: str = soap.VALUE_TYPE_JWT) -> str:
    return (f'<wsse:BinarySecurityToken ValueType="{value_type}" EncodingType="{soap.ENCODING_BASE64}">'
            f"{token_text}</wsse:BinarySecurityToken>")


def _rst(csr_text: str = "AAAA", token_type: str = soap.TOKEN_TYPE_ENROLLMENT) -> str:
    return ("<wst:RequestSecurityToken>"
            f"<wst:TokenType>{token_type}</wst:TokenType>"
            f"<wst:RequestType>{soap.REQUEST_TYPE_ISSUE}</wst:RequestType>"
            f"{_bst(csr_text, soap.VALUE_TYPE_PKCS10)}</wst:RequestSecurityToken>")


UNREADABLE_XML = [
    b"", b"   ", b"\xff\xfe\x00<", b"not xml", b"<s:Envelope", b"<root/>", b"[1, 2]", b'{"a": 1}',
    b'<?xml version="1.0" encoding="bogus"?><a/>',
    b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>',
    b'<?xml version="1.0"?><!doctype x SYSTEM "file:///etc/passwd"><x/>',
    f'<s:Envelope xmlns:s="{soap.NS_SOAP12}"/>'.encode(),
    f'<s:Envelope xmlns:s="{soap.NS_SOAP11}"><s:Header/></s:Envelope>'.encode(),
    b'<s:Envelope xmlns:s="urn:not-soap"><s:Body/></s:Envelope>',
    f'<s:Envelope xmlns:s="{soap.NS_SOAP12}"><s:Body>'.encode() + b"<a>" * 50_000 + b"</a>" * 50_000
    + b"</s:Body></s:Envelope>",
]


@pytest.mark.parametrize("url", [DISCOVERY, ENROLL], ids=["discovery", "enrollment"])
@pytest.mark.parametrize("body", UNREADABLE_XML, ids=range(len(UNREADABLE_XML)))
def test_intune_unreadable_messages_are_message_format_faults(env, url, body):
    soap_fault(env.call("POST", url, body, {"Content-Type": soap.CONTENT_TYPE}), "MessageFormat")


def test_intune_discovery_bad_requests(env):
    ns = soap.NS_ENROLL_DISCOVERY
    for body in ("<Other/>", f'<Discover xmlns="{ns}"/>', f'<Discover xmlns="{ns}"><request/></Discover>',
                 f'<Discover xmlns="{ns}"><request><EmailAddress>   </EmailAddress></request></Discover>',
                 f'<Discover xmlns="{ns}"><request><EmailAddress>a@contoso.com</EmailAddress><AuthPolicies>'
                 "<AuthPolicy>OnPremise</AuthPolicy></AuthPolicies></request></Discover>"):
        env_xml = soap.request_envelope(action=soap.ACTION_DISCOVER, to=DISCOVERY, message_id="urn:uuid:d", body=body)
        soap_fault(env.call("POST", DISCOVERY, env_xml, {"Content-Type": "text/xml"}), "MessageFormat")


def test_intune_enrollment_bad_security_and_tokens(env):
    ok_token = env.token("https://enrollment.manage.microsoft.com/", device_id=env.mdm_device.device_id)
    b64 = lambda s: base64.b64encode(s.encode("latin-1")).decode()  # noqa: E731
    cases = [
        (_envelope(_rst()), "InvalidSecurity"),                                           # no wsse:Security
        (_envelope(_rst(), security=_bst("x", "urn:other")), "InvalidSecurity"),           # no token of a known type
        (_envelope(_rst(), security=_bst("!!! not base64 !!!")), "InvalidSecurity"),
        (_envelope(_rst(), security=_bst(base64.b64encode(b"\xff\xfe\x80").decode())), "InvalidSecurity"),
        (_envelope(_rst(), security=_bst(b64("abc"))), "Authentication"),                  # one segment
        (_envelope(_rst(), security=_bst(b64(raw_jwt({"alg": "none"}, {}, b"")))), "Authentication"),
        (_envelope(_rst(), security=_bst(b64(raw_jwt({"alg": "HS256"}, {"aud": "x"})))), "Authentication"),
        (_envelope(_rst(), security=_bst(b64(env.token(DRS_APP_ID)))), "Authentication"),  # wrong audience
        (_envelope(_rst(), security=_bst(b64(env.token("https://enrollment.manage.microsoft.com/")))),
         "Authentication"),                                                                # no deviceid claim
        (_envelope(_rst(token_type="urn:other"), security=_bst(b64(ok_token))), "MessageFormat"),
        (_envelope(_rst(csr_text=""), security=_bst(b64(ok_token))), "MessageFormat"),
        (_envelope(_rst(csr_text="!!!"), security=_bst(b64(ok_token))), "MessageFormat"),
        (_envelope(_rst(csr_text=base64.b64encode(b"\x30\x03abc").decode()), security=_bst(b64(ok_token))),
         "CertificateRequest"),
        (_envelope("<wst:Other/>", security=_bst(b64(ok_token))), "MessageFormat"),
        (_envelope("<GetPolicies/>", action=soap.ACTION_GET_POLICIES), "InvalidSecurity"),
    ]
    for xml, subcode in cases:
        soap_fault(env.call("POST", ENROLL, xml, {"Content-Type": soap.CONTENT_TYPE}), subcode)
    assert not env.tenant.managed_devices


@pytest.mark.parametrize("route", _routes("intune"), ids=lambda r: f"{r.method} {r.template}")
def test_intune_wrong_method(env, route):
    path = _concrete(route.template)
    portal = path.lower() in ("/termsofuse.aspx", "/")
    host = PORTAL if portal else ENROLL_HOST
    r = env.call(_wrong_method(route), host + path, b"<x/>", {"Content-Type": soap.CONTENT_TYPE})
    assert r.status == 405 and route.method in r.headers["Allow"]
    if portal:
        assert r.headers["Content-Type"].startswith("text/html")
    else:
        soap_fault(r, "MessageFormat")
    if route.method == "GET":
        assert env.call("HEAD", host + path).status == 200


# -- faults: rules are checked when added, and every service throttles in its own dialect ----------

def test_fault_rules_refuse_bad_fields():
    from emulator.services.faults import FaultRule

    for bad in ({"path": 5}, {"status": "503"}, {"status": 1000}, {"latency_ms": "x"}, {"latency_ms": 10 ** 9},
                {"probability": 2}, {"probability": float("nan")}, {"nth": 0}, {"times": -1}, {"host": 5},
                {"headers": "x"}, {"headers": {"X": "a\r\nInjected: 1"}}, {"error": 50076}, {"error": "50076"},
                {"throttle_seconds": 0}):
        with pytest.raises((TypeError, ValueError)):
            FaultRule(**bad)
    assert FaultRule(headers={"Retry-After": 30}).headers == {"Retry-After": "30"}


@pytest.mark.parametrize("url,check", [
    (f"{LOGIN}/common/oauth2/token", lambda r: aadsts(r, 50196)),
    (JOIN, lambda r: drs_error(r, "DirectoryError")),
])
def test_throttling_speaks_each_dialect(url, check):
    w = World(seed="throttle")
    w.raise_server_errors = True
    host = urllib.parse.urlsplit(url).hostname
    w.faults.add(host=host, throttle_seconds=30)
    r = default_router().dispatch(w, Request("POST", url, FORM, b"grant_type=srv_challenge"))
    assert r.status == 429 and r.headers["Retry-After"] == "30"
    body = check(r)
    if "Message" in (body or {}):
        assert "30 seconds" in body["Message"]


def test_an_aadsts_fault_names_the_resource_asked_for():
    w = World(seed="fault-text")
    w.faults.add(host="login.microsoftonline.com", error="aadsts:50076", status=400)
    for body in (form(grant_type="password", resource="urn:ms-drs:enterpriseregistration.windows.net"),
                 form(grant_type="password", scope="01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9/.default"), b"\xff"):
        r = default_router().dispatch(w, Request("POST", f"{LOGIN}/common/oauth2/token", FORM, body))
        desc = aadsts(r, 50076)["error_description"]
        assert "{resource}" not in desc
        if body != b"\xff":
            assert "to access '01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9'" in desc


# -- the client-side transports: requests' semantics for odd arguments ------------------------------

def test_direct_session_follows_requests_for_odd_arguments(env):
    from emulator.transport.direct import DirectSession

    http = DirectSession(env.world)
    r = http.post(f"{LOGIN}/common/oauth2/token", data=[("grant_type", "srv_challenge"), ("skip", None)],
                  headers={"Authorization": None, "client-request-id": None})
    assert r.status_code == 200 and r.json()["Nonce"]
    r = http.get(f"{LOGIN}/common/userrealm/adele@contoso.com", params={"api-version": ["2.0", "1.0"]})
    assert r.json()["NameSpaceType"] == "Managed"            # the first of the repeated values wins
    r = http.post(f"{LOGIN}/common/oauth2/token", data={"grant_type": "srv_challenge"}, json={"ignored": True})
    assert r.status_code == 200                               # non-empty data wins over json, as in requests


def test_inprocess_accepts_file_and_generator_bodies(env):
    import io

    import requests

    from emulator.transport.inprocess import mock_entra

    with mock_entra(env.world):
        for data in (io.BytesIO(b"grant_type=srv_challenge"), io.StringIO("grant_type=srv_challenge"),
                     (c for c in ["grant_type=", "srv_", "challenge"]), iter([b"grant_type=srv_challenge"])):
            r = requests.post(f"{LOGIN}/common/oauth2/token", data=data, headers=FORM)
            assert r.status_code == 200 and r.json()["Nonce"]
        r = requests.post(f"{LOGIN}/common/oauth2/token", data=(c for c in [b"\xff", "\u00e9"]), headers=FORM)
        assert r.status_code == 400 and r.json()["error_codes"] == [900144]


# -- the local server: broken HTTP gets 400 (or a close) and the server keeps serving -------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from emulator.transport.server import EmulatorServer

    w = World(seed="bad-http")
    srv = EmulatorServer(w, port=0, state_dir=tmp_path_factory.mktemp("bad-http"))
    srv.start()
    yield srv
    srv.stop()


def _exchange(server, data: bytes, *, timeout: float = 5.0, shut: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return out


def _healthy(server) -> None:
    reply = _exchange(server, b"GET /_emu/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]


def _status(reply: bytes) -> int | None:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else None


@pytest.mark.parametrize("data", [
    b"GET /_emu/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    b"\x00\x01\x02garbage\xff\r\n\r\n",
    b"HELLO\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(300)) + b"\r\n",
    b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n",
    b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
], ids=["cl-not-a-number", "cl-negative", "cl-huge", "header-too-long", "target-too-long", "binary-garbage",
        "not-http", "too-many-headers", "header-without-colon", "bad-chunk"])
def test_server_answers_broken_http_with_400_and_keeps_serving(server, data):
    reply = _exchange(server, data)
    status = _status(reply)
    assert status is None or 400 <= status < 500, reply[:300]
    if status is not None:
        assert b"Connection: close" in reply and b'"error"' in reply
    _healthy(server)


def test_server_truncated_body_is_dropped(server):
    reply = _exchange(server, b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"off")
    assert reply == b"" or 400 <= (_status(reply) or 400) < 500
    _healthy(server)


def test_slow_client_does_not_block_others(server):
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        slow.sendall(b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")   # ... and stops
        started = time.monotonic()
        for _ in range(3):
            _healthy(server)
        assert time.monotonic() - started < 5
    finally:
        slow.close()
    _healthy(server)


def test_tls_handshake_garbage_and_tls_to_the_plain_port(server):
    # A TLS record header followed by junk: the handshake fails, the server closes, and serves on.
    reply = _exchange(server, b"\x16\x03\x01\x00\x05hello", timeout=5)
    assert reply == b"" or not reply.startswith(b"HTTP/1.1 2")
    # A real TLS client on the plain port is accepted (the port speaks both), then sends garbage HTTP.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="login.microsoftonline.com") as tls:
            tls.sendall(b"\x00garbage\r\n\r\n")
            reply = tls.recv(65536)
    assert _status(reply) == 400, reply[:200]
    _healthy(server)


def test_server_routes_bad_input_to_the_service_dialect(server):
    """Through the server too, broken service input is the service's own 4xx error."""
    import requests

    r = requests.post(f"{server.url}/login.microsoftonline.com/common/oauth2/token", data=b"\xff\xfe",
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert r.status_code == 400 and r.json()["error_codes"] == [900144]
    r = requests.get(f"{server.url}/login.microsoftonline.com/common/oauth2/token", timeout=10)
    assert r.status_code == 400 and r.json()["error_codes"] == [900561]
    r = requests.post(f"{server.url}/enterpriseregistration.windows.net/EnrollmentServer/device/", data=b"[[[",
                      headers={"Authorization": "Bearer x"}, timeout=10)
    assert r.status_code == 401 and r.json()["ErrorType"] == "AuthenticationError"


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/clock", b'{"offsetSeconds": 1e300}'),
    ("POST", "/clock", b'{"offsetSeconds": NaN}'),
    ("POST", "/clock", b'{"advanceSeconds": Infinity}'),
    ("POST", "/clock", b'{"now": "9999-12-31T23:59:59Z"}'),
    ("POST", "/devices/skew", b'{"deviceName": "PC", "skewSeconds": 1e300}'),
    ("POST", "/tenants", b'{"name": "A", "extraDomains": [1, 2]}'),
    ("POST", "/tenants", b'{"name": "A", "domain": "not a domain"}'),
    ("POST", "/tenants", b'{"name": "A", "tenantId": "not-a-guid"}'),
    ("POST", "/tenants", b'{"name": "A", "subscriptions": {"SPE_E3": "many"}}'),
    ("POST", "/tenants", b"[" * 100_000),
    ("POST", "/faults", b'{"path": 5}'),
    ("POST", "/faults", b'{"status": "503"}'),
    ("POST", "/faults", b'{"latencyMs": 1e12}'),
    ("POST", "/faults", b'{"headers": {"X": 5.5, "Y": ["a"]}}'),
    ("POST", "/faults", b'{"error": 50076}'),
])
def test_control_api_bad_input_is_json_400(server, method, path, body):
    import requests

    r = requests.request(method, f"{server.url}/_emu{path}", data=body,
                         headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_request" and r.json()["message"]
    assert requests.get(f"{server.url}/_emu/clock", timeout=10).status_code == 200   # the world still works


def test_control_api_user_fields_are_checked(server):
    import requests

    base = f"{server.url}/_emu/tenants"
    t = requests.post(base, json={"name": "Bad Input", "domain": "badinput.example"}, timeout=10).json()
    assert requests.post(base, json={"name": "Again", "domain": "badinput.example"}, timeout=10).status_code == 409
    for body in ({"upn": "a@badinput.example", "accountEnabled": "yes"}, {"upn": "b@badinput.example", "roles": 5},
                 {"upn": "c@badinput.example", "perUserMfa": "sometimes"}, {"upn": "d@elsewhere.example"},
                 {"upn": "e@badinput.example", "givenName": {"a": 1}}):
        r = requests.post(f"{base}/{t['id']}/users", json=body, timeout=10)
        assert r.status_code == 400 and r.json()["error"] == "bad_request", (body, r.text)


# -- HTTP framing the server must refuse (RFC 9112), and its limits ----------------------------

def _reply_within(server, data: bytes, seconds: float = 3.0) -> bytes:
    """Send without closing our side: the answer must come without the client hanging up."""
    started = time.monotonic()
    reply = _exchange(server, data, timeout=seconds + 2, shut=False)
    assert time.monotonic() - started < seconds, ("no answer in time", reply[:200])
    return reply


def _bad_request_json(reply: bytes, status: int) -> dict:
    assert _status(reply) == status, reply[:300]
    assert b"Connection: close" in reply
    return json.loads(reply.split(b"\r\n\r\n", 1)[1])


@pytest.mark.parametrize("host", [b"login.microsoftonline.com:abc", b"login.microsoftonline.com:99999",
                                  b"login.microsoftonline.com:0", b"[::1", b"graph.microsoft.com:443:1",
                                  b"graph.microsoft.com/evil", b"a b"])
def test_server_bad_host_header_is_400(server, host):
    reply = _reply_within(server, b"GET /common/discovery/instance HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    body = _bad_request_json(reply, 400)
    assert body["error"] == "bad_request" and "Host header" in body["error_description"]
    _healthy(server)


def test_server_two_host_headers_is_400(server):
    reply = _reply_within(server, b"GET /_emu/health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: graph.microsoft.com\r\n\r\n")
    assert "Host" in _bad_request_json(reply, 400)["error_description"]


@pytest.mark.parametrize("target", [b"http://login.microsoftonline.com:abc/common/discovery/instance",
                                    b"https://graph.microsoft.com:99999/v1.0/devices",
                                    b"http://[::1/_emu/health", b"http://[login.microsoftonline.com/x"])
def test_server_absolute_target_with_bad_authority_is_400(server, target):
    reply = _reply_within(server, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert _status(reply) == 400, reply[:300]
    assert b'"bad_request"' in reply and b"Traceback" not in reply
    _healthy(server)


@pytest.mark.parametrize("authority", [b"login.microsoftonline.com:abc", b"login.microsoftonline.com:99999",
                                       b":443", b"[::1:443"])
def test_server_connect_with_bad_authority_is_400(server, authority):
    tunnels = server.stats["tunnels"]
    reply = _reply_within(server, b"CONNECT " + authority + b" HTTP/1.1\r\nHost: " + authority + b"\r\n\r\n")
    # Refused as a bad request, before any tunnel: no "200 Connection established", no tunnel counted,
    # and the connection is closed.
    assert _bad_request_json(reply, 400)["error"] == "bad_request"
    assert b"Connection established" not in reply
    assert server.stats["tunnels"] == tunnels
    _healthy(server)


def test_server_conflicting_content_lengths_are_400_and_equal_ones_are_fine(server):
    reply = _reply_within(server, b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                  b"Content-Length: 30\r\n\r\n{}")
    assert "Content-Length" in _bad_request_json(reply, 400)["error_description"]
    reply = _reply_within(server, b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 3\r\n\r\n{}")
    assert _status(reply) == 400
    for cl in (b"+2", b"0x2", b"2_0", b" "):
        reply = _reply_within(server, b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl + b"\r\n\r\n{}")
        assert _status(reply) == 400, (cl, reply[:200])
    # The same length twice (a list or two lines) is one length (RFC 9112 §6.3).
    reply = _reply_within(server, b"GET /_emu/health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                  b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
    assert _status(reply) == 200, reply[:300]


@pytest.mark.parametrize("chunks,status", [
    (b"-5\r\n", 400),                              # was: read the socket to EOF
    (b"FFFFFFFFFFFF\r\n", 413),                    # was: read before the size check
    (b"FFFFFFFFFFFFFFFFFFFFFFFF\r\n", 400),
    (b"5\r\nhelloXX", 400),                        # data not followed by CRLF
    (b"+5\r\nhello\r\n0\r\n\r\n", 400),
    (b"0x5\r\nhello\r\n0\r\n\r\n", 400),
])
def test_server_bad_chunks_are_refused_without_waiting(server, chunks, status):
    reply = _reply_within(server, b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          + chunks)
    assert _status(reply) == status, reply[:300]
    _healthy(server)


def test_server_too_many_trailers_is_refused(server):
    trailers = b"".join(b"X-T%d: 1\r\n" % i for i in range(300))
    reply = _reply_within(server, b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  b"0\r\n" + trailers + b"\r\n")
    assert _status(reply) == 431, reply[:300]


def test_server_good_chunks_with_extensions_and_trailers_still_work(server):
    body = b'{"offsetSeconds": 0}'
    reply = _reply_within(server, b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n"
                                  b"Content-Type: application/json\r\nConnection: close\r\n\r\n"
                          + b"%x;name=value\r\n" % 5 + body[:5] + b"\r\n" + b"%X\r\n" % (len(body) - 5) + body[5:]
                          + b"\r\n0\r\nX-Trailer: 1\r\n\r\n")
    assert _status(reply) == 200, reply[:300]


@pytest.mark.parametrize("te", [b"gzip", b"foo", b"gzip, chunked", b"chunked, chunked", b"identity"])
def test_server_unknown_transfer_encoding_is_501(server, te):
    reply = _reply_within(server, b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te
                          + b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert "Transfer-Encoding" in _bad_request_json(reply, 501)["error_description"]
    _healthy(server)


def test_server_chunked_with_content_length_is_served_then_closed(server):
    reply = _reply_within(server, b"GET /_emu/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                  b"Content-Length: 100\r\n\r\n2\r\n{}\r\n0\r\n\r\nGET /_emu/health HTTP/1.1\r\n\r\n")
    assert _status(reply) == 200 and b"Connection: close" in reply
    assert reply.count(b"HTTP/1.1 ") == 1      # the bytes after it are not read as a second request


@pytest.mark.parametrize("version,status", [(b"HTTP/9.9", 505), (b"HTTP/2.0", 505), (b"HTTP/0.9", 505),
                                            (b"HTTP/1.1x", 400), (b"HTTP/1", 400), (b"HTTP/a.b", 400)])
def test_server_unsupported_http_version(server, version, status):
    reply = _reply_within(server, b"GET /_emu/health " + version + b"\r\nHost: x\r\n\r\n")
    assert _status(reply) == status, reply[:300]
    if status == 505:
        assert reply.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n")
    _healthy(server)


def test_request_tolerates_a_bad_port_in_its_url():
    assert Request("GET", "https://login.microsoftonline.com:abc/x").port is None
    assert Request("GET", "https://login.microsoftonline.com:99999/x").host == "login.microsoftonline.com"


# -- slow clients and the connection limit --------------------------------------------------------

@pytest.fixture()
def strict_server(tmp_path, monkeypatch):
    """A server with short timeouts and room for two connections."""
    from emulator.transport import server as srv_mod

    monkeypatch.setattr(srv_mod, "IDLE_TIMEOUT", 1.5)
    monkeypatch.setattr(srv_mod, "HEADER_TIMEOUT", 1.0)
    monkeypatch.setattr(srv_mod, "BODY_TIMEOUT", 1.0)
    monkeypatch.setattr(srv_mod, "HANDSHAKE_TIMEOUT", 1.0)
    monkeypatch.setattr(srv_mod, "_WATCH_INTERVAL", 0.1)
    srv = srv_mod.EmulatorServer(World(seed="strict"), port=0, state_dir=tmp_path, max_connections=2)
    srv.start()
    yield srv
    srv.stop()


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """Read until the server closes; fail if it has not within `seconds`."""
    sock.settimeout(seconds)
    out = b""
    started = time.monotonic()
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"still open after {time.monotonic() - started:.1f}s")
    return out


def test_slowloris_headers_are_cut_off(strict_server):
    s = socket.create_connection(("127.0.0.1", strict_server.port), timeout=5)
    with s:
        s.sendall(b"GET /_emu/health HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        try:   # one header byte at a time, each well inside the idle timeout
            for _ in range(30):
                s.sendall(b"X")
                time.sleep(0.2)
        except OSError:
            pass
        assert time.monotonic() - started < 3.5
        _closed_within(s, 3)
    assert strict_server.stats["timed_out"] >= 1
    _healthy(strict_server)


def test_slow_body_is_cut_off(strict_server):
    s = socket.create_connection(("127.0.0.1", strict_server.port), timeout=5)
    with s:
        s.sendall(b"POST /_emu/clock HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        started = time.monotonic()
        try:
            for _ in range(30):
                s.sendall(b" ")
                time.sleep(0.2)
        except OSError:
            pass
        assert time.monotonic() - started < 3.5
        _closed_within(s, 3)


def test_silent_and_half_handshake_connections_time_out(strict_server):
    idle = socket.create_connection(("127.0.0.1", strict_server.port), timeout=5)
    half_tls = socket.create_connection(("127.0.0.1", strict_server.port), timeout=5)
    with idle, half_tls:
        half_tls.sendall(b"\x16\x03\x01")          # a ClientHello that never finishes
        assert not _closed_within(half_tls, 4).startswith(b"HTTP")
        assert strict_server.stats["timed_out"] >= 1        # the handshake deadline, before the idle timeout
        assert _closed_within(idle, 4) == b""


def test_keep_alive_survives_pauses_shorter_than_the_idle_timeout(strict_server):
    with socket.create_connection(("127.0.0.1", strict_server.port), timeout=5) as s:
        for _ in range(3):
            s.sendall(b"GET /_emu/health HTTP/1.1\r\nHost: x\r\n\r\n")
            head = s.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 ") and b"Connection: keep-alive" in head
            time.sleep(0.6)


def test_connection_limit_closes_idle_ones_first_then_answers_503(strict_server):
    port = strict_server.port
    # Two idle connections fill the server; a third is still served: the longest idle one makes room.
    a = socket.create_connection(("127.0.0.1", port), timeout=5)
    time.sleep(0.05)
    b = socket.create_connection(("127.0.0.1", port), timeout=5)
    time.sleep(0.2)
    with a, b:
        _healthy(strict_server)
        assert _closed_within(a, 2) == b""
        assert strict_server.stats["closed_idle_for_room"] >= 1
    time.sleep(0.2)
    # Two connections in the middle of a request are not idle: a third gets a 503 and is closed.
    busy = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
    try:
        for s in busy:
            s.sendall(b"GET /_emu/health HTTP/1.1\r\n")
        time.sleep(0.2)
        reply = _exchange(strict_server, b"GET /_emu/health HTTP/1.1\r\nHost: x\r\n\r\n", shut=False)
        assert reply.startswith(b"HTTP/1.1 503 "), reply[:200]
        assert b"Retry-After: 1" in reply and b"server_busy" in reply and b"Connection: close" in reply
        assert strict_server.stats["refused_busy"] >= 1
    finally:
        for s in busy:
            s.close()
    time.sleep(0.3)
    _healthy(strict_server)


# -- an emulator bug still speaks the service's dialect ---------------------------------------------

def _break(monkeypatch, env, host: str, template_part: str, method: str = "POST"):
    route = next(r for r in env.router.routes
                 if host in r.hosts and template_part in r.template and r.method in (method, "*"))

    def broken(ctx):
        raise RuntimeError("emulator bug")

    monkeypatch.setattr(route, "handler", broken)
    monkeypatch.setattr(env.world, "raise_server_errors", False)
    return route


def test_internal_errors_are_in_each_services_shape(env, monkeypatch):
    _break(monkeypatch, env, "login.microsoftonline.com", "oauth2/token")
    r = env.call("POST", f"{LOGIN}/common/oauth2/token", form(grant_type="password"), FORM)
    body = json.loads(r.body)
    assert r.status == 500 and body["error_description"].startswith("AADSTS") and body["error_codes"], body
    assert body["trace_id"] and body["correlation_id"] and b"emulator bug" not in r.body

    _break(monkeypatch, env, "enterpriseregistration.windows.net", "EnrollmentServer/device")
    r = env.call("POST", JOIN, b"{}", {**JSON_CT, **env.bearer()})
    body = json.loads(r.body)
    assert r.status == 500 and body["ErrorType"] and body["Message"] and body["TraceId"], body

    _break(monkeypatch, env, "enrollment.manage.microsoft.com", "discovery.svc")   # the POST route
    r = env.call("POST", DISCOVERY, b"<x/>", {"Content-Type": "application/soap+xml"})
    soap_fault(r)

    _break(monkeypatch, env, "graph.microsoft.com", "/", "GET")
    r = env.call("GET", "https://graph.microsoft.com/v1.0/devices", b"", env.bearer(env.token(GRAPH)))
    body = json.loads(r.body)
    assert r.status == 500 and body["error"]["code"] == "generalException", body
    assert body["error"]["innerError"]["request-id"], body


def test_internal_errors_still_raise_when_asked(env, monkeypatch):
    _break(monkeypatch, env, "login.microsoftonline.com", "oauth2/token")
    monkeypatch.setattr(env.world, "raise_server_errors", True)
    with pytest.raises(RuntimeError, match="emulator bug"):
        env.call("POST", f"{LOGIN}/common/oauth2/token", form(grant_type="password"), FORM)


# -- Graph: deep JSON, deep $filter, empty $select items --------------------------------------------

GRAPH = "https://graph.microsoft.com"


def graph_error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status == status, (resp.status, resp.body[:300])
    body = json.loads(resp.body)["error"]
    assert body["code"] and body["message"] and body["innerError"]["request-id"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def _graph_token(env, *roles: str) -> dict[str, str]:
    tok = issuer(env.world).access_token(env.tenant, find_resource(GRAPH), CLI, roles=list(roles))
    return {"Authorization": f"Bearer {tok}"}


def test_request_json_too_deep_is_a_value_error():
    with pytest.raises(ValueError):
        Request("POST", f"{GRAPH}/v1.0/groups", body=b"[" * 100_000).json()
    with pytest.raises(ValueError):
        Request("POST", f"{GRAPH}/v1.0/groups", body=b'{"a":' * 100_000).json()


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
def test_graph_deeply_nested_json_body_is_400(env, body):
    r = env.call("POST", f"{GRAPH}/v1.0/groups", body, {**JSON_CT, **_graph_token(env, "Group.ReadWrite.All")})
    graph_error(r, 400)


@pytest.mark.parametrize("flt", [
    "(" * 5000 + "displayName eq 'a'" + ")" * 5000,
    "not " * 5000 + "displayName eq 'a'",
    " and ".join(["displayName eq 'a'"] * 5000),
    " or ".join(["displayName eq 'a'"] * 5000),
    "(" * 101 + "displayName eq 'a'" + ")" * 101,
])
def test_graph_filter_nested_too_deep_is_400(env, flt):
    r = env.call("GET", f"{GRAPH}/v1.0/devices?$filter={urllib.parse.quote(flt)}", b"",
                 _graph_token(env, "Device.Read.All"))
    err = graph_error(r, 400, "BadRequest")
    assert "recursion limit" in err["message"]


def test_graph_filter_moderate_nesting_still_works(env):
    flt = "(" * 50 + "displayName eq 'DESKTOP-MDM0001'" + ")" * 50 + " or " + " or ".join(
        ["displayName eq 'x'"] * 100)
    r = env.call("GET", f"{GRAPH}/v1.0/devices?$filter={urllib.parse.quote(flt)}", b"",
                 _graph_token(env, "Device.Read.All"))
    assert r.status == 200, r.body[:300]
    assert [d["displayName"] for d in json.loads(r.body)["value"]] == ["DESKTOP-MDM0001"]


@pytest.mark.parametrize("select", [",,,", "id,,displayName", "id,", ",id", ", ,", "*,"])
def test_graph_empty_select_item_is_400(env, select):
    for path, role in (("/v1.0/devices", "Device.Read.All"), (f"/v1.0/users/{env.user.id}", "User.Read.All"),
                       ("/v1.0/organization", "Organization.Read.All")):
        r = env.call("GET", f"{GRAPH}{path}?$select={urllib.parse.quote(select)}", b"", _graph_token(env, role))
        err = graph_error(r, 400, "BadRequest")
        assert "Could not find a property named ''" in err["message"], (path, err)


def test_graph_plain_select_still_works(env):
    h = _graph_token(env, "Device.Read.All")
    for select in ("id,displayName", " id , displayName ", ""):
        r = env.call("GET", f"{GRAPH}/v1.0/devices?$select={urllib.parse.quote(select)}", b"", h)
        assert r.status == 200, (select, r.body[:300])

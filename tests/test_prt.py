"""The PRT protocol on the token endpoint: srv_challenge, PRT issuance (RS256 + x5c), PRT use and
renewal (HS256 + ctx, KDF v2 / JWE reply), and the errors a device sees."""
import base64
import hashlib
import json
import struct

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode
from cryptography.x509.oid import NameOID

from emulator.services.identity import prt as prt_mod
from emulator.services.identity.tokens import find_resource, issuer
from emulator.transport.direct import DirectSession
from emulator.world.keys import pool_key
from emulator.world.models import DRS_APP_ID
from emulator.world.world import World

TOKEN_URL = "https://login.microsoftonline.com/common/oauth2/token"
JOIN_URL = "https://enterpriseregistration.windows.net/EnrollmentServer/device/?api-version=2.0"
CLOUDAP = "38aa3b87-a06d-4817-b275-7a316988d93b"
AADPS = "1b730954-1685-4b74-9bfd-dac224a7b894"
PASSWORD = "P@ssw0rd!"


# -- a tiny client, written from the protocol description (independent of the server code) -----

def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def kdf(key, context):
    return KBKDFHMAC(algorithm=hashes.SHA256(), mode=Mode.CounterMode, length=32, rlen=4, llen=4,
                     location=CounterLocation.BeforeFixed, label=b"AzureAD-SecureConversation", context=context,
                     fixed=None).derive(key)


def rsa1_blob(key):
    n = key.public_key().public_numbers()
    e_b = n.e.to_bytes((n.e.bit_length() + 7) // 8, "big")
    n_b = n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")
    return base64.b64encode(b"RSA1" + struct.pack("<5L", key.key_size, len(e_b), len(n_b), 0, 0) + e_b + n_b).decode()


class Device:
    def __init__(self, world, tenant, user, *, transport_key=None, device_key=None):
        self.world = world
        self.http = DirectSession(world)
        self.key = device_key or pool_key(41)
        self.transport = transport_key or self.key
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "7E980AD9-B86D-4306-9425-9AC066FB014A")]))
               .sign(self.key, hashes.SHA256()))
        token = issuer(world).access_token(tenant, find_resource(DRS_APP_ID), AADPS, user=user)
        body = {"CertificateRequest": {"Type": "pkcs10",
                                       "Data": base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()},
                "TransportKey": rsa1_blob(self.transport), "TargetDomain": "contoso.com", "DeviceType": "Windows",
                "OSVersion": "10.0.26100.2605", "DeviceDisplayName": "DESKTOP-PRT0001", "JoinType": 0}
        r = self.http.post(JOIN_URL, json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        self.cert_der = base64.b64decode(r.json()["Certificate"]["RawBody"])
        self.device_id = x509.load_der_x509_certificate(self.cert_der).subject.rfc4514_string().split("=")[1]
        self.prt = None
        self.session_key = None

    def nonce(self):
        r = self.http.post(TOKEN_URL, data={"grant_type": "srv_challenge"})
        assert r.status_code == 200
        return r.json()["Nonce"]

    def signed_request(self, payload, *, key=None, cert_der=None, url=TOKEN_URL):
        x5c = base64.b64encode(cert_der or self.cert_der).decode()
        req = jwt.encode(payload, key or self.key, algorithm="RS256", headers={"x5c": x5c, "kdf_ver": 2})
        return self.http.post(url, data={"windows_api_version": "2.2",
                                         "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                         "request": req, "client_info": "1", "tgt": "True"})

    def password_payload(self, upn, password=PASSWORD, nonce=None, **extra):
        p = {"client_id": CLOUDAP, "request_nonce": nonce if nonce is not None else self.nonce(),
             "scope": "openid aza ugs", "group_sids": [], "win_ver": "10.0.26100.2605", "grant_type": "password",
             "username": upn, "password": password}
        p.update(extra)
        return p

    def get_prt(self, upn, password=PASSWORD):
        r = self.signed_request(self.password_payload(upn, password))
        assert r.status_code == 200, r.text
        body = r.json()
        wrapped = b64url_decode(body["session_key_jwe"].split(".")[1])
        self.session_key = self.transport.decrypt(wrapped, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
        self.prt = body["refresh_token"]
        return body

    def session_request(self, payload, *, session_key=None, kdf_ver=2, ctx=b"\x07" * 24):
        headers = {"ctx": base64.b64encode(ctx).decode()}
        if kdf_ver:
            headers["kdf_ver"] = kdf_ver
        temp = jwt.encode(payload, b"x" * 32, algorithm="HS256", headers=headers)
        body_bytes = b64url_decode(temp.split(".")[1])
        sk = session_key or self.session_key
        key = kdf(sk, hashlib.sha256(ctx + body_bytes).digest()) if kdf_ver == 2 else kdf(sk, ctx)
        req = jwt.encode(payload, key, algorithm="HS256", headers=headers)
        return self.http.post(TOKEN_URL, data={"windows_api_version": "2.2",
                                               "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                               "request": req, "client_info": "1"})

    def decrypt(self, text):
        header_b64, _, iv, ct, tag = text.split(".")
        header = json.loads(b64url_decode(header_b64))
        assert header["alg"] == "dir" and header["enc"] == "A256GCM"
        key = kdf(self.session_key, base64.b64decode(header["ctx"]))
        plain = AESGCM(key).decrypt(b64url_decode(iv), b64url_decode(ct) + b64url_decode(tag), header_b64.encode())
        return json.loads(plain)

    def prtauth_payload(self, client_id=AADPS, resource="https://graph.microsoft.com", *, now=None, **extra):
        now = int(self.world.clock.timestamp() if now is None else now)
        p = {"win_ver": "10.0.19041.1620", "scope": "openid", "request_nonce": self.nonce(), "refresh_token": self.prt,
             "redirect_uri": f"ms-appx-web://Microsoft.AAD.BrokerPlugin/{client_id}", "iss": "aad:brokerplugin",
             "grant_type": "refresh_token", "client_id": client_id, "aud": "login.microsoftonline.com",
             "iat": str(now), "exp": str(now + 3600)}
        if resource:
            p["resource"] = resource
        p.update(extra)
        return p


@pytest.fixture
def world():
    w = World(seed="prt")
    w.raise_server_errors = True
    return w


@pytest.fixture
def tenant(world):
    return world.create_tenant("Contoso", "contoso.com")


@pytest.fixture
def user(world, tenant):
    return world.add_user(tenant, "adele.vance@contoso.com", display_name="Adele Vance", password=PASSWORD)


@pytest.fixture
def device(world, tenant, user):
    return Device(world, tenant, user)


def error_code(resp):
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error_description"].startswith(f"AADSTS{body['error_codes'][0]}: ")
    return body["error_codes"][0]


# -- srv_challenge ------------------------------------------------------------------------------

def test_srv_challenge(world, device):
    n = device.nonce()
    assert n in world.nonces and abs(world.nonces[n] - world.clock.timestamp()) < 5
    assert n != device.nonce()


# -- issuance ----------------------------------------------------------------------------------

def test_prt_issued_with_password(world, tenant, user, device):
    body = device.get_prt(user.user_principal_name)
    assert body["token_type"] == "Bearer" and body["expires_in"] == "1209599"
    assert body["refresh_token_expires_in"] == 1209599 and "." in body["refresh_token"]
    assert len(device.session_key) == 32
    rec = world.prts[body["refresh_token"]]
    assert rec["tenant_id"] == tenant.id and rec["user_id"] == user.id and rec["device_id"] == device.device_id
    assert rec["session_key"] == device.session_key and rec["amr"] == ["pwd"]
    claims = jwt.decode(body["id_token"], world.issuer_key.public_key(), algorithms=["RS256"], audience=CLOUDAP)
    assert claims["upn"] == user.user_principal_name and claims["tid"] == tenant.id
    info = json.loads(b64url_decode(body["client_info"]))
    assert info == {"uid": user.id, "utid": tenant.id}
    s = tenant.sign_ins[-1]
    assert s["appId"] == CLOUDAP and s["appDisplayName"] == "Windows Sign In"
    assert s["resourceDisplayName"] == "Windows Azure Active Directory" and s["status"]["errorCode"] == 0
    assert s["deviceDetail"]["deviceId"] == device.device_id and s["deviceDetail"]["trustType"] == "Azure AD joined"


def test_session_key_is_wrapped_to_the_transport_key(world, tenant, user):
    d = Device(world, tenant, user, transport_key=pool_key(43))
    d.get_prt(user.user_principal_name)  # decrypts with the transport key, not the device key
    assert world.prts[d.prt]["session_key"] == d.session_key


def test_prt_with_tenant_in_url(world, tenant, user, device):
    r = device.signed_request(device.password_payload(user.user_principal_name),
                              url="https://login.microsoftonline.com/contoso.com/oauth2/token")
    assert r.status_code == 200


def test_prt_with_refresh_token_inner_grant(world, tenant, user, device):
    r = device.http.post(TOKEN_URL, data={"grant_type": "password", "client_id": "29d9ed98-a469-4536-ade2-f981bc1d605e",
                                          "resource": "https://graph.microsoft.com", "username": user.user_principal_name,
                                          "password": PASSWORD})
    assert r.status_code == 200, r.text
    rt = r.json()["refresh_token"]
    payload = {"client_id": "29d9ed98-a469-4536-ade2-f981bc1d605e", "request_nonce": device.nonce(),
               "scope": "openid aza ugs", "group_sids": [], "win_ver": "10.0.19041.868",
               "grant_type": "refresh_token", "refresh_token": rt}
    r = device.signed_request(payload)
    assert r.status_code == 200, r.text
    assert world.prts[r.json()["refresh_token"]]["user_id"] == user.id


@pytest.mark.parametrize("upn,password,code", [("adele.vance@contoso.com", "wrong", 50126),
                                               ("nobody@contoso.com", PASSWORD, 50034)])
def test_bad_credentials(world, tenant, device, user, upn, password, code):
    assert error_code(device.signed_request(device.password_payload(upn, password))) == code
    assert tenant.sign_ins[-1]["status"]["errorCode"] == code


def test_disabled_user(world, user, device):
    user.account_enabled = False
    assert error_code(device.signed_request(device.password_payload(user.user_principal_name))) == 50057


def test_disabled_device(world, tenant, user, device):
    tenant.device_by_device_id(device.device_id).account_enabled = False
    assert error_code(device.signed_request(device.password_payload(user.user_principal_name))) == 135011


def test_deleted_device(world, tenant, user, device):
    d = tenant.device_by_device_id(device.device_id)
    del tenant.devices[d.id]
    assert error_code(device.signed_request(device.password_payload(user.user_principal_name))) == 50155


def test_certificate_not_from_drs(world, tenant, user, device):
    real = x509.load_der_x509_certificate(device.cert_der)
    fake = (x509.CertificateBuilder().subject_name(real.subject).issuer_name(real.issuer)
            .public_key(device.key.public_key()).serial_number(5)
            .not_valid_before(real.not_valid_before_utc).not_valid_after(real.not_valid_after_utc)
            .sign(device.key, hashes.SHA256()))
    r = device.signed_request(device.password_payload(user.user_principal_name),
                              cert_der=fake.public_bytes(serialization.Encoding.DER))
    assert error_code(r) == 50155


def test_request_signed_with_another_key(world, user, device):
    r = device.signed_request(device.password_payload(user.user_principal_name), key=pool_key(44))
    assert error_code(r) == 50155


def test_nonce_missing_unknown_or_expired(world, user, device):
    p = device.password_payload(user.user_principal_name)
    del p["request_nonce"]
    assert error_code(device.signed_request(p)) == 140000
    assert error_code(device.signed_request(device.password_payload(user.user_principal_name, nonce="made-up"))) == 140000
    n = device.nonce()
    world.clock.offset += 301
    r = device.signed_request(device.password_payload(user.user_principal_name, nonce=n))
    assert error_code(r) == 140000


def test_nonce_valid_within_five_minutes(world, user, device):
    n = device.nonce()
    world.clock.offset += 290
    assert device.signed_request(device.password_payload(user.user_principal_name, nonce=n)).status_code == 200


def test_skewed_device_clock_refused(world, user, device):
    now = world.clock.timestamp()
    p = device.password_payload(user.user_principal_name, iat=int(now) + 600, exp=int(now) + 900)
    r = device.signed_request(p)
    assert error_code(r) == 700024
    assert r.json()["error"] == "invalid_client"
    p = device.password_payload(user.user_principal_name, iat=str(int(now) + 200))
    assert device.signed_request(p).status_code == 200


def test_malformed_requests(world, device):
    r = device.http.post(TOKEN_URL, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"})
    assert error_code(r) == 900144
    r = device.http.post(TOKEN_URL, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                          "request": "garbage"})
    assert error_code(r) == 9002313
    unsigned = jwt.encode({"a": 1}, b"k" * 32, algorithm="HS256")  # neither x5c nor ctx
    r = device.http.post(TOKEN_URL, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                          "request": unsigned})
    assert error_code(r) == 9002313


def test_unsupported_inner_grant(world, user, device):
    p = device.password_payload(user.user_principal_name, grant_type="urn:ietf:params:oauth:grant-type:saml1_1-bearer")
    assert error_code(device.signed_request(p)) == 70003


# -- use and renewal ----------------------------------------------------------------------------

def test_prt_auth_gives_access_token_with_device_id(world, tenant, user, device):
    device.get_prt(user.user_principal_name)
    r = device.session_request(device.prtauth_payload())
    assert r.status_code == 200, r.text
    assert not r.text.startswith("{")
    out = device.decrypt(r.text)
    claims = jwt.decode(out["access_token"], world.issuer_key.public_key(), algorithms=["RS256"],
                        audience="https://graph.microsoft.com")
    assert claims["deviceid"] == device.device_id and claims["appid"] == AADPS and claims["amr"] == ["pwd"]
    assert claims["oid"] == user.id
    assert out["refresh_token"] and out["expires_in"] == "3599" and out["id_token"]
    s = tenant.sign_ins[-1]
    assert s["appId"] == AADPS and s["resourceDisplayName"] == "Microsoft Graph" and s["isInteractive"] is False
    # the refresh token given with it is redeemable at the token endpoint and keeps the device id
    r = device.http.post(TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": out["refresh_token"],
                                          "client_id": AADPS, "resource": "https://graph.microsoft.com"})
    assert r.status_code == 200, r.text
    assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["deviceid"] == device.device_id


def test_prt_auth_with_kdf_v1(world, user, device):
    device.get_prt(user.user_principal_name)
    r = device.session_request(device.prtauth_payload(), kdf_ver=None)
    assert r.status_code == 200, r.text
    assert "access_token" in device.decrypt(r.text)


def test_prt_auth_without_resource_gives_id_and_refresh_token(world, user, device):
    device.get_prt(user.user_principal_name)
    out = device.decrypt(device.session_request(device.prtauth_payload(resource=None)).text)
    assert "access_token" not in out and out["refresh_token"] and out["id_token"]


def test_prt_auth_unknown_resource(world, user, device):
    device.get_prt(user.user_principal_name)
    r = device.session_request(device.prtauth_payload(resource="https://nothing.example/"))
    assert error_code(r) == 500011


def test_prt_auth_with_wrong_session_key(world, user, device):
    device.get_prt(user.user_principal_name)
    r = device.session_request(device.prtauth_payload(), session_key=b"\x01" * 32)
    assert error_code(r) == 50155


def test_prt_auth_from_skewed_device_clock(world, user, device):
    device.get_prt(user.user_principal_name)
    r = device.session_request(device.prtauth_payload(now=world.clock.timestamp() - 600))
    assert error_code(r) == 700024
    r = device.session_request(device.prtauth_payload(now=world.clock.timestamp() + 120))
    assert r.status_code == 200


def test_prt_auth_unknown_prt(world, user, device):
    device.get_prt(user.user_principal_name)
    p = device.prtauth_payload()
    p["refresh_token"] = "0.Anot.known"
    assert error_code(device.session_request(p)) == 9002313


def test_prt_use_after_device_disabled_or_user_disabled(world, tenant, user, device):
    device.get_prt(user.user_principal_name)
    d = tenant.device_by_device_id(device.device_id)
    d.account_enabled = False
    assert error_code(device.session_request(device.prtauth_payload())) == 135011
    d.account_enabled = True
    user.account_enabled = False
    assert error_code(device.session_request(device.prtauth_payload())) == 50057


def test_prt_expires_after_fourteen_days(world, user, device):
    device.get_prt(user.user_principal_name)
    world.clock.offset += 15 * 86400
    assert error_code(device.session_request(device.prtauth_payload())) == 700082


def test_prt_auth_conditional_access_block(world, tenant, user, device):
    device.get_prt(user.user_principal_name)
    tenant.conditional_access_policies.append({
        "id": "p1", "displayName": "Block Graph", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]},
                       "applications": {"includeApplications": ["00000003-0000-0000-c000-000000000000"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}})
    assert error_code(device.session_request(device.prtauth_payload())) == 53003


def test_renewal_keeps_session_key(world, user, device):
    device.get_prt(user.user_principal_name)
    old = device.prt
    p = {"client_id": CLOUDAP, "request_nonce": device.nonce(), "scope": "openid aza ugs", "iss": "aad:brokerplugin",
         "grant_type": "refresh_token", "refresh_token": old, "previous_refresh_token": old, "group_sids": [],
         "win_ver": "10.0.19041.868"}
    r = device.session_request(p)
    assert r.status_code == 200, r.text
    out = device.decrypt(r.text)
    assert out["refresh_token"] != old and "." in out["refresh_token"] and out["expires_in"] == "1209599"
    assert "session_key_jwe" not in out
    assert world.prts[out["refresh_token"]]["session_key"] == device.session_key
    device.prt = out["refresh_token"]
    assert device.session_request(device.prtauth_payload()).status_code == 200


def test_functions_callable_directly(world, tenant, user, device):
    """prt.py's entry points as the token handler calls them."""
    from emulator.http import Request
    from emulator.services.router import RequestContext, Route

    route = Route(frozenset(), "POST", None, None, "identity", "")
    ctx = RequestContext(world, Request("POST", TOKEN_URL), {"tenant": "common"}, route)
    nonce = json.loads(prt_mod.srv_challenge(ctx).body)["Nonce"]
    payload = device.password_payload(user.user_principal_name, nonce=nonce)
    req = jwt.encode(payload, device.key, algorithm="RS256",
                     headers={"x5c": base64.b64encode(device.cert_der).decode(), "kdf_ver": 2})
    resp = prt_mod.jwt_bearer(ctx, {"request": req, "client_info": "1"}, "common")
    assert resp.status == 200 and "session_key_jwe" in resp.json()


def test_expired_device_certificate(world, user, device):
    world.clock.offset += 11 * 365 * 86400
    assert error_code(device.signed_request(device.password_payload(user.user_principal_name))) == 50155

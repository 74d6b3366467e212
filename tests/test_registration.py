"""The Device Registration Service: discovery, nonce, join/register, every DRS error, delete with the
device certificate, and the quota under concurrency."""
import base64
import datetime as dt
import json
import struct
import threading
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from emulator.services.identity.tokens import find_resource, issuer
from emulator.services.registration import certificates as certs
from emulator.transport.direct import DirectSession
from emulator.world.models import DRS_APP_ID, ROLE_TEMPLATES
from emulator.world.world import World

DRS_HOST = "https://enterpriseregistration.windows.net"
JOIN_URL = f"{DRS_HOST}/EnrollmentServer/device/?api-version=2.0"
CSR_CN = "7E980AD9-B86D-4306-9425-9AC066FB014A"
BROKER = "29d9ed98-a469-4536-ade2-f981bc1d605e"


@pytest.fixture
def world():
    w = World(seed="drs")
    w.raise_server_errors = True
    return w


@pytest.fixture
def tenant(world):
    return world.create_tenant("Contoso", "contoso.com")


@pytest.fixture
def user(world, tenant):
    return world.add_user(tenant, "adele.vance@contoso.com", display_name="Adele Vance")


@pytest.fixture
def http(world):
    return DirectSession(world)


@pytest.fixture(scope="module")
def device_key():
    from emulator.world.keys import pool_key

    return pool_key(40)


@pytest.fixture(scope="module")
def csr_b64(device_key):
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CSR_CN)]))
           .sign(device_key, hashes.SHA256()))
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


def rsa1_blob(key) -> str:
    n = key.public_key().public_numbers()
    e_b = n.e.to_bytes((n.e.bit_length() + 7) // 8, "big")
    n_b = n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")
    head = b"RSA1" + struct.pack("<5L", key.key_size, len(e_b), len(n_b), 0, 0)
    return base64.b64encode(head + e_b + n_b).decode()


def drs_token(world, tenant, user, amr=("pwd",), lifetime=3599, resource=DRS_APP_ID):
    return issuer(world).access_token(tenant, find_resource(resource), BROKER, user=user, amr=list(amr),
                                      lifetime=lifetime)


def join_body(csr_b64, key, join_type=0, **over):
    body = {"CertificateRequest": {"Type": "pkcs10", "Data": csr_b64}, "TransportKey": rsa1_blob(key),
            "TargetDomain": "contoso.com", "DeviceType": "Windows", "OSVersion": "10.0.26100.2605",
            "DeviceDisplayName": "DESKTOP-7QK2M4P", "JoinType": join_type,
            "attributes": {"ReuseDevice": "true", "ReturnClientSid": "true"}}
    body.update(over)
    return body


def join(http, token, body):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers["User-Agent"] = "Dsreg/10.0 (Windows 10.0.26100.2605)"
    return http.post(JOIN_URL, json=body, headers=headers)


def assert_drs_error(resp, status, error_type, sub_code=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["ErrorType"] == error_type
    assert body.get("ErrorSubCode") == sub_code
    assert body["Message"] and uuid.UUID(body["TraceId"])
    dt.datetime.strptime(body["Time"], "%Y-%m-%dT%H:%M:%S.%fZ")


def sid_of(object_id: str) -> str:
    a, b, c, d = struct.unpack("<4I", uuid.UUID(object_id).bytes_le)
    return f"S-1-12-1-{a}-{b}-{c}-{d}"


# -- discovery and nonce ----------------------------------------------------------------------------

@pytest.mark.parametrize("ref", ["tenant_id", "contoso.com", "contoso.onmicrosoft.com", "CONTOSO.COM"])
def test_discovery_document(http, tenant, ref):
    ref = tenant.id if ref == "tenant_id" else ref
    r = http.get(f"{DRS_HOST}/{ref}/Discover?api-version=1.9")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    d = r.json()
    for key in ("DiscoveryService", "DeviceRegistrationService", "AuthenticationService", "IdentityProviderService",
                "DeviceJoinService", "KeyProvisioningService", "WebAuthNService", "DeviceManagementService",
                "MsaProviderData", "PrecreateService", "TenantInfo", "AzureRbacService", "BPLService",
                "DeviceJoinResourceService", "NonceService"):
        assert key in d
    tid = tenant.id
    assert d["DiscoveryService"]["ServiceVersion"] == "1.9"
    assert d["DeviceJoinService"] == {"JoinEndpoint": f"{DRS_HOST}/EnrollmentServer/device/",
                                      "JoinResourceId": "urn:ms-drs:enterpriseregistration.windows.net",
                                      "ServiceVersion": "2.0"}
    assert d["AuthenticationService"]["OAuth2"]["TokenEndpoint"] == \
        f"https://login.microsoftonline.com/{tid}/oauth2/token"
    assert d["AuthenticationService"]["OAuth2"]["AuthCodeEndpoint"] == \
        f"https://login.microsoftonline.com/{tid}/oauth2/authorize"
    assert d["IdentityProviderService"]["Federated"] is False
    assert d["NonceService"]["Endpoint"] == f"{DRS_HOST}/EnrollmentServer/nonce/{tid}/"
    assert d["WebAuthNService"]["WebAuthNEndpoint"] == f"{DRS_HOST}/webauthn/{tid}/"
    assert d["DeviceManagementService"]["DeviceManagementEndpoint"] == f"{DRS_HOST}/manage/{tid}/"
    assert d["KeyProvisioningService"]["ServiceVersion"] == "1.0"
    assert d["TenantInfo"] == {"DisplayName": "Contoso", "TenantId": tid, "TenantName": "contoso.onmicrosoft.com"}


def test_legacy_contract_url_gives_the_same_data(http, tenant):
    a = http.get(f"{DRS_HOST}/contoso.com/enrollmentserver/contract?api-version=1.0").json()
    b = http.get(f"{DRS_HOST}/{tenant.id}/Discover?api-version=1.9").json()
    assert a == b


def test_discovery_with_bearer_token(http, world, tenant, user):
    r = http.get(f"{DRS_HOST}/{tenant.id}/Discover?api-version=1.9&managed=True",
                 headers={"Authorization": f"Bearer {drs_token(world, tenant, user)}"})
    assert r.status_code == 200


def test_discovery_unknown_tenant(http, tenant):
    r = http.get(f"{DRS_HOST}/fabrikam.com/Discover?api-version=1.9")
    assert_drs_error(r, 404, "DirectoryError", "TenantNotFound")
    assert "fabrikam.com" in r.json()["Message"]


def test_nonce(http, world, tenant):
    r = http.get(f"{DRS_HOST}/EnrollmentServer/nonce/{tenant.id}/?api-version=1.0")
    assert r.status_code == 200
    body = r.json()
    assert body["ReponseStatus"]["message"] == "Successfully created a nonce"
    assert uuid.UUID(body["ReponseStatus"]["traceId"])
    base64.b64decode(body["Value"], validate=True)
    assert body["Value"] in world.nonces
    assert abs(world.nonces[body["Value"]] - world.clock.timestamp()) < 5


# -- join happy path ----------------------------------------------------------------------------

def test_join_issues_device_certificate(http, world, tenant, user, csr_b64, device_key):
    r = join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key))
    assert r.status_code == 200, r.text
    body = r.json()
    der = base64.b64decode(body["Certificate"]["RawBody"])
    cert = x509.load_der_x509_certificate(der)
    assert body["Certificate"]["Thumbprint"] == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert body["User"] == {"Upn": "adele.vance@contoso.com"}

    # subject CN=<deviceId>, a device of the tenant
    (attr,) = list(cert.subject)
    assert attr.oid == NameOID.COMMON_NAME
    device_id = attr.value
    device = tenant.device_by_device_id(device_id)
    assert device is not None
    assert device.trust_type == "AzureAd" and device.join_type == 0 and device.owner_id == user.id
    assert device.display_name == "DESKTOP-7QK2M4P" and device.operating_system == "Windows"
    assert device.operating_system_version == "10.0.26100.2605"
    assert device.cert_thumbprint == body["Certificate"]["Thumbprint"] and device.cert_der == der
    assert device.transport_key == base64.b64decode(rsa1_blob(device_key))
    assert device.registration_time is not None and device.account_enabled
    assert device.id != device.device_id and uuid.UUID(device.id)
    assert any(p.startswith("[USER-GID]:" + device_id) for p in device.physical_ids)

    # issuer: one multi-valued RDN
    (rdn,) = list(cert.issuer.rdns)
    values = {(a.oid, a.value) for a in rdn}
    assert values == {(NameOID.DOMAIN_COMPONENT, "net"), (NameOID.DOMAIN_COMPONENT, "windows"),
                      (NameOID.COMMON_NAME, "MS-Organization-Access"),
                      (NameOID.ORGANIZATIONAL_UNIT_NAME, "82dbaca4-3e81-46ca-9c73-0950c1eaca97")}

    # SHA256/RSA by the DRS CA, over the CSR's key
    world.drs_ca_key.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                                         hashes.SHA256())
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert cert.public_key().public_bytes(serialization.Encoding.DER, spki) == \
        device_key.public_key().public_bytes(serialization.Encoding.DER, spki)

    # validity: ten years plus 30 to 90 minutes
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    assert abs((nb - world.clock.now()).total_seconds()) < 5
    ten = nb.replace(year=nb.year + 10)
    assert dt.timedelta(minutes=30) <= na - ten <= dt.timedelta(minutes=90)

    # extensions
    ext = cert.extensions
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]

    def raw(oid):
        return ext.get_extension_for_oid(ObjectIdentifier(oid)).value.value

    assert raw("1.2.840.113556.1.5.284.2") == uuid.UUID(device_id).bytes_le
    assert raw("1.2.840.113556.1.5.284.3") == uuid.UUID(user.id).bytes_le
    assert raw("1.2.840.113556.1.5.284.5") == uuid.UUID(tenant.id).bytes_le
    assert raw("1.2.840.113556.1.5.284.8") == b"NA"
    assert raw("1.2.840.113556.1.5.284.7") == b"1"
    # the extnValue is an OCTET STRING of exactly the 16 GUID bytes
    assert b"\x04\x10" + uuid.UUID(device_id).bytes_le in der

    # local administrators: the joining user
    assert body["MembershipChanges"] == [{"LocalSID": "S-1-5-32-544", "AddSIDs": [sid_of(user.id)]}]

    # audit trail
    acts = [(a["activityDisplayName"], a["loggedByService"]) for a in tenant.directory_audits]
    assert ("Register device", "Device Registration Service") in acts
    for name in ("Add device", "Add registered owner to device", "Add registered users to device"):
        assert (name, "Core Directory") in acts
    reg = next(a for a in tenant.directory_audits if a["activityDisplayName"] == "Register device")
    assert reg["targetResources"][0]["id"] == device.id
    assert reg["initiatedBy"]["user"]["userPrincipalName"] == user.user_principal_name


def test_entra_sid_matches_known_value():
    # S-1-12-1 SIDs: the object id's .NET bytes as four little-endian uint32
    assert certs.entra_sid("00000001-0002-0003-0400-000000000005") == "S-1-12-1-1-196610-4-83886080"


def test_register_is_workplace_and_has_no_admin_changes(http, world, tenant, user, csr_b64, device_key):
    r = join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key, join_type=4))
    assert r.status_code == 200, r.text
    cert = x509.load_der_x509_certificate(base64.b64decode(r.json()["Certificate"]["RawBody"]))
    device = tenant.device_by_device_id(cert.subject.rfc4514_string().split("=")[1])
    assert device.trust_type == "Workplace" and device.join_type == 4
    assert cert.extensions.get_extension_for_oid(ObjectIdentifier("1.2.840.113556.1.5.284.7")).value.value == b"0"
    assert "MembershipChanges" not in r.json()


def test_region_extension_follows_tenant(http, world, tenant, user, csr_b64, device_key):
    tenant.region = "EU"
    r = join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key))
    cert = x509.load_der_x509_certificate(base64.b64decode(r.json()["Certificate"]["RawBody"]))
    assert cert.extensions.get_extension_for_oid(ObjectIdentifier("1.2.840.113556.1.5.284.8")).value.value == b"EU"


def test_global_admins_become_local_admins(http, world, tenant, user, csr_b64, device_key):
    ga = world.add_user(tenant, "admin@contoso.com", display_name="Global Admin",
                        roles=[ROLE_TEMPLATES["Global Administrator"]])
    token = drs_token(world, tenant, user)
    r = join(http, token, join_body(csr_b64, device_key))
    assert r.json()["MembershipChanges"][0]["AddSIDs"] == [sid_of(user.id), sid_of(ga.id)]
    tenant.device_registration_policy["azureADJoin"]["localAdmins"]["enableGlobalAdmins"] = False
    tenant.device_registration_policy["azureADJoin"]["localAdmins"]["registeringUsers"] = {
        "@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"}
    r = join(http, token, join_body(csr_b64, device_key))
    assert r.json()["MembershipChanges"][0]["AddSIDs"] == []


def test_jwk_transport_key_is_accepted(http, world, tenant, user, csr_b64, device_key):
    n = device_key.public_key().public_numbers()
    jwk = {"kty": "RSA", "e": base64.b64encode(n.e.to_bytes(3, "big")).decode(),
           "n": base64.b64encode(n.n.to_bytes(256, "big")).decode(), "alg": "RS256", "kid": str(uuid.uuid4())}
    tk = base64.b64encode(json.dumps(jwk).encode()).decode()
    body = join_body(csr_b64, device_key, TransportKey=tk, DeviceType="MacOS", OSVersion="12.2.0")
    body.pop("attributes")
    r = join(http, drs_token(world, tenant, user), body)
    assert r.status_code == 200, r.text
    (device,) = tenant.devices.values()
    assert device.operating_system == "MacOS"


def test_api_version_1_and_attributes_spelling(http, world, tenant, user, csr_b64, device_key):
    body = join_body(csr_b64, device_key)
    body["Attributes"] = body.pop("attributes")
    r = http.post(f"{DRS_HOST}/EnrollmentServer/device/?api-version=1.0", json=body,
                  headers={"Authorization": f"Bearer {drs_token(world, tenant, user)}"})
    assert r.status_code == 200 and "MembershipChanges" in r.json()


def test_selected_users_may_join(http, world, tenant, user, csr_b64, device_key):
    group = world.add_group(tenant, "Joiners", [user.id])
    tenant.device_registration_policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.enumeratedDeviceRegistrationMembership", "users": [], "groups": [group.id]}
    assert join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key)).status_code == 200
    other = world.add_user(tenant, "bob@contoso.com", display_name="Bob Other")
    r = join(http, drs_token(world, tenant, other), join_body(csr_b64, device_key))
    assert_drs_error(r, 400, "AuthorizationError", "UserNotAuthorizedToJoin")


def test_mfa_token_satisfies_mfa_requirement(http, world, tenant, user, csr_b64, device_key):
    tenant.device_registration_policy["multiFactorAuthConfiguration"] = "required"
    r = join(http, drs_token(world, tenant, user, amr=("pwd", "mfa")), join_body(csr_b64, device_key))
    assert r.status_code == 200


# -- errors ------------------------------------------------------------------------------------

def test_missing_token(http, csr_b64, device_key, tenant):
    assert_drs_error(join(http, None, join_body(csr_b64, device_key)), 401, "AuthenticationError", "InvalidToken")


def test_garbage_token(http, csr_b64, device_key, tenant):
    assert_drs_error(join(http, "not-a-jwt", join_body(csr_b64, device_key)), 401, "AuthenticationError",
                     "InvalidToken")


def test_token_for_another_audience(http, world, tenant, user, csr_b64, device_key):
    token = drs_token(world, tenant, user, resource="00000003-0000-0000-c000-000000000000")
    r = join(http, token, join_body(csr_b64, device_key))
    assert_drs_error(r, 401, "AuthenticationError", "InvalidToken")
    assert "audience" in r.json()["Message"].lower()


def test_expired_token(http, world, tenant, user, csr_b64, device_key):
    token = drs_token(world, tenant, user, lifetime=60)
    world.clock.offset += 3600
    assert_drs_error(join(http, token, join_body(csr_b64, device_key)), 401, "AuthenticationError", "InvalidToken")


def test_token_signed_by_another_key(http, world, tenant, user, csr_b64, device_key):
    import jwt as pyjwt

    claims = pyjwt.decode(drs_token(world, tenant, user), options={"verify_signature": False})
    forged = pyjwt.encode(claims, world.drs_ca_key, algorithm="RS256")
    assert_drs_error(join(http, forged, join_body(csr_b64, device_key)), 401, "AuthenticationError", "InvalidToken")


def test_user_deleted_after_token(http, world, tenant, user, csr_b64, device_key):
    token = drs_token(world, tenant, user)
    del tenant.users[user.id]
    assert_drs_error(join(http, token, join_body(csr_b64, device_key)), 400, "AuthorizationError", "UserNotFound")


def test_user_disabled(http, world, tenant, user, csr_b64, device_key):
    token = drs_token(world, tenant, user)
    user.account_enabled = False
    assert_drs_error(join(http, token, join_body(csr_b64, device_key)), 400, "AuthorizationError", "UserDisabled")


def test_users_may_not_join(http, world, tenant, user, csr_b64, device_key):
    tenant.device_registration_policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"}
    r = join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key))
    assert_drs_error(r, 400, "AuthorizationError", "UserNotAuthorizedToJoin")
    assert not tenant.devices
    # registering is governed by its own setting
    assert join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key, join_type=4)).status_code == 200


def test_users_may_not_register(http, world, tenant, user, csr_b64, device_key):
    tenant.device_registration_policy["azureADRegistration"]["allowedToRegister"] = {
        "@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"}
    r = join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key, join_type=4))
    assert_drs_error(r, 400, "AuthorizationError", "UserNotAuthorizedToJoin")


def test_mfa_required_but_token_without_mfa(http, world, tenant, user, csr_b64, device_key):
    tenant.device_registration_policy["multiFactorAuthConfiguration"] = "required"
    r = join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key))
    assert_drs_error(r, 400, "AuthorizationError", "MfaRequired")


def test_check_order_may_join_before_mfa_before_quota(http, world, tenant, user, csr_b64, device_key):
    tenant.device_registration_policy["multiFactorAuthConfiguration"] = "required"
    tenant.device_registration_policy["userDeviceQuota"] = 0
    token = drs_token(world, tenant, user)
    assert_drs_error(join(http, token, join_body(csr_b64, device_key)), 400, "AuthorizationError", "MfaRequired")
    tenant.device_registration_policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"}
    assert_drs_error(join(http, token, join_body(csr_b64, device_key)), 400, "AuthorizationError",
                     "UserNotAuthorizedToJoin")


def test_device_quota_reached(http, world, tenant, user, csr_b64, device_key):
    tenant.device_registration_policy["userDeviceQuota"] = 2
    token = drs_token(world, tenant, user)
    for _ in range(2):
        assert join(http, token, join_body(csr_b64, device_key)).status_code == 200
    r = join(http, token, join_body(csr_b64, device_key, join_type=4))
    assert_drs_error(r, 400, "AuthorizationError", "DeviceQuotaExceeded")
    assert len(tenant.devices) == 2


def test_malformed_json_body(http, world, tenant, user):
    r = http.post(JOIN_URL, data="{not json", headers={"Authorization": f"Bearer {drs_token(world, tenant, user)}",
                                                       "Content-Type": "application/json"})
    assert_drs_error(r, 400, "MessageFormatError")


def test_body_not_an_object(http, world, tenant, user):
    r = join(http, drs_token(world, tenant, user), ["x"])
    assert_drs_error(r, 400, "MessageFormatError")


@pytest.mark.parametrize("field", ["CertificateRequest", "TransportKey", "DeviceDisplayName", "JoinType"])
def test_missing_field(http, world, tenant, user, csr_b64, device_key, field):
    body = join_body(csr_b64, device_key)
    del body[field]
    r = join(http, drs_token(world, tenant, user), body)
    assert_drs_error(r, 400, "InvalidRequest")
    assert field in r.json()["Message"]


@pytest.mark.parametrize("jt", [6, 3, "x", True])
def test_unsupported_join_type(http, world, tenant, user, csr_b64, device_key, jt):
    assert_drs_error(join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key, JoinType=jt)),
                     400, "InvalidRequest")


def test_csr_with_bad_signature(http, world, tenant, user, csr_b64, device_key):
    der = bytearray(base64.b64decode(csr_b64))
    der[-5] ^= 0xFF  # inside the signature
    bad = base64.b64encode(bytes(der)).decode()
    r = join(http, drs_token(world, tenant, user), join_body(bad, device_key))
    assert_drs_error(r, 400, "MessageFormatError")
    assert "signature" in r.json()["Message"]


def test_csr_not_der(http, world, tenant, user, device_key):
    r = join(http, drs_token(world, tenant, user), join_body(base64.b64encode(b"hello").decode(), device_key))
    assert_drs_error(r, 400, "MessageFormatError")


def test_transport_key_garbage(http, world, tenant, user, csr_b64, device_key):
    body = join_body(csr_b64, device_key, TransportKey=base64.b64encode(b"RSA1\x00\x08").decode())
    assert_drs_error(join(http, drs_token(world, tenant, user), body), 400, "MessageFormatError")
    body = join_body(csr_b64, device_key, TransportKey="%%%")
    assert_drs_error(join(http, drs_token(world, tenant, user), body), 400, "MessageFormatError")


def test_service_busy_fault_speaks_drs(http, world, tenant, user, csr_b64, device_key):
    world.faults.add({"host": "enterpriseregistration.windows.net", "path": "/EnrollmentServer/device*",
                      "status": 503, "error": "drs:ServiceUnavailable", "times": 1})
    r = join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key))
    assert_drs_error(r, 503, "ServiceUnavailable")
    assert join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key)).status_code == 200


# -- delete -------------------------------------------------------------------------------------

def _joined(http, world, tenant, user, csr_b64, device_key, tmp_path):
    r = join(http, drs_token(world, tenant, user), join_body(csr_b64, device_key))
    cert = x509.load_der_x509_certificate(base64.b64decode(r.json()["Certificate"]["RawBody"]))
    device_id = cert.subject.rfc4514_string().split("=")[1]
    path = tmp_path / "device.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return device_id, cert, str(path)


def test_delete_with_device_certificate(http, world, tenant, user, csr_b64, device_key, tmp_path):
    from emulator.world.models import ManagedDevice

    device_id, cert, path = _joined(http, world, tenant, user, csr_b64, device_key, tmp_path)
    md = ManagedDevice(id=world.ids.guid(), device_name="DESKTOP-7QK2M4P", user_id=user.id,
                       user_principal_name=user.user_principal_name, user_display_name=user.display_name,
                       azure_ad_device_id=device_id, enrolled=world.clock.now(), last_sync=world.clock.now(),
                       os_version="10.0.26100.2605")
    tenant.managed_devices[md.id] = md
    r = http.delete(f"{DRS_HOST}/EnrollmentServer/device/{device_id}?api-version=1.0", cert=(path, path))
    assert r.status_code == 200, r.text
    assert tenant.device_by_device_id(device_id) is None
    assert md.id in tenant.managed_devices  # Intune keeps its (now stale) record
    acts = [(a["activityDisplayName"], a["loggedByService"]) for a in tenant.directory_audits]
    assert ("Unregister device", "Device Registration Service") in acts and ("Delete device", "Core Directory") in acts
    # again: the device object is gone
    r = http.delete(f"{DRS_HOST}/EnrollmentServer/device/{device_id}?api-version=1.0", cert=(path, path))
    assert_drs_error(r, 404, "DirectoryError", "DeviceNotFound")
    assert device_id in r.json()["Message"]


def test_delete_accepts_der_certificate(world, tenant, user, http, csr_b64, device_key, tmp_path):
    from emulator.http import Request
    from emulator.services.router import default_router

    device_id, cert, _ = _joined(http, world, tenant, user, csr_b64, device_key, tmp_path)
    req = Request("DELETE", f"{DRS_HOST}/EnrollmentServer/device/{device_id}?api-version=1.0",
                  client_cert=cert.public_bytes(serialization.Encoding.DER))
    assert default_router().dispatch(world, req).status == 200


def test_delete_without_certificate(http, world, tenant, user, csr_b64, device_key, tmp_path):
    device_id, _, _ = _joined(http, world, tenant, user, csr_b64, device_key, tmp_path)
    r = http.delete(f"{DRS_HOST}/EnrollmentServer/device/{device_id}?api-version=1.0")
    assert_drs_error(r, 401, "AuthenticationError", "InvalidCertificate")
    assert tenant.device_by_device_id(device_id) is not None


def test_delete_other_device_refused(http, world, tenant, user, csr_b64, device_key, tmp_path):
    first, _, path = _joined(http, world, tenant, user, csr_b64, device_key, tmp_path)
    second, _, _ = _joined(http, world, tenant, user, csr_b64, device_key, tmp_path / ".." / tmp_path.name)
    r = http.delete(f"{DRS_HOST}/EnrollmentServer/device/{first}?api-version=1.0", cert=(path, path))
    assert_drs_error(r, 401, "AuthenticationError", "InvalidCertificate")
    assert tenant.device_by_device_id(first) is not None


def test_delete_with_self_signed_lookalike_refused(http, world, tenant, user, csr_b64, device_key, tmp_path):
    device_id, cert, _ = _joined(http, world, tenant, user, csr_b64, device_key, tmp_path)
    fake = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
            .public_key(device_key.public_key()).serial_number(7)
            .not_valid_before(cert.not_valid_before_utc).not_valid_after(cert.not_valid_after_utc)
            .sign(device_key, hashes.SHA256()))
    path = tmp_path / "fake.pem"
    path.write_bytes(fake.public_bytes(serialization.Encoding.PEM))
    r = http.delete(f"{DRS_HOST}/EnrollmentServer/device/{device_id}?api-version=1.0", cert=(str(path), str(path)))
    assert_drs_error(r, 401, "AuthenticationError", "InvalidCertificate")


def test_delete_garbage_certificate(http, world, tenant, user, csr_b64, device_key, tmp_path):
    device_id, _, _ = _joined(http, world, tenant, user, csr_b64, device_key, tmp_path)
    path = tmp_path / "junk.pem"
    path.write_bytes(b"not a certificate")
    r = http.delete(f"{DRS_HOST}/EnrollmentServer/device/{device_id}", cert=(str(path), str(path)))
    assert_drs_error(r, 401, "AuthenticationError", "InvalidCertificate")


# -- concurrency --------------------------------------------------------------------------------

def test_hundred_concurrent_joins_respect_quota(world, tenant, user, csr_b64, device_key):
    tenant.device_registration_policy["userDeviceQuota"] = 20
    token = drs_token(world, tenant, user)
    body = join_body(csr_b64, device_key)
    results: list[int] = []
    errors: list[str] = []
    start = threading.Barrier(100)

    def worker():
        http = DirectSession(world)
        start.wait()
        r = join(http, token, body)
        results.append(r.status_code)
        if r.status_code != 200:
            errors.append(r.json().get("ErrorSubCode"))

    threads = [threading.Thread(target=worker) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tenant.devices) == 20
    assert results.count(200) == 20 and results.count(400) == 80
    assert set(errors) == {"DeviceQuotaExceeded"}
    assert len({d.device_id for d in tenant.devices.values()}) == 20


# -- nonce in the certificate request ------------------------------------------------------------

def _csr_with_nonce(key, value: bytes) -> str:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CSR_CN)]))
           .add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.2.840.113556.1.5.284.2.1"), value),
                          critical=False)
           .sign(key, hashes.SHA256()))
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


def test_csr_carrying_an_issued_nonce(http, world, tenant, user, device_key):
    value = http.get(f"{DRS_HOST}/EnrollmentServer/nonce/{tenant.id}/?api-version=1.0").json()["Value"]
    token = drs_token(world, tenant, user)
    assert join(http, token, join_body(_csr_with_nonce(device_key, value.encode()), device_key)).status_code == 200
    raw = base64.b64decode(value)
    assert join(http, token, join_body(_csr_with_nonce(device_key, raw), device_key)).status_code == 200


def test_csr_carrying_an_unknown_or_stale_nonce(http, world, tenant, user, device_key):
    token = drs_token(world, tenant, user)
    r = join(http, token, join_body(_csr_with_nonce(device_key, b"not-a-nonce"), device_key))
    assert_drs_error(r, 400, "InvalidRequest")
    value = http.get(f"{DRS_HOST}/EnrollmentServer/nonce/{tenant.id}/?api-version=1.0").json()["Value"]
    world.clock.offset += 301
    token = drs_token(world, tenant, user)
    r = join(http, token, join_body(_csr_with_nonce(device_key, value.encode()), device_key))
    assert_drs_error(r, 400, "InvalidRequest")


def test_nonce_for_unknown_tenant(http):
    assert_drs_error(http.get(f"{DRS_HOST}/EnrollmentServer/nonce/{uuid.uuid4()}/?api-version=1.0"), 404,
                     "DirectoryError", "TenantNotFound")

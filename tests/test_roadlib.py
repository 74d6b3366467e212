"""Unmodified ROADtools roadlib against the emulator: DRS token, device join, PRT, PRT use, renewal,
and device delete with the device certificate (real-clients.md §3)."""
import json
import warnings

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from roadtools.roadlib.auth import Authentication, AuthenticationException
from roadtools.roadlib.deviceauth import DeviceAuthentication

from emulator.services.registration.certificates import drs_ca_name

warnings.filterwarnings("ignore", category=DeprecationWarning)

AADPS = "1b730954-1685-4b74-9bfd-dac224a7b894"
DRS = "urn:ms-drs:enterpriseregistration.windows.net"
PASSWORD = "P@ssw0rd!"


@pytest.fixture
def world(entra_world, entra_mock):
    """Every roadlib test talks to the emulator over HTTP (in-process, or through the server)."""
    return entra_world


@pytest.fixture
def tenant(world):
    return world.create_tenant("Contoso", "contoso.com")


@pytest.fixture
def user(world, tenant):
    return world.add_user(tenant, "adele.vance@contoso.com", display_name="Adele Vance", password=PASSWORD)


def _drs_token(upn: str) -> str:
    auth = Authentication(username=upn, password=PASSWORD, client_id=AADPS)
    auth.resource_uri = DRS
    tokendata = auth.authenticate_username_password()
    return tokendata["accessToken"]


def _join(tmp_path, upn: str, jointype: int = 0):
    token = _drs_token(upn)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == DRS
    certout, keyout = str(tmp_path / "device.pem"), str(tmp_path / "device.key")
    da = DeviceAuthentication()
    assert da.register_device(token, jointype=jointype, certout=certout, privout=keyout,
                              device_name="DESKTOP-ROAD001") is True
    assert da.loadcert(certout, keyout)
    return da, certout, keyout


def test_roadlib_join_prt_and_prt_auth(world, tenant, user, tmp_path):
    da, certout, keyout = _join(tmp_path, user.user_principal_name)

    # the certificate names a joined device of the tenant and carries the key of the CSR
    cert = da.certificate
    cn = cert.subject.rfc4514_string()
    device_id = cn.split("=", 1)[1]
    device = tenant.device_by_device_id(device_id)
    assert device is not None and device.trust_type == "AzureAd" and device.owner_id == user.id
    assert device.display_name == "DESKTOP-ROAD001" and device.operating_system_version == "10.0.19041.928"
    pub = lambda k: k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert pub(cert.public_key()) == pub(da.privkey.public_key())
    assert device.cert_der == cert.public_bytes(serialization.Encoding.DER)

    # ...and Microsoft Graph lists it as a Microsoft Entra joined device
    app = world.add_application(tenant, "inventory tool", secret="s3cret", app_roles=["Device.Read.All"])
    token = requests.post(f"https://login.microsoftonline.com/{tenant.id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app.app_id, "client_secret": "s3cret",
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    rows = requests.get(f"https://graph.microsoft.com/v1.0/devices?$filter=deviceId eq '{device_id}'",
                        headers={"Authorization": f"Bearer {token}"}).json()["value"]
    assert [(r["displayName"], r["trustType"], r["operatingSystem"]) for r in rows] == [
        ("DESKTOP-ROAD001", "AzureAd", "Windows")]

    # PRT with password, signed by the device key; session key unwrapped with the transport key
    prtdata = da.get_prt_with_password(user.user_principal_name, PASSWORD)
    assert "." in prtdata["refresh_token"] and prtdata["expires_in"] == "1209599"
    session_key = bytes.fromhex(prtdata["session_key"])
    assert world.prts[prtdata["refresh_token"]]["session_key"] == session_key
    assert world.prts[prtdata["refresh_token"]]["device_id"] == device_id
    id_claims = jwt.decode(prtdata["id_token"], options={"verify_signature": False})
    assert id_claims["upn"] == user.user_principal_name
    assert tenant.sign_ins[-1]["appDisplayName"] == "Windows Sign In"
    assert tenant.sign_ins[-1]["deviceDetail"]["deviceId"] == device_id

    # PRT use: an access token for Microsoft Graph with the device id, through the broker plugin
    da.setprt(prtdata["refresh_token"], prtdata["session_key"])
    tokens = da.aad_brokerplugin_prt_auth(AADPS, "https://graph.microsoft.com")
    claims = jwt.decode(tokens["access_token"], world.issuer_key.public_key(), algorithms=["RS256"],
                        audience="https://graph.microsoft.com")
    assert claims["deviceid"] == device_id and claims["upn"] == user.user_principal_name
    assert claims["appid"] == AADPS and claims["amr"] == ["pwd"]
    assert tokens["refresh_token"] and int(tokens["expires_in"]) > 0

    # renewal keeps the session key and gives a new PRT that works
    renewed = da.renew_prt()
    assert renewed["refresh_token"] != prtdata["refresh_token"] and "." in renewed["refresh_token"]
    da.setprt(renewed["refresh_token"], renewed["session_key"])
    again = da.aad_brokerplugin_prt_auth(AADPS, "https://graph.microsoft.com")
    assert jwt.decode(again["access_token"], options={"verify_signature": False})["deviceid"] == device_id


def test_roadlib_wrong_password_for_prt(world, tenant, user, tmp_path):
    da, _, _ = _join(tmp_path, user.user_principal_name)
    with pytest.raises(AuthenticationException) as exc:
        da.get_prt_with_password(user.user_principal_name, "wrong")
    body = json.loads(str(exc.value))
    assert body["error_codes"] == [50126]


def test_roadlib_register_then_delete_with_device_certificate(world, tenant, user, tmp_path):
    da, certout, keyout = _join(tmp_path, user.user_principal_name, jointype=4)
    device_id = da.certificate.subject.rfc4514_string().split("=", 1)[1]
    assert tenant.device_by_device_id(device_id).trust_type == "Workplace"
    assert da.delete_device(certout, keyout) is True
    assert tenant.device_by_device_id(device_id) is None
    activities = [a["activityDisplayName"] for a in tenant.directory_audits]
    assert "Unregister device" in activities and "Delete device" in activities
    # deleted device: no PRT any more
    with pytest.raises(AuthenticationException) as exc:
        da.get_prt_with_password(user.user_principal_name, PASSWORD)
    assert json.loads(str(exc.value))["error_codes"] == [50155]


def test_roadlib_join_refused_when_users_may_not_join(world, tenant, user, tmp_path, capsys):
    tenant.device_registration_policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"}
    token = _drs_token(user.user_principal_name)
    da = DeviceAuthentication()
    assert da.register_device(token, certout=str(tmp_path / "c.pem"), privout=str(tmp_path / "k.key")) is False
    assert "UserNotAuthorizedToJoin" in capsys.readouterr().out
    assert not tenant.devices


def test_roadlib_cert_is_parseable_and_subject_is_single_cn(world, tenant, user, tmp_path):
    da, certout, _ = _join(tmp_path, user.user_principal_name)
    cert = x509.load_pem_x509_certificate(open(certout, "rb").read())
    (cn,) = list(cert.subject)   # a single attribute: CN=<device id>
    assert cn.oid == NameOID.COMMON_NAME
    der = cert.public_bytes(serialization.Encoding.DER)
    assert x509.load_der_x509_certificate(der) == cert
    assert cert.issuer == drs_ca_name()
    device = tenant.device_by_device_id(cn.value)
    assert device is not None and device.owner_id == user.id and device.cert_der == der

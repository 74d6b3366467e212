"""The Intune MDM enrollment service (MS-MDE2 over SOAP) and the device's enrollment client."""
import base64

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import NameOID

from emulator.device.mdm_client import MdmEnrollmentError, build_csr, enroll, rst_envelope
from emulator.http import Request
from emulator.services.identity.tokens import find_resource, issuer
from emulator.services.intune import soap
from emulator.services.router import default_router
from emulator.transport.direct import DirectSession
from emulator.transport.inprocess import mock_entra
from emulator.world.models import INTUNE_APP_ID, DirectoryDevice, ManagedDevice

BROKER = "29d9ed98-a469-4536-ade2-f981bc1d605e"
DISCOVERY = "https://enrollment.manage.microsoft.com/enrollmentserver/discovery.svc"
ENROLL_URL = "https://enrollment.manage.microsoft.com/EnrollmentServer/DeviceEnrollmentWebService.svc"


@pytest.fixture
def device(entra_world, entra_tenant, entra_user):
    d = DirectoryDevice(id=entra_world.ids.guid(), device_id=entra_world.ids.guid(), display_name="DESKTOP-ABC1234",
                        owner_id=entra_user.id, registration_time=entra_world.clock.now())
    entra_tenant.devices[d.id] = d
    return d


@pytest.fixture
def key(entra_world):
    return entra_world.keys.take()


def token_for(world, tenant, user, device_id, **kw):
    return issuer(world).access_token(tenant, find_resource("https://enrollment.manage.microsoft.com/"), BROKER,
                                      user=user, device_id=device_id, **kw)


def post(world, url, body):
    data = body.encode() if isinstance(body, str) else body
    return default_router().dispatch(world, Request("POST", url, {"Content-Type": soap.CONTENT_TYPE}, data))


def do_enroll(world, tenant, user, device, key, session=None, **kw):
    return enroll(session or DirectSession(world), discovery_url=DISCOVERY, upn=user.user_principal_name,
                  access_token=kw.pop("token", None) or token_for(world, tenant, user, device.device_id),
                  device_id=device.device_id, device_name=device.display_name,
                  os_version="10.0.26100.2605", key=key)


def fault_of(resp):
    assert resp.status == 500
    assert resp.headers["Content-Type"].startswith("application/soap+xml")
    f = soap.parse_fault(resp.body)
    assert f is not None and f.code == "s:Receiver"
    return f


# -- discovery / portal ------------------------------------------------------------------------------

def test_discovery_get_is_reachable(entra_world):
    r = default_router().dispatch(entra_world, Request("GET", DISCOVERY))
    assert r.status == 200 and r.body == b""


def test_discover_answers_federated_with_service_urls(entra_world):
    body = soap.request_envelope(
        action=soap.ACTION_DISCOVER, to=DISCOVERY, message_id="urn:uuid:1",
        body=(f'<Discover xmlns="{soap.NS_ENROLL_DISCOVERY}"><request><EmailAddress>a@contoso.com</EmailAddress>'
              "<RequestVersion>4.0</RequestVersion><DeviceType>CIMClient_Windows</DeviceType>"
              "<ApplicationVersion>10.0.26100.1</ApplicationVersion><OSEdition>4</OSEdition>"
              "<AuthPolicies><AuthPolicy>OnPremise</AuthPolicy><AuthPolicy>Federated</AuthPolicy></AuthPolicies>"
              "</request></Discover>"))
    r = post(entra_world, DISCOVERY, body)
    assert r.status == 200
    env = soap.parse_envelope(r.body)
    assert env.action == soap.ACTION_DISCOVER_RESPONSE
    assert soap.text_of(soap.find_local(env.root, "RelatesTo")) == "urn:uuid:1"
    result = {soap.local(c.tag): soap.text_of(c) for c in soap.find_local(env.body, "DiscoverResult")}
    assert result["AuthPolicy"] == "Federated"
    assert result["EnrollmentServiceUrl"] == ENROLL_URL
    assert result["EnrollmentVersion"] and result["EnrollmentPolicyServiceUrl"] and result["AuthenticationServiceUrl"]


def test_discover_without_email_is_message_format_fault(entra_world):
    body = soap.request_envelope(action=soap.ACTION_DISCOVER, to=DISCOVERY, message_id="urn:uuid:2",
                                 body=f'<Discover xmlns="{soap.NS_ENROLL_DISCOVERY}"><request/></Discover>')
    f = fault_of(post(entra_world, DISCOVERY, body))
    assert f.subcode == "MessageFormat" and soap.fault_hresult(f.subcode, f.error_type) == 0x80180001


def test_terms_of_use_page(entra_world):
    r = default_router().dispatch(entra_world, Request(
        "GET", "https://portal.manage.microsoft.com/TermsofUse.aspx?redirect_uri=ms-appx-web://x"))
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    assert b"Terms of use" in r.body and b"IsAccepted" in r.body


# -- enrollment: success -------------------------------------------------------------------------------

def test_enroll_happy_path(entra_world, entra_tenant, entra_user, device, key):
    e = do_enroll(entra_world, entra_tenant, entra_user, device, key)
    assert e.provider_id == "MS DM Server"
    assert e.server_url == "https://r.manage.microsoft.com/devicegatewayproxy/cimhandler.ashx"
    assert e.cert_issuer == "Microsoft Intune MDM Device CA"
    assert e.auth_policy == "Federated" and e.enrollment_service_url == ENROLL_URL

    (managed,) = entra_tenant.managed_devices.values()
    assert isinstance(managed, ManagedDevice)
    assert e.managed_device_id == managed.id == e.cert_subject
    assert managed.azure_ad_device_id == device.device_id
    assert managed.user_id == entra_user.id and managed.user_principal_name == entra_user.user_principal_name
    assert managed.enrollment_type == "windowsAzureADJoin" and managed.join_type == "azureADJoined"
    assert managed.compliance_state == "compliant" and managed.management_agent == "mdm"
    assert managed.owner_type == "company" and managed.os_version == "10.0.26100.2605"
    assert managed.device_name == device.display_name
    assert managed.enrolled == managed.last_sync
    assert managed.cert_thumbprint == e.cert_thumbprint

    assert device.is_managed and device.is_compliant
    assert device.mdm_app_id == INTUNE_APP_ID == "0000000a-0000-0000-c000-000000000000"
    assert (device.management_type, device.enrollment_type, device.device_ownership) == \
        ("mdm", "windowsAzureADJoin", "company")

    audit = entra_tenant.directory_audits[-1]
    assert audit["activityDisplayName"] == "Update device"
    assert audit["targetResources"][0]["id"] == device.id
    assert audit["initiatedBy"]["app"]["appId"] == INTUNE_APP_ID

    # the client certificate is over the device's key, issued by the world's Intune CA
    cert = x509.load_der_x509_certificate(e.cert_der)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    cert.verify_directly_issued_by(x509.load_der_x509_certificate(e.ca_der))
    assert cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Microsoft Intune MDM Device CA"


def test_enroll_through_requests_and_mock_entra(entra_world, entra_tenant, entra_user, device, key):
    with mock_entra(entra_world), requests.Session() as s:
        e = do_enroll(entra_world, entra_tenant, entra_user, device, key, session=s)
    assert e.provider_id == "MS DM Server" and len(entra_tenant.managed_devices) == 1


def test_fault_through_requests_and_mock_entra(entra_world, entra_tenant, entra_user, device, key):
    entra_user.licenses = []
    with mock_entra(entra_world), requests.Session() as s, pytest.raises(MdmEnrollmentError) as ei:
        do_enroll(entra_world, entra_tenant, entra_user, device, key, session=s)
    assert ei.value.hresult == 0x80180018 and ei.value.http_status == 500


@pytest.mark.parametrize("name,hresult", [("DeviceCapReached", 0x80180013), ("inmaintenance", 0x80180017),
                                          ("InvalidSecurity", 0x80180007), ("", 0x80180005)])
def test_fault_for_rule_names(name, hresult):
    from emulator.services.intune.exceptions import fault_for

    f = soap.parse_fault(fault_for(name, 503).xml("trace"))
    assert soap.fault_hresult(f.subcode, f.error_type) == hresult and f.trace_id == "trace"


def test_rstr_carries_provisioning_doc(entra_world, entra_tenant, entra_user, device, key):
    token = token_for(entra_world, entra_tenant, entra_user, device.device_id)
    body = rst_envelope(to=ENROLL_URL, message_id="urn:uuid:rst-1", access_token=token,
                        csr_der=build_csr(device.device_id, key), device_id=device.device_id,
                        device_name="PC-1", os_version="10.0.26100.1")
    r = post(entra_world, ENROLL_URL, body)
    assert r.status == 200, r.body
    env = soap.parse_envelope(r.body)
    assert env.action == soap.ACTION_RSTRC
    assert soap.text_of(soap.find_local(env.root, "RelatesTo")) == "urn:uuid:rst-1"
    assert soap.text_of(soap.find_local(env.body, "TokenType")) == soap.TOKEN_TYPE_ENROLLMENT
    bst = soap.find_local(env.body, "BinarySecurityToken")
    assert bst.attrib["ValueType"] == soap.VALUE_TYPE_PROVISION_DOC
    doc = base64.b64decode(bst.text).decode()
    assert doc.startswith('<wap-provisioningdoc version="1.1">')
    assert '<characteristic type="MS DM Server">' in doc and 'name="EntDMID"' in doc
    assert '<characteristic type="PrivateKeyContainer"/>' in doc
    # the DeviceName context item names the managed device
    assert next(iter(entra_tenant.managed_devices.values())).device_name == "PC-1"


# -- enrollment: refusals --------------------------------------------------------------------------------

def test_out_of_mdm_scope_is_not_authorized(entra_world, entra_tenant, entra_user, device, key):
    entra_tenant.mdm_policies[INTUNE_APP_ID]["appliesTo"] = "none"
    with pytest.raises(MdmEnrollmentError) as ei:
        do_enroll(entra_world, entra_tenant, entra_user, device, key)
    err = ei.value
    assert (err.hresult, err.subcode, err.soap_subcode) == (0x80180003, "Authorization", "Authorization")
    assert err.message == "This User is not authorized to enroll"
    assert err.ui_text.startswith("This user is not authorized to enroll.") and "80180003" in err.ui_text
    assert not entra_tenant.managed_devices and not device.is_managed


def test_selected_scope_member_may_enroll(entra_world, entra_tenant, entra_user, device, key):
    g = entra_world.add_group(entra_tenant, "MDM users", [entra_user.id])
    entra_tenant.mdm_policies[INTUNE_APP_ID].update(appliesTo="selected", includedGroups=[g.id])
    assert do_enroll(entra_world, entra_tenant, entra_user, device, key).managed_device_id


def test_no_intune_licence(entra_world, entra_tenant, entra_user, device, key):
    entra_user.licenses = ["AAD_PREMIUM"]
    with pytest.raises(MdmEnrollmentError) as ei:
        do_enroll(entra_world, entra_tenant, entra_user, device, key)
    assert (ei.value.hresult, ei.value.subcode) == (0x80180018, "UserLicense")
    assert ei.value.symbol == "MENROLL_E_USERLICENSE"
    assert "license" in ei.value.ui_text and not entra_tenant.managed_devices


def test_device_cap_reached(entra_world, entra_tenant, entra_user, device, key):
    limit = next(c for c in entra_tenant.enrollment_configurations if c["id"].endswith("_DefaultLimit"))
    limit["limit"] = 1
    now = entra_world.clock.now()
    old = ManagedDevice(id=entra_world.ids.guid(), device_name="OLD-PC", user_id=entra_user.id,
                        user_principal_name=entra_user.user_principal_name, user_display_name=entra_user.display_name,
                        azure_ad_device_id=entra_world.ids.guid(), enrolled=now, last_sync=now,
                        os_version="10.0.22631.1")
    entra_tenant.managed_devices[old.id] = old
    with pytest.raises(MdmEnrollmentError) as ei:
        do_enroll(entra_world, entra_tenant, entra_user, device, key)
    assert (ei.value.hresult, ei.value.subcode, ei.value.soap_subcode) == \
        (0x80180013, "DeviceCapReached", "Authorization")
    assert "too many devices" in ei.value.ui_text and "80180013" in ei.value.ui_text
    assert list(entra_tenant.managed_devices) == [old.id]


def test_windows_platform_blocked(entra_world, entra_tenant, entra_user, device, key):
    plat = next(c for c in entra_tenant.enrollment_configurations if c["id"].endswith("_DefaultPlatformRestrictions"))
    plat["windowsRestriction"]["platformBlocked"] = True
    with pytest.raises(MdmEnrollmentError) as ei:
        do_enroll(entra_world, entra_tenant, entra_user, device, key)
    assert (ei.value.hresult, ei.value.subcode) == (0x80180014, "DeviceNotSupported")
    assert ei.value.ui_text.startswith("This feature is not supported.")


def test_already_enrolled(entra_world, entra_tenant, entra_user, device, key):
    do_enroll(entra_world, entra_tenant, entra_user, device, key)
    with pytest.raises(MdmEnrollmentError) as ei:
        do_enroll(entra_world, entra_tenant, entra_user, device, key)
    assert ei.value.hresult == 0x8018000A
    assert len(entra_tenant.managed_devices) == 1


# -- enrollment: bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"", b"not xml at all", b"<s:Envelope", b"<root/>",
                                  b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
                                  f'<s:Envelope xmlns:s="{soap.NS_SOAP12}"><s:Body/></s:Envelope>'.encode()])
def test_malformed_xml_is_message_format_fault(entra_world, body):
    f = fault_of(post(entra_world, ENROLL_URL, body))
    assert f.subcode == "MessageFormat" and f.subcode_prefix == "s"
    assert f.error_type == "MessageFormat" and f.trace_id


def test_missing_csr_is_message_format_fault(entra_world, entra_tenant, entra_user, device, key):
    token = token_for(entra_world, entra_tenant, entra_user, device.device_id)
    body = rst_envelope(to=ENROLL_URL, message_id="urn:uuid:x", access_token=token, csr_der=b"",
                        device_id=device.device_id, device_name="PC", os_version="10.0.1")
    f = fault_of(post(entra_world, ENROLL_URL, body))
    assert f.subcode == "MessageFormat"


def test_garbage_csr_is_certificate_request_fault(entra_world, entra_tenant, entra_user, device):
    token = token_for(entra_world, entra_tenant, entra_user, device.device_id)
    body = rst_envelope(to=ENROLL_URL, message_id="urn:uuid:x", access_token=token, csr_der=b"\x30\x03abc",
                        device_id=device.device_id, device_name="PC", os_version="10.0.1")
    f = fault_of(post(entra_world, ENROLL_URL, body))
    assert f.subcode == "CertificateRequest" and soap.fault_hresult(f.subcode, f.error_type) == 0x80180004


def test_missing_security_header_is_invalid_security(entra_world, device, key):
    body = rst_envelope(to=ENROLL_URL, message_id="urn:uuid:x", access_token="", csr_der=build_csr("x", key),
                        device_id=device.device_id, device_name="PC", os_version="10.0.1")
    body = body.replace(body[body.index("<wsse:Security"):body.index("</wsse:Security>") + 16], "")
    f = fault_of(post(entra_world, ENROLL_URL, body))
    assert (f.subcode_prefix, f.subcode) == ("a", "InvalidSecurity")
    assert soap.fault_hresult(f.subcode, f.error_type) == 0x80180007


@pytest.mark.parametrize("case", ["garbage", "expired", "wrong_audience", "no_deviceid", "unknown_device",
                                  "disabled_device"])
def test_bad_token_is_authentication_fault(entra_world, entra_tenant, entra_user, device, key, case):
    graph = find_resource("https://graph.microsoft.com")
    iss = issuer(entra_world)
    token = {
        "garbage": lambda: "not.a.jwt",
        "expired": lambda: token_for(entra_world, entra_tenant, entra_user, device.device_id, lifetime=-3600),
        "wrong_audience": lambda: iss.access_token(entra_tenant, graph, BROKER, user=entra_user,
                                                   device_id=device.device_id),
        "no_deviceid": lambda: token_for(entra_world, entra_tenant, entra_user, None),
        "unknown_device": lambda: token_for(entra_world, entra_tenant, entra_user, entra_world.ids.guid()),
        "disabled_device": lambda: (setattr(device, "account_enabled", False),
                                    token_for(entra_world, entra_tenant, entra_user, device.device_id))[1],
    }[case]()
    with pytest.raises(MdmEnrollmentError) as ei:
        do_enroll(entra_world, entra_tenant, entra_user, device, key, token=token)
    assert (ei.value.hresult, ei.value.subcode) == (0x80180002, "Authentication")
    assert ei.value.trace_id
    assert not entra_tenant.managed_devices and not device.is_managed


def test_enrollment_host_does_not_serve_portal_pages(entra_world):
    url = "https://enrollment.manage.microsoft.com/TermsofUse.aspx"
    r = default_router().dispatch(entra_world, Request("GET", url))
    assert r.status == 404


def test_get_policies(entra_world, entra_tenant, entra_user, device):
    token = token_for(entra_world, entra_tenant, entra_user, device.device_id)
    sec = (f'<wsse:BinarySecurityToken ValueType="{soap.VALUE_TYPE_JWT}" EncodingType="{soap.ENCODING_BASE64}">'
           f"{base64.b64encode(token.encode()).decode()}</wsse:BinarySecurityToken>")
    body = soap.request_envelope(action=soap.ACTION_GET_POLICIES, to=ENROLL_URL, message_id="urn:uuid:p",
                                 security=sec, body=f'<GetPolicies xmlns="{soap.NS_ENROLL_POLICY}"><client/>'
                                                     "</GetPolicies>")
    r = post(entra_world, ENROLL_URL, body)
    assert r.status == 200
    assert soap.text_of(soap.find_local(soap.parse_xml(r.body), "minimalKeyLength")) == "2048"

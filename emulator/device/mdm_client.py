"""The simulated Windows device's MDM enrollment client (the part of Windows that enrolls a freshly
Entra-joined device into Intune). Pure protocol: no UI, no device state; the device layer calls
`enroll` and records the result.

Flow (join-protocol.md §6, MS-MDE2):
1. GET the discovery URL (reachability probe), then POST a SOAP Discover -> EnrollmentServiceUrl;
2. build a PKCS#10 request (CN = the Entra device id) with the caller's key;
3. POST a WS-Trust RequestSecurityToken with the Intune enrollment access token as
   wsse:BinarySecurityToken (JWT value type) and the AdditionalContext Windows sends;
4. decode the wap-provisioningdoc of the response: CA and client certificates, the w7 APPLICATION
   account (DM server address) and the DMClient provider (ProviderID "MS DM Server", EntDMID).

A SOAP fault becomes `MdmEnrollmentError` with the MENROLL HRESULT of MDMENR-DOC; network errors
from the session propagate unchanged (the device layer maps them to 0x80072EE7 and friends).
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID

from ..wire import soap
from ..world.catalogue import HRESULTS

USER_AGENT = "ENROLLClient"
DEVICE_TYPE = "CIMClient_Windows"
#: OSEdition product type sent by Windows 11 Enterprise/Pro in the observed requests (AADInternals).
OS_EDITION = "4"
DISCOVERY_REQUEST_VERSION = "4.0"
ENROLLMENT_REQUEST_VERSION = "5.0"

MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR = 0x80180001
MENROLL_E_DEVICE_CERTIFCATEREQUEST_ERROR = 0x80180004
MENROLL_E_DEVICE_CONFIGMGRSERVER_ERROR = 0x80180005


class MdmEnrollmentError(Exception):
    """The enrollment failed with a MENROLL HRESULT.

    `subcode` is the most specific code the server named: the DeviceEnrollmentServiceError
    ErrorType when there is one (UserLicense, DeviceCapReached, ...), else the SOAP subcode
    (Authorization, MessageFormat, ...); `soap_subcode` is always the SOAP subcode."""

    def __init__(self, hresult: int, subcode: str, message: str, *, soap_subcode: str | None = None,
                 trace_id: str | None = None, http_status: int | None = None):
        self.hresult = hresult
        self.subcode = subcode
        self.message = message
        self.soap_subcode = soap_subcode if soap_subcode is not None else subcode
        self.trace_id = trace_id
        self.http_status = http_status
        super().__init__(f"0x{hresult:08x} {subcode}: {message}")

    @property
    def hex(self) -> str:
        return f"0x{self.hresult:08x}"

    @property
    def symbol(self) -> str | None:
        h = HRESULTS.get(self.hresult)
        return h.symbol if h else None

    @property
    def ui_text(self) -> str | None:
        """What the Settings error page says for this code (catalogue), if known."""
        h = HRESULTS.get(self.hresult)
        return h.ui_text() if h else None


@dataclass
class MdmEnrollment:
    """What a successful enrollment leaves on the device."""

    #: Local enrollment GUID (the HKLM\\SOFTWARE\\Microsoft\\Enrollments\\<id> key); derived
    #: deterministically from the device and the Intune device id.
    enrollment_id: str
    provider_id: str                  # "MS DM Server"
    server_url: str                   # OMA-DM server (APPLICATION ADDR)
    upn: str
    managed_device_id: str | None     # DMClient EntDMID = Intune managedDevice id
    aad_device_id: str
    cert_thumbprint: str              # SHA-1, upper-case hex
    cert_issuer: str                  # issuer CN ("Microsoft Intune MDM Device CA")
    cert_subject: str                 # subject CN
    cert_not_before: dt.datetime
    cert_not_after: dt.datetime
    cert_der: bytes
    ca_thumbprint: str | None
    ca_der: bytes | None
    discovery_url: str
    enrollment_service_url: str
    enrollment_policy_service_url: str | None
    authentication_service_url: str | None
    auth_policy: str
    enrollment_version: str | None
    device_name: str
    provisioning_xml: str = field(repr=False, default="")


def enroll(session, *, discovery_url: str, upn: str, access_token: str, device_id: str, device_name: str,
           os_version: str, key: RSAPrivateKey) -> MdmEnrollment:
    """Discover and enroll; see the module docstring."""
    discovery = discover(session, discovery_url=discovery_url, upn=upn, os_version=os_version)
    csr = build_csr(device_id, key)
    message_id = f"urn:uuid:{_guid(device_id, 'rst', access_token[-16:])}"
    body = rst_envelope(to=discovery["EnrollmentServiceUrl"], message_id=message_id, access_token=access_token,
                        csr_der=csr, device_id=device_id, device_name=device_name, os_version=os_version,
                        tenant_id=_unverified_claim(access_token, "tid"))
    resp = session.post(discovery["EnrollmentServiceUrl"], data=body.encode("utf-8"), headers=_headers())
    root = _check(resp)
    bst = None
    for e in soap.iter_local(root, "BinarySecurityToken"):
        if (soap.attr_local(e, "ValueType") or "") == soap.VALUE_TYPE_PROVISION_DOC:
            bst = e
            break
    if bst is None:
        raise MdmEnrollmentError(MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, "MessageFormat",
                                 "The enrollment response carries no provisioning document.",
                                 http_status=resp.status_code)
    try:
        doc_xml = base64.b64decode("".join(soap.text_of(bst).split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise MdmEnrollmentError(MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, "MessageFormat",
                                 "The provisioning document is not base64 UTF-8.") from None
    return _read_provisioning(doc_xml, key=key, upn=upn, device_id=device_id, device_name=device_name,
                              discovery_url=discovery_url, discovery=discovery)


# -- steps ---------------------------------------------------------------------------------------

def discover(session, *, discovery_url: str, upn: str, os_version: str) -> dict[str, str]:
    """The reachability GET and the SOAP Discover; returns the DiscoverResult fields by name."""
    session.get(discovery_url, headers={"User-Agent": USER_AGENT})
    body = soap.request_envelope(
        action=soap.ACTION_DISCOVER, to=discovery_url, message_id=f"urn:uuid:{_guid(upn, 'discover')}",
        body=(f'<Discover xmlns="{soap.NS_ENROLL_DISCOVERY}">'
              '<request xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
              f"<EmailAddress>{soap.x(upn)}</EmailAddress>"
              f"<RequestVersion>{DISCOVERY_REQUEST_VERSION}</RequestVersion>"
              f"<DeviceType>{DEVICE_TYPE}</DeviceType>"
              f"<ApplicationVersion>{soap.x(os_version)}</ApplicationVersion>"
              f"<OSEdition>{OS_EDITION}</OSEdition>"
              "<AuthPolicies><AuthPolicy>OnPremise</AuthPolicy><AuthPolicy>Federated</AuthPolicy></AuthPolicies>"
              "</request></Discover>"))
    resp = session.post(discovery_url, data=body.encode("utf-8"), headers=_headers())
    root = _check(resp)
    result = soap.find_local(root, "DiscoverResult")
    fields = {soap.local(c.tag): soap.text_of(c) for c in result} if result is not None else {}
    if not fields.get("EnrollmentServiceUrl"):
        raise MdmEnrollmentError(MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, "MessageFormat",
                                 "The discovery response names no enrollment service.", http_status=resp.status_code)
    return fields


def build_csr(device_id: str, key: RSAPrivateKey) -> bytes:
    """DER PKCS#10, subject CN=<device id>, SHA-256 (as Windows and AADInternals build it)."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.DER)


def rst_envelope(*, to: str, message_id: str, access_token: str, csr_der: bytes, device_id: str,
                 device_name: str, os_version: str, tenant_id: str = "") -> str:
    """The WS-Trust RST Windows sends for an Entra-joined device enrollment (AADInternals shape)."""
    token_b64 = base64.b64encode(access_token.encode("utf-8")).decode()
    csr_b64 = base64.b64encode(csr_der).decode()
    hw = (device_id + tenant_id).replace("-", "")
    items = [
        ("UXInitiated", "true"), ("HWDevID", hw), ("BulkAADJ", "false"), ("Locale", "en-US"),
        ("TargetedUserLoggedIn", "true"), ("EnrollmentData", ""), ("OSEdition", OS_EDITION),
        ("DeviceName", device_name), ("MAC", "00-00-00-00-00-00"), ("DeviceID", device_id.replace("-", "")),
        ("EnrollmentType", "Device"), ("DeviceType", DEVICE_TYPE), ("OSVersion", os_version),
        ("ApplicationVersion", os_version), ("NotInOobe", "true"), ("RequestVersion", ENROLLMENT_REQUEST_VERSION),
    ]
    ctx_xml = "".join(f"<ac:ContextItem Name={soap.xa(n)}><ac:Value>{soap.x(v)}</ac:Value></ac:ContextItem>"
                      for n, v in items)
    security = (f'<wsse:BinarySecurityToken ValueType="{soap.VALUE_TYPE_JWT}" '
                f'EncodingType="{soap.ENCODING_BASE64}">{token_b64}</wsse:BinarySecurityToken>')
    body = ("<wst:RequestSecurityToken>"
            f"<wst:TokenType>{soap.TOKEN_TYPE_ENROLLMENT}</wst:TokenType>"
            f"<wst:RequestType>{soap.REQUEST_TYPE_ISSUE}</wst:RequestType>"
            f'<wsse:BinarySecurityToken ValueType="{soap.VALUE_TYPE_PKCS10}" '
            f'EncodingType="{soap.ENCODING_BASE64}">{csr_b64}</wsse:BinarySecurityToken>'
            f'<ac:AdditionalContext xmlns="{soap.NS_AC}">{ctx_xml}</ac:AdditionalContext>'
            "</wst:RequestSecurityToken>")
    return soap.request_envelope(action=soap.ACTION_RST, to=to, message_id=message_id, body=body, security=security)


# -- helpers -------------------------------------------------------------------------------------

def _headers() -> dict[str, str]:
    return {"Content-Type": soap.CONTENT_TYPE, "User-Agent": USER_AGENT}


def _unverified_claim(token: str, name: str) -> str:
    """A claim read from the JWT payload without verification (Windows builds HWDevID from the
    token's tenant id); empty when the token cannot be read."""
    import json

    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(data.get(name) or "")
    except Exception:
        return ""


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "entra-emu:mdm:" + ":".join(parts)))


def _check(resp) -> ET.Element:
    """The parsed SOAP response, or MdmEnrollmentError for a fault / an unreadable answer."""
    content = resp.content if isinstance(resp.content, (bytes, bytearray)) else str(resp.text).encode("utf-8")
    # Parsed once: the fault check and the result read the same tree.
    root: ET.Element | None = None
    parse_error: soap.SoapParseError | None = None
    if content:
        try:
            root = soap.parse_xml(bytes(content))
        except soap.SoapParseError as exc:
            parse_error = exc
    fault = soap.parse_fault(root) if root is not None else None
    if fault is not None:
        code = fault.error_type or fault.subcode or "EnrollmentServer"
        raise MdmEnrollmentError(soap.fault_hresult(fault.subcode, fault.error_type), code,
                                 fault.message or fault.reason, soap_subcode=fault.subcode,
                                 trace_id=fault.trace_id, http_status=resp.status_code)
    if resp.status_code >= 400:
        # Inferred: an HTTP error without a SOAP fault is a generic management-server failure.
        raise MdmEnrollmentError(MENROLL_E_DEVICE_CONFIGMGRSERVER_ERROR, "EnrollmentServer",
                                 f"The enrollment server answered HTTP {resp.status_code}.",
                                 http_status=resp.status_code)
    if root is None:
        if parse_error is None:
            try:
                root = soap.parse_xml(bytes(content))
            except soap.SoapParseError as exc:
                parse_error = exc
        if parse_error is not None:
            raise MdmEnrollmentError(MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, "MessageFormat", str(parse_error),
                                     http_status=resp.status_code) from None
    return root


def _characteristics(elem: ET.Element, type_: str) -> list[ET.Element]:
    return [c for c in elem if soap.local(c.tag) == "characteristic" and c.attrib.get("type") == type_]


def _parms(elem: ET.Element) -> dict[str, str]:
    return {p.attrib.get("name", ""): p.attrib.get("value", "") for p in elem if soap.local(p.tag) == "parm"}


def _store_certs(doc: ET.Element, store: str) -> list[bytes]:
    """DER certificates provisioned under CertificateStore/<store>/*/<thumbprint>/EncodedCertificate."""
    out: list[bytes] = []
    for cs in _characteristics(doc, "CertificateStore"):
        for st in _characteristics(cs, store):
            for scope in st:
                for thumb in scope:
                    enc = _parms(thumb).get("EncodedCertificate")
                    if enc:
                        try:
                            out.append(base64.b64decode(enc))
                        except (binascii.Error, ValueError):
                            continue
    return out


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def _read_provisioning(doc_xml: str, *, key: RSAPrivateKey, upn: str, device_id: str, device_name: str,
                       discovery_url: str, discovery: dict[str, str]) -> MdmEnrollment:
    def bad(msg: str) -> MdmEnrollmentError:
        return MdmEnrollmentError(MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, "MessageFormat", msg)

    try:
        doc = soap.parse_xml(doc_xml)
    except soap.SoapParseError as exc:
        raise bad(f"The provisioning document is not readable: {exc}") from None
    if soap.local(doc.tag) != "wap-provisioningdoc":
        raise bad("The token is not a wap-provisioningdoc.")
    mine = key.public_key().public_numbers()
    client = None
    for d in _store_certs(doc, "My"):
        try:
            cert = x509.load_der_x509_certificate(d)
        except ValueError:
            continue
        if cert.public_key().public_numbers() == mine:
            client = (cert, d)
            break
    if client is None:
        raise MdmEnrollmentError(MENROLL_E_DEVICE_CERTIFCATEREQUEST_ERROR, "CertificateRequest",
                                 "The provisioning document holds no certificate for the device's key.")
    cert, cert_der = client
    roots = _store_certs(doc, "Root")
    ca_der = roots[0] if roots else None

    provider_id, entdmid, server = None, None, None
    for dm in _characteristics(doc, "DMClient"):
        for prov in _characteristics(dm, "Provider"):
            for p in prov:
                if soap.local(p.tag) == "characteristic":
                    provider_id = p.attrib.get("type")
                    entdmid = _parms(p).get("EntDMID") or None
                    server = _parms(p).get("ManagementServiceAddress")
                    break
    server_url = None
    for app in _characteristics(doc, "APPLICATION"):
        parms = _parms(app)
        if parms.get("APPID") == "w7":
            server_url = parms.get("ADDR")
            provider_id = provider_id or parms.get("PROVIDER-ID")
    if not provider_id:
        raise bad("The provisioning document names no DM provider.")
    server_url = server_url or server
    if not server_url:
        raise bad("The provisioning document names no DM server address.")
    thumb = hashlib.sha1(cert_der).hexdigest().upper()
    return MdmEnrollment(
        enrollment_id=_guid(device_id, entdmid or thumb).upper(),
        provider_id=provider_id, server_url=server_url, upn=upn, managed_device_id=entdmid,
        aad_device_id=device_id, cert_thumbprint=thumb, cert_issuer=_cn(cert.issuer), cert_subject=_cn(cert.subject),
        cert_not_before=cert.not_valid_before_utc, cert_not_after=cert.not_valid_after_utc, cert_der=cert_der,
        ca_thumbprint=hashlib.sha1(ca_der).hexdigest().upper() if ca_der else None, ca_der=ca_der,
        discovery_url=discovery_url, enrollment_service_url=discovery["EnrollmentServiceUrl"],
        enrollment_policy_service_url=discovery.get("EnrollmentPolicyServiceUrl") or None,
        authentication_service_url=discovery.get("AuthenticationServiceUrl") or None,
        auth_policy=discovery.get("AuthPolicy", ""), enrollment_version=discovery.get("EnrollmentVersion") or None,
        device_name=device_name, provisioning_xml=doc_xml,
    )

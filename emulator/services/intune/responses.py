"""Bodies the Intune enrollment service answers with: the DiscoverResponse, the WS-Trust
RequestSecurityTokenResponseCollection carrying the wap-provisioningdoc, a minimal MS-XCEP
GetPoliciesResponse, and the small portal pages (terms of use, compliance).

Element names and order follow the MS-MDE2 / Learn "Federated authentication device enrollment"
examples; values are Intune's where known (join-protocol.md §6, graph-intune.md §4.2).
"""
from __future__ import annotations

import base64
import datetime as dt
import functools

from ...http import Response
from ...wire import soap
from ...world.clock import UTC

ENROLLMENT_HOST = "enrollment.manage.microsoft.com"
PORTAL_HOST = "portal.manage.microsoft.com"
DISCOVERY_URL = f"https://{ENROLLMENT_HOST}/enrollmentserver/discovery.svc"
ENROLLMENT_SERVICE_URL = f"https://{ENROLLMENT_HOST}/EnrollmentServer/DeviceEnrollmentWebService.svc"
# Inferred: the policy (MS-XCEP) service shares the enrollment service's URL, as in the Learn
# example; the handler tells the two apart by SOAP action.
ENROLLMENT_POLICY_SERVICE_URL = ENROLLMENT_SERVICE_URL
AUTHENTICATION_SERVICE_URL = f"https://{PORTAL_HOST}/LoginRedirect.aspx"
TERMS_OF_USE_URL = f"https://{PORTAL_HOST}/TermsofUse.aspx"
#: The OMA-DM server the device syncs with after enrollment.
DM_SERVER_URL = "https://r.manage.microsoft.com/devicegatewayproxy/cimhandler.ashx"
PROVIDER_ID = "MS DM Server"
#: Inferred: Intune answers enrollment version 4.0 to the Windows 10/11 client's RequestVersion 4.0.
ENROLLMENT_VERSION = "4.0"
#: DMClient AADResourceID: the resource Windows asks tokens for when it syncs (Intune's app URI).
AAD_RESOURCE_ID = "https://manage.microsoft.com/"


def soap_response(xml: str, status: int = 200) -> Response:
    return Response(status, {"Content-Type": soap.CONTENT_TYPE}, xml.encode("utf-8"))


def discover_response(*, relates_to: str, activity_id: str) -> str:
    body = (f'<DiscoverResponse xmlns="{soap.NS_ENROLL_DISCOVERY}"><DiscoverResult>'
            "<AuthPolicy>Federated</AuthPolicy>"
            f"<EnrollmentVersion>{ENROLLMENT_VERSION}</EnrollmentVersion>"
            f"<EnrollmentPolicyServiceUrl>{soap.x(ENROLLMENT_POLICY_SERVICE_URL)}</EnrollmentPolicyServiceUrl>"
            f"<EnrollmentServiceUrl>{soap.x(ENROLLMENT_SERVICE_URL)}</EnrollmentServiceUrl>"
            f"<AuthenticationServiceUrl>{soap.x(AUTHENTICATION_SERVICE_URL)}</AuthenticationServiceUrl>"
            "</DiscoverResult></DiscoverResponse>")
    return soap.envelope(action=soap.ACTION_DISCOVER_RESPONSE, body=body, relates_to=relates_to,
                         activity_id=activity_id)


@functools.lru_cache(maxsize=256)   # most parms of the document are the same every time
def _parm(name: str, value: object, datatype: str | None = None) -> str:
    dtp = f" datatype={soap.xa(datatype)}" if datatype else ""
    return f"<parm name={soap.xa(name)} value={soap.xa(value)}{dtp}/>"


def provisioning_doc(*, ca_der: bytes, ca_thumbprint: str, client_der: bytes, client_thumbprint: str,
                     managed_device_id: str, upn: str, device_name: str, aad_device_id: str) -> str:
    """The OMA client provisioning XML of the RSTR: the CA into Root/System, the device's client
    certificate into My/System (device enrollment), ROBO renewal, the w7 APPLICATION account and the
    DMClient provider "MS DM Server" (EntDMID = the Intune device id)."""
    ca_b64 = base64.b64encode(ca_der).decode()
    client_b64 = base64.b64encode(client_der).decode()
    search = f"Subject=CN%3d{managed_device_id}&Stores=MY%5CSystem"
    return (
        '<wap-provisioningdoc version="1.1">'
        '<characteristic type="CertificateStore">'
        '<characteristic type="Root"><characteristic type="System">'
        f"<characteristic type={soap.xa(ca_thumbprint)}>{_parm('EncodedCertificate', ca_b64)}</characteristic>"
        "</characteristic></characteristic>"
        '<characteristic type="My"><characteristic type="System">'
        f"<characteristic type={soap.xa(client_thumbprint)}>{_parm('EncodedCertificate', client_b64)}"
        "</characteristic>"
        '<characteristic type="PrivateKeyContainer"/>'
        "</characteristic>"
        '<characteristic type="WSTEP"><characteristic type="Renew">'
        f"{_parm('ROBOSupport', 'true', 'boolean')}{_parm('RenewPeriod', 42, 'integer')}"
        f"{_parm('RetryInterval', 7, 'integer')}"
        "</characteristic></characteristic>"
        "</characteristic>"
        "</characteristic>"
        '<characteristic type="APPLICATION">'
        f"{_parm('APPID', 'w7')}{_parm('PROVIDER-ID', PROVIDER_ID)}{_parm('NAME', 'Microsoft Device Management')}"
        f"{_parm('ADDR', DM_SERVER_URL)}{_parm('CONNRETRYFREQ', 6)}{_parm('INITIALBACKOFFTIME', 30000)}"
        f"{_parm('MAXBACKOFFTIME', 120000)}<parm name=\"BACKCOMPATRETRYDISABLED\"/>"
        f"{_parm('DEFAULTENCODING', 'application/vnd.syncml.dm+xml')}"
        f"{_parm('SSLCLIENTCERTSEARCHCRITERIA', search)}"
        '<characteristic type="APPAUTH">'
        f"{_parm('AAUTHLEVEL', 'CLIENT')}{_parm('AAUTHTYPE', 'DIGEST')}{_parm('AAUTHSECRET', 'dummy')}"
        f"{_parm('AAUTHDATA', 'nonce')}</characteristic>"
        '<characteristic type="APPAUTH">'
        f"{_parm('AAUTHLEVEL', 'APPSRV')}{_parm('AAUTHTYPE', 'BASIC')}{_parm('AAUTHNAME', 'dummy')}"
        f"{_parm('AAUTHSECRET', 'dummy')}</characteristic>"
        "</characteristic>"
        '<characteristic type="DMClient"><characteristic type="Provider">'
        f"<characteristic type={soap.xa(PROVIDER_ID)}>"
        f"{_parm('EntDMID', managed_device_id, 'string')}{_parm('UPN', upn, 'string')}"
        f"{_parm('EntDeviceName', device_name, 'string')}{_parm('AADDeviceID', aad_device_id, 'string')}"
        f"{_parm('AADResourceID', AAD_RESOURCE_ID, 'string')}"
        f"{_parm('ManagementServiceAddress', DM_SERVER_URL, 'string')}"
        '<characteristic type="Poll">'
        f"{_parm('NumberOfFirstRetries', 8, 'integer')}{_parm('IntervalForFirstSetOfRetries', 15, 'integer')}"
        f"{_parm('NumberOfSecondRetries', 5, 'integer')}{_parm('IntervalForSecondSetOfRetries', 3, 'integer')}"
        f"{_parm('NumberOfRemainingScheduledRetries', 0, 'integer')}"
        f"{_parm('IntervalForRemainingScheduledRetries', 480, 'integer')}{_parm('PollOnLogin', 'true', 'boolean')}"
        "</characteristic>"
        "</characteristic></characteristic></characteristic>"
        "</wap-provisioningdoc>"
    )


def _ts(when: dt.datetime) -> str:
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def rstr_response(*, relates_to: str, activity_id: str, provisioning_xml: str, now: dt.datetime) -> str:
    token = base64.b64encode(provisioning_xml.encode("utf-8")).decode()
    security = (f'<o:Security s:mustUnderstand="1" xmlns:o="{soap.NS_WSSE}">'
                f'<u:Timestamp u:Id="_0"><u:Created>{_ts(now)}</u:Created>'
                f"<u:Expires>{_ts(now + dt.timedelta(minutes=5))}</u:Expires></u:Timestamp></o:Security>")
    body = (f'<RequestSecurityTokenResponseCollection xmlns="{soap.NS_WST}">'
            "<RequestSecurityTokenResponse>"
            f"<TokenType>{soap.TOKEN_TYPE_ENROLLMENT}</TokenType>"
            f'<DispositionMessage xmlns="{soap.NS_ENROLL_PKI}"/>'
            "<RequestedSecurityToken>"
            f'<BinarySecurityToken ValueType="{soap.VALUE_TYPE_PROVISION_DOC}" '
            f'EncodingType="{soap.ENCODING_BASE64}" xmlns="{soap.NS_WSSE}">{token}</BinarySecurityToken>'
            "</RequestedSecurityToken>"
            f'<RequestID xmlns="{soap.NS_ENROLL_PKI}">0</RequestID>'
            "</RequestSecurityTokenResponse></RequestSecurityTokenResponseCollection>")
    return soap.envelope(action=soap.ACTION_RSTRC, body=body, relates_to=relates_to, activity_id=activity_id,
                         extra_header=security, extra_ns=f' xmlns:u="{soap.NS_WSU}"')


def get_policies_response(*, relates_to: str, activity_id: str) -> str:
    """A minimal MS-XCEP answer: one policy, RSA 2048 minimum, SHA-256 (the Learn example's shape)."""
    nil = 'xsi:nil="true"'
    body = (f'<GetPoliciesResponse xmlns="{soap.NS_ENROLL_POLICY}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<response><policyID/><policyFriendlyName {nil}/><nextUpdateHours {nil}/>"
            f"<policiesNotChanged {nil}/><policies><policy><policyOIDReference>0</policyOIDReference>"
            f"<cAs {nil}/><attributes><commonName>IntuneMDMDevice</commonName><policySchema>3</policySchema>"
            "<certificateValidity><validityPeriodSeconds>31536000</validityPeriodSeconds>"
            "<renewalPeriodSeconds>3628800</renewalPeriodSeconds></certificateValidity>"
            "<permission><enroll>true</enroll><autoEnroll>false</autoEnroll></permission>"
            f"<privateKeyAttributes><minimalKeyLength>2048</minimalKeyLength><keySpec {nil}/>"
            f"<keyUsageProperty {nil}/><permissions {nil}/><algorithmOIDReference {nil}/>"
            f"<cryptoProviders {nil}/></privateKeyAttributes>"
            "<revision><majorRevision>101</majorRevision><minorRevision>0</minorRevision></revision>"
            f"<supersededPolicies {nil}/><privateKeyFlags {nil}/><subjectNameFlags {nil}/>"
            f"<enrollmentFlags {nil}/><generalFlags {nil}/>"
            "<hashAlgorithmOIDReference>0</hashAlgorithmOIDReference>"
            f"<rARequirements {nil}/><keyArchivalAttributes {nil}/><extensions {nil}/>"
            "</attributes></policy></policies></response>"
            f"<cAs {nil}/><oIDs><oID><value>2.16.840.1.101.3.4.2.1</value><group>1</group>"
            "<oIDReferenceID>0</oIDReferenceID><defaultName>szOID_NIST_sha256</defaultName></oID></oIDs>"
            "</GetPoliciesResponse>")
    return soap.envelope(action=soap.ACTION_GET_POLICIES_RESPONSE, body=body, relates_to=relates_to,
                         activity_id=activity_id)


def html_page(title: str, body_html: str) -> Response:
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{soap.x(title)}</title></head><body>{body_html}</body></html>")
    return Response(200, {"Content-Type": "text/html; charset=utf-8"}, page.encode("utf-8"))


def terms_of_use_page(redirect_uri: str | None) -> Response:
    """The Intune terms-of-use page Windows shows during MDM enrollment. Accepting posts back to
    the redirect URI the client passed (IsAccepted=true), as the MDM terms-of-use protocol says."""
    action = soap.xa(redirect_uri or "")
    form = (f"<form method=\"post\" action={action}>"
            "<input type=\"hidden\" name=\"IsAccepted\" value=\"true\"/>"
            "<input type=\"hidden\" name=\"OpaqueBlob\" value=\"\"/>"
            "<button type=\"submit\">Accept</button></form>") if redirect_uri else ""
    return html_page("Terms of use",
                     "<h1>Terms of use</h1><p>Your organization requires that you agree to its terms of use "
                     "before this device is managed by Microsoft Intune.</p>" + form)


def compliance_page() -> Response:
    return html_page("Company Portal", "<h1>Company Portal</h1><p>Check your device's compliance status.</p>")

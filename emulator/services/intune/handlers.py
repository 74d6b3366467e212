"""Handlers of the Intune MDM enrollment service: discovery, enrollment (WS-Trust RST), the
enrollment policy service, and the portal pages.

The enrollment decision, in order (each refusal is a SOAP fault, see exceptions.py):
1. a readable SOAP envelope carrying a RequestSecurityToken  -> else MessageFormat
2. wsse:Security / BinarySecurityToken with the JWT           -> else a:InvalidSecurity
3. the JWT valid for the Intune enrollment resource, carrying `deviceid` of an enabled device of
   the token's tenant, and a user                              -> else Authentication
4. the TokenType and the PKCS#10 request                       -> MessageFormat / CertificateRequest
5. policy.in_mdm_scope                                         -> Authorization (0x80180003)
6. policy.has_intune_license                                   -> UserLicense (0x80180018)
7. not already enrolled                                        -> DeviceAlreadyEnrolled (0x8018000A)
8. policy.enrollment_restriction                               -> DeviceNotSupported / DeviceCapReached
Then the managed device is created and the provisioning document returned.

Simplification: no compliance policies are evaluated; a newly enrolled device is `compliant`.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from ...http import Response, empty_response
from ...wire import soap
from ...world import policy
from ...world.events import device_target, record_audit
from ...world.models import INTUNE_APP_ID, INTUNE_ENROLLMENT_APP_ID, INTUNE_ENROLLMENT_RESOURCE, ManagedDevice
from ..identity.tokens import TokenInvalid, validate_access_token
from . import certificates, responses
from .exceptions import (
    FAULT_ACTION_GENERIC,
    AuthenticationFault,
    AuthorizationFault,
    CertificateRequestFault,
    DeviceAlreadyEnrolledFault,
    DeviceCapReachedFault,
    DeviceNotSupportedFault,
    InvalidSecurityFault,
    MessageFormatFault,
    SoapFault,
    UserLicenseFault,
)

ENROLLMENT_AUDIENCES = (INTUNE_ENROLLMENT_RESOURCE, INTUNE_ENROLLMENT_RESOURCE.rstrip("/"), INTUNE_ENROLLMENT_APP_ID)
_TOKEN_VALUE_TYPES = (soap.VALUE_TYPE_JWT, soap.VALUE_TYPE_USER_TOKEN)


# -- discovery ---------------------------------------------------------------------------------

def _not_found() -> Response:
    return Response(404, {"Content-Type": "text/html; charset=utf-8"},
                    b"<html><body><h1>404 - File or directory not found.</h1></body></html>")


def _on_host(ctx, host: str) -> bool:
    """Both Intune hosts share one route table; each path lives on one host only."""
    return ctx.request.host == host


def discovery_get(ctx) -> Response:
    """The reachability probe Windows makes before POSTing Discover: 200, empty text/html."""
    if not _on_host(ctx, responses.ENROLLMENT_HOST):
        return _not_found()
    return empty_response(200, {"Content-Type": "text/html"})


def discovery_post(ctx) -> Response:
    if not _on_host(ctx, responses.ENROLLMENT_HOST):
        return _not_found()
    env = _envelope(ctx, FAULT_ACTION_GENERIC)
    try:
        discover = env.payload
        if discover is None or soap.local(discover.tag) != "Discover":
            raise MessageFormatFault("The message does not contain a Discover request.", action=FAULT_ACTION_GENERIC)
        req = soap.child_local(discover, "request")
        if req is None:
            raise MessageFormatFault("The Discover request has no request element.", action=FAULT_ACTION_GENERIC)
        email = soap.text_of(soap.child_local(req, "EmailAddress"))
        if not email:
            raise MessageFormatFault("EmailAddress is required.", action=FAULT_ACTION_GENERIC)
        # Inferred: the shared Intune discovery endpoint answers for any address (the service is
        # chosen later from the token's tenant), so the domain is not checked here.
        # AuthPolicies lists what the client supports; Intune only offers Federated.
        policies = [soap.text_of(p) for p in soap.iter_local(req, "AuthPolicy")]
        if policies and "Federated" not in policies:
            raise MessageFormatFault("The client does not support the Federated authentication policy.",
                                     action=FAULT_ACTION_GENERIC)
    except SoapFault as fault:
        fault.relates_to = env.message_id
        raise
    return responses.soap_response(responses.discover_response(relates_to=env.message_id, activity_id=ctx.request_id))


# -- enrollment --------------------------------------------------------------------------------

def enrollment_post(ctx) -> Response:
    if not _on_host(ctx, responses.ENROLLMENT_HOST):
        return _not_found()
    env = _envelope(ctx)
    try:
        if env.action == soap.ACTION_GET_POLICIES or (env.payload is not None
                                                      and soap.local(env.payload.tag) == "GetPolicies"):
            _authenticate(ctx, env)
            return responses.soap_response(
                responses.get_policies_response(relates_to=env.message_id, activity_id=ctx.request_id))
        return _enroll(ctx, env)
    except SoapFault as fault:
        fault.relates_to = fault.relates_to or env.message_id
        raise


def _envelope(ctx, action: str = soap.ACTION_RSTRC) -> soap.Envelope:
    try:
        return soap.parse_envelope(ctx.request.body)
    except soap.SoapParseError as exc:
        raise MessageFormatFault(str(exc), action=action) from None


def _authenticate(ctx, env: soap.Envelope) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(tenant, user, directory device, claims) from the JWT in wsse:Security."""
    security = soap.child_local(env.header, "Security")
    if security is None:
        raise InvalidSecurityFault("The message has no wsse:Security header.")
    bst = None
    for cand in soap.iter_local(security, "BinarySecurityToken"):
        if (soap.attr_local(cand, "ValueType") or "") in _TOKEN_VALUE_TYPES:
            bst = cand
            break
    if bst is None:
        raise InvalidSecurityFault("The wsse:Security header carries no BinarySecurityToken with a token.")
    try:
        token = base64.b64decode(soap.text_of(bst), validate=True).decode("ascii").strip()
    except (binascii.Error, ValueError):
        raise InvalidSecurityFault("The BinarySecurityToken is not base64.") from None
    try:
        claims = validate_access_token(ctx.world, token, ENROLLMENT_AUDIENCES)
    except TokenInvalid as exc:
        raise AuthenticationFault(f"The access token is not valid ({exc.reason}): {exc.detail}".strip()) from None
    tenant = ctx.world.tenants[claims["tid"]]
    device_id = str(claims.get("deviceid") or "")
    if not device_id:
        raise AuthenticationFault("The access token does not carry a device identity (deviceid claim).")
    device = tenant.device_by_device_id(device_id)
    if device is None:
        raise AuthenticationFault(f"The device {device_id} was not found in the tenant.")
    if not device.account_enabled:
        raise AuthenticationFault(f"The device {device_id} is disabled.")
    user = tenant.users.get(claims.get("oid", "")) if claims.get("upn") or claims.get("unique_name") else None
    if user is None:
        raise AuthenticationFault("The access token does not identify a user.")
    if not user.account_enabled:
        raise AuthenticationFault("The user account is disabled.")
    return tenant, user, device, claims


def _additional_context(rst) -> dict[str, str]:
    items: dict[str, str] = {}
    ac = soap.find_local(rst, "AdditionalContext")
    if ac is None:
        return items
    for item in soap.iter_local(ac, "ContextItem"):
        name = item.attrib.get("Name") or soap.attr_local(item, "Name") or ""
        if name and name not in items:
            items[name] = soap.text_of(soap.child_local(item, "Value"))
    return items


def _enroll(ctx, env: soap.Envelope) -> Response:
    world = ctx.world
    rst = env.payload
    if rst is None or soap.local(rst.tag) != "RequestSecurityToken":
        raise MessageFormatFault("The message does not contain a RequestSecurityToken.")
    tenant, user, device, claims = _authenticate(ctx, env)

    token_type = soap.text_of(soap.child_local(rst, "TokenType"))
    if token_type != soap.TOKEN_TYPE_ENROLLMENT:
        raise MessageFormatFault(f"Unsupported TokenType '{token_type}'." if token_type else "TokenType is required.")
    request_type = soap.text_of(soap.child_local(rst, "RequestType"))
    if request_type and request_type != soap.REQUEST_TYPE_ISSUE:
        # Inferred: renewal (RequestType Renew) is not emulated.
        raise MessageFormatFault(f"Unsupported RequestType '{request_type}'.")
    csr_el = next((e for e in soap.iter_local(rst, "BinarySecurityToken")
                   if (soap.attr_local(e, "ValueType") or "") == soap.VALUE_TYPE_PKCS10), None)
    if csr_el is None or not soap.text_of(csr_el):
        raise MessageFormatFault("The RequestSecurityToken carries no PKCS#10 BinarySecurityToken.")
    try:
        csr_der = base64.b64decode("".join(soap.text_of(csr_el).split()), validate=True)
    except (binascii.Error, ValueError):
        raise MessageFormatFault("The PKCS#10 BinarySecurityToken is not base64.") from None
    try:
        csr = certificates.load_csr(csr_der)
    except certificates.CsrError as exc:
        raise CertificateRequestFault(str(exc)) from None
    context = _additional_context(rst)
    device_name = context.get("DeviceName") or device.display_name
    os_version = context.get("OSVersion") or device.operating_system_version

    with world.lock:
        if not policy.in_mdm_scope(tenant, user):
            raise AuthorizationFault()
        if not policy.has_intune_license(user):
            raise UserLicenseFault()
        aad_device_id = device.device_id
        for m in tenant.managed_devices.values():   # (a plain loop: this scans every managed device)
            if m.azure_ad_device_id == aad_device_id:
                raise DeviceAlreadyEnrolledFault()
        refusal = policy.enrollment_restriction(tenant, user, platform="windows", os_version=os_version,
                                                personal=False)
        if refusal == "DeviceNotSupported":
            raise DeviceNotSupportedFault()
        if refusal == "DeviceCapReached":
            raise DeviceCapReachedFault()
        if refusal:
            raise AuthorizationFault()

        now = world.clock.now()
        managed = ManagedDevice(
            id=world.ids.guid(), device_name=device_name, user_id=user.id,
            user_principal_name=user.user_principal_name, user_display_name=user.display_name,
            azure_ad_device_id=device.device_id, enrolled=now, last_sync=now, os_version=os_version,
            compliance_state="compliant",  # simplification: no compliance policy is evaluated
            management_agent="mdm", enrollment_type="windowsAzureADJoin", owner_type="company",
            join_type="azureADJoined",
            manufacturer=device.manufacturer or "Microsoft Corporation", model=device.model or "Virtual Machine",
        )
        client_cert = certificates.issue_client_certificate(world, csr, managed.id)
        managed.cert_thumbprint = certificates.thumbprint(client_cert)
        tenant.managed_devices[managed.id] = managed

        before = (device.is_managed, device.is_compliant)
        device.is_managed = True
        device.is_compliant = True
        device.mdm_app_id = INTUNE_APP_ID
        device.management_type = "mdm"
        device.enrollment_type = "windowsAzureADJoin"
        device.device_ownership = "company"

    # Inferred: Entra's audit log shows the MDM flags being set on the device as a Core Directory
    # "Update device" initiated by the Microsoft Intune app.
    def flag(v) -> str:
        return "[]" if v is None else f"[{str(bool(v)).lower()}]"

    record_audit(world, tenant, activity="Update device", category="Device", service="Core Directory",
                 operation_type="Update", initiated_by=None,
                 app={"appId": INTUNE_APP_ID, "displayName": "Microsoft Intune", "servicePrincipalId": None,
                      "servicePrincipalName": None},
                 targets=[device_target(device, [
                     {"displayName": "IsManaged", "oldValue": flag(before[0]), "newValue": "[true]"},
                     {"displayName": "IsCompliant", "oldValue": flag(before[1]), "newValue": "[true]"},
                     {"displayName": "Included Updated Properties", "oldValue": None,
                      "newValue": '"IsManaged, IsCompliant"'},
                 ])],
                 correlation_id=ctx.request_id)

    ca = certificates.ca_certificate(world)
    doc = responses.provisioning_doc(
        ca_der=certificates.der(ca), ca_thumbprint=certificates.thumbprint(ca),
        client_der=certificates.der(client_cert), client_thumbprint=managed.cert_thumbprint,
        managed_device_id=managed.id, upn=user.user_principal_name, device_name=device_name,
        aad_device_id=device.device_id)
    return responses.soap_response(responses.rstr_response(
        relates_to=env.message_id, activity_id=ctx.request_id, provisioning_xml=doc, now=world.clock.now()))


# -- portal ------------------------------------------------------------------------------------

def terms_of_use(ctx) -> Response:
    if not _on_host(ctx, responses.PORTAL_HOST):
        return _not_found()
    return responses.terms_of_use_page(ctx.request.query.get("redirect_uri"))


def portal_home(ctx) -> Response:
    if not _on_host(ctx, responses.PORTAL_HOST):
        return _not_found()
    return responses.compliance_page()


# -- a method the endpoint does not take --------------------------------------------------------

_PORTAL_PATHS = ("/termsofuse.aspx", "/")


def method_not_allowed(template: str, allowed: tuple[str, ...], get_handler=None):
    """Any other method on a known path. On the enrollment host a SOAP MessageFormat fault with
    HTTP 405 and `Allow`; on the portal host an HTML 405 page; on the other host the usual 404.
    Inferred: the real service's answer to a wrong method is not published. HEAD on a GET
    endpoint is answered as GET (the transport drops the body)."""
    verbs = ", ".join(allowed)
    portal = template.replace("\\", "").lower() in _PORTAL_PATHS

    def handler(ctx) -> Response:
        if ctx.request.method == "HEAD" and get_handler is not None:
            return get_handler(ctx)
        if not _on_host(ctx, responses.PORTAL_HOST if portal else responses.ENROLLMENT_HOST):
            return _not_found()
        if portal:
            page = responses.html_page("405 - Method not allowed",
                                       "<h1>405 - HTTP verb used to access this page is not allowed.</h1>")
            page.status = 405
            page.headers["Allow"] = verbs
            return page
        fault = MessageFormatFault(f"The HTTP method '{ctx.request.method[:16]}' is not allowed; use {verbs}.",
                                   action=FAULT_ACTION_GENERIC)
        fault.status = 405
        resp = fault.to_response(ctx)
        resp.headers["Allow"] = verbs
        return resp

    return handler

"""Device Registration Service handlers (join-protocol.md §3): discovery, nonce, join/register,
delete. Errors are raised as `DrsError` subclasses (exceptions.py) and rendered as ErrorDetails.
"""
from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from typing import Any

from ...http import Response, json_response
from ...world import events, policy
from ...world.models import DRS_APP_ID, DRS_RESOURCE, ROLE_TEMPLATES, DirectoryDevice
from ..identity.tokens import TokenInvalid, validate_access_token
from . import certificates as certs
from .exceptions import (
    DeviceNotFound,
    DeviceQuotaExceeded,
    InvalidClientCertificate,
    InvalidRequest,
    InvalidToken,
    MessageFormatError,
    MfaRequired,
    TenantNotFound,
    UserDisabled,
    UserNotAuthorizedToJoin,
    UserNotAuthorizedToRegister,
    UserNotFound,
)

DRS_HOST = "enterpriseregistration.windows.net"
LOGIN = "https://login.microsoftonline.com"
LOCAL_ADMINISTRATORS_SID = "S-1-5-32-544"
JOIN_TYPE_JOIN = 0
JOIN_TYPE_REGISTER = 4
NONCE_PREFIX = "AwABEgEAAAADAOz_BQD0_"
NONCE_LIFETIME = 300
DRS_APP = {"appId": DRS_APP_ID, "displayName": "Device Registration Service", "servicePrincipalId": None,
           "servicePrincipalName": None}


def _iso_ms(when: dt.datetime) -> str:
    when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _headers(ctx) -> dict[str, str]:
    h = {"x-ms-request-id": ctx.request_id}
    crid = ctx.request.headers.get("client-request-id")
    if crid:
        h["client-request-id"] = crid
    return h


# -- discovery ----------------------------------------------------------------------------------

def discovery_document(tenant) -> dict[str, Any]:
    """The 1.9 discovery JSON (HB-SPEC key names, PascalCase, URLs carrying the tenant id)."""
    tid = tenant.id
    base = f"https://{DRS_HOST}"
    return {
        "DiscoveryService": {
            "DiscoveryEndpoint": f"{base}/{tid}/Discover",
            "ServiceVersion": "1.9",
        },
        "DeviceRegistrationService": {
            "RegistrationEndpoint": f"{base}/EnrollmentServer/DeviceEnrollmentWebService.svc",
            "RegistrationResourceId": DRS_RESOURCE,
            "ServiceVersion": "1.0",
        },
        "AuthenticationService": {
            "OAuth2": {
                "AuthCodeEndpoint": f"{LOGIN}/{tid}/oauth2/authorize",
                "TokenEndpoint": f"{LOGIN}/{tid}/oauth2/token",
            },
        },
        "IdentityProviderService": {
            "Federated": False,
            "PassiveAuthEndpoint": f"{LOGIN}/{tid}/wsfed",
        },
        "DeviceJoinService": {
            "JoinEndpoint": f"{base}/EnrollmentServer/device/",
            "JoinResourceId": DRS_RESOURCE,
            "ServiceVersion": "2.0",
        },
        "KeyProvisioningService": {
            "KeyProvisionEndpoint": f"{base}/EnrollmentServer/key/",
            "KeyProvisionResourceId": DRS_RESOURCE,
            "ServiceVersion": "1.0",
        },
        "WebAuthNService": {
            "WebAuthNEndpoint": f"{base}/webauthn/{tid}/",
            "WebAuthNResourceId": DRS_RESOURCE,
            "ServiceVersion": "1.0",
        },
        "DeviceManagementService": {
            "DeviceManagementEndpoint": f"{base}/manage/{tid}/",
            "DeviceManagementResourceId": DRS_RESOURCE,
            "ServiceVersion": "1.0",
        },
        # Inferred: the MSA site values are not published; login.live.com is the MSA host.
        "MsaProviderData": {"SiteId": "", "SiteUrl": "login.live.com"},
        "PrecreateService": {
            "PrecreateEndpoint": f"{base}/EnrollmentServer/device/precreate/{tid}/",
            "PrecreateResourceId": DRS_RESOURCE,
            "ServiceVersion": "2.0",
        },
        "TenantInfo": {
            "DisplayName": tenant.display_name,
            "TenantId": tid,
            "TenantName": tenant.initial_domain,
        },
        "AzureRbacService": {"RbacPolicyEndpoint": "https://pas.windows.net"},
        # Inferred: the BPL proxy principal id and resource id are not published; DRS values used.
        "BPLService": {
            "BPLProxyServicePrincipalId": DRS_APP_ID,
            "BPLResourceId": DRS_RESOURCE,
            "BPLServiceEndpoint": f"{base}/aadpasswordpolicy/{tid}/",
            "ServiceVersion": "1.0",
        },
        "DeviceJoinResourceService": {
            "Endpoint": f"{base}/EnrollmentServer/device/resource/{tid}/",
            "ResourceId": DRS_RESOURCE,
            "ServiceVersion": "2.0",
        },
        "NonceService": {
            "Endpoint": f"{base}/EnrollmentServer/nonce/{tid}/",
            "ResourceId": DRS_RESOURCE,
            "ServiceVersion": "1.0",
        },
    }


def discover(ctx) -> Response:
    """GET /{tenant}/Discover?api-version=1.9 (Bearer optional) and the legacy contract URL."""
    ref = ctx.params.get("tenant", "")
    tenant = ctx.world.tenant(ref)
    if tenant is None:
        raise TenantNotFound(ref)
    return json_response(discovery_document(tenant), headers=_headers(ctx))


# -- nonce -------------------------------------------------------------------------------------

def new_nonce(world, value: str | None = None) -> str:
    """An opaque nonce remembered in world.nonces with the cloud time it was issued."""
    if value is None:
        value = NONCE_PREFIX + base64.urlsafe_b64encode(world.ids.token_bytes(96)).rstrip(b"=").decode()
    return world.remember_nonce(value)


def nonce(ctx) -> Response:
    tid = ctx.params.get("tid", "")
    if ctx.world.tenant(tid) is None:
        raise TenantNotFound(tid)
    value = new_nonce(ctx.world, base64.b64encode(ctx.world.ids.token_bytes(DRS_NONCE_BYTES)).decode())
    body = {"ReponseStatus": {"message": "Successfully created a nonce", "traceId": str(uuid.uuid4()),
                              "time": _iso_ms(ctx.world.clock.now())},
            "Value": value}
    return json_response(body, headers=_headers(ctx))


# -- join / register ----------------------------------------------------------------------------

def _field(body: dict[str, Any], name: str) -> Any:
    """Case-insensitive top-level field (Windows/ROADtools write `attributes`, others `Attributes`)."""
    if name in body:
        return body[name]
    low = name.lower()
    for k, v in body.items():
        if k.lower() == low:
            return v
    return None


def _prop(name: str, new: Any, old: Any = None) -> dict[str, Any]:
    import json

    return {"displayName": name, "oldValue": None if old is None else json.dumps([old]),
            "newValue": json.dumps([new])}


def _physical_ids(world, device_id: str) -> list[str]:
    gid = world.ids.randint(10 ** 15, 10 ** 16 - 1)
    hwid = world.ids.randint(10 ** 15, 10 ** 16 - 1)
    return [f"[USER-GID]:{device_id}:{gid}", f"[GID]:g:{gid}",
            f"[USER-HWID]:{device_id}:{hwid}", f"[HWID]:h:{hwid}"]


def _membership_changes(tenant, user) -> list[dict[str, Any]]:
    """Who becomes a local administrator of a joined device (device settings 'localAdmins')."""
    join = tenant.device_registration_policy.get("azureADJoin") or {}
    admins = join.get("localAdmins") or {}
    sids: list[str] = []
    if policy.becomes_local_admin(tenant, user):
        sids.append(certs.entra_sid(user.id))
    if admins.get("enableGlobalAdmins", True):
        # Inferred: real DRS adds the SID of the Global Administrator role; the model has no role
        # objects, so the SIDs of the users holding that role are added instead.
        ga = ROLE_TEMPLATES["Global Administrator"]
        # (Filtered before sorting: the same users in the same order, without sorting the directory.)
        for u in sorted((u for u in tenant.users.values() if ga in u.roles and u.account_enabled),
                        key=lambda u: u.id):
            sid = certs.entra_sid(u.id)
            if sid not in sids:
                sids.append(sid)
    return [{"LocalSID": LOCAL_ADMINISTRATORS_SID, "AddSIDs": sids}]


def _join_type(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidRequest(message="The JoinType value is not valid.")
    if isinstance(value, int):
        jt = value
    elif isinstance(value, str) and value.strip().isdigit():
        jt = int(value.strip())
    else:
        raise InvalidRequest(message="The required field 'JoinType' is missing or not valid.")
    if jt not in (JOIN_TYPE_JOIN, JOIN_TYPE_REGISTER):
        # Hybrid join (6) goes through PUT with ServerAdJoinData, which is not emulated.
        raise InvalidRequest(message=f"The JoinType '{jt}' is not supported for this request.")
    return jt


def _check_csr_nonce(world, csr) -> None:
    """A CSR MAY carry the DRS nonce (extension 1.2.840.113556.1.5.284.2.1, HB-SPEC); when it does,
    the nonce must be one this service issued less than five minutes ago.
    Inferred: the value's encoding is not published, so the nonce is accepted as text or as the
    bytes its base64 decodes to, bare or inside DER strings (see `_csr_nonce_candidates`). The
    extension is decoded once and each candidate looked up in `world.nonces` directly (no walk
    over the stored nonces)."""
    try:
        ext = csr.extensions.get_extension_for_oid(certs.OID_CSR_NONCE)
    except Exception:  # noqa: BLE001 - no extension (or unreadable extensions: the signature was valid)
        return
    raw = getattr(ext.value, "value", b"") or b""
    now = world.clock.timestamp()
    nonces = world.nonces
    for candidate in _csr_nonce_candidates(raw):
        issued = nonces.get(candidate)
        if issued is not None and now - issued <= NONCE_LIFETIME:
            return
    raise InvalidRequest(message="The nonce in the certificate request is not valid or has expired.")


#: Bytes a DRS nonce decodes to (`nonce` below issues base64 of this many random bytes).
DRS_NONCE_BYTES = 48
_NONCE_TEXT_RUN = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")


def _der_contents(data: bytes, depth: int = 0) -> list[bytes]:
    """The contents of the DER elements `data` is made of, nested ones included (best effort:
    anything that does not parse as DER is left alone)."""
    out: list[bytes] = []
    i, n = 0, len(data)
    while i < n and depth < 8:
        tag = data[i]
        if i + 1 >= n:
            break
        length = data[i + 1]
        j = i + 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4 or j + count > n:
                break
            length = int.from_bytes(data[j:j + count], "big")
            j += count
        if j + length > n:
            break
        content = data[j:j + length]
        out.append(content)
        if tag & 0x20 or tag in (0x03, 0x04):   # constructed, or a BIT/OCTET STRING that may wrap more DER
            inner = content[1:] if tag == 0x03 else content
            out.extend(_der_contents(inner, depth + 1))
        i = j + length
    return out


def _csr_nonce_candidates(raw: bytes) -> list[str]:
    """The nonce strings a CSR nonce extension value may stand for: the value (or the content of
    any DER string inside it) as text, the base64-looking runs in it, and the base64 of it as
    bytes (a nonce sent decoded), including any DRS_NONCE_BYTES-long slice of it."""
    parts = [raw, *_der_contents(raw)]
    out: list[str] = []
    for part in parts:
        if not part:
            continue
        for text in (part, part.strip(b" \t\r\n\0")):
            try:
                out.append(text.decode("utf-8"))
            except UnicodeDecodeError:
                pass
        out.extend(m.group().decode("ascii") for m in _NONCE_TEXT_RUN.finditer(part))
        out.append(base64.b64encode(part).decode("ascii"))
    for i in range(0, min(max(len(raw) - DRS_NONCE_BYTES + 1, 0), 4096)):   # bounded for huge values
        out.append(base64.b64encode(raw[i:i + DRS_NONCE_BYTES]).decode("ascii"))
    return list(dict.fromkeys(out))


def enroll_device(ctx) -> Response:
    """POST /EnrollmentServer/device/?api-version=1.0|2.0: Entra join (JoinType 0) or register (4)."""
    world = ctx.world
    try:
        # A v1 token's aud is the resource as the client named it: the urn (Windows, ROADtools) or
        # the DRS app id (AADInternals asks for resource 01cb2876-...).
        claims = validate_access_token(world, ctx.request.bearer_token, (DRS_RESOURCE, DRS_APP_ID))
    except TokenInvalid as exc:
        raise InvalidToken(message=f"The access token is not valid: {exc.detail or exc.reason}") from None

    try:
        body = ctx.request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):   # RecursionError: nesting too deep
        raise MessageFormatError(message="The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise MessageFormatError(message="The request body must be a JSON object.")

    join_type = _join_type(_field(body, "JoinType"))
    cr = _field(body, "CertificateRequest")
    if not isinstance(cr, dict) or not cr.get("Data"):
        raise InvalidRequest(message="The required field 'CertificateRequest' is missing.")
    if str(cr.get("Type", "pkcs10")).lower() != "pkcs10":
        raise InvalidRequest(message=f"The certificate request type '{cr.get('Type')}' is not supported.")
    tk_value = _field(body, "TransportKey")
    if not tk_value:
        raise InvalidRequest(message="The required field 'TransportKey' is missing.")
    display_name = _field(body, "DeviceDisplayName")
    if not isinstance(display_name, str) or not display_name.strip():
        raise InvalidRequest(message="The required field 'DeviceDisplayName' is missing.")
    os_version = str(_field(body, "OSVersion") or "")
    device_type = str(_field(body, "DeviceType") or "Windows")
    attributes = _field(body, "Attributes") or {}
    if not isinstance(attributes, dict):
        raise InvalidRequest(message="The field 'Attributes' must be an object.")
    try:
        csr = certs.parse_csr(cr["Data"])
        transport_raw, _ = certs.parse_transport_key(tk_value)
    except certs.KeyMaterialError as exc:
        raise MessageFormatError(message=str(exc)) from None
    _check_csr_nonce(world, csr)

    tenant = world.tenants.get(claims["tid"])
    user = tenant.users.get(claims.get("oid", "")) if tenant is not None else None
    if user is None:
        raise UserNotFound()
    if not user.account_enabled:
        raise UserDisabled()
    joined = join_type == JOIN_TYPE_JOIN
    if joined and not policy.may_join(tenant, user):
        raise UserNotAuthorizedToJoin()
    if not joined and not policy.may_register(tenant, user):
        raise UserNotAuthorizedToRegister()
    amr = claims.get("amr") or []
    if policy.mfa_required_to_join(tenant) and "mfa" not in amr:
        raise MfaRequired()
    # Cheap early refusal; the authoritative check is repeated under the lock below.
    if policy.device_quota_reached(tenant, user):
        raise DeviceQuotaExceeded()

    device_id = world.ids.guid()
    object_id = world.ids.guid()
    cert = certs.issue_device_certificate(world, tenant, csr.public_key(), device_id, user.id, joined=joined)
    cert_der = certs.der(cert)
    thumb = certs.thumbprint(cert_der)
    now = world.clock.now()
    device = DirectoryDevice(
        id=object_id, device_id=device_id, display_name=display_name.strip(),
        operating_system="Windows" if device_type.lower() == "windows" else device_type,
        operating_system_version=os_version, trust_type="AzureAd" if joined else "Workplace",
        account_enabled=True, registration_time=now, approximate_last_sign_in=now, owner_id=user.id,
        join_type=join_type, cert_thumbprint=thumb, cert_der=cert_der, transport_key=transport_raw,
        profile_type="RegisteredDevice", physical_ids=_physical_ids(world, device_id),
    )
    with world.lock:
        if policy.device_quota_reached(tenant, user):
            raise DeviceQuotaExceeded()
        tenant.devices[device.id] = device

    _audit_join(ctx, tenant, user, device, claims)
    out: dict[str, Any] = {
        "Certificate": {"Thumbprint": thumb, "RawBody": base64.b64encode(cert_der).decode()},
        "User": {"Upn": user.user_principal_name},
    }
    if joined and str(attributes.get("ReturnClientSid", "true")).lower() == "true":
        out["MembershipChanges"] = _membership_changes(tenant, user)
    return json_response(out, headers=_headers(ctx))


def _audit_join(ctx, tenant, user, device: DirectoryDevice, claims: dict[str, Any]) -> None:
    world = ctx.world
    corr = ctx.request.headers.get("client-request-id") or world.ids.guid()
    trust = "Azure AD joined" if device.trust_type == "AzureAd" else "Azure AD registered"
    events.record_audit(world, tenant, activity="Register device", category="Device",
                        service="Device Registration Service", operation_type="Add", initiated_by=user,
                        targets=[events.device_target(device)], correlation_id=corr,
                        details={"Device Id": device.device_id, "Device OS": device.operating_system,
                                 "Device Trust Type": trust, "AdditionalInfo": "Device registered"})
    events.record_audit(world, tenant, activity="Add device", category="Device", service="Core Directory",
                        operation_type="Add", app=DRS_APP, correlation_id=corr,
                        targets=[events.device_target(device, [
                            _prop("AccountEnabled", True), _prop("DeviceId", device.device_id),
                            _prop("DisplayName", device.display_name), _prop("DeviceOSType", device.operating_system),
                            _prop("DeviceOSVersion", device.operating_system_version),
                            _prop("DeviceTrustType", device.trust_type),
                        ])])
    events.record_audit(world, tenant, activity="Add registered owner to device", category="Device",
                        service="Core Directory", operation_type="Assign", app=DRS_APP, correlation_id=corr,
                        targets=[events.device_target(device), events.user_target(user)])
    events.record_audit(world, tenant, activity="Add registered users to device", category="Device",
                        service="Core Directory", operation_type="Assign", app=DRS_APP, correlation_id=corr,
                        targets=[events.device_target(device), events.user_target(user)])


# -- delete ------------------------------------------------------------------------------------

def delete_device(ctx) -> Response:
    """DELETE /EnrollmentServer/device/{deviceId}: authenticated by the device certificate (TLS client
    certificate). Intune's managed-device records are left alone (they go stale, as in Intune)."""
    world = ctx.world
    wanted = (ctx.params.get("device_id") or "").lower()
    raw = ctx.request.client_cert
    if not raw:
        raise InvalidClientCertificate(message="A client certificate is required to delete a device.")
    try:
        cert = certs.load_certificate(raw)
        cn = certs.verify_issued_by_drs(world, cert)
    except certs.KeyMaterialError as exc:
        raise InvalidClientCertificate(message=str(exc)) from None
    now = world.clock.now()
    if now > cert.not_valid_after_utc or now < cert.not_valid_before_utc - dt.timedelta(minutes=5):
        raise InvalidClientCertificate(message="The client certificate is not within its validity period.")
    if cn != wanted:
        raise InvalidClientCertificate(message=f"The client certificate was not issued for device {wanted}.")
    tid = certs.tenant_id_of(cert)
    tenant = world.tenants.get(tid) if tid else None
    with world.lock:
        device = tenant.device_by_device_id(wanted) if tenant is not None else None
        if device is None:
            raise DeviceNotFound(wanted)
        tenant.remove_object(tenant.devices, device.id)
    corr = ctx.request.headers.get("client-request-id") or world.ids.guid()
    owner = tenant.users.get(device.owner_id) if device.owner_id else None
    events.record_audit(world, tenant, activity="Unregister device", category="Device",
                        service="Device Registration Service", operation_type="Delete", initiated_by=owner,
                        targets=[events.device_target(device)], correlation_id=corr,
                        details={"Device Id": device.device_id, "AdditionalInfo": "Device unregistered"})
    events.record_audit(world, tenant, activity="Delete device", category="Device", service="Core Directory",
                        operation_type="Delete", app=DRS_APP, correlation_id=corr,
                        targets=[events.device_target(device)])
    # Inferred: the reference only says the 200 body carries AttestationResult.KeyId; we echo the device id.
    return json_response({"AttestationResult": {"KeyId": device.device_id}, "DeviceId": device.device_id},
                         headers=_headers(ctx))


# -- a method the endpoint does not take --------------------------------------------------------

def method_not_allowed(allowed: tuple[str, ...], get_handler=None):
    """Any other method on a DRS path: 405 with an ErrorDetails body and `Allow`.
    Inferred: the real body for this case is not published; ErrorType InvalidRequest (0x801C0001).
    HEAD on a GET endpoint is answered as GET (the transport drops the body)."""
    verbs = ", ".join(allowed)

    def handler(ctx) -> Response:
        if ctx.request.method == "HEAD" and get_handler is not None:
            return get_handler(ctx)
        resp = InvalidRequest(405, message=f"The HTTP method '{ctx.request.method[:16]}' is not allowed for this "
                                           f"resource; use {verbs}.").to_response(ctx)
        resp.headers["Allow"] = verbs
        return resp

    return handler

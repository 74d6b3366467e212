"""Model objects -> Graph JSON (graph-intune.md §1, §5, §6, §7), and the OData specs saying which
properties each resource lets `$filter`/`$orderby`/`$search` use."""
from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter, is_
from typing import Any

from ...world.clock import iso_z
from ...world.models import KNOWN_SKUS, ROLE_TEMPLATES, DirectoryDevice, Group, ManagedDevice, Tenant, User
from .odata import Prop, ResourceSpec, select_fields


def _t(d: _dt.datetime | None) -> str | None:
    return iso_z(d) if d is not None else None


def _ops(s: str) -> frozenset[str]:
    return frozenset(s.split())


# -- device ----------------------------------------------------------------------------------------

EXTENSION_ATTRIBUTES = [f"extensionAttribute{i}" for i in range(1, 16)]


def _alt_security_ids(d: DirectoryDevice) -> list[dict[str, Any]]:
    if not d.cert_thumbprint:
        return []
    # Inferred: the key Entra stores is UTF-16 text naming the device certificate's thumbprint and
    # the public key hash; we derive the second part from the certificate bytes we hold.
    pk = hashlib.sha256(d.cert_der or d.cert_thumbprint.encode()).digest()
    text = f"X509:<SHA1-TP-PUBKEY>{d.cert_thumbprint}{base64.b64encode(pk).decode()}"
    return [{"type": 2, "identityProvider": None, "key": base64.b64encode(text.encode("utf-16-le")).decode()}]


def device_json(d: DirectoryDevice, version: str = "v1.0") -> dict[str, Any]:
    ext = {k: d.extension_attributes.get(k) for k in EXTENSION_ATTRIBUTES}
    out: dict[str, Any] = {
        "id": d.id,
        "deletedDateTime": None,
        "accountEnabled": d.account_enabled,
        "approximateLastSignInDateTime": _t(d.approximate_last_sign_in or d.registration_time),
        "complianceExpirationDateTime": None,
        # Inferred: createdDateTime is returned on v1.0 devices (orderable per GD advanced queries)
        # and equals the registration time for devices created by DRS.
        "createdDateTime": _t(d.registration_time),
        "deviceCategory": None,
        "deviceId": d.device_id,
        "deviceMetadata": None,
        "deviceOwnership": d.device_ownership,
        "deviceVersion": 2,
        "displayName": d.display_name,
        "domainName": None,
        "enrollmentProfileName": None,
        "enrollmentType": d.enrollment_type,
        "externalSourceName": None,
        "isCompliant": d.is_compliant,
        "isManaged": d.is_managed,
        "isRooted": False,
        "managementType": d.management_type,
        "manufacturer": d.manufacturer,
        "mdmAppId": d.mdm_app_id,
        "model": d.model,
        "onPremisesLastSyncDateTime": None,
        "onPremisesSyncEnabled": None,
        "operatingSystem": d.operating_system,
        "operatingSystemVersion": d.operating_system_version,
        "physicalIds": list(d.physical_ids),
        "profileType": d.profile_type,
        "registrationDateTime": _t(d.registration_time),
        "sourceType": None,
        "systemLabels": [],
        "trustType": d.trust_type,
        "extensionAttributes": ext,
        "alternativeSecurityIds": _alt_security_ids(d),
    }
    return out


#: Properties returned only when named in $select.
DEVICE_SELECT_ONLY = ("isManagementRestricted", "onPremisesSecurityIdentifier", "hostnames")


def device_selected_extra(d: DirectoryDevice) -> dict[str, Any]:
    return {"isManagementRestricted": False, "onPremisesSecurityIdentifier": None, "hostnames": []}


def device_full(d: DirectoryDevice, version: str = "v1.0") -> dict[str, Any]:
    out = device_json(d, version)
    out.update(device_selected_extra(d))
    return out


# -- cached device JSON -------------------------------------------------------------------------------
# A device's JSON texts are kept on the object (`_json` in its __dict__, outside the dataclass fields)
# with a fingerprint of what they were made from: the tuple of the instance's attribute values
# (compared with ==, which takes the same object as equal at once), the bool/int fields once more by
# identity (True == 1, but they encode apart), and copies of the two mutable fields (physicalIds,
# extensionAttributes) compared by value. Any change to a device, by assignment or in place, makes
# the fingerprint differ and the text is made again, so nothing has to announce changes. A text is
# what `json.dumps` gives for the dict the uncached path builds, so a page assembled from them is
# byte for byte what `ok()` encodes.

_exact_fields = attrgetter(*[f.name for f in dataclasses.fields(DirectoryDevice)
                             if "bool" in str(f.type) or "int" in str(f.type)])
#: Distinct (version, $select) texts kept per device; others are made without being kept.
DEVICE_JSON_VARIANTS = 4


def _encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _cached_texts(d: DirectoryDevice) -> dict | None:
    """The texts cached for the device's current state, or None."""
    attrs = d.__dict__
    holder = attrs.get("_json")
    if holder is None:
        return None
    e = holder[0]
    if (e is not None and e[0] == tuple(attrs.values()) and all(map(is_, e[1], _exact_fields(d)))
            and e[2] == d.physical_ids and e[3] == d.extension_attributes):
        return e[4]
    return None


def device_fragment(d: DirectoryDevice, version: str, fields: tuple[str, ...] | None) -> bytes:
    """The JSON text of one device in a collection page: `device_json(d, version)` when `fields` is
    None, else `select_fields(device_full(d, version), list(fields))`."""
    key = (version, fields)
    texts = _cached_texts(d)
    if texts is not None:
        text = texts.get(key)
        if text is not None:
            return text
    attrs = d.__dict__
    holder = attrs.get("_json")
    if holder is None:
        # One holder per object, in place before the fingerprint is read (it is part of it);
        # each state is swapped in whole, so threads never see half of one.
        holder = attrs.setdefault("_json", [None])
    state = (tuple(attrs.values()), _exact_fields(d), list(d.physical_ids), dict(d.extension_attributes))
    if fields is None:
        text = _encode(device_json(d, version))
    else:
        text = _encode(select_fields(device_full(d, version), list(fields)))
    if _same_state(d, state):  # unchanged while the text was made: keep it
        if texts is None:
            texts = {}
            holder[0] = (*state, texts)
        if len(texts) < DEVICE_JSON_VARIANTS:
            texts[key] = text
    return text


def _same_state(d: DirectoryDevice, state: tuple) -> bool:
    return (state[0] == tuple(d.__dict__.values()) and all(map(is_, state[1], _exact_fields(d)))
            and state[2] == d.physical_ids and state[3] == d.extension_attributes)


def device_fragments(devices: list[DirectoryDevice], version: str, fields: tuple[str, ...] | None) -> list[bytes]:
    """`[device_fragment(d, version, fields) for d in devices]`."""
    key = (version, fields)
    out = []
    append = out.append
    for d in devices:
        texts = _cached_texts(d)
        text = texts.get(key) if texts is not None else None
        append(text if text is not None else device_fragment(d, version, fields))
    return out


_attrs = attrgetter("__dict__")
_phys = attrgetter("physical_ids")
_ext = attrgetter("extension_attributes")
#: Pages remembered per tenant by `device_page_text`.
DEVICE_PAGES_KEPT = 32


def _page_state(devices: list[DirectoryDevice]) -> tuple:
    return (list(map(tuple, map(dict.values, map(_attrs, devices)))),
            list(chain.from_iterable(map(_exact_fields, devices))),
            list(map(list, map(_phys, devices))), list(map(dict, map(_ext, devices))))


def device_page_text(cache: dict, devices: list[DirectoryDevice], version: str,
                     fields: tuple[str, ...] | None) -> bytes:
    """`b",".join(device_fragments(devices, version, fields))`, remembered in `cache` (one per
    tenant) for the same devices in the same order, with the same checks as each device's text
    made for the page at once (C-level passes over the page)."""
    key = (version, fields, tuple(map(id, devices)))   # the entry holds the devices: ids stay theirs
    hit = cache.get(key)
    if hit is not None:
        attrs, exact, phys, ext, text = hit[1]
        if (attrs == list(map(tuple, map(dict.values, map(_attrs, devices))))
                and all(map(is_, exact, chain.from_iterable(map(_exact_fields, devices))))
                and phys == list(map(_phys, devices)) and ext == list(map(_ext, devices))):
            return text
    for d in devices:  # each device's holder first: it is part of the state read next
        if "_json" not in d.__dict__:
            d.__dict__.setdefault("_json", [None])
    state = _page_state(devices)
    text = b",".join(device_fragments(devices, version, fields))
    if _page_state(devices) == state:
        if len(cache) >= DEVICE_PAGES_KEPT:
            try:  # drop the oldest (another thread may be changing the dict: then skip)
                del cache[next(iter(cache))]
            except (RuntimeError, StopIteration, KeyError):
                pass
        cache[key] = (devices, (*state, text))
    return text


_g = attrgetter
DEVICE_SPEC = ResourceSpec(
    "device", "Device",
    {
        "id": Prop(_g("id"), _ops("eq ne not in")),
        "accountEnabled": Prop(_g("account_enabled"), _ops("eq ne not in")),
        "approximateLastSignInDateTime": Prop(lambda d: d.approximate_last_sign_in or d.registration_time,
                                              _ops("eq ne not ge le null"), orderby="advanced"),
        "createdDateTime": Prop(_g("registration_time"), _ops(""), orderby="advanced"),
        "deletedDateTime": Prop(lambda d: None, _ops(""), orderby="advanced"),
        "registrationDateTime": Prop(_g("registration_time"), _ops("")),
        "deviceId": Prop(_g("device_id"), _ops("eq ne not startsWith in")),
        "displayName": Prop(_g("display_name"), _ops("eq ne not ge le in startsWith endsWith null"),
                            orderby="advanced", search=True),
        "isCompliant": Prop(_g("is_compliant"), _ops("eq ne not")),
        "isManaged": Prop(_g("is_managed"), _ops("eq ne not")),
        "mdmAppId": Prop(_g("mdm_app_id"), _ops("eq ne not startsWith")),
        "operatingSystem": Prop(_g("operating_system"), _ops("eq ne not ge le startsWith null in")),
        "operatingSystemVersion": Prop(_g("operating_system_version"), _ops("eq ne not ge le startsWith null in")),
        "trustType": Prop(_g("trust_type"), _ops("eq ne not in")),
        "profileType": Prop(_g("profile_type"), _ops("eq ne not in")),
        "deviceOwnership": Prop(_g("device_ownership"), _ops("eq")),
        "enrollmentType": Prop(_g("enrollment_type"), _ops("eq")),
        "managementType": Prop(_g("management_type"), _ops("eq")),
        "manufacturer": Prop(_g("manufacturer"), _ops("")),
        "model": Prop(_g("model"), _ops("")),
        # physicalIds/any(p:startswith(p,'[ZTDID]')) is how Autopilot tooling finds devices.
        "physicalIds": Prop(_g("physical_ids"), _ops("any"), elements={"": _ops("eq startsWith ge le")}),
        "systemLabels": Prop(lambda d: [], _ops("any"), elements={"": _ops("eq")}),
    },
    selectable=tuple(list(device_json(DirectoryDevice("", "", "")).keys()) + list(DEVICE_SELECT_ONLY)),
)
for _i, _name in enumerate(EXTENSION_ATTRIBUTES):
    DEVICE_SPEC.props[f"extensionAttributes/{_name}"] = Prop(
        (lambda n: (lambda d: d.extension_attributes.get(n)))(_name), _ops("eq not startsWith null in"))
DEVICE_SPEC.__post_init__()


# -- user ------------------------------------------------------------------------------------------

USER_DEFAULT = ("businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
                "officeLocation", "preferredLanguage", "surname", "userPrincipalName")


def assigned_licenses(u: User) -> list[dict[str, Any]]:
    return [{"disabledPlans": [], "skuId": KNOWN_SKUS[p].sku_id} for p in u.licenses if p in KNOWN_SKUS]


def assigned_plans(u: User) -> list[dict[str, Any]]:
    out = []
    when = _t(u.created) or "2024-01-01T00:00:00Z"
    for p in u.licenses:
        sku = KNOWN_SKUS.get(p)
        if not sku:
            continue
        for plan_id, plan_name in sku.service_plans:
            service = "SCO" if plan_name.startswith("INTUNE") else ("AADPremiumService" if "AAD" in plan_name
                                                                     else plan_name)
            out.append({"assignedDateTime": when, "capabilityStatus": "Enabled", "service": service,
                        "servicePlanId": plan_id})
    return out


def user_full(u: User) -> dict[str, Any]:
    return {
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": u.given_name or None,
        "id": u.id,
        "jobTitle": u.job_title,
        "mail": u.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": u.surname or None,
        "userPrincipalName": u.user_principal_name,
        "accountEnabled": u.account_enabled,
        "assignedLicenses": assigned_licenses(u),
        "assignedPlans": assigned_plans(u),
        "createdDateTime": _t(u.created),
        "creationType": None,
        "deletedDateTime": None,
        "department": None,
        "employeeId": None,
        "mailNickname": u.mail_nickname,
        "onPremisesSyncEnabled": None,
        "otherMails": [],
        "proxyAddresses": [f"SMTP:{u.mail}"],
        "usageLocation": u.usage_location or None,
        "userType": "Member",
    }


def user_json(u: User) -> dict[str, Any]:
    full = user_full(u)
    return {k: full[k] for k in USER_DEFAULT}


USER_SPEC = ResourceSpec(
    "user", "User",
    {
        "id": Prop(_g("id"), _ops("eq ne not in")),
        "displayName": Prop(_g("display_name"), _ops("eq ne not ge le in startsWith endsWith null"),
                            orderby="basic", search=True),
        "userPrincipalName": Prop(_g("user_principal_name"), _ops("eq ne not ge le in startsWith endsWith"),
                                  orderby="basic", search=True),
        "mail": Prop(lambda u: u.mail, _ops("eq ne not ge le in startsWith endsWith null"), search=True),
        "givenName": Prop(_g("given_name"), _ops("eq ne not ge le in startsWith null"), search=True),
        "surname": Prop(_g("surname"), _ops("eq ne not ge le in startsWith null"), search=True),
        "accountEnabled": Prop(_g("account_enabled"), _ops("eq ne not in")),
        "usageLocation": Prop(lambda u: u.usage_location or None, _ops("eq ne not ge le in startsWith null")),
        "jobTitle": Prop(_g("job_title"), _ops("eq ne not ge le in startsWith null"), search=True),
        "mailNickname": Prop(lambda u: u.mail_nickname, _ops("eq ne not ge le in startsWith null"), search=True),
        "createdDateTime": Prop(_g("created"), _ops("eq ne not ge le in null"), orderby="advanced"),
        "proxyAddresses": Prop(lambda u: [f"SMTP:{u.mail}"], _ops("any"), elements={"": _ops("eq startsWith")}),
        "otherMails": Prop(lambda u: [], _ops("any"), elements={"": _ops("eq startsWith")}),
        "assignedLicenses": Prop(lambda u: assigned_licenses(u), _ops("any"),
                                 elements={"skuId": _ops("eq"), "disabledPlans": _ops("")}),
        "assignedPlans": Prop(lambda u: assigned_plans(u), _ops("any"),
                              elements={"servicePlanId": _ops("eq"), "capabilityStatus": _ops("eq"),
                                        "service": _ops("eq")}),
    },
    selectable=tuple(user_full(User("", "", "", "")).keys()),
)


# -- group -----------------------------------------------------------------------------------------

def group_json(g: Group) -> dict[str, Any]:
    return {
        "id": g.id, "deletedDateTime": None, "classification": None, "createdDateTime": None,
        "creationOptions": [], "description": g.description, "displayName": g.display_name,
        "expirationDateTime": None, "groupTypes": [], "isAssignableToRole": None, "mail": None,
        "mailEnabled": False, "mailNickname": g.mail_nickname or g.display_name.replace(" ", ""),
        "membershipRule": None, "membershipRuleProcessingState": None, "onPremisesDomainName": None,
        "onPremisesLastSyncDateTime": None, "onPremisesNetBiosName": None, "onPremisesSamAccountName": None,
        "onPremisesSecurityIdentifier": None, "onPremisesSyncEnabled": None, "preferredDataLocation": None,
        "preferredLanguage": None, "proxyAddresses": [], "renewedDateTime": None,
        "resourceBehaviorOptions": [], "resourceProvisioningOptions": [], "securityEnabled": g.security_enabled,
        "securityIdentifier": None, "theme": None, "visibility": None, "onPremisesProvisioningErrors": [],
        "serviceProvisioningErrors": [],
    }


GROUP_SPEC = ResourceSpec(
    "group", "Group",
    {
        "id": Prop(_g("id"), _ops("eq ne not in")),
        "displayName": Prop(_g("display_name"), _ops("eq ne not ge le in startsWith endsWith null"),
                            orderby="basic", search=True),
        "description": Prop(_g("description"), _ops("eq ne not ge le in startsWith"), search=True),
        "mailNickname": Prop(_g("mail_nickname"), _ops("eq ne not ge le in startsWith null"), search=True),
        "securityEnabled": Prop(_g("security_enabled"), _ops("eq ne not in")),
        "createdDateTime": Prop(lambda g: None, _ops(""), orderby="advanced"),
    },
    selectable=tuple(group_json(Group("", "")).keys()),
)


_ROLE_NAMES = {v: k for k, v in ROLE_TEMPLATES.items()}


@dataclass
class DirectoryRole:
    """An activated directory role of a tenant (`#microsoft.graph.directoryRole`)."""

    id: str
    template_id: str
    display_name: str


def directory_role(tenant: Tenant, template_id: str) -> DirectoryRole:
    # Inferred: an activated role's object id differs per tenant; we derive a stable one.
    rid = str(uuid.uuid5(uuid.UUID(tenant.id), f"directoryRole:{template_id}"))
    return DirectoryRole(rid, template_id, _ROLE_NAMES.get(template_id, "Directory role"))


def directory_role_json(r: DirectoryRole) -> dict[str, Any]:
    return {"id": r.id, "deletedDateTime": None, "description": f"{r.display_name} role.",
            "displayName": r.display_name, "roleTemplateId": r.template_id}


def activated_roles(tenant: Tenant) -> list[DirectoryRole]:
    seen: dict[str, DirectoryRole] = {}
    for u in tenant.users.values():
        for tid in u.roles:
            if tid not in seen:
                seen[tid] = directory_role(tenant, tid)
    return list(seen.values())


def directory_object(tenant: Tenant, obj: Any) -> dict[str, Any]:
    """A member of a directoryObject collection, with its @odata.type."""
    if isinstance(obj, DirectoryRole):
        return {"@odata.type": "#microsoft.graph.directoryRole", **directory_role_json(obj)}
    if isinstance(obj, DirectoryDevice):
        return {"@odata.type": "#microsoft.graph.device", **device_json(obj)}
    if isinstance(obj, User):
        return {"@odata.type": "#microsoft.graph.user", **user_json(obj)}
    if isinstance(obj, Group):
        return {"@odata.type": "#microsoft.graph.group", **group_json(obj)}
    raise TypeError(obj)


# A spec for polymorphic directoryObject collections (members, memberOf, registeredDevices).
def _dobj_name(o):
    return getattr(o, "display_name", None)


DIRECTORY_OBJECT_SPEC = ResourceSpec(
    "directoryObject", "DirectoryObject",
    {"id": Prop(_g("id"), _ops("eq ne not in")),
     "displayName": Prop(_dobj_name, _ops("eq ne not ge le in startsWith endsWith null"), orderby="advanced",
                         search=True)},
    selectable=tuple(sorted(set(device_json(DirectoryDevice("", "", "")).keys()) | set(user_full(User("", "", "", "")).keys())
                            | set(group_json(Group("", "")).keys()))),
)


# -- licences --------------------------------------------------------------------------------------

def license_details(u: User) -> list[dict[str, Any]]:
    out = []
    for p in u.licenses:
        sku = KNOWN_SKUS.get(p)
        if not sku:
            continue
        # Inferred: licenseDetails ids are opaque; we derive a stable one from user and SKU.
        lid = base64.urlsafe_b64encode(hashlib.sha256(f"{u.id}:{sku.sku_id}".encode()).digest()[:32]).decode().rstrip("=")
        out.append({"id": lid, "skuId": sku.sku_id, "skuPartNumber": sku.part_number,
                    "servicePlans": [{"servicePlanId": pid, "servicePlanName": name, "provisioningStatus": "Success",
                                      "appliesTo": "User"} for pid, name in sku.service_plans]})
    return out


def subscribed_skus(tenant: Tenant) -> list[dict[str, Any]]:
    out = []
    for part, units in tenant.subscriptions.items():
        sku = KNOWN_SKUS.get(part)
        if not sku:
            continue
        consumed = sum(1 for u in tenant.users.values() if part in u.licenses)
        out.append({
            "accountName": tenant.display_name.replace(" ", ""), "accountId": tenant.id, "appliesTo": "User",
            "capabilityStatus": "Enabled", "consumedUnits": consumed, "id": f"{tenant.id}_{sku.sku_id}",
            "skuId": sku.sku_id, "skuPartNumber": sku.part_number, "subscriptionIds": [],
            "prepaidUnits": {"enabled": units, "lockedOut": 0, "suspended": 0, "warning": 0},
            "servicePlans": [{"servicePlanId": pid, "servicePlanName": name, "provisioningStatus": "Success",
                              "appliesTo": "User"} for pid, name in sku.service_plans],
        })
    return out


def organization_json(tenant: Tenant) -> dict[str, Any]:
    domains = []
    for d in tenant.domains:
        initial = d == tenant.initial_domain
        domains.append({"capabilities": "Email, OfficeCommunicationsOnline" if initial else "Email",
                        "isDefault": d == tenant.domains[-1], "isInitial": initial, "name": d,
                        "type": "Managed"})
    return {
        "id": tenant.id, "deletedDateTime": None, "businessPhones": [], "city": None, "country": None,
        "countryLetterCode": "US", "createdDateTime": None, "defaultUsageLocation": None,
        "displayName": tenant.display_name, "marketingNotificationEmails": [], "onPremisesLastSyncDateTime": None,
        "onPremisesSyncEnabled": None, "partnerTenantType": None, "postalCode": None,
        "preferredLanguage": "en", "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [], "state": None, "street": None, "technicalNotificationMails": [],
        "tenantType": "AAD",
        "directorySizeQuota": {"used": len(tenant.users) + len(tenant.devices) + len(tenant.groups), "total": 300000},
        "assignedPlans": [], "privacyProfile": None, "provisionedPlans": [], "verifiedDomains": domains,
        "mobileDeviceManagementAuthority": "intune" if tenant.intune_enabled else "unknown",
    }


# -- managedDevice ---------------------------------------------------------------------------------

def managed_device_json(m: ManagedDevice, version: str = "v1.0") -> dict[str, Any]:
    out: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.managedDevice",
        "id": m.id,
        "userId": m.user_id,
        "deviceName": m.device_name,
        "managedDeviceOwnerType": m.owner_type,
        "enrolledDateTime": _t(m.enrolled),
        "lastSyncDateTime": _t(m.last_sync),
        "operatingSystem": m.operating_system,
        "complianceState": m.compliance_state,
        "jailBroken": "Unknown",
        "managementAgent": m.management_agent,
        "osVersion": m.os_version,
        "easActivated": False,
        "easDeviceId": None,
        "easActivationDateTime": "0001-01-01T00:00:00Z",
        "azureADRegistered": True,
        "deviceEnrollmentType": m.enrollment_type,
        "activationLockBypassCode": None,
        "emailAddress": m.user_principal_name,
        "azureADDeviceId": m.azure_ad_device_id,
        "deviceRegistrationState": "registered",
        "deviceCategoryDisplayName": "Unknown Category",
        "isSupervised": False,
        "exchangeLastSuccessfulSyncDateTime": "0001-01-01T00:00:00Z",
        "exchangeAccessState": "none",
        "exchangeAccessStateReason": "none",
        "remoteAssistanceSessionUrl": None,
        "remoteAssistanceSessionErrorDetails": None,
        "isEncrypted": False,
        "userPrincipalName": m.user_principal_name,
        "model": m.model,
        "manufacturer": m.manufacturer,
        "imei": "",
        "complianceGracePeriodExpirationDateTime": "9999-12-31T23:59:59Z",
        "serialNumber": m.serial_number,
        "phoneNumber": "",
        "androidSecurityPatchLevel": "",
        "userDisplayName": m.user_display_name,
        "configurationManagerClientEnabledFeatures": None,
        "wiFiMacAddress": "",
        "deviceHealthAttestationState": None,
        "subscriberCarrier": "",
        "meid": "",
        "totalStorageSpaceInBytes": 136365211648,
        "freeStorageSpaceInBytes": 100000000000,
        "managedDeviceName": f"{(m.user_principal_name or 'user').split('@')[0]}_Windows_"
                             f"{m.enrolled.strftime('%-m/%-d/%Y_%-I:%M %p')}",
        "partnerReportedThreatState": "unknown",
        "requireUserEnrollmentApproval": None,
        "managementCertificateExpirationDate": _t(m.enrolled + _dt.timedelta(days=365)),
        "iccid": None,
        "udid": None,
        "notes": None,
        "ethernetMacAddress": None,
        "physicalMemoryInBytes": 0,
        "enrollmentProfileName": None,
        "deviceActionResults": [],
    }
    if version == "beta":
        out["joinType"] = m.join_type
        out["skuFamily"] = ""
        out["skuNumber"] = 0
        out["processorArchitecture"] = "x64"
        out["managementCertificateExpirationDate"] = out["managementCertificateExpirationDate"]
    return out


MANAGED_DEVICE_SPEC = ResourceSpec(
    "managedDevice", "ManagedDevice",
    {
        "id": Prop(_g("id"), _ops("eq ne")),
        "deviceName": Prop(_g("device_name"), _ops("eq ne startsWith endsWith"), orderby="basic"),
        "userId": Prop(_g("user_id"), _ops("eq ne")),
        "userPrincipalName": Prop(_g("user_principal_name"), _ops("eq ne startsWith"), orderby="basic"),
        "azureADDeviceId": Prop(_g("azure_ad_device_id"), _ops("eq ne")),
        "operatingSystem": Prop(_g("operating_system"), _ops("eq ne startsWith"), orderby="basic"),
        "osVersion": Prop(_g("os_version"), _ops("eq ne startsWith")),
        "complianceState": Prop(_g("compliance_state"), _ops("eq ne")),
        "managementAgent": Prop(_g("management_agent"), _ops("eq ne")),
        "serialNumber": Prop(_g("serial_number"), _ops("eq ne startsWith")),
        "enrolledDateTime": Prop(_g("enrolled"), _ops("eq ne gt ge lt le"), orderby="basic"),
        "lastSyncDateTime": Prop(_g("last_sync"), _ops("eq ne gt ge lt le"), orderby="basic"),
        "deviceEnrollmentType": Prop(_g("enrollment_type"), _ops("eq ne")),
        "managedDeviceOwnerType": Prop(_g("owner_type"), _ops("eq ne")),
    },
    selectable=tuple(k for k in managed_device_json(ManagedDevice("", "", None, None, None, "",
                                                                  _dt.datetime(2000, 1, 1), _dt.datetime(2000, 1, 1),
                                                                  ""), "beta") if not k.startswith("@")),
    # Intune: advanced params are a directory notion; operators are plain.
    # Inferred: Intune pages managedDevices by 1000.
    default_top=1000, max_top=1000,
    filter_orderby_advanced=False,
    advanced_ops=frozenset(),
    count_needs_header=False,
    supports=frozenset({"$select", "$filter", "$top", "$skiptoken", "$orderby", "$count"}),
)
# Intune compares case-insensitively too, and treats ne/endsWith as ordinary operators.
MANAGED_DEVICE_SPEC.case_insensitive = True

_BOOLEANS = {"accountEnabled", "isCompliant", "isManaged", "securityEnabled"}
_STRINGS = {"displayName", "userPrincipalName", "deviceId", "operatingSystem", "operatingSystemVersion", "trustType",
            "mail", "givenName", "surname", "mailNickname", "profileType", "deviceName", "mdmAppId"}
for _spec in (DEVICE_SPEC, USER_SPEC, GROUP_SPEC, DIRECTORY_OBJECT_SPEC, MANAGED_DEVICE_SPEC):
    for _name, _prop in _spec.props.items():
        if _name in _BOOLEANS:
            _prop.edm = "Edm.Boolean"
        elif _name in _STRINGS:
            _prop.edm = "Edm.String"

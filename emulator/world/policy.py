"""Where the tenant's decisions are made. One function per question, each called by the service
that must decide and tested on its own:

- may this user join a device?                      `may_join`
- is the user's device quota reached?               `device_quota_reached`
- must the user do MFA to join?                     `mfa_required_to_join`
- which conditional access policies apply, and what do they demand?   `evaluate_conditional_access`
- is this user in the MDM user scope?               `in_mdm_scope`
- does the user hold an Intune licence?             `has_intune_license`
- does an Intune enrollment restriction stop this enrollment?         `enrollment_restriction`
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import (
    INTUNE_A_PLAN,
    INTUNE_APP_ID,
    INTUNE_ENROLLMENT_APP_ID,
    KNOWN_SKUS,
    DirectoryDevice,
    Tenant,
    User,
)

ALL = "#microsoft.graph.allDeviceRegistrationMembership"
NONE = "#microsoft.graph.noDeviceRegistrationMembership"
ENUMERATED = "#microsoft.graph.enumeratedDeviceRegistrationMembership"

REGISTER_DEVICE_ACTION = "urn:user:registerdevice"


def _membership_allows(membership: dict[str, Any] | None, tenant: Tenant, user: User) -> bool:
    kind = (membership or {}).get("@odata.type", ALL)
    if kind == ALL:
        return True
    if kind == NONE:
        return False
    if user.id in membership.get("users", []):
        return True
    user_groups = {g.id for g in tenant.groups_of(user.id)}
    return bool(user_groups.intersection(membership.get("groups", [])))


# -- device registration policy ----------------------------------------------------------------

def may_join(tenant: Tenant, user: User) -> bool:
    """'Users may join devices to Microsoft Entra ID': All, None, or Selected users/groups."""
    join = tenant.device_registration_policy.get("azureADJoin") or {}
    return _membership_allows(join.get("allowedToJoin"), tenant, user)


def may_register(tenant: Tenant, user: User) -> bool:
    reg = tenant.device_registration_policy.get("azureADRegistration") or {}
    return _membership_allows(reg.get("allowedToRegister"), tenant, user)


def becomes_local_admin(tenant: Tenant, user: User) -> bool:
    """'Registering user is added as local administrator on the device during Microsoft Entra join'."""
    admins = (tenant.device_registration_policy.get("azureADJoin") or {}).get("localAdmins") or {}
    return _membership_allows(admins.get("registeringUsers"), tenant, user)


def device_quota(tenant: Tenant) -> int:
    """'Maximum number of devices' per user. A PUT that leaves the quota out stores 0."""
    return int(tenant.device_registration_policy.get("userDeviceQuota", 0) or 0)


def devices_counted_for_quota(tenant: Tenant, user: User) -> list[DirectoryDevice]:
    """Joined and registered devices owned by the user; stale and disabled ones count too.
    Hybrid joined (ServerAd) devices do not count (DEVSET-DOC)."""
    return [d for d in tenant.devices_owned_by(user.id) if d.trust_type in ("AzureAd", "Workplace")]


def device_quota_reached(tenant: Tenant, user: User) -> bool:
    return len(devices_counted_for_quota(tenant, user)) >= device_quota(tenant)


def mfa_required_to_join(tenant: Tenant) -> bool:
    """The device setting 'Require multifactor authentication to register or join devices'."""
    return tenant.device_registration_policy.get("multiFactorAuthConfiguration") == "required"


# -- conditional access ------------------------------------------------------------------------

@dataclass
class CaOutcome:
    """What conditional access demands of one sign-in."""

    applied: list[dict[str, Any]] = field(default_factory=list)  # signIn.appliedConditionalAccessPolicies
    block: bool = False
    mfa: bool = False
    compliant_device: bool = False
    domain_joined_device: bool = False
    #: Policy ids that demanded something (for the `capolids` claims challenge).
    policy_ids: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.applied or all(p["result"] in ("notApplied", "notEnabled") or p["result"].startswith("report")
                                   for p in self.applied):
            return "notApplied"
        return "failure" if any(p["result"] == "failure" for p in self.applied) else "success"


_GRANT_NAMES = {"mfa": "Require multifactor authentication", "compliantDevice": "Require device to be marked as compliant",
                "domainJoinedDevice": "Require Hybrid Azure AD joined device", "block": "Block",
                "approvedApplication": "Require approved client app", "compliantApplication": "Require app protection policy",
                "passwordChange": "Require password change"}


def _user_targeted(users: dict[str, Any], tenant: Tenant, user: User) -> bool:
    gids = {g.id for g in tenant.groups_of(user.id)}
    inc_users = users.get("includeUsers") or []
    targeted = ("All" in inc_users or user.id in inc_users
                or bool(gids.intersection(users.get("includeGroups") or []))
                or bool(set(user.roles).intersection(users.get("includeRoles") or [])))
    if not targeted:
        return False
    if user.id in (users.get("excludeUsers") or []):
        return False
    if gids.intersection(users.get("excludeGroups") or []):
        return False
    if set(user.roles).intersection(users.get("excludeRoles") or []):
        return False
    return True


def _app_targeted(apps: dict[str, Any], resource_app_id: str | None, user_action: str | None) -> bool:
    if user_action:
        return user_action in (apps.get("includeUserActions") or [])
    inc = apps.get("includeApplications") or []
    exc = apps.get("excludeApplications") or []
    if resource_app_id in exc:
        return False
    if "All" in inc or resource_app_id in inc:
        return True
    if "Office365" in inc and resource_app_id and resource_app_id.endswith("-0000-0ff1-ce00-000000000000"):
        return True
    return False


def evaluate_conditional_access(tenant: Tenant, user: User, resource_app_id: str | None, *,
                                user_action: str | None = None, device: DirectoryDevice | None = None,
                                mfa_done: bool = False, platform: str = "windows",
                                client_app: str = "mobileAppsAndDesktopClients") -> CaOutcome:
    """Evaluate every policy for one sign-in and report, per policy, what it demands.

    Policies on the 'Register or join devices' user action are evaluated only for that action
    (`user_action="urn:user:registerdevice"`); other policies target resources by app id. The
    Intune enrollment apps are exempt from the compliant-device grant, as the real service does
    (graph-intune.md §3, entra-docs device-compliance policy note).
    """
    out = CaOutcome()
    for pol in tenant.conditional_access_policies:
        state = pol.get("state", "enabled")
        cond = pol.get("conditions") or {}
        grant = pol.get("grantControls") or {}
        controls = list(grant.get("builtInControls") or [])
        entry = {"id": pol.get("id"), "displayName": pol.get("displayName"),
                 "enforcedGrantControls": [_GRANT_NAMES.get(c, c) for c in controls],
                 "enforcedSessionControls": [], "result": "notApplied"}
        if state == "disabled":
            entry["result"] = "notEnabled"
            out.applied.append(entry)
            continue
        applies = (_user_targeted(cond.get("users") or {}, tenant, user)
                   and _app_targeted(cond.get("applications") or {}, resource_app_id, user_action))
        plats = cond.get("platforms")
        if applies and plats:
            inc, exc = plats.get("includePlatforms") or [], plats.get("excludePlatforms") or []
            applies = ("all" in inc or platform in inc) and platform not in exc
        cats = cond.get("clientAppTypes") or ["all"]
        if applies and "all" not in cats and client_app not in cats:
            applies = False
        if not applies:
            out.applied.append(entry)
            continue
        # What would satisfy this policy?
        satisfied = {
            "block": False,
            "mfa": mfa_done,
            "compliantDevice": bool(device and device.is_compliant)
            or resource_app_id in (INTUNE_APP_ID, INTUNE_ENROLLMENT_APP_ID),
            "domainJoinedDevice": bool(device and device.trust_type == "ServerAd"),
        }
        oks = [satisfied.get(c, True) for c in controls]
        operator = grant.get("operator", "OR")
        ok = (all(oks) if operator == "AND" else any(oks)) if oks else True
        report_only = state == "enabledForReportingButNotEnforced"
        if report_only:
            entry["result"] = "reportOnlySuccess" if ok else "reportOnlyFailure"
            out.applied.append(entry)
            continue
        entry["result"] = "success" if ok else "failure"
        out.applied.append(entry)
        if not ok:
            out.policy_ids.append(pol.get("id"))
            if "block" in controls:
                out.block = True
            # With OR, the user may satisfy any one control; report what the user can still do.
            for c in controls:
                if not satisfied.get(c, True):
                    if c == "mfa":
                        out.mfa = True
                    elif c == "compliantDevice":
                        out.compliant_device = True
                    elif c == "domainJoinedDevice":
                        out.domain_joined_device = True
    return out


def per_user_mfa_required(user: User) -> bool:
    return user.per_user_mfa in ("enabled", "enforced")


# -- Intune ------------------------------------------------------------------------------------

def in_mdm_scope(tenant: Tenant, user: User) -> bool:
    """MDM user scope of the Microsoft Intune mobility policy: all, none, or selected groups."""
    pol = tenant.mdm_policies.get(INTUNE_APP_ID)
    if not pol or not tenant.intune_enabled:
        return False
    scope = pol.get("appliesTo", "none")
    if scope == "all":
        return True
    if scope == "selected":
        gids = {g.id for g in tenant.groups_of(user.id)}
        return bool(gids.intersection(pol.get("includedGroups") or []))
    return False


def mdm_urls(tenant: Tenant, user: User) -> dict[str, str]:
    """The MDM URLs Windows learns at join (dsregcmd MdmUrl/MdmTouUrl/MdmComplianceUrl): empty when
    the user is out of MDM scope."""
    pol = tenant.mdm_policies.get(INTUNE_APP_ID)
    if not pol or not in_mdm_scope(tenant, user):
        return {"MdmUrl": "", "MdmTouUrl": "", "MdmComplianceUrl": ""}
    return {"MdmUrl": pol.get("discoveryUrl") or "", "MdmTouUrl": pol.get("termsOfUseUrl") or "",
            "MdmComplianceUrl": pol.get("complianceUrl") or ""}


def has_intune_license(user: User) -> bool:
    for part in user.licenses:
        sku = KNOWN_SKUS.get(part)
        if sku and any(plan_id == INTUNE_A_PLAN for plan_id, _ in sku.service_plans):
            return True
    return False


def _config_applies(cfg: dict[str, Any], tenant: Tenant, user: User) -> bool:
    if cfg.get("priority", 0) == 0:
        return True  # the default policy applies to everyone
    gids = {g.id for g in tenant.groups_of(user.id)}
    for a in cfg.get("assignments") or []:
        target = a.get("target") or {}
        if target.get("@odata.type") == "#microsoft.graph.allLicensedUsersAssignmentTarget":
            return True
        if target.get("groupId") in gids:
            return True
    return False


def effective_enrollment_configuration(tenant: Tenant, user: User, odata_type: str) -> dict[str, Any] | None:
    """The enrollment restriction of this type that wins for the user (lowest priority number among
    assigned ones, priority 0 = the default)."""
    cands = [c for c in tenant.enrollment_configurations
             if c.get("@odata.type") == odata_type and _config_applies(c, tenant, user)]
    nondefault = sorted((c for c in cands if c.get("priority", 0) != 0), key=lambda c: c["priority"])
    if nondefault:
        return nondefault[0]
    return cands[0] if cands else None


def enrollment_restriction(tenant: Tenant, user: User, *, platform: str = "windows",
                           os_version: str = "", personal: bool = False) -> str | None:
    """The reason an Intune enrollment is refused by the tenant's restrictions, or None.

    Returns "DeviceCapReached" or "DeviceNotSupported" (the SOAP subcodes of MDMENR-DOC).
    """
    plat = effective_enrollment_configuration(
        tenant, user, "#microsoft.graph.deviceEnrollmentPlatformRestrictionsConfiguration")
    if plat:
        r = plat.get(f"{platform}Restriction") or {}
        if r.get("platformBlocked"):
            return "DeviceNotSupported"
        if personal and r.get("personalDeviceEnrollmentBlocked"):
            return "DeviceNotSupported"
        lo, hi = r.get("osMinimumVersion") or "", r.get("osMaximumVersion") or ""
        if os_version and ((lo and _ver(os_version) < _ver(lo)) or (hi and _ver(os_version) > _ver(hi))):
            return "DeviceNotSupported"
    limit = effective_enrollment_configuration(
        tenant, user, "#microsoft.graph.deviceEnrollmentLimitConfiguration")
    if limit is not None and len(tenant.managed_devices_of(user.id)) >= int(limit.get("limit", 5)):
        return "DeviceCapReached"
    return None


def _ver(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".") if p.isdigit())

"""Tenant policies: device registration policy, conditional access, MDM user scope (graph-intune.md §2-§4).

| endpoint | delegated | application | roles (delegated) |
|---|---|---|---|
| GET policies/deviceRegistrationPolicy | Policy.Read.DeviceConfiguration, Policy.Read.All, Policy.ReadWrite.DeviceConfiguration | Policy.Read.DeviceConfiguration, Policy.ReadWrite.DeviceConfiguration | Global Admin, Global Reader, Cloud Device Admin, Intune Admin, Windows 365 Admin |
| PUT policies/deviceRegistrationPolicy | Policy.ReadWrite.DeviceConfiguration | Policy.ReadWrite.DeviceConfiguration | Cloud Device Admin, Global Admin, Intune Admin, Windows 365 Admin |
| GET identity/conditionalAccess/policies[/id] | Policy.Read.All, Policy.ReadWrite.ConditionalAccess | Policy.Read.All, Policy.ReadWrite.ConditionalAccess | Global Admin, Global Reader, Conditional Access Admin, Security Admin, Security Reader |
| POST/PATCH/DELETE CA policies | Policy.ReadWrite.ConditionalAccess | Policy.ReadWrite.ConditionalAccess | Global Admin, Conditional Access Admin, Security Admin |
| GET beta policies/mobileDeviceManagementPolicies... | Policy.Read.All, Policy.ReadWrite.MobilityManagement | (not supported) | Global Admin, Global Reader, Intune Admin |
| PATCH / includedGroups $ref | Policy.ReadWrite.MobilityManagement | (not supported) | Global Admin, Intune Admin |
"""
from __future__ import annotations

import copy
from typing import Any

from ...world.events import record_audit, target
from ...world.policy import ALL, ENUMERATED, NONE
from ...world.world import DEFAULT_DRP_DESCRIPTION
from . import odata
from .core import CAA, CDA, GA, GR, IA, SA, SR, W365, GraphContext, Perm, route
from .exceptions import GraphError, bad_request, not_found
from .serializers import GROUP_SPEC, group_json

DRP_READ = Perm(("Policy.Read.DeviceConfiguration", "Policy.Read.All", "Policy.ReadWrite.DeviceConfiguration"),
                ("Policy.Read.DeviceConfiguration", "Policy.ReadWrite.DeviceConfiguration"),
                roles=(GA, GR, CDA, IA, W365))
DRP_WRITE = Perm(("Policy.ReadWrite.DeviceConfiguration",), ("Policy.ReadWrite.DeviceConfiguration",),
                 roles=(CDA, GA, IA, W365))
CA_READ = Perm(("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"),
               ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"), roles=(GA, GR, CAA, SA, SR))
CA_WRITE = Perm(("Policy.ReadWrite.ConditionalAccess",), ("Policy.ReadWrite.ConditionalAccess",),
                roles=(GA, CAA, SA))
MDM_READ = Perm(("Policy.Read.All", "Policy.ReadWrite.MobilityManagement"), (), roles=(GA, GR, IA))
MDM_WRITE = Perm(("Policy.ReadWrite.MobilityManagement",), (), roles=(GA, IA))

# -- device registration policy ------------------------------------------------------------------------

MEMBERSHIP_TYPES = (ALL, NONE, ENUMERATED)


def _drp_out(ctx: GraphContext, pol: dict[str, Any]) -> dict[str, Any]:
    out = {"@odata.context": ctx.context_url("deviceRegistrationPolicy")}
    out.update(copy.deepcopy(pol))
    return out


@route("GET", "policies/deviceRegistrationPolicy")
def get_drp(ctx: GraphContext):
    ctx.require(DRP_READ)
    return ctx.ok(_drp_out(ctx, ctx.tenant.device_registration_policy))


def _membership(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("@odata.type") not in MEMBERSHIP_TYPES:
        raise bad_request(f"Invalid value specified for property '{where}' of resource 'DeviceRegistrationPolicy'.")
    kind = value["@odata.type"]
    if kind == ENUMERATED:
        users, groups = value.get("users") or [], value.get("groups") or []
        if not isinstance(users, list) or not isinstance(groups, list):
            raise bad_request(f"Invalid value specified for property '{where}' of resource "
                              "'DeviceRegistrationPolicy'.")
        return {"@odata.type": kind, "users": [str(u) for u in users], "groups": [str(g) for g in groups]}
    return {"@odata.type": kind}


@route("PUT", "policies/deviceRegistrationPolicy")
def put_drp(ctx: GraphContext):
    ctx.require(DRP_WRITE)
    body = ctx.body_object()
    t = ctx.tenant
    old = t.device_registration_policy
    new: dict[str, Any] = {"id": "deviceRegistrationPolicy", "displayName": "Device Registration Policy",
                           "description": DEFAULT_DRP_DESCRIPTION}
    # PUT is a full replace: a quota left out becomes 0 (GD deviceregistrationpolicy-update).
    quota = body.get("userDeviceQuota", 0)
    if isinstance(quota, bool) or not isinstance(quota, int) or quota < 0:
        raise bad_request("Invalid value specified for property 'userDeviceQuota' of resource "
                          "'DeviceRegistrationPolicy'.")
    new["userDeviceQuota"] = quota
    mfa = body.get("multiFactorAuthConfiguration", "notRequired")
    if mfa in ("0", 0):
        mfa = "notRequired"
    elif mfa in ("1", 1):
        mfa = "required"
    if mfa not in ("notRequired", "required"):
        raise bad_request("Invalid value specified for property 'multiFactorAuthConfiguration' of resource "
                          "'DeviceRegistrationPolicy'.")
    new["multiFactorAuthConfiguration"] = mfa
    # Inferred: complex properties left out keep their current values (only the quota's reset is
    # documented); the admin-configurable flags are the service's, not the caller's.
    reg_old = old.get("azureADRegistration") or {}
    reg_in = body.get("azureADRegistration")
    reg = copy.deepcopy(reg_old)
    if reg_in is not None:
        if not isinstance(reg_in, dict):
            raise bad_request("Invalid value specified for property 'azureADRegistration' of resource "
                              "'DeviceRegistrationPolicy'.")
        if "allowedToRegister" in reg_in:
            allowed = _membership(reg_in["allowedToRegister"], "allowedToRegister")
            if not reg_old.get("isAdminConfigurable", False) and allowed != reg_old.get("allowedToRegister"):
                # "If Intune is enabled this property cannot be modified."
                raise bad_request("azureADRegistration.allowedToRegister cannot be modified because "
                                  "isAdminConfigurable is false.")
            reg["allowedToRegister"] = allowed
    new["azureADRegistration"] = reg
    join = copy.deepcopy(old.get("azureADJoin") or {})
    join_in = body.get("azureADJoin")
    if join_in is not None:
        if not isinstance(join_in, dict):
            raise bad_request("Invalid value specified for property 'azureADJoin' of resource "
                              "'DeviceRegistrationPolicy'.")
        if "allowedToJoin" in join_in:
            join["allowedToJoin"] = _membership(join_in["allowedToJoin"], "allowedToJoin")
        if "localAdmins" in join_in:
            la_in = join_in["localAdmins"] or {}
            if not isinstance(la_in, dict):
                raise bad_request("Invalid value specified for property 'localAdmins' of resource "
                                  "'DeviceRegistrationPolicy'.")
            la = copy.deepcopy(join.get("localAdmins") or {})
            if "enableGlobalAdmins" in la_in:
                if not isinstance(la_in["enableGlobalAdmins"], bool):
                    raise bad_request("Invalid value specified for property 'enableGlobalAdmins' of resource "
                                      "'DeviceRegistrationPolicy'.")
                la["enableGlobalAdmins"] = la_in["enableGlobalAdmins"]
            if "registeringUsers" in la_in:
                la["registeringUsers"] = _membership(la_in["registeringUsers"], "registeringUsers")
            join["localAdmins"] = la
    new["azureADJoin"] = join
    lap = body.get("localAdminPassword", old.get("localAdminPassword") or {"isEnabled": False})
    if not isinstance(lap, dict) or not isinstance(lap.get("isEnabled", False), bool):
        raise bad_request("Invalid value specified for property 'localAdminPassword' of resource "
                          "'DeviceRegistrationPolicy'.")
    new["localAdminPassword"] = {"isEnabled": bool(lap.get("isEnabled", False))}
    modified = []
    for k in ("userDeviceQuota", "multiFactorAuthConfiguration", "azureADRegistration", "azureADJoin",
              "localAdminPassword"):
        if old.get(k) != new.get(k):
            modified.append({"displayName": k, "oldValue": _j(old.get(k)), "newValue": _j(new.get(k))})
    with ctx.world.lock:
        t.device_registration_policy = new
    record_audit(ctx.world, t, activity="Set device registration policies", category="Policy",
                 service="Device Registration Service", operation_type="Update", initiated_by=ctx.caller.user,
                 targets=[target("deviceRegistrationPolicy", "Device Registration Policy", "Policy",
                                 modified=modified)])
    return ctx.ok(_drp_out(ctx, new))


def _j(v: Any) -> str:
    import json

    return json.dumps(v, separators=(",", ":"))


# -- conditional access ---------------------------------------------------------------------------------

CA_STATES = ("enabled", "disabled", "enabledForReportingButNotEnforced")
CONTROLS = ("block", "mfa", "compliantDevice", "domainJoinedDevice", "approvedApplication", "compliantApplication",
            "passwordChange", "unknownFutureValue", "riskRemediation")
USER_ACTIONS = ("urn:user:registersecurityinfo", "urn:user:registerdevice")
CLIENT_APP_TYPES = ("all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "easSupported", "other",
                    "unknownFutureValue")
PLATFORMS = ("android", "iOS", "windows", "windowsPhone", "macOS", "linux", "all", "unknownFutureValue")

_USER_LISTS = ("includeUsers", "excludeUsers", "includeGroups", "excludeGroups", "includeRoles", "excludeRoles")
_APP_LISTS = ("includeApplications", "excludeApplications", "includeUserActions",
              "includeAuthenticationContextClassReferences")


def _ca_invalid(message: str) -> GraphError:
    # Inferred: the CA service's validation failures are 400 BadRequest with a descriptive message.
    return GraphError(400, "BadRequest", message)


def _normalise_ca(pol: dict[str, Any]) -> dict[str, Any]:
    """Fill every list the service always returns with [] and the absent objects with null."""
    cond = pol.setdefault("conditions", {}) or {}
    pol["conditions"] = cond
    users = cond.get("users") or {}
    for k in _USER_LISTS:
        users[k] = list(users.get(k) or [])
    users.setdefault("includeGuestsOrExternalUsers", None)
    users.setdefault("excludeGuestsOrExternalUsers", None)
    cond["users"] = users
    apps = cond.get("applications") or {}
    for k in _APP_LISTS:
        apps[k] = list(apps.get(k) or [])
    apps.setdefault("applicationFilter", None)
    cond["applications"] = apps
    cond["clientAppTypes"] = list(cond.get("clientAppTypes") or ["all"])
    for k in ("userRiskLevels", "signInRiskLevels", "servicePrincipalRiskLevels"):
        cond[k] = list(cond.get(k) or [])
    for k in ("platforms", "locations", "devices", "clientApplications", "times", "deviceStates",
              "insiderRiskLevels", "authenticationFlows"):
        cond.setdefault(k, None)
    if cond.get("platforms"):
        p = cond["platforms"]
        p["includePlatforms"] = list(p.get("includePlatforms") or [])
        p["excludePlatforms"] = list(p.get("excludePlatforms") or [])
    grant = pol.get("grantControls")
    if grant is not None:
        grant.setdefault("operator", "OR")
        grant["builtInControls"] = list(grant.get("builtInControls") or [])
        grant["customAuthenticationFactors"] = list(grant.get("customAuthenticationFactors") or [])
        grant["termsOfUse"] = list(grant.get("termsOfUse") or [])
        grant.setdefault("authenticationStrength", None)
    pol.setdefault("grantControls", None)
    pol.setdefault("sessionControls", None)
    pol.setdefault("description", None)
    pol.setdefault("templateId", None)
    return pol


def _check_shapes(pol: dict[str, Any]) -> None:
    """Types first, so that the rules below can trust what they read."""
    def obj(v, where):
        if v is not None and not isinstance(v, dict):
            raise _ca_invalid(f"Invalid value specified for property '{where}'.")
        return v or {}

    def strings(v, where):
        if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            raise _ca_invalid(f"Invalid value specified for property '{where}'.")

    cond = obj(pol.get("conditions"), "conditions")
    users = obj(cond.get("users"), "users")
    for k in _USER_LISTS:
        strings(users.get(k), k)
    apps = obj(cond.get("applications"), "applications")
    for k in _APP_LISTS:
        strings(apps.get(k), k)
    strings(cond.get("clientAppTypes"), "clientAppTypes")
    for k in ("userRiskLevels", "signInRiskLevels", "servicePrincipalRiskLevels"):
        strings(cond.get(k), k)
    plats = obj(cond.get("platforms"), "platforms")
    strings(plats.get("includePlatforms"), "includePlatforms")
    strings(plats.get("excludePlatforms"), "excludePlatforms")
    for k in ("locations", "devices", "clientApplications"):
        obj(cond.get(k), k)
    grant = obj(pol.get("grantControls"), "grantControls")
    strings(grant.get("builtInControls"), "builtInControls")
    strings(grant.get("customAuthenticationFactors"), "customAuthenticationFactors")
    strings(grant.get("termsOfUse"), "termsOfUse")
    obj(pol.get("sessionControls"), "sessionControls")
    if pol.get("description") is not None and not isinstance(pol.get("description"), str):
        raise _ca_invalid("Invalid value specified for property 'description'.")


def _validate_ca(pol: dict[str, Any]) -> None:
    _check_shapes(pol)
    if not isinstance(pol.get("displayName"), str) or not pol["displayName"].strip():
        raise _ca_invalid("The request is invalid: displayName is required.")
    if pol.get("state") not in CA_STATES:
        raise _ca_invalid(f"Invalid value '{pol.get('state')}' for property 'state'.")
    cond = pol.get("conditions")
    if not isinstance(cond, dict):
        raise _ca_invalid("The request is invalid: conditions are required.")
    users, apps = cond.get("users") or {}, cond.get("applications") or {}
    if not any(users.get(k) for k in ("includeUsers", "includeGroups", "includeRoles",
                                      "includeGuestsOrExternalUsers")):
        raise _ca_invalid("1037: The policy has no user condition. Include users, groups or roles.")
    if not any(apps.get(k) for k in ("includeApplications", "includeUserActions",
                                     "includeAuthenticationContextClassReferences")):
        raise _ca_invalid("1037: The policy has no application condition. Include applications, user actions "
                          "or authentication contexts.")
    for a in apps.get("includeUserActions") or []:
        if a not in USER_ACTIONS:
            raise _ca_invalid(f"Invalid user action '{a}'.")
    for c in cond.get("clientAppTypes") or []:
        if c not in CLIENT_APP_TYPES:
            raise _ca_invalid(f"Invalid value '{c}' for property 'clientAppTypes'.")
    plats = cond.get("platforms") or {}
    for p in (plats.get("includePlatforms") or []) + (plats.get("excludePlatforms") or []):
        if p not in PLATFORMS:
            raise _ca_invalid(f"Invalid value '{p}' for property 'includePlatforms'.")
    grant = pol.get("grantControls")
    session = pol.get("sessionControls")
    if grant is not None:
        if grant.get("operator", "OR") not in ("AND", "OR"):
            raise _ca_invalid(f"Invalid value '{grant.get('operator')}' for property 'operator'.")
        for c in grant.get("builtInControls") or []:
            if c not in CONTROLS:
                raise _ca_invalid(f"Invalid value '{c}' for property 'builtInControls'.")
        ctl = grant.get("builtInControls") or []
        if "block" in ctl and len(ctl) > 1:
            raise _ca_invalid("Block cannot be combined with other grant controls.")
    if "urn:user:registerdevice" in (apps.get("includeUserActions") or []):
        ctl = (grant or {}).get("builtInControls") or []
        if any(c != "mfa" for c in ctl):
            raise _ca_invalid("Only 'Require multifactor authentication' and 'Require authentication strength' "
                              "grant controls are supported with the 'Register or join devices' user action.")
    if not (grant and (grant.get("builtInControls") or grant.get("authenticationStrength")
                        or grant.get("termsOfUse") or grant.get("customAuthenticationFactors"))) and not session:
        raise _ca_invalid("1036: The policy has no grant or session control.")


def _ca_fragment(ctx: GraphContext) -> str:
    # Inferred (open question 3): the current path segment is identity/conditionalAccess/policies.
    return "identity/conditionalAccess/policies"


def _ca(ctx: GraphContext) -> dict[str, Any]:
    pid = ctx.params["pid"]
    for p in ctx.tenant.conditional_access_policies:
        if p.get("id") == pid:
            return p
    raise not_found(pid)


_CA_SPEC = odata.ResourceSpec(
    "conditionalAccessPolicy", "ConditionalAccessPolicy",
    {"id": odata.Prop(lambda p: p.get("id"), frozenset({"eq", "ne", "in"})),
     "displayName": odata.Prop(lambda p: p.get("displayName"), frozenset({"eq", "ne", "startsWith", "in"}),
                               orderby="basic"),
     "state": odata.Prop(lambda p: p.get("state"), frozenset({"eq", "ne", "in"})),
     "createdDateTime": odata.Prop(lambda p: p.get("createdDateTime"), frozenset({"eq", "ge", "le", "gt", "lt"}),
                                   orderby="basic"),
     "modifiedDateTime": odata.Prop(lambda p: p.get("modifiedDateTime"), frozenset({"eq", "ge", "le", "gt", "lt"}),
                                    orderby="basic")},
    selectable=("id", "templateId", "displayName", "description", "createdDateTime", "modifiedDateTime", "state",
                "conditions", "grantControls", "sessionControls"),
    advanced_ops=frozenset(), filter_orderby_advanced=False, count_needs_header=False,
    supports=frozenset({"$select", "$filter", "$top", "$skiptoken", "$orderby", "$count"}),
)


def _ca_out(p: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(p)
    return out


@route("GET", "identity/conditionalAccess/policies")
def list_ca(ctx: GraphContext):
    ctx.require(CA_READ)
    return ctx.collection(_ca_fragment(ctx), _CA_SPEC, list(ctx.tenant.conditional_access_policies), _ca_out)


@route("GET", "identity/conditionalAccess/policies/{pid}")
def get_ca(ctx: GraphContext):
    ctx.require(CA_READ)
    return ctx.entity(_ca_fragment(ctx), _ca_out(_ca(ctx)), odata.resolve_select(_CA_SPEC, ctx.query))


@route("POST", "identity/conditionalAccess/policies")
def post_ca(ctx: GraphContext):
    ctx.require(CA_WRITE)
    body = ctx.body_object()
    pol = copy.deepcopy({k: v for k, v in body.items() if not k.startswith("@odata")})
    for ro in ("id", "createdDateTime", "modifiedDateTime"):
        pol.pop(ro, None)
    _validate_ca(pol)
    pol = _normalise_ca(pol)
    out = {"id": ctx.world.ids.guid(), "templateId": pol.pop("templateId", None),
           "displayName": pol.pop("displayName"), "createdDateTime": _now_frac(ctx), "modifiedDateTime": None,
           "state": pol.pop("state")}
    out.update(pol)
    with ctx.world.lock:
        ctx.tenant.conditional_access_policies.append(out)
    _ca_audit(ctx, "Add conditional access policy", "Add", out)
    resp = {"@odata.context": ctx.context_url(f"{_ca_fragment(ctx)}/$entity")}
    resp.update(copy.deepcopy(out))
    return ctx.ok(resp, 201, extra={"Location": f"https://graph.microsoft.com/{ctx.version}/identity/"
                                                f"conditionalAccess/policies/{out['id']}"})


def _now_frac(ctx: GraphContext) -> str:
    return ctx.world.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@route("PATCH", "identity/conditionalAccess/policies/{pid}")
def patch_ca(ctx: GraphContext):
    ctx.require(CA_WRITE)
    pol = _ca(ctx)
    body = ctx.body_object()
    merged = copy.deepcopy(pol)
    for k, v in body.items():
        if k.startswith("@odata") or k in ("id", "createdDateTime", "modifiedDateTime"):
            continue
        if k == "conditions" and isinstance(v, dict) and isinstance(merged.get("conditions"), dict):
            for ck, cv in v.items():
                if isinstance(cv, dict) and isinstance(merged["conditions"].get(ck), dict):
                    merged["conditions"][ck].update(cv)
                else:
                    merged["conditions"][ck] = cv
        else:
            merged[k] = v
    _validate_ca(merged)
    merged = _normalise_ca(merged)
    merged["modifiedDateTime"] = _now_frac(ctx)
    with ctx.world.lock:
        pol.clear()
        pol.update(merged)
    _ca_audit(ctx, "Update conditional access policy", "Update", pol)
    return ctx.no_content()


@route("DELETE", "identity/conditionalAccess/policies/{pid}")
def delete_ca(ctx: GraphContext):
    ctx.require(CA_WRITE)
    pol = _ca(ctx)
    with ctx.world.lock:
        ctx.tenant.conditional_access_policies.remove(pol)
    _ca_audit(ctx, "Delete conditional access policy", "Delete", pol)
    return ctx.no_content()


def _ca_audit(ctx: GraphContext, activity: str, op: str, pol: dict[str, Any]) -> None:
    record_audit(ctx.world, ctx.tenant, activity=activity, category="Policy", service="Conditional Access",
                 operation_type=op, initiated_by=ctx.caller.user,
                 targets=[target(pol.get("id"), pol.get("displayName"), "Policy")])


# -- MDM user scope (beta) ------------------------------------------------------------------------------

MDM_FRAGMENT = "mobilityManagementPolicies"


def _mdm_out(ctx: GraphContext, pol: dict[str, Any], expand: bool = False) -> dict[str, Any]:
    out = {k: v for k, v in pol.items() if k != "includedGroups"}
    if expand:
        t = ctx.tenant
        out["includedGroups"] = [group_json(t.groups[g]) for g in pol.get("includedGroups") or [] if g in t.groups]
    return out


_MDM_SPEC = odata.ResourceSpec(
    "mobilityManagementPolicy", "MobilityManagementPolicy",
    {"displayName": odata.Prop(lambda p: p.get("displayName"), frozenset({"eq"})),
     "id": odata.Prop(lambda p: p.get("id"), frozenset({"eq"})),
     "appliesTo": odata.Prop(lambda p: p.get("appliesTo"), frozenset({"eq"}))},
    selectable=("id", "appliesTo", "complianceUrl", "description", "discoveryUrl", "displayName", "isValid",
                "termsOfUseUrl", "includedGroups"),
    advanced_ops=frozenset(), filter_orderby_advanced=False, count_needs_header=False,
    supports=frozenset({"$select", "$filter", "$top", "$expand"}),
)


def _mdm(ctx: GraphContext) -> dict[str, Any]:
    pid = ctx.params["mid"]
    pol = ctx.tenant.mdm_policies.get(pid) or ctx.tenant.mdm_policies.get(pid.lower())
    if pol is None:
        raise not_found(pid)
    return pol


def _expand_groups(ctx: GraphContext) -> bool:
    for e in ctx.query.expand:
        if e.lower() == "includedgroups":
            return True
        raise GraphError(400, "BadRequest", f"Could not find a property named '{e}' on type "
                                            "'microsoft.graph.mobilityManagementPolicy'.")
    return False


@route("GET", "policies/mobileDeviceManagementPolicies", versions=("beta",))
def list_mdm(ctx: GraphContext):
    ctx.require(MDM_READ)
    expand = _expand_groups(ctx)
    return ctx.collection(MDM_FRAGMENT, _MDM_SPEC, list(ctx.tenant.mdm_policies.values()),
                          lambda p: _mdm_out(ctx, p, expand))


@route("GET", "policies/mobileDeviceManagementPolicies/{mid}", versions=("beta",))
def get_mdm(ctx: GraphContext):
    ctx.require(MDM_READ)
    expand = _expand_groups(ctx)
    return ctx.entity(MDM_FRAGMENT, _mdm_out(ctx, _mdm(ctx), expand), odata.resolve_select(_MDM_SPEC, ctx.query))


@route("PATCH", "policies/mobileDeviceManagementPolicies/{mid}", versions=("beta",))
def patch_mdm(ctx: GraphContext):
    ctx.require(MDM_WRITE)
    pol = _mdm(ctx)
    body = {k: v for k, v in ctx.body_object().items() if not k.startswith("@odata")}
    if not pol.get("isValid", True):
        raise bad_request("The policy is not valid and cannot be updated.", code="BadRequest")
    writable = ("appliesTo", "complianceUrl", "discoveryUrl", "termsOfUseUrl", "displayName", "description")
    for k in body:
        if k not in writable:
            raise GraphError(400, "BadRequest", f"Property '{k}' is read-only and cannot be set.")
    if "appliesTo" in body:
        if len(body) > 1:
            # GD mobiledevicemanagementpolicies-update: appliesTo cannot be updated with other properties.
            raise bad_request("appliesTo cannot be updated together with other properties.", code="BadRequest")
        scope = body["appliesTo"]
        if scope not in ("none", "all", "selected"):
            raise bad_request(f"Invalid value '{scope}' for property 'appliesTo'.", code="BadRequest")
        if scope == "selected":
            raise bad_request("appliesTo cannot be set to 'selected' directly; add groups with includedGroups "
                              "instead.", code="BadRequest")
        with ctx.world.lock:
            pol["appliesTo"] = scope
            pol["includedGroups"] = []  # "setting all removes the existing groups" (none too: Inferred)
    else:
        with ctx.world.lock:
            for k, v in body.items():
                pol[k] = v
    # Inferred: the MDM scope change is logged as a Core Directory policy update.
    record_audit(ctx.world, ctx.tenant, activity="Update policy", category="Policy", service="Core Directory",
                 operation_type="Update", initiated_by=ctx.caller.user,
                 targets=[target(pol["id"], pol.get("displayName"), "Policy")])
    # GD example answers 204 (open question 4).
    return ctx.no_content()


@route("GET", "policies/mobileDeviceManagementPolicies/{mid}/includedGroups", versions=("beta",))
def mdm_groups(ctx: GraphContext):
    ctx.require(MDM_READ)
    pol = _mdm(ctx)
    t = ctx.tenant
    groups = [t.groups[g] for g in pol.get("includedGroups") or [] if g in t.groups]
    return ctx.collection(f"{MDM_FRAGMENT}('{pol['id']}')/includedGroups", GROUP_SPEC, groups, group_json)


@route("POST", "policies/mobileDeviceManagementPolicies/{mid}/includedGroups/$ref", versions=("beta",))
def mdm_add_group(ctx: GraphContext):
    ctx.require(MDM_WRITE)
    pol = _mdm(ctx)
    body = ctx.body_object()
    ref = body.get("@odata.id")
    if not isinstance(ref, str) or not ref:
        raise bad_request("Invalid request body: the reference '@odata.id' is missing.", code="BadRequest")
    gid = ref.rstrip("/").rsplit("/", 1)[-1]
    if "(" in gid:
        gid = gid.split("(", 1)[1].strip("')\"")
    if gid not in ctx.tenant.groups:
        raise not_found(gid)
    with ctx.world.lock:
        groups = pol.setdefault("includedGroups", [])
        if gid in groups:
            # Inferred: the directory's answer to adding an existing link.
            raise bad_request("One or more added object references already exist for the following modified "
                              "properties: 'includedGroups'.")
        groups.append(gid)
        pol["appliesTo"] = "selected"
    return ctx.no_content()


@route("DELETE", "policies/mobileDeviceManagementPolicies/{mid}/includedGroups/{gid}/$ref", versions=("beta",))
def mdm_remove_group(ctx: GraphContext):
    ctx.require(MDM_WRITE)
    pol = _mdm(ctx)
    gid = ctx.params["gid"]
    with ctx.world.lock:
        groups = pol.setdefault("includedGroups", [])
        if gid not in groups:
            raise not_found(gid)
        groups.remove(gid)
    return ctx.no_content()

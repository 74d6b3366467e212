"""Intune through Graph: managedDevices and deviceEnrollmentConfigurations (graph-intune.md §6).

Errors here speak Intune's dialect (a JSON string inside `message`, graph-intune.md §8.1).

| endpoint | delegated / application | roles (delegated) |
|---|---|---|
| GET deviceManagement/managedDevices[/id], users/{id}/managedDevices | DeviceManagementManagedDevices.Read.All, .ReadWrite.All | Global Admin, Intune Admin, Global Reader, Helpdesk Admin, Windows 365 Admin |
| PATCH, DELETE managedDevices/{id} | DeviceManagementManagedDevices.ReadWrite.All | Global Admin, Intune Admin |
| POST managedDevices/{id}/syncDevice, retire, wipe, rebootNow, remoteLock, shutDown | DeviceManagementManagedDevices.PrivilegedOperations.All | Global Admin, Intune Admin, Helpdesk Admin |
| GET deviceEnrollmentConfigurations... | DeviceManagementServiceConfig.Read.All, .ReadWrite.All | Global Admin, Intune Admin, Global Reader |
| POST/PATCH/DELETE/assign/setPriority | DeviceManagementServiceConfig.ReadWrite.All | Global Admin, Intune Admin |
"""
from __future__ import annotations

import copy
from typing import Any

from ...world.clock import iso_z
from . import odata
from .core import GA, GR, HDA, IA, W365, GraphContext, Perm, route
from .directory import _user
from .exceptions import IntuneError
from .serializers import MANAGED_DEVICE_SPEC, managed_device_json

_MD_R = ("DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.ReadWrite.All")
MD_READ = Perm(_MD_R, _MD_R, roles=(GA, IA, GR, HDA, W365))
MD_WRITE = Perm(("DeviceManagementManagedDevices.ReadWrite.All",), ("DeviceManagementManagedDevices.ReadWrite.All",),
                roles=(GA, IA))
MD_ACTION = Perm(("DeviceManagementManagedDevices.PrivilegedOperations.All",),
                 ("DeviceManagementManagedDevices.PrivilegedOperations.All",), roles=(GA, IA, HDA))
_SC_R = ("DeviceManagementServiceConfig.Read.All", "DeviceManagementServiceConfig.ReadWrite.All")
SC_READ = Perm(_SC_R, _SC_R, roles=(GA, IA, GR))
SC_WRITE = Perm(("DeviceManagementServiceConfig.ReadWrite.All",), ("DeviceManagementServiceConfig.ReadWrite.All",),
                roles=(GA, IA))


def _intune_on(ctx: GraphContext) -> None:
    if not ctx.tenant.intune_enabled:
        # Inferred: a tenant without an Intune licence / MDM authority.
        raise IntuneError(400, "BadRequest", "Tenant is not enabled for Intune")


def _not_found(ctx: GraphContext) -> IntuneError:
    return IntuneError(404, "ResourceNotFound", "")


# -- managedDevices -------------------------------------------------------------------------------------

@route("GET", "deviceManagement/managedDevices")
def list_managed(ctx: GraphContext):
    ctx.require(MD_READ, intune=True)
    _intune_on(ctx)
    return ctx.collection("deviceManagement/managedDevices", MANAGED_DEVICE_SPEC,
                          list(ctx.tenant.managed_devices.values()), lambda m: _md_json(ctx, m))


@route("GET", "me/managedDevices")
@route("GET", "users/{uid}/managedDevices")
def user_managed(ctx: GraphContext):
    ctx.require(MD_READ, intune=True)
    u = _user(ctx)
    return ctx.collection(f"users('{u.id}')/managedDevices", MANAGED_DEVICE_SPEC, ctx.tenant.managed_devices_of(u.id),
                          lambda m: _md_json(ctx, m))


def _md_json(ctx: GraphContext, m) -> dict[str, Any]:
    out = managed_device_json(m, ctx.version)
    out["deviceActionResults"] = action_results(ctx, m)
    return out


def _md(ctx: GraphContext):
    m = ctx.tenant.managed_devices.get(ctx.params["mdid"])
    if m is None:
        raise _not_found(ctx)
    return m


@route("GET", "deviceManagement/managedDevices/{mdid}")
def get_managed(ctx: GraphContext):
    ctx.require(MD_READ, intune=True)
    _intune_on(ctx)
    m = _md(ctx)
    return ctx.entity("deviceManagement/managedDevices", _md_json(ctx, m),
                      odata.resolve_select(MANAGED_DEVICE_SPEC, ctx.query))


@route("PATCH", "deviceManagement/managedDevices/{mdid}")
def patch_managed(ctx: GraphContext):
    """Admins switch ownership (company/personal) here; other writable properties are accepted and ignored."""
    ctx.require(MD_WRITE, intune=True)
    _intune_on(ctx)
    m = _md(ctx)
    body = ctx.body_object()
    owner = body.get("managedDeviceOwnerType")
    if owner is not None:
        if owner not in ("unknown", "company", "personal"):
            raise IntuneError(400, "BadRequest", f"Invalid value '{owner}' for property 'managedDeviceOwnerType'.")
        with ctx.world.lock:
            m.owner_type = owner
    return ctx.no_content()


@route("DELETE", "deviceManagement/managedDevices/{mdid}")
def delete_managed(ctx: GraphContext):
    ctx.require(MD_WRITE, intune=True)
    _intune_on(ctx)
    m = _md(ctx)
    t = ctx.tenant
    with ctx.world.lock:
        t.managed_devices.pop(m.id, None)
        d = t.device_by_device_id(m.azure_ad_device_id) if m.azure_ad_device_id else None
        if d is not None:
            # Inferred: removing the Intune record leaves the Entra object unmanaged.
            d.is_managed = False
            d.is_compliant = None
            d.mdm_app_id = None
    return ctx.no_content()


@route("POST", "deviceManagement/managedDevices/{mdid}/syncDevice")
def sync_managed(ctx: GraphContext):
    ctx.require(MD_ACTION, intune=True)
    _intune_on(ctx)
    m = _md(ctx)
    with ctx.world.lock:
        m.last_sync = ctx.world.clock.now()
    return ctx.no_content()


# -- deviceEnrollmentConfigurations ---------------------------------------------------------------------

ENROLLMENT_FRAGMENT = "deviceManagement/deviceEnrollmentConfigurations"
_CONFIG_TYPES = {
    "#microsoft.graph.deviceEnrollmentLimitConfiguration": ("limit", "Limit"),
    "#microsoft.graph.deviceEnrollmentPlatformRestrictionsConfiguration": ("platformRestrictions",
                                                                           "PlatformRestrictions"),
    "#microsoft.graph.deviceEnrollmentPlatformRestrictionConfiguration": ("singlePlatformRestriction",
                                                                          "SinglePlatformRestriction"),
    "#microsoft.graph.deviceEnrollmentWindowsHelloForBusinessConfiguration": ("windowsHelloForBusiness",
                                                                              "WindowsHelloForBusiness"),
    "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration": ("windows10EnrollmentCompletionPageConfiguration",
                                                                        "Windows10EnrollmentCompletionPageConfiguration"),
}
_RESTRICTION_KEYS = ("iosRestriction", "windowsRestriction", "windowsMobileRestriction", "androidRestriction",
                     "macOSRestriction")


def _cfg_out(ctx: GraphContext, cfg: dict[str, Any], expand: bool = False) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in cfg.items() if k != "assignments"}
    if ctx.version == "beta":
        # The exported defaults carry [] (graph-intune.md §6.2); Inferred: custom ones the Default tag "0".
        out.setdefault("roleScopeTagIds", [] if cfg.get("priority", 0) == 0 else ["0"])
        out.setdefault("deviceEnrollmentConfigurationType",
                       _CONFIG_TYPES.get(cfg.get("@odata.type"), ("unknown", ""))[0])
    if expand:
        out["assignments"] = [_assignment_out(a) for a in cfg.get("assignments") or []]
    return out


def _assignment_out(a: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.enrollmentConfigurationAssignment", "id": a.get("id"),
            "target": copy.deepcopy(a.get("target"))}


def _cfg(ctx: GraphContext) -> dict[str, Any]:
    cid = ctx.params["cid"]
    for c in ctx.tenant.enrollment_configurations:
        if c.get("id", "").lower() == cid.lower():
            return c
    raise _not_found(ctx)


_CFG_SPEC = odata.ResourceSpec(
    "deviceEnrollmentConfiguration", "DeviceEnrollmentConfiguration",
    {"id": odata.Prop(lambda c: c.get("id"), frozenset({"eq", "ne"})),
     "displayName": odata.Prop(lambda c: c.get("displayName"), frozenset({"eq", "ne", "startsWith"}), orderby="basic"),
     "priority": odata.Prop(lambda c: c.get("priority"), frozenset({"eq", "ne", "gt", "ge", "lt", "le"}),
                            orderby="basic")},
    selectable=("id", "displayName", "description", "priority", "createdDateTime", "lastModifiedDateTime",
                "version", "limit", *_RESTRICTION_KEYS, "roleScopeTagIds", "deviceEnrollmentConfigurationType",
                "assignments"),
    advanced_ops=frozenset(), filter_orderby_advanced=False, count_needs_header=False,
    supports=frozenset({"$select", "$filter", "$top", "$skiptoken", "$orderby", "$count", "$expand"}),
)


def _expand_assignments(ctx: GraphContext) -> bool:
    for e in ctx.query.expand:
        if e.lower() == "assignments":
            return True
        raise IntuneError(400, "BadRequest", f"Could not find a property named '{e}' on type "
                                             "'microsoft.graph.deviceEnrollmentConfiguration'.")
    return False


@route("GET", "deviceManagement/deviceEnrollmentConfigurations")
def list_cfg(ctx: GraphContext):
    ctx.require(SC_READ, intune=True)
    _intune_on(ctx)
    expand = _expand_assignments(ctx)
    items = sorted(ctx.tenant.enrollment_configurations, key=lambda c: (c.get("priority", 0) == 0, c.get("priority", 0)))
    return ctx.collection(ENROLLMENT_FRAGMENT, _CFG_SPEC, items, lambda c: _cfg_out(ctx, c, expand))


@route("GET", "deviceManagement/deviceEnrollmentConfigurations/{cid}")
def get_cfg(ctx: GraphContext):
    ctx.require(SC_READ, intune=True)
    _intune_on(ctx)
    expand = _expand_assignments(ctx)
    return ctx.entity(ENROLLMENT_FRAGMENT, _cfg_out(ctx, _cfg(ctx), expand),
                      odata.resolve_select(_CFG_SPEC, ctx.query))


def _validate_cfg(body: dict[str, Any], kind: str) -> None:
    if "limit" in body:
        lim = body["limit"]
        if isinstance(lim, bool) or not isinstance(lim, int) or lim < 1 or lim > 15:
            # MD device-limit-intune-azure.md: a user may enroll up to 15 devices.
            raise IntuneError(400, "BadRequest", "Device limit must be between 1 and 15.")
    for k in _RESTRICTION_KEYS:
        if k in body and not isinstance(body[k], dict):
            raise IntuneError(400, "BadRequest", f"Invalid value for property '{k}'.")


@route("POST", "deviceManagement/deviceEnrollmentConfigurations")
def post_cfg(ctx: GraphContext):
    ctx.require(SC_WRITE, intune=True)
    _intune_on(ctx)
    body = ctx.body_object()
    kind = body.get("@odata.type")
    if kind not in _CONFIG_TYPES:
        raise IntuneError(400, "BadRequest", "A type named '" + str(kind) + "' could not be resolved by the model.")
    if not isinstance(body.get("displayName"), str) or not body["displayName"].strip():
        raise IntuneError(400, "BadRequest", "DisplayName is required.")
    _validate_cfg(body, kind)
    t = ctx.tenant
    now = iso_z(ctx.world.clock.now())
    cfg: dict[str, Any] = {"@odata.type": kind,
                           # Inferred: custom restrictions are "<guid>_<Type>" like the defaults.
                           "id": f"{ctx.world.ids.guid()}_{_CONFIG_TYPES[kind][1]}",
                           "displayName": body["displayName"], "description": body.get("description") or "",
                           "priority": None, "createdDateTime": now,     # set below, under the lock
                           "lastModifiedDateTime": now, "version": 1}
    if kind == "#microsoft.graph.deviceEnrollmentLimitConfiguration":
        cfg["limit"] = body.get("limit", 5)
    if kind == "#microsoft.graph.deviceEnrollmentPlatformRestrictionsConfiguration":
        blank = {"platformBlocked": False, "personalDeviceEnrollmentBlocked": False, "osMinimumVersion": None,
                 "osMaximumVersion": None}
        for k in _RESTRICTION_KEYS:
            cfg[k] = dict(blank, **(body.get(k) or {}))
    for k, v in body.items():
        if k not in cfg and not k.startswith("@odata") and k not in ("id", "assignments", "priority"):
            cfg[k] = copy.deepcopy(v)
    cfg["assignments"] = []
    with ctx.world.lock:
        # The next priority is read and taken in the same locked step as the append, so two
        # concurrent creates never get the same priority.
        existing = [c.get("priority", 0) for c in t.enrollment_configurations
                    if c.get("@odata.type") == kind and c.get("priority", 0) != 0]
        cfg["priority"] = max(existing, default=0) + 1
        t.enrollment_configurations.append(cfg)
    out = {"@odata.context": ctx.context_url(f"{ENROLLMENT_FRAGMENT}/$entity")}
    out.update(_cfg_out(ctx, cfg))
    return ctx.ok(out, 201)


@route("PATCH", "deviceManagement/deviceEnrollmentConfigurations/{cid}")
def patch_cfg(ctx: GraphContext):
    ctx.require(SC_WRITE, intune=True)
    _intune_on(ctx)
    cfg = _cfg(ctx)
    body = ctx.body_object()
    _validate_cfg(body, cfg.get("@odata.type"))
    if "priority" in body and body["priority"] != cfg.get("priority"):
        raise IntuneError(400, "BadRequest", "Priority can only be changed with setPriority.")
    with ctx.world.lock:
        for k, v in body.items():
            if k.startswith("@odata") or k in ("id", "createdDateTime", "lastModifiedDateTime", "version",
                                               "assignments", "priority"):
                continue
            if k in _RESTRICTION_KEYS and isinstance(cfg.get(k), dict):
                cfg[k].update(v)
            else:
                cfg[k] = copy.deepcopy(v)
        cfg["lastModifiedDateTime"] = iso_z(ctx.world.clock.now())
        cfg["version"] = int(cfg.get("version", 0)) + 1
    return ctx.no_content()


@route("DELETE", "deviceManagement/deviceEnrollmentConfigurations/{cid}")
def delete_cfg(ctx: GraphContext):
    ctx.require(SC_WRITE, intune=True)
    _intune_on(ctx)
    cfg = _cfg(ctx)
    if cfg.get("priority", 0) == 0:
        # Inferred: the default restrictions cannot be deleted.
        raise IntuneError(400, "BadRequest", "The default enrollment configuration cannot be deleted.")
    t = ctx.tenant
    with ctx.world.lock:
        if not any(c is cfg for c in t.enrollment_configurations):
            raise _not_found(ctx)          # deleted meanwhile by another request
        t.enrollment_configurations.remove(cfg)
        _renumber(t, cfg.get("@odata.type"))
    return ctx.no_content()


def _renumber(t, kind) -> None:
    same = sorted((c for c in t.enrollment_configurations
                   if c.get("@odata.type") == kind and c.get("priority", 0) != 0), key=lambda c: c["priority"])
    for i, c in enumerate(same, 1):
        c["priority"] = i


@route("POST", "deviceManagement/deviceEnrollmentConfigurations/{cid}/assign")
def assign_cfg(ctx: GraphContext):
    ctx.require(SC_WRITE, intune=True)
    _intune_on(ctx)
    cfg = _cfg(ctx)
    body = ctx.body_object()
    items = body.get("enrollmentConfigurationAssignments")
    if not isinstance(items, list):
        raise IntuneError(400, "BadRequest", "enrollmentConfigurationAssignments is required.")
    if cfg.get("priority", 0) == 0:
        raise IntuneError(400, "BadRequest", "The default enrollment configuration cannot be assigned.")
    out = []
    for a in items:
        target = a.get("target") if isinstance(a, dict) else None
        if not isinstance(target, dict):
            raise IntuneError(400, "BadRequest", "Invalid assignment: a target is required.")
        ttype = target.get("@odata.type")
        if ttype == "#microsoft.graph.groupAssignmentTarget" or ttype == "#microsoft.graph.exclusionGroupAssignmentTarget":
            gid = target.get("groupId")
            if gid not in ctx.tenant.groups:
                raise IntuneError(400, "BadRequest", f"Group '{gid}' was not found.")
            aid = f"{cfg['id']}_{gid}"
        elif ttype in ("#microsoft.graph.allLicensedUsersAssignmentTarget", "#microsoft.graph.allDevicesAssignmentTarget"):
            aid = f"{cfg['id']}_{ttype.rsplit('.', 1)[-1]}"
        else:
            raise IntuneError(400, "BadRequest", f"Invalid assignment target type '{ttype}'.")
        out.append({"id": aid, "target": copy.deepcopy(target)})
    with ctx.world.lock:
        cfg["assignments"] = out
    return ctx.no_content()


@route("GET", "deviceManagement/deviceEnrollmentConfigurations/{cid}/assignments")
def list_assignments(ctx: GraphContext):
    ctx.require(SC_READ, intune=True)
    _intune_on(ctx)
    cfg = _cfg(ctx)
    return ctx.ok({"@odata.context": ctx.context_url(f"{ENROLLMENT_FRAGMENT}('{cfg['id']}')/assignments"),
                   "value": [_assignment_out(a) for a in cfg.get("assignments") or []]})


@route("POST", "deviceManagement/deviceEnrollmentConfigurations/{cid}/setPriority")
def set_priority(ctx: GraphContext):
    ctx.require(SC_WRITE, intune=True)
    _intune_on(ctx)
    cfg = _cfg(ctx)
    body = ctx.body_object()
    pr = body.get("priority")
    if isinstance(pr, bool) or not isinstance(pr, int) or pr < 1:
        raise IntuneError(400, "BadRequest", "Priority must be a positive integer.")
    if cfg.get("priority", 0) == 0:
        raise IntuneError(400, "BadRequest", "The priority of the default enrollment configuration cannot be "
                                             "changed.")
    t = ctx.tenant
    kind = cfg.get("@odata.type")
    with ctx.world.lock:
        if not any(c is cfg for c in t.enrollment_configurations):
            raise _not_found(ctx)          # deleted meanwhile by another request
        same = sorted((c for c in t.enrollment_configurations
                       if c.get("@odata.type") == kind and c.get("priority", 0) != 0 and c is not cfg),
                      key=lambda c: c["priority"])
        pos = min(pr, len(same) + 1) - 1
        same.insert(pos, cfg)
        for i, c in enumerate(same, 1):
            c["priority"] = i
    return ctx.no_content()


# -- remote actions -------------------------------------------------------------------------------------

def _actions(ctx: GraphContext) -> dict[str, list[dict[str, Any]]]:
    """deviceActionResults per managed device id (the model keeps none; held by the world)."""
    return ctx.world.cached(f"graph:device_actions:{ctx.tenant.id}", dict)


def _record_action(ctx: GraphContext, m, name: str) -> None:
    now = iso_z(ctx.world.clock.now())
    with ctx.world.lock:
        results = _actions(ctx).setdefault(m.id, [])
        results[:] = [r for r in results if r["actionName"] != name]
        results.append({"actionName": name, "actionState": "pending", "startDateTime": now,
                        "lastUpdatedDateTime": now})


@route("POST", "deviceManagement/managedDevices/{mdid}/retire")
@route("POST", "deviceManagement/managedDevices/{mdid}/wipe")
@route("POST", "deviceManagement/managedDevices/{mdid}/rebootNow")
@route("POST", "deviceManagement/managedDevices/{mdid}/remoteLock")
@route("POST", "deviceManagement/managedDevices/{mdid}/shutDown")
def device_action(ctx: GraphContext):
    ctx.require(MD_ACTION, intune=True)
    _intune_on(ctx)
    m = _md(ctx)
    name = ctx.path.rstrip("/").rsplit("/", 1)[-1]
    if name.lower() == "wipe" and ctx.request.body:
        body = ctx.body_object()
        for k in ("keepEnrollmentData", "keepUserData", "persistEsimDataPlan"):
            if k in body and not isinstance(body[k], bool):
                raise IntuneError(400, "BadRequest", f"Invalid value for parameter '{k}'.")
    canon = {"retire": "retire", "wipe": "wipe", "rebootnow": "rebootNow", "remotelock": "remoteLock",
             "shutdown": "shutDown"}[name.lower()]
    _record_action(ctx, m, canon)
    return ctx.no_content()


def action_results(ctx: GraphContext, m) -> list[dict[str, Any]]:
    return [dict(r) for r in _actions(ctx).get(m.id, [])]

"""Directory endpoints: devices, users, groups, subscribedSkus, organization (graph-intune.md §1, §5, §7).

Permissions (delegated scopes | application roles | directory roles a delegated caller needs):

| endpoint | delegated | application | roles (delegated) |
|---|---|---|---|
| GET devices, device, owners/users/memberOf, $count | Device.Read.All, Directory.Read.All, Directory.ReadWrite.All, Device.ReadWrite.All, Directory.AccessAsUser.All | Device.Read.All, Device.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All | any user |
| PATCH device | Directory.AccessAsUser.All, Device.ReadWrite.All, Directory.ReadWrite.All | Device.ReadWrite.All, Directory.ReadWrite.All | Cloud Device Admin, Intune Admin, Windows 365 Admin, Global Admin |
| DELETE device | Directory.AccessAsUser.All, Device.ReadWrite.All | Device.ReadWrite.All | Cloud Device Admin, Intune Admin, Windows 365 Admin, Global Admin |
| GET users, user | User.ReadBasic.All, User.Read.All, User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All, Directory.AccessAsUser.All (User.Read for oneself) | User.Read.All, User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All | any user |
| GET user registeredDevices/ownedDevices | as users, plus Device.Read.All (User.Read for oneself) | as users, plus Device.Read.All | any user |
| GET user licenseDetails | LicenseAssignment.Read.All, User.Read.All, Directory.Read.All (User.Read for oneself) | LicenseAssignment.Read.All, User.Read.All, Directory.Read.All | any user |
| GET user memberOf | GroupMember.Read.All, Directory.Read.All, Directory.ReadWrite.All, User.Read.All (User.Read for oneself) | GroupMember.Read.All, Directory.Read.All, User.Read.All | any user |
| GET groups, group, members | GroupMember.Read.All, Group.Read.All, Group.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All | same | any user |
| GET subscribedSkus | Organization.Read.All, Directory.Read.All, Directory.ReadWrite.All, Organization.ReadWrite.All, LicenseAssignment.Read.All | Organization.Read.All, Directory.Read.All, Directory.ReadWrite.All, Organization.ReadWrite.All | any user |
| GET organization | User.Read, Organization.Read.All, Directory.Read.All | Organization.Read.All, Directory.Read.All | any user |
"""
from __future__ import annotations

import re
from typing import Any

from ...world.events import device_target, record_audit
from ...world.models import DirectoryDevice, User
from . import odata
from .core import CDA, GA, IA, W365, GraphContext, Perm, route
from .exceptions import GraphError, bad_request, not_found
from .serializers import (DEVICE_SPEC, DIRECTORY_OBJECT_SPEC, EXTENSION_ATTRIBUTES, GROUP_SPEC, USER_SPEC,
                          device_full, device_json, directory_object, group_json, license_details,
                          organization_json, subscribed_skus, user_full, user_json)

DIR_READ = ("Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All")
DIR_READ_APP = ("Directory.Read.All", "Directory.ReadWrite.All")

DEVICE_READ = Perm(("Device.Read.All", "Device.ReadWrite.All", *DIR_READ),
                   ("Device.Read.All", "Device.ReadWrite.All", *DIR_READ_APP))
DEVICE_WRITE = Perm(("Directory.AccessAsUser.All", "Device.ReadWrite.All", "Directory.ReadWrite.All"),
                    ("Device.ReadWrite.All", "Directory.ReadWrite.All"), roles=(CDA, IA, W365, GA))
DEVICE_DELETE = Perm(("Directory.AccessAsUser.All", "Device.ReadWrite.All"), ("Device.ReadWrite.All",),
                     roles=(CDA, IA, W365, GA))
USER_READ = Perm(("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", *DIR_READ),
                 ("User.Read.All", "User.ReadWrite.All", *DIR_READ_APP), self_scopes=("User.Read", "User.ReadWrite"))
USER_DEVICES = Perm((*USER_READ.delegated, "Device.Read.All"), (*USER_READ.app, "Device.Read.All"),
                    self_scopes=("User.Read", "User.ReadWrite"))
LICENSE_READ = Perm(("LicenseAssignment.Read.All", "User.Read.All", "User.ReadWrite.All", *DIR_READ),
                    # Inferred (open question 7): application User.Read.All is accepted in practice.
                    ("LicenseAssignment.Read.All", "User.Read.All", "User.ReadWrite.All", *DIR_READ_APP),
                    self_scopes=("User.Read", "User.ReadWrite"))
MEMBEROF_READ = Perm(("GroupMember.Read.All", "User.Read.All", *DIR_READ),
                     ("GroupMember.Read.All", "User.Read.All", *DIR_READ_APP), self_scopes=("User.Read",))
GROUP_READ = Perm(("GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", *DIR_READ),
                  ("GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", *DIR_READ_APP))
SKU_READ = Perm(("Organization.Read.All", "Organization.ReadWrite.All", "LicenseAssignment.Read.All", *DIR_READ),
                ("Organization.Read.All", "Organization.ReadWrite.All", *DIR_READ_APP))
ORG_READ = Perm(("User.Read", "Organization.Read.All", "Organization.ReadWrite.All", *DIR_READ),
                ("Organization.Read.All", "Organization.ReadWrite.All", *DIR_READ_APP))

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


# -- lookups -----------------------------------------------------------------------------------------

def _device(ctx: GraphContext) -> DirectoryDevice:
    t = ctx.tenant
    if "device_id" in ctx.params:
        key = ctx.params["device_id"]
        d = t.device_by_device_id(key)
        if d is None:
            raise not_found(key)
        return d
    key = ctx.params["id"]
    d = t.devices.get(key) or t.devices.get(key.lower())
    if d is None:
        if not GUID.match(key):
            # Inferred: the directory refuses a key that is not a GUID the way it refuses a missing one.
            raise bad_request(f"Invalid object identifier '{key}'.")
        raise not_found(key)
    return d


def _user(ctx: GraphContext, key: str | None = None) -> User:
    t = ctx.tenant
    if key is None:
        key = ctx.params.get("uid")
    if key is None:  # /me
        c = ctx.caller
        if c.is_app:
            raise bad_request("/me request is only valid with delegated authentication flow.",
                              code="BadRequest")
        if c.user is None:
            raise not_found(c.claims.get("oid", ""))
        return c.user
    u = t.users.get(key) or t.users.get(key.lower()) or t.user_by_upn(key)
    if u is None:
        raise not_found(key)
    return u


def _subject_user_id(ctx: GraphContext) -> str | None:
    """The user an endpoint is about (for User.Read-on-oneself), without failing on a bad key."""
    key = ctx.params.get("uid")
    c = ctx.caller
    if key is None:
        return c.user.id if c.user else None
    u = ctx.tenant.users.get(key) or ctx.tenant.user_by_upn(key)
    return u.id if u else None


def _object(ctx: GraphContext, oid: str):
    t = ctx.tenant
    return t.users.get(oid) or t.devices.get(oid) or t.groups.get(oid)


def _dobj_collection(ctx: GraphContext, fragment: str, objs: list[Any]) -> Any:
    t = ctx.tenant
    return ctx.collection(fragment, DIRECTORY_OBJECT_SPEC, objs, lambda o: directory_object(t, o))


def _user_fragment(ctx: GraphContext, u: User, nav: str) -> str:
    return f"users('{u.id}')/{nav}" if "uid" in ctx.params else f"users('{u.id}')/{nav}"


# -- devices -----------------------------------------------------------------------------------------

def _device_entity(ctx: GraphContext, d: DirectoryDevice):
    select = odata.resolve_select(DEVICE_SPEC, ctx.query)
    obj = device_full(d, ctx.version) if select else device_json(d, ctx.version)
    return ctx.entity("devices", obj, select)


@route("GET", "devices")
def list_devices(ctx: GraphContext):
    ctx.require(DEVICE_READ)
    t = ctx.tenant
    select = odata.resolve_select(DEVICE_SPEC, ctx.query)
    ser = (lambda d: device_full(d, ctx.version)) if select else (lambda d: device_json(d, ctx.version))
    return ctx.collection("devices", DEVICE_SPEC, t.devices.values(), ser)


@route("GET", "devices/$count")
def count_devices(ctx: GraphContext):
    ctx.require(DEVICE_READ)
    return _count(ctx, DEVICE_SPEC, ctx.tenant.devices.values())


def _count(ctx: GraphContext, spec, items):
    if not ctx.query.consistency_eventual:
        raise bad_request("$count is not currently supported.")
    return ctx.text(str(odata.count_all(spec, ctx.query, items)))


@route("GET", "devices/{id}")
@route("GET", "devices(deviceId='{device_id}')")
def get_device(ctx: GraphContext):
    ctx.require(DEVICE_READ)
    return _device_entity(ctx, _device(ctx))


@route("PATCH", "devices/{id}")
@route("PATCH", "devices(deviceId='{device_id}')")
def patch_device(ctx: GraphContext):
    ctx.require(DEVICE_WRITE)
    d = _device(ctx)
    body = ctx.body_object()
    changes: list[dict[str, Any]] = []
    writable = {"accountEnabled", "extensionAttributes", "displayName", "operatingSystem", "operatingSystemVersion"}
    read_only = {"id", "deviceId", "trustType", "isCompliant", "isManaged", "registrationDateTime", "mdmAppId",
                 "approximateLastSignInDateTime", "profileType", "physicalIds", "alternativeSecurityIds"}
    for k in body:
        if k.startswith("@odata"):
            continue
        if k in read_only:
            # Inferred: the directory's refusal to write a read-only or MDM-owned property.
            raise bad_request(f"Property '{k}' is read-only and cannot be set.")
        if k not in writable:
            raise GraphError(400, "BadRequest", f"Property '{k}' does not exist on type 'microsoft.graph.device'. "
                                                "Make sure to only use property names that are defined by the type "
                                                "or mark the type as open type.")
    if "accountEnabled" in body:
        v = body["accountEnabled"]
        if not isinstance(v, bool):
            raise bad_request("Invalid value specified for property 'accountEnabled' of resource 'Device'.")
        if v != d.account_enabled:
            changes.append({"displayName": "AccountEnabled", "oldValue": f"[{str(d.account_enabled).lower()}]",
                            "newValue": f"[{str(v).lower()}]"})
        d.account_enabled = v
    if "extensionAttributes" in body:
        ext = body["extensionAttributes"]
        if not isinstance(ext, dict):
            raise bad_request("Invalid value specified for property 'extensionAttributes' of resource 'Device'.")
        for k, v in ext.items():
            if k not in EXTENSION_ATTRIBUTES:
                raise GraphError(400, "BadRequest", f"Property '{k}' does not exist on type "
                                                    "'microsoft.graph.onPremisesExtensionAttributes'.")
            if v is not None and not isinstance(v, str):
                raise bad_request(f"Invalid value specified for property '{k}' of resource 'Device'.")
            if len(v or "") > 1024:
                raise bad_request(f"Invalid value specified for property '{k}' of resource 'Device'.")
        for k, v in ext.items():
            d.extension_attributes[k] = v
        changes.append({"displayName": "ExtensionAttributes", "oldValue": None, "newValue": None})
    for prop, attr in (("displayName", "display_name"), ("operatingSystem", "operating_system"),
                       ("operatingSystemVersion", "operating_system_version")):
        if prop in body:
            v = body[prop]
            if not isinstance(v, str) or not v or len(v) > 256:
                raise bad_request(f"Invalid value specified for property '{prop}' of resource 'Device'.")
            setattr(d, attr, v)
    record_audit(ctx.world, ctx.tenant, activity="Update device", category="Device", service="Core Directory",
                 operation_type="Update", initiated_by=ctx.caller.user, targets=[device_target(d, changes)],
                 app=_audit_app(ctx))
    return ctx.no_content()


@route("DELETE", "devices/{id}")
@route("DELETE", "devices(deviceId='{device_id}')")
def delete_device(ctx: GraphContext):
    ctx.require(DEVICE_DELETE)
    d = _device(ctx)
    t = ctx.tenant
    with ctx.world.lock:
        t.devices.pop(d.id, None)
        for g in t.groups.values():
            if d.id in g.members:
                g.members.remove(d.id)
    record_audit(ctx.world, t, activity="Delete device", category="Device", service="Core Directory",
                 operation_type="Delete", initiated_by=ctx.caller.user, targets=[device_target(d)],
                 app=_audit_app(ctx))
    return ctx.no_content()


def _audit_app(ctx: GraphContext) -> dict[str, Any] | None:
    c = ctx.caller
    if not c.is_app:
        return None
    app = c.tenant.applications.get(c.claims.get("appid", ""))
    return {"appId": c.claims.get("appid"), "displayName": app.display_name if app else None,
            "servicePrincipalId": c.claims.get("oid"), "servicePrincipalName": None}


@route("GET", "devices/{id}/registeredOwners")
@route("GET", "devices(deviceId='{device_id}')/registeredOwners")
@route("GET", "devices/{id}/registeredUsers")
@route("GET", "devices(deviceId='{device_id}')/registeredUsers")
def device_owners(ctx: GraphContext):
    ctx.require(DEVICE_READ)
    d = _device(ctx)
    nav = "registeredOwners" if ctx.path.rstrip("/").lower().endswith("registeredowners") else "registeredUsers"
    owner = ctx.tenant.users.get(d.owner_id) if d.owner_id else None
    return _dobj_collection(ctx, f"directoryObjects", [owner] if owner else [])


@route("GET", "devices/{id}/memberOf")
@route("GET", "devices(deviceId='{device_id}')/memberOf")
@route("GET", "devices/{id}/transitiveMemberOf")
def device_member_of(ctx: GraphContext):
    ctx.require(DEVICE_READ)
    d = _device(ctx)
    return _dobj_collection(ctx, "directoryObjects", ctx.tenant.groups_of(d.id))


# -- users -------------------------------------------------------------------------------------------

def _user_entity(ctx: GraphContext, u: User):
    select = odata.resolve_select(USER_SPEC, ctx.query)
    obj = user_full(u) if select else user_json(u)
    if "uid" not in ctx.params:
        # /me answers with the users entity set context, as the real service does.
        return ctx.entity("users", obj, select)
    return ctx.entity("users", obj, select)


@route("GET", "users")
def list_users(ctx: GraphContext):
    ctx.require(USER_READ)
    select = odata.resolve_select(USER_SPEC, ctx.query)
    return ctx.collection("users", USER_SPEC, ctx.tenant.users.values(), user_full if select else user_json)


@route("GET", "users/$count")
def count_users(ctx: GraphContext):
    ctx.require(USER_READ)
    return _count(ctx, USER_SPEC, ctx.tenant.users.values())


@route("GET", "me")
@route("GET", "users/{uid}")
def get_user(ctx: GraphContext):
    ctx.require(USER_READ, subject_user_id=_subject_user_id(ctx))
    return _user_entity(ctx, _user(ctx))


@route("GET", "me/registeredDevices")
@route("GET", "users/{uid}/registeredDevices")
@route("GET", "me/ownedDevices")
@route("GET", "users/{uid}/ownedDevices")
def user_devices(ctx: GraphContext):
    ctx.require(USER_DEVICES, subject_user_id=_subject_user_id(ctx))
    u = _user(ctx)
    nav = "ownedDevices" if ctx.path.rstrip("/").lower().endswith("owneddevices") else "registeredDevices"
    return _dobj_collection(ctx, f"users('{u.id}')/{nav}", ctx.tenant.devices_owned_by(u.id))


@route("GET", "me/licenseDetails")
@route("GET", "users/{uid}/licenseDetails")
def user_licenses(ctx: GraphContext):
    ctx.require(LICENSE_READ, subject_user_id=_subject_user_id(ctx))
    u = _user(ctx)
    items = license_details(u)
    select = ctx.query.select
    return ctx.ok({"@odata.context": ctx.context_url(f"users('{u.id}')/licenseDetails"),
                   "value": [odata.select_fields(i, select) if select else i for i in items]})


@route("GET", "me/memberOf")
@route("GET", "users/{uid}/memberOf")
@route("GET", "me/transitiveMemberOf")
@route("GET", "users/{uid}/transitiveMemberOf")
def user_member_of(ctx: GraphContext):
    ctx.require(MEMBEROF_READ, subject_user_id=_subject_user_id(ctx))
    u = _user(ctx)
    return _dobj_collection(ctx, "directoryObjects", ctx.tenant.groups_of(u.id))


# -- groups ------------------------------------------------------------------------------------------

@route("GET", "groups")
def list_groups(ctx: GraphContext):
    ctx.require(GROUP_READ)
    return ctx.collection("groups", GROUP_SPEC, ctx.tenant.groups.values(), group_json)


@route("GET", "groups/$count")
def count_groups(ctx: GraphContext):
    ctx.require(GROUP_READ)
    return _count(ctx, GROUP_SPEC, ctx.tenant.groups.values())


def _group(ctx: GraphContext):
    g = ctx.tenant.groups.get(ctx.params["gid"])
    if g is None:
        raise not_found(ctx.params["gid"])
    return g


@route("GET", "groups/{gid}")
def get_group(ctx: GraphContext):
    ctx.require(GROUP_READ)
    select = odata.resolve_select(GROUP_SPEC, ctx.query)
    return ctx.entity("groups", group_json(_group(ctx)), select)


@route("GET", "groups/{gid}/members")
@route("GET", "groups/{gid}/transitiveMembers")
def group_members(ctx: GraphContext):
    ctx.require(GROUP_READ)
    g = _group(ctx)
    objs = [o for o in (_object(ctx, m) for m in g.members) if o is not None]
    return _dobj_collection(ctx, "directoryObjects", objs)


# -- tenant ------------------------------------------------------------------------------------------

@route("GET", "subscribedSkus")
def list_skus(ctx: GraphContext):
    ctx.require(SKU_READ)
    q = ctx.query
    if q.filter or q.orderby or q.search:
        raise GraphError(400, "Request_UnsupportedQuery", "Unsupported query.")
    items = subscribed_skus(ctx.tenant)
    return ctx.ok({"@odata.context": ctx.context_url("subscribedSkus"),
                   "value": [odata.select_fields(i, q.select) if q.select else i for i in items]})


@route("GET", "organization")
def list_org(ctx: GraphContext):
    ctx.require(ORG_READ)
    q = ctx.query
    obj = organization_json(ctx.tenant)
    return ctx.ok({"@odata.context": ctx.context_url("organization"),
                   "value": [odata.select_fields(obj, q.select) if q.select else obj]})


@route("GET", "organization/{oid}")
def get_org(ctx: GraphContext):
    ctx.require(ORG_READ)
    if ctx.params["oid"].lower() != ctx.tenant.id:
        raise not_found(ctx.params["oid"])
    return ctx.entity("organization", organization_json(ctx.tenant), ctx.query.select)

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
| GET directoryRoles[/id][/members] | RoleManagement.Read.Directory, RoleManagement.Read.All, Directory.Read.All | same | any user |
| POST devices, POST/DELETE devices/{id}/registeredOwners/$ref | as PATCH device | as PATCH device | as PATCH device |
| POST groups, DELETE groups/{id} | Group.ReadWrite.All, Directory.ReadWrite.All, Directory.AccessAsUser.All | Group.ReadWrite.All, Directory.ReadWrite.All | Global Admin, User Admin, Groups Admin, Intune Admin |
| POST/DELETE groups/{id}/members/$ref | GroupMember.ReadWrite.All, Group.ReadWrite.All, Directory.ReadWrite.All, Directory.AccessAsUser.All | GroupMember.ReadWrite.All, Group.ReadWrite.All, Directory.ReadWrite.All | Global Admin, User Admin, Groups Admin, Intune Admin |
| POST users/{id}/assignLicense | LicenseAssignment.ReadWrite.All, User.ReadWrite.All, Directory.ReadWrite.All, Directory.AccessAsUser.All | LicenseAssignment.ReadWrite.All, User.ReadWrite.All, Directory.ReadWrite.All | Global Admin, User Admin, License Admin |
| POST users, PATCH users/{id}, DELETE users/{id} | User.ReadWrite.All, Directory.ReadWrite.All, Directory.AccessAsUser.All | User.ReadWrite.All, Directory.ReadWrite.All | Global Admin, User Admin |
| POST getMemberGroups/checkMemberGroups/getMemberObjects | as memberOf (users) / as GET device (devices) | same | any user |
| POST $batch | (each request is checked on its own) | | |
| GET devices/delta, users/delta, groups/delta | as the collection | as the collection | any user |
| GET /oidc/userinfo | any delegated token | (refused) | any user |
"""
from __future__ import annotations

import re
from typing import Any

from ...world.events import device_target, record_audit, target, user_target
from ...world.models import KNOWN_SKUS, ROLE_TEMPLATES, DirectoryDevice, Group, User
from . import odata
from .core import CDA, GA, IA, W365, GraphContext, Perm, castable, route
from .exceptions import GraphError, bad_request, not_found
from .serializers import (
    DEVICE_SPEC,
    DIRECTORY_OBJECT_SPEC,
    EXTENSION_ATTRIBUTES,
    GROUP_SPEC,
    USER_SPEC,
    DirectoryRole,
    activated_roles,
    device_full,
    device_json,
    device_page_text,
    directory_object,
    directory_role,
    directory_role_json,
    group_json,
    license_details,
    organization_json,
    subscribed_skus,
    user_full,
    user_json,
)

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


# -- $expand on navigation properties ----------------------------------------------------------------

def _owner_list(t, d):
    owner = t.users.get(d.owner_id) if d.owner_id else None
    return [owner] if owner else []


DEVICE_NAVS = {"registeredowners": ("registeredOwners", _owner_list),
               "registeredusers": ("registeredUsers", _owner_list),
               "memberof": ("memberOf", lambda t, d: t.groups_of(d.id))}
USER_NAVS = {"registereddevices": ("registeredDevices", lambda t, u: t.devices_owned_by(u.id)),
             "owneddevices": ("ownedDevices", lambda t, u: t.devices_owned_by(u.id)),
             "memberof": ("memberOf", lambda t, u: _user_memberships(t, u))}
GROUP_NAVS = {"members": ("members", lambda t, g: [o for o in (t.users.get(m) or t.devices.get(m) or t.groups.get(m)
                                                             for m in g.members) if o is not None])}


def _user_memberships(t, u: User) -> list[Any]:
    return [*t.groups_of(u.id), *(directory_role(t, r) for r in u.roles)]


def _expansions(ctx: GraphContext, navs: dict, type_name: str) -> list[tuple[str, Any]]:
    out = []
    for e in ctx.query.expand:
        base = e.split("(")[0].strip()
        if base.lower() not in navs:
            raise GraphError(400, "BadRequest", f"Could not find a property named '{base}' on type "
                                                f"'microsoft.graph.{type_name}'.")
        out.append(navs[base.lower()])
    if out and ctx.query.advanced:
        # Inferred text: $expand is not supported with advanced queries (GD aad-advanced-queries).
        raise GraphError(400, "Request_UnsupportedQuery", "Unsupported query.")
    if len(out) > 1:
        # Inferred: directory objects expand one navigation property per request.
        raise GraphError(400, "Request_UnsupportedQuery", "Only one navigation property can be expanded.")
    return out


def _expanding(ctx: GraphContext, serialize, navs: dict, type_name: str):
    exps = _expansions(ctx, navs, type_name)
    if not exps:
        return serialize, ()
    t = ctx.tenant

    def ser(o):
        out = serialize(o)
        for name, fn in exps:
            out[name] = [directory_object(t, x) for x in fn(t, o)]
        return out
    return ser, tuple(name for name, _ in exps)


_CASTS = {"user": ("users", User), "group": ("groups", Group), "device": ("devices", DirectoryDevice),
          "directoryrole": ("directoryRoles", DirectoryRole)}
_EMPTY_CASTS = {"serviceprincipal": "servicePrincipals", "administrativeunit": "administrativeUnits",
                "orgcontact": "contacts", "application": "applications"}


def _dobj_collection(ctx: GraphContext, fragment: str, objs: list[Any]) -> Any:
    t = ctx.tenant
    if ctx.cast:
        key = ctx.cast.lower()
        if key in _CASTS:
            fragment, cls = _CASTS[key]
            objs = [o for o in objs if isinstance(o, cls)]
        elif key in _EMPTY_CASTS:
            fragment, objs = _EMPTY_CASTS[key], []
        else:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment 'microsoft.graph.{ctx.cast}'.")
    return ctx.collection(fragment, DIRECTORY_OBJECT_SPEC, objs, lambda o: directory_object(t, o))


# -- devices -----------------------------------------------------------------------------------------

def _device_entity(ctx: GraphContext, d: DirectoryDevice):
    select = odata.resolve_select(DEVICE_SPEC, ctx.query)
    ser, keep = _expanding(ctx, (lambda x: device_full(x, ctx.version)) if select
                           else (lambda x: device_json(x, ctx.version)), DEVICE_NAVS, "device")
    return ctx.entity("devices", ser(d), select, keep)


@route("GET", "devices")
def list_devices(ctx: GraphContext):
    ctx.require(DEVICE_READ)
    t = ctx.tenant
    select = odata.resolve_select(DEVICE_SPEC, ctx.query)
    ser = (lambda d: device_full(d, ctx.version)) if select else (lambda d: device_json(d, ctx.version))
    ser, keep = _expanding(ctx, ser, DEVICE_NAVS, "device")
    version = ctx.version
    # Without $expand the page's text comes from the device caches (serializers.device_page_text).
    pages = t.__dict__.get("_device_pages")
    if pages is None:
        pages = t.__dict__.setdefault("_device_pages", {})
    text = None if keep else (lambda devices, fields: device_page_text(pages, devices, version, fields))
    return ctx.collection("devices", DEVICE_SPEC, t.devices.values(), ser, keep=keep, items_text=text,
                          source=t.devices)


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
        t.remove_object(t.devices, d.id)
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
@castable
def device_owners(ctx: GraphContext):
    ctx.require(DEVICE_READ)
    d = _device(ctx)
    return _dobj_collection(ctx, "directoryObjects", _owner_list(ctx.tenant, d))


@route("GET", "devices/{id}/memberOf")
@route("GET", "devices(deviceId='{device_id}')/memberOf")
@route("GET", "devices/{id}/transitiveMemberOf")
@castable
def device_member_of(ctx: GraphContext):
    ctx.require(DEVICE_READ)
    d = _device(ctx)
    return _dobj_collection(ctx, "directoryObjects", ctx.tenant.groups_of(d.id))


# -- users -------------------------------------------------------------------------------------------

def _user_entity(ctx: GraphContext, u: User):
    select = odata.resolve_select(USER_SPEC, ctx.query)
    ser, keep = _expanding(ctx, user_full if select or ctx.version == "beta" else user_json, USER_NAVS, "user")
    # /me answers with the users entity set context, as the real service does.
    return ctx.entity("users", ser(u), select, keep)


@route("GET", "users")
def list_users(ctx: GraphContext):
    ctx.require(USER_READ)
    select = odata.resolve_select(USER_SPEC, ctx.query)
    # beta returns the wider property set by default.
    ser, keep = _expanding(ctx, user_full if select or ctx.version == "beta" else user_json, USER_NAVS, "user")
    return ctx.collection("users", USER_SPEC, ctx.tenant.users.values(), ser, keep=keep)


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
@castable
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
@castable
def user_member_of(ctx: GraphContext):
    ctx.require(MEMBEROF_READ, subject_user_id=_subject_user_id(ctx))
    u = _user(ctx)
    return _dobj_collection(ctx, "directoryObjects", _user_memberships(ctx.tenant, u))


# -- groups ------------------------------------------------------------------------------------------

@route("GET", "groups")
def list_groups(ctx: GraphContext):
    ctx.require(GROUP_READ)
    ser, keep = _expanding(ctx, group_json, GROUP_NAVS, "group")
    return ctx.collection("groups", GROUP_SPEC, ctx.tenant.groups.values(), ser, keep=keep)


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
    ser, keep = _expanding(ctx, group_json, GROUP_NAVS, "group")
    return ctx.entity("groups", ser(_group(ctx)), select, keep)


@route("GET", "groups/{gid}/members")
@route("GET", "groups/{gid}/transitiveMembers")
@castable
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


# -- directory roles ---------------------------------------------------------------------------------

ROLE_READ = Perm(("RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory",
                  *DIR_READ),
                 ("RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory",
                  *DIR_READ_APP))


@route("GET", "directoryRoles")
def list_roles(ctx: GraphContext):
    """Only activated roles are listed; directoryRoles do not page (GD concepts/paging.md)."""
    ctx.require(ROLE_READ)
    roles = activated_roles(ctx.tenant)
    return ctx.ok({"@odata.context": ctx.context_url("directoryRoles"),
                   "value": [odata.select_fields(directory_role_json(r), ctx.query.select) for r in roles]})


def _role(ctx: GraphContext):
    key = ctx.params["rid"].lower()
    for r in activated_roles(ctx.tenant):
        if key in (r.id, r.template_id):
            return r
    raise not_found(ctx.params["rid"])


@route("GET", "directoryRoles(roleTemplateId='{rid}')")
@route("GET", "directoryRoles/{rid}")
def get_role(ctx: GraphContext):
    ctx.require(ROLE_READ)
    return ctx.entity("directoryRoles", directory_role_json(_role(ctx)), ctx.query.select)


@route("GET", "directoryRoles/{rid}/members")
@route("GET", "directoryRoles(roleTemplateId='{rid}')/members")
@castable
def role_members(ctx: GraphContext):
    ctx.require(ROLE_READ)
    r = _role(ctx)
    members = [u for u in ctx.tenant.users.values() if r.template_id in u.roles]
    return _dobj_collection(ctx, "directoryObjects", members)


# -- OpenID Connect userinfo (the v2 metadata's userinfo_endpoint) ---------------------------------------

@route("GET", "userinfo", versions=("oidc",))
@route("POST", "userinfo", versions=("oidc",))
def userinfo(ctx: GraphContext):
    c = ctx.caller
    if c.is_app or c.user is None:
        # Inferred: userinfo needs a delegated token of a user of the tenant.
        raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")
    u = c.user
    out = {"sub": c.claims.get("sub"), "name": u.display_name, "family_name": u.surname or None,
           "given_name": u.given_name or None, "picture": "https://graph.microsoft.com/v1.0/me/photo/$value",
           "email": u.mail}
    return ctx.ok(out)


# -- writes: devices, registered owners, groups, group members, licences --------------------------------

GROUPS_ADMIN = "fdd7a751-b60b-444a-984c-02652fe8fa1c"
USER_ADMIN = ROLE_TEMPLATES["User Administrator"]
LICENSE_ADMIN = ROLE_TEMPLATES["License Administrator"]

DEVICE_CREATE = Perm(("Directory.AccessAsUser.All", "Device.ReadWrite.All", "Directory.ReadWrite.All"),
                     ("Device.ReadWrite.All", "Directory.ReadWrite.All"), roles=(CDA, IA, W365, GA))
GROUP_WRITE = Perm(("Group.ReadWrite.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"),
                   ("Group.ReadWrite.All", "Directory.ReadWrite.All"), roles=(GA, USER_ADMIN, GROUPS_ADMIN, IA))
MEMBER_WRITE = Perm(("GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All",
                     "Directory.AccessAsUser.All"),
                    ("GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"),
                    roles=(GA, USER_ADMIN, GROUPS_ADMIN, IA))
LICENSE_WRITE = Perm(("LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All",
                      "Directory.AccessAsUser.All"),
                     ("LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"),
                     roles=(GA, USER_ADMIN, LICENSE_ADMIN))


def _ref_id(ctx: GraphContext) -> str:
    body = ctx.body_object()
    ref = body.get("@odata.id")
    if not isinstance(ref, str) or not ref.strip():
        raise GraphError(400, "BadRequest", "Invalid request body: the reference '@odata.id' is missing.")
    oid = ref.rstrip("/").rsplit("/", 1)[-1]
    if "(" in oid:
        oid = oid.split("(", 1)[1].strip("')\"")
    return oid


def _required(body: dict[str, Any], props: tuple[str, ...], resource: str) -> None:
    for p in props:
        if body.get(p) in (None, ""):
            # Inferred text, in the directory's style for a missing required property.
            raise bad_request(f"Invalid value specified for property '{p}' of resource '{resource}'.")


@route("POST", "devices")
def create_device(ctx: GraphContext):
    ctx.require(DEVICE_CREATE)
    body = ctx.body_object()
    _required(body, ("accountEnabled", "deviceId", "displayName", "operatingSystem", "operatingSystemVersion"),
              "Device")
    alt = body.get("alternativeSecurityIds")
    if not isinstance(alt, list) or not alt:
        raise bad_request("Invalid value specified for property 'alternativeSecurityIds' of resource 'Device'.")
    dev_id = str(body["deviceId"]).lower()
    if not GUID.match(dev_id):
        raise bad_request("Invalid value specified for property 'deviceId' of resource 'Device'.")
    t = ctx.tenant
    # The duplicate check and the insert under one lock: two concurrent creates of the same
    # deviceId must not both succeed.
    with ctx.world.lock:
        if t.device_by_device_id(dev_id) is not None:
            raise bad_request("Another object with the same value for property deviceId already exists.")
        d = DirectoryDevice(id=ctx.world.ids.guid(), device_id=dev_id, display_name=str(body["displayName"]),
                            operating_system=str(body["operatingSystem"]),
                            operating_system_version=str(body["operatingSystemVersion"]),
                            account_enabled=bool(body["accountEnabled"]),
                            trust_type=body.get("trustType") if body.get("trustType") in (
                                "AzureAd", "Workplace", "ServerAd") else "Workplace",
                            registration_time=ctx.world.clock.now(),
                            physical_ids=[str(p) for p in body.get("physicalIds") or []],
                            profile_type=body.get("profileType") or "RegisteredDevice")
        t.devices[d.id] = d
    record_audit(ctx.world, t, activity="Add device", category="Device", service="Core Directory",
                 operation_type="Add", initiated_by=ctx.caller.user, targets=[device_target(d)], app=_audit_app(ctx))
    out = {"@odata.context": ctx.context_url("devices/$entity")}
    out.update(device_json(d, ctx.version))
    return ctx.ok(out, 201)


@route("POST", "devices/{id}/registeredOwners/$ref")
@route("POST", "devices/{id}/registeredUsers/$ref")
def add_device_owner(ctx: GraphContext):
    ctx.require(DEVICE_WRITE)
    d = _device(ctx)
    uid = _ref_id(ctx)
    u = ctx.tenant.users.get(uid)
    if u is None:
        raise not_found(uid)
    if d.owner_id == u.id:
        raise bad_request("One or more added object references already exist for the following modified "
                          "properties: 'registeredOwners'.")
    if d.owner_id is not None:
        # "currently only one owner" (GD device.md)
        raise bad_request("The device already has a registered owner.")
    d.owner_id = u.id
    record_audit(ctx.world, ctx.tenant, activity="Add registered owner to device", category="Device",
                 service="Core Directory", operation_type="Assign", initiated_by=ctx.caller.user,
                 targets=[device_target(d)], app=_audit_app(ctx))
    return ctx.no_content()


@route("DELETE", "devices/{id}/registeredOwners/{uid}/$ref")
@route("DELETE", "devices/{id}/registeredUsers/{uid}/$ref")
def remove_device_owner(ctx: GraphContext):
    ctx.require(DEVICE_WRITE)
    d = _device(ctx)
    if d.owner_id != ctx.params["uid"]:
        raise not_found(ctx.params["uid"])
    d.owner_id = None
    record_audit(ctx.world, ctx.tenant, activity="Remove registered owner from device", category="Device",
                 service="Core Directory", operation_type="Unassign", initiated_by=ctx.caller.user,
                 targets=[device_target(d)], app=_audit_app(ctx))
    return ctx.no_content()


@route("POST", "groups")
def create_group(ctx: GraphContext):
    ctx.require(GROUP_WRITE)
    body = ctx.body_object()
    _required(body, ("displayName", "mailNickname"), "Group")
    if "mailEnabled" not in body or "securityEnabled" not in body:
        raise bad_request("Invalid value specified for property 'mailEnabled' of resource 'Group'."
                          if "mailEnabled" not in body else
                          "Invalid value specified for property 'securityEnabled' of resource 'Group'.")
    g = ctx.world.add_group(ctx.tenant, str(body["displayName"]))
    g.mail_nickname = str(body["mailNickname"])
    g.description = body.get("description")
    g.security_enabled = bool(body.get("securityEnabled"))
    for ref in body.get("members@odata.bind") or []:
        oid = str(ref).rstrip("/").rsplit("/", 1)[-1]
        if _object(ctx, oid) is None:
            raise not_found(oid)
        g.members.append(oid)
    record_audit(ctx.world, ctx.tenant, activity="Add group", category="GroupManagement", service="Core Directory",
                 operation_type="Add", initiated_by=ctx.caller.user,
                 targets=[target(g.id, g.display_name, "Group", group_type="securityGroup")])
    out = {"@odata.context": ctx.context_url("groups/$entity")}
    out.update(group_json(g))
    return ctx.ok(out, 201)


@route("DELETE", "groups/{gid}")
def delete_group(ctx: GraphContext):
    ctx.require(GROUP_WRITE)
    g = _group(ctx)
    t = ctx.tenant
    with ctx.world.lock:
        t.groups.pop(g.id, None)
        for pol in t.mdm_policies.values():
            if g.id in (pol.get("includedGroups") or []):
                pol["includedGroups"].remove(g.id)
    return ctx.no_content()


@route("POST", "groups/{gid}/members/$ref")
def add_member(ctx: GraphContext):
    ctx.require(MEMBER_WRITE)
    g = _group(ctx)
    oid = _ref_id(ctx)
    if _object(ctx, oid) is None:
        raise not_found(oid)
    if oid in g.members:
        raise bad_request("One or more added object references already exist for the following modified "
                          "properties: 'members'.")
    with ctx.world.lock:
        g.members.append(oid)
    return ctx.no_content()


@route("DELETE", "groups/{gid}/members/{mid}/$ref")
def remove_member(ctx: GraphContext):
    ctx.require(MEMBER_WRITE)
    g = _group(ctx)
    mid = ctx.params["mid"]
    if mid not in g.members:
        raise not_found(mid)
    with ctx.world.lock:
        g.members.remove(mid)
    return ctx.no_content()


@route("POST", "users/{uid}/assignLicense")
@route("POST", "me/assignLicense")
def assign_license(ctx: GraphContext):
    ctx.require(LICENSE_WRITE)
    u = _user(ctx)
    body = ctx.body_object()
    add, remove = body.get("addLicenses"), body.get("removeLicenses")
    if not isinstance(add, list) or not isinstance(remove, list):
        raise bad_request("Invalid value specified for property 'addLicenses' of resource 'User'."
                          if not isinstance(add, list) else
                          "Invalid value specified for property 'removeLicenses' of resource 'User'.")
    by_id = {s.sku_id: part for part, s in KNOWN_SKUS.items()}
    t = ctx.tenant
    if add and not u.usage_location:
        raise bad_request("License assignment cannot be done for user with invalid usage location.")
    new = list(u.licenses)
    for sku_id in remove:
        part = by_id.get(str(sku_id).lower())
        if part is None or part not in new:
            raise bad_request("User does not have a corresponding license.")
        new.remove(part)
    for item in add:
        if not isinstance(item, dict):
            raise bad_request("Invalid value specified for property 'addLicenses' of resource 'User'.")
        sku_id = str(item.get("skuId", "")).lower()
        part = by_id.get(sku_id)
        if part is None or part not in t.subscriptions:
            raise bad_request(f"License {sku_id} does not correspond to a valid company License.")
        if part in new:
            continue
        used = sum(1 for x in t.users.values() if part in x.licenses)
        if used >= t.subscriptions[part]:
            raise bad_request(f"Subscription with SKU {sku_id} does not have any available licenses.")
        new.append(part)
    with ctx.world.lock:
        u.licenses = new
    record_audit(ctx.world, t, activity="Change user license", category="UserManagement", service="Core Directory",
                 operation_type="Update", initiated_by=ctx.caller.user,
                 targets=[user_target(u)])
    out = {"@odata.context": ctx.context_url("users/$entity")}
    out.update(user_json(u))
    return ctx.ok(out)


# -- membership checks -------------------------------------------------------------------------------------

def _member_object(ctx: GraphContext):
    if "uid" in ctx.params or ctx.path.lower().startswith("/me/"):
        ctx.require(MEMBEROF_READ, subject_user_id=_subject_user_id(ctx))
        return _user(ctx).id
    ctx.require(DEVICE_READ)
    return _device(ctx).id


@route("POST", "me/getMemberGroups")
@route("POST", "users/{uid}/getMemberGroups")
@route("POST", "devices/{id}/getMemberGroups")
@route("POST", "me/getMemberObjects")
@route("POST", "users/{uid}/getMemberObjects")
@route("POST", "devices/{id}/getMemberObjects")
def get_member_groups(ctx: GraphContext):
    oid = _member_object(ctx)
    body = ctx.body_object()
    flag = body.get("securityEnabledOnly")
    if not isinstance(flag, bool):
        raise bad_request("Invalid value specified for property 'securityEnabledOnly' of resource 'DirectoryObject'.")
    groups = [g for g in ctx.tenant.groups_of(oid) if g.security_enabled or not flag]
    ids = [g.id for g in groups]
    if ctx.path.rstrip("/").lower().endswith("getmemberobjects"):
        u = ctx.tenant.users.get(oid)
        ids += [directory_role(ctx.tenant, r).id for r in (u.roles if u else [])]
    return ctx.ok({"@odata.context": ctx.context_url("Collection(Edm.String)"), "value": ids})


@route("POST", "me/checkMemberGroups")
@route("POST", "users/{uid}/checkMemberGroups")
@route("POST", "devices/{id}/checkMemberGroups")
def check_member_groups(ctx: GraphContext):
    oid = _member_object(ctx)
    body = ctx.body_object()
    wanted = body.get("groupIds")
    if not isinstance(wanted, list) or not all(isinstance(x, str) for x in wanted) or len(wanted) > 20:
        raise bad_request("Invalid value specified for property 'groupIds' of resource 'DirectoryObject'.")
    mine = {g.id for g in ctx.tenant.groups_of(oid)}
    return ctx.ok({"@odata.context": ctx.context_url("Collection(Edm.String)"),
                   "value": [g for g in wanted if g in mine]})


# -- users: create, update, delete ------------------------------------------------------------------------

USER_WRITE = Perm(("User.ReadWrite.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"),
                  ("User.ReadWrite.All", "Directory.ReadWrite.All"), roles=(GA, USER_ADMIN))
_USER_PATCHABLE = {"accountEnabled": ("account_enabled", bool), "displayName": ("display_name", str),
                   "givenName": ("given_name", str), "surname": ("surname", str), "jobTitle": ("job_title", str),
                   "usageLocation": ("usage_location", str)}


def _password_ok(pw: str) -> bool:
    """Entra's complexity rule: 8-256 characters and three of: lower, upper, digit, symbol."""
    kinds = sum([any(c.islower() for c in pw), any(c.isupper() for c in pw), any(c.isdigit() for c in pw),
                 any(not c.isalnum() for c in pw)])
    return 8 <= len(pw) <= 256 and kinds >= 3


@route("POST", "users")
def create_user(ctx: GraphContext):
    ctx.require(USER_WRITE)
    body = ctx.body_object()
    _required(body, ("accountEnabled", "displayName", "mailNickname", "userPrincipalName"), "User")
    upn = str(body["userPrincipalName"])
    t = ctx.tenant
    domain = upn.rsplit("@", 1)[-1].lower() if "@" in upn else ""
    if domain not in [d.lower() for d in t.domains]:
        raise bad_request("The domain portion of the userPrincipalName property is invalid. You must use one of the "
                          "verified domain names in your organization.")
    if t.user_by_upn(upn) is not None:
        raise bad_request("Another object with the same value for property userPrincipalName already exists.")
    profile = body.get("passwordProfile")
    pw = profile.get("password") if isinstance(profile, dict) else None
    if not isinstance(pw, str) or not pw:
        raise bad_request("Invalid value specified for property 'passwordProfile' of resource 'User'.")
    if not _password_ok(pw):
        raise bad_request("The specified password does not comply with password complexity requirements. Please "
                          "provide a different password.")
    u = ctx.world.add_user(t, upn, password=pw, display_name=str(body["displayName"]), licenses=[], mfa_methods=[],
                           account_enabled=bool(body["accountEnabled"]),
                           usage_location=str(body.get("usageLocation") or ""))
    if isinstance(body.get("givenName"), str):
        u.given_name = body["givenName"]
    if isinstance(body.get("surname"), str):
        u.surname = body["surname"]
    if isinstance(body.get("jobTitle"), str):
        u.job_title = body["jobTitle"]
    record_audit(ctx.world, t, activity="Add user", category="UserManagement", service="Core Directory",
                 operation_type="Add", initiated_by=ctx.caller.user,
                 targets=[user_target(u)])
    out = {"@odata.context": ctx.context_url("users/$entity")}
    out.update(user_json(u))
    return ctx.ok(out, 201)


@route("PATCH", "users/{uid}")
@route("PATCH", "me")
def patch_user(ctx: GraphContext):
    ctx.require(USER_WRITE)
    u = _user(ctx)
    body = ctx.body_object()
    changes = {}
    for k, v in body.items():
        if k.startswith("@odata"):
            continue
        if k == "passwordProfile":
            pw = v.get("password") if isinstance(v, dict) else None
            if not isinstance(pw, str) or not _password_ok(pw):
                raise bad_request("The specified password does not comply with password complexity requirements. "
                                  "Please provide a different password.")
            changes["password"] = pw
            continue
        if k not in _USER_PATCHABLE:
            raise GraphError(400, "BadRequest", f"Property '{k}' does not exist on type 'microsoft.graph.user'. "
                                                "Make sure to only use property names that are defined by the type "
                                                "or mark the type as open type." if k not in USER_SPEC.selectable else
                             f"Property '{k}' is read-only and cannot be set.")
        attr, typ = _USER_PATCHABLE[k]
        if not isinstance(v, typ) or (typ is str and k in ("displayName", "usageLocation") and not v):
            raise bad_request(f"Invalid value specified for property '{k}' of resource 'User'.")
        if k == "usageLocation" and (len(v) != 2 or not v.isalpha()):
            raise bad_request("Invalid value specified for property 'usageLocation' of resource 'User'.")
        changes[attr] = v.upper() if k == "usageLocation" else v
    with ctx.world.lock:
        for attr, v in changes.items():
            setattr(u, attr, v)
    record_audit(ctx.world, ctx.tenant, activity="Update user", category="UserManagement", service="Core Directory",
                 operation_type="Update", initiated_by=ctx.caller.user,
                 targets=[user_target(u)])
    return ctx.no_content()


@route("DELETE", "users/{uid}")
def delete_user(ctx: GraphContext):
    ctx.require(USER_WRITE)
    u = _user(ctx)
    t = ctx.tenant
    with ctx.world.lock:
        t.remove_object(t.users, u.id)
    record_audit(ctx.world, t, activity="Delete user", category="UserManagement", service="Core Directory",
                 operation_type="Delete", initiated_by=ctx.caller.user,
                 targets=[user_target(u)])
    return ctx.no_content()

"""The directory's objects. Plain data; the decisions about them live in `policy.py`.

Tenant-wide policies are kept in their Microsoft Graph JSON shape (device registration policy,
conditional access policies, MDM user scope, enrollment restrictions), so Graph reads and writes
them as they are and the policy code reads the same document an admin would see.
"""
from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

# Well-known application ids (graph-intune.md §3.4, join-protocol.md §3.1).
DRS_APP_ID = "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9"
DRS_RESOURCE = "urn:ms-drs:enterpriseregistration.windows.net"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_RESOURCE = "https://graph.microsoft.com"
INTUNE_APP_ID = "0000000a-0000-0000-c000-000000000000"
INTUNE_ENROLLMENT_APP_ID = "d4ebce55-015a-49b5-a083-c84d1797ae8c"
INTUNE_ENROLLMENT_RESOURCE = "https://enrollment.manage.microsoft.com/"
BROKER_CLIENT_ID = "29d9ed98-a469-4536-ade2-f981bc1d605e"
WINDOWS_CLOUDAP_CLIENT_ID = "38aa3b87-a06d-4817-b275-7a316988d93b"
OFFICE_PORTAL_APP_ID = "00000006-0000-0ff1-ce00-000000000000"
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
AAD_POWERSHELL_CLIENT_ID = "1b730954-1685-4b74-9bfd-dac224a7b894"

# Service plan / SKU ids (graph-intune.md §5.2).
INTUNE_A_PLAN = "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"
AAD_PREMIUM_PLAN = "41781fb2-bc02-4b7c-bd55-b576c07bb09d"

# Directory role template ids (graph-intune.md §7.3).
ROLE_TEMPLATES = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "Cloud Device Administrator": "7698a772-787b-4ac8-901f-60d6b08affd2",
    "Intune Administrator": "3a2c62db-5318-420d-8d74-23affee5d9d5",
    "Windows 365 Administrator": "11451d60-acb2-45eb-a7d6-43d0f0125c13",
    "Conditional Access Administrator": "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "Security Reader": "5d6b6bb7-de71-4623-b4af-96380a352509",
    "Reports Reader": "4a5d8f65-41da-4de4-8968-e035b65339cf",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "License Administrator": "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "Directory Readers": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
}


class _CountedDict(dict):
    """A dict that counts its own changes, so an index over its values can tell when it is stale.

    `adds` counts insertions of a new key (a new key always goes last, so the `n` values added
    since some moment are the last `n`); `changes` counts everything else that can make an index
    wrong: a key bound to another object, a removal, a clear. Each write and its count happen
    under `lock`, so a reader holding the lock sees values and counts that agree. In every other
    way it is a dict (equality, JSON, iteration order, copy and pickle).
    """

    __slots__ = ("adds", "changes", "lock", "memo")

    def __init__(self, *args: Any, **kw: Any):
        dict.__init__(self)
        self.adds = 0
        self.changes = 0
        self.lock = threading.Lock()
        #: Answers derived from the values that their makers check again before use (not copied).
        self.memo: dict[Any, Any] = {}
        if args or kw:
            self.update(*args, **kw)

    def __setitem__(self, key: Any, value: Any) -> None:
        with self.lock:
            old = dict.get(self, key, _MISSING)
            dict.__setitem__(self, key, value)
            if old is _MISSING:
                self.adds += 1
            elif old is not value:
                self.changes += 1

    def __delitem__(self, key: Any) -> None:
        with self.lock:
            dict.__delitem__(self, key)
            self.changes += 1

    def pop(self, key: Any, *default: Any) -> Any:
        with self.lock:
            had = key in self
            v = dict.pop(self, key, *default)
            if had:
                self.changes += 1
        return v

    def popitem(self) -> tuple[Any, Any]:
        with self.lock:
            kv = dict.popitem(self)
            self.changes += 1
        return kv

    def clear(self) -> None:
        with self.lock:
            dict.clear(self)
            self.changes += 1

    def setdefault(self, key: Any, default: Any = None) -> Any:
        with self.lock:
            v = dict.get(self, key, _MISSING)
            if v is _MISSING:
                dict.__setitem__(self, key, default)
                self.adds += 1
                return default
            return v

    def update(self, *args: Any, **kw: Any) -> None:
        for k, v in dict(*args, **kw).items():
            self[k] = v

    def __ior__(self, other: Any) -> _CountedDict:
        self.update(other)
        return self

    def __reduce__(self):  # copy, deepcopy and pickle rebuild it through __setitem__
        return (type(self), (), None, None, iter(list(dict.items(self))))


_MISSING = object()

#: Bumped whenever a device's or managed device's owner is re-assigned (see `_OwnerField`); only
#: ever compared for equality, to invalidate the tenants' owner indexes. Process-wide, not per
#: tenant: a device object does not know which tenant (or copied collection) holds it, so a bump
#: cannot be aimed at one tenant's index. Read without a lock (one int); bumped under
#: `_OWNER_EPOCH_LOCK` so concurrent bumps are never lost and the value only grows.
OWNER_EPOCH = [0]
_OWNER_EPOCH_LOCK = threading.Lock()


def _bump_owner_epoch() -> None:
    with _OWNER_EPOCH_LOCK:
        OWNER_EPOCH[0] += 1


class _OwnerField:
    """The owner field (`DirectoryDevice.owner_id`, `ManagedDevice.user_id`) as a data descriptor:
    the value lives in the instance dict as before; re-assigning it to another owner bumps
    `OWNER_EPOCH`, which tells the tenants' owner indexes to rebuild. The first assignment (in
    `__init__`) is not a change."""

    def __init__(self, name: str, default: Any):
        self.name = name
        self.default = default

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self.default
        try:
            return obj.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, obj: Any, value: Any) -> None:
        d = obj.__dict__
        changed = self.name in d and d[self.name] != value
        d[self.name] = value
        if changed:
            _bump_owner_epoch()

    def __delete__(self, obj: Any) -> None:
        del obj.__dict__[self.name]
        _bump_owner_epoch()


@dataclass
class SkuInfo:
    sku_id: str
    part_number: str
    service_plans: list[tuple[str, str]]  # (servicePlanId, servicePlanName)
    prepaid: int = 25


# A small catalogue of real SKUs (graph-intune.md §5.2) that scenarios refer to by part number.
KNOWN_SKUS: dict[str, SkuInfo] = {
    "SPE_E3": SkuInfo("05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3",
                      [(INTUNE_A_PLAN, "INTUNE_A"), (AAD_PREMIUM_PLAN, "AAD_PREMIUM")]),
    "SPE_E5": SkuInfo("06ebc4ee-1bb5-47dd-8120-11324bc54e06", "SPE_E5",
                      [(INTUNE_A_PLAN, "INTUNE_A"), (AAD_PREMIUM_PLAN, "AAD_PREMIUM"),
                       ("eec0eb4f-6444-4f95-aba0-50c24d67f998", "AAD_PREMIUM_P2")]),
    "EMS": SkuInfo("efccb6f7-5641-4e0e-bd10-b4976e1bf68e", "EMS",
                   [(INTUNE_A_PLAN, "INTUNE_A"), (AAD_PREMIUM_PLAN, "AAD_PREMIUM")]),
    "INTUNE_A": SkuInfo("061f9ace-7d42-4136-88ac-31dc755f143f", "INTUNE_A", [(INTUNE_A_PLAN, "INTUNE_A")]),
    "SPB": SkuInfo("cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB",
                   [(INTUNE_A_PLAN, "INTUNE_A"), (AAD_PREMIUM_PLAN, "AAD_PREMIUM")]),
    "AAD_PREMIUM": SkuInfo("078d2b04-f1bd-4111-bbd4-b4b1b354cef4", "AAD_PREMIUM",
                           [(AAD_PREMIUM_PLAN, "AAD_PREMIUM")]),
    "ENTERPRISEPREMIUM": SkuInfo("c7df2760-2c81-4ef7-b578-5b5392b571df", "ENTERPRISEPREMIUM",
                                 [("882e1d05-acd1-4ccb-8708-6ee03664b117", "INTUNE_O365")]),
}


@dataclass
class User:
    id: str
    user_principal_name: str
    display_name: str
    password: str
    given_name: str = ""
    surname: str = ""
    account_enabled: bool = True
    #: Registered MFA methods, e.g. ["microsoftAuthenticator"], ["sms"]; empty = none registered.
    mfa_methods: list[str] = field(default_factory=list)
    #: Legacy per-user MFA state: "disabled" | "enabled" | "enforced".
    per_user_mfa: str = "disabled"
    #: What this user does at an MFA prompt when the harness does not say: "approve" | "deny".
    mfa_response: str = "approve"
    #: Whether the user can complete MFA registration ("More information required") when asked.
    can_register_mfa: bool = True
    #: Assigned SKU part numbers (see KNOWN_SKUS).
    licenses: list[str] = field(default_factory=list)
    #: Directory role template ids held by the user.
    roles: list[str] = field(default_factory=list)
    usage_location: str = "US"
    job_title: str | None = None
    created: _dt.datetime | None = None

    @property
    def mail(self) -> str:
        return self.user_principal_name

    @property
    def mail_nickname(self) -> str:
        return self.user_principal_name.split("@")[0]


@dataclass
class Group:
    id: str
    display_name: str
    members: list[str] = field(default_factory=list)  # user / device object ids
    description: str | None = None
    mail_nickname: str = ""
    security_enabled: bool = True


@dataclass
class DirectoryDevice:
    """A device object in Entra ID (Graph `device`)."""

    id: str                       # directory object id
    device_id: str                # the DRS device id (certificate CN)
    display_name: str
    operating_system: str = "Windows"
    operating_system_version: str = "10.0.26100.2605"
    trust_type: str = "AzureAd"   # AzureAd | Workplace | ServerAd
    account_enabled: bool = True
    registration_time: _dt.datetime | None = None
    approximate_last_sign_in: _dt.datetime | None = None
    owner_id: str | None = None   # registered owner (the joining user)
    join_type: int = 0
    #: SHA-1 thumbprint (upper-case hex) and DER of the device certificate DRS issued.
    cert_thumbprint: str | None = None
    cert_der: bytes | None = None
    #: BCRYPT_RSAKEY_BLOB (or JWK JSON) the device sent as its transport key.
    transport_key: bytes | None = None
    is_managed: bool = False
    is_compliant: bool | None = None
    mdm_app_id: str | None = None
    enrollment_type: str | None = None
    management_type: str | None = None
    device_ownership: str | None = None
    profile_type: str = "RegisteredDevice"
    manufacturer: str | None = None
    model: str | None = None
    physical_ids: list[str] = field(default_factory=list)
    extension_attributes: dict[str, str | None] = field(default_factory=dict)


DirectoryDevice.owner_id = _OwnerField("owner_id", None)  # type: ignore[assignment]


@dataclass
class ManagedDevice:
    """An Intune managed device record (Graph `managedDevice`)."""

    id: str
    device_name: str
    user_id: str | None
    user_principal_name: str | None
    user_display_name: str | None
    azure_ad_device_id: str
    enrolled: _dt.datetime
    last_sync: _dt.datetime
    os_version: str
    operating_system: str = "Windows"
    compliance_state: str = "compliant"
    management_agent: str = "mdm"
    enrollment_type: str = "windowsAzureADJoin"
    owner_type: str = "company"
    join_type: str = "azureADJoined"
    manufacturer: str = "Microsoft Corporation"
    model: str = "Virtual Machine"
    serial_number: str = ""
    cert_thumbprint: str | None = None


ManagedDevice.user_id = _OwnerField("user_id", None)  # type: ignore[assignment]


@dataclass
class Application:
    """An app registration + its service principal in this tenant (for client credentials)."""

    app_id: str
    display_name: str
    secrets: list[str] = field(default_factory=list)
    #: DER-encoded certificates accepted for client assertions.
    certificates: list[bytes] = field(default_factory=list)
    #: Application permissions granted (role values such as "Device.Read.All").
    app_roles: list[str] = field(default_factory=list)
    public_client: bool = False


@dataclass
class Tenant:
    id: str
    display_name: str
    initial_domain: str                      # contoso.onmicrosoft.com
    domains: list[str] = field(default_factory=list)  # every verified domain, initial first
    region: str = "NA"                        # certificate region extension (.284.8)
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    devices: dict[str, DirectoryDevice] = field(default_factory=_CountedDict)
    managed_devices: dict[str, ManagedDevice] = field(default_factory=_CountedDict)
    applications: dict[str, Application] = field(default_factory=dict)
    device_registration_policy: dict[str, Any] = field(default_factory=dict)
    conditional_access_policies: list[dict[str, Any]] = field(default_factory=list)
    #: Graph mobilityManagementPolicy documents by id, each with an extra "includedGroups": [ids].
    mdm_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    enrollment_configurations: list[dict[str, Any]] = field(default_factory=list)
    #: SKU part number -> purchased units.
    subscriptions: dict[str, int] = field(default_factory=dict)
    sign_ins: list[dict[str, Any]] = field(default_factory=list)
    directory_audits: list[dict[str, Any]] = field(default_factory=list)
    #: Intune service on for this tenant (MDM authority set).
    intune_enabled: bool = True

    # -- lookups -----------------------------------------------------------------------------
    # `user_by_upn` and `device_by_device_id` answer through small indexes kept outside the dataclass
    # fields (snapshots and equality never see them) that are never trusted blindly: a hit counts
    # only if that object is still in the tenant under its own id with that very value, and a miss
    # ends in the full scan, which rebuilds the index. Nothing has to invalidate them, so code that
    # edits `users` / `devices` directly (Graph, snapshots, tests) stays correct. UPNs and device ids
    # are unique in a tenant (Graph refuses duplicates), so a hit is the object the scan would find.
    def user_by_upn(self, upn: str) -> User | None:
        upn = upn.lower()
        users = self.users
        ix = self.__dict__.get("_upn_ix")
        if ix is not None:
            index, source, count = ix
            u = index.get(upn)
            if u is None and source is users and count < len(users):
                # Users added since the index was built come last: index only those first.
                for v in islice(users.values(), count, None):
                    index.setdefault(v.user_principal_name.lower(), v)
                self.__dict__["_upn_ix"] = (index, users, len(users))
                u = index.get(upn)
            if u is not None and users.get(u.id) is u and u.user_principal_name.lower() == upn:
                return u
        index = {}
        found = None
        for u in users.values():
            key = u.user_principal_name.lower()
            if key not in index:
                index[key] = u
            if found is None and key == upn:
                found = u
        self.__dict__["_upn_ix"] = (index, users, len(users))
        return found

    def user(self, id_or_upn: str) -> User | None:
        return self.users.get(id_or_upn) or self.user_by_upn(id_or_upn)

    def device_by_device_id(self, device_id: str) -> DirectoryDevice | None:
        device_id = device_id.lower()
        devices = self.devices
        ix = self.__dict__.get("_device_ix")
        if ix is not None:
            index, source, count = ix
            d = index.get(device_id)
            if d is None and source is devices and count < len(devices):
                for v in islice(devices.values(), count, None):
                    index.setdefault(v.device_id, v)
                self.__dict__["_device_ix"] = (index, devices, len(devices))
                d = index.get(device_id)
            if d is not None and devices.get(d.id) is d and d.device_id == device_id:
                return d
        index = {}
        found = None
        for d in devices.values():
            if d.device_id not in index:
                index[d.device_id] = d
            if found is None and d.device_id == device_id:
                found = d
        self.__dict__["_device_ix"] = (index, devices, len(devices))
        return found

    def remove_object(self, collection: dict, object_id: str):
        """Delete a user or device from its collection (`self.users`, `self.devices`) and from every
        group it was a member of; returns the object, or None. Callers hold the world's lock."""
        obj = collection.pop(object_id, None)
        if obj is not None:
            for g in self.groups.values():
                if object_id in g.members:
                    g.members.remove(object_id)
        return obj

    def groups_of(self, object_id: str) -> list[Group]:
        return [g for g in self.groups.values() if object_id in g.members]

    def devices_owned_by(self, user_id: str) -> list[DirectoryDevice]:
        return _owned(self, "devices", "owner_id", user_id)

    def managed_devices_of(self, user_id: str) -> list[ManagedDevice]:
        return _owned(self, "managed_devices", "user_id", user_id)


def _owned(tenant: Tenant, collection: str, attr: str, owner: Any) -> list[Any]:
    """The objects of `tenant.<collection>` whose `<attr>` equals `owner`, in the collection's
    order: the answer of `[o for o in coll.values() if getattr(o, attr) == owner]`, through an
    index by owner kept in `tenant.__dict__` (outside the dataclass fields, like `_upn_ix`).

    The index is used only while nothing it cannot see has happened: the collection is the same
    `_CountedDict` with the same `changes` count (no removal, no key bound to another object) and
    no owner was re-assigned anywhere (`OWNER_EPOCH`). Keys added since it was built are the last
    ones and are indexed on the way, without walking the rest. Each hit's owner is checked again.
    Anything else rebuilds the index with one scan; a
    collection that is not a `_CountedDict` (a plain dict assigned from outside) is scanned every
    time, as before."""
    coll = getattr(tenant, collection)
    if type(coll) is not _CountedDict:
        return [o for o in coll.values() if getattr(o, attr) == owner]
    key = "_owner_ix_" + collection
    epoch = OWNER_EPOCH[0]
    ix = tenant.__dict__.get(key)
    if ix is not None and ix[1] is coll and ix[3] == epoch:
        by_owner, _, changes, _, indexed = ix
        with coll.lock:
            ok = changes == coll.changes
            if ok and indexed[0] != coll.adds:
                # Only keys were added since: they are the last `new` values, in order.
                tail = list(islice(reversed(coll.values()), coll.adds - indexed[0]))
                for o in reversed(tail):
                    by_owner.setdefault(getattr(o, attr), []).append(o)
                indexed[0] = coll.adds
        if ok:
            # Nothing was removed or re-bound since indexing: every indexed object is still there.
            return [o for o in by_owner.get(owner, ()) if getattr(o, attr) == owner]
    # (Re)build from values and counts read together under the lock.
    with coll.lock:
        adds, changes = coll.adds, coll.changes
        values = list(coll.values())
    index: dict[Any, list[Any]] = {}
    for o in values:
        index.setdefault(getattr(o, attr), []).append(o)
    tenant.__dict__[key] = (index, coll, changes, epoch, [adds])
    return list(index.get(owner, ()))

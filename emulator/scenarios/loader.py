"""Turn a scenario file into a world, and apply its fix the way an admin would.

`load_scenario(world, doc_or_path)` builds the tenant, users, groups, policies, pre-existing
devices and fault rules with the world's own constructors (so ids come from the world's seeded
generator), and returns a `Scenario`: who joins (actor), the device settings, what should happen
(expect), and the fix. `apply_fix(world, scenario)` changes the tenant as the admin would (portal
changes, with their audit entries) and returns the device-side and user-side changes for the
harness to apply to the simulated device, which is a client and is never touched from here.

Nothing here decides an outcome: the symptom of each scenario comes from the state built here and
the ordinary rules in emulator/world/policy.py and the services.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..world import policy
from ..world.clock import iso_z
from ..world.events import device_target, record_audit, target
from ..world.models import INTUNE_APP_ID, ROLE_TEMPLATES, DirectoryDevice, Group, ManagedDevice, Tenant, User
from .schema import (
    CA_APPLICATIONS,
    CA_USER_ACTIONS,
    GUID_RX,
    WINDOWS_RELEASES,
    ScenarioError,
    normalize_hex,
    parse_duration,
    validate,
)

#: Where scenario files live: the folders of ENTRA_EMU_SCENARIO_PATH (os.pathsep-separated), then
#: the shipped files. Those are stored once, in the repository's scenarios/ folder, which is
#: installed as the package ``entra_emu_scenarios``.
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "scenarios"

DEFAULT_PASSWORD = "P@ssw0rd!"
#: Devices older than this are "stale" for delete_stale_devices unless the step says otherwise.
# Inferred: Microsoft's stale-device guidance uses an activity window of about 90 days.
DEFAULT_STALE_AGE = "90d"


def scenario_dirs() -> list[Path]:
    dirs: list[Path] = []
    for p in (os.environ.get("ENTRA_EMU_SCENARIO_PATH") or "").split(os.pathsep):
        if p.strip():
            dirs.append(Path(p.strip()))
    dirs.append(shipped_dir())
    return dirs


def shipped_dir() -> Path:
    """The folder of the shipped scenario files (a checkout's scenarios/ or the installed package)."""
    import importlib.util

    spec = importlib.util.find_spec("entra_emu_scenarios")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return SHIPPED_DIR


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    description: str
    guide_section: str
    path: Path


def list_scenarios() -> list[ScenarioInfo]:
    """Every scenario file found (the first directory that has a name wins), sorted by name."""
    found: dict[str, Path] = {}
    for d in scenario_dirs():
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.yaml")):
            found.setdefault(p.stem, p)
    out = []
    for name in sorted(found):
        try:
            doc = _read_yaml(found[name])
        except ScenarioError as exc:  # listed anyway: loading it will report the problem in full
            doc = {"description": f"(unreadable: {exc.problem})"}
        doc = doc if isinstance(doc, dict) else {}
        out.append(ScenarioInfo(name, str(doc.get("description") or ""), str(doc.get("guide_section") or ""),
                                found[name]))
    return out


def find_scenario(name: str) -> Path:
    """The file of a scenario by name (`device-limit-reached`, with or without `.yaml`)."""
    stem = name[:-5] if name.endswith(".yaml") else name
    for d in scenario_dirs():
        p = d / f"{stem}.yaml"
        if p.is_file():
            return p
    import difflib

    names = sorted({p.stem for d in scenario_dirs() if d.is_dir() for p in d.glob("*.yaml")})
    close = difflib.get_close_matches(stem, names, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ScenarioError(name, "name", f"unknown scenario '{stem}'{hint}; available: {', '.join(names)}")


def _read_yaml(path: Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), "", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(str(path), "", f"not valid YAML{where}: {problem}") from None


def read_scenario(doc_or_path: Any) -> tuple[dict[str, Any], str]:
    """(validated document, source name) from a dict, a path or a scenario name."""
    if isinstance(doc_or_path, dict):
        doc, source = doc_or_path, str(doc_or_path.get("name") or "<scenario>")
        validate(doc, source)
        return doc, source
    ref = str(doc_or_path)
    path = Path(ref)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = find_scenario(ref)
    doc = _read_yaml(path)
    validate(doc, str(path), expected_name=path.stem)
    return doc, str(path)


# -- what load_scenario returns -----------------------------------------------------------------

@dataclass
class Actor:
    """Who sits at the device: the account typed in, the password typed, and what they do at the
    MFA prompt (approve / deny) and at "More information required" (register / skip)."""

    upn: str
    password: str
    mfa_response: str = "approve"
    proofup_response: str = "register"
    #: "join" (the "Join this device to Microsoft Entra ID" link) or "register" (the set-up dialog's
    #: email box + Next: Entra registration, `WindowsDevice.register`).
    join_method: str = "join"
    #: The directory user (None for an account that does not exist, e.g. unknown-user).
    user: User | None = None

    @property
    def mfa_choice(self) -> str:
        """The one word `WindowsDevice.join(upn, password, mfa=...)` takes: deny | skip | approve
        (approve also registers at "More information required")."""
        if self.mfa_response == "deny":
            return "deny"
        return "skip" if self.proofup_response == "skip" else "approve"


@dataclass
class DeviceSettings:
    """The simulated Windows 11 device's settings (the harness passes them to the device)."""

    name: str
    release: str = "24H2"
    os_version: str = WINDOWS_RELEASES["24H2"]
    edition: str = "Pro"
    #: Device clock minus cloud clock, in seconds.
    clock_skew: float = 0.0
    #: "online" | "offline" | "dns_failure" | "timeout" | {"blocked_hosts": [...]}
    network: Any = "online"
    tpm: bool = True

    @property
    def blocked_hosts(self) -> list[str]:
        return list(self.network.get("blocked_hosts", [])) if isinstance(self.network, dict) else []

    @property
    def device_network(self) -> Any:
        """The network as `WindowsDevice.network` takes it: a state name, or a set of blocked hosts."""
        if isinstance(self.network, dict):
            return frozenset(h.lower() for h in self.blocked_hosts)
        return "blocked" if self.network == "blocked" else self.network

    def device_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `emulator.device.WindowsDevice(session, clock=..., **these)`."""
        return {"name": self.name, "os_version": self.os_version, "release": self.release,
                "skew_seconds": self.clock_skew, "network": self.device_network, "tpm": self.tpm}


@dataclass
class Expectation:
    joined: bool
    enrolled: bool | None = None
    prt: bool | None = None
    #: As the Settings page prints it: 8 lower-case hex digits (801c03ed), or None.
    settings_error_code: str | None = None
    aadsts: int | None = None
    #: dsregcmd lines "Label : value" (compare after stripping the label's left padding).
    dsregcmd: list[str] = field(default_factory=list)
    sign_in_log: dict[str, Any] = field(default_factory=dict)
    audit: list[str] = field(default_factory=list)
    #: Guide isolation step: signing in to the Office portal from this device: "ok" or an AADSTS code.
    office_portal: str | int | None = None

    @property
    def settings_error_value(self) -> int | None:
        return int(self.settings_error_code, 16) if self.settings_error_code else None

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> Expectation:
        aad = d.get("aadsts")
        if isinstance(aad, str):
            aad = int(aad.upper().removeprefix("AADSTS"))
        portal = d.get("office_portal")
        if isinstance(portal, dict):
            portal = int(str(portal["aadsts"]).upper().removeprefix("AADSTS"))
        return cls(joined=d["joined"], enrolled=d.get("enrolled"), prt=d.get("prt"),
                   settings_error_code=normalize_hex(d["settings_error_code"]) if d.get("settings_error_code")
                   is not None else None,
                   aadsts=aad, dsregcmd=list(d.get("dsregcmd") or []), sign_in_log=dict(d.get("sign_in_log") or {}),
                   audit=list(d.get("audit") or []), office_portal=portal)


@dataclass
class Scenario:
    name: str
    description: str
    guide_section: str
    tenant: Tenant
    actor: Actor
    device: DeviceSettings
    expect: Expectation
    expect_after_fix: Expectation
    #: Fix steps as data ({"action": ..., ...}), applied by `apply_fix`.
    fix: list[dict[str, Any]]
    fix_description: str
    diagnosis: str
    notes: str = ""
    source: str = ""
    #: Users and groups the file named, by UPN (lower-case) and by display name.
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    faults: list[Any] = field(default_factory=list)
    doc: dict[str, Any] = field(default_factory=dict, repr=False)

    def user(self, upn: str) -> User:
        return self.users[upn.lower()]


@dataclass
class FixResult:
    """What apply_fix did. `device` / `actor` are the settings to use from now on; `device_changes`
    / `actor_changes` hold only what changed (empty when the fix is all on the tenant side)."""

    applied: list[str]
    device: DeviceSettings
    actor: Actor
    device_changes: dict[str, Any] = field(default_factory=dict)
    actor_changes: dict[str, Any] = field(default_factory=dict)


# -- building the world -------------------------------------------------------------------------

def _display_name_from_upn(upn: str) -> str:
    local = upn.split("@", 1)[0]
    parts = [p for p in local.replace("_", ".").replace("-", ".").split(".") if p]
    return " ".join(p[:1].upper() + p[1:] for p in parts) or local


def _membership(value: Any, users: dict[str, User], groups: dict[str, Group]) -> dict[str, Any]:
    if value == "all":
        return {"@odata.type": policy.ALL}
    if value == "none":
        return {"@odata.type": policy.NONE}
    return {"@odata.type": policy.ENUMERATED,
            "users": [users[u.lower()].id for u in value.get("users") or []],
            "groups": [groups[g].id for g in value.get("groups") or []]}


def _merge_drp(tenant: Tenant, partial: dict[str, Any], users, groups) -> None:
    drp = tenant.device_registration_policy
    for key, value in partial.items():
        if key == "azureADJoin":
            join = drp.setdefault("azureADJoin", {})
            for k, v in value.items():
                join[k] = _membership(v, users, groups) if k == "allowedToJoin" else v
        elif key == "azureADRegistration":
            reg = drp.setdefault("azureADRegistration", {})
            for k, v in value.items():
                reg[k] = _membership(v, users, groups) if k == "allowedToRegister" else v
        elif isinstance(value, dict):
            drp.setdefault(key, {}).update(value)
        else:
            drp[key] = value


def _resolve_app(name: str) -> str:
    return CA_APPLICATIONS.get(name, name)


def _ca_policy(world, pol: dict[str, Any], users: dict[str, User], groups: dict[str, Group]) -> dict[str, Any]:
    """A scenario CA policy (UPNs, group and app names, portal user-action names) in Graph shape."""
    cond = pol.get("conditions") or {}
    u = cond.get("users") or {}

    def uids(xs):
        return [x if x in ("All", "None", "GuestsOrExternalUsers") or GUID_RX.match(x) else users[x.lower()].id
                for x in xs or []]

    def gids(xs):
        return [x if GUID_RX.match(x) else groups[x].id for x in xs or []]

    def rids(xs):
        return [ROLE_TEMPLATES.get(x, x) for x in xs or []]

    a = cond.get("applications") or {}
    plats = cond.get("platforms")
    grant = pol["grantControls"]
    return {
        "id": world.ids.guid(),
        "displayName": pol["displayName"],
        "createdDateTime": iso_z(world.clock.now()),
        "modifiedDateTime": None,
        "state": pol.get("state", "enabled"),
        "templateId": None,
        "conditions": {
            "userRiskLevels": [], "signInRiskLevels": [], "servicePrincipalRiskLevels": [],
            "clientAppTypes": list(cond.get("clientAppTypes") or ["all"]),
            "platforms": ({"includePlatforms": list(plats.get("includePlatforms") or []),
                           "excludePlatforms": list(plats.get("excludePlatforms") or [])} if plats else None),
            "locations": None, "devices": None,
            "applications": {
                "includeApplications": [_resolve_app(x) for x in a.get("includeApplications") or []],
                "excludeApplications": [_resolve_app(x) for x in a.get("excludeApplications") or []],
                "includeUserActions": [CA_USER_ACTIONS.get(x, x) for x in a.get("includeUserActions") or []],
                "includeAuthenticationContextClassReferences": [],
            },
            "users": {
                "includeUsers": uids(u.get("includeUsers")), "excludeUsers": uids(u.get("excludeUsers")),
                "includeGroups": gids(u.get("includeGroups")), "excludeGroups": gids(u.get("excludeGroups")),
                "includeRoles": rids(u.get("includeRoles")), "excludeRoles": rids(u.get("excludeRoles")),
            },
        },
        "grantControls": {"operator": grant.get("operator", "OR"), "builtInControls": list(grant["builtInControls"]),
                          "customAuthenticationFactors": [], "termsOfUse": []},
        "sessionControls": None,
    }


def _set_mdm_scope(tenant: Tenant, value: Any, groups: dict[str, Group]) -> None:
    pol = tenant.mdm_policies.get(INTUNE_APP_ID)
    if pol is None:
        return
    if isinstance(value, dict):
        pol["appliesTo"] = "selected"
        pol["includedGroups"] = [groups[g].id for g in value["groups"]]
    else:
        pol["appliesTo"] = value
        pol["includedGroups"] = []


def _config(tenant: Tenant, kind: str) -> dict[str, Any] | None:
    odata = {"limit": "#microsoft.graph.deviceEnrollmentLimitConfiguration",
             "platform": "#microsoft.graph.deviceEnrollmentPlatformRestrictionsConfiguration"}[kind]
    return next((c for c in tenant.enrollment_configurations
                 if c.get("@odata.type") == odata and c.get("priority", 0) == 0), None)


def _apply_restrictions(tenant: Tenant, r: dict[str, Any]) -> None:
    limit = _config(tenant, "limit")
    if limit is not None and r.get("device_limit") is not None:
        limit["limit"] = r["device_limit"]
    plat = _config(tenant, "platform")
    if plat is not None:
        win = plat.setdefault("windowsRestriction", {})
        for src, dst in (("platform_blocked", "platformBlocked"),
                         ("personal_device_enrollment_blocked", "personalDeviceEnrollmentBlocked"),
                         ("os_minimum_version", "osMinimumVersion"), ("os_maximum_version", "osMaximumVersion")):
            if r.get(src) is not None:
                win[dst] = r[src]


def _device_groups(spec: Any) -> list[dict[str, Any]]:
    if spec is None or spec == 0:
        return []
    if isinstance(spec, int):
        # Inferred default: devices in recent use (signed in two days ago).
        return [{"count": spec, "last_sign_in": "-2d"}]
    return list(spec)


def _physical_ids(world, device_id: str) -> list[str]:
    """The hardware ids DRS records for a joined device (same shape as the registration service's)."""
    gid = world.ids.randint(10 ** 15, 10 ** 16 - 1)
    hwid = world.ids.randint(10 ** 15, 10 ** 16 - 1)
    return [f"[USER-GID]:{device_id}:{gid}", f"[GID]:g:{gid}", f"[USER-HWID]:{device_id}:{hwid}", f"[HWID]:h:{hwid}"]


def _add_existing_devices(world, tenant: Tenant, user: User, spec: Any, managed: int, os_version: str) -> None:
    now = world.clock.now()
    made: list[DirectoryDevice] = []
    for grp in _device_groups(spec):
        age = parse_duration(grp.get("last_sign_in", "-2d"))
        last = now + _dt.timedelta(seconds=age if age <= 0 else -age)
        for _ in range(grp["count"]):
            d = DirectoryDevice(
                id=world.ids.guid(), device_id=world.ids.guid(), display_name=world.ids.desktop_name(),
                operating_system="Windows", operating_system_version=os_version,
                trust_type=grp.get("trust_type", "AzureAd"), account_enabled=grp.get("account_enabled", True),
                registration_time=last - _dt.timedelta(days=30), approximate_last_sign_in=last, owner_id=user.id,
                profile_type="RegisteredDevice")
            d.physical_ids = _physical_ids(world, d.device_id)
            tenant.devices[d.id] = d
            made.append(d)
    # Managed devices sit on the user's joined devices; more managed than joined devices adds joined ones.
    joined = [d for d in made if d.trust_type == "AzureAd"]
    while len(joined) < managed:
        d = DirectoryDevice(id=world.ids.guid(), device_id=world.ids.guid(), display_name=world.ids.desktop_name(),
                            operating_system_version=os_version, registration_time=now - _dt.timedelta(days=30),
                            approximate_last_sign_in=now - _dt.timedelta(days=2), owner_id=user.id)
        d.physical_ids = _physical_ids(world, d.device_id)
        tenant.devices[d.id] = d
        joined.append(d)
    for d in joined[:managed]:
        m = ManagedDevice(id=world.ids.guid(), device_name=d.display_name, user_id=user.id,
                          user_principal_name=user.user_principal_name, user_display_name=user.display_name,
                          azure_ad_device_id=d.device_id, enrolled=d.registration_time or now,
                          last_sync=d.approximate_last_sign_in or now, os_version=d.operating_system_version,
                          serial_number=world.ids.hex(6).upper())
        tenant.managed_devices[m.id] = m
        d.is_managed, d.is_compliant, d.mdm_app_id = True, True, INTUNE_APP_ID
        d.management_type, d.enrollment_type, d.device_ownership = "mdm", "windowsAzureADJoin", "company"


def load_scenario(world, doc_or_path: Any) -> Scenario:
    """Build the scenario's tenant in `world` and return the Scenario.

    `doc_or_path`: a parsed document (dict), a path to a .yaml file, or a scenario name."""
    doc, source = read_scenario(doc_or_path)
    doc = copy.deepcopy(doc)
    t = doc["tenant"]
    dev = doc.get("device") or {}
    release = dev.get("release", "24H2")
    os_version = dev.get("os_version") or WINDOWS_RELEASES[release]
    subs = t.get("subscriptions")
    slug = "".join(ch for ch in t["name"].lower() if ch.isalnum()) or "tenant"
    for domain in (t["domain"], f"{slug}.onmicrosoft.com"):
        taken = world.tenant(domain)
        if taken is not None:
            raise ScenarioError(source, "tenant.domain", f"the domain {domain} already belongs to tenant "
                                                         f"'{taken.display_name}' ({taken.id}) in this world; load "
                                                         "the scenario into a new world")
    with world.lock:
        tenant = world.create_tenant(t["name"], t["domain"], intune=t.get("intune", True),
                                     subscriptions=dict(subs) if subs is not None else None)
        users: dict[str, User] = {}
        for u in doc["users"]:
            upn = u["upn"]
            user = world.add_user(
                tenant, upn, password=u.get("password", DEFAULT_PASSWORD),
                display_name=u.get("display_name") or _display_name_from_upn(upn),
                licenses=u.get("licenses"), mfa_methods=u.get("mfa_methods"),
                per_user_mfa=u.get("per_user_mfa", "disabled"), can_register_mfa=u.get("can_register_mfa", True),
                account_enabled=u.get("account_enabled", True),
                roles=[ROLE_TEMPLATES[r] for r in u.get("roles") or []])
            users[upn.lower()] = user
        groups: dict[str, Group] = {}
        for name, members in (t.get("groups") or {}).items():
            groups[name] = world.add_group(tenant, name, [users[m.lower()].id for m in members])
        for u in doc["users"]:
            if u.get("existing_devices") or u.get("existing_managed_devices"):
                _add_existing_devices(world, tenant, users[u["upn"].lower()], u.get("existing_devices"),
                                      u.get("existing_managed_devices") or 0, os_version)
        _merge_drp(tenant, t.get("device_registration_policy") or {}, users, groups)
        tenant.conditional_access_policies = [_ca_policy(world, p, users, groups)
                                              for p in t.get("conditional_access") or []]
        if t.get("mdm_user_scope") is not None:
            _set_mdm_scope(tenant, t["mdm_user_scope"], groups)
        if t.get("enrollment_restrictions"):
            _apply_restrictions(tenant, t["enrollment_restrictions"])
        faults = [world.faults.add(dict(f)) for f in doc.get("faults") or []]

    a = doc["actor"]
    actor_user = None if a.get("not_in_directory") else users[a["user"].lower()]
    actor = Actor(upn=a["user"], password=a.get("password") or (actor_user.password if actor_user else DEFAULT_PASSWORD),
                  mfa_response=a.get("mfa_response", "approve"), proofup_response=a.get("proofup_response", "register"),
                  join_method=a.get("join_method", "join"), user=actor_user)
    if actor_user is not None:
        actor_user.mfa_response = actor.mfa_response
    device = DeviceSettings(name=dev.get("name") or world.ids.desktop_name(), release=release, os_version=os_version,
                            edition=dev.get("edition", "Pro"), clock_skew=parse_duration(dev.get("clock_skew", 0)),
                            network=copy.deepcopy(dev.get("network", "online")), tpm=dev.get("tpm", True))
    return Scenario(
        name=doc["name"], description=doc["description"], guide_section=doc["guide_section"], tenant=tenant,
        actor=actor, device=device, expect=Expectation.from_doc(doc["expect"]),
        expect_after_fix=Expectation.from_doc(doc["expect_after_fix"]), fix=list(doc["fix"]),
        fix_description=doc["fix_description"].strip(), diagnosis=doc["diagnosis"].strip(),
        notes=(doc.get("notes") or "").strip(), source=source, users=users, groups=groups, faults=faults, doc=doc)


# -- the fix ------------------------------------------------------------------------------------

def _audit_policy_change(world, tenant: Tenant, activity: str, service: str, category: str, target: dict,
                         op: str = "Update") -> None:
    record_audit(world, tenant, activity=activity, category=category, service=service, operation_type=op,
                 targets=[target])


def _target(obj_id: str, name: str, kind: str, upn: str | None = None, modified: list | None = None) -> dict:
    return target(obj_id, name, kind, upn=upn, modified=modified)


def _drp_changed(world, tenant: Tenant, prop: str, old: Any, new: Any) -> None:
    import json

    _audit_policy_change(world, tenant, "Set device registration policies", "Device Registration Service", "Policy",
                         _target("deviceRegistrationPolicy", "Device Registration Policy", "Policy", modified=[
                             {"displayName": prop, "oldValue": json.dumps(old), "newValue": json.dumps(new)}]))


def _user_of(world, scenario: Scenario, upn: str, step_path: str) -> User:
    u = scenario.tenant.user_by_upn(upn)
    if u is None:
        raise ScenarioError(scenario.source, step_path, f"user '{upn}' does not exist in the tenant")
    return u


def _policy_named(scenario: Scenario, name: str, step_path: str) -> dict[str, Any]:
    for p in scenario.tenant.conditional_access_policies:
        if p.get("displayName") == name:
            return p
    raise ScenarioError(scenario.source, step_path, f"no conditional access policy named '{name}'")


def _group_named(tenant: Tenant, name: str) -> Group | None:
    return next((g for g in tenant.groups.values() if g.display_name == name), None)


def _add_member(world, tenant: Tenant, group: Group, user: User) -> None:
    if user.id in group.members:
        return
    group.members.append(user.id)
    record_audit(world, tenant, activity="Add member to group", category="GroupManagement", service="Core Directory",
                 operation_type="Assign", targets=[_target(user.id, user.display_name, "User", user.user_principal_name),
                                                   _target(group.id, group.display_name, "Group")])


def apply_fix(world, scenario: Scenario) -> FixResult:
    """Apply the scenario's fix steps, in order, as an admin (or, for device and user steps, as the
    person at the device) would. Tenant changes happen here; device and actor changes are returned."""
    tenant = scenario.tenant
    device = dataclasses.replace(scenario.device, network=copy.deepcopy(scenario.device.network))
    actor = dataclasses.replace(scenario.actor)
    dchanges: dict[str, Any] = {}
    achanges: dict[str, Any] = {}
    applied: list[str] = []
    groups = {g.display_name: g for g in tenant.groups.values()}
    users = {u.user_principal_name.lower(): u for u in tenant.users.values()}
    for i, step in enumerate(scenario.fix):
        path = f"fix[{i}]"
        act = step["action"]
        with world.lock:
            drp = tenant.device_registration_policy
            if act == "set_join_policy":
                join = drp.setdefault("azureADJoin", {})
                old = copy.deepcopy(join)
                join["allowedToJoin"] = _membership(step["value"], users, groups)
                _drp_changed(world, tenant, "azureADJoin", old, join)
                applied.append(f"'Users may join devices to Microsoft Entra ID' set to {_describe(step['value'])}")
            elif act == "set_quota":
                old = drp.get("userDeviceQuota")
                drp["userDeviceQuota"] = step["value"]
                _drp_changed(world, tenant, "userDeviceQuota", old, step["value"])
                applied.append(f"'Maximum number of devices per user' set to {step['value']}")
            elif act == "set_device_mfa":
                old = drp.get("multiFactorAuthConfiguration")
                drp["multiFactorAuthConfiguration"] = step["value"]
                _drp_changed(world, tenant, "multiFactorAuthConfiguration", old, step["value"])
                applied.append(f"'Require multifactor authentication to register or join devices' set to "
                               f"{'Yes' if step['value'] == 'required' else 'No'}")
            elif act == "delete_stale_devices":
                user = _user_of(world, scenario, step["user"], f"{path}.user")
                age = abs(parse_duration(step.get("older_than") or DEFAULT_STALE_AGE))
                cutoff = world.clock.now() - _dt.timedelta(seconds=age)
                stale = [d for d in tenant.devices_owned_by(user.id)
                         if (d.approximate_last_sign_in or d.registration_time or cutoff) < cutoff]
                for d in stale:
                    with world.lock:
                        tenant.remove_object(tenant.devices, d.id)
                    for m in [m for m in tenant.managed_devices.values() if m.azure_ad_device_id == d.device_id]:
                        del tenant.managed_devices[m.id]
                    record_audit(world, tenant, activity="Delete device", category="Device", service="Core Directory",
                                 operation_type="Delete", targets=[device_target(d)])
                applied.append(f"deleted {len(stale)} stale device(s) of {user.user_principal_name} "
                               f"(no sign-in for {int(age // 86400)} days)")
            elif act == "set_clock_skew":
                device.clock_skew = dchanges["clock_skew"] = parse_duration(step["value"])
                applied.append(f"device clock corrected (skew {device.clock_skew:+.0f} s)")
            elif act == "set_network":
                device.network = dchanges["network"] = copy.deepcopy(step["value"])
                applied.append(f"device network set to {step['value']}")
            elif act == "set_mdm_scope":
                _set_mdm_scope(tenant, step["value"], groups)
                _audit_mdm_scope(world, tenant)
                applied.append(f"MDM user scope set to {_describe(step['value'])}")
            elif act == "add_to_mdm_scope":
                user = _user_of(world, scenario, step["user"], f"{path}.user")
                applied.append(_add_to_mdm_scope(world, tenant, user, groups, scenario.source))
            elif act == "add_to_group":
                user = _user_of(world, scenario, step["user"], f"{path}.user")
                _add_member(world, tenant, groups[step["group"]], user)
                applied.append(f"added {user.user_principal_name} to group '{step['group']}'")
            elif act == "remove_from_group":
                user = _user_of(world, scenario, step["user"], f"{path}.user")
                group = groups[step["group"]]
                if user.id in group.members:
                    group.members.remove(user.id)
                    record_audit(world, tenant, activity="Remove member from group", category="GroupManagement",
                                 service="Core Directory", operation_type="Unassign",
                                 targets=[_target(user.id, user.display_name, "User", user.user_principal_name),
                                          _target(group.id, group.display_name, "Group")])
                applied.append(f"removed {user.user_principal_name} from group '{step['group']}'")
            elif act == "assign_license":
                user = _user_of(world, scenario, step["user"], f"{path}.user")
                sku = step["sku"]
                used = sum(sku in u.licenses for u in tenant.users.values())
                if sku not in user.licenses:
                    if used >= tenant.subscriptions.get(sku, 0):
                        raise ScenarioError(scenario.source, f"{path}.sku",
                                            f"no {sku} licences left ({used} of {tenant.subscriptions.get(sku, 0)} used)")
                    user.licenses.append(sku)
                    record_audit(world, tenant, activity="Change user license", category="UserManagement",
                                 service="Core Directory", operation_type="Update",
                                 targets=[_target(user.id, user.display_name, "User", user.user_principal_name)])
                applied.append(f"assigned {sku} to {user.user_principal_name}")
            elif act == "register_mfa_method":
                user = _user_of(world, scenario, step["user"], f"{path}.user")
                method = step.get("method") or "microsoftAuthenticator"
                if method not in user.mfa_methods:
                    user.mfa_methods.append(method)
                    record_audit(world, tenant, activity="User registered security info", category="UserManagement",
                                 service="Authentication Methods", operation_type="Add",
                                 targets=[_target(user.id, user.display_name, "User", user.user_principal_name)])
                applied.append(f"{method} registered for {user.user_principal_name}")
            elif act == "disable_ca_policy":
                pol = _policy_named(scenario, step["name"], f"{path}.name")
                pol["state"] = "disabled"
                pol["modifiedDateTime"] = iso_z(world.clock.now())
                _audit_ca(world, tenant, pol)
                applied.append(f"conditional access policy '{step['name']}' turned off")
            elif act == "exclude_from_ca_policy":
                pol = _policy_named(scenario, step["name"], f"{path}.name")
                cond = pol["conditions"]
                what = []
                if step.get("user"):
                    user = _user_of(world, scenario, step["user"], f"{path}.user")
                    cond["users"].setdefault("excludeUsers", []).append(user.id)
                    what.append(user.user_principal_name)
                if step.get("group"):
                    cond["users"].setdefault("excludeGroups", []).append(groups[step["group"]].id)
                    what.append(f"group '{step['group']}'")
                if step.get("application"):
                    cond["applications"].setdefault("excludeApplications", []).append(
                        _resolve_app(step["application"]))
                    what.append(step["application"])
                pol["modifiedDateTime"] = iso_z(world.clock.now())
                _audit_ca(world, tenant, pol)
                applied.append(f"excluded {', '.join(what)} from conditional access policy '{step['name']}'")
            elif act == "raise_enrollment_limit":
                for c in tenant.enrollment_configurations:
                    if c.get("@odata.type") == "#microsoft.graph.deviceEnrollmentLimitConfiguration":
                        c["limit"] = step["value"]
                        c["version"] = int(c.get("version", 0)) + 1
                        c["lastModifiedDateTime"] = iso_z(world.clock.now())
                applied.append(f"Intune device limit restriction raised to {step['value']}")
            elif act == "unblock_platform":
                plat = step.get("platform") or "windows"
                for c in tenant.enrollment_configurations:
                    r = c.get(f"{plat}Restriction")
                    if isinstance(r, dict):
                        r["platformBlocked"] = False
                        c["version"] = int(c.get("version", 0)) + 1
                        c["lastModifiedDateTime"] = iso_z(world.clock.now())
                applied.append(f"{plat} (MDM) allowed in the Intune platform restrictions")
            elif act == "enable_user":
                user = _user_of(world, scenario, step["user"], f"{path}.user")
                user.account_enabled = True
                record_audit(world, tenant, activity="Update user", category="UserManagement", service="Core Directory",
                             operation_type="Update", targets=[_target(user.id, user.display_name, "User",
                                                                       user.user_principal_name, [
                                 {"displayName": "AccountEnabled", "oldValue": "[false]", "newValue": "[true]"}])])
                applied.append(f"sign-in allowed again for {user.user_principal_name}")
            elif act == "reset_password":
                user = _user_of(world, scenario, step["user"], f"{path}.user")
                user.password = step["password"]
                record_audit(world, tenant, activity="Reset user password", category="UserManagement",
                             service="Core Directory", operation_type="Update",
                             targets=[_target(user.id, user.display_name, "User", user.user_principal_name)])
                if actor.upn.lower() == user.user_principal_name.lower():
                    actor.password = achanges["password"] = step["password"]
                applied.append(f"password of {user.user_principal_name} reset")
            elif act == "create_user":
                upn = step["upn"]
                user = world.add_user(tenant, upn, password=step["password"],
                                      display_name=step.get("display_name") or _display_name_from_upn(upn),
                                      licenses=step.get("licenses"))
                users[upn.lower()] = user
                scenario.users[upn.lower()] = user
                record_audit(world, tenant, activity="Add user", category="UserManagement", service="Core Directory",
                             operation_type="Add", targets=[_target(user.id, user.display_name, "User", upn)])
                if actor.upn.lower() == upn.lower():
                    actor.user = achanges["user"] = user
                    actor.password = achanges["password"] = step["password"]
                applied.append(f"user {upn} created")
            elif act == "clear_faults":
                name = step.get("name")
                before = len(world.faults.rules)
                if name:
                    world.faults.rules[:] = [r for r in world.faults.rules if r.name != name]
                else:
                    world.faults.clear()
                applied.append(f"service recovered ({before - len(world.faults.rules)} fault rule(s) removed)")
            elif act == "set_mfa_response":
                actor.mfa_response = achanges["mfa_response"] = step["value"]
                if actor.user is not None:
                    actor.user.mfa_response = step["value"]
                applied.append(f"the user will {step['value']} the sign-in request")
            elif act == "set_actor_password":
                actor.password = achanges["password"] = step["value"]
                applied.append("the user types the correct password")
            elif act == "use_join_link":
                actor.join_method = achanges["join_method"] = "join"
                applied.append("the user disconnects the work account and uses the join link")
            else:  # pragma: no cover - validate() refuses unknown actions
                raise ScenarioError(scenario.source, f"{path}.action", f"unknown fix action '{act}'")
    return FixResult(applied=applied, device=device, actor=actor, device_changes=dchanges, actor_changes=achanges)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        parts = [f"{k}: {', '.join(v)}" for k, v in value.items() if v]
        return "Selected (" + "; ".join(parts) + ")"
    return {"all": "All", "none": "None"}.get(value, str(value))


def _audit_ca(world, tenant: Tenant, pol: dict[str, Any]) -> None:
    record_audit(world, tenant, activity="Update conditional access policy", category="Policy",
                 service="Conditional Access", operation_type="Update",
                 targets=[_target(pol["id"], pol["displayName"], "Policy")])


def _audit_mdm_scope(world, tenant: Tenant) -> None:
    # Inferred: the audit reference lists no activity for the mobility policy; we log it as a policy update.
    record_audit(world, tenant, activity="Update policy", category="Policy", service="Core Directory",
                 operation_type="Update", targets=[_target(INTUNE_APP_ID, "Microsoft Intune", "Policy")])


#: The group add_to_mdm_scope creates when the MDM scope is None.
MDM_SCOPE_GROUP = "Intune MDM users"


def _add_to_mdm_scope(world, tenant: Tenant, user: User, groups: dict[str, Group], source: str) -> str:
    """Put the user in MDM scope the least-wide way: scope Some -> add to the first included group;
    scope None -> a group with the user, and scope Some on it; scope All -> already in scope."""
    pol = tenant.mdm_policies.get(INTUNE_APP_ID)
    if pol is None:
        raise ScenarioError(source, "fix", "add_to_mdm_scope: the tenant has no Intune (tenant.intune: false)")
    if policy.in_mdm_scope(tenant, user):
        return f"{user.user_principal_name} already in MDM user scope"
    if pol.get("appliesTo") == "selected" and pol.get("includedGroups"):
        group = tenant.groups[pol["includedGroups"][0]]
        _add_member(world, tenant, group, user)
        return f"added {user.user_principal_name} to '{group.display_name}' (MDM user scope)"
    group = _group_named(tenant, MDM_SCOPE_GROUP) or world.add_group(tenant, MDM_SCOPE_GROUP)
    groups[group.display_name] = group
    _add_member(world, tenant, group, user)
    pol["appliesTo"] = "selected"
    pol["includedGroups"] = [group.id]
    _audit_mdm_scope(world, tenant)
    return f"MDM user scope set to Some ('{MDM_SCOPE_GROUP}') with {user.user_principal_name}"

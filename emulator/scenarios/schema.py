"""The scenario file format, and its validator.

A scenario file is YAML (see docs/scenarios.md). `validate(doc, source)` checks it in two passes:

1. shape: every key known, every value of the right type or one of the allowed values;
2. references: every UPN, group name, SKU, CA policy name and fault field points at something the
   file defines (or the emulator knows).

The first problem found raises `ScenarioError`, whose message names the file, the field path
(`users[1].licenses[0]`) and what would be allowed there (with the closest match for a typo).
Hand-written on purpose: no schema library is a dependency of the emulator.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable
from typing import Any

from ..world.catalogue import AADSTS, HRESULTS
from ..world.models import KNOWN_SKUS, ROLE_TEMPLATES


class ScenarioError(ValueError):
    """A scenario file that cannot be used. `str(err)` = "<source>: <path>: <problem>"."""

    def __init__(self, source: str, path: str, problem: str):
        self.source = source
        self.path = path or "(top level)"
        self.problem = problem
        super().__init__(f"{source}: {self.path}: {problem}")


# -- vocabulary ---------------------------------------------------------------------------------

#: The headings of the guide's "Common issues and fixes" (shared/seeds/entra-join-guide.txt), plus
#: "none" for the scenario where nothing goes wrong.
GUIDE_SECTIONS = [
    "You cannot join this device",
    "MFA or sign-in loops",
    "AzureAdJoined : NO after setup",
    "Intune not enrolling",
    "none",
]

#: Windows 11 releases and the OS version a fresh install of each reports (build.UBR).
# Inferred: any recent cumulative-update revision would do; these are plausible 2025 values.
WINDOWS_RELEASES = {
    "21H2": "10.0.22000.3260",
    "22H2": "10.0.22621.4602",
    "23H2": "10.0.22631.4602",
    "24H2": "10.0.26100.2605",
    "25H2": "10.0.26200.6584",
}

NETWORK_STATES = ["online", "offline", "dns_failure", "timeout"]
MFA_METHODS = ["microsoftAuthenticator", "sms", "voice", "fido2", "softwareOath", "temporaryAccessPass"]
PER_USER_MFA = ["disabled", "enabled", "enforced"]
TRUST_TYPES = ["AzureAd", "Workplace", "ServerAd"]
CA_STATES = ["enabled", "disabled", "enabledForReportingButNotEnforced"]
CA_GRANTS = ["block", "mfa", "compliantDevice", "domainJoinedDevice", "approvedApplication",
             "compliantApplication", "passwordChange"]
CA_PLATFORMS = ["all", "android", "iOS", "windows", "windowsPhone", "macOS", "linux"]
CA_CLIENT_APPS = ["all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "easSupported", "other"]
#: User actions a CA policy may target, by portal name and by Graph value.
CA_USER_ACTIONS = {
    "Register or join devices": "urn:user:registerdevice",
    "Register security information": "urn:user:registersecurityinfo",
}
#: Applications a CA policy may name in a scenario file (portal names -> app ids), besides GUIDs
#: and the keywords All / None / Office365 / MicrosoftAdminPortals (graph-intune.md §3.4).
CA_APPLICATIONS = {
    "Device Registration Service": "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9",
    "Microsoft Intune": "0000000a-0000-0000-c000-000000000000",
    "Microsoft Intune Enrollment": "d4ebce55-015a-49b5-a083-c84d1797ae8c",
    "Office 365 Exchange Online": "00000002-0000-0ff1-ce00-000000000000",
    "Office 365 SharePoint Online": "00000003-0000-0ff1-ce00-000000000000",
    "Microsoft Office 365 Portal": "00000006-0000-0ff1-ce00-000000000000",
    "Microsoft Graph": "00000003-0000-0000-c000-000000000000",
    "Windows Azure Service Management API": "797f4846-ba00-4fd7-ba43-dac1f8f63013",
}
CA_APP_KEYWORDS = ["All", "None", "Office365", "MicrosoftAdminPortals"]
CA_USER_KEYWORDS = ["All", "None", "GuestsOrExternalUsers"]
PLATFORM_RESTRICTIONS = ["windows", "ios", "android", "macOS", "windowsMobile"]

GUID_RX = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NAME_RX = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
UPN_RX = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
DOMAIN_RX = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SKEW_RX = re.compile(r"^\s*([+-]?)\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$")
DSREG_LINE_RX = re.compile(r"^\s*[A-Za-z][A-Za-z0-9 ()/\-]* :( .*)?$")
HEX_CODE_RX = re.compile(r"^(0x)?[0-9a-fA-F]{8}$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as "+2h", "-10d", "20m", "400d", "-90 s".

    Units: s, m / min (minutes), h, d, w. A bare number is seconds."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a duration")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected seconds or a string like '+2h', got {type(value).__name__}")
    m = SKEW_RX.match(value)
    if not m:
        raise ValueError(f"'{value}' is not a duration like '+2h', '-10d', '20m' or a number of seconds")
    sign, num, unit = m.groups()
    mult = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[unit]
    secs = float(num) * mult
    return -secs if sign == "-" else secs


def hresult_value(code: Any) -> int:
    """801c03ed / 0x801C03ED -> 0x801C03ED."""
    return int(str(code).lower().removeprefix("0x"), 16)


# -- a small spec language ----------------------------------------------------------------------

def _tname(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "mapping"}.get(type(v), type(v).__name__)


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Ctx:
    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, problem: str) -> None:
        raise ScenarioError(self.source, path, problem)


class Spec:
    desc = "a value"

    def check(self, v: Any, path: str, c: _Ctx) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class Any_(Spec):
    desc = "any value"

    def check(self, v, path, c):
        return None


class Str(Spec):
    def __init__(self, desc: str = "a string", rx: re.Pattern | None = None, one_line: bool = False,
                 nonempty: bool = True):
        self.desc, self.rx, self.one_line, self.nonempty = desc, rx, one_line, nonempty

    def check(self, v, path, c):
        if not isinstance(v, str):
            hint = " (quote it: YAML reads 'Label : value' as a mapping)" if isinstance(v, dict) else ""
            c.fail(path, f"expected {self.desc}, got {_tname(v)}{hint}")
        if self.nonempty and not v.strip():
            c.fail(path, f"expected {self.desc}, got an empty string")
        if self.one_line and "\n" in v.strip():
            c.fail(path, f"expected {self.desc} on one line, got several lines")
        if self.rx is not None and not self.rx.match(v):
            c.fail(path, f"'{v}' is not {self.desc}")


class Int(Spec):
    def __init__(self, lo: int | None = None, hi: int | None = None, desc: str | None = None):
        self.lo, self.hi = lo, hi
        rng = (f" from {lo}" if lo is not None else "") + (f" to {hi}" if hi is not None else "")
        self.desc = desc or f"an integer{rng}"

    def check(self, v, path, c):
        if isinstance(v, bool) or not isinstance(v, int):
            c.fail(path, f"expected {self.desc}, got {_tname(v)}")
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            c.fail(path, f"{v} is out of range; expected {self.desc}")


class Num(Spec):
    def __init__(self, lo: float | None = None, hi: float | None = None):
        self.lo, self.hi = lo, hi
        rng = (f" from {lo}" if lo is not None else "") + (f" to {hi}" if hi is not None else "")
        self.desc = f"a number{rng}"

    def check(self, v, path, c):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            c.fail(path, f"expected {self.desc}, got {_tname(v)}")
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            c.fail(path, f"{v} is out of range; expected {self.desc}")


class Bool(Spec):
    desc = "true or false"

    def check(self, v, path, c):
        if not isinstance(v, bool):
            c.fail(path, f"expected true or false, got {_tname(v)} {v!r}")


class Enum(Spec):
    def __init__(self, values, what: str = "value"):
        self.values = list(values)
        self.what = what
        self.desc = "one of " + ", ".join(str(x) for x in self.values)

    def check(self, v, path, c):
        if v not in self.values:
            shown = v if isinstance(v, (str, int, float, bool)) or v is None else _tname(v)
            c.fail(path, f"unknown {self.what} {shown!r}{_suggest(shown, self.values)}; allowed: "
                         + ", ".join(str(x) for x in self.values))


class Duration(Spec):
    desc = "seconds (a number) or a string like '+2h', '-10d', '20m'"

    def check(self, v, path, c):
        try:
            parse_duration(v)
        except ValueError:
            c.fail(path, f"expected {self.desc}, got {_tname(v)} {v!r}")


def normalize_hex(v: Any) -> str | None:
    """'801c03ed' from '801c03ed', '0x801C03ED', or what YAML made of an unquoted code: 80180013
    (read as a decimal int) or 0x80180013 (read as a hex int). None if it is not a code."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        if 0x80000000 <= v <= 0xFFFFFFFF:
            return f"{v:08x}"
        s = str(v)
        return s if len(s) == 8 else None
    if isinstance(v, str) and HEX_CODE_RX.match(v.strip()):
        return v.strip().lower().removeprefix("0x")
    return None


class HexCode(Spec):
    desc = "a Windows error code in hex, like 801c03ed"

    def check(self, v, path, c):
        if normalize_hex(v) is None:
            c.fail(path, f"expected {self.desc}, got {_tname(v)} {v!r}")
        v = normalize_hex(v)
        if hresult_value(v) not in HRESULTS:
            known = sorted(f"{h:08x}" for h in HRESULTS)
            hint = _suggest(v.lower().removeprefix('0x'), known)
            c.fail(path, f"code {v} is not in the catalogue (emulator/world/catalogue.py){hint}; "
                         "allowed: " + ", ".join(known))


class Aadsts(Spec):
    desc = "an AADSTS code number, like 50126"

    def check(self, v, path, c):
        if isinstance(v, str) and v.upper().startswith("AADSTS") and v[6:].isdigit():
            v = int(v[6:])
        if isinstance(v, bool) or not isinstance(v, int):
            c.fail(path, f"expected {self.desc}, got {_tname(v)} {v!r}")
        if v not in AADSTS:
            c.fail(path, f"AADSTS{v} is not in the catalogue (emulator/world/catalogue.py)"
                         f"{_suggest(str(v), [str(k) for k in AADSTS])}")


class ListOf(Spec):
    def __init__(self, item: Spec, min_len: int = 0):
        self.item, self.min_len = item, min_len
        self.desc = f"a list of {item.desc}"

    def check(self, v, path, c):
        if not isinstance(v, list):
            c.fail(path, f"expected {self.desc}, got {_tname(v)}")
        if len(v) < self.min_len:
            c.fail(path, f"expected at least {self.min_len} item(s)")
        for i, x in enumerate(v):
            self.item.check(x, f"{path}[{i}]", c)


class MapOf(Spec):
    def __init__(self, key: Spec, val: Spec, desc: str | None = None):
        self.key, self.val = key, val
        self.desc = desc or f"a mapping of {key.desc} to {val.desc}"

    def check(self, v, path, c):
        if not isinstance(v, dict):
            c.fail(path, f"expected {self.desc}, got {_tname(v)}")
        for k, x in v.items():
            self.key.check(k, f"{path}.{k}", c)
            self.val.check(x, f"{path}.{k}", c)


class Obj(Spec):
    """A mapping with known keys. `fields`: name -> (spec, required)."""

    def __init__(self, fields: dict[str, tuple[Spec, bool]], desc: str = "a mapping"):
        self.fields = fields
        self.desc = desc

    def check(self, v, path, c):
        if not isinstance(v, dict):
            c.fail(path, f"expected {self.desc} with keys {', '.join(self.fields)}, got {_tname(v)}")
        for k in v:
            if k not in self.fields:
                c.fail(_join(path, str(k)), f"unknown key '{k}'{_suggest(k, self.fields)}; allowed keys: "
                                            + ", ".join(self.fields))
        for k, (spec, required) in self.fields.items():
            if k not in v:
                if required:
                    c.fail(_join(path, k), f"required key '{k}' is missing ({spec.desc})")
                continue
            if v[k] is None and not required:
                continue  # an explicit null = not given
            spec.check(v[k], _join(path, k), c)


class OneOf(Spec):
    """The first alternative whose `accepts` test passes is checked; otherwise a combined error."""

    def __init__(self, *alts: tuple[Callable[[Any], bool], Spec], desc: str):
        self.alts = alts
        self.desc = desc

    def check(self, v, path, c):
        for accepts, spec in self.alts:
            if accepts(v):
                try:
                    spec.check(v, path, c)
                except ScenarioError as exc:
                    if exc.path != (path or "(top level)") or len(self.alts) < 2:
                        raise
                    raise ScenarioError(c.source, path, f"{exc.problem} (this field takes {self.desc})") from None
                return
        shown = repr(v) if isinstance(v, (str, int, float, bool)) else _tname(v)
        c.fail(path, f"expected {self.desc}, got {shown}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_str(v):
    return isinstance(v, str)


def _is_dict(v):
    return isinstance(v, dict)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_list(v):
    return isinstance(v, list)


# -- the format ---------------------------------------------------------------------------------

UPN = Str("a user principal name like adele@contoso.com", UPN_RX)
GROUP_NAME = Str("a group name")

MEMBERSHIP = OneOf(
    (_is_str, Enum(["all", "none"], "membership")),
    (_is_dict, Obj({"users": (ListOf(UPN), False), "groups": (ListOf(GROUP_NAME), False)},
                   "{users: [upn...], groups: [name...]}")),
    desc="'all', 'none' or {users: [upn...], groups: [name...]}")

DRP = Obj({
    "userDeviceQuota": (Int(0, 1_000_000), False),
    "multiFactorAuthConfiguration": (Enum(["notRequired", "required"]), False),
    "azureADJoin": (Obj({"allowedToJoin": (MEMBERSHIP, False), "isAdminConfigurable": (Bool(), False)}), False),
    "azureADRegistration": (Obj({"allowedToRegister": (MEMBERSHIP, False),
                                 "isAdminConfigurable": (Bool(), False)}), False),
    "localAdminPassword": (Obj({"isEnabled": (Bool(), True)}), False),
}, "a device registration policy (partial Graph shape)")

_CA_USERS = Obj({k: (ListOf(Str("a UPN, group name, role name or keyword")), False) for k in
                 ["includeUsers", "excludeUsers", "includeGroups", "excludeGroups", "includeRoles", "excludeRoles"]})
_CA_APPS = Obj({
    "includeApplications": (ListOf(Str("an application")), False),
    "excludeApplications": (ListOf(Str("an application")), False),
    "includeUserActions": (ListOf(Enum(list(CA_USER_ACTIONS) + list(CA_USER_ACTIONS.values()), "user action")), False),
})
CA_POLICY = Obj({
    "displayName": (Str("a policy name"), True),
    "state": (Enum(CA_STATES, "state"), False),
    "conditions": (Obj({
        "users": (_CA_USERS, False),
        "applications": (_CA_APPS, False),
        "platforms": (Obj({"includePlatforms": (ListOf(Enum(CA_PLATFORMS, "platform")), False),
                           "excludePlatforms": (ListOf(Enum(CA_PLATFORMS, "platform")), False)}), False),
        "clientAppTypes": (ListOf(Enum(CA_CLIENT_APPS, "client app type")), False),
    }), False),
    "grantControls": (Obj({"operator": (Enum(["OR", "AND"], "operator"), False),
                           "builtInControls": (ListOf(Enum(CA_GRANTS, "grant control"), 1), True)}), True),
}, "a conditional access policy")

MDM_SCOPE = OneOf(
    (_is_str, Enum(["all", "none"], "MDM scope")),
    (_is_dict, Obj({"groups": (ListOf(GROUP_NAME, 1), True)}, "{groups: [name...]}")),
    desc="'all', 'none' or {groups: [name...]}")

ENROLLMENT_RESTRICTIONS = Obj({
    "device_limit": (Int(0, 15, "an integer from 0 to 15 (Intune's maximum)"), False),
    "platform_blocked": (Bool(), False),
    "personal_device_enrollment_blocked": (Bool(), False),
    "os_minimum_version": (Str("a version like 10.0.22631", nonempty=False), False),
    "os_maximum_version": (Str("a version like 10.0.26100", nonempty=False), False),
}, "Windows enrollment restrictions")

TENANT = Obj({
    "name": (Str("a tenant name"), True),
    "domain": (Str("a domain like contoso.com", DOMAIN_RX), True),
    "intune": (Bool(), False),
    "subscriptions": (MapOf(Enum(sorted(KNOWN_SKUS), "SKU"), Int(0, 1_000_000),
                            "a mapping of SKU part number to units"), False),
    "device_registration_policy": (DRP, False),
    "conditional_access": (ListOf(CA_POLICY), False),
    "mdm_user_scope": (MDM_SCOPE, False),
    "enrollment_restrictions": (ENROLLMENT_RESTRICTIONS, False),
    "groups": (MapOf(GROUP_NAME, ListOf(UPN), "a mapping of group name to member UPNs"), False),
}, "the tenant")

EXISTING_DEVICES_GROUP = Obj({
    "count": (Int(1, 1000), True),
    "last_sign_in": (Duration(), False),
    "trust_type": (Enum(TRUST_TYPES, "trust type"), False),
    "account_enabled": (Bool(), False),
}, "{count, last_sign_in, trust_type, account_enabled}")

EXISTING_DEVICES = OneOf(
    (_is_int, Int(0, 1000)),
    (_is_list, ListOf(EXISTING_DEVICES_GROUP)),
    desc="a number of devices or a list of {count, last_sign_in, trust_type, account_enabled}")

USER = Obj({
    "upn": (UPN, True),
    "display_name": (Str("a display name"), False),
    "password": (Str("a password"), False),
    "licenses": (ListOf(Enum(sorted(KNOWN_SKUS), "SKU")), False),
    "mfa_methods": (ListOf(Enum(MFA_METHODS, "MFA method")), False),
    "per_user_mfa": (Enum(PER_USER_MFA, "per-user MFA state"), False),
    "can_register_mfa": (Bool(), False),
    "account_enabled": (Bool(), False),
    "existing_devices": (EXISTING_DEVICES, False),
    "existing_managed_devices": (Int(0, 1000), False),
    "roles": (ListOf(Enum(sorted(ROLE_TEMPLATES), "directory role")), False),
}, "a user")

NETWORK = OneOf(
    (_is_str, Enum(NETWORK_STATES, "network state")),
    (_is_dict, Obj({"blocked_hosts": (ListOf(Str("a host name", DOMAIN_RX), 1), True)}, "{blocked_hosts: [...]}")),
    desc="online, offline, dns_failure, timeout or {blocked_hosts: [host...]}")

DEVICE = Obj({
    "name": (Str("a computer name (up to 15 characters)", re.compile(r"^[A-Za-z0-9-]{1,15}$")), False),
    "release": (Enum(list(WINDOWS_RELEASES), "Windows 11 release"), False),
    "os_version": (Str("a version like 10.0.26100.2605", re.compile(r"^10\.0\.\d+(\.\d+)?$")), False),
    "edition": (Enum(["Pro", "Enterprise", "Education", "Home"], "edition"), False),
    "clock_skew": (Duration(), False),
    "network": (NETWORK, False),
    "tpm": (Bool(), False),
}, "the device")

ACTOR = Obj({
    "user": (UPN, True),
    "password": (Str("a password"), False),
    "mfa_response": (Enum(["approve", "deny"], "MFA response"), False),
    "proofup_response": (Enum(["register", "skip"], "MFA registration response"), False),
    "not_in_directory": (Bool(), False),
    "join_method": (Enum(["join", "register"], "join method"), False),
}, "the actor")

_FAULT_FIELDS = {
    "host": Str("a host name"), "method": Enum(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"], "method"),
    "path": Str("a path regex (starting with ^) or glob"), "nth": Int(1), "after": Int(0), "times": Int(1),
    "probability": Num(0, 1), "latency_ms": Num(0), "status": Int(100, 599), "body": Any_(),
    "headers": MapOf(Str("a header name"), Str("a header value")),
    "error": Str("a dialect error like drs:ServiceUnavailable or aadsts:50076",
                 re.compile(r"^(aadsts|graph|drs|intune)(:.+)?$")),
    "throttle_seconds": Num(0), "name": Str("a rule name"),
}


def _fault_rule_fields() -> list[str]:
    from ..world.faults import FaultRule

    return [f.name for f in dataclasses.fields(FaultRule) if f.name not in ("seen", "fired")]


def _fault_spec() -> Obj:
    names = _fault_rule_fields()
    return Obj({n: (_FAULT_FIELDS.get(n, Any_()), False) for n in names}, "a fault rule (FaultRule fields)")


EXPECT = Obj({
    "joined": (Bool(), True),
    "enrolled": (Bool(), False),
    "prt": (Bool(), False),
    "settings_error_code": (HexCode(), False),
    "aadsts": (Aadsts(), False),
    "dsregcmd": (ListOf(Str("a dsregcmd line like 'AzureAdJoined : NO'", DSREG_LINE_RX)), False),
    "sign_in_log": (Obj({"recorded": (Bool(), False),
                         "error_code": (Int(0), False),
                         "conditional_access_status": (Enum(["success", "failure", "notApplied"], "CA status"),
                                                       False),
                         "app_id": (Str("an application id", GUID_RX), False)}), False),
    "audit": (ListOf(Str("an audit activity name")), False),
    "office_portal": (OneOf((_is_str, Enum(["ok"], "result")), (_is_dict, Obj({"aadsts": (Aadsts(), True)})),
                            desc="'ok' or {aadsts: code}"), False),
}, "an expectation")

#: Fix actions: name -> parameters (spec, required).
FIX_ACTIONS: dict[str, dict[str, tuple[Spec, bool]]] = {
    "set_join_policy": {"value": (MEMBERSHIP, True)},
    "set_quota": {"value": (Int(0, 1_000_000), True)},
    "set_device_mfa": {"value": (Enum(["notRequired", "required"]), True)},
    "delete_stale_devices": {"user": (UPN, True), "older_than": (Duration(), False)},
    "set_clock_skew": {"value": (Duration(), True)},
    "set_network": {"value": (NETWORK, True)},
    "set_mdm_scope": {"value": (MDM_SCOPE, True)},
    "add_to_mdm_scope": {"user": (UPN, True)},
    "add_to_group": {"user": (UPN, True), "group": (GROUP_NAME, True)},
    "remove_from_group": {"user": (UPN, True), "group": (GROUP_NAME, True)},
    "assign_license": {"user": (UPN, True), "sku": (Enum(sorted(KNOWN_SKUS), "SKU"), True)},
    "register_mfa_method": {"user": (UPN, True), "method": (Enum(MFA_METHODS, "MFA method"), False)},
    "disable_ca_policy": {"name": (Str("a CA policy name"), True)},
    "exclude_from_ca_policy": {"name": (Str("a CA policy name"), True), "user": (UPN, False),
                               "group": (GROUP_NAME, False), "application": (Str("an application"), False)},
    "raise_enrollment_limit": {"value": (Int(1, 15, "an integer from 1 to 15 (Intune's maximum)"), True)},
    "unblock_platform": {"platform": (Enum(PLATFORM_RESTRICTIONS, "platform"), False)},
    "enable_user": {"user": (UPN, True)},
    "reset_password": {"user": (UPN, True), "password": (Str("the new password"), True)},
    "create_user": {"upn": (UPN, True), "display_name": (Str("a display name"), False),
                    "password": (Str("a password"), True),
                    "licenses": (ListOf(Enum(sorted(KNOWN_SKUS), "SKU")), False)},
    "clear_faults": {"name": (Str("a fault rule name"), False)},
    "set_mfa_response": {"value": (Enum(["approve", "deny"], "MFA response"), True)},
    "set_actor_password": {"value": (Str("a password"), True)},
    "use_join_link": {},
}


class FixStep(Spec):
    desc = "a fix step {action: ..., ...}"

    def check(self, v, path, c):
        if not isinstance(v, dict):
            c.fail(path, f"expected {self.desc}, got {_tname(v)}")
        action = v.get("action")
        if action is None:
            c.fail(_join(path, "action"), "required key 'action' is missing; allowed: " + ", ".join(FIX_ACTIONS))
        Enum(list(FIX_ACTIONS), "fix action").check(action, _join(path, "action"), c)
        params = dict(FIX_ACTIONS[action])
        params = {"action": (Any_(), True), **params}
        Obj(params, f"the parameters of {action}").check(v, path, c)


SCENARIO_KEYS: dict[str, tuple[Spec, bool]] = {
    "name": (Str("a kebab-case name like device-limit-reached", NAME_RX), True),
    "description": (Str("a one-line description", one_line=True), True),
    "guide_section": (Enum(GUIDE_SECTIONS, "guide section"), True),
    "notes": (Str("prose", nonempty=False), False),
    "tenant": (TENANT, True),
    "users": (ListOf(USER, 1), True),
    "device": (DEVICE, False),
    "actor": (ACTOR, True),
    "faults": (None, False),  # filled lazily (from emulator.world.faults.FaultRule)
    "expect": (EXPECT, True),
    "diagnosis": (Str("prose"), True),
    "fix": (ListOf(FixStep()), True),
    "fix_description": (Str("prose"), True),
    "expect_after_fix": (EXPECT, True),
}


def _top_spec() -> Obj:
    keys = dict(SCENARIO_KEYS)
    keys["faults"] = (ListOf(_fault_spec()), False)
    return Obj(keys, "a scenario")


# -- pass 2: references -------------------------------------------------------------------------

def _resolve_app(name: str) -> str | None:
    if name in CA_APP_KEYWORDS or GUID_RX.match(name):
        return name
    return CA_APPLICATIONS.get(name)


def _check_refs(doc: dict[str, Any], c: _Ctx, expected_name: str | None) -> None:
    if expected_name and doc["name"] != expected_name:
        c.fail("name", f"'{doc['name']}' does not match the file name; expected '{expected_name}'")
    tenant = doc["tenant"]
    domain = tenant["domain"].lower()
    slug = "".join(ch for ch in tenant["name"].lower() if ch.isalnum()) or "tenant"
    domains = {domain, f"{slug}.onmicrosoft.com"}
    upns: dict[str, int] = {}
    for i, u in enumerate(doc["users"]):
        upn = u["upn"].lower()
        if upn in upns:
            c.fail(f"users[{i}].upn", f"duplicate user '{u['upn']}' (also users[{upns[upn]}])")
        if upn.rsplit("@", 1)[1] not in domains:
            c.fail(f"users[{i}].upn", f"'{u['upn']}' is not in the tenant's domains; allowed: {', '.join(sorted(domains))}")
        upns[upn] = i
    created = {s["upn"].lower() for s in doc.get("fix") or [] if s.get("action") == "create_user"}
    groups = set((tenant.get("groups") or {}).keys())
    subs = tenant.get("subscriptions")
    subs = set(subs) if subs is not None else {"SPE_E3"}
    policies = [p["displayName"] for p in tenant.get("conditional_access") or []]

    def user_ref(value: str, path: str, extra: set[str] = frozenset()) -> None:
        if value.lower() not in upns and value.lower() not in extra:
            c.fail(path, f"unknown user '{value}'{_suggest(value.lower(), upns)}; users defined: "
                         + ", ".join(u["upn"] for u in doc["users"]))

    def group_ref(value: str, path: str) -> None:
        if value not in groups:
            c.fail(path, f"unknown group '{value}'{_suggest(value, groups)}; groups defined in tenant.groups: "
                         + (", ".join(sorted(groups)) or "(none)"))

    for g, members in (tenant.get("groups") or {}).items():
        for j, m in enumerate(members):
            user_ref(m, f"tenant.groups.{g}[{j}]")

    def membership_refs(m: Any, path: str) -> None:
        if isinstance(m, dict):
            for j, x in enumerate(m.get("users") or []):
                user_ref(x, f"{path}.users[{j}]")
            for j, x in enumerate(m.get("groups") or []):
                group_ref(x, f"{path}.groups[{j}]")

    drp = tenant.get("device_registration_policy") or {}
    membership_refs((drp.get("azureADJoin") or {}).get("allowedToJoin"), "tenant.device_registration_policy."
                    "azureADJoin.allowedToJoin")
    membership_refs((drp.get("azureADRegistration") or {}).get("allowedToRegister"),
                    "tenant.device_registration_policy.azureADRegistration.allowedToRegister")
    seen_names: set[str] = set()
    for i, p in enumerate(tenant.get("conditional_access") or []):
        base = f"tenant.conditional_access[{i}]"
        if p["displayName"] in seen_names:
            c.fail(f"{base}.displayName", f"duplicate policy name '{p['displayName']}'")
        seen_names.add(p["displayName"])
        users = (p.get("conditions") or {}).get("users") or {}
        for key in ("includeUsers", "excludeUsers"):
            for j, x in enumerate(users.get(key) or []):
                if x not in CA_USER_KEYWORDS and not GUID_RX.match(x):
                    user_ref(x, f"{base}.conditions.users.{key}[{j}]")
        for key in ("includeGroups", "excludeGroups"):
            for j, x in enumerate(users.get(key) or []):
                if not GUID_RX.match(x):
                    group_ref(x, f"{base}.conditions.users.{key}[{j}]")
        for key in ("includeRoles", "excludeRoles"):
            for j, x in enumerate(users.get(key) or []):
                if x not in ROLE_TEMPLATES and not GUID_RX.match(x):
                    Enum(sorted(ROLE_TEMPLATES), "directory role").check(x, f"{base}.conditions.users.{key}[{j}]", c)
        apps = (p.get("conditions") or {}).get("applications") or {}
        for key in ("includeApplications", "excludeApplications"):
            for j, x in enumerate(apps.get(key) or []):
                if _resolve_app(x) is None:
                    allowed = CA_APP_KEYWORDS + list(CA_APPLICATIONS)
                    c.fail(f"{base}.conditions.applications.{key}[{j}]",
                           f"unknown application '{x}'{_suggest(x, allowed)}; allowed: an app id (GUID) or "
                           + ", ".join(allowed))
        if not apps.get("includeApplications") and not apps.get("includeUserActions"):
            c.fail(f"{base}.conditions.applications", "a policy must target applications or a user action "
                                                      "(includeApplications or includeUserActions)")
        grants = p["grantControls"]["builtInControls"]
        if apps.get("includeUserActions") and any(g not in ("mfa",) for g in grants):
            c.fail(f"{base}.grantControls.builtInControls",
                   "with the 'Register or join devices' user action only 'mfa' is allowed (CA-APPS-DOC)")
    scope = tenant.get("mdm_user_scope")
    if isinstance(scope, dict):
        for j, g in enumerate(scope["groups"]):
            group_ref(g, f"tenant.mdm_user_scope.groups[{j}]")
    units = dict(tenant.get("subscriptions") or {}) if tenant.get("subscriptions") is not None else {"SPE_E3": 25}
    used: dict[str, int] = {}
    for i, u in enumerate(doc["users"]):
        if u.get("licenses") is None and "SPE_E3" not in subs:
            c.fail(f"users[{i}].licenses", "not given, so it defaults to [SPE_E3], but the tenant has no SPE_E3 "
                                           "subscription; list the user's licenses (or [] for none)")
        for j, sku in enumerate(u["licenses"] if u.get("licenses") is not None else ["SPE_E3"]):
            if sku not in subs:
                c.fail(f"users[{i}].licenses[{j}]", f"the tenant has no subscription for SKU '{sku}'; "
                                                    f"tenant.subscriptions has: {', '.join(sorted(subs)) or '(none)'}")
            used[sku] = used.get(sku, 0) + 1
            if used[sku] > units.get(sku, 0):
                c.fail(f"users[{i}].licenses[{j}]", f"no {sku} units left: tenant.subscriptions.{sku} is "
                                                    f"{units.get(sku, 0)}")
    if tenant.get("intune") is False:
        for key in ("mdm_user_scope", "enrollment_restrictions"):
            if tenant.get(key) is not None:
                c.fail(f"tenant.{key}", "the tenant has no Intune (tenant.intune: false); remove this key")
        for i, step in enumerate(doc.get("fix") or []):
            if step.get("action") in ("set_mdm_scope", "add_to_mdm_scope", "raise_enrollment_limit",
                                      "unblock_platform"):
                c.fail(f"fix[{i}].action", f"'{step['action']}' needs Intune, and tenant.intune is false")
    actor = doc["actor"]
    if actor.get("not_in_directory"):
        if actor["user"].lower() in upns:
            c.fail("actor.not_in_directory", f"'{actor['user']}' is listed in users; remove not_in_directory")
    else:
        if actor["user"].lower() not in upns:
            c.fail("actor.user", f"unknown user '{actor['user']}'{_suggest(actor['user'].lower(), upns)}; users "
                                 "defined: " + ", ".join(u["upn"] for u in doc["users"])
                                 + " (set not_in_directory: true for an account that does not exist)")
    for i, step in enumerate(doc.get("fix") or []):
        base = f"fix[{i}]"
        for key in ("user",):
            if key in step and step[key] is not None:
                user_ref(step[key], f"{base}.{key}", created)
        if step.get("group") is not None:
            group_ref(step["group"], f"{base}.group")
        if step["action"] in ("disable_ca_policy", "exclude_from_ca_policy") and step["name"] not in policies:
            c.fail(f"{base}.name", f"unknown CA policy '{step['name']}'{_suggest(step['name'], policies)}; "
                                   "policies defined: " + (", ".join(policies) or "(none)"))
        if step["action"] == "exclude_from_ca_policy":
            if not any(step.get(k) for k in ("user", "group", "application")):
                c.fail(base, "exclude_from_ca_policy needs one of user, group, application")
            if step.get("application") and _resolve_app(step["application"]) is None:
                c.fail(f"{base}.application", f"unknown application '{step['application']}'"
                                              f"{_suggest(step['application'], list(CA_APPLICATIONS))}")
        if step["action"] == "assign_license" and step["sku"] not in subs:
            c.fail(f"{base}.sku", f"the tenant has no subscription for SKU '{step['sku']}'; "
                                  f"tenant.subscriptions has: {', '.join(sorted(subs)) or '(none)'}")
        if step["action"] == "create_user" and step["upn"].lower() in upns:
            c.fail(f"{base}.upn", f"user '{step['upn']}' already exists")
        if step["action"] in ("set_mdm_scope",) and isinstance(step["value"], dict):
            for j, g in enumerate(step["value"]["groups"]):
                group_ref(g, f"{base}.value.groups[{j}]")
        if step["action"] == "use_join_link" and actor.get("join_method", "join") != "register":
            c.fail(f"fix[{i}].action", "'use_join_link' changes how the actor connects, but actor.join_method "
                   "is not 'register'")
        if step["action"] == "set_join_policy":
            membership_refs(step["value"], f"{base}.value")
    for key in ("expect", "expect_after_fix"):
        e = doc[key]
        if e.get("enrolled") and not e["joined"]:
            c.fail(f"{key}.enrolled", "a device cannot be enrolled without being joined")


def validate(doc: Any, source: str = "<scenario>", *, expected_name: str | None = None) -> None:
    """Raise ScenarioError for the first problem in `doc` (a parsed scenario file)."""
    c = _Ctx(source)
    _top_spec().check(doc, "", c)
    _check_refs(doc, c, expected_name)

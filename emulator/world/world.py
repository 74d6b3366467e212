"""The world: every tenant of the emulated Microsoft cloud, its clock, its keys and the short-lived
protocol state (nonces, authorization and device codes, refresh tokens).

No global state: each test builds its own `World`; a server holds one world with many tenants,
isolated from each other as real tenants are (by tenant id in URLs and tokens).
"""
from __future__ import annotations

import datetime as _dt
import threading
from typing import Any

from .clock import CloudClock
from .faults import FaultEngine
from .ids import IdFactory
from .keys import WORLD_KEY_COUNT, KeyPool
from .models import INTUNE_APP_ID, INTUNE_ENROLLMENT_APP_ID, KNOWN_SKUS, Application, Group, Tenant, User

DEFAULT_DRP_DESCRIPTION = ("Tenant-wide policy that manages intial provisioning controls using quota restrictions, "
                           "additional authentication and authorization checks")


def default_device_registration_policy() -> dict[str, Any]:
    """A new tenant's device settings: everyone may join and register, quota 50, no MFA required."""
    return {
        "id": "deviceRegistrationPolicy",
        "displayName": "Device Registration Policy",
        "description": DEFAULT_DRP_DESCRIPTION,
        "userDeviceQuota": 50,
        "multiFactorAuthConfiguration": "notRequired",
        "azureADRegistration": {
            "isAdminConfigurable": False,
            "allowedToRegister": {"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"},
        },
        "azureADJoin": {
            "isAdminConfigurable": True,
            "allowedToJoin": {"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"},
            "localAdmins": {
                "enableGlobalAdmins": True,
                "registeringUsers": {"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"},
            },
        },
        "localAdminPassword": {"isEnabled": False},
    }


def default_mdm_policies(scope: str = "all", groups: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The two Intune mobility (MDM) policies of a tenant with Intune (graph-intune.md §4.2)."""
    return {
        INTUNE_APP_ID: {
            "id": INTUNE_APP_ID, "displayName": "Microsoft Intune", "appliesTo": scope,
            "description": "Device Management Policy for Microsoft Intune", "isValid": True,
            "discoveryUrl": "https://enrollment.manage.microsoft.com/enrollmentserver/discovery.svc",
            "termsOfUseUrl": "https://portal.manage.microsoft.com/TermsofUse.aspx",
            "complianceUrl": "https://portal.manage.microsoft.com/?portalAction=Compliance",
            "includedGroups": list(groups or []),
        },
        INTUNE_ENROLLMENT_APP_ID: {
            "id": INTUNE_ENROLLMENT_APP_ID, "displayName": "Microsoft Intune Enrollment", "appliesTo": "none",
            "description": "Device Management Policy for Microsoft Intune Enrollment", "isValid": True,
            "discoveryUrl": "https://enrollment.manage.microsoft.com/enrollmentserver/discovery.svc",
            "termsOfUseUrl": "https://portal.manage.microsoft.com/TermsofUse.aspx",
            "complianceUrl": "https://portal.manage.microsoft.com/?portalAction",
            "includedGroups": [],
        },
    }


def default_enrollment_configurations(tenant_id: str) -> list[dict[str, Any]]:
    """The default device limit (5) and platform restrictions of an Intune tenant (graph-intune.md §6.2)."""
    epoch = "0001-01-01T00:00:00Z"
    allowed = {"platformBlocked": False, "personalDeviceEnrollmentBlocked": False,
               "osMinimumVersion": "", "osMaximumVersion": ""}
    return [
        {"@odata.type": "#microsoft.graph.deviceEnrollmentLimitConfiguration",
         "id": f"{tenant_id}_DefaultLimit", "displayName": "All users and all devices",
         "description": "This is the default Device Limit Restriction applied with the lowest priority to all "
                        "users regardless of group membership.",
         "priority": 0, "createdDateTime": epoch, "lastModifiedDateTime": epoch, "version": 0, "limit": 5,
         "assignments": []},
        {"@odata.type": "#microsoft.graph.deviceEnrollmentPlatformRestrictionsConfiguration",
         "id": f"{tenant_id}_DefaultPlatformRestrictions", "displayName": "All users and all devices",
         "description": "This is the default Device Type Restriction applied with the lowest priority to all "
                        "users regardless of group membership.",
         "priority": 0, "createdDateTime": epoch, "lastModifiedDateTime": epoch, "version": 0,
         "iosRestriction": dict(allowed), "windowsRestriction": dict(allowed),
         "windowsMobileRestriction": dict(allowed, platformBlocked=True),
         "androidRestriction": dict(allowed), "macOSRestriction": dict(allowed), "assignments": []},
    ]


class World:
    """One emulated Microsoft cloud."""

    def __init__(self, seed: int | str = 0, clock: CloudClock | None = None):
        self.seed = seed
        self.clock = clock or CloudClock()
        self.ids = IdFactory(seed)
        self.keys = KeyPool(start=_seed_offset(seed))
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}
        self._domains: dict[str, str] = {}
        self.faults = FaultEngine(seed)
        self._requests_lock = threading.Lock()
        self._requests_served = 0
        #: Re-raise handler bugs instead of answering 500 (tests turn this on).
        self.raise_server_errors = False
        #: Seconds a device-code client is told to wait between polls (the real service says 5).
        self.device_code_interval = 5
        # Signing material: the token issuer, the DRS device CA and the Intune MDM device CA.
        self.issuer_key = self.keys.take()
        self.issuer_kid = self.ids.hex(20)
        self.drs_ca_key = self.keys.take()
        self.intune_ca_key = self.keys.take()
        # Short-lived protocol state, keyed by opaque values the clients hold.
        self.nonces: dict[str, float] = {}
        self.auth_codes: dict[str, dict[str, Any]] = {}
        self.device_codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.prts: dict[str, dict[str, Any]] = {}
        self.login_flows: dict[str, dict[str, Any]] = {}
        #: Clock skew hints per device name, set through the server's control API (devices are
        #: clients: a device started against the server reads its skew from here).
        self.device_skews: dict[str, float] = {}
        self._cache: dict[str, Any] = {}

    # -- tenants -------------------------------------------------------------------------------
    def add_tenant(self, tenant: Tenant) -> Tenant:
        with self.lock:
            self.tenants[tenant.id] = tenant
            for d in [tenant.initial_domain, *tenant.domains]:
                self._domains[d.lower()] = tenant.id
        return tenant

    def remove_tenant(self, tenant_id: str) -> Tenant | None:
        """Forget a tenant and every domain that points at it; the removed tenant (None if unknown)."""
        with self.lock:
            t = self.tenants.pop(tenant_id, None)
            if t is None and tenant_id:
                t = self.tenants.pop(tenant_id.lower(), None)
            if t is None:
                return None
            for d in [k for k, v in self._domains.items() if v == t.id]:
                del self._domains[d]
        return t

    def create_tenant(self, name: str = "Contoso", domain: str | None = None, *, tenant_id: str | None = None,
                      extra_domains: list[str] | None = None, intune: bool = True, mdm_scope: str = "all",
                      subscriptions: dict[str, int] | None = None) -> Tenant:
        """A tenant with Microsoft's defaults: everyone may join, quota 50, MDM scope All,
        Intune default restrictions (limit 5), and the given subscriptions (default 25 SPE_E3)."""
        slug = "".join(ch for ch in name.lower() if ch.isalnum()) or "tenant"
        initial = f"{slug}.onmicrosoft.com"
        tid = tenant_id or self.ids.guid()
        domains = [initial] + ([domain] if domain and domain != initial else []) + list(extra_domains or [])
        t = Tenant(id=tid, display_name=name, initial_domain=initial, domains=domains)
        t.device_registration_policy = default_device_registration_policy()
        t.intune_enabled = intune
        t.mdm_policies = default_mdm_policies(mdm_scope) if intune else {}
        t.enrollment_configurations = default_enrollment_configurations(tid) if intune else []
        t.subscriptions = dict(subscriptions if subscriptions is not None else {"SPE_E3": 25})
        return self.add_tenant(t)

    def tenant(self, ref: str) -> Tenant | None:
        """A tenant by id or by any verified domain (case-insensitive)."""
        if not ref:
            return None
        t = self.tenants.get(ref.lower())
        if t is not None:
            return t
        tid = self._domains.get(ref.lower())
        return self.tenants.get(tid) if tid else None

    def tenant_of_upn(self, upn: str) -> Tenant | None:
        return self.tenant(upn.rsplit("@", 1)[-1]) if "@" in upn else None

    def add_user(self, tenant: Tenant, upn: str | None = None, *, password: str = "P@ssw0rd!",
                 display_name: str | None = None, licenses: list[str] | None = None,
                 mfa_methods: list[str] | None = None, **kw: Any) -> User:
        """A user with a seeded-faker name, unless given. Defaults: licensed SPE_E3, MFA method
        registered (Microsoft Authenticator)."""
        with self.lock:
            if upn is None or display_name is None:
                first = self.ids.faker.first_name()
                last = self.ids.faker.last_name()
                display_name = display_name or f"{first} {last}"
                upn = upn or f"{first}{last[:1]}@{tenant.domains[-1]}".lower()
                kw.setdefault("given_name", first)
                kw.setdefault("surname", last)
            else:
                parts = display_name.split(" ", 1)
                kw.setdefault("given_name", parts[0])
                kw.setdefault("surname", parts[1] if len(parts) > 1 else "")
            u = User(id=self.ids.guid(), user_principal_name=upn, display_name=display_name, password=password,
                     licenses=list(licenses if licenses is not None else ["SPE_E3"]),
                     mfa_methods=list(mfa_methods if mfa_methods is not None else ["microsoftAuthenticator"]),
                     created=self.clock.now(), **kw)
            tenant.users[u.id] = u
        return u

    def add_group(self, tenant: Tenant, name: str, members: list[str] | None = None) -> Group:
        with self.lock:
            g = Group(id=self.ids.guid(), display_name=name, members=list(members or []),
                      mail_nickname=name.replace(" ", ""))
            tenant.groups[g.id] = g
        return g

    def add_application(self, tenant: Tenant, name: str, *, app_id: str | None = None,
                        secret: str | None = None, app_roles: list[str] | None = None) -> Application:
        with self.lock:
            a = Application(app_id=app_id or self.ids.guid(), display_name=name,
                            secrets=[secret] if secret else [], app_roles=list(app_roles or []))
            tenant.applications[a.app_id] = a
        return a

    # -- protocol state --------------------------------------------------------------------------
    def remember_nonce(self, value: str) -> str:
        """Remember a nonce the cloud issued (srv_challenge, DRS nonce service) with its issue time.
        Nonces older than an hour are dropped once there are many, so a long-running server does
        not grow without bound."""
        now = self.clock.timestamp()
        with self.lock:
            if len(self.nonces) > 10000:
                for k in [k for k, t in self.nonces.items() if now - t > 3600]:
                    del self.nonces[k]
            self.nonces[value] = now
        return value

    # -- helpers -------------------------------------------------------------------------------
    def now(self) -> _dt.datetime:
        return self.clock.now()

    def sku(self, part_number: str):
        return KNOWN_SKUS[part_number]

    def cached(self, key: str, factory):
        """The value cached under `key`, built once by `factory()` (under the world lock, so two
        threads never both build it; the lock is re-entrant, so a factory may call `cached` too)."""
        v = self._cache.get(key)
        if v is None:
            with self.lock:
                v = self._cache.get(key)
                if v is None:
                    v = self._cache[key] = factory()
        return v

    # -- request counter -----------------------------------------------------------------------
    def count_request(self) -> int:
        """Count one request served (thread-safe); the new total."""
        with self._requests_lock:
            self._requests_served += 1
            return self._requests_served

    @property
    def requests_served(self) -> int:
        return self._requests_served

    @requests_served.setter
    def requests_served(self, value: int) -> None:
        with self._requests_lock:
            self._requests_served = int(value)


def derived_int(seed: int | str, purpose: str, bits: int) -> int:
    """A `bits`-bit number fixed by the world seed and a purpose (e.g. "issuer-cert"), without
    drawing from `world.ids`: for values built lazily (certificate serials), so when they are built
    does not shift the GUIDs the world hands out afterwards. Never 0 (certificate serials must be
    positive)."""
    import hashlib

    digest = hashlib.sha256(f"entra-emu:{seed}:{purpose}".encode()).digest()
    while len(digest) * 8 < bits:
        digest += hashlib.sha256(digest).digest()
    return (int.from_bytes(digest, "big") >> (len(digest) * 8 - bits)) or 1


def _seed_offset(seed: int | str) -> int:
    """Where in the world's reserved part of the key pool this seed's keys start."""
    import zlib

    return zlib.crc32(str(seed).encode()) % WORLD_KEY_COUNT

"""The simulated Windows 11 device: a client of the emulated cloud.

It reaches the cloud only over HTTP through the `requests.Session`-compatible `session` it is given
(never the World); its clock is the cloud clock plus `skew_seconds`; its TPM hands out keys from the
pre-generated pool (emulator/world/keys.py).

    d = WindowsDevice(requests.Session(), clock=world.clock)
    d.join("alice@contoso.com", "P@ssw0rd!")      # drives the Settings screens
    d.restart(); d.sign_in("alice@contoso.com", "P@ssw0rd!")
    # or, the email box + Next of "Set up a work or school account" (Entra registration, JoinType 4):
    # d.register("alice@contoso.com", "P@ssw0rd!"); d.disconnect_work_account()
    print(d.dsregcmd_status())

Screen-level use: `d.open_settings(); d.click("Accounts"); d.click("Access work or school"); ...`
(see emulator/device/screens.py). High-level actions drive exactly those screens.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import weakref
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlencode, urlsplit

import requests

from ..world.clock import CloudClock, DeviceClock
from ..world.ids import uuid4_str
from ..world.keys import device_pool_key, device_pool_size
from . import crypto, screens
from .errors import (
    E_MENROLL_AUTHENTICATION,
    E_NET_CANNOT_CONNECT,
    E_NET_SECURE_FAILURE,
    LOGON_MESSAGES,
    NETWORK_STATE_CODES,
    PASSWORD_PAGE_CODES,
    SIGNIN_ERROR_DEFAULT_TITLE,
    SIGNIN_ERROR_TITLE,
    SIGNIN_PAGE_TEXT,
    STATUS_NETWORK_UNREACHABLE,
    AadstsError,
    DeviceError,
    NetworkError,
    PrtAttempt,
    cloudap_status,
    code_hex,
    drs_error_code,
    error_page_lines,
    first_line,
    logon_message_key,
    requests_exception_code,
)
from .screens import ElementNotFound, Screen

LOGIN = "https://login.microsoftonline.com"
DRS = "https://enterpriseregistration.windows.net"
#: Microsoft Authentication Broker: the Settings join dialog's client [HB-SPEC][HB-LIB].
BROKER_CLIENT_ID = "29d9ed98-a469-4536-ade2-f981bc1d605e"
#: The client id of CloudAP's PRT request (as ROADtools imitates it, real-clients.md §3.3).
CLOUDAP_CLIENT_ID = "38aa3b87-a06d-4817-b275-7a316988d93b"
DRS_RESOURCE = "urn:ms-drs:enterpriseregistration.windows.net"
ENROLLMENT_RESOURCE = "https://enrollment.manage.microsoft.com/"
JOIN_REDIRECT_URI = "ms-aadj-redir://auth/drs"
#: Emulated server certificates: valid from cloud now - 180 d to cloud now + 185 d (Inferred rotation).
TLS_NOT_BEFORE = 180 * 86400
TLS_NOT_AFTER = 185 * 86400
PRT_DEFAULT_LIFETIME = 14 * 86400
#: Cloud answers after which a cached logon still succeeds (Inferred: the password changed in the cloud,
#: or the device object was deleted/disabled; an offline-style cached logon, PRT not renewed).
CACHED_LOGON_FALLBACK = {50126, 50155, 135011}
#: Cloud answers that invalidate the PRT the device holds [PRT-DOC].
CLOUD_INVALIDATES_PRT = {50126, 50155, 135011, 50057, 50034}


@dataclass
class LocalAccount:
    name: str
    password: str
    admin: bool = False


@dataclass
class DeviceIdentity:
    """What DRS gave the PC for one device object: its id, certificate, keys, and the tenant's
    discovery document. A join has one; each Entra-registered work account has its own."""
    device_id: str
    tenant_id: str
    tenant_name: str
    upn: str
    cert_der: bytes
    thumbprint: str
    not_before: _dt.datetime
    not_after: _dt.datetime
    device_key: Any
    transport_key: Any
    key_container_id: str
    discovery: dict[str, Any]


@dataclass
class JoinState(DeviceIdentity):
    domain: str = ""
    mdm_urls: dict[str, str] = field(default_factory=dict)
    membership_changes: list[dict[str, Any]] = field(default_factory=list)
    joined_at: _dt.datetime | None = None


@dataclass
class WorkAccount(DeviceIdentity):
    """An Entra-registered work account (JoinType 4) in one Windows user profile: its own device
    object, device key and certificate (the per-account state Windows keeps under
    HKCU\\...\\WorkplaceJoin\\JoinInfo)."""
    #: The Windows profile that added it (Access work or school and dsregcmd are per user).
    profile: str = ""
    #: Inferred simplification: registration never enrolls in MDM here, so both stay empty.
    mdm_url: str = ""
    settings_url: str = ""
    registered_at: _dt.datetime | None = None


@dataclass
class PrtState:
    upn: str
    tenant_id: str
    prt: str | None = None
    session_key: bytes | None = None
    update_time: _dt.datetime | None = None
    expiry_time: _dt.datetime | None = None
    display_name: str = ""
    last_failure: PrtAttempt | None = None


@dataclass
class _JoinFlow:
    """The Settings join dialog's progress."""
    upn: str = ""
    password: str = ""
    flow_token: str = ""
    state: str = ""
    mfa_methods: list[str] = field(default_factory=list)
    tokens: dict[str, Any] = field(default_factory=dict)
    id_claims: dict[str, Any] = field(default_factory=dict)
    tenant_id: str = ""
    discovery: dict[str, Any] = field(default_factory=dict)
    #: "join" (the join link) or "register" (the dialog's email box + Next).
    mode: str = "join"


class DeviceNetworkSession:
    """The device's view of the network, around the session it was given: its network state and
    its TLS check (schannel against the emulated server certificate) apply to every request, its
    own and the MDM client's. Failures raise requests' own exceptions, as a real stack would."""

    def __init__(self, device: WindowsDevice):
        self._device = weakref.proxy(device)

    def check(self, url: str) -> None:
        """Raise NetworkError (with the WinINet code) if this request cannot leave the device."""
        dev = self._device
        net = dev._network
        if not isinstance(net, str):
            host = (urlsplit(url).hostname or "").lower()
            if host in net:
                raise NetworkError(E_NET_CANNOT_CONNECT, f"connection to {host} blocked")
        elif net != "online":
            raise NetworkError(NETWORK_STATE_CODES[net], f"network is {net}")
        cloud = dev.cloud_clock.timestamp()
        local = dev.clock.timestamp()
        if local < cloud - TLS_NOT_BEFORE or local > cloud + TLS_NOT_AFTER:
            host = (urlsplit(url).hostname or "").lower()
            raise NetworkError(E_NET_SECURE_FAILURE,
                               f"the server certificate of {host} is not valid at the device time")

    def request(self, method: str, url: str, **kw: Any):
        try:
            self.check(url)
        except NetworkError as exc:
            if exc.hresult == E_NET_SECURE_FAILURE:
                raise requests.exceptions.SSLError(str(exc)) from None
            if exc.hresult == 0x80072EE2:
                raise requests.exceptions.ConnectTimeout(str(exc)) from None
            if exc.hresult == 0x80072EE7:
                raise requests.exceptions.ConnectionError(f"Failed to resolve host: {exc}") from None
            raise requests.exceptions.ConnectionError(str(exc)) from None
        return self._device.session.request(method, url, **kw)

    def get(self, url: str, **kw: Any):
        return self.request("GET", url, **kw)

    def post(self, url: str, data: Any = None, json: Any = None, **kw: Any):
        if json is not None:
            kw["json"] = json
        return self.request("POST", url, data=data, **kw)

    def put(self, url: str, data: Any = None, **kw: Any):
        return self.request("PUT", url, data=data, **kw)

    def delete(self, url: str, **kw: Any):
        return self.request("DELETE", url, **kw)

    def __getattr__(self, name: str) -> Any:   # headers, cookies, ... of the real session
        return getattr(self._device.session, name)


class WindowsDevice:
    """A Windows 11 PC (workgroup, not joined) with one local administrator signed in."""

    def __init__(self, session: Any, *, clock: CloudClock | None = None, name: str | None = None,
                 seed: int | str = 0, os_version: str = "10.0.26100.2605", release: str = "24H2",
                 skew_seconds: float = 0.0, network: Any = "online", tpm: bool = True,
                 local_admin: str = "LocalAdmin", local_password: str = "Passw0rd!"):
        self.session = session
        self.cloud_clock = clock or CloudClock()
        self.clock = DeviceClock(self.cloud_clock, skew_seconds)
        self.seed = seed
        self._rng = random.Random(f"entra-emu-device:{seed}")
        self.name = name or ("DESKTOP-" + "".join(self._rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                                                  for _ in range(7)))
        self.os_version = os_version
        self.release = release
        self.labels = screens.labels_for(release)
        self.tpm = tpm
        self.network = network
        self.local_accounts: dict[str, LocalAccount] = {
            local_admin: LocalAccount(local_admin, local_password, admin=True)}
        self.local_admin = local_admin
        #: Entra join (None when not joined), MDM enrollment result (None when not enrolled).
        self.join_state: JoinState | None = None
        self.mdm_state: dict[str, Any] | None = None
        #: Entra-registered work accounts (the email box + Next of the set-up dialog), all profiles.
        self.work_accounts: list[WorkAccount] = []
        #: PRT per user (lower-case UPN).
        self.prts: dict[str, PrtState] = {}
        #: Cached logon verifiers per Entra user (lower-case UPN) -> (salt, hash).
        self._cached_logons: dict[str, tuple[bytes, bytes]] = {}
        self._entra_names: dict[str, str] = {}
        self.signed_in_user: str | None = local_admin
        self.pending_restart = False
        #: Set when a PRT request said the device is disabled or deleted (dsregcmd DeviceAuthStatus).
        self.device_auth_failed: str | None = None
        self.last_error: DeviceError | None = None
        self.last_join_error: int | None = None
        self.http_log: list[tuple[str, str, int]] = []
        self.net = DeviceNetworkSession(self)
        self._key_offset = zlib.crc32(f"device:{seed}:{self.name}".encode()) % device_pool_size()
        self._keys_taken = 0
        self._tmpdir: str | None = None
        self._flow = _JoinFlow()
        self._logon_target: str | None = None
        self._mdm_sync_lines: list[str] = []
        self.screen: Screen = screens.desktop(self)

    # ---------------------------------------------------------------------------------------
    # Properties settable at any time
    # ---------------------------------------------------------------------------------------
    @property
    def network(self) -> Any:
        return self._network

    @network.setter
    def network(self, value: Any) -> None:
        if isinstance(value, str):
            if value != "online" and value not in NETWORK_STATE_CODES:
                raise ValueError(f"network must be 'online', {', '.join(repr(k) for k in NETWORK_STATE_CODES)} "
                                 "or a set of blocked host names")
            self._network: Any = value
        else:
            self._network = frozenset(h.lower() for h in value)

    @property
    def skew_seconds(self) -> float:
        return self.clock.skew

    @skew_seconds.setter
    def skew_seconds(self, value: float) -> None:
        self.clock.skew = float(value)

    @property
    def joined(self) -> bool:
        return self.join_state is not None

    @property
    def mdm_enrolled(self) -> bool:
        return self.mdm_state is not None

    @property
    def registered(self) -> bool:
        """True when the signed-in profile has an Entra-registered work account."""
        return bool(self.profile_work_accounts())

    @property
    def device_id(self) -> str | None:
        """The Entra device id: the join's; on a device that is not joined, the first work
        account's registration (each registered account has its own device object)."""
        if self.join_state:
            return self.join_state.device_id
        accounts = self.profile_work_accounts()
        return accounts[0].device_id if accounts else None

    def profile_work_accounts(self, profile: str | None = None) -> list[WorkAccount]:
        """The work accounts of a Windows profile (default: the signed-in user's)."""
        who = (profile if profile is not None else self.signed_in_user) or ""
        return [a for a in self.work_accounts if a.profile.lower() == who.lower()]

    def now(self) -> _dt.datetime:
        return self.clock.now()

    # ---------------------------------------------------------------------------------------
    # Screen actions
    # ---------------------------------------------------------------------------------------
    def click(self, label: str) -> Screen:
        real = self.screen.find(label)
        if real in self.screen.fields:
            self.screen.focused = real
            return self.screen
        self.screen.buttons[real]()
        return self.screen

    select = click

    def type(self, text: str, into: str | None = None) -> Screen:
        s = self.screen
        if into is None:
            target = s.focused or next(iter(s.fields), None)
            if target is None:
                raise ElementNotFound("<a text field>", s)
        else:
            target = s.find(into)
            if target not in s.fields:
                raise ElementNotFound(into + " (text field)", s)
        s.fields[target] = text
        s.focused = target
        return s

    def go_to(self, label: str) -> Screen:
        """Click `label` if shown; else navigate Settings to the page of that name; `A > B` paths
        click each step."""
        if ">" in label:
            for part in [p.strip() for p in label.split(">") if p.strip()]:
                self.go_to(part)
            return self.screen
        try:
            return self.click(label)
        except ElementNotFound:
            pass
        L = self.labels
        if label.lower() == L["settings"].lower():
            return self.open_settings()
        if label.lower() == L["accounts"].lower():
            self.open_settings()
            return self.click(L["accounts"])
        if label.lower() in [i.lower() for i in L["accounts_items"]]:
            self.open_settings()
            self.click(L["accounts"])
            return self.click(label)
        if label.lower() in [i.lower() for i in L["nav"]]:
            self.open_settings()
            return self.click(label)
        raise ElementNotFound(label, self.screen)

    def _show(self, screen: Screen) -> Screen:
        self.screen = screen
        return screen

    def _field(self, key: str) -> str:
        return self.screen.fields.get(self.labels[key], "")

    def _require_desktop(self) -> None:
        if self.signed_in_user is None:
            raise ElementNotFound(self.labels["settings"], self.screen)

    # -- Settings navigation ------------------------------------------------------------------
    def open_settings(self) -> Screen:
        self._require_desktop()
        return self._show(screens.settings_home(self))

    def _open_settings_page(self, title: str, parent=None) -> Screen:
        lines = ["This page is not emulated."]
        return self._show(screens.settings_page(self, title, lines, parent or self.open_settings))

    def _open_accounts(self) -> Screen:
        return self._show(screens.accounts(self))

    def _open_your_info(self) -> Screen:
        who = self.signed_in_user or ""
        if who in self.local_accounts:
            lines = [who, "Local account", "Administrator" if self.local_accounts[who].admin else "Standard user"]
        else:
            lines = [self._entra_names.get(who.lower(), who), who, "Administrator"]
        return self._show(screens.settings_page(self, "Your info", lines, self._open_accounts))

    def _open_awos(self, expanded: bool | str = False) -> Screen:
        """Access work or school; `expanded` is True for the join's entry, or a work account's
        lower-case UPN for that entry."""
        return self._show(screens.access_work_or_school(self, expanded))

    def _open_setup_dialog(self) -> Screen:
        return self._show(screens.setup_dialog(self))

    def _setup_register_next(self) -> Screen:
        """The dialog's email box + Next: Entra *registration* (JoinType 4) of a work account, through
        the same web sign-in pages as the join (resource DRS)."""
        upn = self._field("email_field").strip()
        self._flow = _JoinFlow(upn=upn, mode="register")
        problem = None
        if "@" not in upn or upn.startswith("@") or upn.endswith("@"):
            # Inferred: the dialog refuses it itself, with the sign-in page's wording.
            problem = "Enter a valid email address, phone number, or Skype name."
        elif any(a.upn.lower() == upn.lower() for a in self.profile_work_accounts()):
            # Inferred wording: the account is listed already, nothing is sent to the cloud.
            problem = "This account is already connected to this PC."
        if problem:
            s = screens.setup_dialog(self, error=problem)
            s.fields[self.labels["email_field"]] = upn
            return self._show(s)
        return self._signin_start(upn)

    def _setup_ad_join(self) -> Screen:
        raise NotImplementedError("Joining a local Active Directory domain is not emulated")

    # -- Join dialog ---------------------------------------------------------------------------
    def _join_link(self) -> Screen:
        """The set-up dialog's "Join this device to Microsoft Entra ID" link."""
        self._flow = _JoinFlow(upn=self._flow.upn, mode="join")
        return self._join_open_signin()

    def _join_open_signin(self) -> Screen:
        """The sign-in page's email step (also Back and Try again: the flow keeps its mode)."""
        email, mode = self._flow.upn, self._flow.mode
        self._flow = _JoinFlow(upn=email, mode=mode)
        return self._show(screens.signin_email(self, email))

    def _join_email_next(self) -> Screen:
        upn = self._field("signin_email").strip()
        self._flow = _JoinFlow(upn=upn, mode=self._flow.mode)
        return self._signin_start(upn)

    def _signin_start(self, upn: str) -> Screen:
        if "@" not in upn or upn.startswith("@") or upn.endswith("@"):
            return self._show(screens.signin_email(
                self, upn, "Enter a valid email address, phone number, or Skype name."))
        try:
            realm = self._user_realm(upn)
            if realm is not None and str(realm.get("account_type", "")).lower() == "unknown":
                return self._show(screens.signin_email(self, upn, SIGNIN_PAGE_TEXT[50034]))
            page = self._authorize(upn)
        except AadstsError as exc:
            return self._signin_failed(exc)
        except DeviceError as exc:
            return self._join_error(exc.hresult, exc)
        return self._handle_page(page)

    def _join_password_sign_in(self) -> Screen:
        f = self._flow
        f.password = self._field("password_field")
        if not f.password:
            return self._show(screens.signin_password(self, f.upn, "Please enter your password."))
        try:
            page = self._login_post("login", {"flowToken": f.flow_token, "login": f.upn, "passwd": f.password})
        except DeviceError as exc:
            return self._join_error(exc.hresult, exc)
        return self._handle_page(page)

    def _join_mfa(self, action: str) -> Screen:
        try:
            page = self._login_post("SAS/ProcessAuth", {"flowToken": self._flow.flow_token, "action": action})
        except DeviceError as exc:
            return self._join_error(exc.hresult, exc)
        return self._handle_page(page)

    def _join_mfa_other_methods(self) -> Screen:
        methods = [m for m in self._flow.mfa_methods
                   if m not in ("microsoftAuthenticator", "PhoneAppNotification")] or ["OneWaySMS"]
        return self._show(screens.verify_identity(self, [_method_label(m) for m in methods]))

    def _handle_page(self, page: dict[str, Any]) -> Screen:
        f = self._flow
        kind = page.get("page")
        if page.get("flowToken"):
            f.flow_token = page["flowToken"]
        if kind == "signin":
            return self._show(screens.signin_password(self, f.upn))
        if kind == "mfa":
            f.mfa_methods = list(page.get("methods") or [])
            return self._show(screens.mfa(self, f.upn))
        if kind == "proofup":
            return self._show(screens.proofup(self, f.upn))
        if kind == "error":
            codes = page.get("error_codes") or [0]
            return self._signin_failed(AadstsError(int(codes[0]), page.get("error", ""),
                                                   page.get("error_description", "")))
        if kind == "done":
            return self._join_signed_in(page.get("location", ""))
        return self._join_error(0x801C0001, DeviceError(0x801C0001, f"unexpected sign-in page {page!r}"))

    def _signin_failed(self, exc: AadstsError) -> Screen:
        """AADSTS errors are shown as the sign-in page text."""
        self.last_error = exc
        f = self._flow
        detail = first_line(exc.description)
        friendly = SIGNIN_PAGE_TEXT.get(exc.code)
        if exc.code in PASSWORD_PAGE_CODES and f.flow_token:
            return self._show(screens.signin_password(self, f.upn, friendly or detail))
        if exc.code == 50034:
            return self._show(screens.signin_email(self, f.upn, friendly))
        title = SIGNIN_ERROR_TITLE.get(exc.code, SIGNIN_ERROR_DEFAULT_TITLE)
        lines = ([friendly] if friendly and friendly != title else []) + [detail]
        return self._show(screens.signin_error(self, title, lines))

    def _join_error(self, hresult: int, exc: Exception | None = None) -> Screen:
        if isinstance(exc, DeviceError):
            self.last_error = exc
        else:
            self.last_error = DeviceError(hresult, str(exc or ""))
        self.last_join_error = hresult
        return self._show(screens.error_page(self, error_page_lines(hresult)))

    def _join_signed_in(self, location: str) -> Screen:
        """Redeem the code, discover DRS for the tenant, show 'Make sure this is your organization'."""
        f = self._flow
        q = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if "error" in q:
            codes = [int(c) for c in _aadsts_codes(q.get("error_description", ""))] or [0]
            return self._signin_failed(AadstsError(codes[0], q["error"], q.get("error_description", "")))
        try:
            f.tokens = self._token({"grant_type": "authorization_code", "code": q.get("code", ""),
                                    "client_id": BROKER_CLIENT_ID, "redirect_uri": JOIN_REDIRECT_URI,
                                    "resource": DRS_RESOURCE})
            f.id_claims = crypto.jwt_claims(f.tokens.get("id_token"))
            at_claims = crypto.jwt_claims(f.tokens.get("access_token"))
            f.tenant_id = at_claims.get("tid") or f.id_claims.get("tid") or ""
            f.discovery = self._discover(f.tenant_id or f.upn.rsplit("@", 1)[-1], f.tokens.get("access_token", ""))
        except AadstsError as exc:
            return self._signin_failed(exc)
        except DeviceError as exc:
            return self._join_error(exc.hresult, exc)
        if f.mode == "register":
            # Registration has no "Make sure this is your organization" page (Inferred from the
            # runbook reports: the dialog closes once the account is added).
            return self._register_finish()
        tenant = _tenant_name(f.discovery) or f.upn.rsplit("@", 1)[-1]
        return self._show(screens.confirm_org(self, f.upn, f.upn.rsplit("@", 1)[-1], tenant))

    def _join_confirm(self) -> Screen:
        f = self._flow
        try:
            self._drs_join()
        except DeviceError as exc:
            return self._join_error(exc.hresult, exc)
        assert self.join_state is not None
        if self.join_state.mdm_urls.get("enrollment"):
            hresult = self._mdm_enroll_after_join()
            if hresult is not None:
                self._rollback_join()
                return self._join_error(hresult, self.last_error)
        self.last_join_error = None
        self._entra_names[f.upn.lower()] = f.id_claims.get("name", "")
        self._flow = _JoinFlow()
        self._drop_work_accounts_of(self.join_state.tenant_id)
        return self._show(screens.all_set(self, self.join_state.tenant_name))

    # -- Registration (the email box + Next) -----------------------------------------------------
    def _register_finish(self) -> Screen:
        """DRS JoinType 4, then the dialog closes and Access work or school lists the account (no
        "You're all set!", no restart prompt)."""
        f = self._flow
        try:
            self._drs_register()
        except DeviceError as exc:
            return self._join_error(exc.hresult, exc)
        self.last_join_error = None
        self._entra_names[f.upn.lower()] = f.id_claims.get("name", "")
        self._flow = _JoinFlow()
        return self._open_awos()

    def _drop_work_accounts_of(self, tenant_id: str) -> None:
        """After a join: Windows removes the registered work accounts of the tenant it joined (the
        documented 'registered state removed on join' rule of hybrid join, applied to Entra join:
        Inferred), and tells DRS (best effort, like Disconnect)."""
        for acct in [a for a in self.work_accounts if a.tenant_id and a.tenant_id == tenant_id]:
            self._unregister(acct)

    def _unregister(self, acct: WorkAccount) -> None:
        try:
            self._drs_delete(acct)
        except DeviceError as exc:
            # Inferred: as for the join, the account is removed locally anyway; the cloud object stays.
            self.last_error = exc
        if acct in self.work_accounts:
            self.work_accounts.remove(acct)
        self._remove_tmp()

    def _work_account(self, key: str) -> WorkAccount | None:
        return next((a for a in self.profile_work_accounts() if a.upn.lower() == key.lower()), None)

    def _unregister_start(self, key: str) -> Screen:
        return self._show(screens.remove_confirm(self, on_yes=lambda: self._unregister_yes(key),
                                                 on_no=lambda: self._open_awos(expanded=key)))

    def _unregister_yes(self, key: str) -> Screen:
        acct = self._work_account(key)
        if acct is not None:
            self._unregister(acct)
        return self._open_awos()

    # -- Disconnect ----------------------------------------------------------------------------
    def _disconnect_start(self) -> Screen:
        return self._show(screens.remove_confirm(self))

    def _disconnect_yes(self) -> Screen:
        return self._show(screens.leave_confirm(self))

    def _disconnect_do(self) -> Screen:
        if self.join_state is not None:
            try:
                self._drs_delete(self.join_state)
            except DeviceError as exc:
                # Inferred: Windows leaves locally even when the service cannot be told; the cloud
                # object stays behind (stale).
                self.last_error = exc
            self._leave_locally()
        self.pending_restart = True
        return self._show(screens.restart_prompt(self))

    def _leave_locally(self) -> None:
        self.join_state = None
        self.mdm_state = None
        self.prts.clear()
        self._cached_logons.clear()
        self.device_auth_failed = None
        self._remove_tmp()

    # -- MDM info ------------------------------------------------------------------------------
    def _open_mdm_info(self) -> Screen:
        return self._show(screens.mdm_info(self, self._mdm_sync_lines))

    def _mdm_sync(self) -> Screen:
        from ..world.clock import dsreg_time

        when = dsreg_time(self.now()).replace(" UTC", "")
        target = (self.mdm_state or {}).get("management_server") or ENROLLMENT_RESOURCE
        try:
            self.net.check(target)
            # Inferred: OMA-DM sessions are not emulated; a reachable service counts as a sync.
            self._mdm_sync_lines = [f"Last Attempted Sync: {when}", "The sync was successful"]
        except NetworkError as exc:
            self._mdm_sync_lines = [f"Last Attempted Sync: {when}",
                                    f"The sync could not be initiated ({code_hex(exc.hresult)})"]
        return self._open_mdm_info()

    # -- Windows sign-in screen ----------------------------------------------------------------
    def _logon_tiles(self) -> list[str]:
        tiles = list(self.local_accounts)
        if self.join_state is not None:
            tiles += [u for u in self._cached_logons]
        return tiles

    def _logon_screen(self, message: str | None = None) -> Screen:
        self._logon_target = None
        return self._show(screens.logon_tiles(self, message))

    def _logon_pick(self, tile: str | None) -> Screen:
        self._logon_target = tile
        return self._show(screens.logon_user(self, tile))

    def _logon_submit(self) -> Screen:
        L = self.labels
        user = self._logon_target
        if user is None:
            user = self.screen.fields.get(L["logon_user_field"], "").strip()
        password = self.screen.fields.get(L["password_field"], "")
        local = next((a for a in self.local_accounts.values()
                      if a.name.lower() == user.lower() or f"{self.name}\\{a.name}".lower() == user.lower()
                      or f".\\{a.name}".lower() == user.lower()), None)
        if local is not None:
            if password != local.password:
                return self._show(screens.logon_user(self, self._logon_target, LOGON_MESSAGES["bad_credentials"]))
            return self._desktop_as(local.name)
        if "@" not in user or self.join_state is None:
            return self._show(screens.logon_user(self, self._logon_target, LOGON_MESSAGES["bad_credentials"]))
        return self._cloud_logon(user, password)

    def _cloud_logon(self, upn: str, password: str) -> Screen:
        """CloudAP: get a PRT with the device key (srv_challenge + jwt-bearer password grant)."""
        key = upn.lower()
        cached_ok = self._cache_matches(key, password)
        try:
            st = self._acquire_prt(upn, password)
        except AadstsError as exc:
            self._record_prt_failure(upn, exc, cloudap_status(exc.code))
            st = self.prts.get(key)
            if st is not None and exc.code in CLOUD_INVALIDATES_PRT:
                st.prt, st.session_key = None, None   # [PRT-DOC] invalidated by password change / device state
            if exc.code in (50155, 135011):
                self.device_auth_failed = "deleted" if exc.code == 50155 else "disabled"
            if cached_ok and exc.code in CACHED_LOGON_FALLBACK:
                # A cloud-joined PC still accepts the cached (old) password: the logon succeeds
                # from the cache and only the PRT is missing (dsregcmd AcquirePrtDiagnostics).
                return self._desktop_as(upn)
            return self._show(screens.logon_user(self, self._logon_target,
                                                 LOGON_MESSAGES[logon_message_key(exc.code)]))
        except NetworkError as exc:
            self._record_prt_failure(upn, exc, STATUS_NETWORK_UNREACHABLE)
            if cached_ok:
                return self._desktop_as(upn)
            return self._show(screens.logon_user(self, self._logon_target, LOGON_MESSAGES["no_network"]))
        self.prts[key] = st
        self.device_auth_failed = None
        self._remember_logon(key, password)
        if st.display_name:
            self._entra_names[key] = st.display_name
        return self._desktop_as(upn)

    def _desktop_as(self, user: str) -> Screen:
        self.signed_in_user = user
        return self._show(screens.desktop(self))

    def _cache_matches(self, key: str, password: str) -> bool:
        c = self._cached_logons.get(key)
        return bool(c) and hashlib.pbkdf2_hmac("sha256", password.encode(), c[0], 1000) == c[1]

    def _remember_logon(self, key: str, password: str) -> None:
        salt = self._rng.getrandbits(64).to_bytes(8, "big")
        self._cached_logons[key] = (salt, hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1000))

    def _record_prt_failure(self, upn: str, exc: DeviceError, status: int) -> None:
        key = upn.lower()
        st = self.prts.get(key) or PrtState(upn=upn, tenant_id=self.join_state.tenant_id if self.join_state else "")
        d = exc.detail
        st.last_failure = PrtAttempt(
            time=self.now(), status=status, user=upn, credential_type="Password",
            correlation_id=d.get("correlation_id", ""), endpoint=d.get("endpoint", ""),
            method="POST", http_error=exc.hresult if isinstance(exc, NetworkError) else 0,
            http_status=exc.http_status, server_error=exc.server_error,
            server_description=exc.server_description)
        self.prts[key] = st

    # ---------------------------------------------------------------------------------------
    # High-level actions (each drives the screens above)
    # ---------------------------------------------------------------------------------------
    def join(self, upn: str, password: str, mfa: str = "approve") -> Screen:
        """Settings > Accounts > Access work or school > Connect > Join this device to Microsoft
        Entra ID > email > password > (MFA: approve | deny | register | skip) > Join.
        Returns the last screen ("You're all set!" or an error page)."""
        L = self.labels
        if self.signed_in_user is None:
            self.sign_in(self.local_admin, self.local_accounts[self.local_admin].password)
        self.go_to(L["awos"])
        self.click(L["connect"])
        self.click(L["join_link"])
        self.type(upn, into=L["signin_email"])
        self.click(L["next"])
        if self.screen.name != "signin_password":
            return self.screen
        self.type(password, into=L["password_field"])
        self.click(L["sign_in"])
        for _ in range(3):     # proofup (register) can lead to the approval page
            if self.screen.name == "mfa":
                self.click(L["deny"] if mfa == "deny" else L["approve"])
            elif self.screen.name == "proofup":
                self.click(L["skip"] if mfa == "skip" else L["next"])
            else:
                break
        if self.screen.name != "confirm_org":
            return self.screen
        return self.click(L["join"])

    def register(self, upn: str, password: str, mfa: str = "approve") -> Screen:
        """Settings > Accounts > Access work or school > Connect > *type the email into the box and
        click Next* (not the join link) > password > (MFA) . The device is Entra *registered*
        (JoinType 4, trustType Workplace), not joined. Returns the last screen (Access work or
        school listing the work account, or an error page)."""
        L = self.labels
        if self.signed_in_user is None:
            self.sign_in(self.local_admin, self.local_accounts[self.local_admin].password)
        self.go_to(L["awos"])
        self.click(L["connect"])
        self.type(upn, into=L["email_field"])
        self.click(L["next"])
        if self.screen.name != "signin_password":
            return self.screen
        self.type(password, into=L["password_field"])
        self.click(L["sign_in"])
        for _ in range(3):
            if self.screen.name == "mfa":
                self.click(L["deny"] if mfa == "deny" else L["approve"])
            elif self.screen.name == "proofup":
                self.click(L["skip"] if mfa == "skip" else L["next"])
            else:
                break
        return self.screen

    def disconnect_work_account(self, upn: str | None = None) -> Screen:
        """Access work or school > the work account > Disconnect > Yes: DRS DELETE with that
        account's certificate; no restart prompt."""
        L = self.labels
        accounts = self.profile_work_accounts()
        acct = next((a for a in accounts if upn is None or a.upn.lower() == upn.lower()), None)
        if acct is None:
            raise ElementNotFound(upn or L["registered_caption"], self._open_awos())
        self.go_to(L["awos"])
        self.click(acct.upn)
        self.click(L["disconnect"])
        return self.click(L["yes"])

    def restart(self) -> Screen:
        self.pending_restart = False
        self.signed_in_user = None
        return self._logon_screen()

    def sign_out(self) -> Screen:
        self.signed_in_user = None
        return self._logon_screen()

    def sign_in(self, upn: str, password: str) -> Screen:
        """Windows logon. Entra users go through "Other user" (or their tile) and get a PRT."""
        L = self.labels
        if self.screen.name not in ("windows_signin", "windows_signin_user") or self.signed_in_user:
            self.sign_out()
        if self.screen.name == "windows_signin_user":
            self._logon_screen()
        tile = next((t for t in self._logon_tiles() if t.lower() == upn.lower()), None)
        if tile is not None:
            self.click(tile)
        else:
            self.click(L["other_user"])
            self.type(upn, into=L["logon_user_field"])
        self.type(password, into=L["password_field"])
        return self.click(L["sign_in"])

    def disconnect(self) -> Screen:
        """Access work or school > the account > Disconnect > Yes > Disconnect > Restart later."""
        L = self.labels
        if self.join_state is None:
            raise ElementNotFound(L["disconnect"], self._open_awos())
        self.go_to(L["awos"])
        self.click(L["connected_caption"].format(tenant=self.join_state.tenant_name))
        self.click(L["disconnect"])
        self.click(L["yes"])
        self.click(L["disconnect"])
        return self.screen

    def approve_mfa(self) -> Screen:
        """Approve the sign-in request on the phone (the "Approve sign in request" page). When the
        tenant asked for no MFA there is no prompt, and nothing happens (as for a person following
        the guide's "complete password and MFA prompts"); "More information required" registers
        the Authenticator app first."""
        if self.screen.name == "proofup":
            self.click(self.labels["next"])
        if self.screen.name == "mfa":
            return self.click(self.labels["approve"])
        return self.screen

    def deny_mfa(self) -> Screen:
        return self.click(self.labels["deny"])

    def connected_accounts(self) -> list[dict[str, Any]]:
        """What Access work or school lists (device state; no navigation)."""
        j = self.join_state
        out: list[dict[str, Any]] = []
        if j is not None:
            out.append({"caption": self.labels["connected_caption"].format(tenant=j.tenant_name), "upn": j.upn,
                        "tenant_id": j.tenant_id, "tenant_name": j.tenant_name,
                        "managed": self.mdm_state is not None, "kind": "joined"})
        for a in self.profile_work_accounts():
            out.append({"caption": self.labels["registered_caption"], "upn": a.upn, "tenant_id": a.tenant_id,
                        "tenant_name": a.tenant_name, "managed": False, "kind": "registered"})
        return out

    def select_connected_account(self) -> Screen:
        """Expand the (first) connected account under Access work or school."""
        if self.screen.name != "access_work_or_school":
            self.go_to(self.labels["awos"])
        accounts = self.connected_accounts()
        if not accounts:
            raise ElementNotFound("<a connected account>", self.screen)
        first = accounts[0]
        return self.click(first["caption"] if first["kind"] == "joined" else first["upn"])

    def run(self, command: str) -> str:
        """A command typed at the prompt: `dsregcmd /status`, `dsregcmd /leave`, `hostname`."""
        words = command.strip().split()
        norm = [w.lower() for w in words]
        if not norm:
            return ""
        if norm[0] in ("dsregcmd", "dsregcmd.exe"):
            if "/status" in norm:
                return self.dsregcmd_status(elevated="/elevated" in norm)
            if "/leave" in norm:
                if self.join_state is not None:
                    try:
                        self._drs_delete(self.join_state)
                    except DeviceError as exc:
                        self.last_error = exc
                    self._leave_locally()
                return ""
            return ("DSREGCMD switches\n  /? : Displays the help message for DSREGCMD\n"
                    "  /status : Displays the device join status\n  /leave : Performs Hybrid Unjoin\n")
        if norm[0] == "hostname":
            return self.name + "\n"
        # cmd.exe's own message for an unknown command
        return (f"'{words[0]}' is not recognized as an internal or external command,\n"
                "operable program or batch file.\n")

    def dsregcmd_status(self, *, elevated: bool = False) -> str:
        from .dsregcmd import render_status

        return render_status(self, elevated=elevated)

    # ---------------------------------------------------------------------------------------
    # HTTP
    # ---------------------------------------------------------------------------------------
    def _guid(self) -> str:
        return uuid4_str(self._rng.getrandbits(128))

    def _http(self, method: str, url: str, *, headers: dict[str, str] | None = None,
              form: dict[str, Any] | None = None, json_body: Any = None, cert: tuple[str, str] | None = None):
        h = {"client-request-id": self._guid(), "return-client-request-id": "true"}
        h.update(headers or {})
        endpoint = url.split("?", 1)[0]
        try:
            self.net.check(url)
        except NetworkError as exc:
            exc.detail = {"endpoint": endpoint, "correlation_id": h["client-request-id"]}
            raise
        data: Any = None
        if form is not None:
            data = _urlencode(form)
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            h.setdefault("Content-Type", "application/json")
        kw: dict[str, Any] = {"headers": h, "timeout": 30}
        if data is not None:
            kw["data"] = data
        if cert is not None:
            kw["cert"] = cert
        try:
            resp = self.session.request(method, url, **kw)
        except requests.exceptions.RequestException as exc:
            err = NetworkError(requests_exception_code(exc), str(exc))
            err.detail = {"endpoint": endpoint, "correlation_id": h["client-request-id"]}
            raise err from None
        self.http_log.append((method, url, resp.status_code))
        resp._emu_crid = h["client-request-id"]  # type: ignore[attr-defined]
        return resp

    @staticmethod
    def _json(resp) -> Any:
        try:
            return resp.json()
        except ValueError:
            return None

    def _oauth_error(self, resp, endpoint: str) -> AadstsError:
        body = self._json(resp) or {}
        codes = body.get("error_codes") or _aadsts_codes(body.get("error_description", "")) or [0]
        exc = AadstsError(int(codes[0]), body.get("error", "") or f"http_{resp.status_code}",
                          body.get("error_description", "") or resp.text[:200], http_status=resp.status_code,
                          correlation_id=body.get("correlation_id", ""))
        exc.detail = {"correlation_id": body.get("correlation_id") or getattr(resp, "_emu_crid", ""),
                      "endpoint": endpoint}
        return exc

    # -- identity ------------------------------------------------------------------------------
    def _user_realm(self, upn: str) -> dict[str, Any] | None:
        resp = self._http("GET", f"{LOGIN}/common/userrealm/{quote(upn)}?api-version=1.0")
        if resp.status_code != 200:
            return None    # Inferred: no realm answer -> continue as managed (msal does the same on 404)
        return self._json(resp)

    def _authorize(self, upn: str) -> dict[str, Any]:
        self._flow.state = self._guid()
        q = {"client_id": BROKER_CLIENT_ID, "response_type": "code", "redirect_uri": JOIN_REDIRECT_URI,
             "resource": DRS_RESOURCE, "login_hint": upn, "state": self._flow.state}
        resp = self._http("GET", f"{LOGIN}/common/oauth2/authorize?{_urlencode(q)}")
        body = self._json(resp)
        if resp.status_code != 200 or not isinstance(body, dict) or "page" not in body:
            if isinstance(body, dict) and body.get("error"):
                raise self._oauth_error(resp, f"{LOGIN}/common/oauth2/authorize")
            raise DeviceError(0x801C0021, f"authorize answered {resp.status_code}", http_status=resp.status_code)
        return body

    def _login_post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        resp = self._http("POST", f"{LOGIN}/common/{path}", form=form)
        body = self._json(resp)
        if not isinstance(body, dict):
            raise DeviceError(0x801C0021, f"{path} answered {resp.status_code}", http_status=resp.status_code)
        if "page" not in body and body.get("error"):
            body = dict(body, page="error")
        return body

    def _token(self, form: dict[str, str], tenant: str = "common") -> dict[str, Any]:
        url = f"{LOGIN}/{tenant}/oauth2/token"
        resp = self._http("POST", url, form=form)
        body = self._json(resp)
        if resp.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            raise self._oauth_error(resp, url)
        return body

    def _srv_challenge(self) -> str:
        url = f"{LOGIN}/common/oauth2/token"
        resp = self._http("POST", url, form={"grant_type": "srv_challenge"})
        body = self._json(resp)
        if resp.status_code != 200 or not isinstance(body, dict) or "Nonce" not in body:
            raise self._oauth_error(resp, url)
        return body["Nonce"]

    def _acquire_prt(self, upn: str, password: str) -> PrtState:
        """PRT with the device key: srv_challenge, then jwt-bearer with a password grant."""
        j = self.join_state
        if j is None:
            raise DeviceError(0x801C0002, "device not joined")
        nonce = self._srv_challenge()
        now = int(self.clock.timestamp())
        payload = {"client_id": CLOUDAP_CLIENT_ID, "request_nonce": nonce, "scope": "openid aza ugs",
                   "group_sids": [], "win_ver": self.os_version, "grant_type": "password",
                   "username": upn, "password": password, "iat": str(now), "exp": str(now + 300)}
        header = {"alg": "RS256", "typ": "JWT", "x5c": base64.b64encode(j.cert_der).decode("ascii"), "kdf_ver": 2}
        request_jwt = crypto.jwt_rs256(header, payload, j.device_key)
        url = f"{LOGIN}/{j.tenant_id}/oauth2/token/"
        resp = self._http("POST", url, form={"windows_api_version": "2.2",
                                             "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                             "request": request_jwt, "client_info": "1", "tgt": "true"})
        body = self._json(resp)
        if resp.status_code != 200 or not isinstance(body, dict) or "refresh_token" not in body:
            raise self._oauth_error(resp, url)
        try:
            session_key = crypto.unwrap_session_key(body["session_key_jwe"], j.transport_key)
        except Exception as exc:  # noqa: BLE001 - a malformed reply is a message format error
            raise DeviceError(0x801C0001, f"cannot unwrap the session key: {exc}") from None
        life = int(body.get("refresh_token_expires_in") or body.get("expires_in") or PRT_DEFAULT_LIFETIME)
        t = self.now()
        claims = crypto.jwt_claims(body.get("id_token"))
        return PrtState(upn=upn, tenant_id=j.tenant_id, prt=body["refresh_token"], session_key=session_key,
                        update_time=t, expiry_time=t + _dt.timedelta(seconds=life),
                        display_name=claims.get("name", ""))

    def _prt_token(self, st: PrtState, client_id: str, resource: str) -> dict[str, Any]:
        """Use the PRT (HS256, KDF v2) for an access token (WAM / broker plugin request)."""
        assert st.prt and st.session_key
        nonce = self._srv_challenge()
        now = int(self.clock.timestamp())
        payload = {"win_ver": self.os_version, "scope": "openid", "request_nonce": nonce,
                   "refresh_token": st.prt, "redirect_uri": f"ms-appx-web://Microsoft.AAD.BrokerPlugin/{client_id}",
                   "iss": "aad:brokerplugin", "grant_type": "refresh_token", "client_id": client_id,
                   "aud": "login.microsoftonline.com", "iat": str(now), "exp": str(now + 3600),
                   "resource": resource}
        ctx = self._rng.getrandbits(192).to_bytes(24, "big")
        request_jwt = crypto.jwt_hs256_kdf2(payload, st.session_key, ctx)
        url = f"{LOGIN}/common/oauth2/token"
        resp = self._http("POST", url, form={"windows_api_version": "2.2",
                                             "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                             "request": request_jwt, "client_info": "1"})
        if resp.status_code != 200:
            raise self._oauth_error(resp, url)
        try:
            body = crypto.decrypt_reply(resp.text, st.session_key)
        except Exception as exc:  # noqa: BLE001
            raise DeviceError(0x801C0001, f"cannot decrypt the PRT reply: {exc}") from None
        if "access_token" not in body:
            raise self._oauth_error(resp, url)
        return body

    # -- DRS -----------------------------------------------------------------------------------
    def _drs_headers(self, token: str | None = None) -> dict[str, str]:
        h = {"User-Agent": f"Dsreg/10.0 (Windows {self.os_version})", "ocp-adrs-client-name": "Dsreg",
             "ocp-adrs-client-version": self.os_version, "Accept": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        return h

    def _discover(self, tenant_ref: str, token: str) -> dict[str, Any]:
        resp = self._http("GET", f"{DRS}/{tenant_ref}/Discover?api-version=1.9&managed=True",
                          headers=self._drs_headers(token))
        body = self._json(resp)
        if resp.status_code != 200 or not isinstance(body, dict) or "DeviceJoinService" not in body:
            raise DeviceError(drs_error_code(resp.status_code, body, phase="discover"),
                              f"DRS discovery answered {resp.status_code}", http_status=resp.status_code,
                              server_error=str((body or {}).get("ErrorType", "")) if isinstance(body, dict) else "",
                              server_description=str((body or {}).get("Message", "")) if isinstance(body, dict) else "")
        return body

    def _take_key(self):
        """The TPM makes a key: the next pool key for this device (never one of the world's own keys:
        devices draw from the pool outside its reserved part; stride 5 is coprime with its 56 keys)."""
        k = device_pool_key(self._key_offset + 5 * self._keys_taken + 3)
        self._keys_taken += 1
        return k

    def _drs_enroll(self, join_type: int) -> tuple[dict[str, Any], bytes, dict[str, Any], Any, Any]:
        """POST the join (0) or registration (4) request: (reply, certificate DER, its facts, device
        key, transport key). Keys come from the pool, one pair per join or work account."""
        f = self._flow
        device_key, transport_key = self._take_key(), self._take_key()
        svc = f.discovery.get("DeviceJoinService") or {}
        endpoint = svc.get("JoinEndpoint") or f"{DRS}/EnrollmentServer/device/"
        # Inferred: a registration does not ask for MembershipChanges (no local admin rights).
        attributes = ({"ReuseDevice": "true", "ReturnClientSid": "true"} if join_type == 0
                      else {"ReuseDevice": "true", "ReturnClientSid": "false"})
        body = {"CertificateRequest": {"Type": "pkcs10",
                                       "Data": base64.b64encode(crypto.build_csr(device_key)).decode("ascii")},
                "TransportKey": base64.b64encode(crypto.bcrypt_rsakey_blob(transport_key.public_key())).decode(),
                "TargetDomain": f.upn.rsplit("@", 1)[-1], "DeviceType": "Windows", "OSVersion": self.os_version,
                "DeviceDisplayName": self.name, "JoinType": join_type, "attributes": attributes}
        resp = self._http("POST", f"{endpoint}?api-version=2.0", json_body=body,
                          headers=self._drs_headers(f.tokens.get("access_token", "")))
        reply = self._json(resp)
        if resp.status_code not in (200, 201) or not isinstance(reply, dict) or "Certificate" not in reply:
            code = drs_error_code(resp.status_code, reply) if resp.status_code >= 400 else 0x801C0001
            raise DeviceError(code, f"DRS join answered {resp.status_code}", http_status=resp.status_code,
                              server_error=str(reply.get("ErrorType", "")) if isinstance(reply, dict) else "",
                              server_description=str(reply.get("Message", "")) if isinstance(reply, dict) else "")
        try:
            der = crypto.b64_any_decode(reply["Certificate"]["RawBody"])
            facts = crypto.cert_facts(der)
        except Exception as exc:  # noqa: BLE001
            raise DeviceError(0x801C0001, f"DRS returned an unreadable certificate: {exc}") from None
        return reply, der, facts, device_key, transport_key

    def _drs_register(self) -> None:
        _reply, der, facts, device_key, transport_key = self._drs_enroll(4)
        self.work_accounts.append(WorkAccount(**self._identity(der, facts, device_key, transport_key),
                                              profile=self.signed_in_user or "", registered_at=self.now()))

    def _drs_join(self) -> None:
        f = self._flow
        reply, der, facts, device_key, transport_key = self._drs_enroll(0)
        claims = f.id_claims
        mdm = {"enrollment": claims.get("mdm_enrollment_url", "") or "",
               "terms_of_use": claims.get("mdm_terms_of_use_url", "") or "",
               "compliance": claims.get("mdm_compliance_url", "") or ""}
        self.join_state = JoinState(**self._identity(der, facts, device_key, transport_key),
                                    domain=f.upn.rsplit("@", 1)[-1], mdm_urls=mdm,
                                    membership_changes=list(reply.get("MembershipChanges") or []),
                                    joined_at=self.now())

    def _identity(self, der: bytes, facts: dict[str, Any], device_key, transport_key) -> dict[str, Any]:
        """The DeviceIdentity fields of a device object DRS just created for the current sign-in."""
        f = self._flow
        return {"device_id": facts["device_id"], "tenant_id": f.tenant_id or _tenant_id(f.discovery),
                "tenant_name": _tenant_name(f.discovery) or f.upn.rsplit("@", 1)[-1], "upn": f.upn,
                "cert_der": der, "thumbprint": facts["thumbprint"], "not_before": facts["not_before"],
                "not_after": facts["not_after"], "device_key": device_key, "transport_key": transport_key,
                "key_container_id": self._guid(), "discovery": f.discovery}

    def _cert_files(self, j: DeviceIdentity) -> tuple[str, str]:
        if self._tmpdir is None or not os.path.isdir(self._tmpdir):
            self._tmpdir = tempfile.mkdtemp(prefix="entra-emu-device-")
            weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
        cert_path = os.path.join(self._tmpdir, f"{j.device_id}.pem")
        key_path = os.path.join(self._tmpdir, f"{j.device_id}.key")
        if os.path.exists(cert_path) and os.path.exists(key_path):
            return cert_path, key_path  # written when first needed; a device object's cert never changes
        with open(cert_path, "wb") as fh:
            fh.write(crypto.cert_facts(j.cert_der)["pem"])
        with open(key_path, "wb") as fh:
            fh.write(crypto.key_pem(j.device_key))
        return cert_path, key_path

    def _remove_tmp(self) -> None:
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def _drs_delete(self, j: DeviceIdentity) -> None:
        """DELETE the device object, authenticated by the device certificate (TLS client cert): the
        join's, or a work account's own certificate."""
        url = f"{DRS}/EnrollmentServer/device/{j.device_id}?api-version=1.0"
        resp = self._http("DELETE", url, headers=self._drs_headers(), cert=self._cert_files(j))
        if resp.status_code != 200:
            body = self._json(resp)
            raise DeviceError(drs_error_code(resp.status_code, body), f"DRS delete answered {resp.status_code}",
                              http_status=resp.status_code)

    def _rollback_join(self) -> None:
        j = self.join_state
        if j is None:
            return
        try:
            self._drs_delete(j)
        except DeviceError:
            pass   # Inferred: the local rollback happens regardless; the cloud object stays stale.
        self._leave_locally()

    # -- MDM enrollment after join ---------------------------------------------------------------
    def _mdm_enroll_after_join(self) -> int | None:
        """PRT with the typed credentials -> token for Intune enrollment -> mdm_client.enroll.
        Returns None on success, else the HRESULT the error page shows."""
        j, f = self.join_state, self._flow
        assert j is not None
        try:
            from .mdm_client import MdmEnrollmentError, enroll
        except ImportError:
            self.last_error = DeviceError(E_MENROLL_AUTHENTICATION, "emulator.device.mdm_client is missing")
            return 0x80180001
        try:
            st = self._acquire_prt(f.upn, f.password)
            tok = self._prt_token(st, BROKER_CLIENT_ID, ENROLLMENT_RESOURCE)
            result = enroll(self.net, discovery_url=j.mdm_urls["enrollment"], upn=f.upn,
                            access_token=tok["access_token"], device_id=j.device_id, device_name=self.name,
                            os_version=self.os_version, key=self._take_key())
        except MdmEnrollmentError as exc:
            self.last_error = DeviceError(int(exc.hresult), getattr(exc, "message", "") or str(exc))
            return int(exc.hresult)
        except AadstsError as exc:
            # Inferred: a failed enrollment token is an MDM authentication error for the page.
            self.last_error = exc
            return E_MENROLL_AUTHENTICATION
        except NetworkError as exc:
            self.last_error = exc
            return exc.hresult
        except requests.exceptions.RequestException as exc:
            self.last_error = NetworkError(requests_exception_code(exc), str(exc))
            return self.last_error.hresult
        except DeviceError as exc:
            self.last_error = exc
            return exc.hresult
        self.mdm_state = _mdm_state(result, j.mdm_urls, self.now())
        return None


# ---------------------------------------------------------------------------------------------
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch


def _urlencode(form: dict[str, Any]) -> str:
    """`urllib.parse.urlencode(form)` (same text): values made only of characters quote_plus
    leaves alone are not run through it."""
    out = []
    for k, v in form.items():
        if not (isinstance(k, str) and isinstance(v, str)):
            return urlencode(form)
        out.append(f"{k if _URL_SAFE(k) else quote_plus(k)}={v if _URL_SAFE(v) else quote_plus(v)}")
    return "&".join(out)


def _aadsts_codes(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"AADSTS(\d+)", text or "")]


def _tenant_name(discovery: dict[str, Any]) -> str:
    info = discovery.get("TenantInfo") or {}
    return info.get("DisplayName") or info.get("TenantName") or ""


def _tenant_id(discovery: dict[str, Any]) -> str:
    return (discovery.get("TenantInfo") or {}).get("TenantId", "")


def _method_label(method: str) -> str:
    # Sign-in page wording of each method (Microsoft sign-in page strings; "+X XXXXXXXX" omitted).
    return {"sms": "Text", "OneWaySMS": "Text", "phoneAppOTP": "Use a verification code",
            "PhoneAppOTP": "Use a verification code", "phone": "Call", "TwoWayVoiceMobile": "Call",
            "microsoftAuthenticator": "Approve a request on my Microsoft Authenticator app",
            "PhoneAppNotification": "Approve a request on my Microsoft Authenticator app",
            "fido2": "Use a security key"}.get(method, method)


def _mdm_state(result: Any, urls: dict[str, str], when: _dt.datetime) -> dict[str, Any]:
    """What the MDM Info page and dsregcmd need from mdm_client.enroll's result (any shape)."""
    def pick(*names: str) -> Any:
        for n in names:
            if isinstance(result, dict) and result.get(n):
                return result[n]
            v = getattr(result, n, None)
            if v:
                return v
        return ""

    return {"result": result, "urls": dict(urls), "enrolled_at": when,
            "management_server": pick("management_server_url", "management_server", "server_url",
                                      "omadm_url", "ManagementServerAddress") or urls.get("enrollment", ""),
            "exchange_id": pick("exchange_id", "ExchangeID"),
            "managed_device_id": pick("managed_device_id", "enrollment_id"),
            "thumbprint": pick("thumbprint", "cert_thumbprint")}


__all__: Iterable[str] = ["WindowsDevice", "ElementNotFound", "Screen", "JoinState", "PrtState", "WorkAccount"]

"""The screen model of the simulated Windows 11 device: what is shown, and what can be clicked.

`device.screen` is a `Screen` (`name`, `title`, `elements`, `lines`, `fields`). The device's
`click/select/type/go_to` act on it; acting on something not shown raises `ElementNotFound`
listing what is on screen and the closest match. Builders below only *render*: every action is a
method of `WindowsDevice` (emulator/device/windows.py), so the high-level actions (`join`, ...)
drive exactly these screens.

Labels are data, per Windows release (`LABELS`), with where each comes from.

Screen names: desktop, settings_home, accounts, settings_page, access_work_or_school,
setup_work_account, signin_email, signin_password, mfa, mfa_other_methods, proofup, signin_error,
confirm_org, all_set, error, mdm_info, disconnect_confirm, disconnect_org, restart_prompt,
windows_signin (tiles), windows_signin_user (credentials).
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .windows import WindowsDevice


class ElementNotFound(LookupError):
    """The element is not on the current screen."""

    def __init__(self, label: str, screen: Screen):
        self.label = label
        self.screen = screen
        near = difflib.get_close_matches(label.lower(), [e.lower() for e in screen.elements], n=1, cutoff=0.4)
        closest = next((e for e in screen.elements if near and e.lower() == near[0]), None)
        hint = f" Closest match: {closest!r}." if closest else ""
        on_screen = ", ".join(repr(e) for e in screen.elements) or "nothing"
        super().__init__(f"{label!r} is not on the screen {screen.title!r} ({screen.name}). "
                         f"On screen: {on_screen}.{hint}")


@dataclass
class Screen:
    name: str
    title: str
    lines: list[str] = field(default_factory=list)
    #: Buttons, links and list items: label -> action (no argument).
    buttons: dict[str, Callable[[], None]] = field(default_factory=dict)
    #: Text fields: label -> current value.
    fields: dict[str, str] = field(default_factory=dict)
    #: Field labels that hide what is typed.
    secret_fields: tuple[str, ...] = ()
    focused: str | None = None

    @property
    def elements(self) -> list[str]:
        return list(self.fields) + list(self.buttons)

    def find(self, label: str) -> str:
        """The element's real label (case-insensitive match) or ElementNotFound."""
        for e in self.elements:
            if e == label:
                return e
        for e in self.elements:
            if e.lower() == label.lower():
                return e
        raise ElementNotFound(label, self)

    def text(self) -> str:
        """Everything shown, one item a line (for debugging and assertions)."""
        out = [self.title, *self.lines]
        for k, v in self.fields.items():
            out.append(f"[{k}: {'*' * len(v) if k in self.secret_fields else v}]")
        out.extend(f"<{b}>" for b in self.buttons)
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"<Screen {self.name} {self.title!r} elements={self.elements}>"


# ---------------------------------------------------------------------------------------------
# Labels per release. Sources:
#  - Settings > Accounts > Access work or school, "Connect", "Set up a work or school account",
#    "Join this device to Microsoft Entra ID / Azure Active Directory", "Make sure this is your
#    organization", "You're all set!": Microsoft Learn "Join your work device to your work or
#    school network" and "Microsoft Entra join" how-to (docs show the Azure AD wording before the
#    2023 rename), public lab guides (join-protocol.md §7; seeds/entra-join-guide.txt).
#  - Accounts page items: Windows 11 Settings as documented on Microsoft Support pages
#    ("Your info", "Email & accounts", "Sign-in options", "Family", "Other users", "Windows backup").
#    Inferred: 21H2 still has "Family & other users" as one item (split in 22H2).
#  - Which release first shows "Microsoft Entra ID": Inferred. The brief fixes 21H2 = Azure AD and
#    23H2/24H2 = Entra; 22H2 (shipped 2022, before the July 2023 rename) is taken as Azure AD.
#  - Connected-account caption "Connected to <org>'s Azure AD": Microsoft Learn screenshots;
#    the Entra-era wording is Inferred by analogy.
#  - Windows logon "Other user" field names: Inferred.
#  - An Entra-*registered* work account (the set-up dialog's email box + Next) is listed as
#    "Work or school account" above its UPN, in every release: Inferred (no screenshot in the
#    reference; the wording Windows uses for accounts added that way in Email & accounts).
#    Its expanded entry shows only "Disconnect": the "Info" button needs an MDM enrollment, which
#    this emulator never does for a registration (an Inferred simplification).
# ---------------------------------------------------------------------------------------------
_BASE = {
    "settings": "Settings",
    "nav": ["Home", "System", "Bluetooth & devices", "Network & internet", "Personalization", "Apps",
            "Accounts", "Time & language", "Gaming", "Accessibility", "Privacy & security", "Windows Update"],
    "accounts": "Accounts",
    "accounts_items": ["Your info", "Email & accounts", "Sign-in options", "Family", "Windows backup",
                       "Other users", "Access work or school", "Passkey settings"],
    "awos": "Access work or school",
    "awos_intro": "Get access to resources like email, apps, and the network. Connecting means your work or "
                  "school might control some things on this device, such as which settings you can change.",
    "add_account": "Add a work or school account",
    "connect": "Connect",
    "setup_title": "Set up a work or school account",
    "setup_intro": "You'll get access to resources like email, apps, and the network. Connecting means your "
                   "work or school might control some things on this device, such as which settings you can "
                   "change. For specific info about this, ask them.",
    "email_field": "Email address",
    "next": "Next",
    "alternate_actions": "Alternate actions:",
    "join_link": "Join this device to Microsoft Entra ID",
    "ad_link": "Join this device to a local Active Directory domain",
    "idp": "Microsoft Entra ID",
    "signin_title": "Let's get you signed in",
    "signin_sub": "Sign in with your work or school account.",
    "signin_email": "Email",
    "password_title": "Enter password",
    "password_field": "Password",
    "sign_in": "Sign in",
    "back": "Back",
    "cancel": "Cancel",
    "mfa_title": "Approve sign in request",
    "mfa_line": "Open your Authenticator app, and enter the number shown to sign in.",
    "approve": "Approve",
    "deny": "Deny",
    "mfa_cant": "I can't use my Microsoft Authenticator app right now",
    "verify_title": "Verify your identity",
    "proofup_title": "More information required",
    "proofup_line": "Your organization needs more information to keep your account secure",
    "skip": "Skip for now",
    "confirm_title": "Make sure this is your organization",
    "confirm_line": "If you continue, system policies might be turned on or other changes might be made to your "
                    "PC. Is this the right organization?",
    "join": "Join",
    "done_title": "You're all set!",
    "done_line": "This device is connected to {tenant}.",
    "done_advice": "When you're ready to use this new account, select the Start button, select your current "
                   "account picture, and then select 'Sign out'. Then sign in using your {tenant} email and "
                   "password.",
    "done": "Done",
    "try_again": "Try again",
    "connected_caption": "Connected to {tenant}'s Microsoft Entra ID",
    "connected_by": "Connected by {upn}",
    "registered_caption": "Work or school account",
    "info": "Info",
    "disconnect": "Disconnect",
    "remove_title": "Are you sure you want to remove this account?",
    "remove_line": "This will remove your access to resources like email, apps, network, and all content "
                   "associated with it. Your organization might also remove some data stored on this device.",
    "yes": "Yes",
    "no": "No",
    "leave_title": "Disconnect from the organization",
    "leave_line": "After you disconnect, you'll need an alternate account to sign in to this device. Make sure "
                  "you know the user name and password for a local administrator account before you "
                  "disconnect.",
    "restart_title": "Restart your PC",
    "restart_line": "To finish disconnecting from the organization, you need to restart your PC.",
    "restart_now": "Restart now",
    "restart_later": "Restart later",
    "managed_title": "Managed by {tenant}",
    "sync": "Sync",
    "conn_info": "Connection info",
    "mgmt_server": "Management Server Address: {url}",
    "other_user": "Other user",
    "logon_user_field": "Email",
    "desktop": "Desktop",
    "sign_out": "Sign out",
    "restart": "Restart",
}

LABELS: dict[str, dict] = {
    "24H2": dict(_BASE),
    "23H2": dict(_BASE, accounts_items=[x for x in _BASE["accounts_items"] if x != "Passkey settings"]),
    "22H2": dict(_BASE, nav=_BASE["nav"][1:],
                 accounts_items=["Your info", "Email & accounts", "Sign-in options", "Family", "Windows backup",
                                 "Other users", "Access work or school"],
                 join_link="Join this device to Azure Active Directory", idp="Azure Active Directory",
                 connected_caption="Connected to {tenant}'s Azure AD"),
    "21H2": dict(_BASE, nav=_BASE["nav"][1:],
                 accounts_items=["Your info", "Email & accounts", "Sign-in options", "Family & other users",
                                 "Windows backup", "Access work or school"],
                 join_link="Join this device to Azure Active Directory", idp="Azure Active Directory",
                 connected_caption="Connected to {tenant}'s Azure AD"),
}


# 25H2 shares 24H2's code base (an enablement package), so its Settings labels are 24H2's: Inferred.
LABELS["25H2"] = dict(LABELS["24H2"])

#: Where each release's label set comes from (printed by `entra-emu runbook windows`).
LABEL_SOURCES: dict[str, str] = {
    "25H2": "Same as 24H2 (enablement package on the 24H2 code base); inferred, not separately observed.",
    "24H2": "Microsoft Learn 'Microsoft Entra join' how-to and Windows 11 Settings pages after the July 2023 "
            "rename; the 'Passkey settings' item is inferred.",
    "23H2": "As 24H2 without 'Passkey settings'; Entra wording as in Microsoft Learn after the rename.",
    "22H2": "Azure AD wording of Microsoft Learn pages and lab guides from before the 2023 rename; which "
            "release first says 'Microsoft Entra ID' is inferred.",
    "21H2": "Azure AD wording as 22H2; 'Family & other users' as one Accounts item (split in 22H2), inferred "
            "from Microsoft Support pages of the time.",
}


def labels_for(release: str) -> dict:
    try:
        return LABELS[release]
    except KeyError:
        raise ValueError(f"unknown Windows 11 release {release!r}; known: {', '.join(LABELS)}") from None


#: Settings pages reachable with go_to(): label -> path of clicks from the Settings home.
SETTINGS_PATHS = {"accounts": ["accounts"], "awos": ["accounts", "awos"]}


# ---------------------------------------------------------------------------------------------
# Builders (render only; every action is a device method)
# ---------------------------------------------------------------------------------------------
def desktop(dev: WindowsDevice) -> Screen:
    L = dev.labels
    who = dev.signed_in_user or ""
    return Screen("desktop", L["desktop"], [f"Signed in as {who}"],
                  {L["settings"]: dev.open_settings, L["sign_out"]: dev.sign_out, L["restart"]: dev.restart})


def settings_home(dev: WindowsDevice) -> Screen:
    L = dev.labels
    buttons = {item: (lambda item=item: dev._open_settings_page(item)) for item in L["nav"]}
    buttons[L["accounts"]] = dev._open_accounts
    return Screen("settings_home", L["settings"], [dev.name], buttons)


def accounts(dev: WindowsDevice) -> Screen:
    L = dev.labels
    buttons: dict[str, Callable[[], None]] = {L["back"]: dev.open_settings}
    for item in L["accounts_items"]:
        buttons[item] = (lambda item=item: dev._open_settings_page(item, parent=dev._open_accounts))
    buttons[L["awos"]] = dev._open_awos
    buttons["Your info"] = dev._open_your_info
    return Screen("accounts", L["accounts"], [], buttons)


def settings_page(dev: WindowsDevice, title: str, lines: list[str], back: Callable[[], None]) -> Screen:
    return Screen("settings_page", title, lines, {dev.labels["back"]: back})


def access_work_or_school(dev: WindowsDevice, expanded: bool | str = False) -> Screen:
    """`expanded`: True = the join's entry is open; a lower-case UPN = that work account's entry."""
    L = dev.labels
    lines = [L["awos_intro"], L["add_account"]]
    buttons: dict[str, Callable[[], None]] = {L["back"]: dev._open_accounts, L["connect"]: dev._open_setup_dialog}
    j = dev.join_state
    if j is not None:
        caption = L["connected_caption"].format(tenant=j.tenant_name)
        lines.append(caption)
        lines.append(L["connected_by"].format(upn=j.upn))
        buttons[caption] = (lambda: dev._open_awos(expanded=expanded is not True))
        if expanded is True:
            if dev.mdm_state is not None:
                buttons[L["info"]] = dev._open_mdm_info
            buttons[L["disconnect"]] = dev._disconnect_start
    for i, acct in enumerate(dev.profile_work_accounts()):
        key = acct.upn.lower()
        lines += [L["registered_caption"], acct.upn]
        toggle = (lambda key=key: dev._open_awos(expanded=False if expanded == key else key))
        # The entry is clicked by its UPN, or by its caption (the first work account).
        if i == 0 and L["registered_caption"] not in buttons:
            buttons[L["registered_caption"]] = toggle
        buttons[acct.upn] = toggle
        if expanded == key:
            buttons[L["disconnect"]] = (lambda key=key: dev._unregister_start(key))
    return Screen("access_work_or_school", L["awos"], lines, buttons)


def setup_dialog(dev: WindowsDevice, error: str | None = None) -> Screen:
    L = dev.labels
    buttons: dict[str, Callable[[], None]] = {L["next"]: dev._setup_register_next}
    lines = [L["setup_intro"]] + ([error] if error else []) + [L["alternate_actions"]]
    if dev.join_state is None:
        buttons[L["join_link"]] = dev._join_link
    buttons[L["ad_link"]] = dev._setup_ad_join
    buttons[L["cancel"]] = dev._open_awos
    return Screen("setup_work_account", L["setup_title"], lines, buttons, {L["email_field"]: ""},
                  focused=L["email_field"])


def signin_email(dev: WindowsDevice, email: str = "", error: str | None = None) -> Screen:
    L = dev.labels
    lines = [L["idp"], L["signin_sub"]] + ([error] if error else [])
    return Screen("signin_email", L["signin_title"], lines,
                  {L["next"]: dev._join_email_next, L["back"]: dev._open_setup_dialog},
                  {L["signin_email"]: email}, focused=L["signin_email"])


def signin_password(dev: WindowsDevice, upn: str, error: str | None = None) -> Screen:
    L = dev.labels
    lines = [upn] + ([error] if error else [])
    return Screen("signin_password", L["password_title"], lines,
                  {L["sign_in"]: dev._join_password_sign_in, L["back"]: dev._join_open_signin},
                  {L["password_field"]: ""}, secret_fields=(L["password_field"],), focused=L["password_field"])


def mfa(dev: WindowsDevice, upn: str) -> Screen:
    L = dev.labels
    return Screen("mfa", L["mfa_title"], [upn, L["mfa_line"]],
                  {L["approve"]: lambda: dev._join_mfa("approve"), L["deny"]: lambda: dev._join_mfa("deny"),
                   L["mfa_cant"]: dev._join_mfa_other_methods, L["cancel"]: dev._open_awos})


def verify_identity(dev: WindowsDevice, methods: list[str]) -> Screen:
    L = dev.labels
    # Inferred: each other registered method completes the same approval step.
    buttons: dict[str, Callable[[], None]] = {m: (lambda: dev._join_mfa("approve")) for m in methods}
    buttons[L["cancel"]] = dev._open_awos
    return Screen("mfa_other_methods", L["verify_title"], ["Choose a way to verify your identity."], buttons)


def proofup(dev: WindowsDevice, upn: str) -> Screen:
    L = dev.labels
    return Screen("proofup", L["proofup_title"], [upn, L["proofup_line"]],
                  {L["next"]: lambda: dev._join_mfa("register"), L["skip"]: lambda: dev._join_mfa("skip"),
                   L["cancel"]: dev._open_awos})


def signin_error(dev: WindowsDevice, title: str, lines: list[str]) -> Screen:
    L = dev.labels
    return Screen("signin_error", title, lines, {L["back"]: dev._join_open_signin, L["cancel"]: dev._open_awos})


def confirm_org(dev: WindowsDevice, upn: str, domain: str, tenant: str) -> Screen:
    L = dev.labels
    # Inferred: the joining user becomes a local administrator (DRS MembershipChanges, default
    # "registering users are local admins"), so the page says Administrator.
    lines = [L["confirm_line"], "Organization info", f"Connecting to: {domain}", f"User name: {upn}",
             "User type: Administrator", f"Organization: {tenant}"]
    return Screen("confirm_org", L["confirm_title"], lines,
                  {L["join"]: dev._join_confirm, L["cancel"]: dev._open_awos})


def all_set(dev: WindowsDevice, tenant: str) -> Screen:
    L = dev.labels
    return Screen("all_set", L["done_title"],
                  [L["done_line"].format(tenant=tenant), L["done_advice"].format(tenant=tenant)],
                  {L["done"]: dev._open_awos})


def error_page(dev: WindowsDevice, lines: list[str]) -> Screen:
    L = dev.labels
    from .errors import ERROR_PAGE_TITLE

    return Screen("error", ERROR_PAGE_TITLE, lines,
                  {L["try_again"]: dev._join_open_signin, L["cancel"]: dev._open_awos})


def mdm_info(dev: WindowsDevice, sync_lines: list[str] | None = None) -> Screen:
    L = dev.labels
    j, m = dev.join_state, dev.mdm_state
    tenant = j.tenant_name if j else ""
    # "Managed by <org>", "Sync", "Connection info" and "Management Server Address" are the page's
    # labels (public lab guides); the other lines and the sync result wording are Inferred.
    lines = [L["managed_title"].format(tenant=tenant),
             "Your IT or support person might change settings for this device.",
             "Device sync status"] + list(sync_lines or []) + [
        L["conn_info"], L["mgmt_server"].format(url=(m or {}).get("management_server", "")),
        f"Exchange ID: {(m or {}).get('exchange_id', '')}"]
    return Screen("mdm_info", L["managed_title"].format(tenant=tenant), lines,
                  {L["sync"]: dev._mdm_sync, L["back"]: lambda: dev._open_awos(expanded=True)})


def remove_confirm(dev: WindowsDevice, on_yes: Callable[[], None] | None = None,
                   on_no: Callable[[], None] | None = None) -> Screen:
    L = dev.labels
    return Screen("disconnect_confirm", L["remove_title"], [L["remove_line"]],
                  {L["yes"]: on_yes or dev._disconnect_yes, L["no"]: on_no or (lambda: dev._open_awos(expanded=True))})


def leave_confirm(dev: WindowsDevice) -> Screen:
    L = dev.labels
    return Screen("disconnect_org", L["leave_title"], [L["leave_line"]],
                  {L["disconnect"]: dev._disconnect_do, L["cancel"]: lambda: dev._open_awos(expanded=True)})


def restart_prompt(dev: WindowsDevice) -> Screen:
    L = dev.labels
    return Screen("restart_prompt", L["restart_title"], [L["restart_line"]],
                  {L["restart_now"]: dev.restart, L["restart_later"]: dev._open_awos})


def logon_tiles(dev: WindowsDevice, message: str | None = None) -> Screen:
    L = dev.labels
    buttons: dict[str, Callable[[], None]] = {}
    for tile in dev._logon_tiles():
        buttons[tile] = (lambda tile=tile: dev._logon_pick(tile))
    if dev.join_state is not None:
        buttons[L["other_user"]] = lambda: dev._logon_pick(None)
    return Screen("windows_signin", "Sign in", [dev.name] + ([message] if message else []), buttons)


def logon_user(dev: WindowsDevice, user: str | None, message: str | None = None) -> Screen:
    L = dev.labels
    fields = {L["password_field"]: ""}
    if user is None:
        fields = {L["logon_user_field"]: "", L["password_field"]: ""}
    title = user or L["other_user"]
    return Screen("windows_signin_user", title, [message] if message else [],
                  {L["sign_in"]: dev._logon_submit, L["back"]: dev._logon_screen}, fields,
                  secret_fields=(L["password_field"],), focused=next(iter(fields)))

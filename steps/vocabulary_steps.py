"""More phrasings of the guide's actions and checks (variants, tenant settings, troubleshooting).

Each function here is registered with pytest-bdd and in `entra_emu_steps.registry.REGISTRY` (so the runbook
checker understands it and docs/steps.md lists it). Variants of the lead's steps call the lead's
functions. Steps that name no user act as "the Entra user": the scenario's actor, or else the
first user the feature added.
"""
from __future__ import annotations

from emulator.runbook.labsetup import actor, actor_user, portal_sign_in, set_release, use_scenario
from emulator.world import policy

from .check_steps import connected_account, output_shows
from .device_steps import click_known, open_settings, run_command, select_connected_account
from .lab import StepFailed
from .registry import phrase

Q = r'"(?P<{}>[^"]+)"'
CLICK = r"(?:[Cc]lick|[Ss]elect|[Cc]hoose|[Pp]ress|[Tt]ap)"
ENTRA = r"(?:Microsoft Entra ID|Microsoft Entra|Entra ID|Entra|Azure AD|Azure Active Directory)"


def _device(lab):
    return lab.ensure_device()


# -- Givens: scenarios, the Windows release, tenant settings -----------------------------------------

@phrase("given", r'the scenario (?:"(?P<name>[^"]+)"|`(?P<name2>[^`]+)`|(?P<name3>[a-z0-9]+(?:-[a-z0-9]+)*))',
        examples=['Given the scenario "device-limit-reached"', "Given the scenario `mdm-scope-none`"])
def the_scenario(lab, name=None, name2=None, name3=None):
    from emulator.scenarios import ScenarioError

    try:
        use_scenario(lab, name or name2 or name3)
    except ScenarioError as exc:
        raise StepFailed(str(exc)) from None


@phrase("given", r'the (?:PC|device) (?:runs|is running) Windows 11(?: version)? (?P<release>\d\d[Hh]\d)',
        examples=["Given the PC runs Windows 11 21H2", "Given the device is running Windows 11 version 22H2"])
def windows_release(lab, release):
    set_release(lab, release)


@phrase("given", r'the user ' + Q.format("upn") + r' may not join devices',
        examples=['Given the user "adele.vance@contoso.com" may not join devices'])
def user_may_not_join(lab, upn):
    lab.user(upn)
    lab.ensure_tenant().device_registration_policy["azureADJoin"]["allowedToJoin"] = {"@odata.type": policy.NONE}


@phrase("given", r'the user ' + Q.format("upn") + r' has (?:reached|hit) the (?:maximum number of devices|'
                 r'device limit)(?: per user)?',
        examples=['Given the user "adele.vance@contoso.com" has reached the maximum number of devices'])
def user_at_quota(lab, upn):
    user = lab.user(upn)
    owned = len(lab.tenant.devices_owned_by(user.id))
    if owned == 0:
        from .tenant_steps import existing_devices

        existing_devices(lab, upn, "1")
        owned = 1
    lab.tenant.device_registration_policy["userDeviceQuota"] = owned


@phrase("given", r"the (?:PC|device)'s (?:clock|date and time|date/time) is correct",
        examples=["Given the PC's clock is correct"])
def clock_correct(lab):
    lab.device_settings["skew_seconds"] = 0.0
    if lab.device is not None:
        lab.device.skew_seconds = 0.0


@phrase("given", r'the (?:PC|device) (?:has internet access|is online)',
        examples=["Given the PC has internet access"])
def network_online(lab):
    lab.device_settings["network"] = "online"
    if lab.device is not None:
        lab.device.network = "online"


@phrase("given", r'the (?:PC|device) cannot reach ' + Q.format("host"),
        examples=['Given the PC cannot reach "enterpriseregistration.windows.net"'])
def host_blocked(lab, host):
    blocked = lab.device_settings.get("network")
    hosts = set(blocked) if blocked and not isinstance(blocked, str) else set()
    hosts.add(host.lower())
    lab.device_settings["network"] = sorted(hosts)
    if lab.device is not None:
        lab.device.network = sorted(hosts)


@phrase("given", r'the user ' + Q.format("upn") + r' is (?:licensed for Intune(?:/EMS)?|has an Intune licen[cs]e)',
        examples=['Given the user "adele.vance@contoso.com" is licensed for Intune'])
def intune_licence(lab, upn):
    user = lab.user(upn)
    if "INTUNE_A" not in user.licenses:
        user.licenses.append("INTUNE_A")


def _maps(lab):
    """(users by lower-case UPN, groups by display name) of the lab's tenant, in the shapes the
    scenario loader's helpers take."""
    t = lab.ensure_tenant()
    return ({u.user_principal_name.lower(): u for u in t.users.values()},
            {g.display_name: g for g in t.groups.values()})


def _group(lab, name):
    users, groups = _maps(lab)
    if name not in groups:
        lab.world.add_group(lab.ensure_tenant(), name)
    return _maps(lab)[1][name]


@phrase("given", r'the user ' + Q.format("upn") + r' is (?:a member of|in) the group ' + Q.format("group"),
        examples=['Given the user "megan.bowen@contoso.com" is a member of the group "Device Joiners"'])
def member_of(lab, upn, group):
    user = lab.user(upn)
    g = _group(lab, group)
    if user.id not in g.members:
        g.members.append(user.id)


@phrase("given", r'"Users may join devices to Microsoft Entra ID" is (?:set to )?"?Selected"? with the group '
                 + Q.format("group"),
        examples=['Given "Users may join devices to Microsoft Entra ID" is "Selected" with the group "Device Joiners"'])
def users_may_join_selected(lab, group):
    from emulator.scenarios.loader import _membership

    _group(lab, group)
    users, groups = _maps(lab)
    lab.tenant.device_registration_policy["azureADJoin"]["allowedToJoin"] = _membership(
        {"groups": [group]}, users, groups)


@phrase("given", r'the MDM user scope is (?:set to )?"?Some"? with the group ' + Q.format("group"),
        examples=['Given the MDM user scope is "Some" with the group "Intune Pilot"'])
def mdm_scope_some(lab, group):
    from emulator.scenarios.loader import _set_mdm_scope

    _group(lab, group)
    _set_mdm_scope(lab.tenant, {"groups": [group]}, _maps(lab)[1])


def _add_ca(lab, name, conditions, grant):
    from emulator.scenarios.loader import _ca_policy

    users, groups = _maps(lab)
    doc = {"displayName": name, "state": "enabled", "conditions": conditions,
           "grantControls": {"operator": "OR", "builtInControls": [grant]}}
    lab.tenant.conditional_access_policies.append(_ca_policy(lab.world, doc, users, groups))


@phrase("given", r'a Conditional Access policy(?: ' + Q.format("name") + r')? requires MFA to register or join devices',
        examples=['Given a Conditional Access policy "Require MFA to register or join devices" requires MFA to '
                  'register or join devices'])
def ca_register_join_mfa(lab, name="Require MFA to register or join devices"):
    _add_ca(lab, name, {"users": {"includeUsers": ["All"]},
                        "applications": {"includeUserActions": ["Register or join devices"]}}, "mfa")


@phrase("given", r'a Conditional Access policy(?: ' + Q.format("name") + r')? blocks (?:all cloud apps|access) for '
                 r'the group ' + Q.format("group"),
        examples=['Given a Conditional Access policy "Block contractors" blocks all cloud apps for the group '
                  '"Contractors - blocked"'])
def ca_block_group(lab, group, name="Block access"):
    _group(lab, group)
    _add_ca(lab, name, {"users": {"includeGroups": [group]}, "applications": {"includeApplications": ["All"]}},
            "block")


@phrase("given", r'a Conditional Access policy(?: ' + Q.format("name") + r')? requires a compliant device for all '
                 r'(?:cloud apps|resources)',
        examples=['Given a Conditional Access policy requires a compliant device for all cloud apps'])
def ca_compliant_device(lab, name="Require compliant device for all resources"):
    _add_ca(lab, name, {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
            "compliantDevice")


@phrase("given", r'the Intune device limit(?: restriction)? is (?P<n>\d+)',
        examples=["Given the Intune device limit is 5"])
def intune_device_limit(lab, n):
    from emulator.scenarios.loader import _apply_restrictions

    _apply_restrictions(lab.ensure_tenant(), {"device_limit": int(n)})


@phrase("given", r'Windows (?:\(MDM\) )?enrollment is blocked in (?:the )?Intune(?: platform restrictions)?',
        examples=["Given Windows (MDM) enrollment is blocked in Intune"])
def intune_platform_blocked(lab):
    from emulator.scenarios.loader import _apply_restrictions

    _apply_restrictions(lab.ensure_tenant(), {"platform_blocked": True})


@phrase("given", r'the Device Registration Service is busy',
        examples=["Given the Device Registration Service is busy"])
def drs_busy(lab):
    # The fault rules of the packaged drs-busy scenario, its one definition: every join request answers 503.
    from emulator.scenarios import read_scenario
    from emulator.scenarios.loader import shipped_dir

    doc, _ = read_scenario(shipped_dir() / "drs-busy.yaml")
    for rule in doc.get("faults") or []:
        lab.world.faults.add(dict(rule))


# -- Whens: the person at the PC ------------------------------------------------------------------------

@phrase("when", r'(?:I )?(?:[Ii]n the (?:dialog|window)(?: that opens)?, )?' + CLICK + r' (?:on )?(?:the )?'
                 r'"?(?P<label>[A-Z0-9][^"()]*?)"?(?: button| link| tile| option)?(?: again)?(?: to [a-z][^"]*)?',
        examples=["Click Connect", "Select Access work or school", "In the window that opens, choose Join",
                  "In the dialog, select Join this device to Microsoft Entra ID", "Click the Join button",
                  "Click Disconnect again to leave the organization"])
def click_any(lab, label):
    click_known(lab, label)


@phrase("when", r'(?:[Oo]n|[Ii]n) (?:the )?"(?P<screen>[^"]+)"(?: page| screen| dialog)?,? ' + CLICK
                 + r' (?:on )?(?:the )?"?(?P<label>[A-Z0-9][^"()]*?)"?(?: button| link)?',
        examples=['On "Make sure this is your organization", click Join'])
def click_on_screen(lab, screen, label):
    device = _device(lab)
    title = device.screen.title
    if screen.lower() not in title.lower():
        raise StepFailed(f"The PC shows {title!r}, not {screen!r}: {' '.join(device.screen.lines)}".strip())
    click_known(lab, label)


@phrase("when", r'(?:I )?(?:[Aa]nswer|[Cc]onfirm with|[Rr]eply) "?(?P<label>Yes|No)"?',
        examples=["Answer Yes"])
def answer(lab, label):
    click_known(lab, label)


@phrase("when", r'(?:I )?[Gg]o to (?P<label>Accounts|Access work or school|Settings)',
        examples=["Go to Accounts"])
def go_to(lab, label):
    _device(lab).go_to(label)


@phrase("when", r'(?:I )?(?:[Gg]o to |[Oo]pen )?Settings\s*(?:->|>|→)\s*(?P<path>.+)',
        examples=["Go to Settings -> Accounts -> Access work or school",
                  "Settings > Accounts > Access work or school > connected account > Info"])
def settings_path(lab, path):
    import re

    device = _device(lab)
    open_settings(lab)
    for part in [p.strip() for p in re.split(r"\s*(?:->|>|→)\s*", path) if p.strip()]:
        if re.fullmatch(r"(?:the )?(?:connected|Entra|work or school|connected Entra) account", part, re.I):
            select_connected_account(lab)
        else:
            device.go_to(part)


@phrase("when", r'(?:I )?(?:[Ee]nter|[Tt]ype) (?:the )?(?:Entra |work or school )?(?:user(?:\'s)? )?(?:work )?'
                 r'(?:email|e-mail|account)(?: address)?(?: and (?:click|select|press) "?Next"?)?',
        examples=["Enter the Entra user email", "Type the user's work email address and press Next"])
def enter_actor_email(lab):
    upn, _ = actor(lab)
    device = _device(lab)
    device.type(upn)
    device.click("Next")
    _refused(device, "signin_email", f"The sign-in page did not accept {upn}")


def _refused(device, page, what):
    """A sign-in page that stays put (or goes back to an earlier page) shows why: unknown user,
    wrong password, MFA denied, ..."""
    s = device.screen
    order = ["signin_email", "signin_password", "mfa"]
    if s.name in order and order.index(s.name) <= order.index(page):
        raise StepFailed(f"{what}: the PC shows {s.title!r}: {' '.join(s.lines)}".strip())
    if s.name in ("signin_error", "error"):
        raise StepFailed(f"{what}: the PC shows {s.title!r}: {' '.join(s.lines)}")


@phrase("when", r'(?:I )?(?:[Ee]nter|[Tt]ype) (?:the|your|the user\'s) password(?: and (?:click|select|press) "?Sign in"?)?',
        examples=["Enter the password", "Enter your password and click Sign in"])
def enter_actor_password(lab):
    _, password = actor(lab)
    device = _device(lab)
    device.type(password)
    device.click("Sign in")
    _refused(device, "signin_password", "The password was not accepted")


@phrase("when", r'(?:I )?(?:[Cc]omplete (?:the )?(?:password and MFA|sign-in and MFA|sign-in) prompts?'
                 r'(?: as the Entra user)?|(?:[Gg]ive|[Tt]ype|[Ee]nter) (?:the|their|the user\'s) password and '
                 r'(?:answer|approve|complete) the (?:MFA|sign-in) (?:request|prompt|challenge))',
        examples=["Complete password and MFA prompts", "Give the password and answer the MFA request"])
def password_and_mfa_actor(lab):
    """Types the Entra user's password and answers the MFA prompt as that user does (approve,
    unless the scenario's user denies it); "More information required" registers a method."""
    upn, password = actor(lab)
    device = _device(lab)
    device.type(password)
    device.click("Sign in")
    _refused(device, "signin_password", "The password was not accepted")
    response = lab.scenario.actor.mfa_response if lab.scenario is not None else "approve"
    for _ in range(3):
        if device.screen.name == "mfa":
            device.click(device.labels["deny"] if response == "deny" else device.labels["approve"])
        elif device.screen.name == "proofup":
            device.click(device.labels["next"])
        else:
            break
    _refused(device, "mfa", "The MFA prompt was not completed")


@phrase("when", r'(?:I )?(?:[Cc]hoose|[Ss]elect|[Cc]lick|[Pp]ick) "?Other user"? (?:\(if needed\)|if needed|if it is shown|'
                 r'if the (?:work )?account is not (?:listed|shown))',
        examples=["Choose Other user (if needed)", "Pick Other user if the account is not listed"])
def other_user_if_needed(lab):
    device = _device(lab)
    if "Other user" in device.screen.elements:
        device.click("Other user")


@phrase("when", r'(?:I )?[Ss]ign in (?:to Windows )?(?:with|as) the (?:Entra|work) (?:user|account)',
        examples=["Sign in with the Entra user", "Sign in to Windows with the work account"])
def sign_in_actor(lab):
    upn, password = actor(lab)
    device = _device(lab)
    screen = device.screen
    if screen.name == "windows_signin_user" and "Email" in screen.fields:
        device.type(upn, into="Email")
        device.type(password, into="Password")
        device.click("Sign in")
    else:
        device.sign_in(upn, password)
    if device.signed_in_user is None or device.signed_in_user.lower() != upn.lower():
        shown = [device.screen.title, *device.screen.lines]
        raise StepFailed(f"Windows did not sign {upn} in. The sign-in screen shows: {shown}.")


@phrase("when", r'(?:I )?[Jj]oin (?:the|this) (?:device|PC) to ' + ENTRA,
        examples=["Join this device to Microsoft Entra ID"])
def join_actor(lab):
    upn, password = actor(lab)
    _device(lab).join(upn, password)


@phrase("when", r'(?:I )?[Rr]estart the (?:device|PC|computer)(?: now)?(?: (?:when|if) (?:Windows asks you to|'
                 r'(?:you are |it is )?(?:prompted|asked)))?',
        examples=["Restart the PC", "Restart the computer now"])
def restart_pc(lab):
    _device(lab).restart()


@phrase("when", r'(?:I )?(?:[Oo]pen (?:a )?(?:Command Prompt|PowerShell|Terminal)(?: or (?:PowerShell|Command Prompt))?'
                 r'(?: window)?,? and )?(?:[Rr]un|[Tt]ype) "?(?P<command>dsregcmd(?:\.exe)? /status)"?',
        examples=["Run dsregcmd /status", 'Open PowerShell and run "dsregcmd /status"'])
def run_dsregcmd(lab, command):
    run_command(lab, command)


@phrase("when", r'(?:I )?[Rr]un "?dsregcmd /status"? again after (?:a )?(?:reboot|restart)',
        examples=["Run dsregcmd /status again after reboot"])
def dsregcmd_after_reboot(lab):
    upn, password = actor(lab)
    device = _device(lab)
    device.restart()
    device.sign_in(upn, password)
    run_command(lab, "dsregcmd /status")


@phrase("when", r'(?:I )?[Dd]isconnect(?: (?:the|this) (?:device|PC))?',
        examples=["Disconnect", "Disconnect the PC"])
def disconnect_all(lab):
    device = _device(lab)
    if not device.joined:
        raise StepFailed("The PC is not joined: Access work or school has nothing to disconnect.")
    device.disconnect()


@phrase("when", r'(?:I )?(?:[Dd]isconnect and (?:repeat|redo) (?:the )?join(?:ing)?(?: process)?(?: if needed)?|'
                 r'(?:[Ii]f it still (?:says|shows) NO, )?[Dd]isconnect the (?:PC|device) and join it again)',
        examples=["Disconnect and repeat join process if needed",
                  "If it still says NO, disconnect the PC and join it again"])
def disconnect_and_rejoin(lab):
    upn, password = actor(lab)
    device = _device(lab)
    if device.joined:
        device.disconnect()
        device.restart()
        device.sign_in(device.local_admin, device.local_accounts[device.local_admin].password)
    device.join(upn, password)


@phrase("when", r'(?:I )?(?:[Tt]est (?:the )?sign-in (?:on|to|at)|[Ss]ign in to) (?:https://)?portal\.office\.com'
                 r'(?: first)?(?: from (?:the same|this) PC)?(?: to (?:isolate account issues|see whether .+))?',
        examples=["Test sign-in on portal.office.com first",
                  "Sign in to portal.office.com from the same PC to see whether the account itself works"])
def office_portal_sign_in(lab):
    upn, password = actor(lab)
    result = portal_sign_in(lab, upn, password)
    lab.portal_result = result
    if result != "ok":
        raise StepFailed(f"Signing in to portal.office.com as {upn} fails: {result}")


# -- Thens: what the person and the admin see -----------------------------------------------------------

@phrase("then", r'(?:[Yy]ou should see|[Yy]ou see|I see|I should see|[Ss]ee) a confirmation that the (?:device|PC) '
                r'is (?:joined|connected)',
        examples=["You should see a confirmation that the device is joined"])
def confirmation_joined(lab):
    device = _device(lab)
    screen = device.screen
    if screen.name == "all_set" and device.joined:
        return
    shown = " / ".join([screen.title, *screen.lines])
    raise StepFailed(f"No confirmation: the PC shows {shown!r}" + ("" if device.joined else " and is not joined."))


@phrase("then", r'[Tt]he (?:dialog|window|PC|screen) (?:says|shows) "(?P<text>[^"]+)"',
        examples=['The dialog says "You\'re all set!"'])
def dialog_says(lab, text):
    from .check_steps import i_see

    i_see(lab, text)


@phrase("then", r'[Tt]he (?:PC|device) is listed in (?:the )?Intune admin center',
        examples=["The PC is listed in the Intune admin center"])
def listed_in_intune(lab):
    from .check_steps import device_in_intune

    device_in_intune(lab)


@phrase("then", r'(?:[Tt]he connected (?:Entra |work or school )?account (?:appears|is listed|shows) under '
                r'Access work or school|Access work or school (?:now )?lists the connected (?:work )?account)',
        examples=["The connected account appears under Access work or school",
                  "Access work or school now lists the connected account"])
def connected_account_capital(lab):
    connected_account(lab)


@phrase("then", r'(?:[Cc]heck|[Ll]ook for|[Ee]xpect|[Cc]onfirm)(?: that)?(?: the output shows)?:? '
                r'"?(?P<line>[A-Za-z]+ : '
                r'[^"]*?)"?',
        examples=["Expect AzureAdJoined : YES", "Check DomainJoined : NO"])
def expect_line(lab, line):
    output_shows(lab, line)


@phrase("then", r'(?:[Tt]he output (?:has|shows) )?(?:[Vv]alid user/device state sections|(?:[Aa] )?Device State and '
                r'(?:a )?User State sections?)',
        examples=["Valid user/device state sections", "A Device State and a User State section"])
def state_sections(lab):
    if not lab.output:
        raise StepFailed('No command has been run yet: run "dsregcmd /status" first.')
    missing = [s for s in ("Device State", "User State") if f"| {s}" not in lab.output]
    if missing:
        raise StepFailed(f"The output has no {' and no '.join(missing)} section.")


@phrase("then", r'(?:[Yy]ou have a valid (?:Entra |work or school )?(?:user )?account|'
                r'[Tt]he (?:person joining the PC|user) has a working (?:Entra|work) account)',
        examples=["You have a valid Entra user account", "The person joining the PC has a working Entra account"])
def valid_account(lab):
    upn, _ = actor(lab)
    user = lab.tenant.user_by_upn(upn) if lab.tenant else None
    if user is None:
        raise StepFailed(f"{upn} does not exist in the tenant.")
    if not user.account_enabled:
        raise StepFailed(f"{upn} exists but is blocked from signing in (account disabled).")


@phrase("then", r'(?:[Tt]he (?:account|user) (?:is allowed|may|can) (?:to )?join devices(?: to ' + ENTRA + r')?|'
                r'(?:[Dd]evice settings in Entra|Entra device settings) let (?:this person|the user) join devices)',
        examples=["The account is allowed to join devices to Entra ID",
                  "Device settings in Entra let this person join devices"])
def may_join_check(lab):
    from emulator.world import policy

    user = actor_user(lab)
    if not policy.may_join(lab.tenant, user):
        value = lab.tenant.device_registration_policy.get("azureADJoin", {}).get("allowedToJoin", {})
        raise StepFailed(f"'Users may join devices to Microsoft Entra ID' does not include {user.user_principal_name} "
                         f"({value.get('@odata.type', value)}).")


@phrase("then", r'(?:[Dd]evice (?:join )?limits are not (?:exceeded|reached)(?: for the user)?|'
                r'(?:[Tt]his person|[Tt]he user) still has room under the (?:per-user )?device limit)',
        examples=["Device join limits are not exceeded for the user",
                  "This person still has room under the per-user device limit"])
def quota_ok(lab):
    from emulator.world import policy

    user = actor_user(lab)
    if policy.device_quota_reached(lab.tenant, user):
        n = len(policy.devices_counted_for_quota(lab.tenant, user))
        raise StepFailed(f"{user.user_principal_name} already has {n} devices; the maximum number of devices per "
                         f"user is {policy.device_quota(lab.tenant)}.")


@phrase("then", r'[Tt]he (?:PC|device) (?:has internet access|is online)(?: and (?:can reach Microsoft sign-in services|'
                r'reaches (?:https://)?login\.microsoftonline\.com))?',
        examples=["The PC has internet access and can reach Microsoft sign-in services",
                  "The PC is online and reaches login.microsoftonline.com"])
def internet_ok(lab):
    device = _device(lab)
    for url in ("https://login.microsoftonline.com/", "https://enterpriseregistration.windows.net/"):
        try:
            device.net.check(url)
        except Exception as exc:  # NetworkError
            raise StepFailed(f"The PC cannot reach {url}: {exc}") from None


@phrase("then", r'(?:(?:[Dd]ate/time|[Dd]ate and time|[Tt]he clock) on the (?:device|PC) is correct'
                r'(?: \(important for auth tokens\))?|[Tt]he (?:PC|device)\'s clock shows the right time)',
        examples=["Date/time on the device is correct (important for auth tokens)",
                  "The PC's clock shows the right time"])
def clock_ok(lab):
    skew = _device(lab).skew_seconds
    if abs(skew) > 300:
        raise StepFailed(f"The PC's clock is off by {skew:+.0f} s (more than 5 minutes).")


@phrase("then", r'(?:[Cc]heck (?:the )?MDM user scope in ' + ENTRA + r'|[Tt]he user (?:is in|falls inside) (?:the )?'
                r'(?:Intune )?MDM user scope|Intune auto-enrollment (?:is )?configured(?: in Entra/Intune)?)',
        examples=["Check MDM user scope in Entra", "Intune auto-enrollment configured in Entra/Intune",
                  "The user falls inside the Intune MDM user scope"])
def mdm_scope_check(lab):
    from emulator.world import policy
    from emulator.world.models import INTUNE_APP_ID

    user = actor_user(lab)
    if not policy.in_mdm_scope(lab.tenant, user):
        scope = (lab.tenant.mdm_policies.get(INTUNE_APP_ID) or {}).get("appliesTo", "none")
        raise StepFailed(f"{user.user_principal_name} is not in the MDM user scope of Microsoft Intune "
                         f"(scope: {scope}).")


@phrase("then", r'(?:[Cc]onfirm (?:that )?)?(?:the )?user is licensed for Intune(?:/EMS)?',
        examples=["Confirm user is licensed for Intune/EMS"])
def licensed_check(lab):
    from emulator.world import policy

    user = actor_user(lab)
    if not policy.has_intune_license(user):
        raise StepFailed(f"{user.user_principal_name} has no licence that includes Intune "
                         f"(licences: {', '.join(user.licenses) or 'none'}).")


@phrase("then", r'(?:MFA (?:is )?ready for the user(?: account)?|[Tt]he user has a second factor(?: \(MFA\))? '
                r'registered)',
        examples=["MFA ready for the user account", "The user has a second factor (MFA) registered"])
def mfa_ready(lab):
    user = actor_user(lab)
    if not user.mfa_methods:
        raise StepFailed(f"{user.user_principal_name} has no MFA method registered.")


# -- examples for the lead's phrasings (docs/steps.md and suggestions use them) ---------------------

LEAD_EXAMPLES = {
    "a_tenant": ['Given a Microsoft Entra tenant "Contoso" with the domain "contoso.com"'],
    "a_user": ['Given a licensed user "adele.vance@contoso.com" with the password "Blue-Harbor-42"'],
    "user_without_mfa": ['Given the user "adele.vance@contoso.com" has no MFA method registered'],
    "per_user_mfa": ['Given the user "adele.vance@contoso.com" has per-user MFA enforced'],
    "no_intune_licence": ['Given the user "adele.vance@contoso.com" is not licensed for Intune'],
    "user_role": ['Given the user "adele.vance@contoso.com" is a Cloud Device Administrator'],
    "user_disabled": ['Given the user "adele.vance@contoso.com" is disabled'],
    "users_may_join": ['Given "Users may join devices to Microsoft Entra ID" is "None"'],
    "device_quota": ["Given the maximum number of devices per user is 20"],
    "mfa_to_join": ['Given "Require multifactor authentication to register or join devices" is "Yes"'],
    "existing_devices": ['Given the user "adele.vance@contoso.com" already has 20 devices'],
    "mdm_scope": ['Given the MDM user scope is "None"'],
    "a_pc": ["Given a Windows 11 PC that is not joined", "Given a Windows 11 PC running 21H2"],
    "clock_skew": ["Given the PC's clock is 10 minutes ahead"],
    "no_network": ["Given the PC has no internet access"],
    "open_settings": ["When I open Settings", "Open Settings"],
    "click_known": ["When I go to Accounts", "Select Access work or school", "Click Connect", "Choose Other user"],
    "click_quoted": ['When I click "Restart now"'],
    "select_connected_account": ["Select the connected Entra account"],
    "enter_email": ['When I enter the email "adele.vance@contoso.com"'],
    "enter_password": ['When I enter the password "Blue-Harbor-42"'],
    "approve_mfa": ["When I approve the sign-in request"],
    "deny_mfa": ["When I deny the sign-in request"],
    "password_and_mfa": ['When I complete password and MFA prompts for "adele.vance@contoso.com"'],
    "join_as": ['When I join this device to Microsoft Entra ID as "adele.vance@contoso.com"'],
    "restart": ["When I restart the device", "Restart the device if prompted"],
    "sign_in": ['When I sign in as "adele.vance@contoso.com" using Other user'],
    "run_command": ['When I run "dsregcmd /status"', "When I open Command Prompt and run dsregcmd /status"],
    "disconnect": ["When I disconnect the device from the organization"],
    "i_see": ['Then I see "You\'re all set!"'],
    "error_code": ['Then the error code shown is "801c0003"'],
    "output_shows": ['Then the output shows "AzureAdJoined : YES"', "Look for AzureAdJoined : YES"],
    "connected_account": ["Then the connected account appears under Access work or school"],
    "device_in_entra": ["Then the device is listed in Microsoft Entra ID as Microsoft Entra joined"],
    "device_not_in_entra": ["Then the device is no longer in Microsoft Entra ID"],
    "device_in_intune": ["Device appears in Intune admin center"],
    "device_not_in_intune": ["Then the device does not appear in Intune"],
    "info_button": ["Then the Info button is shown"],
}


def _fill_lead_examples() -> None:
    from .registry import REGISTRY

    for sd in REGISTRY:
        if not sd.examples and sd.func.__name__ in LEAD_EXAMPLES:
            sd.examples.extend(LEAD_EXAMPLES[sd.func.__name__])


_fill_lead_examples()

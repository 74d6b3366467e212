"""Steps for the failure-mode features: play a scenario's join, check the symptom on the PC, in
dsregcmd and in the admin's logs, apply the scenario's fix and check the repaired state.

They build on `Given the scenario "<name>"` (steps/vocabulary_steps.py), which loads the scenario
file into the lab.
"""

from .check_steps import _graph
from .lab import StepFailed
from .registry import phrase

Q = r'"(?P<{}>[^"]+)"'


def _scenario(lab):
    if lab.scenario is None:
        raise StepFailed('No scenario is loaded: start with Given the scenario "<name>".')
    return lab.scenario


def _actor(lab):
    s = _scenario(lab)
    fixed = getattr(lab, "fixed_actor", None)
    return fixed or s.actor


@phrase("when", r'the user (?:tries to join|joins) (?:the|this) (?:PC|device)(?: to Microsoft Entra ID)?'
                r'(?: as the scenario describes)?',
        examples=["When the user tries to join the PC as the scenario describes"])
def scenario_join(lab):
    actor = _actor(lab)
    device = lab.ensure_device()
    if getattr(actor, "join_method", "join") == "register":   # the email box + Next: registration
        device.register(actor.upn, actor.password, mfa=actor.mfa_choice)
    else:
        device.join(actor.upn, actor.password, mfa=actor.mfa_choice)


@phrase("when", r'the user restarts the (?:PC|device) and signs in(?: with the Entra account)?',
        examples=["When the user restarts the PC and signs in with the Entra account"])
def scenario_restart_sign_in(lab):
    actor = _actor(lab)
    device = lab.ensure_device()
    if not device.joined:
        return
    device.restart()
    device.sign_in(actor.upn, actor.password)
    if device.signed_in_user != actor.upn:  # Windows refused: the local administrator looks instead
        device.click("Back")
        device.sign_in(device.local_admin, device.local_accounts[device.local_admin].password)


@phrase("when", r"the admin applies the (?:scenario's )?fix",
        examples=["When the admin applies the scenario's fix"])
def scenario_fix(lab):
    from emulator.scenarios import apply_fix

    result = apply_fix(lab.world, _scenario(lab))
    lab.fixed_actor = result.actor
    device = lab.ensure_device()
    if "clock_skew" in result.device_changes:
        device.skew_seconds = result.device.clock_skew
    if "network" in result.device_changes:
        device.network = result.device.device_network


@phrase("when", r'the user (?:disconnects if needed and )?joins again',
        examples=["When the user disconnects if needed and joins again"])
def scenario_join_again(lab):
    device = lab.ensure_device()
    if device.joined:
        device.disconnect()
    while device.registered:   # a registered work account is removed before joining
        device.disconnect_work_account()
    if device.signed_in_user is None or device.screen.name not in ("desktop",):
        if device.screen.name in ("windows_signin", "windows_signin_user", "restart_prompt"):
            if device.screen.name == "restart_prompt":
                device.restart()
            device.sign_in(device.local_admin, device.local_accounts[device.local_admin].password)
    scenario_join(lab)
    scenario_restart_sign_in(lab)


@phrase("then", r'Settings shows the error code ' + Q.format("code"),
        examples=['Then Settings shows the error code "801c0003"'])
def settings_code(lab, code):
    screen = lab.ensure_device().screen
    shown = [screen.title, *screen.lines]
    if not any(code.lower() in (s or "").lower() for s in shown):
        raise StepFailed(f"Settings does not show {code}; the screen {screen.title!r} says: {shown}")


@phrase("then", r'the sign-in page shows AADSTS(?P<code>\d+)',
        examples=["Then the sign-in page shows AADSTS50126"])
def signin_page_code(lab, code):
    device = lab.ensure_device()
    screen = device.screen
    shown = [screen.title, *screen.lines]
    # Some pages show only friendly text (a wrong password); the code is then in the page's
    # troubleshooting details, which the device keeps as its last error.
    details = str(getattr(device, "last_error", "") or "")
    if not any(f"AADSTS{code}" in (s or "") for s in shown) and f"AADSTS{code}" not in details:
        raise StepFailed(f"The sign-in page does not show AADSTS{code}: {shown} (details: {details[:200]!r})")


@phrase("then", r'the (?:device|PC) is (?P<neg>not )?joined',
        examples=["Then the device is not joined", "Then the device is joined"])
def is_joined(lab, neg=None):
    joined = lab.ensure_device().joined
    if bool(neg) == joined:
        raise StepFailed(f"The device is {'joined' if joined else 'not joined'}.")


@phrase("then", r'the (?:device|PC) is (?P<neg>not )?enrolled in Intune',
        examples=["Then the device is enrolled in Intune", "Then the device is not enrolled in Intune"])
def is_enrolled(lab, neg=None):
    enrolled = bool(lab.ensure_device().mdm_enrolled)
    if bool(neg) == enrolled:
        raise StepFailed(f"The device is {'enrolled' if enrolled else 'not enrolled'} in Intune.")


@phrase("then", r'the admin sees error (?P<code>\d+) in the sign-in log',
        examples=["Then the admin sees error 50126 in the sign-in log"])
def sign_in_log_error(lab, code):
    rows = _graph(lab, "/v1.0/auditLogs/signIns")["value"]
    codes = [r["status"]["errorCode"] for r in rows]
    if int(code) not in codes:
        raise StepFailed(f"The sign-in log has no entry with error {code}; it has {codes}.")


@phrase("then", r'the admin sees ' + Q.format("activity") + r' in the audit log',
        examples=['Then the admin sees "Register device" in the audit log'])
def audit_log(lab, activity):
    rows = _graph(lab, "/v1.0/auditLogs/directoryAudits")["value"]
    names = [r["activityDisplayName"] for r in rows]
    if activity not in names:
        raise StepFailed(f"The audit log has no {activity!r}; it has {sorted(set(names))}.")


@phrase("then", r'portal\.office\.com sign-in (?:succeeds|works)',
        examples=["Then portal.office.com sign-in succeeds"])
def portal_ok(lab):
    from emulator.device.browser import portal_sign_in

    actor = _actor(lab)
    said = portal_sign_in(lab.ensure_device(), actor.upn, actor.password, mfa=actor.mfa_choice)
    if said != "ok":
        raise StepFailed(f"portal.office.com says: {said}")


@phrase("then", r'portal\.office\.com sign-in fails with AADSTS(?P<code>\d+)',
        examples=["Then portal.office.com sign-in fails with AADSTS53000"])
def portal_fails(lab, code):
    from emulator.device.browser import portal_sign_in

    actor = _actor(lab)
    said = portal_sign_in(lab.ensure_device(), actor.upn, actor.password, mfa=actor.mfa_choice)
    if f"AADSTS{code}" not in said:
        raise StepFailed(f"portal.office.com says: {said}")



"""`entra-emu demo <scenario>`: a failure mode told the way a trainer shows it.

1. the set-up in one paragraph; 2. what the user does and sees (the Settings screens); 3. what
`dsregcmd /status` says; 4. what the admin sees (sign-in and audit logs); 5. the diagnosis; 6. the
fix, applied as an admin (or at the PC) would; 7. the state after the fix. The outcome is compared
with the scenario's expectations and the exit status says whether both matched.
"""
from __future__ import annotations

from .demo import show_admin_view, walk_join
from .device.browser import portal_sign_in
from .device.windows import WindowsDevice
from .scenarios import apply_fix, find_scenario, load_scenario
from .transport.direct import DirectSession
from .world.world import World

KEY_LINES = ("AzureAdJoined", "DomainJoined", "WorkplaceJoined", "WorkAccountCount", "DeviceAuthStatus", "MdmUrl",
             "AzureAdPrt ", "AzureAdPrt:",
             "AcquirePrtDiagnostics", "Attempt Status", "Server Error Code", "Server Error Description",
             "Credential Type", "HTTP Error")


def _key_lines(dsreg: str) -> list[str]:
    out = []
    for ln in dsreg.splitlines():
        label = ln[:26].strip()
        if any(label == k.strip().rstrip(":") for k in KEY_LINES):
            out.append(ln)
    return out


def _outcome(device: WindowsDevice) -> dict:
    screen = device.screen
    code = None
    for text in [screen.title, *screen.lines]:
        for word in (text or "").replace(".", " ").split():
            if len(word) == 8 and word[:4] in ("801c", "8018", "8007"):
                code = word
    return {"joined": device.joined, "enrolled": device.mdm_enrolled, "code": code}


def _check(n, label: str, expect, device: WindowsDevice, dsreg: str, portal: str | None) -> bool:
    got = _outcome(device)
    problems = []
    if got["joined"] != expect.joined:
        problems.append(f"joined is {got['joined']}, expected {expect.joined}")
    if expect.enrolled is not None and bool(got["enrolled"]) != expect.enrolled:
        problems.append(f"enrolled is {bool(got['enrolled'])}, expected {expect.enrolled}")
    if expect.settings_error_code and got["code"] != expect.settings_error_code:
        problems.append(f"Settings shows code {got['code']}, expected {expect.settings_error_code}")
    norm = {" ".join(ln.split()) for ln in dsreg.splitlines()}
    for line in expect.dsregcmd:
        want = " ".join(line.split())
        if not any(x == want or x.startswith(want) for x in norm):
            problems.append(f"dsregcmd has no line '{line}'")
    if expect.office_portal is not None and portal is not None:
        want = "ok" if expect.office_portal == "ok" else f"AADSTS{expect.office_portal}"
        if not portal.startswith(want) and want not in portal:
            problems.append(f"the Office portal said {portal!r}, expected {want}")
    if problems:
        n.say(f"{label}: does NOT match the scenario: " + "; ".join(problems), fg="red", bold=True)
        return False
    n.say(f"{label}: matches the scenario file.", fg="green")
    return True


def _attempt(n, world, scenario, settings, actor, *, seed, show_screens: bool):
    device = WindowsDevice(DirectSession(world), clock=world.clock, seed=seed, **settings.device_kwargs())
    method = getattr(actor, "join_method", "join")
    ok = walk_join(n, device, actor.upn, actor.password, mfa=actor.mfa_choice, show=show_screens, method=method)
    if ok:
        n.action("Restart the PC, choose Other user and sign in with the Entra account")
        device.restart()
        device.sign_in(actor.upn, actor.password)
        if show_screens or device.signed_in_user != actor.upn:
            n.screen(device.screen)
        if device.signed_in_user != actor.upn:
            n.action(f"Back, and sign in with the local administrator account {device.local_admin} instead")
            device.click("Back")
            device.sign_in(device.local_admin, device.local_accounts[device.local_admin].password)
    elif method == "register" and device.registered:
        n.say("The device is registered, not joined: nothing to restart for.", fg="red")
    else:
        n.say("The join did not complete.", fg="red")
    return device


def run_scenario_demo(name: str, *, seed: str = "0", narrator=None, show_screens: bool = True) -> int:
    from .narrator import Narrator

    n = narrator or Narrator()
    try:
        path = find_scenario(name)
    except Exception as exc:  # unknown name: say which exist
        n.say(str(exc), fg="red")
        return 2
    world = World(seed=seed)
    scenario = load_scenario(world, path)
    actor = scenario.actor
    n.heading(f"Scenario: {scenario.name}")
    n.say(scenario.description)
    if scenario.guide_section:
        n.say(f"Guide section: {scenario.guide_section}")

    verb = "connect a work account on" if getattr(actor, "join_method", "join") == "register" else "join"
    n.heading(f"What the user does: {verb} {scenario.device.name} as {actor.upn}")
    device = _attempt(n, world, scenario, scenario.device, actor, seed=seed, show_screens=show_screens)

    n.heading("What dsregcmd /status says (key lines)")
    dsreg = device.run("dsregcmd /status")
    for ln in _key_lines(dsreg):
        n.say(ln)

    portal = None
    if scenario.expect.office_portal is not None:
        n.heading("Isolation step: sign in to portal.office.com from the same PC")
        portal = portal_sign_in(device, actor.upn, actor.password, mfa=actor.mfa_choice)
        n.say("The portal sign-in succeeds: the account itself is fine." if portal == "ok"
              else f"The portal sign-in fails too: {portal}")

    show_admin_view(n, world, scenario.tenant, device)
    first_ok = _check(n, "Symptom", scenario.expect, device, dsreg, portal)

    n.heading("Diagnosis")
    n.say(" ".join(scenario.diagnosis.split()))

    n.heading("The fix")
    n.say(" ".join(scenario.fix_description.split()))
    result = apply_fix(world, scenario)
    for step in result.applied:
        n.action(step)

    n.heading("After the fix: disconnect if needed, restart and join again")
    if device.joined:
        device.disconnect()
    while device.registered:
        n.action("Disconnect the work or school account (Access work or school > the account > Disconnect > Yes)")
        device.disconnect_work_account()
    device2 = _attempt(n, world, scenario, result.device, result.actor, seed=f"{seed}-after", show_screens=False)
    dsreg2 = device2.run("dsregcmd /status")
    for ln in _key_lines(dsreg2):
        n.say(ln)
    portal2 = None
    if scenario.expect_after_fix.office_portal is not None:
        portal2 = portal_sign_in(device2, result.actor.upn, result.actor.password, mfa=result.actor.mfa_choice)
        n.say(f"portal.office.com sign-in: {portal2}")
    second_ok = _check(n, "After the fix", scenario.expect_after_fix, device2, dsreg2, portal2)
    return 0 if first_ok and second_ok else 1

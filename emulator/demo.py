"""`entra-emu demo`: the join lifecycle narrated screen by screen, for trainers.

Without a scenario it plays the guide's happy path. With one, it plays the scenario's symptom,
shows what the user, dsregcmd and the admin see, the diagnosis, applies the fix, and shows the
state after the fix.
"""
from __future__ import annotations

from typing import Any

from .device.windows import WindowsDevice
from .transport.direct import DirectSession
from .world.world import World

DEMO_PASSWORD = "Blue-Harbor-42"


def _do(n, device, text: str, fn, *args, show: bool = True) -> None:
    n.action(text)
    fn(*args)
    if show:
        n.screen(device.screen)


def walk_join(n, device: WindowsDevice, upn: str, password: str, *, mfa: str = "approve", show: bool = True,
              method: str = "join") -> bool:
    """Drive the Settings join dialogs one screen at a time. Returns True when the join completed.

    method="register" takes the runbook mistake's path instead: the email typed into the set-up
    dialog's own box and Next (Entra registration); that never joins, so it returns False."""
    _do(n, device, "Open Settings", device.open_settings, show=False)
    _do(n, device, "Go to Accounts", device.click, "Accounts", show=False)
    _do(n, device, "Select Access work or school", device.click, "Access work or school", show=show)
    _do(n, device, "Click Connect", device.click, "Connect", show=show)
    if method == "register":
        n.action(f"Type the email {upn} into the '{device.labels['email_field']}' box and click Next "
                 f"(instead of '{device.labels['join_link']}')")
        device.type(upn, into=device.labels["email_field"])
    else:
        _do(n, device, f"Select {device.labels['join_link']}", device.click, device.labels["join_link"], show=show)
        n.action(f"Enter the email {upn} and click Next")
        device.type(upn)
    device.click("Next")
    if show:
        n.screen(device.screen)
    if device.screen.name == "signin_password":
        n.action("Enter the password and click Sign in")
        device.type(password)
        device.click("Sign in")
        if show or device.screen.name in ("error", "signin_error"):
            n.screen(device.screen)
    if device.screen.name == "mfa":
        if mfa == "approve":
            _do(n, device, "Approve the sign-in request in Microsoft Authenticator", device.approve_mfa, show=show)
        else:
            _do(n, device, "Deny the sign-in request", device.deny_mfa, show=True)
    elif device.screen.name == "proofup":
        _do(n, device, "Click Next to set up Microsoft Authenticator", device.click, "Next", show=True)
    if device.screen.name == "confirm_org":
        _do(n, device, "Click Join", device.click, "Join", show=True)
    if device.screen.name == "all_set":
        _do(n, device, "Click Done", device.click, "Done", show=False)
        return True
    if method == "register" and device.screen.name == "access_work_or_school" and device.registered:
        n.say("The dialog closes without \"You're all set!\" and without a restart prompt; Access work or "
              "school now lists the account as a work or school account (Entra registered, not joined).")
        if not show:
            n.screen(device.screen)
        return False
    if device.screen.name not in ("error", "signin_error"):
        n.screen(device.screen)
    return False


def _setup_happy(world: World) -> dict[str, Any]:
    tenant = world.create_tenant("Contoso", "contoso.com")
    user = world.add_user(tenant, "adele.vance@contoso.com", password=DEMO_PASSWORD, display_name="Adele Vance")
    # Microsoft's recommended set-up: a Conditional Access policy asking for MFA on the
    # "Register or join devices" user action, so the join shows the MFA prompt.
    tenant.conditional_access_policies.append({
        "id": world.ids.guid(), "displayName": "Require MFA to register or join devices", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]},
                       "applications": {"includeUserActions": ["urn:user:registerdevice"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})
    return {"tenant": tenant, "user": user, "password": DEMO_PASSWORD, "device": {}}


#: The admin center's "Join type" column for each Graph trustType.
_TRUST_LABELS = {"AzureAd": "Microsoft Entra joined", "Workplace": "Microsoft Entra registered",
                 "ServerAd": "Microsoft Entra hybrid joined"}


def show_admin_view(n, world: World, tenant, device: WindowsDevice) -> None:
    """What the admin sees in the Entra and Intune admin centers (read from the world's Graph shapes)."""
    n.heading("What the admin sees")
    devs = [d for d in tenant.devices.values() if d.display_name == device.name]
    if devs:
        d = devs[0]
        n.say(f"Entra ID > Devices: {d.display_name}  join type: "
              f"{_TRUST_LABELS.get(d.trust_type, d.trust_type)} (trustType {d.trust_type})"
              f"  enabled: {d.account_enabled}"
              f"  MDM: {'Microsoft Intune' if d.is_managed else 'None'}")
    else:
        n.say(f"Entra ID > Devices: no device named {device.name}")
    managed = [m for m in tenant.managed_devices.values() if m.device_name == device.name]
    n.say(f"Intune > Devices: {device.name} enrolled {managed[0].enrolled:%Y-%m-%d %H:%M} UTC, "
          f"compliance {managed[0].compliance_state}" if managed else f"Intune > Devices: {device.name} not listed")
    for s in tenant.sign_ins[-3:]:
        st = s["status"]
        applied = [f"'{p['displayName']}': {p['result']}" for p in s.get("appliedConditionalAccessPolicies") or []
                   if p["result"] not in ("notApplied", "notEnabled")]
        n.say(f"Sign-in log: {s['createdDateTime']} {s['userPrincipalName']} -> {s['resourceDisplayName']}: "
              f"{'Success' if st['errorCode'] == 0 else 'Failure ' + str(st['errorCode'])}"
              f"  (Conditional Access: {s['conditionalAccessStatus']}"
              f"{'; ' + ', '.join(applied) if applied else ''})")
    for a in tenant.directory_audits[-4:]:
        n.say(f"Audit log: {a['activityDateTime']} {a['loggedByService']}: {a['activityDisplayName']} ({a['result']})")


def run_demo(scenario: str | None, *, seed: str = "0", narrator=None, show_screens: bool = True) -> int:
    from .narrator import Narrator

    n = narrator or Narrator()
    if scenario:
        from .scenario_demo import run_scenario_demo

        return run_scenario_demo(scenario, seed=seed, narrator=n, show_screens=show_screens)
    world = World(seed=seed)
    setup = _setup_happy(world)
    tenant, user = setup["tenant"], setup["user"]
    device = WindowsDevice(DirectSession(world), clock=world.clock, seed=seed)
    n.heading(f"Joining {device.name} to {tenant.display_name} as {user.user_principal_name}")
    ok = walk_join(n, device, user.user_principal_name, setup["password"], show=show_screens)
    if not ok:
        n.say("The join did not complete.", fg="red")
        return 1
    n.heading("Restart and sign in with the Entra account")
    n.action("Restart the PC")
    device.restart()
    if show_screens:
        n.screen(device.screen)
    n.action(f"Choose Other user and sign in as {user.user_principal_name}")
    device.sign_in(user.user_principal_name, setup["password"])
    if show_screens:
        n.screen(device.screen)
    n.heading("Verify: dsregcmd /status")
    n.action("dsregcmd /status")
    n.block(device.run("dsregcmd /status"))
    show_admin_view(n, world, tenant, device)
    return 0

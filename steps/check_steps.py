"""Then-steps: what the user, dsregcmd and the admin see."""
import difflib

import requests

from .lab import StepFailed
from .registry import phrase

Q = r'"(?P<{}>[^"]+)"'


def _screen_text(screen) -> list[str]:
    return [screen.title, *screen.lines, *screen.elements]


@phrase("then", r'I (?:should )?see ' + Q.format("text"))
def i_see(lab, text):
    screen = lab.ensure_device().screen
    shown = _screen_text(screen)
    if any(text.lower() in s.lower() for s in shown if s):
        return
    close = difflib.get_close_matches(text, [s for s in shown if s], n=1, cutoff=0.4)
    hint = f" Closest: {close[0]!r}." if close else ""
    raise StepFailed(f"{text!r} is not on the screen {screen.title!r}. On screen: {shown}.{hint}")


@phrase("then", r'the error code (?:shown )?is ' + Q.format("code"))
def error_code(lab, code):
    screen = lab.ensure_device().screen
    if not any(code.lower() in s.lower() for s in _screen_text(screen) if s):
        raise StepFailed(f"The screen {screen.title!r} does not show the code {code}: {_screen_text(screen)}")


@phrase("then", r'(?:the output shows|[Ll]ook for|the output contains|dsregcmd shows) "?(?P<line>[^"]+?)"?'
                 r'(?: \(for cloud-only joined devices\))?')
def output_shows(lab, line):
    if not lab.output:
        raise StepFailed("No command has been run yet: run \"dsregcmd /status\" first.")
    lab.expect_output_line(line)


@phrase("then", r'the connected account appears under Access work or school')
def connected_account(lab):
    device = lab.ensure_device()
    accounts = device.connected_accounts()
    if not accounts:
        raise StepFailed("Access work or school lists no connected account.")


@phrase("then", r'the (?:device|PC) (?:appears|is listed) in (?:Microsoft Entra ID|Entra ID)'
                 r'(?: as (?P<trust>Microsoft Entra joined|Microsoft Entra registered))?')
def device_in_entra(lab, trust=None):
    device = lab.ensure_device()
    rows = _graph(lab, f"/v1.0/devices?$filter=deviceId eq '{device.device_id}'")["value"]
    if not rows:
        raise StepFailed(f"Graph /devices has no device with deviceId {device.device_id}.")
    want = {"Microsoft Entra joined": "AzureAd", "Microsoft Entra registered": "Workplace"}.get(trust or "", None)
    if want and rows[0]["trustType"] != want:
        raise StepFailed(f"The device's trustType is {rows[0]['trustType']!r}, not {want!r}.")


@phrase("then", r'the (?:device|PC) is (?:no longer|not) (?:listed )?in (?:Microsoft Entra ID|Entra ID)')
def device_not_in_entra(lab):
    name = lab.ensure_device().name
    rows = _graph(lab, f"/v1.0/devices?$filter=displayName eq '{name}'")["value"]
    if rows:
        raise StepFailed(f"Graph /devices still lists {name} (deviceId {rows[0]['deviceId']}).")


@phrase("then", r'(?:the )?[Dd]evice appears in (?:the )?Intune(?: admin center)?')
def device_in_intune(lab):
    device = lab.ensure_device()
    rows = _graph(lab, "/v1.0/deviceManagement/managedDevices")["value"]
    if not any(r.get("azureADDeviceId") == device.device_id for r in rows):
        names = [r.get("deviceName") for r in rows]
        raise StepFailed(f"Intune lists no managed device for {device.name}; it lists {names or 'nothing'}.")


@phrase("then", r'the (?:device|PC) does not appear in Intune')
def device_not_in_intune(lab):
    device = lab.ensure_device()
    rows = _graph(lab, "/v1.0/deviceManagement/managedDevices")["value"]
    if any(r.get("deviceName") == device.name for r in rows):
        raise StepFailed(f"Intune lists {device.name}.")


@phrase("then", r'the Info button (?P<neg>is not|is) shown')
def info_button(lab, neg):
    device = lab.ensure_device()
    device.open_settings()
    device.click("Accounts")
    device.click("Access work or school")
    device.select_connected_account()
    present = "Info" in device.screen.elements
    if neg == "is" and not present:
        raise StepFailed(f"No Info button; the account shows {device.screen.elements}.")
    if neg == "is not" and present:
        raise StepFailed("The Info button is shown.")


def _graph(lab, path: str) -> dict:
    """Read Graph as the tenant's administrator would (through HTTP, with a real token)."""
    token = _admin_token(lab)
    r = requests.get("https://graph.microsoft.com" + path, headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 200:
        raise StepFailed(f"Graph {path} answered {r.status_code}: {r.text[:300]}")
    return r.json()


def _admin_token(lab) -> str:
    """An app-only token of the harness's own admin app (client credentials): what an admin tool
    reads the tenant with. Conditional Access for users does not apply to it, so a scenario whose
    policies lock users out still lets the harness look."""
    cached = getattr(lab, "_admin_token", None)
    if cached:
        return cached
    app = next((a for a in lab.tenant.applications.values() if a.display_name == "entra-emu harness"), None)
    if app is None:
        app = lab.world.add_application(lab.tenant, "entra-emu harness", secret="harness-secret", app_roles=[
            "Device.Read.All", "Directory.Read.All", "AuditLog.Read.All", "DeviceManagementManagedDevices.Read.All",
            "Policy.Read.All"])
    r = requests.post(f"https://login.microsoftonline.com/{lab.tenant.id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app.app_id, "client_secret": "harness-secret",
        "scope": "https://graph.microsoft.com/.default"})
    if r.status_code != 200:
        raise StepFailed(f"Could not get the harness's admin token: {r.text[:300]}")
    lab._admin_token = r.json()["access_token"]
    return lab._admin_token

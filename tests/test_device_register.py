"""Entra *registration* from Settings: the email typed into "Set up a work or school account" and
Next (instead of the join link). DRS JoinType 4, trustType Workplace, the work account listed under
Access work or school, dsregcmd's Work Account section, Disconnect, and joining afterwards."""
import json

import pytest
import requests

from emulator.device import ElementNotFound, WindowsDevice, screens
from emulator.device.crypto import jwt_claims
from emulator.device.dsregcmd import LABEL_WIDTH, parse_status
from emulator.scenarios import apply_fix, load_scenario
from emulator.scenarios.loader import read_scenario
from emulator.scenarios.schema import ScenarioError, validate
from emulator.transport.direct import DirectSession

PASSWORD = "P@ssw0rd!"
UPN = "adele.vance@contoso.com"
DRS_URN = "urn:ms-drs:enterpriseregistration.windows.net"


@pytest.fixture
def tenant(entra_world):
    return entra_world.create_tenant("Contoso", "contoso.com")


@pytest.fixture
def user(entra_world, tenant):
    return entra_world.add_user(tenant, UPN, display_name="Adele Vance", password=PASSWORD)


@pytest.fixture
def device(entra_world):
    return WindowsDevice(DirectSession(entra_world), clock=entra_world.clock)


def _devices(tenant):
    return sorted((d.trust_type, d.join_type) for d in tenant.devices.values())


# -- screens ---------------------------------------------------------------------------------------

def test_email_box_next_signs_in_and_lists_the_work_account(device, tenant, user):
    device.go_to("Access work or school")
    device.click("Connect")
    device.type(UPN, into="Email address")
    s = device.click("Next")
    assert s.name == "signin_password" and s.lines[0] == UPN   # the same web sign-in pages as the join
    device.type(PASSWORD)
    s = device.click("Sign in")
    # no "Make sure this is your organization", no "You're all set!", no restart prompt
    assert s.name == "access_work_or_school", s.text()
    assert "Work or school account" in s.lines and UPN in s.lines
    assert not any("Connected to" in ln for ln in s.lines)
    assert not device.pending_restart and not device.joined and device.registered
    assert device.signed_in_user == device.local_admin
    s = device.click("Work or school account")
    assert "Disconnect" in s.elements and "Info" not in s.elements   # not MDM-enrolled
    s = device.click(UPN)                                               # collapses again
    assert "Disconnect" not in s.elements


def test_register_action_returns_access_work_or_school(device, tenant, user):
    s = device.register(UPN, PASSWORD)
    assert s.name == "access_work_or_school"
    assert device.connected_accounts() == [{"caption": "Work or school account", "upn": UPN,
                                            "tenant_id": tenant.id, "tenant_name": "Contoso",
                                            "managed": False, "kind": "registered"}]
    device.go_to("Settings")
    assert device.select_connected_account().elements[-1] == "Disconnect"


@pytest.mark.parametrize("release", sorted(screens.LABELS))
def test_registered_caption_in_every_release(release):
    assert screens.labels_for(release)["registered_caption"] == "Work or school account"


def test_wrong_password_keeps_the_registration_path(device, tenant, user):
    device.go_to("Access work or school")
    device.click("Connect")
    device.type(UPN, into="Email address")
    device.click("Next")
    device.type("nope")
    s = device.click("Sign in")
    assert s.name == "signin_password" and len(s.lines) == 2
    device.type(PASSWORD)
    s = device.click("Sign in")
    assert s.name == "access_work_or_school" and device.registered and not device.joined
    # Back from the password page goes to the email page, still registering
    device.disconnect_work_account()
    device.go_to("Access work or school")
    device.click("Connect")
    device.type(UPN, into="Email address")
    device.click("Next")
    device.click("Back")
    assert device.screen.name == "signin_email"
    device.click("Next")
    device.type(PASSWORD)
    assert device.click("Sign in").name == "access_work_or_school" and device.registered


def test_mfa_prompt_on_the_registration_path(entra_world, device, tenant, user):
    tenant.device_registration_policy["multiFactorAuthConfiguration"] = "required"
    device.go_to("Access work or school")
    device.click("Connect")
    device.type(UPN, into="Email address")
    device.click("Next")
    device.type(PASSWORD)
    assert device.click("Sign in").name == "mfa"
    s = device.click("Approve")
    assert s.name == "access_work_or_school" and device.registered, s.text()
    assert _devices(tenant) == [("Workplace", 4)]


def test_registration_refused_by_policy_shows_the_error_page(device, tenant, user):
    tenant.device_registration_policy["azureADRegistration"] = {
        "allowedToRegister": {"@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"}}
    s = device.register(UPN, PASSWORD)
    assert s.name == "error" and "801c03ed" in " ".join(s.lines).lower()
    assert not device.registered and tenant.devices == {}


def test_same_account_twice_is_refused_locally(device, tenant, user):
    device.register(UPN, PASSWORD)
    n = len(device.http_log)
    device.go_to("Access work or school")
    device.click("Connect")
    device.type(UPN, into="Email address")
    s = device.click("Next")
    assert s.name == "setup_work_account" and "This account is already connected to this PC." in s.lines
    assert len(device.http_log) == n and len(device.work_accounts) == 1


# -- the wire: JoinType 4 with a DRS token, from pool keys -------------------------------------------

def test_drs_join_type_4_request(entra_world, tenant, user, entra_mock):
    seen = []
    sess = requests.Session()
    sess.hooks["response"].append(lambda r, *a, **k: seen.append(r.request))
    d = WindowsDevice(sess, clock=entra_world.clock)
    d.register(UPN, PASSWORD)
    token_req = next(r for r in seen if r.method == "POST" and r.url.endswith("/oauth2/token"))
    assert "resource=urn%3Ams-drs%3Aenterpriseregistration.windows.net" in token_req.body
    post = next(r for r in seen if r.method == "POST" and "/EnrollmentServer/device/" in r.url)
    body = json.loads(post.body)
    assert body["JoinType"] == 4 and body["DeviceType"] == "Windows" and body["DeviceDisplayName"] == d.name
    assert body["TargetDomain"] == "contoso.com" and body["CertificateRequest"]["Type"] == "pkcs10"
    claims = jwt_claims(post.headers["Authorization"].split(" ", 1)[1])
    assert claims["aud"] == DRS_URN and claims["upn"].lower() == UPN
    assert post.headers["User-Agent"].startswith("Dsreg/10.0 (Windows ")
    # two pool keys (device + transport) per work account; no key generation
    assert d._keys_taken == 2
    acct = d.work_accounts[0]
    assert acct.device_key is not acct.transport_key
    assert tenant.device_by_device_id(acct.device_id).cert_thumbprint == acct.thumbprint


def test_graph_lists_the_device_as_workplace(entra_world, tenant, user, entra_mock):
    d = WindowsDevice(requests.Session(), clock=entra_world.clock)
    d.register(UPN, PASSWORD)
    app = entra_world.add_application(tenant, "Inventory", secret="s3cret", app_roles=["Device.Read.All"])
    tok = requests.post(f"https://login.microsoftonline.com/{tenant.id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app.app_id, "client_secret": "s3cret",
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    r = requests.get(f"https://graph.microsoft.com/v1.0/devices?$filter=deviceId eq '{d.device_id}'",
                     headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200
    rows = r.json()["value"]
    assert len(rows) == 1 and rows[0]["trustType"] == "Workplace" and rows[0]["displayName"] == d.name
    assert d.device_id == d.work_accounts[0].device_id and d.join_state is None


# -- dsregcmd ---------------------------------------------------------------------------------------

def test_dsregcmd_work_account_section(device, tenant, user):
    device.register(UPN, PASSWORD)
    text = device.dsregcmd_status()
    f = parse_status(text)
    assert f["AzureAdJoined"] == "NO" and f["WorkplaceJoined"] == "YES" and f["WorkAccountCount"] == "1"
    assert f["AzureAdPrt"] == "NO" and f["AzureAdPrtAuthority"] == "NO"
    assert "Device Details" not in text and "Tenant Details" not in text and "Diagnostic Data" not in text
    lines = text.split("\n")
    titles = [ln[2:].rstrip(" |") for ln in lines if ln.startswith("| ")]
    assert titles == ["Device State", "User State", "SSO State", "Work Account 1",
                      "IE Proxy Config for Current User", "WinHttp Default Proxy Config", "Ngc Prerequisite Check"]
    user_state = lines[lines.index("| User State".ljust(71) + "|") + 3:]
    assert user_state[:4] == ["                    NgcSet : NO", "           WorkplaceJoined : YES",
                              "          WorkAccountCount : 1", "             WamDefaultSet : NO"]
    i = lines.index("| Work Account 1".ljust(71) + "|")
    assert lines[i - 1] == lines[i + 1] == "+" + "-" * 70 + "+" and lines[i + 2] == ""
    rows = lines[i + 3:i + 14]
    acct = device.work_accounts[0]
    assert [r[:LABEL_WIDTH].strip() for r in rows] == [
        "WorkplaceDeviceId", "WorkplaceThumbprint", "DeviceCertificateValidity", "KeyContainerId", "KeyProvider",
        "TpmProtected", "WorkplaceTenantId", "WorkplaceTenantName", "WorkplaceMdmUrl", "WorkplaceSettingsUrl",
        "NgcSet"]
    assert all(r[LABEL_WIDTH:LABEL_WIDTH + 2] == " :" and r[:LABEL_WIDTH] == r[:LABEL_WIDTH].strip().rjust(26)
               for r in rows)
    assert rows[0] == f"         WorkplaceDeviceId : {acct.device_id}"
    assert rows[1] == f"       WorkplaceThumbprint : {acct.thumbprint}"
    assert rows[2].startswith(" DeviceCertificateValidity : [ ") and rows[2].endswith(" UTC ]")
    assert rows[4] == "               KeyProvider : Microsoft Platform Crypto Provider"
    assert rows[5] == "              TpmProtected : YES"
    assert rows[6] == f"         WorkplaceTenantId : {tenant.id}"
    assert rows[7] == "       WorkplaceTenantName : Contoso"
    assert rows[8] == "           WorkplaceMdmUrl :" and rows[9] == "      WorkplaceSettingsUrl :"
    assert rows[10] == "                    NgcSet : NO" and lines[i + 14] == ""


def test_work_accounts_are_per_profile(device, tenant, user):
    device.register(UPN, PASSWORD)
    device.local_accounts["Helper"] = type(device.local_accounts[device.local_admin])("Helper", "Help-1234")
    device.sign_in("Helper", "Help-1234")
    assert device.signed_in_user == "Helper"
    assert parse_status(device.dsregcmd_status())["WorkplaceJoined"] == "NO"
    assert device.go_to("Access work or school").lines[-1] == "Add a work or school account"


# -- Disconnect ---------------------------------------------------------------------------------------

def test_disconnect_unregisters_with_the_work_account_certificate(entra_world, tenant, user, entra_mock):
    seen = []
    sess = requests.Session()
    sess.hooks["response"].append(lambda r, *a, **k: seen.append(r))
    d = WindowsDevice(sess, clock=entra_world.clock)
    d.register(UPN, PASSWORD)
    acct = d.work_accounts[0]
    d.go_to("Access work or school")
    d.click("Work or school account")
    s = d.click("Disconnect")
    assert s.name == "disconnect_confirm" and s.title == "Are you sure you want to remove this account?"
    s = d.click("Yes")
    assert s.name == "access_work_or_school" and not d.pending_restart   # no restart prompt
    delete = [r for r in seen if r.request.method == "DELETE"]
    assert len(delete) == 1 and delete[0].status_code == 200
    assert delete[0].request.url.split("?")[0].endswith(f"/EnrollmentServer/device/{acct.device_id}")
    assert "Authorization" not in delete[0].request.headers
    assert tenant.devices == {} and not d.registered and d.work_accounts == []
    f = parse_status(d.dsregcmd_status())
    assert f["WorkplaceJoined"] == "NO" and "WorkAccountCount" not in f
    assert "Work Account 1" not in d.dsregcmd_status()
    audits = [a["activityDisplayName"] for a in tenant.directory_audits]
    assert "Unregister device" in audits


def test_disconnect_no_keeps_the_account(device, tenant, user):
    device.register(UPN, PASSWORD)
    device.go_to("Access work or school")
    device.click(UPN)
    device.click("Disconnect")
    s = device.click("No")
    assert s.name == "access_work_or_school" and "Disconnect" in s.elements and device.registered


def test_disconnect_work_account_without_one(device):
    with pytest.raises(ElementNotFound):
        device.disconnect_work_account()


# -- register, then join -------------------------------------------------------------------------------

def test_register_then_join(device, tenant, user):
    device.register(UPN, PASSWORD)
    reg_id = device.work_accounts[0].device_id
    # the join link is still offered next to the work account
    device.go_to("Access work or school")
    assert "Join this device to Microsoft Entra ID" in device.click("Connect").elements
    s = device.join(UPN, PASSWORD)
    assert s.title == "You're all set!", s.text()
    # Inferred: the join removes the same tenant's registered account and unregisters it
    assert device.joined and device.work_accounts == []
    assert tenant.device_by_device_id(reg_id) is None
    assert _devices(tenant) == [("AzureAd", 0)]
    device.restart()
    device.sign_in(UPN, PASSWORD)
    f = parse_status(device.dsregcmd_status())
    assert f["AzureAdJoined"] == "YES" and f["WorkplaceJoined"] == "NO" and f["AzureAdPrt"] == "YES"


def test_disconnect_then_join(device, tenant, user):
    device.register(UPN, PASSWORD)
    device.disconnect_work_account(UPN)
    assert device.join(UPN, PASSWORD).title == "You're all set!"
    assert _devices(tenant) == [("AzureAd", 0)]


# -- the scenario pieces ---------------------------------------------------------------------------------

def test_scenario_actor_join_method_and_fix(entra_world):
    s = load_scenario(entra_world, "registered-instead-of-joined")
    assert s.actor.join_method == "register"
    result = apply_fix(entra_world, s)
    assert result.actor.join_method == "join" and result.actor_changes == {"join_method": "join"}
    assert s.actor.join_method == "register"


def test_schema_validates_join_method():
    doc, src = read_scenario("registered-instead-of-joined")
    bad = dict(doc, actor=dict(doc["actor"], join_method="email"))
    with pytest.raises(ScenarioError, match=r"actor\.join_method.*register"):
        validate(bad, src)
    no_register = dict(doc, actor={k: v for k, v in doc["actor"].items() if k != "join_method"})
    with pytest.raises(ScenarioError, match=r"fix\[0\]\.action.*use_join_link"):
        validate(no_register, src)


def test_scenario_demo_takes_the_email_box_path(entra_world, tenant, user):
    from emulator.demo import walk_join

    class Quiet:
        def __init__(self):
            self.said = []

        def action(self, text):
            self.said.append(text)

        say = heading = action

        def screen(self, screen):
            self.said.append(screen.title)

    n = Quiet()
    d = WindowsDevice(DirectSession(entra_world), clock=entra_world.clock)
    assert walk_join(n, d, UPN, PASSWORD, method="register", show=False) is False
    assert d.registered and not d.joined
    assert any("'Email address' box" in x for x in n.said)
    assert not any("Join this device" in x and x.startswith("Select") for x in n.said)

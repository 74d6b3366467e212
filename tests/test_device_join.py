"""End to end: the simulated Windows 11 device joins the emulated Entra ID over real `requests`
(in-process transport), enrolls in Intune, signs in with a PRT, and every failure shows the code
Windows shows."""
import datetime as dt

import pytest
import requests

from emulator.device import ElementNotFound, WindowsDevice
from emulator.device.dsregcmd import parse_status
from emulator.transport.direct import DirectSession

PASSWORD = "P@ssw0rd!"


@pytest.fixture
def world(entra_world):
    return entra_world


@pytest.fixture
def tenant(world):
    return world.create_tenant("Contoso", "contoso.com")


@pytest.fixture
def user(world, tenant):
    return world.add_user(tenant, "adele.vance@contoso.com", display_name="Adele Vance", password=PASSWORD)


@pytest.fixture
def device(world):
    return WindowsDevice(DirectSession(world), clock=world.clock)


def dsreg(d):
    return parse_status(d.dsregcmd_status())


def test_end_to_end_over_requests(world, tenant, user, entra_mock):
    d = WindowsDevice(requests.Session(), clock=world.clock)
    s = d.join(user.user_principal_name, PASSWORD)
    assert s.title == "You're all set!", s.text()
    assert s.lines[0] == "This device is connected to Contoso."
    d.restart()
    s = d.sign_in(user.user_principal_name, PASSWORD)
    assert s.name == "desktop" and d.signed_in_user == user.user_principal_name
    f = dsreg(d)
    assert f["AzureAdJoined"] == "YES" and f["DomainJoined"] == "NO" and f["AzureAdPrt"] == "YES"
    # the tenant sees the device, and (MDM scope All + licence) Intune manages it
    dev = tenant.device_by_device_id(d.device_id)
    assert dev is not None and dev.trust_type == "AzureAd" and dev.display_name == d.name
    assert dev.cert_thumbprint == d.join_state.thumbprint
    assert [m for m in tenant.managed_devices.values() if m.azure_ad_device_id == d.device_id]
    assert d.mdm_enrolled
    s = d.disconnect()
    assert s.title == "Restart your PC"
    assert tenant.device_by_device_id(dev.device_id) is None
    assert not d.joined
    assert dsreg(d)["AzureAdJoined"] == "NO"


def test_join_sends_what_windows_sends(world, tenant, user, entra_mock):
    seen = []
    sess = requests.Session()
    sess.hooks["response"].append(lambda r, *a, **k: seen.append(r.request))
    d = WindowsDevice(sess, clock=world.clock, os_version="10.0.22631.4460")
    d.join(user.user_principal_name, PASSWORD)
    join = next(r for r in seen if r.method == "POST" and "/EnrollmentServer/device/" in r.url)
    assert join.url.endswith("?api-version=2.0")
    assert join.headers["User-Agent"] == "Dsreg/10.0 (Windows 10.0.22631.4460)"
    assert join.headers["Authorization"].startswith("Bearer ")
    import json

    body = json.loads(join.body)
    assert body["JoinType"] == 0 and body["DeviceType"] == "Windows" and body["TargetDomain"] == "contoso.com"
    assert body["CertificateRequest"]["Type"] == "pkcs10"
    import base64

    assert base64.b64decode(body["TransportKey"])[:4] == b"RSA1"
    auth = next(r for r in seen if "/oauth2/authorize" in r.url)
    assert "client_id=29d9ed98-a469-4536-ade2-f981bc1d605e" in auth.url
    assert "resource=urn%3Ams-drs%3Aenterpriseregistration.windows.net" in auth.url


def test_join_without_mdm_scope(world, user, device):
    t = world.create_tenant("Litware", "litware.com", mdm_scope="none")
    u = world.add_user(t, "lee@litware.com", password=PASSWORD)
    assert device.join(u.user_principal_name, PASSWORD).name == "all_set"
    assert device.joined and not device.mdm_enrolled and not t.managed_devices
    device.go_to("Access work or school")
    device.click("Connected to Litware's Microsoft Entra ID")
    assert "Info" not in device.screen.elements and "Disconnect" in device.screen.elements


def test_no_intune_licence_rolls_the_join_back(world, tenant, device):
    u = world.add_user(tenant, "nolicence@contoso.com", password=PASSWORD, licenses=[])
    s = device.join(u.user_principal_name, PASSWORD)
    assert s.title == "Something went wrong"
    assert any("80180018" in line for line in s.lines)
    assert "There was an error with your license." in s.lines[0]
    assert "Try again" in s.elements and "Cancel" in s.elements
    assert not device.joined
    assert not tenant.devices, "the device object was deleted again (rollback)"


def test_wrong_password_stays_on_the_password_page(tenant, user, device):
    s = device.join(user.user_principal_name, "wrong")
    assert s.title == "Enter password"
    assert "Your account or password is incorrect." in " ".join(s.lines)
    assert device.last_error.code == 50126
    assert not device.joined


def test_unknown_user(world, device):
    world.create_tenant("Contoso", "contoso.com")
    s = device.join("ghost@contoso.com", PASSWORD)
    assert not device.joined
    # Windows stays on the email page and says so under the field (AADSTS50034: no such user).
    assert s.name == "signin_email" and s.title == "Let's get you signed in"
    assert s.lines[-1] == ("This username may be incorrect. Make sure you typed it correctly. Otherwise, "
                           "contact your admin.")
    assert device.last_error.code == 50034


def test_users_may_not_join(tenant, user, device):
    tenant.device_registration_policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"}
    s = device.join(user.user_principal_name, PASSWORD)
    assert s.title == "Something went wrong"
    assert s.lines == ["Something went wrong.", "Error code: 801c03ed"]
    assert device.last_join_error == 0x801C03ED


def test_device_quota_reached(world, tenant, user):
    tenant.device_registration_policy["userDeviceQuota"] = 1
    first = WindowsDevice(DirectSession(world), clock=world.clock, seed=1)
    assert first.join(user.user_principal_name, PASSWORD).name == "all_set"
    second = WindowsDevice(DirectSession(world), clock=world.clock, seed=2)
    s = second.join(user.user_principal_name, PASSWORD)
    assert s.title == "Something went wrong"
    assert "801c0003" in s.lines[0] and "not authorized to enroll" in s.lines[0]


def test_mfa_required_approve_deny_and_proofup(world, tenant, user):
    tenant.device_registration_policy["multiFactorAuthConfiguration"] = "required"
    d = WindowsDevice(DirectSession(world), clock=world.clock, seed=3)
    s = d.join(user.user_principal_name, PASSWORD, mfa="deny")
    assert not d.joined and "AADSTS500121" in " ".join(s.lines)
    assert d.join(user.user_principal_name, PASSWORD, mfa="approve").name == "all_set"
    nomfa = world.add_user(tenant, "nomfa@contoso.com", password=PASSWORD, mfa_methods=[])
    d2 = WindowsDevice(DirectSession(world), clock=world.clock, seed=4)
    d2.go_to("Access work or school")
    d2.click("Connect")
    d2.click("Join this device to Microsoft Entra ID")
    d2.type(nomfa.user_principal_name)
    d2.click("Next")
    d2.type(PASSWORD)
    s = d2.click("Sign in")
    assert s.title == "More information required"
    s = d2.click("Skip for now")
    assert "AADSTS50079" in " ".join(s.lines) and not d2.joined


@pytest.mark.parametrize("network,code", [("offline", "80072ee7"), ("dns_failure", "80072ee7"),
                                          ("timeout", "80072ee2"),
                                          ({"enterpriseregistration.windows.net"}, "80072efd")])
def test_network_failures(tenant, user, device, network, code):
    device.network = network
    s = device.join(user.user_principal_name, PASSWORD)
    assert s.title == "Something went wrong"
    assert code in s.lines[0] and "There was an error communicating with the server" in s.lines[0]
    assert not device.joined and not tenant.devices


def test_requests_exceptions_map_to_network_codes(world, tenant, user):
    class Broken:
        def __init__(self, exc):
            self.exc = exc

        def request(self, *a, **k):
            raise self.exc

    for exc, code in [(requests.exceptions.ConnectTimeout("t"), "80072ee2"),
                      (requests.exceptions.ConnectionError("Failed to resolve 'login.microsoftonline.com'"),
                       "80072ee7"),
                      (requests.exceptions.ConnectionError("Connection refused"), "80072efd")]:
        d = WindowsDevice(Broken(exc), clock=world.clock)
        s = d.join(user.user_principal_name, PASSWORD)
        assert code in s.lines[0]


def test_clock_far_off_fails_tls(tenant, user, device):
    device.skew_seconds = 400 * 86400
    s = device.join(user.user_principal_name, PASSWORD)
    assert "80072f8f" in s.lines[0]
    device.skew_seconds = -200 * 86400
    assert "80072f8f" in device.join(user.user_principal_name, PASSWORD).lines[0]
    device.skew_seconds = 0
    assert device.join(user.user_principal_name, PASSWORD).name == "all_set"


def test_sign_in_offline_uses_the_cache(tenant, user, device):
    device.join(user.user_principal_name, PASSWORD)
    device.restart()
    device.network = "offline"
    s = device.sign_in(user.user_principal_name, PASSWORD)
    assert s.name == "windows_signin_user" and "domain isn't available" in " ".join(s.lines)
    device.network = "online"
    assert device.sign_in(user.user_principal_name, PASSWORD).name == "desktop"
    device.network = "offline"
    device.restart()
    assert device.sign_in(user.user_principal_name, PASSWORD).name == "desktop"
    f = dsreg(device)
    assert f["AzureAdPrt"] == "YES"                      # the earlier PRT is still there
    assert f["RefreshPrtDiagnostics"] == "PRESENT" and f["Attempt Status"] == "0xc000023c"
    assert f["HTTP Error"] == "0x80072ee7"


def test_disabled_user_cannot_sign_in(tenant, user, device):
    device.join(user.user_principal_name, PASSWORD)
    device.restart()
    user.account_enabled = False
    s = device.sign_in(user.user_principal_name, PASSWORD)
    assert s.name == "windows_signin_user" and device.signed_in_user is None


def test_prt_times_follow_the_device_clock(world, tenant, user, device):
    device.join(user.user_principal_name, PASSWORD)
    device.restart()
    device.skew_seconds = 120          # a little fast: within the 5-minute tolerance
    assert device.sign_in(user.user_principal_name, PASSWORD).name == "desktop"
    st = device.prts[user.user_principal_name.lower()]
    assert abs((st.update_time - world.clock.now()).total_seconds() - 120) < 5
    assert st.expiry_time - st.update_time > dt.timedelta(days=13)


def test_rejoin_after_disconnect_gets_a_new_device(tenant, user, device):
    device.join(user.user_principal_name, PASSWORD)
    first = device.device_id
    device.disconnect()
    device.click("Restart later")
    assert device.join(user.user_principal_name, PASSWORD).name == "all_set"
    assert device.device_id != first
    assert tenant.device_by_device_id(first) is None


def test_proofup_register_then_approve(world, tenant):
    tenant.device_registration_policy["multiFactorAuthConfiguration"] = "required"
    u = world.add_user(tenant, "fresh@contoso.com", password=PASSWORD, mfa_methods=[])
    d = WindowsDevice(DirectSession(world), clock=world.clock)
    assert d.join(u.user_principal_name, PASSWORD, mfa="register").name == "all_set"


def test_other_verification_method(world, tenant):
    tenant.device_registration_policy["multiFactorAuthConfiguration"] = "required"
    u = world.add_user(tenant, "sms@contoso.com", password=PASSWORD, mfa_methods=["microsoftAuthenticator", "sms"])
    d = WindowsDevice(DirectSession(world), clock=world.clock)
    d.go_to("Access work or school")
    d.click("Connect")
    d.click("Join this device to Microsoft Entra ID")
    d.type(u.user_principal_name)
    d.click("Next")
    d.type(PASSWORD)
    d.click("Sign in")
    s = d.click("I can't use my Microsoft Authenticator app right now")
    assert s.title == "Verify your identity" and "Text" in s.elements
    assert d.click("Text").title == "Make sure this is your organization"


def test_clock_skew_beyond_five_minutes(world):
    t = world.create_tenant("Litware", "litware.com", mdm_scope="none")
    u = world.add_user(t, "lee@litware.com", password=PASSWORD)
    d = WindowsDevice(DirectSession(world), clock=world.clock, skew_seconds=3600)
    # TLS still works (the server certificate is valid for months) and the join has no signed request
    assert d.join(u.user_principal_name, PASSWORD).name == "all_set"
    d.restart()
    s = d.sign_in(u.user_principal_name, PASSWORD)
    assert s.name == "windows_signin_user" and d.signed_in_user is None
    assert "Your credentials could not be verified." in s.lines
    fail = d.prts[u.user_principal_name.lower()].last_failure
    assert fail.status == 0xC00000D0 and fail.server_description.startswith("AADSTS")
    d.skew_seconds = 0
    assert d.sign_in(u.user_principal_name, PASSWORD).name == "desktop"


def test_clock_skew_during_mdm_enrollment_rolls_back(world, tenant, user):
    d = WindowsDevice(DirectSession(world), clock=world.clock, skew_seconds=3600)
    s = d.join(user.user_principal_name, PASSWORD)
    assert s.title == "Something went wrong" and "80180002" in s.lines[0]
    assert not d.joined and not tenant.devices


def test_mdm_host_blocked_rolls_back_with_the_network_code(tenant, user, device):
    device.network = {"enrollment.manage.microsoft.com"}
    s = device.join(user.user_principal_name, PASSWORD)
    assert s.title == "Something went wrong" and "80072efd" in s.lines[0]
    assert not device.joined and not tenant.devices and not tenant.managed_devices


def test_command_prompt(tenant, user, device):
    assert device.run("dsregcmd /status") == device.dsregcmd_status()
    assert device.run("hostname") == device.name + "\n"
    assert "is not recognized as an internal or external command" in device.run("foo /bar")
    device.join(user.user_principal_name, PASSWORD)
    assert device.connected_accounts()[0]["upn"] == user.user_principal_name
    assert device.connected_accounts()[0]["managed"] is True
    assert device.run("dsregcmd /leave") == ""
    assert not device.joined and not tenant.devices


def test_approve_mfa_without_a_prompt_does_nothing(tenant, user, device):
    device.go_to("Access work or school")
    device.click("Connect")
    device.click("Join this device to Microsoft Entra ID")
    device.type(user.user_principal_name)
    device.click("Next")
    device.type(PASSWORD)
    device.click("Sign in")
    assert device.approve_mfa().title == "Make sure this is your organization"
    assert device.click("Cancel").title == "Access work or school"
    assert not device.joined
    with pytest.raises(ElementNotFound, match="connected account"):
        device.select_connected_account()


def test_network_failure_diagnostics_name_the_endpoint(tenant, user, device):
    device.join(user.user_principal_name, PASSWORD)
    device.restart()
    device.sign_in(user.user_principal_name, PASSWORD)
    device.network = "timeout"
    device.restart()
    assert device.sign_in(user.user_principal_name, PASSWORD).name == "desktop"
    f = dsreg(device)
    assert f["HTTP Error"] == "0x80072ee2" and f["Attempt Status"] == "0xc000023c"
    assert f["Endpoint URI"].startswith("https://login.microsoftonline.com/")
    assert len(f["Correlation ID"]) == 36

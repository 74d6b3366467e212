"""The simulated device's screens: navigation, ElementNotFound, labels per Windows release."""
import pytest

from emulator.device import ElementNotFound, WindowsDevice
from emulator.device.screens import LABEL_SOURCES, LABELS
from emulator.transport.direct import DirectSession
from emulator.world.world import World

PASSWORD = "P@ssw0rd!"


@pytest.fixture
def world():
    w = World(seed="screens")
    w.raise_server_errors = True
    return w


@pytest.fixture
def device(world):
    return WindowsDevice(DirectSession(world), clock=world.clock)


def test_starts_on_the_desktop_as_the_local_admin(device):
    assert device.screen.name == "desktop"
    assert device.signed_in_user == "LocalAdmin"
    assert device.name.startswith("DESKTOP-") and len(device.name) == 15


def test_default_name_is_seeded(world):
    a = WindowsDevice(DirectSession(world), clock=world.clock, seed=7).name
    b = WindowsDevice(DirectSession(world), clock=world.clock, seed=7).name
    c = WindowsDevice(DirectSession(world), clock=world.clock, seed=8).name
    assert a == b != c


def test_navigate_to_access_work_or_school(device):
    s = device.open_settings()
    assert s.name == "settings_home" and "Accounts" in s.elements
    s = device.click("Accounts")
    for item in ["Your info", "Email & accounts", "Sign-in options", "Access work or school", "Family",
                 "Windows backup", "Other users"]:
        assert item in s.elements
    s = device.click("Access work or school")
    assert s.title == "Access work or school"
    assert "Add a work or school account" in s.lines and "Connect" in s.elements
    s = device.click("Connect")
    assert s.title == "Set up a work or school account"
    assert "Email address" in s.elements and "Next" in s.elements
    assert "Join this device to Microsoft Entra ID" in s.elements
    s = device.click("Join this device to Microsoft Entra ID")
    assert s.title == "Let's get you signed in" and "Email" in s.elements and "Next" in s.elements


def test_go_to_paths(device):
    assert device.go_to("Access work or school").title == "Access work or school"
    assert device.go_to("Settings > Accounts").title == "Accounts"
    assert device.go_to("Your info").lines[:2] == ["LocalAdmin", "Local account"]
    device.click("Back")
    assert device.screen.title == "Accounts"


def test_click_is_case_insensitive_and_select_is_click(device):
    device.open_settings()
    device.select("accounts")
    assert device.screen.name == "accounts"


def test_element_not_found_lists_the_screen_and_the_closest_match(device):
    device.go_to("Access work or school")
    device.click("Connect")
    with pytest.raises(ElementNotFound) as ei:
        device.click("Join this device to Azure AD")
    msg = str(ei.value)
    assert "'Set up a work or school account'" in msg
    assert "'Next'" in msg and "'Email address'" in msg
    assert "Closest match: 'Join this device to Microsoft Entra ID'" in msg


def test_type_needs_a_field(device):
    device.open_settings()
    with pytest.raises(ElementNotFound, match="text field"):
        device.type("x")
    device.go_to("Access work or school")
    device.click("Connect")
    with pytest.raises(ElementNotFound, match="Closest match: 'Email address'"):
        device.type("a@b.c", into="Email adress")
    device.type("a@b.c")
    assert device.screen.fields["Email address"] == "a@b.c"


def test_registration_path_refuses_an_empty_email(device):
    # The email box + Next registers (tests/test_device_register.py); an empty box is refused on
    # the dialog itself, with the sign-in page's wording.
    device.go_to("Access work or school")
    device.click("Connect")
    s = device.click("Next")
    assert s.name == "setup_work_account" and "Enter a valid email address" in " ".join(s.lines)
    assert device.http_log == []


@pytest.mark.parametrize("release,link,accounts_item", [
    ("21H2", "Join this device to Azure Active Directory", "Family & other users"),
    ("22H2", "Join this device to Azure Active Directory", "Other users"),
    ("23H2", "Join this device to Microsoft Entra ID", "Other users"),
    ("24H2", "Join this device to Microsoft Entra ID", "Other users"),
])
def test_labels_per_release(world, release, link, accounts_item):
    d = WindowsDevice(DirectSession(world), clock=world.clock, release=release)
    d.go_to("Accounts")
    assert accounts_item in d.screen.elements
    d.click("Access work or school")
    d.click("Connect")
    assert link in d.screen.elements
    other = ({"Join this device to Azure Active Directory", "Join this device to Microsoft Entra ID"} - {link}).pop()
    with pytest.raises(ElementNotFound):
        d.click(other)


def test_unknown_release_is_refused(world):
    with pytest.raises(ValueError, match="known: "):
        WindowsDevice(DirectSession(world), release="26H1")
    assert set(LABELS) == {"21H2", "22H2", "23H2", "24H2", "25H2"}
    assert set(LABEL_SOURCES) == set(LABELS)


def test_screen_level_join_and_disconnect(world):
    t = world.create_tenant("Fabrikam", "fabrikam.com")
    t.device_registration_policy["multiFactorAuthConfiguration"] = "required"
    u = world.add_user(t, "megan@fabrikam.com", display_name="Megan Bowen", password=PASSWORD)
    d = WindowsDevice(DirectSession(world), clock=world.clock)
    d.go_to("Access work or school")
    d.click("Connect")
    d.click("Join this device to Microsoft Entra ID")
    d.type(u.user_principal_name)
    s = d.click("Next")
    assert s.title == "Enter password" and u.user_principal_name in s.lines
    d.type(PASSWORD, into="Password")
    s = d.click("Sign in")
    assert s.title == "Approve sign in request"
    assert "I can't use my Microsoft Authenticator app right now" in s.elements
    s = d.click("Approve")
    assert s.title == "Make sure this is your organization"
    assert "Connecting to: fabrikam.com" in s.lines and f"User name: {u.user_principal_name}" in s.lines
    assert "Join" in s.elements and "Cancel" in s.elements
    s = d.click("Join")
    assert s.title == "You're all set!"
    assert s.lines[0] == "This device is connected to Fabrikam."
    assert "Sign out" in s.lines[1]
    s = d.click("Done")
    assert s.title == "Access work or school"
    caption = "Connected to Fabrikam's Microsoft Entra ID"
    assert caption in s.elements and f"Connected by {u.user_principal_name}" in s.lines
    s = d.click(caption)
    assert "Info" in s.elements and "Disconnect" in s.elements
    s = d.click("Info")
    assert s.title == "Managed by Fabrikam"
    assert any(line.startswith("Management Server Address: https://") for line in s.lines)
    s = d.click("Sync")
    assert "The sync was successful" in s.lines
    d.click("Back")
    s = d.click("Disconnect")
    assert s.title == "Are you sure you want to remove this account?"
    s = d.click("Yes")
    assert s.title == "Disconnect from the organization"
    s = d.click("Disconnect")
    assert s.title == "Restart your PC" and s.elements == ["Restart now", "Restart later"]
    assert d.pending_restart and not d.joined
    s = d.click("Restart now")
    assert s.name == "windows_signin" and "Other user" not in s.elements and "LocalAdmin" in s.elements
    assert not t.devices


def test_windows_sign_in_screen_after_join(world):
    t = world.create_tenant("Contoso", "contoso.com")
    u = world.add_user(t, "adele@contoso.com", password=PASSWORD)
    d = WindowsDevice(DirectSession(world), clock=world.clock)
    d.join(u.user_principal_name, PASSWORD)
    s = d.restart()
    assert s.name == "windows_signin" and s.elements == ["LocalAdmin", "Other user"]
    s = d.click("Other user")
    assert s.elements[:2] == ["Email", "Password"] and "Sign in" in s.elements
    d.type(u.user_principal_name)
    d.type("wrong", into="Password")
    s = d.click("Sign in")
    assert s.name == "windows_signin_user"
    assert "The user name or password is incorrect. Try again." in s.lines
    assert d.signed_in_user is None
    d.type(u.user_principal_name, into="Email")
    d.type(PASSWORD, into="Password")
    assert d.click("Sign in").name == "desktop" and d.signed_in_user == u.user_principal_name
    # next time the user has a tile of their own
    assert u.user_principal_name.lower() in d.sign_out().elements


def test_local_sign_in(device):
    device.restart()
    device.click("LocalAdmin")
    device.type("nope")
    assert "The user name or password is incorrect. Try again." in device.click("Sign in").lines
    assert device.sign_in("LocalAdmin", "Passw0rd!").name == "desktop"

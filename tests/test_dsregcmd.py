"""`dsregcmd /status` of the simulated device: the real layout (join-protocol.md §1.1-1.4), the
sections of each state, and the values (from device state only)."""
import re

import pytest

from emulator.device import WindowsDevice
from emulator.device.dsregcmd import FOOTER, field_line, parse_status
from emulator.transport.direct import DirectSession
from emulator.world.world import World

PASSWORD = "P@ssw0rd!"


def check_layout(text: str) -> list[str]:
    """Assert the dsregcmd layout rules; return the section titles in order."""
    lines = text.split("\n")
    assert lines[0] == "", "a blank line precedes the first box"
    assert text.endswith(FOOTER + "\n")
    assert lines[-2] == FOOTER and lines[-3] == "", "blank line, then the footer"
    titles = []
    i = 1
    border = "+" + "-" * 70 + "+"
    while i < len(lines) - 2:
        line = lines[i]
        if line.startswith("+"):
            assert line == border and len(line) == 72
            title = lines[i + 1]
            assert len(title) == 72 and title.startswith("| ") and title.endswith("|"), repr(title)
            assert lines[i + 2] == border
            assert lines[i + 3] == "", "a blank line after the box"
            titles.append(title[2:-1].rstrip())
            i += 4
            continue
        if line == "":
            i += 1
            continue
        assert len(line) >= 28 and line[26:28] == " :", f"label misaligned: {line!r}"
        assert line[:26].strip(), f"empty label: {line!r}"
        assert line[:26] == line[:26].rstrip().rjust(26), f"label not right-aligned: {line!r}"
        if len(line) > 28:
            assert line[28] == " " and line[29:].strip() == line[29:], f"value spacing: {line!r}"
        i += 1
    return titles


def section_lines(text: str, title: str) -> list[str]:
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("| " + title + " "))
    out = []
    for line in lines[start + 3:]:
        if line.startswith("+") or line == FOOTER:
            break
        out.append(line)
    return out


@pytest.fixture
def world():
    w = World(seed="dsreg")
    w.raise_server_errors = True
    return w


def make_tenant(world, **kw):
    t = world.create_tenant("Contoso", "contoso.com", **kw)
    u = world.add_user(t, "adele@contoso.com", display_name="Adele Vance", password=PASSWORD)
    return t, u


def test_layout_checker_rejects_a_misaligned_label():
    good = field_line("AzureAdJoined", "YES")
    assert good.index(" : ") == 26
    box = "+" + "-" * 70 + "+"
    bad = "\n".join(["", box, "| Device State".ljust(71) + "|", box, "",
                     "            AzureAdJoined : YES", "", FOOTER, ""])
    with pytest.raises(AssertionError, match="misaligned"):
        check_layout(bad)


def test_field_line_formats():
    assert field_line("MdmUrl", "") == "                    MdmUrl :"
    assert field_line("DeviceCertificateValidity", "[ x ]") == " DeviceCertificateValidity : [ x ]"
    assert field_line("Server Error Description", "AADSTS50126: x").index(" : ") == 26


def test_not_joined(world):
    d = WindowsDevice(DirectSession(world), clock=world.clock, name="DESKTOP-EMU0002")
    out = d.dsregcmd_status()
    assert check_layout(out) == ["Device State", "User State", "SSO State", "IE Proxy Config for Current User",
                                 "WinHttp Default Proxy Config", "Ngc Prerequisite Check"]
    f = parse_status(out)
    assert f["AzureAdJoined"] == "NO" and f["DomainJoined"] == "NO" and f["EnterpriseJoined"] == "NO"
    assert f["Device Name"] == "DESKTOP-EMU0002"
    assert f["AzureAdPrt"] == "NO" and f["AzureAdPrtAuthority"] == "NO" and f["EnterprisePrtAuthority"] == "NO"
    assert f["WamDefaultSet"] == "NO" and f["PreReqResult"] == "WillNotProvision"
    assert "DeviceId" not in f and "TenantId" not in f and "AadRecoveryEnabled" not in f


JOINED_SECTIONS = ["Device State", "Device Details", "Tenant Details", "User State", "SSO State",
                   "Diagnostic Data", "IE Proxy Config for Current User", "WinHttp Default Proxy Config",
                   "Ngc Prerequisite Check"]


def test_joined_enrolled_with_prt(world):
    t, u = make_tenant(world)
    d = WindowsDevice(DirectSession(world), clock=world.clock)
    assert d.join(u.user_principal_name, PASSWORD).name == "all_set"
    d.restart()
    d.sign_in(u.user_principal_name, PASSWORD)
    out = d.dsregcmd_status()
    assert check_layout(out) == JOINED_SECTIONS
    f = parse_status(out)
    assert (f["AzureAdJoined"], f["EnterpriseJoined"], f["DomainJoined"]) == ("YES", "NO", "NO")
    assert f["DeviceId"] == d.device_id and re.fullmatch(r"[0-9a-f-]{36}", f["DeviceId"])
    assert re.fullmatch(r"[0-9A-F]{40}", f["Thumbprint"])
    assert re.fullmatch(r"\[ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC -- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \]",
                        f["DeviceCertificateValidity"])
    assert f["KeyProvider"] == "Microsoft Platform Crypto Provider" and f["TpmProtected"] == "YES"
    assert f["DeviceAuthStatus"] == "SUCCESS"
    assert f["TenantName"] == "Contoso" and f["TenantId"] == t.id and f["Idp"] == "login.windows.net"
    assert f["AuthCodeUrl"] == f"https://login.microsoftonline.com/{t.id}/oauth2/authorize"
    assert f["MdmUrl"] == "https://enrollment.manage.microsoft.com/enrollmentserver/discovery.svc"
    assert f["MdmTouUrl"] and f["MdmComplianceUrl"]
    assert f["JoinSrvUrl"] == "https://enterpriseregistration.windows.net/EnrollmentServer/device/"
    assert f["JoinSrvId"] == "urn:ms-drs:enterpriseregistration.windows.net"
    assert f["AzureAdPrt"] == "YES" and f["AzureAdPrtAuthority"] == f"https://login.microsoftonline.com/{t.id}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", f["AzureAdPrtUpdateTime"])
    assert f["WamDefaultSet"] == "YES" and f["WamDefaultGUID"].endswith("(AzureAd)")
    assert f["Executing Account Name"] == "AzureAD\\AdeleVance, adele@contoso.com"
    assert f["DisplayNameUpdated"] == "Managed by MDM"
    assert f["IsUserAzureAD"] == "YES" and f["PreReqResult"] == "WillProvision"
    assert "AcquirePrtDiagnostics" not in f
    # empty values end right after the colon
    assert "               SettingsUrl :\n" in out
    assert parse_status(d.dsregcmd_status(elevated=True))["KeySignTest"] == "PASSED"


def test_joined_not_enrolled_has_empty_mdm_lines(world):
    t, u = make_tenant(world, mdm_scope="none")
    d = WindowsDevice(DirectSession(world), clock=world.clock)
    assert d.join(u.user_principal_name, PASSWORD).name == "all_set"
    assert not d.mdm_enrolled
    out = d.dsregcmd_status()
    assert check_layout(out) == JOINED_SECTIONS
    for label in ("MdmUrl", "MdmTouUrl", "MdmComplianceUrl"):
        assert label.rjust(26) + " :\n" in out
    f = parse_status(out)
    assert f["DisplayNameUpdated"] == "YES"
    # still the local administrator who joined from Settings: no PRT, local account name
    assert f["AzureAdPrt"] == "NO" and f["Executing Account Name"] == f"{d.name}\\LocalAdmin"


def test_failed_prt_shows_acquire_diagnostics(world):
    t, u = make_tenant(world)
    d = WindowsDevice(DirectSession(world), clock=world.clock)
    d.join(u.user_principal_name, PASSWORD)
    d.restart()
    d.sign_in(u.user_principal_name, PASSWORD)
    u.password = "N3w-Passw0rd!"          # changed in the cloud; the PC still knows the old one
    d.restart()
    s = d.sign_in(u.user_principal_name, PASSWORD)
    assert s.name == "desktop"            # cached logon
    out = d.dsregcmd_status()
    check_layout(out)
    f = parse_status(out)
    assert f["AzureAdPrt"] == "NO"
    assert f["AcquirePrtDiagnostics"] == "PRESENT"
    assert f["Attempt Status"] == "0xc000006d"
    assert f["User Identity"] == u.user_principal_name and f["Credential Type"] == "Password"
    assert f["Endpoint URI"] == f"https://login.microsoftonline.com/{t.id}/oauth2/token/"
    assert f["HTTP Method"] == "POST" and f["HTTP status"] == "400" and f["HTTP Error"] == "0x0"
    assert f["Server Error Code"] == "invalid_grant"
    assert f["Server Error Description"].startswith("AADSTS50126: ")
    assert "Trace ID" not in f["Server Error Description"]
    order = [line[:26].strip() for line in section_lines(out, "SSO State") if line[26:28] == " :"]
    assert order[:3] == ["AzureAdPrt", "AzureAdPrtAuthority", "AcquirePrtDiagnostics"]
    assert order.index("Server Error Description") < order.index("EnterprisePrt")


@pytest.mark.parametrize("action", ["delete", "disable"])
def test_deleted_or_disabled_device_learned_from_prt_failure(world, action):
    t, u = make_tenant(world)
    d = WindowsDevice(DirectSession(world), clock=world.clock)
    d.join(u.user_principal_name, PASSWORD)
    d.restart()
    d.sign_in(u.user_principal_name, PASSWORD)
    if action == "delete":
        t.devices.clear()                 # an admin deleted the device object
    else:
        t.device_by_device_id(d.device_id).account_enabled = False
    d.restart()
    assert d.sign_in(u.user_principal_name, PASSWORD).name == "desktop"
    f = parse_status(d.dsregcmd_status())
    assert f["AzureAdJoined"] == "YES"
    assert f["DeviceAuthStatus"] == "FAILED. Device is either disabled or deleted"
    assert f["AzureAdPrt"] == "NO" and f["AcquirePrtDiagnostics"] == "PRESENT"
    assert f["Server Error Description"].startswith(("AADSTS50155", "AADSTS135011"))

"""`dsregcmd /status` in the real layout (join-protocol.md §1.1-1.4).

Layout: a leading blank line; each section is a 72-character box (`+` + 70 `-` + `+`, title line
`| title` padded so the closing `|` is column 72), a blank line, the fields, a blank line. Field
labels are right-aligned to width 26 so " : " starts at index 26; an empty value ends right after
the colon. The footer is `For more information, please visit https://www.microsoft.com/aadjerrors`.

Values come from the device's own state only (never the World).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..world.clock import dsreg_time
from .errors import code_hex

if TYPE_CHECKING:  # pragma: no cover
    from .windows import WindowsDevice

LABEL_WIDTH = 26
BOX_WIDTH = 72
FOOTER = "For more information, please visit https://www.microsoft.com/aadjerrors"
WAM_AAD_GUID = "{B16898C6-A148-4967-9171-64D755DA8520} (AzureAd)"
KERB_TOP_LEVEL_NAMES = ".windows.net,.windows.net:1433,.windows.net:3342,.azure.net,.azure.net:1433,.azure.net:3342"
BLANK = object()   # a blank line inside a section


def box(title: str) -> list[str]:
    border = "+" + "-" * (BOX_WIDTH - 2) + "+"
    return [border, ("| " + title).ljust(BOX_WIDTH - 1) + "|", border]


def field_line(label: str, value: object = "") -> str:
    value = "" if value is None else str(value)
    line = label.rjust(LABEL_WIDTH) + " :"
    return f"{line} {value}" if value else line


def section(title: str, rows: list) -> list[str]:
    out = box(title) + [""]
    for r in rows:
        out.append("" if r is BLANK else field_line(*r))
    out.append("")
    return out


def parse_status(text: str) -> dict[str, str]:
    """The fields of `dsregcmd /status` output: label -> value, the first occurrence of each label.

    A field line is one whose " :" starts at column LABEL_WIDTH (the layout rule above); the value
    follows after " : " (empty when the line ends at the colon), surrounding blanks removed."""
    out: dict[str, str] = {}
    for line in text.split("\n"):
        if line[LABEL_WIDTH:LABEL_WIDTH + 2] == " :":
            out.setdefault(line[:LABEL_WIDTH].strip(), line[LABEL_WIDTH + 3:].strip())
    return out


def yn(v: bool) -> str:
    return "YES" if v else "NO"


def render_status(dev: WindowsDevice, *, elevated: bool = False) -> str:
    j = dev.join_state
    user = dev.signed_in_user
    is_entra_user = bool(user) and "@" in (user or "")
    lines: list[str] = [""]

    # Device State -----------------------------------------------------------------------------
    lines += section("Device State", [("AzureAdJoined", yn(j is not None)), ("EnterpriseJoined", "NO"),
                                      ("DomainJoined", "NO"), ("Virtual Desktop", "NOT SET"),
                                      ("Device Name", dev.name)])

    if j is not None:
        # Device Details -------------------------------------------------------------------------
        validity = f"[ {dsreg_time(j.not_before)} -- {dsreg_time(j.not_after)} ]"
        if dev.device_auth_failed:
            auth = "FAILED. Device is either disabled or deleted"
        else:
            auth = "SUCCESS"
        lines += section("Device Details", [
            ("DeviceId", j.device_id), ("Thumbprint", j.thumbprint), ("DeviceCertificateValidity", validity),
            ("KeyContainerId", j.key_container_id),
            ("KeyProvider", "Microsoft Platform Crypto Provider" if dev.tpm else
             "Microsoft Software Key Storage Provider"),
            ("TpmProtected", yn(dev.tpm)), ("DeviceAuthStatus", auth)])

        # Tenant Details (from the DRS discovery document fetched during join) --------------------
        d = j.discovery
        oauth = (d.get("AuthenticationService") or {}).get("OAuth2") or {}
        join_svc = d.get("DeviceJoinService") or {}
        key_svc = d.get("KeyProvisioningService") or {}
        webauthn = d.get("WebAuthNService") or {}
        mgmt = d.get("DeviceManagementService") or {}
        lines += section("Tenant Details", [
            ("TenantName", j.tenant_name), ("TenantId", j.tenant_id), ("Idp", "login.windows.net"),
            ("AuthCodeUrl", oauth.get("AuthCodeEndpoint", "")), ("AccessTokenUrl", oauth.get("TokenEndpoint", "")),
            ("MdmUrl", j.mdm_urls.get("enrollment", "")), ("MdmTouUrl", j.mdm_urls.get("terms_of_use", "")),
            ("MdmComplianceUrl", j.mdm_urls.get("compliance", "")), ("SettingsUrl", ""),
            ("JoinSrvVersion", join_svc.get("ServiceVersion", "")), ("JoinSrvUrl", join_svc.get("JoinEndpoint", "")),
            ("JoinSrvId", join_svc.get("JoinResourceId", "")),
            ("KeySrvVersion", key_svc.get("ServiceVersion", "")),
            ("KeySrvUrl", key_svc.get("KeyProvisionEndpoint", "")),
            ("KeySrvId", key_svc.get("KeyProvisionResourceId", "")),
            ("WebAuthNSrvVersion", webauthn.get("ServiceVersion", "")),
            ("WebAuthNSrvUrl", webauthn.get("WebAuthNEndpoint", "")),
            ("WebAuthNSrvId", webauthn.get("WebAuthNResourceId", "")),
            ("DeviceManagementSrvVer", mgmt.get("ServiceVersion", "")),
            ("DeviceManagementSrvUrl", mgmt.get("DeviceManagementEndpoint", "")),
            ("DeviceManagementSrvId", mgmt.get("DeviceManagementResourceId", ""))])

    # User State ----------------------------------------------------------------------------------
    work = dev.profile_work_accounts()
    user_rows: list = [("NgcSet", "NO"), ("WorkplaceJoined", yn(bool(work)))]
    if work:
        user_rows += [("WorkAccountCount", len(work))]
    if is_entra_user and j is not None:
        user_rows += [("WamDefaultSet", "YES"), ("WamDefaultAuthority", "organizations"),
                      ("WamDefaultId", "https://login.microsoft.com"), ("WamDefaultGUID", WAM_AAD_GUID)]
    else:
        user_rows += [("WamDefaultSet", "NO")]
    lines += section("User State", user_rows)

    # SSO State -----------------------------------------------------------------------------------
    st = dev.prts.get(user.lower()) if (user and is_entra_user) else None
    has_prt = bool(st and st.prt)
    sso: list = [("AzureAdPrt", yn(has_prt))]
    if has_prt:
        sso += [("AzureAdPrtUpdateTime", dsreg_time(st.update_time)),
                ("AzureAdPrtExpiryTime", dsreg_time(st.expiry_time)),
                ("AzureAdPrtAuthority", f"https://login.microsoftonline.com/{st.tenant_id}")]
    elif j is not None and is_entra_user:
        sso += [("AzureAdPrtAuthority", f"https://login.microsoftonline.com/{j.tenant_id}")]
    else:
        sso += [("AzureAdPrtAuthority", "NO")]
    fail = st.last_failure if st else None
    if fail is not None and (not has_prt or st.update_time is None or fail.time > st.update_time):
        sso += [("RefreshPrtDiagnostics" if has_prt else "AcquirePrtDiagnostics", "PRESENT"),
                ("Previous Prt Attempt", dsreg_time(fail.time)), ("Attempt Status", code_hex(fail.status)),
                ("User Identity", fail.user), ("Credential Type", fail.credential_type),
                ("Correlation ID", fail.correlation_id), ("Endpoint URI", fail.endpoint),
                ("HTTP Method", fail.method), ("HTTP Error", code_hex(fail.http_error) if fail.http_error else "0x0"),
                ("HTTP status", fail.http_status), ("Server Error Code", fail.server_error),
                ("Server Error Description", fail.server_description)]
    if j is not None:
        sso += [("EnterprisePrt", "NO"), ("EnterprisePrtAuthority", ""), ("OnPremTgt", "NO"),
                ("CloudTgt", yn(has_prt)), ("KerbTopLevelNames", KERB_TOP_LEVEL_NAMES)]
    else:
        sso += [("EnterprisePrt", "NO"), ("EnterprisePrtAuthority", "NO")]
    lines += section("SSO State", sso)

    # Work Account N (Entra-registered accounts of this profile; join-protocol.md §1.3, sample (b)) ----
    key_provider = "Microsoft Platform Crypto Provider" if dev.tpm else "Microsoft Software Key Storage Provider"
    for n, acct in enumerate(work, 1):
        lines += section(f"Work Account {n}", [
            ("WorkplaceDeviceId", acct.device_id), ("WorkplaceThumbprint", acct.thumbprint),
            ("DeviceCertificateValidity", f"[ {dsreg_time(acct.not_before)} -- {dsreg_time(acct.not_after)} ]"),
            ("KeyContainerId", acct.key_container_id), ("KeyProvider", key_provider), ("TpmProtected", yn(dev.tpm)),
            ("WorkplaceTenantId", acct.tenant_id), ("WorkplaceTenantName", acct.tenant_name),
            ("WorkplaceMdmUrl", acct.mdm_url), ("WorkplaceSettingsUrl", acct.settings_url), ("NgcSet", "NO")])

    # Diagnostic Data (post-join, joined devices only) ---------------------------------------------
    if j is not None:
        if is_entra_user:
            display = dev._entra_names.get(user.lower(), "") or user.split("@", 1)[0]
            account = f"AzureAD\\{display.replace(' ', '')}, {user}"
        elif user:
            account = f"{dev.name}\\{user}"
        else:
            account = "NT AUTHORITY\\SYSTEM"
        managed = dev.mdm_state is not None
        lines += section("Diagnostic Data", [
            ("AadRecoveryEnabled", "NO"), ("Executing Account Name", account),
            ("KeySignTest", "PASSED" if elevated else "MUST Run elevated to test."), BLANK,
            ("DisplayNameUpdated", "Managed by MDM" if managed else "YES"),
            ("OsVersionUpdated", "Managed by MDM" if managed else "YES"), ("HostNameUpdated", "YES"), BLANK,
            ("Last HostName Update", "NONE")])

    lines += section("IE Proxy Config for Current User", [
        ("Auto Detect Settings", "YES"), ("Auto-Configuration URL", ""), ("Proxy Server List", ""),
        ("Proxy Bypass List", "")])
    lines += section("WinHttp Default Proxy Config", [("Access Type", "DIRECT")])

    aad_user = is_entra_user and j is not None
    lines += section("Ngc Prerequisite Check", [
        ("IsDeviceJoined", yn(j is not None)), ("IsUserAzureAD", yn(aad_user)), ("PolicyEnabled", "NO"),
        ("PostLogonEnabled", "YES"), ("DeviceEligible", "YES"), ("SessionIsNotRemote", "YES"),
        ("CertEnrollment", "none"), ("PreReqResult", "WillProvision" if aad_user else "WillNotProvision")])
    lines.append(FOOTER)
    return "\n".join(lines) + "\n"

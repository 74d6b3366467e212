"""How the simulated Windows device turns what it sees on the wire into what the user sees.

Every table here maps a wire fact (DRS ErrorDetails, an AADSTS code, a network condition, an MDM
SOAP fault) to a Windows code from emulator/world/catalogue.py, and the code to the text of the
Settings "Something went wrong" page (`HResult.ui_text()`). Sources: join-protocol.md §2 and the
shared DRS error table in docs/dev-notes-for-helpers.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..world.catalogue import HRESULTS, HResult

# -- HRESULT values used by the device -------------------------------------------------------
E_DRS_MESSAGE_FORMAT = 0x801C0001
E_DRS_AUTHENTICATION = 0x801C0002
E_DRS_AUTHORIZATION = 0x801C0003
E_DRS_INTERNAL = 0x801C0006
E_DRS_DISCOVERY_FAILED = 0x801C000C
E_DRS_QUOTA = 0x801C000E
E_DRS_SERVER_BUSY = 0x801C0025
E_DRS_TENANT_NOT_FOUND = 0x801C003A
E_DRS_UNAUTHORIZED = 0x801C03ED
E_DRS_DIRECTORY = 0x801C03F2
E_MENROLL_AUTHENTICATION = 0x80180002
E_NET_TIMEOUT = 0x80072EE2
E_NET_NAME_NOT_RESOLVED = 0x80072EE7
E_NET_CANNOT_CONNECT = 0x80072EFD
E_NET_SECURE_FAILURE = 0x80072F8F
# CloudAP NTSTATUS (join-protocol.md §4, HYB-DOC)
STATUS_LOGON_FAILURE = 0xC000006D
STATUS_WRONG_PASSWORD = 0xC000006A
STATUS_REQUEST_NOT_ACCEPTED = 0xC00000D0
STATUS_NETWORK_UNREACHABLE = 0xC000023C

#: The title every Settings / OOBE error page carries [MDMINT-DOC].
ERROR_PAGE_TITLE = "Something went wrong"


def code_short(value: int) -> str:
    """801c03ed: how the Settings page prints a code."""
    return f"{value & 0xFFFFFFFF:08x}"


def code_hex(value: int) -> str:
    """0x801c03ed: how dsregcmd prints a code."""
    return f"0x{value & 0xFFFFFFFF:08x}"


def error_page_lines(value: int) -> list[str]:
    """The text of the Settings error page for a code.

    The catalogue's UI message when Windows has one; otherwise (ui_message None, or a code the
    catalogue does not know) just "Something went wrong." plus the code, as the brief decided.
    """
    h: HResult | None = HRESULTS.get(value)
    text = h.ui_text() if h else None
    if text:
        return [text]
    # Inferred: without a documented message Windows prints the bare code under the title.
    return ["Something went wrong.", f"Error code: {code_short(value)}"]


# -- exceptions raised inside the device (never leave the public API except as screens) ------
class DeviceError(Exception):
    """A failure the device shows as an error page (join) or records (PRT diagnostics)."""

    def __init__(self, hresult: int, message: str = "", *, http_status: int = 0, server_error: str = "",
                 server_description: str = "", detail: dict | None = None):
        self.hresult = hresult
        self.http_status = http_status
        self.server_error = server_error
        self.server_description = server_description
        self.detail = detail or {}
        super().__init__(message or f"{code_hex(hresult)}")


class NetworkError(DeviceError):
    """No HTTP exchange happened: DNS, connect, timeout or TLS (clock) failure."""


class AadstsError(DeviceError):
    """The identity service answered an OAuth error: shown as the sign-in page text."""

    def __init__(self, code: int, error: str, description: str, *, http_status: int = 400,
                 correlation_id: str = "", hresult: int = 0):
        self.code = code
        self.error = error
        self.description = description
        self.correlation_id = correlation_id
        super().__init__(hresult, description, http_status=http_status, server_error=error,
                         server_description=first_line(description))


def first_line(description: str) -> str:
    """`AADSTS50126: Error validating ...` without the Trace ID / Correlation ID / Timestamp tail."""
    text = (description or "").replace("\r\n", "\n").split("\n", 1)[0]
    cut = text.find(" Trace ID:")
    return (text[:cut] if cut >= 0 else text).strip()


# -- network conditions -----------------------------------------------------------------------
#: device.network value -> the WinINet/WinHTTP HRESULT a request fails with.
NETWORK_STATE_CODES = {
    # Inferred: with no network the resolver fails first (name not resolved).
    "offline": E_NET_NAME_NOT_RESOLVED,
    "dns_failure": E_NET_NAME_NOT_RESOLVED,
    "timeout": E_NET_TIMEOUT,
    # Inferred: a blocked host (firewall / proxy refusing) shows as "cannot connect".
    "blocked": E_NET_CANNOT_CONNECT,
}


def requests_exception_code(exc: BaseException) -> int:
    """requests' exceptions -> WinINet HRESULTs (Timeout, name resolution, connect)."""
    import requests

    if isinstance(exc, requests.exceptions.Timeout):
        return E_NET_TIMEOUT
    if isinstance(exc, requests.exceptions.SSLError):
        return E_NET_SECURE_FAILURE
    text = str(exc).lower()
    if any(s in text for s in ("name or service not known", "nodename nor servname", "failed to resolve",
                               "getaddrinfo", "name resolution", "nameresolutionerror")):
        return E_NET_NAME_NOT_RESOLVED
    return E_NET_CANNOT_CONNECT


# -- DRS ErrorDetails -> DSREG HRESULT (dev notes' shared table) -----------------------------
def drs_error_code(status: int, body: dict | None, *, phase: str = "join") -> int:
    """Map a DRS error reply to the code the Settings page shows.

    phase "discover" uses the discovery codes (0x801C003A tenant not found, 0x801C000C otherwise).
    """
    body = body if isinstance(body, dict) else {}
    etype = str(body.get("ErrorType") or body.get("code") or "")
    sub = str(body.get("ErrorSubCode") or body.get("subcode") or "")
    if status == 503 or etype == "ServiceUnavailable":
        return E_DRS_SERVER_BUSY
    if phase == "discover":
        if sub == "TenantNotFound" or (etype == "DirectoryError" and status == 404):
            return E_DRS_TENANT_NOT_FOUND
        if status == 401 or etype == "AuthenticationError":
            return E_DRS_AUTHENTICATION
        return E_DRS_DISCOVERY_FAILED
    if status == 401 or etype == "AuthenticationError":
        return E_DRS_AUTHENTICATION
    if etype == "AuthorizationError":
        if sub == "DeviceQuotaExceeded":
            return E_DRS_AUTHORIZATION
        # UserNotAuthorizedToJoin, MfaRequired and (Inferred) UserNotFound / UserDisabled:
        # WHFB-DOC lists all of these under 0x801C03ED.
        return E_DRS_UNAUTHORIZED
    if etype in ("InvalidRequest", "MessageFormatError"):
        return E_DRS_MESSAGE_FORMAT
    if etype == "DirectoryError":
        return E_DRS_DIRECTORY
    if status >= 500:
        return E_DRS_INTERNAL
    return E_DRS_MESSAGE_FORMAT


# -- AADSTS at Windows logon -> CloudAP NTSTATUS (dsregcmd "Attempt Status") -----------------
def cloudap_status(aadsts_code: int | None) -> int:
    """The NTSTATUS CloudAP records for a failed PRT request [HYB-DOC]."""
    if aadsts_code in (50126, 50034, 50057, 50053, 50055):
        return STATUS_LOGON_FAILURE
    # Inferred: a rejected device (deleted 50155, disabled 135011, bad nonce/assertion) is a request
    # the server did not accept.
    return STATUS_REQUEST_NOT_ACCEPTED


#: What LogonUI says for a failed cloud logon (Windows strings; Inferred mapping per code).
LOGON_MESSAGES = {
    "bad_credentials": "The user name or password is incorrect. Try again.",
    "disabled": "Your account has been disabled. Please see your system administrator.",
    "locked": "The referenced account is currently locked out and may not be logged on to.",
    "expired": "Your password has expired and must be changed.",
    "no_network": ("We can't sign you in with this credential because your domain isn't available. Make sure "
                   "your device is connected to your organization's network and try again. If you previously "
                   "signed in on this device with another credential, you can sign in with that credential."),
    "device_deleted": "Your organization has deleted this device.",
    "device_disabled": "Your organization has disabled this device.",
    # Inferred: any other refusal of the PRT request (clock skew, bad nonce, ...).
    "not_accepted": "Your credentials could not be verified.",
}


def logon_message_key(aadsts_code: int | None) -> str:
    return {50057: "disabled", 50053: "locked", 50055: "expired", 50155: "device_deleted",
            135011: "device_disabled", 50126: "bad_credentials", 50034: "bad_credentials"}.get(
                aadsts_code or 0, "not_accepted")


# -- AADSTS on the web sign-in pages ------------------------------------------------------------
#: Friendly text the Entra sign-in page shows above the AADSTS details (Microsoft sign-in page strings;
#: the page also shows the AADSTS description in "Troubleshooting details").
SIGNIN_PAGE_TEXT = {
    50126: "Your account or password is incorrect. If you don't remember your password, reset it now.",
    50034: "This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin.",
    50057: "Your account has been disabled. Contact your admin.",
    50053: "Your account is locked. Contact your support person to unlock it, then try again.",
    53003: "You cannot access this right now.",
}
#: Codes that leave the user on the password page (the page just shows the message in red).
PASSWORD_PAGE_CODES = {50126, 50053, 50055}
#: Inferred: the heading of the sign-in error page for other codes.
SIGNIN_ERROR_TITLE = {53003: "You cannot access this right now", 53000: "You cannot access this right now"}
SIGNIN_ERROR_DEFAULT_TITLE = "Sorry, but we're having trouble signing you in."


@dataclass
class PrtAttempt:
    """What dsregcmd's AcquirePrtDiagnostics / RefreshPrtDiagnostics print."""

    time: object                    # datetime (device clock)
    status: int                     # CloudAP NTSTATUS / HRESULT
    user: str
    credential_type: str = "Password"
    correlation_id: str = ""
    endpoint: str = ""
    method: str = "POST"
    http_error: int = 0
    http_status: int = 0
    server_error: str = ""
    server_description: str = ""
    extra: dict = field(default_factory=dict)

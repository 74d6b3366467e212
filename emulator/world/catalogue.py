"""Every error code the emulator can produce, with its message and where the fact comes from.

Three families:
- AADSTS codes of the identity service (`AADSTS`), rendered as OAuth error JSON;
- Windows HRESULTs shown by the Settings dialog and dsregcmd (`HRESULTS`): DSREG 0x801C...,
  MENROLL 0x8018..., WinINet/WinHTTP 0x80072..., CloudAP NTSTATUS 0xC000...;
- confidence: "confirmed" (official doc or real client code), "observed" (third-party captures),
  "inferred" (our choice where the sources are silent; see docs/failure-modes.md).

Source keys are those of ../shared/reference/join-protocol.md and graph-intune.md.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AadstsCode:
    code: int
    name: str
    message: str
    error: str = "invalid_grant"        # OAuth `error` on the token endpoint
    suberror: str | None = None
    source: str = "AADSTS-DOC"
    confidence: str = "confirmed"


AADSTS: dict[int, AadstsCode] = {c.code: c for c in [
    AadstsCode(50034, "UserAccountNotFound",
               "The user account {identifier} does not exist in the {tenant} directory. To sign into this "
               "application, the account must be added to the directory.", "invalid_grant"),
    AadstsCode(50053, "IdsLocked", "Your account is locked because you've tried to sign in too many times with "
               "an incorrect user ID or password.", "invalid_grant"),
    AadstsCode(50055, "InvalidPasswordExpiredPassword", "The password is expired.", "invalid_grant"),
    AadstsCode(50057, "UserDisabled", "The user account is disabled.", "invalid_grant"),
    AadstsCode(50058, "UserInformationNotProvided", "A silent sign-in request was sent but no user is signed in.",
               "interaction_required"),
    AadstsCode(50074, "UserStrongAuthClientAuthNRequiredInterrupt",
               "Strong Authentication is required.", "invalid_grant"),
    AadstsCode(50076, "UserStrongAuthClientAuthNRequired",
               "Due to a configuration change made by your administrator, or because you moved to a new location, "
               "you must use multi-factor authentication to access '{resource}'.", "invalid_grant", "basic_action"),
    AadstsCode(50079, "UserStrongAuthEnrollmentRequired",
               "Due to a configuration change made by your administrator, or because you moved to a new location, "
               "you must enroll in multi-factor authentication to access '{resource}'.", "invalid_grant",
               "basic_action"),
    AadstsCode(50097, "DeviceAuthenticationRequired", "Device authentication is required.", "invalid_grant"),
    AadstsCode(50126, "InvalidUserNameOrPassword",
               "Error validating credentials due to invalid username or password.", "invalid_grant"),
    AadstsCode(50131, "ConditionalAccessFailed", "Used in various conditional access errors.", "invalid_grant"),
    AadstsCode(50155, "DeviceAuthenticationFailed", "Device authentication failed for this user.", "invalid_grant"),
    AadstsCode(500121, "AuthenticationFailedStrongAuthRequest",
               "Authentication failed during strong authentication request.", "invalid_grant"),
    AadstsCode(53000, "DeviceNotCompliant",
               "Device is not in required device state: compliant. Conditional Access policy requires a compliant "
               "device, and the device is not compliant. The user must enroll their device with an approved MDM "
               "provider like Intune.", "invalid_grant", "message_only"),
    AadstsCode(53001, "DeviceNotDomainJoined",
               "Device is not in required device state: domain_joined. Conditional Access policy requires a "
               "domain joined device, and the device is not domain joined.", "invalid_grant", "message_only"),
    AadstsCode(53003, "BlockedByConditionalAccess",
               "Access has been blocked by Conditional Access policies. The access policy does not allow token "
               "issuance.", "invalid_grant", "message_only"),
    AadstsCode(70000, "InvalidGrant", "The provided value for the 'code' parameter is not valid.", "invalid_grant"),
    AadstsCode(70003, "UnsupportedGrantType", "The app requested an unsupported grant type '{grant_type}'.",
               "unsupported_grant_type"),
    AadstsCode(70011, "InvalidScope", "The provided value for the input parameter 'scope' is not valid. "
               "The scope {scope} is not valid.", "invalid_scope"),
    AadstsCode(70016, "AuthorizationPending", "OAuth 2.0 device flow error. Authorization is pending. Continue "
               "polling.", "authorization_pending"),
    AadstsCode(70019, "CodeExpired", "Verification code expired.", "expired_token"),
    AadstsCode(70020, "AuthorizationDeclined", "The user declined the sign-in.", "authorization_declined"),
    AadstsCode(700016, "UnauthorizedClient_DoesNotMatchRequest",
               "Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
               "unauthorized_client"),
    AadstsCode(700024, "ClientAssertionNotWithinValidTimeRange",
               "Client assertion is not within its valid time range. Current time: {now}, assertion valid from "
               "{nbf}, expiry time of assertion {exp}.", "invalid_client", confidence="confirmed"),
    AadstsCode(700027, "Client assertion failed signature validation.",
               "Client assertion failed signature validation.", "invalid_client"),
    AadstsCode(7000215, "InvalidClientSecretProvided",
               "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
               "value, not the client secret ID, for a secret added to app '{client_id}'.", "invalid_client"),
    AadstsCode(900144, "RequestBodyMustContainParameter",
               "The request body must contain the following parameter: '{parameter}'.", "invalid_request"),
    AadstsCode(90002, "InvalidTenantName", "Tenant '{tenant}' not found. Check to make sure you have the correct "
               "tenant ID and are signing into the correct cloud.", "invalid_request"),
    AadstsCode(90014, "MissingRequiredField", "The required field '{parameter}' is missing from the credential. "
               "Ensure that you have all the necessary parameters for the login request.", "invalid_request"),
    AadstsCode(135011, "DeviceDisabled", "Device used during the authentication is disabled.", "invalid_grant"),
    AadstsCode(140000, "InvalidRequestNonce", "Request nonce is not provided.", "invalid_request"),
    AadstsCode(50049, "NoSuchInstanceForDiscovery", "Unknown or invalid instance.", "invalid_instance"),
    AadstsCode(9002313, "InvalidRequest", "Invalid request. Request is malformed or invalid.", "invalid_request"),
    AadstsCode(7000218, "InvalidClient",
               "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
               "invalid_client"),
    AadstsCode(500011, "InvalidResourceServicePrincipalNotFound",
               "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen "
               "if the application has not been installed by the administrator of the tenant or consented to by any "
               "user in the tenant. You might have sent your authentication request to the wrong tenant.",
               "invalid_resource"),
    AadstsCode(70008, "ExpiredOrRevokedGrant",
               "The provided authorization code or refresh token has expired due to inactivity. Send a new "
               "interactive authorization request for this user and resource.", "invalid_grant"),
    AadstsCode(700082, "ExpiredOrRevokedGrantInactiveToken",
               "The refresh token has expired due to inactivity. The token was issued on {issued} and was inactive "
               "for {inactive}.", "invalid_grant"),
    AadstsCode(1002012, "InvalidScope",
               "The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
               "with /.default suffixed to the resource identifier (application ID URI).", "invalid_scope"),
    AadstsCode(90033, "MsodsServiceUnavailable", "A transient error has occurred. Please try again.",
               "temporarily_unavailable"),
    AadstsCode(240001, "BulkAADJTokenUnauthorized",
               "The user isn't authorized to register devices in Microsoft Entra ID.", "invalid_grant"),
]}


@dataclass(frozen=True)
class HResult:
    value: int
    symbol: str
    meaning: str
    #: What the Settings / OOBE error page says ({0} = the code as Windows prints it, e.g. 801c03ed).
    ui_message: str | None
    source: str
    confidence: str = "confirmed"

    @property
    def hex(self) -> str:
        """0x801c03ed (dsregcmd style)."""
        return f"0x{self.value:08x}"

    @property
    def short(self) -> str:
        """801c03ed (Settings error page style)."""
        return f"{self.value:08x}"

    def ui_text(self) -> str | None:
        return self.ui_message.replace("{0}", self.short) if self.ui_message else None


_COMM = ("There was an error communicating with the server. You can try to do this again or contact your "
         "system administrator with the error code {0}")

HRESULTS: dict[int, HResult] = {h.value: h for h in [
    # DSREG (device registration) ------------------------------------------------------------
    HResult(0x801C0001, "DSREG_E_DEVICE_MESSAGE_FORMAT_ERROR", "DRS response not in a valid format", _COMM,
            "MDMINT-DOC, WHFB-DOC"),
    HResult(0x801C0002, "DSREG_E_DEVICE_AUTHENTICATION_ERROR", "DRS returned AuthenticationError",
            "There was a problem authenticating your account or device. You can try to do this again or contact "
            "your system administrator with the error code {0}.", "HYB-DOC, MDMINT-DOC"),
    HResult(0x801C0003, "DSREG_E_DEVICE_AUTHORIZATION_ERROR", "The user is not authorized to join",
            "This user is not authorized to enroll. You can try to do this again or contact your system "
            "administrator with the error code {0}.", "MDMINT-DOC, INTUNE-WIN-ERR"),
    HResult(0x801C0006, "DSREG_E_DEVICE_INTERNALSERVICE_ERROR", "Unhandled DRS server exception", _COMM,
            "HYB-DOC, WHFB-DOC"),
    HResult(0x801C000C, "DSREG_E_DISCOVERY_FAILED", "DRS discovery failed", _COMM, "MDMINT-DOC"),
    HResult(0x801C000E, "DSREG_E_DEVICE_REGISTRATION_QUOTA_EXCCEEDED", "Registration quota reached",
            "Looks like there are too many devices or users for this account. Contact your system administrator "
            "with the error code {0}.", "MDMINT-DOC, WHFB-DOC"),
    HResult(0x801C0021, "DSREG_AUTOJOIN_DISC_FAILED", "Generic discovery or realm discovery failure", _COMM,
            "HYB-DOC"),
    HResult(0x801C0025, "DSREG_SERVER_BUSY", "HTTP 503 from DRS", _COMM, "HYB-DOC"),
    HResult(0x801C003A, "DSREG_DISCOVERY_TENANT_NOT_FOUND", "Wrong tenant or no subscription", _COMM, "HYB-DOC"),
    HResult(0x801C03ED, "DSREG_E_ADRS_UNAUTHORIZED",
            "The user doesn't have permissions to join, or MFA required for join was not performed",
            None, "WHFB-DOC, third-party OOBE reports", "observed"),
    HResult(0x801C03F2, "DSREG_E_DIRECTORY_FAILURE", "DRS ErrorCode DirectoryError", _COMM, "HYB-DOC"),
    # MENROLL (MDM enrollment) ---------------------------------------------------------------
    HResult(0x80180002, "MENROLL_E_DEVICE_AUTHENTICATION_ERROR", "Enrollment authentication failed",
            "There was a problem authenticating your account or device. You can try to do this again or contact "
            "your system administrator with the error code {0}.", "MDMENR-DOC, MDMINT-DOC"),
    HResult(0x80180003, "MENROLL_E_DEVICE_AUTHORIZATION_ERROR", "This user is not authorized to enroll",
            "This user is not authorized to enroll. You can try to do this again or contact your system "
            "administrator with the error code {0}.", "MDMENR-DOC, INTUNE-WIN-ERR"),
    HResult(0x8018000A, "MENROLL_E_DEVICE_ALREADY_ENROLLED", "The device is already enrolled",
            "The device is already enrolled. You can contact your system administrator with the error code {0}.",
            "INTUNE-WIN-ERR"),
    HResult(0x80180013, "MENROLL_E_DEVICECAPREACHED", "Intune device limit reached",
            "Looks like there are too many devices or users for this account. Contact your system administrator "
            "with the error code {0}.", "MDMENR-DOC, MDMINT-DOC"),
    HResult(0x80180014, "MENROLL_E_DEVICENOTSUPPORTED", "Platform blocked by an enrollment restriction",
            "This feature is not supported. Contact your system administrator with the error code {0}.",
            "MDMENR-DOC, MDMINT-DOC"),
    HResult(0x80180018, "MENROLL_E_USERLICENSE", "The user has no Intune licence",
            "There was an error with your license. You can try to do this again or contact your system "
            "administrator with the error code {0}.", "MDMENR-DOC, MDMINT-DOC"),
    HResult(0x80180026, "MENROLL_E_INTUNE_AGENT_PRESENT", "Legacy Intune PC agent present",
            "Confirm you are using the correct sign-in information and that your organization uses this feature. "
            "You can try to do this again or contact your system administrator with the error code {0}.",
            "INTUNE-WIN-ERR"),
    # Network (WinINet / WinHTTP as HRESULT) -------------------------------------------------
    HResult(0x80072EE2, "WININET_E_TIMEOUT", "The operation timed out", _COMM, "HYB-DOC"),
    HResult(0x80072EE7, "WININET_E_NAME_NOT_RESOLVED", "The server name could not be resolved", _COMM, "HYB-DOC"),
    HResult(0x80072EFD, "WININET_E_CANNOT_CONNECT", "A connection with the server could not be established",
            _COMM, "HYB-DOC"),
    HResult(0x80072F8F, "WININET_E_DECODING_FAILED / ERROR_WINHTTP_SECURE_FAILURE",
            "TLS failure; documented cause: the system clock does not match the server's", _COMM,
            "WHFB-DOC, HYB-DOC (0xCAA82F8F)", "inferred"),
    # CloudAP (NTSTATUS) ---------------------------------------------------------------------
    HResult(0xC000006D, "STATUS_LOGON_FAILURE", "The user name or password is incorrect", None, "HYB-DOC"),
    HResult(0xC000006A, "STATUS_WRONG_PASSWORD", "Wrong password", None, "HYB-DOC"),
    HResult(0xC000023C, "STATUS_NETWORK_UNREACHABLE", "The network is unreachable", None, "HYB-DOC"),
    HResult(0xC00000D0, "STATUS_REQUEST_NOT_ACCEPTED", "Request not accepted", None, "HYB-DOC"),
]}


def aadsts(code: int) -> AadstsCode:
    return AADSTS[code]


def hresult(value: int) -> HResult:
    return HRESULTS[value]

"""DRS errors in the service's own dialect: the MS-DVRJ `ErrorDetails` JSON
(`ErrorType`, `ErrorSubCode`, `Message`, `TraceId`, `Time`), one small class per error.

The HTTP status / ErrorType / ErrorSubCode choices follow the shared DRS error table
(docs/dev-notes-for-helpers.md); the Windows side maps them to 0x801C.... codes.
"""
from __future__ import annotations

import uuid

from ...http import Response, json_response
from ..errors import ServiceError


def _iso(dt) -> str:
    # DRS times carry milliseconds (ISO 8601, UTC).
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class DrsError(ServiceError):
    """One DRS error. Signature kept positional (status, error_type, message) for the fault dialects."""

    status = 400
    error_type = "InvalidRequest"
    sub_code: str | None = None
    message = "The request is invalid."

    def __init__(self, status: int | None = None, error_type: str | None = None, message: str | None = None,
                 sub_code: str | None = None):
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type
        if message is not None:
            self.message = message
        if sub_code is not None:
            self.sub_code = sub_code
        super().__init__(f"{self.error_type}/{self.sub_code}: {self.message}")

    def body(self, ctx) -> dict:
        out = {"ErrorType": self.error_type}
        if self.sub_code:
            out["ErrorSubCode"] = self.sub_code
        out["Message"] = self.message
        out["TraceId"] = str(uuid.uuid4())
        out["Time"] = _iso(ctx.world.clock.now())
        return out

    def to_response(self, ctx) -> Response:
        headers = {"x-ms-request-id": ctx.request_id}
        crid = ctx.request.headers.get("client-request-id")
        if crid:
            headers["client-request-id"] = crid
        return json_response(self.body(ctx), self.status, headers=headers)


class InvalidToken(DrsError):
    """Bearer token missing, malformed, badly signed, expired or for another audience (0x801C0002)."""

    status = 401
    error_type = "AuthenticationError"
    sub_code = "InvalidToken"
    message = "The access token is missing or invalid."


class InvalidClientCertificate(DrsError):
    """DELETE without a device certificate issued by DRS for that device (0x801C0002).
    Inferred: same AuthenticationError family as a bad token; the real text is not published."""

    status = 401
    error_type = "AuthenticationError"
    sub_code = "InvalidCertificate"
    message = "The client certificate is missing or was not issued for this device."


class UserNotFound(DrsError):
    """The token's user is not in the directory.
    Inferred: AuthorizationError family (WHFB-DOC lists 'failed to read objects' under 0x801C03ED)."""

    status = 400
    error_type = "AuthorizationError"
    sub_code = "UserNotFound"
    message = "The user was not found in the directory."


class UserDisabled(DrsError):
    """Inferred, as UserNotFound."""

    status = 400
    error_type = "AuthorizationError"
    sub_code = "UserDisabled"
    message = "The user account is disabled."


class UserNotAuthorizedToJoin(DrsError):
    status = 400
    error_type = "AuthorizationError"
    sub_code = "UserNotAuthorizedToJoin"
    message = "User is not authorized to join devices to Azure AD."


class UserNotAuthorizedToRegister(DrsError):
    status = 400
    error_type = "AuthorizationError"
    sub_code = "UserNotAuthorizedToJoin"
    message = "User is not authorized to register devices in Azure AD."


class MfaRequired(DrsError):
    status = 400
    error_type = "AuthorizationError"
    sub_code = "MfaRequired"
    message = "Multi-factor authentication is required to join or register devices, but was not performed."


class DeviceQuotaExceeded(DrsError):
    status = 400
    error_type = "AuthorizationError"
    sub_code = "DeviceQuotaExceeded"
    message = ("The user has reached the maximum number of devices allowed to be registered or joined "
               "in this tenant.")


class InvalidRequest(DrsError):
    """A required field is missing or has a bad value (0x801C0001)."""

    status = 400
    error_type = "InvalidRequest"


class MessageFormatError(DrsError):
    """The body is not JSON, or the certificate request / transport key cannot be read (0x801C0001).
    Inferred: the table names 'InvalidRequest / MessageFormatError'; we use MessageFormatError for
    bodies and key material we cannot parse, InvalidRequest for missing or out-of-range fields."""

    status = 400
    error_type = "MessageFormatError"
    message = "The request message is not in a valid format."


class TenantNotFound(DrsError):
    """Discovery for an unknown tenant id or domain (Windows: 0x801C003A DSREG_DISCOVERY_TENANT_NOT_FOUND).
    Inferred: 404 with DirectoryError/TenantNotFound; the real body is not published."""

    status = 404
    error_type = "DirectoryError"
    sub_code = "TenantNotFound"

    def __init__(self, tenant_ref: str):
        super().__init__(message=f"The tenant '{tenant_ref}' was not found.")


class DeviceNotFound(DrsError):
    """HYB-DOC: DirectoryError 'The device object by the given id (...) is not found.' (0x801C03F2)."""

    status = 404
    error_type = "DirectoryError"
    sub_code = "DeviceNotFound"

    def __init__(self, device_id: str):
        super().__init__(message=f"The device object by the given id ({device_id}) is not found.")


class ServiceUnavailable(DrsError):
    status = 503
    error_type = "ServiceUnavailable"
    message = "The service is temporarily unavailable."

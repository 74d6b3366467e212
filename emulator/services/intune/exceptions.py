"""SOAP faults of the Intune enrollment service (MS-MDE2 §2.2.10, MDMENR-DOC).

Shape: SOAP 1.2 `s:Fault` with code `s:Receiver`, a subcode (`s:MessageFormat`, `s:Authentication`,
`s:Authorization`, `s:CertificateRequest`, `s:EnrollmentServer`, `a:InternalServiceFault`,
`a:InvalidSecurity`), a reason text, and (Windows 10 1507 and later) the detail element
`DeviceEnrollmentServiceError {ErrorType, Message, TraceId}` whose ErrorType names the precise
condition (`DeviceCapReached`, `DeviceNotSupported`, `UserLicense`, ...).

Inferred:
- Element case: the Learn page prints its samples in lower case (`deviceenrollmentserviceerror`,
  `errortype`), but XML is case-sensitive and both the Windows enrollment client's XPath
  (`//e:DeviceEnrollmentServiceError//e:ErrorType`) and captured Intune faults use PascalCase, so
  PascalCase is emitted.
- HTTP status 500: the SOAP 1.2 HTTP binding answers a Receiver fault with 500, as WCF (the real
  service's stack) does.
- The "policy" errors (licence, device cap, platform) go out with subcode `s:Authorization` and
  the precise error type in the detail, as in the MS-MDE2 example (reason "device cap reached",
  subcode authorization, errortype devicecapreached) and in captured Intune faults.
"""
from __future__ import annotations

from ...http import Response
from ...wire import soap
from ..errors import ServiceError

#: Action of a fault answering an enrollment (RST) request, as in the MS-MDE2 example.
FAULT_ACTION_ENROLL = soap.ACTION_RSTRC
#: Generic WS-Addressing fault action (used for discovery faults; inferred, WCF's default).
FAULT_ACTION_GENERIC = "http://www.w3.org/2005/08/addressing/soap/fault"


class SoapFault(ServiceError):
    status = 500
    subcode = "EnrollmentServer"
    prefix = "s"
    error_type: str | None = None
    default_reason = "The enrollment server could not process the request."

    def __init__(self, reason: str | None = None, *, error_type: str | None = None,
                 action: str = FAULT_ACTION_ENROLL, relates_to: str = ""):
        self.reason = reason or self.default_reason
        if error_type is not None:
            self.error_type = error_type
        self.action = action
        self.relates_to = relates_to
        super().__init__(f"{self.prefix}:{self.subcode} {self.error_type or ''} {self.reason}".strip())

    @property
    def hresult(self) -> int:
        return soap.fault_hresult(self.subcode, self.error_type or self.subcode)

    def xml(self, trace_id: str) -> str:
        detail = (f'<s:Detail><DeviceEnrollmentServiceError xmlns="{soap.NS_ENROLL_PKI}">'
                  f"<ErrorType>{soap.x(self.error_type or self.subcode)}</ErrorType>"
                  f"<Message>{soap.x(self.reason)}</Message>"
                  f"<TraceId>{soap.x(trace_id)}</TraceId>"
                  "</DeviceEnrollmentServiceError></s:Detail>")
        body = ("<s:Fault><s:Code><s:Value>s:Receiver</s:Value>"
                f"<s:Subcode><s:Value>{self.prefix}:{self.subcode}</s:Value></s:Subcode></s:Code>"
                f'<s:Reason><s:Text xml:lang="en-US">{soap.x(self.reason)}</s:Text></s:Reason>'
                f"{detail}</s:Fault>")
        return soap.envelope(action=self.action, body=body, relates_to=self.relates_to, activity_id=trace_id)

    def to_response(self, ctx) -> Response:
        trace_id = getattr(ctx, "request_id", "") or ""
        return Response(self.status, {"Content-Type": soap.CONTENT_TYPE}, self.xml(trace_id).encode("utf-8"))


class MessageFormatFault(SoapFault):
    subcode = "MessageFormat"
    default_reason = "The message format is bad."


class AuthenticationFault(SoapFault):
    subcode = "Authentication"
    default_reason = "The user or device could not be authenticated."


class AuthorizationFault(SoapFault):
    subcode = "Authorization"
    # MDMENR-DOC / MS-MDE2 example reason text.
    default_reason = "This User is not authorized to enroll"


class CertificateRequestFault(SoapFault):
    subcode = "CertificateRequest"
    default_reason = "The certificate request could not be processed."


class EnrollmentServerFault(SoapFault):
    subcode = "EnrollmentServer"


class InternalServiceFault(SoapFault):
    subcode = "InternalServiceFault"
    prefix = "a"
    default_reason = "The server hit an unexpected issue."


class InvalidSecurityFault(SoapFault):
    subcode = "InvalidSecurity"
    prefix = "a"
    default_reason = "Cannot parse the security header."


class UserLicenseFault(AuthorizationFault):
    error_type = "UserLicense"
    # Inferred wording (the real reason text is not published); the meaning is MDMENR-DOC's.
    default_reason = "User license is in a bad state and is blocking the enrollment."


class DeviceCapReachedFault(AuthorizationFault):
    error_type = "DeviceCapReached"
    default_reason = "device cap reached"  # MS-MDE2 example reason text


class DeviceNotSupportedFault(AuthorizationFault):
    error_type = "DeviceNotSupported"
    # Inferred wording, after the Intune error page text for 0x80180014.
    default_reason = "Your organization does not support this version of Windows."


class DeviceAlreadyEnrolledFault(AuthorizationFault):
    error_type = "DeviceAlreadyEnrolled"  # inferred wire form, see soap.ERROR_TYPE_HRESULTS
    default_reason = "The device is already enrolled."


_BY_NAME: dict[str, type[SoapFault]] = {
    c.error_type or c.subcode: c for c in (
        MessageFormatFault, AuthenticationFault, AuthorizationFault, CertificateRequestFault,
        EnrollmentServerFault, InternalServiceFault, InvalidSecurityFault, UserLicenseFault,
        DeviceCapReachedFault, DeviceNotSupportedFault, DeviceAlreadyEnrolledFault)
}
_BY_NAME_CI = {k.lower(): v for k, v in _BY_NAME.items()}


def fault_for(name: str, status: int | None = None, reason: str | None = None) -> SoapFault:
    """A fault named like a fault rule's "intune:<Name>" (subcode or error type, any case);
    for `emulator/services/dialects.py`. Unknown names give an EnrollmentServer fault whose
    ErrorType is the name (InMaintenance, NotSupported, ... map to their HRESULTs on the client)."""
    cls = _BY_NAME_CI.get((name or "").lower())
    if cls is None:
        fault: SoapFault = EnrollmentServerFault(reason, error_type=name or None)
    else:
        fault = cls(reason)
    if status:
        fault.status = status
    return fault

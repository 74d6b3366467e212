"""SOAP 1.2 / WS-Addressing / WS-Security helpers shared by the Intune enrollment service and the
device's enrollment client (MS-MDE2 over SOAP, as join-protocol.md §6 describes it).

Parsing is namespace-tolerant: elements are found by local name, because the real clients use
several prefixes and default-namespace styles for the same elements (the MS-MDE2 examples, Windows
and AADInternals all differ). Writing uses the prefixes of the MS-MDE2 / Learn examples.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

# Namespaces (MS-MDE2 §2.2, Learn "Federated authentication device enrollment").
NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_ADDRESSING = "http://www.w3.org/2005/08/addressing"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS_WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
NS_AC = "http://schemas.xmlsoap.org/ws/2006/12/authorization"
NS_ENROLL_DISCOVERY = "http://schemas.microsoft.com/windows/management/2012/01/enrollment"
NS_ENROLL_PKI = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
NS_ENROLL_POLICY = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"
NS_DIAGNOSTICS = "http://schemas.microsoft.com/2004/09/servicemodel/diagnostics"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"

# Actions.
ACTION_DISCOVER = "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover"
ACTION_DISCOVER_RESPONSE = ACTION_DISCOVER + "Response"
ACTION_RST = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep"
ACTION_RSTRC = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep"
ACTION_GET_POLICIES = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies"
ACTION_GET_POLICIES_RESPONSE = ACTION_GET_POLICIES + "Response"

# Token / value types.
TOKEN_TYPE_ENROLLMENT = "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken"
VALUE_TYPE_PROVISION_DOC = ("http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/"
                            "DeviceEnrollmentProvisionDoc")
VALUE_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
VALUE_TYPE_USER_TOKEN = "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentUserToken"
VALUE_TYPE_PKCS10 = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10"
ENCODING_BASE64 = NS_WSSE + "#base64binary"
REQUEST_TYPE_ISSUE = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"

CONTENT_TYPE = "application/soap+xml; charset=utf-8"


class SoapParseError(ValueError):
    """The bytes are not a SOAP envelope we can read."""


def local(tag: str) -> str:
    """Local name of an ElementTree tag ("{ns}Name" -> "Name")."""
    return tag[tag.rfind("}") + 1:] if isinstance(tag, str) else ""


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def iter_local(elem: ET.Element, name: str, *, ignore_case: bool = False) -> Iterator[ET.Element]:
    """Every descendant (or the element itself) whose local name is `name`."""
    if ignore_case:
        want = name.lower()
        for e in elem.iter():
            tag = e.tag
            if (tag[tag.rfind("}") + 1:].lower() if isinstance(tag, str) else "") == want:
                yield e
        return
    for e in elem.iter():
        tag = e.tag
        if (tag[tag.rfind("}") + 1:] if isinstance(tag, str) else "") == name:
            yield e


def find_local(elem: ET.Element | None, name: str, *, ignore_case: bool = False) -> ET.Element | None:
    if elem is None:
        return None
    return next(iter_local(elem, name, ignore_case=ignore_case), None)


def child_local(elem: ET.Element | None, name: str) -> ET.Element | None:
    """The first direct child with that local name."""
    if elem is None:
        return None
    for c in elem:
        if local(c.tag) == name:
            return c
    return None


def text_of(elem: ET.Element | None) -> str:
    return (elem.text or "").strip() if elem is not None else ""


def attr_local(elem: ET.Element, name: str) -> str | None:
    """An attribute by local name, with or without a namespace prefix (Windows writes both
    `ValueType` and `wsse:ValueType`)."""
    for k, v in elem.attrib.items():
        if local(k) == name:
            return v
    return None


def parse_xml(data: bytes | str) -> ET.Element:
    """Parse untrusted XML. DTDs are refused outright (no entity expansion of any kind)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data or b"")
    if not raw.strip():
        raise SoapParseError("The message body is empty.")
    # (Both markers start with "<!": only such documents need the case-insensitive search.)
    if b"<!" in raw and (b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper()):
        raise SoapParseError("DTDs are not allowed in SOAP messages.")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        raise SoapParseError(f"The XML is not well formed: {exc}") from None
    except (LookupError, ValueError) as exc:  # e.g. <?xml encoding="bogus"?>: expat's LookupError
        raise SoapParseError(f"The XML cannot be read: {exc}") from None


@dataclass
class Envelope:
    root: ET.Element
    header: ET.Element | None
    body: ET.Element
    action: str
    message_id: str
    to: str

    @property
    def payload(self) -> ET.Element | None:
        """The first element inside s:Body."""
        return next(iter(self.body), None)


def parse_envelope(data: bytes | str) -> Envelope:
    root = parse_xml(data)
    if local(root.tag) != "Envelope" or namespace(root.tag) not in (NS_SOAP12, NS_SOAP11):
        raise SoapParseError("The root element is not a SOAP envelope.")
    header = child_local(root, "Header")
    body = child_local(root, "Body")
    if body is None:
        raise SoapParseError("The SOAP envelope has no Body.")
    return Envelope(root=root, header=header, body=body,
                    action=text_of(child_local(header, "Action")),
                    message_id=text_of(child_local(header, "MessageID")),
                    to=text_of(child_local(header, "To")))


_NEEDS_ESCAPE = re.compile(r"[&<>]").search
_NEEDS_ATTR_ESCAPE = re.compile("[&<>\"'\n\r\t]").search


def x(text: object) -> str:
    """Escape element text (xml.sax.saxutils.escape; text without & < > is returned as is)."""
    s = "" if text is None else str(text)
    return escape(s) if _NEEDS_ESCAPE(s) else s


def xa(text: object) -> str:
    """A quoted, escaped attribute value (with its quotes), as xml.sax.saxutils.quoteattr writes it."""
    s = "" if text is None else str(text)
    return quoteattr(s) if _NEEDS_ATTR_ESCAPE(s) else f'"{s}"'


def envelope(*, action: str, body: str, relates_to: str = "", activity_id: str = "",
             extra_header: str = "", extra_ns: str = "") -> str:
    """A SOAP 1.2 envelope in the shape of the MS-MDE2 response examples."""
    head = [f'<a:Action s:mustUnderstand="1">{x(action)}</a:Action>']
    if activity_id:
        head.append(f'<ActivityId CorrelationId={xa(activity_id)} xmlns="{NS_DIAGNOSTICS}">{x(activity_id)}'
                    "</ActivityId>")
    if relates_to:
        head.append(f"<a:RelatesTo>{x(relates_to)}</a:RelatesTo>")
    if extra_header:
        head.append(extra_header)
    return (f'<s:Envelope xmlns:s="{NS_SOAP12}" xmlns:a="{NS_ADDRESSING}"{extra_ns}>'
            f"<s:Header>{''.join(head)}</s:Header><s:Body>{body}</s:Body></s:Envelope>")


def request_envelope(*, action: str, to: str, message_id: str, body: str, security: str = "",
                     extra_ns: str = "") -> str:
    """A client request envelope (Action, MessageID, ReplyTo, To and an optional wsse:Security)."""
    sec = f'<wsse:Security s:mustUnderstand="1">{security}</wsse:Security>' if security else ""
    return (f'<s:Envelope xmlns:s="{NS_SOAP12}" xmlns:a="{NS_ADDRESSING}" xmlns:u="{NS_WSU}" '
            f'xmlns:wsse="{NS_WSSE}" xmlns:wst="{NS_WST}" xmlns:ac="{NS_AC}"{extra_ns}>'
            f'<s:Header><a:Action s:mustUnderstand="1">{x(action)}</a:Action>'
            f"<a:MessageID>{x(message_id)}</a:MessageID>"
            f"<a:ReplyTo><a:Address>{ANONYMOUS}</a:Address></a:ReplyTo>"
            f'<a:To s:mustUnderstand="1">{x(to)}</a:To>{sec}</s:Header>'
            f"<s:Body>{body}</s:Body></s:Envelope>")


@dataclass
class ParsedFault:
    code: str          # "s:Receiver"
    subcode: str       # "Authorization" (prefix stripped)
    subcode_prefix: str  # "s" | "a"
    reason: str
    error_type: str | None
    message: str | None
    trace_id: str | None


def parse_fault(root_or_bytes: ET.Element | bytes | str) -> ParsedFault | None:
    """The SOAP fault of a response, or None when it carries none. Tolerant of case (the MS-MDE2
    doc prints its fault examples in lower case; the Windows client reads PascalCase)."""
    try:
        root = root_or_bytes if isinstance(root_or_bytes, ET.Element) else parse_xml(root_or_bytes)
    except SoapParseError:
        return None
    fault = find_local(root, "Fault", ignore_case=True)
    if fault is None:
        return None
    code_el = find_local(fault, "Code", ignore_case=True)
    code = text_of(child_local_ci(code_el, "Value"))
    sub = text_of(child_local_ci(child_local_ci(code_el, "Subcode"), "Value"))
    prefix, _, name = sub.rpartition(":")
    detail = find_local(fault, "DeviceEnrollmentServiceError", ignore_case=True)
    return ParsedFault(
        code=code, subcode=name, subcode_prefix=prefix,
        reason=text_of(find_local(find_local(fault, "Reason", ignore_case=True), "Text", ignore_case=True)),
        error_type=text_of(find_local(detail, "ErrorType", ignore_case=True)) or None if detail is not None else None,
        message=text_of(find_local(detail, "Message", ignore_case=True)) or None if detail is not None else None,
        trace_id=text_of(find_local(detail, "TraceId", ignore_case=True)) or None if detail is not None else None,
    )


def child_local_ci(elem: ET.Element | None, name: str) -> ET.Element | None:
    if elem is None:
        return None
    want = name.lower()
    for c in elem:
        if local(c.tag).lower() == want:
            return c
    return None


# MS-MDE2 §2.2.10 / MDMENR-DOC: SOAP fault subcodes and deviceenrollmentserviceerror error types,
# with the MENROLL HRESULT the Windows enrollment client reports for each.
SUBCODE_HRESULTS: dict[str, int] = {
    "MessageFormat": 0x80180001,
    "Authentication": 0x80180002,
    "Authorization": 0x80180003,
    "CertificateRequest": 0x80180004,
    "EnrollmentServer": 0x80180005,
    "InternalServiceFault": 0x80180006,   # a: namespace
    "InvalidSecurity": 0x80180007,        # a: namespace
}
ERROR_TYPE_HRESULTS: dict[str, int] = {
    "DeviceCapReached": 0x80180013,
    "DeviceNotSupported": 0x80180014,
    "NotSupported": 0x80180015,
    "NotEligibleToRenew": 0x80180016,
    "InMaintenance": 0x80180017,
    "UserLicense": 0x80180018,
    "InvalidEnrollmentData": 0x80180019,
    # Inferred: MENROLL_E_DEVICE_ALREADY_ENROLLED (0x8018000A) has no documented wire form (Windows
    # raises it locally); the emulator's service signals it with this error type so the client can
    # show the documented Settings message.
    "DeviceAlreadyEnrolled": 0x8018000A,
}
#: Used when a fault names nothing we know (MENROLL_E_DEVICE_CONFIGMGRSERVER_ERROR, generic server failure).
DEFAULT_FAULT_HRESULT = 0x80180005


def fault_hresult(subcode: str, error_type: str | None) -> int:
    """The HRESULT a fault maps to: the detail error type wins (it is the more specific one, as
    in the MS-MDE2 example where subcode Authorization carries error type DeviceCapReached)."""
    if error_type:
        for k, v in ERROR_TYPE_HRESULTS.items():
            if k.lower() == error_type.lower():
                return v
    for k, v in SUBCODE_HRESULTS.items():
        if k.lower() == (subcode or "").lower():
            return v
    if error_type:
        for k, v in SUBCODE_HRESULTS.items():
            if k.lower() == error_type.lower():
                return v
    return DEFAULT_FAULT_HRESULT

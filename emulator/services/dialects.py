"""Render an error named by a fault rule ("aadsts:50076", "graph:TooManyRequests",
"drs:DirectoryError", "intune:DeviceCapReached") in the dialect of the service that was called."""
from __future__ import annotations

from ..http import Response, json_response


def dialect_error(ctx, spec: str | None, status: int, *, retry_after: float | None = None) -> Response:
    family, _, value = (spec or "").partition(":")
    family = family.strip().lower()
    value = value.strip()
    if family == "aadsts" or (not family and ctx.service == "identity"):
        from .identity.exceptions import AadstsError

        code = int(value) if value.isdigit() else 90033
        return AadstsError(code, status, message=None if value.isdigit() else "A transient error has occurred. "
                           "Please try again.", **_aadsts_fields(ctx)).to_response(ctx)
    if family == "graph" or (not family and ctx.service == "graph"):
        from .graph.exceptions import GraphError

        return GraphError(status, value or _graph_code(status), _graph_message(status)).to_response(ctx)
    if family == "drs" or (not family and ctx.service == "registration"):
        from .registration.exceptions import DrsError

        if value.lower() == "throttled":
            # HYB-DOC: a throttled DRS request is a DirectoryError with this text.
            secs = int(retry_after) if retry_after and float(retry_after).is_integer() else (retry_after or 300)
            return DrsError(status, "DirectoryError",
                            f"Your request is throttled temporarily. Please try after {secs} seconds.").to_response(ctx)
        return DrsError(status, value or "InternalServerError",
                        "The service is temporarily unavailable." if status == 503 else "An error occurred.").to_response(ctx)
    if family == "intune" or (not family and ctx.service == "intune"):
        from .intune.exceptions import fault_for

        return fault_for(value, status).to_response(ctx)
    return json_response({"error": {"code": value or str(status), "message": "Injected fault."}}, status)


def _aadsts_fields(ctx) -> dict[str, str]:
    """Values for the {placeholders} of AADSTS texts, taken from the request the fault answers
    (so "aadsts:50076" names the resource asked for, as the real text does)."""
    req = ctx.request
    ctype = (req.headers.get("content-type") or "").lower()
    params = dict(req.query)
    if req.method == "POST" and (not ctype or "form-urlencoded" in ctype):
        params.update(req.form())
    from .identity.tokens import find_resource, parse_v2_scopes

    resource = params.get("resource") or ""
    if resource:   # named as the service does: by app id
        found = find_resource(resource)
        resource = found.app_id if found is not None else resource
    elif params.get("scope"):
        found, _, _ = parse_v2_scopes(params["scope"])
        resource = found.app_id if found is not None else ""
    tenant = (ctx.params or {}).get("tenant") or ""
    return {"resource": resource or "00000003-0000-0000-c000-000000000000", "tenant": tenant,
            "client_id": params.get("client_id") or "", "grant_type": params.get("grant_type") or "",
            "identifier": params.get("username") or "", "parameter": "", "scope": params.get("scope") or ""}


def _graph_code(status: int) -> str:
    return {429: "TooManyRequests", 503: "serviceNotAvailable", 500: "generalException",
            401: "InvalidAuthenticationToken", 403: "Authorization_RequestDenied",
            404: "Request_ResourceNotFound"}.get(status, "Request_BadRequest")


def _graph_message(status: int) -> str:
    return {429: "Please retry again later.", 503: "The service is temporarily unavailable.",
            401: "Access token validation failure.", 403: "Insufficient privileges to complete the operation."
            }.get(status, "An error has occurred.")

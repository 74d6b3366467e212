"""Render an error named by a fault rule ("aadsts:50076", "graph:TooManyRequests",
"drs:DirectoryError", "intune:DeviceCapReached") in the dialect of the service that was called."""
from __future__ import annotations

from ..http import Response, json_response


def dialect_error(ctx, spec: str | None, status: int) -> Response:
    family, _, value = (spec or "").partition(":")
    family = family.strip().lower()
    value = value.strip()
    if family == "aadsts" or (not family and ctx.service == "identity"):
        from .identity.exceptions import AadstsError

        code = int(value) if value.isdigit() else 90033
        return AadstsError(code, status, message=None if value.isdigit() else "A transient error has occurred. "
                           "Please try again.").to_response(ctx)
    if family == "graph" or (not family and ctx.service == "graph"):
        from .graph.exceptions import GraphError

        return GraphError(status, value or _graph_code(status), _graph_message(status)).to_response(ctx)
    if family == "drs" or (not family and ctx.service == "registration"):
        from .registration.exceptions import DrsError

        return DrsError(status, value or "InternalServerError",
                        "The service is temporarily unavailable." if status == 503 else "An error occurred.").to_response(ctx)
    if family == "intune" or (not family and ctx.service == "intune"):
        from .intune.exceptions import fault_for

        return fault_for(value, status).to_response(ctx)
    return json_response({"error": {"code": value or str(status), "message": "Injected fault."}}, status)


def _graph_code(status: int) -> str:
    return {429: "TooManyRequests", 503: "serviceNotAvailable", 500: "generalException",
            401: "InvalidAuthenticationToken", 403: "Authorization_RequestDenied",
            404: "Request_ResourceNotFound"}.get(status, "Request_BadRequest")


def _graph_message(status: int) -> str:
    return {429: "Please retry again later.", 503: "The service is temporarily unavailable.",
            401: "Access token validation failure.", 403: "Insufficient privileges to complete the operation."
            }.get(status, "An error has occurred.")

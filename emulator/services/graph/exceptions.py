"""Microsoft Graph errors in Graph's own JSON dialect (graph-intune.md §8.1).

Directory (Entra) APIs answer `{"error": {"code", "message", "innerError": {date, request-id,
client-request-id}}}`; Intune (deviceManagement) APIs wrap a JSON string in `message`.
"""
from __future__ import annotations

import json
from typing import Any

from ...http import Response, json_response
from ..errors import ServiceError

WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                    'client_id="00000003-0000-0000-c000-000000000000"')


def client_request_id(ctx) -> str:
    """The caller's client-request-id, or (when it sent none) the request id, as Graph does."""
    return ctx.request.headers.get("client-request-id") or ctx.request_id


def standard_headers(ctx) -> dict[str, str]:
    return {
        "request-id": ctx.request_id,
        "client-request-id": client_request_id(ctx),
        "x-ms-ags-diagnostic": json.dumps({"ServerInfo": {"DataCenter": "West US 2", "Slice": "E", "Ring": "1",
                                                          "ScaleUnit": "000", "RoleInstance": "MW2PEPF00000000"}},
                                          separators=(",", ":")),
        "Strict-Transport-Security": "max-age=31536000",
        "Cache-Control": "no-cache",
    }


class GraphError(ServiceError):
    """One Graph error: HTTP status, code and developer message."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 inner: dict[str, Any] | None = None):
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.inner = dict(inner or {})
        super().__init__(f"{status} {code}: {message}")

    def body(self, ctx) -> dict[str, Any]:
        date = ctx.world.clock.now().strftime("%Y-%m-%dT%H:%M:%S")
        inner = dict(self.inner)
        if self.status == 429 and self.code == "TooManyRequests" and not inner:
            # GD concepts/throttling.md: the inner error repeats the status.
            inner = {"code": "429", "status": "429", "message": "Please retry after"}
        inner.update({"date": date, "request-id": ctx.request_id, "client-request-id": client_request_id(ctx)})
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}

    def to_response(self, ctx) -> Response:
        headers = standard_headers(ctx)
        if self.status == 401:
            headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        if self.status == 429 and "Retry-After" not in self.headers:
            headers["Retry-After"] = "10"
        headers.update(self.headers)
        return json_response(self.body(ctx), self.status, headers=headers)


class IntuneError(GraphError):
    """An Intune (deviceManagement) error: the message is a JSON string (graph-intune.md §8.1)."""

    def body(self, ctx) -> dict[str, Any]:
        out = super().body(ctx)
        url = f"https://fef.msua06.manage.microsoft.com/DeviceFE/StatelessDeviceFEService{ctx.request.path}"
        detail = (f"{self.message} - " if self.message else "An error has occurred - ")
        wrapped = {"_version": 3,
                   "Message": f"{detail}Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 "
                              f"- Activity ID: {client_request_id(ctx)} - Url: {url}",
                   "CustomApiErrorPhrase": "", "RetryAfter": None, "ErrorSourceService": "", "HttpHeaders": "{}"}
        out["error"]["message"] = json.dumps(wrapped, separators=(",", ":"))
        return out


# -- the common ones ----------------------------------------------------------------------------

def not_found(object_id: str) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound",
                      f"Resource '{object_id}' does not exist or one of its queried reference-property objects "
                      "are not present.")


def segment_not_found(segment: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def denied() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def bad_json() -> GraphError:
    return GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header "
                                         "is set and payload is of valid JSON format.")

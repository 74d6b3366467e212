"""AADSTS errors in the identity service's own JSON dialect (join-protocol.md §5, real-clients.md §1.3)."""
from __future__ import annotations

import json
import uuid
from typing import Any

from ...http import Response, json_response
from ...world.catalogue import AADSTS, AadstsCode
from ...world.clock import aadsts_timestamp
from ..errors import ServiceError

#: Codes the identity service raises that the shared catalogue does not list (AADSTS-DOC names).
_NOT_IN_CATALOGUE: dict[int, AadstsCode] = {c.code: c for c in [
    AadstsCode(50027, "InvalidJwtToken", "JWT token is invalid or malformed.", "invalid_request"),
    AadstsCode(50196, "LoopDetected", "The server terminated an operation because it encountered a client "
               "request loop. Please contact your app vendor.", "invalid_request"),
    AadstsCode(900561, "BadRequestInvalidRequest", "The endpoint only accepts {verbs} requests. Received a "
               "{verb} request.", "invalid_request"),
]}


class AadstsError(ServiceError):
    """One AADSTS error. `fields` fill the message's {placeholders}."""

    def __init__(self, code: int, status: int = 400, *, error: str | None = None, suberror: str | None = None,
                 claims: dict[str, Any] | None = None, message: str | None = None, **fields: Any):
        self.entry: AadstsCode = (AADSTS.get(code) or _NOT_IN_CATALOGUE.get(code)
                                  or AadstsCode(code, "Unknown", message or "Error."))
        self.code = code
        self.status = status
        self.error = error or self.entry.error
        self.suberror = suberror if suberror is not None else self.entry.suberror
        self.claims = claims
        text = message or self.entry.message
        for k, v in fields.items():
            text = text.replace("{" + k + "}", str(v))
        self.text = text
        super().__init__(f"AADSTS{code}: {text}")

    def body(self, ctx) -> dict[str, Any]:
        now = ctx.world.clock.now()
        trace_id = str(uuid.uuid4())
        corr = ctx.request.headers.get("client-request-id") or str(uuid.uuid4())
        ts = aadsts_timestamp(now)
        out: dict[str, Any] = {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.text}\r\nTrace ID: {trace_id}\r\n"
                                 f"Correlation ID: {corr}\r\nTimestamp: {ts}",
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": trace_id,
            "correlation_id": corr,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }
        if self.suberror:
            out["suberror"] = self.suberror
        if self.claims is not None:
            out["claims"] = json.dumps(self.claims, separators=(",", ":"))
        return out

    def to_response(self, ctx) -> Response:
        return json_response(self.body(ctx), self.status,
                             headers={"x-ms-request-id": ctx.request_id, "Cache-Control": "no-store, no-cache",
                                      "Pragma": "no-cache"})


def capolids_claims(policy_ids: list[str]) -> dict[str, Any]:
    return {"access_token": {"capolids": {"essential": True, "values": policy_ids}}}

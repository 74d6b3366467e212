"""JSON batching: `POST /{version}/$batch` with up to 20 requests, each answered as Graph answers it alone.

Each request runs with the batch's own Authorization header (as the real service does). `dependsOn`
is honoured only as ordering: requests run in the order given.
"""
from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

from ...http import Request
from .core import GraphContext, route
from .exceptions import GraphError

MAX_BATCH = 20


def _sub_response(resp) -> dict[str, Any]:
    headers = {k: v for k, v in resp.headers.items() if k.lower() not in ("request-id", "client-request-id",
                                                                          "x-ms-ags-diagnostic",
                                                                          "strict-transport-security")}
    out: dict[str, Any] = {"status": resp.status, "headers": headers}
    if resp.body:
        ctype = (resp.headers.get("Content-Type") or "").lower()
        if "json" in ctype:
            out["body"] = json.loads(resp.body.decode("utf-8"))
        else:
            out["body"] = resp.body.decode("utf-8", "replace")
    return out


@route("POST", "$batch")
def batch(ctx: GraphContext):
    from .core import dispatch

    _ = ctx.caller  # the batch itself must carry a valid token (401 otherwise)
    try:
        payload = ctx.request.json()
    except (ValueError, UnicodeDecodeError):
        payload = None
    reqs = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(reqs, list) or not reqs:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(reqs) > MAX_BATCH:
        raise GraphError(400, "BadRequest", f"Number of batch requests exceeds the maximum allowed value of "
                                            f"{MAX_BATCH}.")
    ids = [r.get("id") if isinstance(r, dict) else None for r in reqs]
    if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
        raise GraphError(400, "BadRequest", "Batch request ids must be unique non-empty strings.")
    responses = []
    for r in reqs:
        method, url = str(r.get("method") or "").upper(), r.get("url")
        if not method or not isinstance(url, str):
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        headers = {str(k): str(v) for k, v in (r.get("headers") or {}).items()}
        auth = ctx.request.headers.get("authorization")
        if auth:
            headers["Authorization"] = auth
        body = r.get("body")
        data = b"" if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        if data and not any(k.lower() == "content-type" for k in headers):
            raise GraphError(400, "BadRequest", "Content-Type header must be specified for batch requests "
                                                "with a body.")
        full = f"https://graph.microsoft.com/{ctx.version}/{url.lstrip('/')}" if not url.startswith("http") else url
        sub = Request(method, full, headers, data)
        sub_ctx = SimpleNamespace(world=ctx.world, request=sub, request_id=str(uuid.uuid4()), service="graph")
        resp = dispatch(sub_ctx)
        out = {"id": r["id"]}
        out.update(_sub_response(resp))
        responses.append(out)
    return ctx.ok({"responses": responses})

"""Render a fired fault rule (emulator/world/faults.py) as the answer of the service that was
called: a literal body, or an error named in a dialect (`aadsts:50076`, `graph:TooManyRequests`,
`drs:DirectoryError`, `intune:DeviceCapReached`) in that service's own shape. Throttling answers
carry `Retry-After`. The router calls `intercept` before every handler.
"""
from __future__ import annotations

from ..http import Response, json_response
from ..world.faults import FaultDecision, FaultEngine, FaultRule  # noqa: F401  (re-exported)


def intercept(ctx) -> Response | None:
    faults = ctx.world.faults
    if not faults.rules:
        return None
    req = ctx.request
    decision = faults.decide(req.host, req.method, req.path,
                             client=req.headers.get("authorization") or req.remote_addr,
                             now=ctx.world.clock.timestamp())
    if decision is None:
        return None
    if decision.latency_s:
        faults._sleep(decision.latency_s)
    if not decision.answer:
        return None  # latency only
    if decision.retry_after is not None:
        secs = decision.retry_after
        resp = _answer(decision.rule, ctx, default_status=429, default_error=_throttle_error(ctx.service),
                       retry_after=secs)
        resp.headers["Retry-After"] = str(int(secs) if float(secs).is_integer() else secs)
        return resp
    return _answer(decision.rule, ctx)


def _answer(rule: FaultRule, ctx, default_status: int = 500, default_error: str | None = None,
            retry_after: float | None = None) -> Response:
    from .dialects import dialect_error

    status = rule.status or default_status
    error = rule.error or default_error
    if rule.body is not None:
        if isinstance(rule.body, (dict, list)):
            resp = json_response(rule.body, status)
        else:
            resp = Response(status, {"Content-Type": "text/plain"}, str(rule.body).encode())
    else:
        resp = dialect_error(ctx, error or None, status, retry_after=retry_after)
    resp.headers.update(rule.headers)
    return resp


def _throttle_error(service: str) -> str:
    return {"graph": "graph:TooManyRequests", "identity": "aadsts:50196", "registration": "drs:Throttled",
            "intune": "intune:throttled"}.get(service, f"{service}:throttled")

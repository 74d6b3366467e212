"""One router: (host, method, path) -> handler, shared by every transport.

Each service package has a `urls.py` listing its hosts and `(method, path regex, handler)` rows,
in the manner of moto. The router also runs the world's fault rules before a handler, and turns
a raised `ServiceError` into that service's own error body.
"""
from __future__ import annotations

import difflib
import logging
import re
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..http import Request, Response, json_response
from .errors import ServiceError
from .faults import intercept as intercept_fault

log = logging.getLogger("emulator.router")

Handler = Callable[["RequestContext"], Response]


class NotEmulated(Exception):
    """A request for a Microsoft host or path the emulator does not serve."""

    def __init__(self, request: Request, suggestions: list[str]):
        self.request = request
        self.suggestions = suggestions
        hint = f" Closest emulated routes: {', '.join(suggestions)}." if suggestions else ""
        super().__init__(
            f"entra-emu does not emulate {request.method} https://{request.host}{request.path}.{hint} "
            "Nothing was sent to the real service.")


@dataclass
class Route:
    hosts: frozenset[str]
    method: str
    pattern: re.Pattern
    handler: Handler
    service: str
    template: str


@dataclass
class RequestContext:
    world: Any
    request: Request
    params: dict[str, str]
    route: Route
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def service(self) -> str:
        return self.route.service


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.hosts: dict[str, str] = {}

    def register(self, service: str, hosts: list[str], rows: list[tuple[str, str, Handler]]) -> None:
        hs = frozenset(h.lower() for h in hosts)
        for h in hs:
            self.hosts[h] = service
        for method, template, handler in rows:
            readable = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", template).replace("\\", "")
            self.routes.append(Route(hs, method.upper(), re.compile(template + r"/?\Z", re.IGNORECASE),
                                     handler, service, readable))

    def serves_host(self, host: str) -> bool:
        return host.lower() in self.hosts

    def match(self, request: Request) -> tuple[Route, dict[str, str]] | None:
        method_mismatch = None
        for route in self.routes:
            if request.host not in route.hosts:
                continue
            m = route.pattern.match(request.path)
            if not m:
                continue
            if route.method != request.method and route.method != "*":
                method_mismatch = method_mismatch or (route, m.groupdict())
                continue
            return route, m.groupdict()
        if method_mismatch is not None:
            return method_mismatch
        return None

    def suggestions(self, request: Request) -> list[str]:
        cands = [f"{r.method} {r.template}" for r in self.routes if request.host in r.hosts]
        return difflib.get_close_matches(f"{request.method} {request.path}", cands, n=3, cutoff=0.3)

    def dispatch(self, world: Any, request: Request) -> Response:
        found = self.match(request)
        if found is None:
            raise NotEmulated(request, self.suggestions(request))
        route, params = found
        ctx = RequestContext(world, request, params, route)
        count = getattr(world, "count_request", None)
        if count is not None:
            count()                       # thread-safe (World)
        else:
            world.requests_served += 1    # a stand-in world without the counter method
        injected = intercept_fault(ctx)
        if injected is not None:
            return injected
        try:
            if route.method != request.method and route.method != "*":
                return json_response({"error": "invalid_request",
                                      "error_description": f"The HTTP method '{request.method}' is not allowed here."},
                                     status=405, headers={"Allow": route.method})
            return route.handler(ctx)
        except ServiceError as err:
            return err.to_response(ctx)
        except Exception as exc:  # an emulator bug: say so in the service's shape, never a traceback
            if getattr(world, "raise_server_errors", False):
                raise
            log.error("handler %s failed: %s", route.template, traceback.format_exc())
            return internal_error(ctx, exc)


def internal_error(ctx: RequestContext, exc: BaseException) -> Response:
    """A handler bug answered as the called service answers its own internal errors (AADSTS JSON,
    Graph error, DRS ErrorDetails, SOAP fault), never a traceback. The detail goes to the log."""
    from .dialects import dialect_error

    if ctx.service in _DIALECTS:
        try:
            return dialect_error(ctx, None, 500)
        except Exception:  # noqa: BLE001 - the error renderer itself failed: plain JSON, still no traceback
            log.error("rendering the 500 of %s failed: %s", ctx.route.template, traceback.format_exc())
    # a service with no dialect of its own (a test's local router): plain JSON
    return json_response({"error": "server_error",
                          "error_description": f"entra-emu internal error in {ctx.route.template}: {exc!r}"},
                         status=500)


#: Services whose own error shape `dialects.dialect_error` renders.
_DIALECTS = frozenset({"identity", "graph", "registration", "intune"})


_ROUTER: Router | None = None


def default_router() -> Router:
    """The router with every service registered (built once; it holds no state)."""
    global _ROUTER
    if _ROUTER is None:
        from .graph import urls as graph_urls
        from .identity import urls as identity_urls
        from .intune import urls as intune_urls
        from .registration import urls as registration_urls

        r = Router()
        for mod in (identity_urls, registration_urls, graph_urls, intune_urls):
            r.register(mod.SERVICE, mod.HOSTS, mod.ROUTES)
        _ROUTER = r
    return _ROUTER

"""The plumbing every Graph endpoint shares: URL dispatch under /v1.0 and /beta, bearer-token
authentication, permission checks, and response helpers (headers, @odata annotations).

Graph is served through one catch-all router row so that every path under graph.microsoft.com gets
a Graph answer: unknown segments get the real `Resource not found for the segment '...'` 400,
wrong methods the real 405, never the router's NotEmulated.
"""
from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ...http import Response, empty_response
from ...world.models import GRAPH_APP_ID, GRAPH_RESOURCE, ROLE_TEMPLATES, Tenant, User
from ..identity.tokens import TokenInvalid, validate_access_token
from . import odata
from .exceptions import GraphError, IntuneError, bad_json, denied, segment_not_found, standard_headers

log = logging.getLogger("emulator.graph")

AUDIENCES = (GRAPH_RESOURCE, GRAPH_APP_ID)
VERSIONS = ("v1.0", "beta")
# Inferred (open question 11): the OData-parameterised JSON type directory responses commonly carry.
CONTENT_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

R = ROLE_TEMPLATES
GA = R["Global Administrator"]
GR = R["Global Reader"]
CDA = R["Cloud Device Administrator"]
IA = R["Intune Administrator"]
W365 = R["Windows 365 Administrator"]
CAA = R["Conditional Access Administrator"]
SA = R["Security Administrator"]
SR = R["Security Reader"]
RR = R["Reports Reader"]
HDA = R["Helpdesk Administrator"]
SECURITY_OPERATOR = "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f"

_TOKEN_MESSAGES = {
    "missing": "Access token is empty.",
    "malformed": "CompactToken parsing failed with error code: 80049217",
    "expired": "Access token has expired or is not yet valid.",
    "not_yet_valid": "Access token has expired or is not yet valid.",
    "audience": "Access token validation failure. Invalid audience.",
    "signature": "Access token validation failure.",
    "tenant": "Access token validation failure.",
}


@dataclass(frozen=True)
class Perm:
    """Who may call an endpoint: accepted delegated scopes, accepted application roles, and (for
    delegated calls) the directory roles the signed-in user must hold (None = any user)."""

    delegated: tuple[str, ...] = ()
    app: tuple[str, ...] = ()
    roles: tuple[str, ...] | None = None
    #: Delegated scopes that suffice when the call is about the signed-in user himself.
    self_scopes: tuple[str, ...] = ()
    #: Every scope in this tuple is needed as well (e.g. sign-ins need Directory.Read.All too).
    also_needs: tuple[tuple[str, ...], ...] = ()


@dataclass
class Caller:
    claims: dict[str, Any]
    tenant: Tenant
    user: User | None
    scopes: frozenset[str]
    app_roles: frozenset[str]

    @property
    def is_app(self) -> bool:
        return "scp" not in self.claims

    @property
    def directory_roles(self) -> set[str]:
        roles = set(self.claims.get("wids") or [])
        if self.user is not None:
            roles.update(self.user.roles)
        return roles

    def grants(self) -> frozenset[str]:
        return self.app_roles if self.is_app else self.scopes


@dataclass
class GraphContext:
    """A router context plus what Graph endpoints need."""

    base: Any                       # the router's RequestContext
    version: str
    params: dict[str, str]
    path: str                       # unquoted path after the version
    #: OData type cast on a directoryObject collection (`.../memberOf/microsoft.graph.group`).
    cast: str | None = None
    _caller: Caller | None = None
    _query: odata.Query | None = None

    @property
    def world(self):
        return self.base.world

    @property
    def request(self):
        return self.base.request

    @property
    def request_id(self) -> str:
        return self.base.request_id

    @property
    def caller(self) -> Caller:
        if self._caller is None:
            self._caller = authenticate(self.base)
        return self._caller

    @property
    def tenant(self) -> Tenant:
        return self.caller.tenant

    @property
    def query(self) -> odata.Query:
        if self._query is None:
            self._query = odata.parse_query(self.request)
        return self._query

    # -- permissions --------------------------------------------------------------------------
    def require(self, perm: Perm, *, subject_user_id: str | None = None, intune: bool = False) -> Caller:
        c = self.caller
        grants = c.grants()
        accepted = perm.app if c.is_app else perm.delegated
        ok = bool(grants.intersection(accepted))
        if not ok and not c.is_app and perm.self_scopes and c.user is not None and subject_user_id == c.user.id:
            ok = bool(grants.intersection(perm.self_scopes))
        if ok:
            for group in perm.also_needs:
                if not grants.intersection(group):
                    ok = False
        if not ok:
            if intune:
                # Intune names the scopes it wanted, for delegated and application callers alike.
                wanted = ", ".join(accepted) if accepted else "(none)"
                raise IntuneError(403, "Forbidden", "Application is not authorized to perform this operation. "
                                                    f"Application must have one of the following scopes: {wanted}")
            raise denied()
        if not c.is_app and perm.roles is not None and not (subject_user_id is not None and c.user is not None
                                                            and subject_user_id == c.user.id and perm.self_scopes):
            if not c.directory_roles.intersection(perm.roles):
                if intune:
                    # Inferred: Intune's RBAC refusal for a signed-in user without an Intune role.
                    raise IntuneError(403, "Forbidden", "User is not authorized to perform this operation")
                raise denied()
        return c

    # -- responses ----------------------------------------------------------------------------
    def context_url(self, fragment: str) -> str:
        return f"https://graph.microsoft.com/{self.version}/$metadata#{fragment}"

    def headers(self) -> dict[str, str]:
        h = standard_headers(self.base)
        h["Content-Type"] = CONTENT_TYPE
        h["OData-Version"] = "4.0"
        return h

    def ok(self, obj: Any, status: int = 200, extra: dict[str, str] | None = None) -> Response:
        h = self.headers()
        if extra:
            h.update(extra)
        return Response(status, h, json.dumps(obj, separators=(",", ":")).encode("utf-8"))

    def text(self, text: str) -> Response:
        h = self.headers()
        h["Content-Type"] = "text/plain"
        return Response(200, h, text.encode("utf-8"))

    def no_content(self, status: int = 204) -> Response:
        h = standard_headers(self.base)
        return empty_response(status, h)

    def body(self) -> Any:
        try:
            data = self.request.json()
        except (ValueError, UnicodeDecodeError):
            raise bad_json() from None
        return data

    def body_object(self) -> dict[str, Any]:
        data = self.body()
        if not isinstance(data, dict):
            raise bad_json()
        return data

    def entity(self, fragment: str, obj: dict[str, Any], select: list[str] | None = None,
               keep: tuple[str, ...] = ()) -> Response:
        if select:
            frag = f"{fragment}({','.join(select)})/$entity"
        else:
            frag = f"{fragment}/$entity"
        out = {"@odata.context": self.context_url(frag)}
        out.update(odata.select_fields(obj, select + [k for k in keep if k not in select] if select else None))
        return self.ok(out)

    def collection(self, fragment: str, spec: odata.ResourceSpec, items, serialize: Callable[[Any], dict],
                   *, extra_filter=None, select_in_context: bool = True, keep: tuple[str, ...] = (),
                   items_text: Callable[[list[Any], tuple[str, ...] | None], bytes] | None = None,
                   source: Any = None) -> Response:
        """One page of a collection. `items_text(objs, fields)`, when given, returns the JSON texts
        of `select_fields(serialize(o), fields)` for the page's objects, joined with commas (e.g.
        from a cache); the body is then assembled around it, byte for byte what encoding the whole
        page would give. `source`: the collection whose values() `items` are (see run_query)."""
        q = self.query
        select = odata.resolve_select(spec, q)
        try:
            page = odata.run_query(spec, q, items, extra_filter=extra_filter, source=source)
        except RuntimeError:
            # Another thread changed the collection while we walked it: walk a snapshot instead.
            with self.world.lock:
                items = list(items)
            page = odata.run_query(spec, q, items, extra_filter=extra_filter)
        frag = f"{fragment}({','.join(select)})" if select and select_in_context else fragment
        out: dict[str, Any] = {"@odata.context": self.context_url(frag)}
        if page.count is not None:
            out["@odata.count"] = page.count
        if page.next_offset is not None:
            out["@odata.nextLink"] = odata.next_link(self.request, page.next_offset, spec.skiptoken_style)
        fields = select + [k for k in keep if k not in select] if select else None
        if items_text is not None:
            head = json.dumps(out, separators=(",", ":")).encode("utf-8")
            text = items_text(page.items, tuple(fields) if fields is not None else None)
            body = b"".join((head[:-1], b',"value":[', text, b"]}"))
            return Response(200, self.headers(), body)
        out["value"] = [odata.select_fields(serialize(o), fields) for o in page.items]
        return self.ok(out)


def authenticate(ctx) -> Caller:
    world = ctx.world
    token = ctx.request.bearer_token
    auth = ctx.request.headers.get("authorization")
    if token is None and auth:
        token = auth.strip()  # Inferred: a non-Bearer scheme is parsed (and fails) as a compact token.
    try:
        claims = validate_access_token(world, token, AUDIENCES)
    except TokenInvalid as exc:
        raise GraphError(401, "InvalidAuthenticationToken", _TOKEN_MESSAGES.get(exc.reason,
                                                                                "Access token validation failure.")) from None
    tenant = world.tenants[claims["tid"]]
    user = None
    if "scp" in claims:
        user = tenant.users.get(claims.get("oid", ""))
    scopes = frozenset((claims.get("scp") or "").split())
    roles = frozenset(claims.get("roles") or [])
    return Caller(claims, tenant, user, scopes, roles)


# -- dispatch ----------------------------------------------------------------------------------------

@dataclass
class Endpoint:
    method: str
    pattern: re.Pattern
    handler: Callable[[GraphContext], Response]
    versions: tuple[str, ...] = VERSIONS
    template: str = ""


TABLE: list[Endpoint] = []
#: Literal path segments any endpoint uses (for the unknown-segment answer).
KNOWN_SEGMENTS: set[str] = set()
#: Segments that are followed by a key (collections).
KEYED: set[str] = set()

_ID = r"(?P<{name}>[^/()]+)"


def route(method: str, template: str, versions: tuple[str, ...] = VERSIONS):
    """Register a Graph endpoint. `template` uses `{name}` for a key segment; it is matched after
    the version segment, case-insensitively, against the unquoted path."""
    parts = template.strip("/").split("/")
    rx_parts = []
    prev = None
    for p in parts:
        m = re.fullmatch(r"\{(\w+)\}", p)
        if m:
            rx_parts.append(_ID.format(name=m.group(1)))
            if prev:
                KEYED.add(prev.lower())
        else:
            # a literal segment may carry a key in parentheses, e.g. devices(deviceId='{device_id}')
            lit = re.escape(p)
            lit = re.sub(r"\\\{(\w+)\\\}", lambda mm: f"(?P<{mm.group(1)}>[^'/]+)", lit)
            rx_parts.append(lit)
            KNOWN_SEGMENTS.add(p.split("(")[0].lower())
        prev = p
    pattern = re.compile("/" + "/".join(rx_parts) + r"/?\Z", re.IGNORECASE)

    def deco(fn):
        TABLE.append(Endpoint(method.upper(), pattern, fn, versions, template.strip("/")))
        # Literal segments win over keys (`devices/delta` before `devices/{id}`): fewest keys first.
        TABLE.sort(key=lambda e: e.pattern.groups)
        return fn
    return deco


_CAST = re.compile(r"/microsoft\.graph\.(\w+)/?\Z", re.IGNORECASE)


def castable(fn):
    """Mark a directoryObject collection endpoint as accepting an OData type cast."""
    fn.castable = True
    return fn


_PAREN_KEY = re.compile(r"/(\w+)\('([^'=/]+)'\)(?=/|\Z)")


def _unknown_segment(path: str) -> str:
    segs = [s for s in path.strip("/").split("/") if s]
    prev = None
    for s in segs:
        name = s.split("(")[0].lower()
        if name in KNOWN_SEGMENTS or name.startswith("microsoft.graph."):
            prev = name
            continue
        if prev in KEYED:
            prev = "{key}"
            continue
        return s
    return segs[-1] if segs else ""


def dispatch(ctx) -> Response:
    """The single router handler for graph.microsoft.com."""
    try:
        return _dispatch(ctx)
    except GraphError as err:
        return err.to_response(ctx)
    except Exception:  # an emulator bug: answer in Graph's shape (tests re-raise it)
        if getattr(ctx.world, "raise_server_errors", False):
            raise
        log.error("graph handler failed for %s %s: %s", ctx.request.method, ctx.request.path,
                  traceback.format_exc())
        return GraphError(500, "generalException", "An internal server error occurred. entra-emu logged the "
                                                   "details.").to_response(ctx)


def _dispatch(ctx) -> Response:
    raw = unquote(ctx.request.path)
    segs = raw.lstrip("/").split("/", 1)
    version = segs[0]
    rest = "/" + (segs[1] if len(segs) > 1 else "")
    vlow = version.lower()
    if vlow == "oidc":
        version = "oidc"  # /oidc/userinfo has no version segment
    elif vlow not in VERSIONS:
        # Inferred status: Graph's answer for a missing/unknown version segment (graph-intune.md §8.1).
        raise GraphError(400, "BadRequest", f"Invalid version: {version}" if version else "Invalid version.")
    else:
        version = "v1.0" if vlow == "v1.0" else "beta"
    # OData key-in-parentheses form: /users('id') is /users/id.
    rest = _PAREN_KEY.sub(lambda m: f"/{m.group(1)}/{m.group(2)}" if m.group(1).lower() in KEYED else m.group(0),
                          rest)
    cast = None
    cm = _CAST.search(rest)
    if cm:
        cast = cm.group(1)
        rest = rest[:cm.start()] or "/"
    method_mismatch = False
    for ep in TABLE:
        m = ep.pattern.match(rest)
        if not m:
            continue
        if version not in ep.versions:
            continue
        if ep.method != ctx.request.method:
            method_mismatch = True
            continue
        if cast is not None and not getattr(ep.handler, "castable", False):
            raise segment_not_found(f"microsoft.graph.{cast}")
        gctx = GraphContext(ctx, version, {k: v for k, v in m.groupdict().items() if v is not None}, rest, cast)
        low = rest.lower()
        if (low == "/me" or low.startswith("/me/")) and gctx.caller.is_app:
            raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        return ep.handler(gctx)
    if method_mismatch:
        raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
    if rest.strip("/") == "":
        raise segment_not_found(version)
    raise segment_not_found(_unknown_segment(rest))

"""The control API of the local server, under `/_emu/` (documented in docs/server.md).

JSON in, JSON out. Bad input gets 400 with `{"error": "bad_request", "message": ...}`; an unknown
control path gets 404 listing the paths. Operations that read or write files on the server's disk
(snapshot save/restore by path, scenario by path) are accepted only from loopback clients.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..http import Headers, Response, json_response
from ..world import snapshot

#: Named groups of a route pattern shown as {name} in the endpoint list.
_READABLE = re.compile(r"[(][?]P<(\w+)>[^)]*[)]")

log = logging.getLogger("emulator.control")

PREFIX = "/_emu"


class ControlError(Exception):
    def __init__(self, status: int, message: str, error: str = "bad_request"):
        super().__init__(message)
        self.status = status
        self.error = error


def _bad(message: str) -> ControlError:
    return ControlError(400, message)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _parse_time(value: Any) -> _dt.datetime:
    if not isinstance(value, str):
        raise _bad("'now' must be an ISO 8601 date-time string, e.g. 2026-01-01T09:00:00Z")
    try:
        when = _dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _bad(f"'now' is not an ISO 8601 date-time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc)


#: How far the cloud clock (or a device clock) may be moved from true time: 100 years. Further
#: would push token times past what a datetime can hold, and every later request would fail.
MAX_CLOCK_OFFSET = 100 * 365.25 * 86400


def _number(body: dict, key: str, limit: float = MAX_CLOCK_OFFSET) -> float:
    v = body[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(f"'{key}' must be a number of seconds")
    if not -limit <= v <= limit:   # (also refuses NaN and Infinity, which Python's JSON parser reads)
        raise _bad(f"'{key}' must be between -{limit:.0f} and {limit:.0f} seconds (100 years)")
    return float(v)


def _check_offset(offset: float) -> float:
    if not -MAX_CLOCK_OFFSET <= offset <= MAX_CLOCK_OFFSET:
        raise _bad("the cloud clock may be moved at most 100 years from the real time")
    return offset


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_DOMAIN = re.compile(r"(?=.{4,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]\Z")


def _domain(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _DOMAIN.match(value.strip().lower()):
        raise _bad(f"'{key}' must be a DNS domain name like contoso.com, not {value!r:.80}")
    return value.strip().lower()


def tenant_summary(t) -> dict[str, Any]:
    return {"id": t.id, "displayName": t.display_name, "initialDomain": t.initial_domain, "domains": t.domains,
            "users": len(t.users), "groups": len(t.groups), "devices": len(t.devices),
            "managedDevices": len(t.managed_devices), "applications": len(t.applications),
            "intuneEnabled": t.intune_enabled}


#: User fields with a fixed set of values (emulator/world/models.py).
_USER_CHOICES = {"per_user_mfa": ("disabled", "enabled", "enforced"), "mfa_response": ("approve", "deny")}


class ControlAPI:
    def __init__(self, server):
        self.server = server
        R = self._routes = []  # (method, regex, handler)

        def add(method: str, pattern: str, fn: Callable) -> None:
            R.append((method, re.compile(pattern + r"/?\Z"), fn))

        add("GET", r"/health", self.health)
        add("GET", r"", self.index)
        add("POST", r"/reset", self.reset)
        add("GET", r"/state", self.state)
        add("GET", r"/tenants", self.list_tenants)
        add("POST", r"/tenants", self.create_tenant)
        add("GET", r"/tenants/(?P<ref>[^/]+)", self.tenant_state)
        add("GET", r"/tenants/(?P<ref>[^/]+)/state", self.tenant_state)
        add("DELETE", r"/tenants/(?P<ref>[^/]+)", self.delete_tenant)
        add("POST", r"/tenants/(?P<ref>[^/]+)/users", self.add_user)
        add("POST", r"/tenants/(?P<ref>[^/]+)/groups", self.add_group)
        add("POST", r"/scenario", self.scenario)
        add("GET", r"/snapshot", self.snapshot_get)
        add("POST", r"/snapshot/save", self.snapshot_save)
        add("POST", r"/snapshot/restore", self.snapshot_restore)
        add("GET", r"/clock", self.clock_get)
        add("POST", r"/clock", self.clock_set)
        add("GET", r"/devices/skew", self.skew_get)
        add("POST", r"/devices/skew", self.skew_set)
        add("DELETE", r"/devices/skew", self.skew_clear)
        add("GET", r"/faults", self.faults_get)
        add("POST", r"/faults", self.faults_add)
        add("DELETE", r"/faults", self.faults_clear)
        add("GET", r"/faults/log", self.faults_log)

    @property
    def world(self):
        return self.server.world

    # -- dispatch -------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Headers, body: bytes, conn) -> Response:
        parts = urlsplit(target)
        path = unquote(parts.path)[len(PREFIX):]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        allowed: list[str] = []
        for m, rx, fn in self._routes:
            match = rx.match(path)
            if not match:
                continue
            if m != method and not (m == "GET" and method == "HEAD"):
                allowed.append(m)
                continue
            try:
                req = _ControlRequest(method, path, query, headers, body, conn, match.groupdict())
                result = fn(req)
            except ControlError as exc:
                return json_response({"error": exc.error, "message": str(exc)}, exc.status)
            except Exception as exc:  # noqa: BLE001 - an emulator bug: say so in the control API's shape
                if getattr(self.world, "raise_server_errors", False):
                    raise
                log.error("control %s %s failed", method, path, exc_info=True)
                return json_response({"error": "internal_error",
                                      "message": f"entra-emu internal error in {method} {PREFIX}{path}: "
                                                 f"{type(exc).__name__}: {exc}"}, 500)
            if isinstance(result, Response):
                return result
            return json_response(result)
        if allowed:
            return json_response({"error": "method_not_allowed",
                                  "message": f"{method} is not allowed on {PREFIX}{path}; use {', '.join(allowed)}."},
                                 405, headers={"Allow": ", ".join(allowed)})
        return json_response({"error": "not_found", "message": f"No control endpoint {method} {PREFIX}{path}.",
                              "endpoints": self.endpoints()}, 404)

    def endpoints(self) -> list[str]:
        suffix = len(r"/?\Z")
        return [m + " " + PREFIX + _READABLE.sub(r"{\1}", rx.pattern[:-suffix]) for m, rx, _ in self._routes]

    def _tenant(self, ref: str):
        t = self.world.tenant(ref)
        if t is None:
            raise ControlError(404, f"No tenant {ref!r} (give a tenant id or one of its domains).", "not_found")
        return t

    # -- endpoints ------------------------------------------------------------------------------
    def index(self, req) -> dict:
        return {"endpoints": self.endpoints()}

    def health(self, req) -> dict:
        w = self.world
        return {"status": "ok", "seed": w.seed, "tenants": len(w.tenants), "requestsServed": w.requests_served,
                "cloudTime": w.clock.now().isoformat().replace("+00:00", "Z"), "clockOffsetSeconds": w.clock.offset,
                "proxy": self.server.url, "caCertificate": str(self.server.tls_files.ca_cert),
                "caBundle": str(self.server.tls_files.bundle)}

    def reset(self, req) -> dict:
        from ..world.world import World

        body = req.json(optional=True)
        seed = body.get("seed", self.world.seed)
        if not isinstance(seed, (int, str)) or isinstance(seed, bool):
            raise _bad("'seed' must be an integer or a string")
        w = World(seed)
        w.raise_server_errors = getattr(self.world, "raise_server_errors", False)
        self.server.set_world(w)
        return {"status": "reset", "seed": seed}

    def state(self, req) -> dict:
        return snapshot.dump_world(self.world)

    def list_tenants(self, req) -> dict:
        return {"value": [tenant_summary(t) for t in list(self.world.tenants.values())]}

    def create_tenant(self, req) -> Response:
        body = req.json()
        name = body.get("name") or body.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise _bad("'name' (the tenant's display name) is required")
        kw: dict[str, Any] = {}
        for src, dst, typ in (("domain", "domain", str), ("tenantId", "tenant_id", str),
                              ("extraDomains", "extra_domains", list), ("intune", "intune", bool),
                              ("mdmScope", "mdm_scope", str), ("subscriptions", "subscriptions", dict)):
            if src in body and body[src] is not None:
                if not isinstance(body[src], typ):
                    raise _bad(f"'{src}' must be a {typ.__name__}")
                kw[dst] = body[src]
        if kw.get("mdm_scope") not in (None, "all", "some", "none"):
            raise _bad("'mdmScope' must be all, some or none")
        if "domain" in kw:
            kw["domain"] = _domain(kw["domain"], "domain")
        if "extra_domains" in kw:
            kw["extra_domains"] = [_domain(d, "extraDomains") for d in kw["extra_domains"]]
        if "subscriptions" in kw:
            for sku, seats in kw["subscriptions"].items():
                if isinstance(seats, bool) or not isinstance(seats, int) or seats < 0:
                    raise _bad(f"'subscriptions' maps a SKU part number to a number of seats; "
                               f"{sku!r} has {seats!r:.40}")
        if "tenant_id" in kw:
            if not _GUID.match(kw["tenant_id"]):
                raise _bad("'tenantId' must be a GUID like 00000000-0000-0000-0000-000000000000")
            kw["tenant_id"] = kw["tenant_id"].lower()
            if self.world.tenant(kw["tenant_id"]) is not None:
                raise ControlError(409, f"Tenant {kw['tenant_id']} exists already.", "conflict")
        for d in [kw.get("domain"), *(kw.get("extra_domains") or [])]:
            owner = self.world.tenant(d) if d else None
            if owner is not None:
                raise ControlError(409, f"The domain {d} belongs to tenant {owner.id} already.", "conflict")
        t = self.world.create_tenant(name.strip(), **kw)
        return json_response(tenant_summary(t), 201)

    def delete_tenant(self, req) -> Response:
        t = self._tenant(req.params["ref"])
        self.world.remove_tenant(t.id)
        return Response(204)

    def tenant_state(self, req) -> dict:
        t = self._tenant(req.params["ref"])
        with self.world.lock:
            return snapshot.dump_tenant(t)

    def add_user(self, req) -> Response:
        import dataclasses

        from ..world.models import User

        t = self._tenant(req.params["ref"])
        body = req.json()
        kw: dict[str, Any] = {}
        fields = {f.name for f in dataclasses.fields(User)} - {"id", "created", "user_principal_name",
                                                                 "display_name", "password"}
        kinds = {f.name: f.type for f in dataclasses.fields(User)}
        for k, v in body.items():
            sk = _snake(k)
            if k in ("upn", "userPrincipalName", "password", "displayName"):
                continue
            if sk not in fields:
                raise _bad(f"unknown user property '{k}'")
            kind = str(kinds[sk])
            if kind.startswith("list"):
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise _bad(f"'{k}' must be a list of strings")
            elif kind == "bool":
                if not isinstance(v, bool):
                    raise _bad(f"'{k}' must be true or false")
            elif kind.startswith("str"):
                if not isinstance(v, str) and not (v is None and "None" in kind):
                    raise _bad(f"'{k}' must be a string")
            if sk in _USER_CHOICES and v not in _USER_CHOICES[sk]:
                raise _bad(f"'{k}' must be one of {', '.join(_USER_CHOICES[sk])}")
            kw[sk] = v
        upn = body.get("upn") or body.get("userPrincipalName")
        if upn is not None and (not isinstance(upn, str) or "@" not in upn):
            raise _bad("'upn' must look like user@domain")
        if upn is not None and upn.rsplit("@", 1)[1].lower() not in {d.lower() for d in t.domains}:
            raise _bad(f"the domain of {upn!r} is not a domain of tenant {t.initial_domain}; "
                       f"its domains: {', '.join(t.domains)}")
        if upn and t.user_by_upn(upn) is not None:
            raise ControlError(409, f"User {upn} exists already in {t.initial_domain}.", "conflict")
        for key in ("password", "displayName"):
            if key in body and not isinstance(body[key], str):
                raise _bad(f"'{key}' must be a string")
        if "password" in body:
            kw["password"] = body["password"]
        if "licenses" in kw:
            from ..world.models import KNOWN_SKUS

            unknown = [x for x in kw["licenses"] if x not in KNOWN_SKUS]
            if unknown:
                raise _bad(f"unknown SKU {unknown[0]!r}; known: {', '.join(sorted(KNOWN_SKUS))}")
        u = self.world.add_user(t, upn, display_name=body.get("displayName"), **kw)
        return json_response({"id": u.id, "userPrincipalName": u.user_principal_name, "displayName": u.display_name,
                              "tenantId": t.id}, 201)

    def add_group(self, req) -> Response:
        t = self._tenant(req.params["ref"])
        body = req.json()
        name = body.get("name") or body.get("displayName")
        if not isinstance(name, str) or not name:
            raise _bad("'name' is required")
        members = body.get("members") or []
        if not isinstance(members, list):
            raise _bad("'members' must be a list of object ids or UPNs")
        ids = []
        for m in members:
            u = t.user(m) if isinstance(m, str) else None
            if u is not None:
                ids.append(u.id)
            elif isinstance(m, str) and m in t.devices:
                ids.append(m)
            else:
                raise _bad(f"no user or device {m!r} in this tenant")
        g = self.world.add_group(t, name, ids)
        return json_response({"id": g.id, "displayName": g.display_name, "members": g.members}, 201)

    # -- scenarios ------------------------------------------------------------------------------
    def load_scenario_doc(self, doc: Any) -> Any:
        from ..scenarios import load_scenario

        if not isinstance(doc, (dict, str)):
            raise _bad("a scenario must be a name, or a mapping (YAML or JSON object)")
        try:
            return load_scenario(self.world, doc)
        except ControlError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise _bad(f"scenario rejected: {exc}") from None

    def load_scenario_path(self, path: str) -> Any:
        """`serve --scenario`: a file path, or the name of a shipped scenario (`entra-emu scenarios`)."""
        if not os.path.exists(path) and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", path):
            return self.load_scenario_doc(path)
        return self.load_scenario_doc(_read_doc(path))

    def scenario(self, req) -> Response:
        ctype = (req.headers.get("content-type") or "").lower()
        if "yaml" in ctype or "text/plain" in ctype:
            doc = _parse_yaml(req.body.decode("utf-8", "replace"))
        else:
            body = req.json()
            if not isinstance(body, dict):
                raise _bad("the body must be a JSON object")
            if "name" in body:
                if not isinstance(body["name"], str):
                    raise _bad("'name' must be a string (see `entra-emu scenarios`)")
                doc = body["name"]
            elif "path" in body:
                req.require_local("loading a scenario from a path")
                if not isinstance(body["path"], str):
                    raise _bad("'path' must be a string")
                doc = _read_doc(body["path"])
            elif "document" in body:
                doc = body["document"]
            elif "yaml" in body:
                if not isinstance(body["yaml"], str):
                    raise _bad("'yaml' must be a string")
                doc = _parse_yaml(body["yaml"])
            else:
                raise _bad("give 'name', 'path', 'document' (JSON object) or 'yaml' (text), or POST YAML "
                           "with Content-Type: application/yaml")
        result = self.load_scenario_doc(doc)
        out = {"status": "loaded", "tenants": [tenant_summary(t) for t in list(self.world.tenants.values())]}
        if isinstance(result, dict):
            out["result"] = _jsonable(result)
        return json_response(out)

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_get(self, req) -> dict:
        return snapshot.dump_world(self.world)

    def snapshot_save(self, req) -> dict:
        req.require_local("saving a snapshot file")
        body = req.json()
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise _bad("'path' (file to write) is required")
        try:
            p = snapshot.save(self.world, path)
        except OSError as exc:
            raise _bad(f"cannot write {path}: {exc.strerror or exc}") from None
        return {"status": "saved", "path": str(p), "format": snapshot.FORMAT, "version": snapshot.VERSION,
                "tenants": len(self.world.tenants)}

    def snapshot_restore(self, req) -> dict:
        body = req.json()
        try:
            if "document" in body:
                world = snapshot.load_world(body["document"])
            else:
                req.require_local("restoring a snapshot file")
                path = body.get("path")
                if not isinstance(path, str) or not path:
                    raise _bad("'path' (snapshot file) or 'document' is required")
                world = snapshot.restore(path)
        except snapshot.SnapshotError as exc:
            raise _bad(str(exc)) from None
        world.raise_server_errors = getattr(self.world, "raise_server_errors", False)
        self.server.set_world(world)
        return {"status": "restored", "seed": world.seed, "tenants": [tenant_summary(t) for t in world.tenants.values()]}

    # -- clocks ---------------------------------------------------------------------------------
    def clock_get(self, req) -> dict:
        c = self.world.clock
        return {"now": c.now().isoformat().replace("+00:00", "Z"), "offsetSeconds": c.offset}

    def clock_set(self, req) -> dict:
        body = req.json()
        c = self.world.clock
        given = [k for k in ("now", "offsetSeconds", "advanceSeconds") if k in body]
        if len(given) != 1:
            raise _bad("give exactly one of 'now' (ISO 8601), 'offsetSeconds' or 'advanceSeconds'")
        k = given[0]
        if k == "now":
            when = _parse_time(body["now"])
            try:
                offset = when.timestamp() - (c.timestamp() - c.offset)
            except (OverflowError, OSError, ValueError):
                raise _bad(f"'now' is out of range: {body['now']!r}") from None
            _check_offset(offset)
            c.set(when)
        elif k == "offsetSeconds":
            c.offset = _number(body, k)
        else:
            c.offset = _check_offset(c.offset + _number(body, k))
        return self.clock_get(req)

    def _skews(self) -> dict[str, float]:
        # Inferred: devices are clients, so the server cannot move their clocks; it records a
        # per-device-name skew that the simulated device (and the PRT time checks) may read.
        w = self.world
        s = getattr(w, "device_skews", None)
        if s is None:
            s = w.device_skews = {}
        return s

    def skew_get(self, req) -> dict:
        return {"value": [{"deviceName": n, "skewSeconds": s} for n, s in self._skews().items()]}

    def skew_set(self, req) -> dict:
        body = req.json()
        name = body.get("deviceName")
        if not isinstance(name, str) or not name:
            raise _bad("'deviceName' is required")
        if "skewSeconds" not in body:
            raise _bad("'skewSeconds' is required (positive: device clock ahead of the cloud)")
        self._skews()[name.upper()] = _number(body, "skewSeconds")
        return self.skew_get(req)

    def skew_clear(self, req) -> Response:
        self._skews().clear()
        return Response(204)

    # -- faults ---------------------------------------------------------------------------------
    def faults_get(self, req) -> dict:
        import dataclasses

        out = []
        for r in list(self.world.faults.rules):
            out.append({f.name: _jsonable(getattr(r, f.name)) for f in dataclasses.fields(r)})
        return {"value": out}

    def faults_add(self, req) -> Response:
        import dataclasses

        from ..world.faults import FaultRule

        body = req.json(allow_list=True)
        rules = body if isinstance(body, list) else body.get("rules", [body]) if isinstance(body, dict) else None
        if not isinstance(rules, list) or not rules:
            raise _bad("give a fault rule object, a list of them, or {\"rules\": [...]}")
        known = {f.name for f in dataclasses.fields(FaultRule)} - {"seen", "fired"}
        built = []
        for i, r in enumerate(rules):
            if not isinstance(r, dict):
                raise _bad(f"rule {i} is not an object")
            kw = {}
            for k, v in r.items():
                sk = {"latencyMs": "latency_ms", "throttleSeconds": "throttle_seconds"}.get(k, _snake(k))
                if sk not in known:
                    raise _bad(f"rule {i}: unknown field '{k}'; known: {', '.join(sorted(known))}")
                kw[sk] = v
            try:
                built.append(FaultRule(**kw))
            except (TypeError, ValueError, re.error) as exc:
                raise _bad(f"rule {i}: {exc}") from None
        for rule in built:
            self.world.faults.add(rule)
        return json_response({"added": len(built), "rules": len(self.world.faults.rules)}, 201)

    def faults_clear(self, req) -> Response:
        self.world.faults.clear()
        return Response(204)

    def faults_log(self, req) -> dict:
        return {"value": _jsonable(list(self.world.faults.log))}


class _ControlRequest:
    def __init__(self, method, path, query, headers, body, conn, params):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body
        self.conn, self.params = conn, params

    def json(self, optional: bool = False, allow_list: bool = False) -> Any:
        if not self.body.strip():
            if optional:
                return {}
            raise _bad("a JSON body is required")
        try:
            doc = json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _bad(f"the body is not valid JSON: {exc}") from None
        except RecursionError:
            raise _bad("the body is not valid JSON: nested too deeply") from None
        if not isinstance(doc, dict) and not (allow_list and isinstance(doc, list)):
            raise _bad("the body must be a JSON object")
        return doc

    def require_local(self, what: str) -> None:
        if self.conn is not None and self.conn.remote_addr not in ("127.0.0.1", "::1", "localhost"):
            raise ControlError(403, f"{what} is only allowed from the server's own machine.", "forbidden")


def _parse_yaml(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _bad(f"the scenario is not valid YAML: {exc}") from None


def _read_doc(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise _bad(f"cannot read {path}: {exc.strerror or exc}") from None
    return _parse_yaml(text)  # YAML is a superset of JSON


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return snapshot.encode(value) if not isinstance(value, dict) else {
            str(k): _jsonable(v) for k, v in value.items()}

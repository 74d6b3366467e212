"""Delta queries: `GET /devices/delta`, `/users/delta`, `/groups/delta` (change tracking).

The first call pages through every object and ends with an `@odata.deltaLink`; calling that link
returns what changed since: new or modified objects, and removed ones as `{"id", "@removed"}`.
The world keeps the snapshot each delta token stands for (objects carry no change timestamps).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from . import odata
from .core import GraphContext, route
from .directory import DEVICE_READ, GROUP_READ, USER_READ
from .exceptions import GraphError
from .serializers import DEVICE_SPEC, GROUP_SPEC, USER_SPEC, device_full, device_json, group_json, user_full, user_json

PAGE = 100


def _store(ctx: GraphContext) -> dict[str, Any]:
    return ctx.world.cached(f"graph:delta:{ctx.tenant.id}", dict)


def _fingerprint(obj: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _token(ctx: GraphContext, kind: str) -> str:
    return f"{kind}.{ctx.world.ids.hex(16)}"


def _delta(ctx: GraphContext, kind: str, collection: str, spec, items: list[Any], full: Callable[[Any], dict],
           default: Callable[[Any], dict], removed_reason: str):
    q = ctx.query
    if q.filter or q.orderby or q.search:
        # Inferred: delta accepts only $select (and $filter on id, which we do not emulate).
        raise GraphError(400, "Request_UnsupportedQuery", "Unsupported query.")
    select = odata.resolve_select(spec, q)
    raw = ctx.request.query
    store = _store(ctx)
    skip = raw.get("$skiptoken")
    delta = raw.get("$deltatoken")
    if skip:
        state = store.get(skip)
        if not state or state["kind"] != kind:
            raise GraphError(400, "Directory_ExpiredPageToken", "The specified page token value has expired and "
                                                                "can no longer be included in your request.")
        rows, offset, snapshot = state["rows"], state["offset"], state["snapshot"]
    else:
        current = {o.id: (o, _fingerprint(full(o))) for o in items}
        snapshot = {oid: fp for oid, (_, fp) in current.items()}
        if delta:
            before = store.get(delta)
            if not before or before["kind"] != kind:
                raise GraphError(400, "Directory_ExpiredPageToken", "The specified delta token value has expired "
                                                                    "and can no longer be included in your request.")
            old = before["snapshot"]
            rows = [("obj", o) for oid, (o, fp) in current.items() if old.get(oid) != fp]
            rows += [("removed", oid) for oid in old if oid not in current]
        else:
            rows = [("obj", o) for o, _ in current.values()]
        offset = 0
    page, rest = rows[offset:offset + PAGE], rows[offset + PAGE:]
    value = []
    for what, o in page:
        if what == "removed":
            value.append({"id": o, "@removed": {"reason": removed_reason}})
        else:
            value.append(odata.select_fields(full(o) if select else default(o), select))
    frag = f"{collection}({','.join(select)})" if select else collection
    out: dict[str, Any] = {"@odata.context": ctx.context_url(frag)}
    base = f"https://graph.microsoft.com/{ctx.version}/{collection}/delta?"
    keep = f"$select={','.join(select)}&" if select else ""
    if rest:
        tok = _token(ctx, kind)
        with ctx.world.lock:
            store[tok] = {"kind": kind, "rows": rows, "offset": offset + PAGE, "snapshot": snapshot}
        out["@odata.nextLink"] = f"{base}{keep}$skiptoken={tok}"
    else:
        tok = _token(ctx, kind)
        with ctx.world.lock:
            store[tok] = {"kind": kind, "snapshot": snapshot}
        out["@odata.deltaLink"] = f"{base}{keep}$deltatoken={tok}"
    out["value"] = value
    return ctx.ok(out)


@route("GET", "devices/delta")
def devices_delta(ctx: GraphContext):
    ctx.require(DEVICE_READ)
    v = ctx.version
    # Devices are deleted for good, not soft-deleted.
    return _delta(ctx, "devices", "devices", DEVICE_SPEC, list(ctx.tenant.devices.values()),
                  lambda d: device_full(d, v), lambda d: device_json(d, v), "deleted")


@route("GET", "users/delta")
def users_delta(ctx: GraphContext):
    ctx.require(USER_READ)
    # Inferred: our user deletes are reported as the soft delete the real directory does ("changed").
    return _delta(ctx, "users", "users", USER_SPEC, list(ctx.tenant.users.values()), user_full, user_json, "changed")


@route("GET", "groups/delta")
def groups_delta(ctx: GraphContext):
    ctx.require(GROUP_READ)
    return _delta(ctx, "groups", "groups", GROUP_SPEC, list(ctx.tenant.groups.values()), group_json, group_json,
                  "changed")

"""Save and restore a whole world as versioned JSON.

The document holds every tenant (users, groups, devices with their certificates as base64 DER,
managed devices, applications, policies, sign-in and audit logs), the fault rules, the short-lived
protocol state, and the world's seed, clock offset and id-generator state. Private keys are never
written: every key comes from the pre-generated pool, so the snapshot records pool indexes.

Values that JSON has no type for are tagged: `{"$bytes": "<base64>"}`, `{"$datetime": "<iso>"}`,
`{"$tuple": [...]}`, `{"$set": [...]}`, `{"$poolkey": <index>}`, `{"$dict": [[k, v], ...]}` for
non-string keys, and `{"$dataclass": "emulator.module.Class", "fields": {...}}`.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .keys import pool_key, pool_size
from .models import Application, DirectoryDevice, Group, ManagedDevice, Tenant, User

FORMAT = "entra-emu-snapshot"
VERSION = 1

_TENANT_COLLECTIONS: dict[str, type] = {
    "users": User, "groups": Group, "devices": DirectoryDevice, "managed_devices": ManagedDevice,
    "applications": Application,
}
_PROTOCOL_STATE = ("nonces", "auth_codes", "device_codes", "refresh_tokens", "prts", "login_flows")


class SnapshotError(ValueError):
    """A snapshot that cannot be written or read (message says why)."""


# -- tagged values ------------------------------------------------------------------------------

def _key_index(key: Any) -> int | None:
    from . import keys as _keys

    for i, k in list(_keys._cache.items()):
        if k is key:
            return i
    try:  # a key object parsed elsewhere: compare public numbers (slow path, rare)
        n = key.public_key().public_numbers().n
    except AttributeError:
        return None
    for i in range(pool_size()):
        if pool_key(i).public_key().public_numbers().n == n:
            return i
    return None


def encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, _dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, _dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"$set": [encode(v) for v in sorted(value, key=repr)]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not cls.__module__.startswith("emulator."):
            raise SnapshotError(f"cannot snapshot a {cls.__module__}.{cls.__name__}")
        return {"$dataclass": f"{cls.__module__}.{cls.__qualname__}",
                "fields": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    idx = _key_index(value) if hasattr(value, "private_numbers") else None
    if idx is not None:
        return {"$poolkey": idx}
    raise SnapshotError(f"cannot snapshot a value of type {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, inner), = value.items()
        if tag == "$bytes":
            return base64.b64decode(inner)
        if tag == "$datetime":
            return _dt.datetime.fromisoformat(inner)
        if tag == "$date":
            return _dt.date.fromisoformat(inner)
        if tag == "$tuple":
            return tuple(decode(v) for v in inner)
        if tag == "$set":
            return {decode(v) for v in inner}
        if tag == "$poolkey":
            return pool_key(int(inner))
        if tag == "$dict":
            return {decode(k): decode(v) for k, v in inner}
    if set(value) == {"$dataclass", "fields"}:
        mod, _, name = value["$dataclass"].rpartition(".")
        if not mod.startswith("emulator."):
            raise SnapshotError(f"refusing to build {value['$dataclass']}")
        cls = getattr(importlib.import_module(mod), name)
        return _build(cls, {k: decode(v) for k, v in value["fields"].items()})
    return {k: decode(v) for k, v in value.items()}


def _build(cls: type, fields: dict[str, Any]):
    """A dataclass from fields, ignoring fields this version no longer has (forward-compatible)."""
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    obj = cls(**{k: v for k, v in fields.items() if k in known})
    for f in dataclasses.fields(cls):  # non-init fields (runtime counters)
        if not f.init and f.name in fields:
            setattr(obj, f.name, fields[f.name])
    return obj


def _fields(obj: Any) -> dict[str, Any]:
    return {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


# -- tenants --------------------------------------------------------------------------------

def dump_tenant(tenant: Tenant) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for f in dataclasses.fields(tenant):
        v = getattr(tenant, f.name)
        if f.name in _TENANT_COLLECTIONS:
            doc[f.name] = [_fields(x) for x in v.values()]
        else:
            doc[f.name] = encode(v)
    extra = {k: v for k, v in vars(tenant).items() if k not in doc and not k.startswith("_")}
    if extra:
        enc = {}
        for k, v in extra.items():
            try:
                enc[k] = encode(v)
            except SnapshotError:
                continue  # Inferred: attributes other modules hang on a tenant are caches
        if enc:
            doc["$extra"] = enc
    return doc


def load_tenant(doc: dict[str, Any]) -> Tenant:
    plain: dict[str, Any] = {}
    collections: dict[str, dict[str, Any]] = {}
    for k, v in doc.items():
        if k == "$extra":
            continue
        if k in _TENANT_COLLECTIONS:
            cls = _TENANT_COLLECTIONS[k]
            items = [_build(cls, {fk: decode(fv) for fk, fv in item.items()}) for item in v]
            key = "app_id" if cls is Application else "id"
            collections[k] = {getattr(i, key): i for i in items}
        else:
            plain[k] = decode(v)
    t = _build(Tenant, plain)
    for k, v in collections.items():
        # Fill the tenant's own collection objects (devices keep their change-counting dict, so the
        # owner index works on a restored tenant as on a new one).
        target = getattr(t, k)
        target.clear()
        target.update(v)
    for k, v in (doc.get("$extra") or {}).items():
        setattr(t, k, decode(v))
    return t


# -- world ----------------------------------------------------------------------------------

def dump_world(world) -> dict[str, Any]:
    """The whole world as a JSON-ready dict (consistent: taken under the world lock)."""
    with world.lock:
        keys = {"next": world.keys._next, "issuer": _key_index(world.issuer_key),
                "drsCa": _key_index(world.drs_ca_key), "intuneCa": _key_index(world.intune_ca_key)}
        rng = world.ids._rng.getstate()
        protocol: dict[str, Any] = {}
        skipped: list[str] = []
        for name in _PROTOCOL_STATE:
            store = getattr(world, name, None)
            if not isinstance(store, dict):
                continue
            out = {}
            for k, v in store.items():
                try:
                    out[k] = encode(v)
                except SnapshotError:
                    skipped.append(f"{name}/{k}")
            protocol[name] = out
        faults = []
        for rule in list(world.faults.rules):
            faults.append({f.name: encode(getattr(rule, f.name)) for f in dataclasses.fields(rule)})
        return {
            "format": FORMAT,
            "version": VERSION,
            "savedAt": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "cloudTime": world.clock.now().isoformat(),
            "world": {
                "seed": world.seed,
                "clockOffset": world.clock.offset,
                "keys": keys,
                "issuerKid": world.issuer_kid,
                "ids": {"rng": [rng[0], list(rng[1]), rng[2]]},
                "requestsServed": world.requests_served,
                "deviceSkews": dict(getattr(world, "device_skews", {}) or {}),
            },
            "tenants": [dump_tenant(t) for t in world.tenants.values()],
            "faults": faults,
            "faultLog": encode(list(world.faults.log)),
            "protocolState": protocol,
            "skipped": skipped,
        }


def load_world(doc: dict[str, Any]):
    """A new World from `dump_world` output. Raises SnapshotError on a document it cannot read."""
    from .world import World

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SnapshotError(f"not an entra-emu snapshot (expected \"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise SnapshotError(f"snapshot version {version!r} is not supported (this entra-emu reads 1..{VERSION})")
    try:
        w = doc["world"]
        world = World(w["seed"])
        world.clock.offset = float(w.get("clockOffset") or 0.0)
        k = w.get("keys") or {}
        for attr, name in (("issuer_key", "issuer"), ("drs_ca_key", "drsCa"), ("intune_ca_key", "intuneCa")):
            if k.get(name) is not None:
                setattr(world, attr, pool_key(int(k[name])))
        if k.get("next") is not None:
            world.keys._next = int(k["next"])
        if w.get("issuerKid"):
            world.issuer_kid = w["issuerKid"]
        rng = (w.get("ids") or {}).get("rng")
        if rng:
            world.ids._rng.setstate((rng[0], tuple(rng[1]), rng[2]))
        world.requests_served = int(w.get("requestsServed") or 0)
        skews = w.get("deviceSkews") or {}
        if skews:
            world.device_skews = {str(n): float(s) for n, s in skews.items()}
        for tdoc in doc.get("tenants") or []:
            world.add_tenant(load_tenant(tdoc))
        for rdoc in doc.get("faults") or []:
            world.faults.add(_build(_fault_cls(),
                                    {kk: decode(vv) for kk, vv in rdoc.items()}))
        world.faults.log.extend(decode(doc.get("faultLog") or []))
        for name, store in (doc.get("protocolState") or {}).items():
            if name in _PROTOCOL_STATE and isinstance(getattr(world, name, None), dict):
                getattr(world, name).update({kk: decode(vv) for kk, vv in store.items()})
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotError(f"snapshot is damaged: {type(exc).__name__}: {exc}") from None
    return world


def _fault_cls():
    from .faults import FaultRule

    return FaultRule


def save(world, path: str | os.PathLike) -> Path:
    """Write the snapshot atomically (temporary file in the same folder, then os.replace)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(dump_world(world), separators=(",", ":")).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=str(p.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return p


def restore(path: str | os.PathLike):
    """A new World from a snapshot file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SnapshotError(f"snapshot {path} is not JSON: {exc}") from None
    return load_world(doc)

"""The speed-ups on Graph's hot paths answer exactly what the plain code answers: cached device JSON
and page texts (byte for byte), the owner index, the verified-token cache, the blockwise $filter
scan and its remembered pages, the unfiltered $count, and the server's gathered write."""
import copy
import datetime as _dt
import json
import pickle
import random

import pytest

from emulator.http import Request
from emulator.services.graph import odata, serializers
from emulator.services.graph.serializers import DEVICE_SPEC, device_fragment, device_full, device_json
from emulator.services.identity import tokens
from emulator.services.identity.tokens import TokenInvalid, find_resource, issuer, validate_access_token
from emulator.services.router import default_router
from emulator.world import models, policy
from emulator.world.models import DirectoryDevice, ManagedDevice
from emulator.world.world import World

G = "https://graph.microsoft.com"
CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


class Env:
    def __init__(self, n=40):
        self.world = World(seed=11)
        self.world.raise_server_errors = True
        self.tenant = self.world.create_tenant("Contoso")
        self.alice = self.world.add_user(self.tenant, "alice@contoso.onmicrosoft.com", display_name="Alice A")
        self.bob = self.world.add_user(self.tenant, "bob@contoso.onmicrosoft.com", display_name="Bob B")
        rnd = random.Random(5)
        now = self.world.now()
        for i in range(n):
            d = DirectoryDevice(id=self.world.ids.guid(), device_id=self.world.ids.guid(),
                                display_name=rnd.choice(["DESKTOP-", "desktop-", "LAPTOP-", "Ünïcode-"]) + f"{i:04d}",
                                registration_time=now - _dt.timedelta(days=i), owner_id=rnd.choice(
                                    [self.alice.id, self.bob.id, None]),
                                approximate_last_sign_in=now if i % 3 else None)
            if i % 4 == 0:
                d.physical_ids = [f"[ZTDID]:{i}", f"[USER-GID]:{i}"]
                d.extension_attributes = {"extensionAttribute1": f"v{i}"}
            if i % 5 == 0:
                d.cert_thumbprint, d.cert_der = f"{i:040X}", bytes([i]) * 20
                d.is_managed, d.is_compliant, d.mdm_app_id = True, bool(i % 2), "0000000a-0000-0000-c000-000000000000"
            self.tenant.devices[d.id] = d
        app = self.world.add_application(self.tenant, "reader", secret="s",
                                         app_roles=["Device.Read.All", "Directory.ReadWrite.All"])
        self.token = issuer(self.world).access_token(self.tenant, find_resource(G), app.app_id,
                                                     roles=["Device.Read.All", "Directory.ReadWrite.All"])

    def call(self, method, path, body=None, headers=None):
        h = {"Authorization": f"Bearer {self.token}"}
        h.update(headers or {})
        data = json.dumps(body).encode() if body is not None else b""
        return default_router().dispatch(self.world, Request(method, G + path, h, data))


@pytest.fixture(params=[1000, 3], ids=["pages-kept", "pages-evicted"])
def env(request, monkeypatch):
    monkeypatch.setattr(serializers, "DEVICE_PAGES_KEPT", request.param)
    return Env()


def uncached_body(env, path, resp, version, fields):
    """What the page's body was before the cache: the whole dict through json.dumps."""
    doc = resp.json()
    out = {k: v for k, v in doc.items() if k != "value"}
    q = odata.parse_query(Request("GET", G + path))
    page = odata.run_query(DEVICE_SPEC, q, list(env.tenant.devices.values()))
    if fields is None:
        out["value"] = [device_json(d, version) for d in page.items]
    else:
        out["value"] = [odata.select_fields(device_full(d, version), fields) for d in page.items]
    return json.dumps(out, separators=(",", ":")).encode("utf-8")


QUERIES = [
    ("", None),
    ("?$top=7", None),
    ("?$select=id,displayName", ["id", "displayName"]),
    ("?$select=DISPLAYNAME,physicalIds,extensionAttributes,hostnames,id", ["displayName", "physicalIds",
                                                                          "extensionAttributes", "hostnames", "id"]),
    ("?$select=alternativeSecurityIds,isCompliant,isManaged,accountEnabled&$top=5",
     ["alternativeSecurityIds", "isCompliant", "isManaged", "accountEnabled"]),
    ("?$filter=startsWith(displayName,'desktop')&$top=3", None),
    ("?$filter=startsWith(displayName,'desktop')&$select=displayName,id", ["displayName", "id"]),
]


def check_all_pages(env):
    for version in ("v1.0", "beta"):
        for q, fields in QUERIES:
            path = f"/{version}/devices{q}"
            while path:
                r = env.call("GET", path)
                assert r.status == 200, r.body
                assert r.body == uncached_body(env, path, r, version, fields), path
                nxt = r.json().get("@odata.nextLink")
                path = nxt[len(G):] if nxt else None


MUTATIONS = [
    lambda d: d.physical_ids.append("[GID]:g"),
    lambda d: d.extension_attributes.__setitem__("extensionAttribute15", "in place"),
    lambda d: d.extension_attributes.clear(),
    lambda d: setattr(d, "physical_ids", []),
    lambda d: setattr(d, "registration_time", d.registration_time + _dt.timedelta(seconds=1)),
    lambda d: setattr(d, "approximate_last_sign_in", None),
    lambda d: setattr(d, "is_compliant", 1 if d.is_compliant is True else True),   # 1 == True, encodes apart
    lambda d: setattr(d, "account_enabled", 1),
    lambda d: setattr(d, "is_managed", 0),
    lambda d: setattr(d, "cert_thumbprint", "AB" * 20),
    lambda d: setattr(d, "cert_der", b"\x01\x02"),
    lambda d: setattr(d, "display_name", "".join(["DESKTOP-", "0006"])),   # equal text, new object
    lambda d: setattr(d, "display_name", "Renamed"),
    lambda d: setattr(d, "trust_type", "Workplace"),
    lambda d: setattr(d, "owner_id", None),
    lambda d: d.__dict__.__setitem__("model", "Surface"),
]


@pytest.mark.parametrize("which", range(len(MUTATIONS)))
def test_cached_pages_are_byte_identical_through_mutations(env, which):
    check_all_pages(env)
    check_all_pages(env)  # now from the caches
    devs = list(env.tenant.devices.values())
    for d in (devs[0], devs[5], devs[20], devs[39]):
        MUTATIONS[which](d)
        check_all_pages(env)


def test_graph_patch_then_cached_pages(env):
    check_all_pages(env)
    check_all_pages(env)
    d = list(env.tenant.devices.values())[3]
    assert env.call("PATCH", f"/v1.0/devices/{d.id}",
                    {"displayName": "RENAMED-0", "accountEnabled": False,
                     "extensionAttributes": {"extensionAttribute3": "x", "extensionAttribute1": None}}).status == 204
    check_all_pages(env)
    assert env.call("PATCH", f"/v1.0/devices/{d.id}", {"extensionAttributes": {"extensionAttribute3": "y"}}).status == 204
    check_all_pages(env)


def test_copies_and_pickles_keep_the_cache_right(env):
    check_all_pages(env)
    d = next(iter(env.tenant.devices.values()))
    for clone in (copy.copy(d), copy.deepcopy(d), pickle.loads(pickle.dumps(d))):
        before = device_fragment(clone, "v1.0", None)
        assert before == json.dumps(device_json(clone), separators=(",", ":")).encode()
        clone.physical_ids.append("[X]:1") if clone.physical_ids is not d.physical_ids else None
        clone.display_name = "CLONE"
        assert device_fragment(clone, "v1.0", None) == json.dumps(device_json(clone), separators=(",", ":")).encode()
    assert device_fragment(d, "v1.0", None) == json.dumps(device_json(d), separators=(",", ":")).encode()


def test_expand_and_other_collections_still_answer(env):
    r = env.call("GET", "/v1.0/devices?$expand=registeredOwners&$top=3")
    assert r.status == 200
    assert all("registeredOwners" in v for v in r.json()["value"])


# -- owner index ------------------------------------------------------------------------------------

def scan(tenant, uid):
    return [d for d in tenant.devices.values() if d.owner_id == uid]


def mscan(tenant, uid):
    return [m for m in tenant.managed_devices.values() if m.user_id == uid]


def same(a, b):
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def test_owner_index_follows_every_kind_of_change(env):
    t, w = env.tenant, env.world
    users = [env.alice.id, env.bob.id, None, "nobody"]
    rnd = random.Random(3)
    now = w.now()
    for step in range(400):
        op = rnd.randrange(10)
        devs = list(t.devices.values())
        if op <= 2 or not devs:
            d = DirectoryDevice(id=w.ids.guid(), device_id=w.ids.guid(), display_name=f"N{step}",
                                owner_id=rnd.choice(users))
            t.devices[d.id] = d
        elif op == 3:
            t.devices.pop(rnd.choice(devs).id)
        elif op == 4:
            rnd.choice(devs).owner_id = rnd.choice(users)
        elif op == 5:
            old = rnd.choice(devs)
            t.devices[old.id] = copy.copy(old)          # same key, another object
        elif op == 6:
            old = rnd.choice(devs)
            del t.devices[old.id]
            t.devices[old.id] = old                     # moved to the end
        elif op == 7:
            t.devices.update({d.id: d for d in rnd.sample(devs, min(3, len(devs)))})
        elif op == 8:
            t.devices.setdefault(rnd.choice(devs).id, None)
        else:
            m = ManagedDevice(id=w.ids.guid(), device_name=f"M{step}", user_id=rnd.choice(users),
                              user_principal_name=None, user_display_name=None, azure_ad_device_id="x",
                              enrolled=now, last_sync=now, os_version="10")
            t.managed_devices[m.id] = m
            if rnd.random() < 0.3:
                rnd.choice(list(t.managed_devices.values())).user_id = rnd.choice(users)
        for uid in users:
            assert same(t.devices_owned_by(uid), scan(t, uid)), (step, op)
            assert same(t.managed_devices_of(uid), mscan(t, uid)), (step, op)


def test_owner_index_and_graph_owner_refs(env):
    t = env.tenant
    d = next(x for x in t.devices.values() if x.owner_id is None)
    assert d not in t.devices_owned_by(env.alice.id)
    r = env.call("POST", f"/v1.0/devices/{d.id}/registeredOwners/$ref",
                 {"@odata.id": f"{G}/v1.0/directoryObjects/{env.alice.id}"})
    assert r.status == 204
    assert same(t.devices_owned_by(env.alice.id), scan(t, env.alice.id))
    ids = [v["id"] for v in env.call("GET", f"/v1.0/users/{env.alice.id}/registeredDevices?$top=999").json()["value"]]
    assert ids == [x.id for x in scan(t, env.alice.id)] and d.id in ids
    assert env.call("DELETE", f"/v1.0/devices/{d.id}/registeredOwners/{env.alice.id}/$ref").status == 204
    assert same(t.devices_owned_by(env.alice.id), scan(t, env.alice.id))
    assert d not in t.devices_owned_by(env.alice.id)
    t.devices.pop(scan(t, env.bob.id)[0].id)
    assert same(t.devices_owned_by(env.bob.id), scan(t, env.bob.id))
    assert same(policy.devices_counted_for_quota(t, env.bob),
                [x for x in scan(t, env.bob.id) if x.trust_type in ("AzureAd", "Workplace")])


def test_owner_index_on_plain_and_copied_collections(env):
    t = env.tenant
    t.devices = dict(t.devices)                 # a plain dict from outside: scanned, still right
    assert same(t.devices_owned_by(env.alice.id), scan(t, env.alice.id))
    d = next(iter(t.devices.values()))
    d.owner_id = env.bob.id
    assert same(t.devices_owned_by(env.bob.id), scan(t, env.bob.id))
    t2 = copy.deepcopy(env.tenant)
    t3 = pickle.loads(pickle.dumps(Env(5).tenant))
    for tt in (t2, t3):
        for uid in (env.alice.id, env.bob.id):
            assert same(tt.devices_owned_by(uid), scan(tt, uid))
    fresh = Env(5).tenant
    c = copy.deepcopy(fresh.devices)
    assert type(c) is type(fresh.devices) and c == fresh.devices and c.adds == len(c)


class CountingOwner(models._OwnerField):
    reads = 0

    def __get__(self, obj, objtype=None):
        if obj is not None:
            CountingOwner.reads += 1
        return super().__get__(obj, objtype)


def test_joins_in_a_big_tenant_do_not_scan_it(env, monkeypatch):
    t = env.tenant
    for i in range(5000):
        d = DirectoryDevice(id=f"id-{i}", device_id=f"dev-{i}", display_name=f"D{i}", owner_id=f"u{i % 50}")
        t.devices[d.id] = d
    assert len(t.devices_owned_by(env.alice.id)) == len(scan(t, env.alice.id))   # builds the index
    monkeypatch.setattr(DirectoryDevice, "owner_id", CountingOwner("owner_id", None))
    CountingOwner.reads = 0
    for i in range(20):                       # what a DRS join does: count, then add one device
        n = len(policy.devices_counted_for_quota(t, env.alice))
        d = DirectoryDevice(id=f"new-{i}", device_id=f"ndev-{i}", display_name="J", owner_id=env.alice.id)
        t.devices[d.id] = d
        assert len(policy.devices_counted_for_quota(t, env.alice)) == n + 1
    assert CountingOwner.reads < 2000          # a scan would read 5,000+ owners each time
    assert same(t.devices_owned_by(env.alice.id), scan(t, env.alice.id))


# -- verified-token cache -----------------------------------------------------------------------------

def test_token_cache_rechecks_lifetime_audience_and_key(env, monkeypatch):
    w = env.world
    aud = ("https://graph.microsoft.com",)
    token = issuer(w).access_token(env.tenant, find_resource(G), CLI, user=env.alice, scopes=["User.Read"],
                                   lifetime=600)
    first = validate_access_token(w, token, aud)
    again = validate_access_token(w, token, aud)
    assert first == again and first is not again
    again["tid"] = "tampered"
    assert validate_access_token(w, token, aud)["tid"] == env.tenant.id
    with pytest.raises(TokenInvalid) as e:
        validate_access_token(w, token, ("urn:ms-drs:enterpriseregistration.windows.net",))
    assert e.value.reason == "audience"
    w.clock.set(w.now() + _dt.timedelta(seconds=600 + 301))
    with pytest.raises(TokenInvalid) as e:
        validate_access_token(w, token, aud)
    assert e.value.reason == "expired"
    w.clock.set(w.now() - _dt.timedelta(seconds=600 + 301))
    assert validate_access_token(w, token, aud)["tid"] == env.tenant.id
    w.issuer_key = w.keys.take()              # another signing key: the cached check no longer counts
    with pytest.raises(TokenInvalid) as e:
        validate_access_token(w, token, aud)
    assert e.value.reason == "signature"
    with pytest.raises(TokenInvalid) as e:
        validate_access_token(w, token + "x", aud)
    assert e.value.reason in ("malformed", "signature")


def test_token_cache_is_bounded(env, monkeypatch):
    monkeypatch.setattr(tokens, "VERIFIED_TOKEN_CACHE_SIZE", 5)
    w = env.world
    for i in range(12):
        tok = issuer(w).access_token(env.tenant, find_resource(G), CLI, user=env.alice, scopes=[f"S{i}"])
        assert validate_access_token(w, tok, ("https://graph.microsoft.com",))["scp"] == f"S{i}"
    assert len(w.__dict__["_verified_tokens"]) <= 5


# -- blockwise $filter ------------------------------------------------------------------------------------

@pytest.mark.parametrize("flt", ["startsWith(displayName,'desk')", "startsWith(displayName,'ÜNÏ')",
                                 "displayName eq 'laptop-0002'", "startsWith(deviceId,'0')",
                                 "displayName eq 'İx'", "startsWith(displayName,'i')"])
def test_blockwise_filter_matches_the_plain_predicate(flt):
    rnd = random.Random(1)
    names = ["DESKTOP-1", "desktop-2", "LAPTOP-0002", "laptop-0002", "Ünïcode", "İx", "ix", None, "", "K\u212a"]
    items = [DirectoryDevice(id=str(i), device_id=f"{rnd.randrange(16):x}{i}", display_name=rnd.choice(names))
             for i in range(3000)]
    for n_none in (0, 1):
        if not n_none:
            for o in items:
                o.display_name = o.display_name or "x"
        pred = odata.compile_filter(DEVICE_SPEC, odata.parse_filter(flt), False)
        expect = [o for o in items if pred(o)]
        assert hasattr(pred, "block")
        assert list(odata._blocks(items, pred.block)) == expect
        for top, skip in ((1, 0), (100, 0), (100, 100), (999, 200)):
            q = odata.Query(filter=flt, top=top, skiptoken=odata.encode_skiptoken(skip) if skip else None)
            page = odata.run_query(DEVICE_SPEC, q, items)
            assert page.items == expect[skip:skip + top]


# -- the server's gathered write ----------------------------------------------------------------------------

class PartialSock:
    """Takes at most `limit` bytes per sendmsg, like a full socket buffer."""

    def __init__(self, limit):
        self.limit, self.data = limit, bytearray()

    def sendmsg(self, parts):
        joined = b"".join(bytes(p) for p in parts)[:self.limit]
        self.data += joined
        return len(joined)

    def sendall(self, b):
        self.data += bytes(b)


@pytest.mark.parametrize("limit", [0, 3, 10, 11, 5000, 10**9])
def test_gathered_write_sends_everything_in_order(limit):
    from emulator.transport.server import _send_gathered

    head, body = b"HTTP/1.1 200 OK\r\n\r\n"[:11], bytes(range(256)) * 100
    s = PartialSock(limit)
    _send_gathered(s, head, body)
    assert bytes(s.data) == head + body


def test_big_pages_through_the_server(env, tmp_path):
    import requests

    from emulator.transport.server import EmulatorServer

    for i in range(300):
        d = DirectoryDevice(id=f"big-{i}", device_id=f"bigdev-{i}", display_name=f"BIG-{i}")
        env.tenant.devices[d.id] = d
    with EmulatorServer(env.world, port=0, state_dir=tmp_path) as srv:
        s = requests.Session()
        s.trust_env = False
        for _ in range(2):
            r = s.get(f"{srv.url}/graph.microsoft.com/v1.0/devices?$top=999",
                      headers={"Authorization": f"Bearer {env.token}"}, timeout=30)
            assert r.status_code == 200 and len(r.content) > 100_000
            assert r.content == env.call("GET", "/v1.0/devices?$top=999").body


def test_count_of_an_unfiltered_list_without_copying(env):
    h = {"ConsistencyLevel": "eventual"}
    doc = env.call("GET", "/v1.0/devices?$count=true&$top=5", headers=h).json()
    assert doc["@odata.count"] == len(env.tenant.devices) and len(doc["value"]) == 5
    q = odata.Query(count=True, consistency_eventual=True, top=7, skiptoken=odata.encode_skiptoken(7))
    devs = env.tenant.devices.values()
    page = odata.run_query(DEVICE_SPEC, q, devs)
    assert page.items == list(devs)[7:14] and page.count is None       # a count on the first page only
    page = odata.run_query(DEVICE_SPEC, odata.Query(count=True, consistency_eventual=True, top=7), iter(list(devs)))
    assert page.count == len(devs) and page.items == list(devs)[:7]


def test_cached_claims_cannot_be_changed_through_a_copy(env):
    w = env.world
    aud = ("https://graph.microsoft.com",)
    first = validate_access_token(w, env.token, aud)
    first["roles"].append("Everything.ReadWrite.All")
    assert "Everything.ReadWrite.All" not in validate_access_token(w, env.token, aud)["roles"]


# -- remembered filtered pages ----------------------------------------------------------------------------

class Name(str):
    def lower(self):
        return "desktop-" + str.lower(self)


@pytest.mark.parametrize("seed", range(4))
def test_remembered_filter_pages_follow_every_change(seed):
    rnd = random.Random(seed)
    coll = models._CountedDict()
    names = ["DESKTOP-A1", "desktop-a2", "DESKTOP-B1", "LAPTOP-A", "desk", "DESKTOP-Ä"]

    def new(i):
        return DirectoryDevice(id=f"id{i}", device_id=f"dev{i}", display_name=rnd.choice(names))
    for i in range(600):
        d = new(i)
        coll[d.id] = d
    filters = ["startsWith(displayName,'desktop-a')", "startsWith(displayName,'DESKTOP')",
               "displayName eq 'desk'", "startsWith(displayName,'zzz')"]
    n = 600
    for step in range(250):
        for flt in filters:
            top, skip = rnd.choice([(1, 0), (5, 0), (5, 5), (100, 0), (100, 100), (999, 0)])
            q = odata.Query(filter=flt, top=top, skiptoken=odata.encode_skiptoken(skip) if skip else None)
            plain = odata.run_query(DEVICE_SPEC, q, list(coll.values()))
            remembered = odata.run_query(DEVICE_SPEC, q, coll.values(), source=coll)
            assert remembered.items == plain.items and remembered.next_offset == plain.next_offset, (step, flt)
            assert all(a is b for a, b in zip(remembered.items, plain.items, strict=True))
        devs = list(coll.values())
        op = rnd.randrange(8)
        if op == 0:
            rnd.choice(devs[:50]).display_name = rnd.choice(names)
        elif op == 1:
            d = rnd.choice(devs)
            d.display_name = "".join(list(d.display_name))          # equal text, new object
        elif op == 2:
            n += 1
            d = new(n)
            coll[d.id] = d
        elif op == 3:
            del coll[rnd.choice(devs).id]
        elif op == 4:
            d = rnd.choice(devs)
            coll[d.id] = DirectoryDevice(id=d.id, device_id=d.device_id, display_name=rnd.choice(names))
        elif op == 5:
            rnd.choice(devs[:30]).display_name = None if rnd.random() < 0.5 else Name("a-x")
        elif op == 6:
            for d in devs:
                if d.display_name is None or type(d.display_name) is not str:
                    d.display_name = "DESKTOP-A9"
        else:
            rnd.choice(devs).display_name = rnd.choice(names)


def test_remembered_filter_pages_are_bounded_and_used(monkeypatch):
    monkeypatch.setattr(odata, "FILTER_PAGES_KEPT", 3)
    coll = models._CountedDict()
    for i in range(300):
        d = DirectoryDevice(id=f"id{i}", device_id=f"dev{i}", display_name=f"DESKTOP-{i % 7}")
        coll[d.id] = d
    for top in range(1, 10):
        odata.run_query(DEVICE_SPEC, odata.Query(filter="startsWith(displayName,'desktop-3')", top=top),
                        coll.values(), source=coll)
    assert len(coll.memo) <= 3
    q = odata.Query(filter="startsWith(displayName,'desktop-3')", top=9)
    first = odata.run_query(DEVICE_SPEC, q, coll.values(), source=coll).items
    (entry,) = [v for k, v in coll.memo.items() if k[2] == 10]
    assert odata.run_query(DEVICE_SPEC, q, coll.values(), source=coll).items == first
    assert len(entry[4]) < 300          # only the prefix up to the 10th match was read


def test_remembered_filter_page_after_removals_and_rebinding():
    coll = models._CountedDict()
    name = "DESKTOP-A"
    for i in range(50):
        d = DirectoryDevice(id=f"id{i}", device_id=f"dev{i}", display_name=name)
        coll[d.id] = d
    q = odata.Query(filter="startsWith(displayName,'desktop')", top=5)
    assert [d.id for d in odata.run_query(DEVICE_SPEC, q, coll.values(), source=coll).items] == \
        ["id0", "id1", "id2", "id3", "id4"]
    del coll["id1"]
    assert [d.id for d in odata.run_query(DEVICE_SPEC, q, coll.values(), source=coll).items] == \
        ["id0", "id2", "id3", "id4", "id5"]
    other = DirectoryDevice(id="id3", device_id="x", display_name=name)
    coll["id3"] = other
    assert odata.run_query(DEVICE_SPEC, q, coll.values(), source=coll).items[2] is other
    coll.pop("id0")
    coll.popitem()
    assert [d.id for d in odata.run_query(DEVICE_SPEC, q, coll.values(), source=coll).items] == \
        ["id2", "id3", "id4", "id5", "id6"]
    coll.clear()
    assert odata.run_query(DEVICE_SPEC, q, coll.values(), source=coll).items == []

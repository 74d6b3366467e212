"""Regression tests for the review fixes: races on shared world state (cache, device codes, Graph
creates, counters, owner epoch), seed-determinism of lazily built certificates, tenant removal,
the CSR nonce lookup and the key pool split between world roles and devices."""
import base64
import threading
import time
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID, ObjectIdentifier
from test_graph import Env

from emulator.device.windows import WindowsDevice
from emulator.services.identity.tokens import issuer
from emulator.services.intune import certificates as intune_certs
from emulator.services.registration import responses as drs
from emulator.transport import tls
from emulator.transport.control import ControlAPI
from emulator.transport.direct import DirectSession
from emulator.world import models
from emulator.world.keys import WORLD_KEY_COUNT, device_pool_key, pool_key, pool_size
from emulator.world.models import DirectoryDevice
from emulator.world.world import World

LOGIN = "https://login.microsoftonline.com"
CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


def run_together(n, fn):
    """Run fn(i) in n threads started together; their results (or exceptions) in order."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def worker(i):
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            out[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


# -- 1. World.cached ---------------------------------------------------------------------------------

def test_cached_builds_once_under_concurrency():
    w = World(seed="cache")
    calls = []

    def factory():
        calls.append(1)
        time.sleep(0.05)            # wide window: without the lock every thread would build
        return {"built": len(calls)}

    results = run_together(8, lambda i: w.cached("k", factory))
    assert len(calls) == 1
    assert all(r is results[0] for r in results)


def test_cached_factory_may_call_cached():
    w = World(seed="cache")
    outer = w.cached("outer", lambda: ("outer", w.cached("inner", lambda: "inner")))
    assert outer == ("outer", "inner") and w.cached("inner", lambda: "other") == "inner"


# -- 2. device code redeemed once ----------------------------------------------------------------------

def test_device_code_redeemed_only_once_under_concurrency():
    w = World(seed="devcode")
    w.raise_server_errors = True
    t = w.create_tenant("Contoso", "contoso.com")
    u = w.add_user(t, "adele.vance@contoso.com", display_name="Adele Vance")
    http = DirectSession(w)
    flow = http.post(f"{LOGIN}/contoso.com/oauth2/v2.0/devicecode",
                     data={"client_id": CLI, "scope": "User.Read"}).json()
    page = http.post(f"{LOGIN}/common/oauth2/deviceauth",
                     data={"otc": flow["user_code"], "login": u.user_principal_name, "passwd": "P@ssw0rd!"}).json()
    assert page["page"] == "done"
    real = w.clock.timestamp

    def slow_timestamp():           # the expiry check sits between the read and the pop
        time.sleep(0.05)
        return real()

    w.clock.timestamp = slow_timestamp
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": flow["device_code"],
            "client_id": CLI}
    results = run_together(4, lambda i: DirectSession(w).post(f"{LOGIN}/contoso.com/oauth2/v2.0/token", data=form))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 400, 400, 400], statuses
    assert all(r.json()["error_codes"] == [70000] for r in results if r.status_code == 400)
    assert flow["device_code"] not in w.device_codes


# -- 3. Graph creates check and insert under the lock ------------------------------------------------

def test_graph_create_device_duplicate_check_is_atomic():
    env = Env()
    tok = env.token(scopes=["Directory.AccessAsUser.All"])
    body = {"accountEnabled": True, "deviceId": "4c299165-6e8f-4b45-a5ba-c5d250a707ff", "displayName": "Race",
            "operatingSystem": "linux", "operatingSystemVersion": "1",
            "alternativeSecurityIds": [{"type": 2, "key": "base64Y3YxN2E1MWFlYw=="}]}
    t = env.tenant
    real = t.device_by_device_id

    def slow_lookup(device_id):
        found = real(device_id)
        time.sleep(0.05)
        return found

    t.device_by_device_id = slow_lookup
    results = run_together(4, lambda i: env.call("POST", "/v1.0/devices", token=tok, body=body))
    assert sorted(r.status for r in results) == [201, 400, 400, 400]
    assert sum(1 for d in t.devices.values() if d.device_id == body["deviceId"]) == 1


class _SlowList(list):
    """A list whose iteration pauses once the reader is done with it (after the last item, or
    when a lookup stops early): a wide window between reading the list and acting on it."""

    def __iter__(self):
        try:
            yield from list.__iter__(self)
        finally:
            time.sleep(0.05)


def test_graph_enrollment_restriction_priorities_are_unique_under_concurrency():
    env = Env()
    tok = env.token(scopes=["DeviceManagementServiceConfig.ReadWrite.All"])
    base = "/beta/deviceManagement/deviceEnrollmentConfigurations"
    limit = "#microsoft.graph.deviceEnrollmentLimitConfiguration"
    # warm-up (first-use imports and caches would otherwise stagger the threads)
    assert env.call("POST", base, token=tok, body={"@odata.type": limit, "displayName": "W", "limit": 2}).status == 201
    env.tenant.enrollment_configurations = _SlowList(env.tenant.enrollment_configurations)
    results = run_together(4, lambda i: env.call("POST", base, token=tok,
                                                 body={"@odata.type": limit, "displayName": f"L{i}", "limit": 2}))
    assert all(r.status == 201 for r in results)
    prios = sorted(c["priority"] for c in env.tenant.enrollment_configurations
                   if c["@odata.type"] == limit and c["priority"] != 0)
    assert prios == [1, 2, 3, 4, 5]


def test_graph_enrollment_restriction_delete_of_a_deleted_one_is_404():
    env = Env()
    tok = env.token(scopes=["DeviceManagementServiceConfig.ReadWrite.All"])
    base = "/beta/deviceManagement/deviceEnrollmentConfigurations"
    cfg = env.call("POST", base, token=tok, body={"@odata.type": "#microsoft.graph.deviceEnrollmentLimitConfiguration",
                                                  "displayName": "One", "limit": 2}).json()
    env.tenant.enrollment_configurations = _SlowList(env.tenant.enrollment_configurations)
    results = run_together(3, lambda i: env.call("DELETE", f"{base}/{cfg['id']}", token=tok))
    assert sorted((getattr(r, "status", repr(r)) for r in results), key=str) == [204, 404, 404]


# -- 4. counters ----------------------------------------------------------------------------------------

def test_requests_served_counts_every_request_across_threads():
    w = World(seed="count")
    run_together(8, lambda i: [w.count_request() for _ in range(5000)])
    assert w.requests_served == 40000
    w.requests_served = 7                      # snapshots restore the number
    assert w.requests_served == 7
    http = DirectSession(w)
    w.create_tenant("Contoso", "contoso.com")
    http.get(f"{LOGIN}/contoso.com/v2.0/.well-known/openid-configuration")
    assert w.requests_served == 8


def test_server_stats_count_under_concurrency(tmp_path):
    from emulator.transport.server import EmulatorServer

    srv = EmulatorServer(World(seed="stats"), port=0, state_dir=tmp_path / "state")
    try:
        run_together(8, lambda i: [srv.count_stat("connections") for _ in range(5000)])
        assert srv.stats["connections"] == 40000
        assert srv.stats["tunnels"] == 0
    finally:
        srv.httpd.server_close()


# -- 5. owner epoch ------------------------------------------------------------------------------------

def test_owner_epoch_bumps_are_not_lost_and_index_stays_right():
    w = World(seed="owners")
    t = w.create_tenant("Contoso")
    users = [w.add_user(t) for _ in range(2)]
    devs = []
    for i in range(8):
        d = DirectoryDevice(id=w.ids.guid(), device_id=w.ids.guid(), display_name=f"D{i}", owner_id=users[0].id,
                            registration_time=w.now())
        t.devices[d.id] = d
        devs.append(d)
    assert len(t.devices_owned_by(users[0].id)) == 8            # index built
    before = models.OWNER_EPOCH[0]

    def flip(i):
        d = devs[i]
        for n in range(2001):
            d.owner_id = users[(n + 1) % 2].id

    run_together(8, flip)
    assert models.OWNER_EPOCH[0] - before >= 8 * 2001
    # every device ended with users[1]; the index must see the re-assignments
    assert {d.id for d in t.devices_owned_by(users[1].id)} == {d.id for d in devs}
    assert t.devices_owned_by(users[0].id) == []


def test_owner_epoch_bump_is_under_a_lock(monkeypatch):
    seen = []

    class SpyLock:
        def __enter__(self):
            seen.append("enter")

        def __exit__(self, *a):
            seen.append("exit")

    monkeypatch.setattr(models, "_OWNER_EPOCH_LOCK", SpyLock())
    d = DirectoryDevice(id="a", device_id="b", display_name="x", owner_id="u1")
    d.owner_id = "u2"
    assert seen == ["enter", "exit"]


# -- 6. lazily built certificates do not shift the world's ids --------------------------------------------

def _build_certs(world, tmp_path=None):
    issuer(world).jwks()
    serials = [x509.load_der_x509_certificate(world.cached("issuer_cert_der", None)).serial_number,
               intune_certs.ca_certificate(world).serial_number,
               tls.drs_ca_certificate(world).serial_number]
    tls.client_trust_pems(world)
    return serials


@pytest.mark.parametrize("seed", [0, 42, "review"])
def test_certificates_built_early_or_late_give_the_same_ids(seed):
    early, late = World(seed=seed), World(seed=seed)
    early_serials = _build_certs(early)
    a = [early.ids.guid() for _ in range(5)]
    b = [late.ids.guid() for _ in range(5)]
    late_serials = _build_certs(late)
    assert a == b
    assert early_serials == late_serials
    assert [early.ids.guid() for _ in range(5)] == [late.ids.guid() for _ in range(5)]


def test_server_tls_context_does_not_draw_ids(tmp_path):
    from emulator.transport.server import EmulatorServer

    served, plain = World(seed=9), World(seed=9)
    srv = EmulatorServer(served, port=0, state_dir=tmp_path / "state")
    try:
        srv.ssl_context()                  # what the first TLS handshake builds on the server thread
    finally:
        srv.httpd.server_close()
    assert [served.ids.guid() for _ in range(3)] == [plain.ids.guid() for _ in range(3)]
    assert intune_certs.ca_certificate(served).serial_number == intune_certs.ca_certificate(plain).serial_number


def test_different_seeds_give_different_serials():
    assert _build_certs(World(seed=1))[:2] != _build_certs(World(seed=2))[:2]


# -- 7. tenant removal ------------------------------------------------------------------------------------

def test_remove_tenant_forgets_its_domains():
    w = World(seed="rm")
    a = w.create_tenant("Contoso", "contoso.com", extra_domains=["contoso.net"])
    b = w.create_tenant("Fabrikam", "fabrikam.com")
    assert w.remove_tenant(a.id) is a
    assert w.tenant(a.id) is None and w.tenant("contoso.com") is None and w.tenant("contoso.net") is None
    assert w.tenant("fabrikam.com") is b
    assert w.remove_tenant(a.id) is None


def test_control_api_tenant_delete_uses_remove_tenant(monkeypatch):
    w = World(seed="rm")
    a = w.create_tenant("Contoso", "contoso.com")
    calls = []
    real = w.remove_tenant
    monkeypatch.setattr(w, "remove_tenant", lambda tid: calls.append(tid) or real(tid))
    api = ControlAPI(types.SimpleNamespace(world=w))
    r = api.handle("DELETE", "/_emu/tenants/contoso.com", {}, b"", None)
    assert r.status == 204 and calls == [a.id]
    assert w.tenant("contoso.com") is None and a.id not in w.tenants


# -- 8. CSR nonce lookup ------------------------------------------------------------------------------------

def _old_check(world, raw):
    """The nonce check as it was (walks every stored nonce): the reference for what is accepted."""
    now = world.clock.timestamp()
    for value, issued in list(world.nonces.items()):
        if now - issued > drs.NONCE_LIFETIME:
            continue
        forms = [value.encode()]
        try:
            forms.append(base64.b64decode(value, validate=True))
        except (ValueError, TypeError):
            pass
        if any(f and f in raw for f in forms):
            return True
    return False


def _csr(raw):
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
            .add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.2.840.113556.1.5.284.2.1"), raw),
                           critical=False)
            .sign(pool_key(46), hashes.SHA256()))


def _new_check(world, csr):
    try:
        drs._check_csr_nonce(world, csr)
        return True
    except drs.InvalidRequest:
        return False


def _der(tag, content):
    n = len(content)
    size = (n.bit_length() + 7) // 8
    head = bytes([n]) if n < 128 else bytes([0x80 | size]) + n.to_bytes(size, "big")
    return bytes([tag]) + head + content


def test_csr_nonce_accepts_the_same_encodings_without_walking_the_store(monkeypatch):
    w = World(seed="nonce")
    t = w.create_tenant("Contoso")
    http = DirectSession(w)
    drs_nonce = http.get(f"https://enterpriseregistration.windows.net/EnrollmentServer/nonce/{t.id}/"
                         "?api-version=1.0").json()["Value"]
    challenge = drs.new_nonce(w)                         # the srv_challenge shape (base64url, prefixed)
    for i in range(10000):                               # a busy server's store
        w.nonces[f"filler-{i}"] = w.clock.timestamp()
    dec = base64.b64decode(drs_nonce)
    cases = [drs_nonce.encode(), dec, challenge.encode(), _der(0x04, drs_nonce.encode()),
             _der(0x0C, drs_nonce.encode()),
             _der(0x04, dec), _der(0x30, _der(0x04, dec)), _der(0x0C, challenge.encode()), b"\x00\x01" + dec,
             b"nonce=" + drs_nonce.encode(), b"not-a-nonce", base64.b64decode(base64.b64encode(b"x" * 48)), b"",
             dec[:-1]]
    expected = [_old_check(w, raw) for raw in cases]
    assert expected == [True] * 10 + [False] * 4
    csrs = [_csr(raw) for raw in cases]
    decodes = []
    real = drs.base64
    monkeypatch.setattr(drs, "base64", types.SimpleNamespace(
        b64encode=real.b64encode, b64decode=lambda *a, **k: decodes.append(1) or real.b64decode(*a, **k)))
    started = time.perf_counter()
    got = [_new_check(w, c) for c in csrs]
    elapsed = time.perf_counter() - started
    assert got == expected
    assert decodes == []                                 # no stored nonce is decoded
    assert elapsed < 1.0
    w.clock.offset += drs.NONCE_LIFETIME + 1             # still refused once stale
    assert _new_check(w, csrs[0]) is False


# -- 9. world keys and device keys never collide ------------------------------------------------------------

def _index(key):
    n = key.public_key().public_numbers().n
    return next(i for i in range(pool_size()) if pool_key(i).public_key().public_numbers().n == n)


def test_world_keys_are_reserved_and_distinct():
    for seed in [*range(40), "a", "drs", "review"]:
        w = World(seed=seed)
        idx = [_index(k) for k in (w.issuer_key, w.drs_ca_key, w.intune_ca_key)]
        assert len(set(idx)) == 3 and all(i < WORLD_KEY_COUNT for i in idx), (seed, idx)


def test_device_keys_never_come_from_the_reserved_part():
    reserved = {pool_key(i).public_key().public_numbers().n for i in range(WORLD_KEY_COUNT)}
    assert all(device_pool_key(i).public_key().public_numbers().n not in reserved for i in range(200))
    for seed in range(20):
        d = WindowsDevice(session=None, seed=seed)
        keys = [d._take_key() for _ in range(12)]
        ns = [k.public_key().public_numbers().n for k in keys]
        assert not reserved & set(ns)
        assert len(set(ns)) == 12                        # a device's keys do not repeat soon


def test_restored_tenant_keeps_the_counting_device_collections(tmp_path):
    from emulator.world import snapshot
    from emulator.world.models import DirectoryDevice, _CountedDict
    from emulator.world.world import World

    w = World(seed="snap")
    t = w.create_tenant("Contoso", "contoso.com")
    u = w.add_user(t, "a@contoso.com", display_name="A B")
    d = DirectoryDevice(id=w.ids.guid(), device_id=w.ids.guid(), display_name="DESKTOP-AAAAAAA", owner_id=u.id)
    t.devices[d.id] = d
    path = tmp_path / "snap.json"
    snapshot.save(w, path)
    restored = snapshot.restore(path)
    rt = restored.tenant("contoso.com")
    assert type(rt.devices) is _CountedDict and type(rt.managed_devices) is _CountedDict
    assert [x.display_name for x in rt.devices_owned_by(u.id)] == ["DESKTOP-AAAAAAA"]

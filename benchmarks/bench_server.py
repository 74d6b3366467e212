"""Benchmark of the local server (`entra-emu serve`) with a tenant of 100,000 devices.

Runs the server in a child process (so the load generator does not share its interpreter), then
prints side by side with the aims:

* seed time of the tenant (built with the model directly, not through HTTP);
* latency of one filtered Graph page
  `/v1.0/devices?$filter=startsWith(displayName,'DESKTOP-A')&$top=100` (keep-alive, base-URL mode,
  and through the HTTPS proxy);
* requests/s of Graph list requests on loopback with `wrk` when installed (`apt-get install wrk`),
  else a multi-process keep-alive Python client;
* the server process RSS (current and peak);
* the device-quota check of a DRS join in that tenant (owner index) against a scan of every device.

Usage: python benchmarks/bench_server.py [--devices 100000] [--duration 10] [--connections 16]
                                          [--tool auto|wrk|python]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
FILTERED = "/v1.0/devices?$filter=" + quote("startsWith(displayName,'DESKTOP-A')", safe="(),'") + "&$top=100"
LIST = "/v1.0/devices?$top=100"
AIMS = {"rps": 3000.0, "latency_ms": 20.0, "rss_mb": 500.0}


# -- child: the server ------------------------------------------------------------------------

def child(devices: int, state_dir: str) -> None:
    sys.path.insert(0, str(ROOT))
    from emulator.services.identity.tokens import find_resource, issuer
    from emulator.transport.server import EmulatorServer
    from emulator.world.models import GRAPH_RESOURCE, DirectoryDevice
    from emulator.world.world import World

    world = World(seed="bench")
    t0 = time.perf_counter()
    tenant = world.create_tenant("Contoso", "contoso.com")
    owner = world.add_user(tenant, "adele.vance@contoso.com", display_name="Adele Vance")
    now = world.clock.now()
    ids = world.ids
    devs = tenant.devices
    for _ in range(devices):
        d = DirectoryDevice(id=ids.guid(), device_id=ids.guid(), display_name=ids.desktop_name(),
                            registration_time=now, approximate_last_sign_in=now, owner_id=owner.id)
        devs[d.id] = d
    seed_s = time.perf_counter() - t0
    quota = _quota_checks(world, tenant, DirectoryDevice)
    app = world.add_application(tenant, "bench", secret="x", app_roles=["Device.Read.All"])
    token = issuer(world).access_token(tenant, find_resource(GRAPH_RESOURCE), app.app_id, roles=["Device.Read.All"],
                                       lifetime=24 * 3600)
    srv = EmulatorServer(world, port=0, state_dir=state_dir)
    print(json.dumps({"port": srv.port, "seed_seconds": seed_s, "token": token, "pid": os.getpid(),
                      "bundle": str(srv.tls_files.bundle), "quota": quota}), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


def _quota_checks(world, tenant, device_cls, joins: int = 200) -> dict:
    """What a DRS join costs in the device-quota check for a new user of the big tenant: the first
    check (builds the owner index), then `joins` rounds of check + add one device, against a
    plain scan of every device."""
    from emulator.world import policy

    user = world.add_user(tenant, "joiner@contoso.com", display_name="Joe Iner")
    t = time.perf_counter()
    policy.devices_counted_for_quota(tenant, user)
    first = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(joins):
        policy.devices_counted_for_quota(tenant, user)
        d = device_cls(id=world.ids.guid(), device_id=world.ids.guid(), display_name="JOINED", owner_id=user.id)
        tenant.devices[d.id] = d
    per_join = (time.perf_counter() - t) / joins
    counted = len(policy.devices_counted_for_quota(tenant, user))
    t = time.perf_counter()
    scanned = [d for d in tenant.devices.values() if d.owner_id == user.id]
    scan = time.perf_counter() - t
    assert counted == len(scanned) == joins
    for d in scanned:  # leave the tenant as seeded
        del tenant.devices[d.id]
    return {"first_ms": first * 1000, "per_join_us": per_join * 1e6, "scan_ms": scan * 1000}


# -- parent: measurements -------------------------------------------------------------------

def rss_mb(pid: int) -> tuple[float, float]:
    cur = peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            cur = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cur, peak


def latency(base: str, token: str, path: str, n: int, proxy: str | None = None, bundle: str | None = None) -> dict:
    import requests

    s = requests.Session()
    s.trust_env = False
    headers = {"Authorization": f"Bearer {token}"}
    if proxy:
        s.proxies = {"https": proxy}
        url = "https://graph.microsoft.com" + path
    else:
        url = base + "/graph.microsoft.com" + path
    r = s.get(url, headers=headers, verify=bundle or True, timeout=60)  # warm-up (+ TLS handshake)
    if r.status_code != 200:
        raise SystemExit(f"Graph answered {r.status_code}: {r.text[:300]}")
    count = len(r.json().get("value", []))
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = s.get(url, headers=headers, verify=bundle or True, timeout=60)
        _ = r.content
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p95": times[int(len(times) * 0.95) - 1], "max": times[-1],
            "items": count}


def run_wrk(url: str, token: str, duration: int, connections: int, threads: int) -> dict:
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency",
                          "-H", f"Authorization: Bearer {token}", url], capture_output=True, text=True,
                         timeout=duration + 60)
    text = out.stdout
    rps = next((float(ln.split()[1]) for ln in text.splitlines() if ln.startswith("Requests/sec:")), 0.0)
    non2xx = next((ln.strip() for ln in text.splitlines() if "Non-2xx" in ln or "Socket errors" in ln), "")
    p50 = next((ln.split()[1] for ln in text.splitlines() if ln.strip().startswith("50%")), "?")
    p99 = next((ln.split()[1] for ln in text.splitlines() if ln.strip().startswith("99%")), "?")
    return {"tool": "wrk", "rps": rps, "p50": p50, "p99": p99, "errors": non2xx}


def _py_worker(args) -> tuple[int, int]:
    import http.client

    host, port, path, token, deadline = args
    conn = http.client.HTTPConnection(host, port, timeout=60)
    ok = bad = 0
    headers = {"Authorization": f"Bearer {token}"}
    while time.time() < deadline:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        r.read()
        if r.status == 200:
            ok += 1
        else:
            bad += 1
    conn.close()
    return ok, bad


def run_python(port: int, path: str, token: str, duration: int, connections: int) -> dict:
    from multiprocessing import Pool

    deadline = time.time() + duration
    t = time.time()
    with Pool(connections) as pool:
        res = pool.map(_py_worker, [("127.0.0.1", port, path, token, deadline)] * connections)
    elapsed = time.time() - t
    ok = sum(r[0] for r in res)
    bad = sum(r[1] for r in res)
    return {"tool": f"python ({connections} processes, http.client keep-alive)", "rps": ok / elapsed,
            "errors": f"{bad} non-200" if bad else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--state-dir", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.devices, a.state_dir)
        return
    state_dir = a.state_dir or tempfile.mkdtemp(prefix="entra-emu-bench-")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, __file__, "--child", "--devices", str(a.devices), "--state-dir", state_dir],
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        port, token = info["port"], info["token"]
        base = f"http://127.0.0.1:{port}"
        rss_idle, _ = rss_mb(proc.pid)
        lat = latency(base, token, FILTERED, a.samples)
        lat_proxy = latency(base, token, FILTERED, max(20, a.samples // 4), proxy=base, bundle=info["bundle"])
        tool = a.tool
        if tool == "auto":
            tool = "wrk" if shutil.which("wrk") else "python"
        load = {}
        for name, path in (("list $top=100", LIST), ("filtered page", FILTERED),
                           ("transport only (/_emu/health)", "/_emu/health")):
            url = f"{base}/graph.microsoft.com{path}" if path.startswith("/v1.0") else base + path
            load[name] = (run_wrk(url, token, a.duration, a.connections, a.threads) if tool == "wrk"
                          else run_python(port, url[len(base):], token, a.duration, a.connections))
        rss_now, rss_peak = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    print(f"entra-emu server benchmark: {a.devices:,} devices, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'measure':56} {'measured':>24} {'aim':>12}")
    print(f"{'seed time (model, in the server process)':56} {info['seed_seconds']:>23.2f}s {'-':>12}")
    print(f"{'filtered page latency p50 (base URL, HTTP)':56} {lat['p50']:>21.2f} ms {AIMS['latency_ms']:>9.0f} ms")
    print(f"{'filtered page latency p95 (base URL, HTTP)':56} {lat['p95']:>21.2f} ms")
    print(f"{'filtered page latency p50 (HTTPS proxy, TLS)':56} {lat_proxy['p50']:>21.2f} ms")
    for name, r in load.items():
        extra = f" [{r['errors']}]" if r.get("errors") else ""
        label = ("req/s Graph " if "transport" not in name else "req/s ") + name
        print(f"{label + ' (' + r['tool'].split(' ')[0] + ', ' + str(a.connections) + ' conns)':56} "
              f"{r['rps']:>22.0f}/s {AIMS['rps']:>10.0f}/s{extra}")
        if "p50" in r:
            print(f"{'  latency under load p50 / p99':56} {r['p50'] + ' / ' + r['p99']:>24}")
    print(f"{'server RSS after seeding':56} {rss_idle:>21.0f} MB {AIMS['rss_mb']:>9.0f} MB")
    print(f"{'server RSS after load (current / peak)':56} {f'{rss_now:.0f} / {rss_peak:.0f}':>21} MB")
    q = info["quota"]
    print(f"{'DRS join quota check: first (builds owner index)':56} {q['first_ms']:>21.2f} ms")
    print(f"{'DRS join quota check: each join after it':56} {q['per_join_us']:>21.1f} us")
    print(f"{'  (one scan of every device, as before the index)':56} {q['scan_ms']:>21.2f} ms")
    print(f"(filtered page returned {lat['items']} devices)")


if __name__ == "__main__":
    main()

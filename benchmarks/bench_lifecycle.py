"""Benchmark (not a test): full join lifecycles per second in-process, and `import emulator` time.

A lifecycle is what the guide walks through, from Settings to an Intune-enrolled device: Settings >
Accounts > Access work or school > Connect > Join this device > email > password > MFA approve >
Join (DRS join over a CSR, PRT, Intune enrollment) > Done. Each uses a new device and a new user in
one world. Two transports are measured: the direct dispatcher (no HTTP library) and `requests`
through `responses` (what a user's in-process test uses).

    python benchmarks/bench_lifecycle.py [--seconds 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def import_time(runs: int = 7) -> float:
    """Median wall time of `import emulator` in a fresh interpreter, minus the bare interpreter."""
    def run(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t

    base = statistics.median(run("pass") for _ in range(runs))
    full = statistics.median(run("import emulator") for _ in range(runs))
    return max(0.0, full - base)


def lifecycles(seconds: float, transport: str) -> tuple[int, float]:
    from emulator.device.windows import WindowsDevice
    from emulator.world.world import World

    world = World(seed="bench")
    tenant = world.create_tenant("Contoso", "contoso.com")
    if transport == "direct":
        from emulator.transport.direct import DirectSession

        session = DirectSession(world)
        ctx = None
    else:
        import requests

        from emulator.transport.inprocess import mock_entra

        ctx = mock_entra(world)
        ctx.start()
        session = requests.Session()
    done = 0
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            upn = f"user{done}@contoso.com"
            world.add_user(tenant, upn, password="Pw-12345", display_name=f"User {done}")
            device = WindowsDevice(session, clock=world.clock, seed=done, name=f"DESKTOP-B{done:06d}")
            device.open_settings()
            device.click("Accounts")
            device.click("Access work or school")
            device.click("Connect")
            device.click(device.labels["join_link"])
            device.type(upn)
            device.click("Next")
            device.type("Pw-12345")
            device.click("Sign in")
            if device.screen.name == "mfa":
                device.approve_mfa()
            device.click("Join")
            if device.screen.name != "all_set":
                raise SystemExit(f"lifecycle {done} failed on screen {device.screen.title!r}: {device.screen.lines}")
            device.click("Done")
            done += 1
    finally:
        if ctx is not None:
            ctx.stop()
    elapsed = time.perf_counter() - start
    enrolled = len(tenant.managed_devices)
    assert enrolled == done, (enrolled, done)
    return done, elapsed


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args()
    print(f"import emulator: {import_time() * 1000:.1f} ms (median, fresh interpreter, minus bare startup)")
    for transport in ("direct", "requests+responses"):
        n, secs = lifecycles(args.seconds, transport)
        print(f"lifecycles ({transport}): {n} in {secs:.2f} s = {n / secs:.0f}/s on one core "
              f"({secs / n * 1000:.2f} ms each), every device joined and Intune-enrolled")


if __name__ == "__main__":
    main()

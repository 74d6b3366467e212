"""Benchmark (not a test): full join lifecycles per second in-process, and import times (`import
emulator`, and `from emulator import World, mock_entra, WindowsDevice` with the names resolved).

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

#: What the import figures time, each in a fresh interpreter (measured inside it, so interpreter
#: start-up is not part of the figure): the bare package, and the public API resolved (the lazy
#: attributes accessed, which imports the world, the in-process transport and the device).
IMPORT_STATEMENTS = ("import emulator", "from emulator import World, mock_entra, WindowsDevice")


def import_time(statement: str = "import emulator", runs: int = 7) -> float:
    """Median seconds `statement` takes in a fresh interpreter (timed inside that interpreter)."""
    code = ("import time as _t\n_s = _t.perf_counter()\n" + statement +
            "\nprint(repr(_t.perf_counter() - _s))\n")

    def run() -> float:
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        return float(out.stdout.strip().splitlines()[-1])

    return statistics.median(run() for _ in range(runs))


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
    for statement in IMPORT_STATEMENTS:
        print(f"{statement}: {import_time(statement) * 1000:.1f} ms (median of 7, each in a fresh interpreter)")
    for transport in ("direct", "requests+responses"):
        n, secs = lifecycles(args.seconds, transport)
        print(f"lifecycles ({transport}): {n} in {secs:.2f} s = {n / secs:.0f}/s on one core "
              f"({secs / n * 1000:.2f} ms each), every device joined and Intune-enrolled")


if __name__ == "__main__":
    main()

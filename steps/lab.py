"""The lab a feature runs in: one emulated cloud, one tenant, its users, one simulated PC.

Steps share it through the `lab` fixture. It keeps what the last step showed (a command's output,
the screen) so that Then-steps can check it and explain a failure with what was really there.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import requests

from emulator.transport.inprocess import mock_entra
from emulator.world.world import World


class StepFailed(AssertionError):
    """A Then-step that does not hold; the message says what the emulator showed instead."""


@dataclass
class Lab:
    world: World
    mock: Any = None
    tenant: Any = None
    passwords: dict[str, str] = field(default_factory=dict)
    device: Any = None
    session: Any = None
    output: str = ""
    last_error: Exception | None = None
    scenario: Any = None
    device_settings: dict[str, Any] = field(default_factory=dict)

    # -- set-up ---------------------------------------------------------------------------------
    def start(self) -> Lab:
        self.mock = mock_entra(self.world)
        self.mock.start()
        return self

    def stop(self) -> None:
        if self.session is not None:
            self.session.close()
        if self.mock is not None:
            self.mock.stop()

    def ensure_tenant(self, name: str = "Contoso", domain: str = "contoso.com"):
        if self.tenant is None:
            self.tenant = self.world.create_tenant(name, domain)
        return self.tenant

    def add_user(self, upn: str, password: str = "P@ssw0rd!", **kw: Any):
        tenant = self.ensure_tenant(domain=upn.rsplit("@", 1)[-1])
        user = tenant.user_by_upn(upn)
        if user is None:
            user = self.world.add_user(tenant, upn, password=password,
                                       display_name=kw.pop("display_name", None) or _display_name(upn), **kw)
        else:
            user.password = password
            for k, v in kw.items():
                setattr(user, k, v)
        self.passwords[upn.lower()] = password
        return user

    def user(self, upn: str):
        u = self.tenant.user_by_upn(upn) if self.tenant else None
        if u is None:
            known = [x.user_principal_name for x in self.tenant.users.values()] if self.tenant else []
            raise StepFailed(f"No user {upn!r} in the tenant. Known users: {', '.join(known) or 'none'}.")
        return u

    def password_of(self, upn: str) -> str:
        return self.passwords.get(upn.lower()) or self.user(upn).password

    def ensure_device(self, **settings: Any):
        if self.device is None:
            from emulator.device.windows import WindowsDevice

            self.session = requests.Session()
            opts = dict(self.device_settings)
            opts.update(settings)
            self.device = WindowsDevice(self.session, clock=self.world.clock, seed=self.world.seed, **opts)
            apply_skew_hint(self.world, self.device)
        return self.device

    # -- checks ---------------------------------------------------------------------------------
    def expect_output_line(self, expected: str) -> None:
        """`AzureAdJoined : YES` matches the dsregcmd line whatever the padding."""
        want = _norm(expected)
        lines = [ln for ln in self.output.splitlines() if ln.strip()]
        if any(_norm(ln) == want for ln in lines):
            return
        label = want.split(" : ")[0] if " : " in want else None
        same_label = [ln.strip() for ln in lines if label and _norm(ln).split(" : ")[0] == label]
        if same_label:
            raise StepFailed(f"Expected {expected!r} but the output shows {same_label[0]!r}.")
        close = difflib.get_close_matches(want, [_norm(ln) for ln in lines], n=1, cutoff=0.5)
        hint = f" Closest line: {close[0]!r}." if close else ""
        raise StepFailed(f"The output has no line {expected!r}.{hint}")


def apply_skew_hint(world, device) -> None:
    """A clock skew set for this device's name through the server's control API
    (`POST /_emu/devices/skew`) applies to the simulated PC the harness builds."""
    hint = getattr(world, "device_skews", {}).get(device.name)
    if hint is not None:
        device.skew_seconds = float(hint)


def _norm(line: str) -> str:
    if ":" in line:
        label, _, value = line.partition(":")
        return f"{label.strip()} : {value.strip()}".strip()
    return line.strip()


def _display_name(upn: str) -> str:
    local = upn.split("@")[0]
    parts = [p for p in local.replace("_", ".").split(".") if p]
    return " ".join(p.capitalize() for p in parts) or local

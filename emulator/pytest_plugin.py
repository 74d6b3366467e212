"""pytest plugin (registered through the `pytest11` entry point `entra_emu`).

Fixtures, each fresh per test so suites run in parallel under pytest-xdist:

- `entra_world`: a new `World` (seed from `--entra-seed`, default 0).
- `entra_tenant`: a tenant "Contoso" (contoso.com) with Microsoft's default settings.
- `entra_user`: a licensed user of that tenant (password `P@ssw0rd!`, Authenticator registered).
- `entra_mock`: the in-process transport switched on for the test; yields the world.
- `windows_device`: a simulated Windows 11 device that talks to the emulator over `requests`.
"""
from __future__ import annotations

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("entra-emu")
    group.addoption("--entra-seed", default="0", help="seed of the emulated world (default 0)")


def pytest_configure(config):
    config.addinivalue_line("markers", "entra_emu: test uses the Entra join emulator")


@pytest.fixture
def entra_world(request):
    from emulator.world.world import World

    world = World(seed=request.config.getoption("--entra-seed"))
    world.raise_server_errors = True
    return world


@pytest.fixture
def entra_tenant(entra_world):
    return entra_world.create_tenant("Contoso", "contoso.com")


@pytest.fixture
def entra_user(entra_world, entra_tenant):
    return entra_world.add_user(entra_tenant, "adele.vance@contoso.com", display_name="Adele Vance")


@pytest.fixture
def entra_mock(entra_world):
    from emulator.transport.inprocess import mock_entra

    with mock_entra(entra_world) as world:
        yield world


@pytest.fixture
def windows_device(entra_mock):
    import requests

    from emulator.device.windows import WindowsDevice

    session = requests.Session()
    device = WindowsDevice(session, clock=entra_mock.clock, seed=entra_mock.seed)
    yield device
    session.close()

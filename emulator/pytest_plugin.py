"""pytest plugin (registered through the `pytest11` entry point `entra_emu`).

Fixtures, each fresh per test so suites run in parallel under pytest-xdist:

- `entra_world`: a new `World` (seed from `--entra-seed`, default 0).
- `entra_tenant`: a tenant "Contoso" (contoso.com) with Microsoft's default settings.
- `entra_user`: a licensed user of that tenant (password `P@ssw0rd!`, Authenticator registered).
- `entra_mock`: the in-process transport switched on for the test; yields the world.
- `windows_device`: a simulated Windows 11 device that talks to the emulator over `requests`.
- `entra_scenario`: a scenario file loaded into `entra_world`; name it with
  `@pytest.mark.entra_scenario("device-limit-reached")` (or parametrize `entra_scenario` indirectly).
  `windows_device` then takes the scenario's device settings (clock skew, network, release).

`--entra-transport=inprocess|server|both` chooses how `entra_mock` reaches the emulator: through
`responses` in this process (default), or through a real local server (HTTPS proxy with its own CA,
wired with `HTTPS_PROXY` and `REQUESTS_CA_BUNDLE` for the test), or each test in both modes, as
moto's own CI runs its suite twice.
"""
from __future__ import annotations

import pytest

# The readable report of a feature run for runbook writers: --entra-report=report.md (or .html).
pytest_plugins = ["emulator.runbook.pytest_report"]


def pytest_addoption(parser):
    group = parser.getgroup("entra-emu")
    group.addoption("--entra-seed", default="0", help="seed of the emulated world (default 0)")
    group.addoption("--entra-transport", default="inprocess", choices=["inprocess", "server", "both"],
                    help="how entra_mock reaches the emulator (default inprocess)")


def pytest_configure(config):
    config.addinivalue_line("markers", "entra_emu: test uses the Entra join emulator")
    config.addinivalue_line("markers", "entra_scenario(name): the scenario file the entra_scenario fixture loads")


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


def pytest_generate_tests(metafunc):
    if "entra_transport" in metafunc.fixturenames:
        mode = metafunc.config.getoption("--entra-transport")
        modes = ["inprocess", "server"] if mode == "both" else [mode]
        metafunc.parametrize("entra_transport", modes, indirect=True)


@pytest.fixture
def entra_transport(request):
    return getattr(request, "param", "inprocess")


@pytest.fixture(scope="session")
def _entra_server(tmp_path_factory):
    from emulator.transport.server import EmulatorServer

    server = EmulatorServer(port=0, state_dir=tmp_path_factory.mktemp("entra-emu-state"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def entra_mock(entra_world, entra_transport, request, monkeypatch):
    """The emulator switched on for `requests` (so MSAL, azure-identity, roadlib) in this test."""
    if entra_transport == "server":
        server = request.getfixturevalue("_entra_server")
        server.set_world(entra_world)
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        yield entra_world
        return
    from emulator.transport.inprocess import mock_entra

    with mock_entra(entra_world) as world:
        yield world


@pytest.fixture
def entra_scenario(request, entra_world):
    """The scenario named by the test's `entra_scenario` marker (or indirect parameter), loaded."""
    from emulator.scenarios import load_scenario

    name = getattr(request, "param", None)
    if name is None:
        marker = request.node.get_closest_marker("entra_scenario")
        if marker is None or not marker.args:
            raise pytest.UsageError('entra_scenario needs @pytest.mark.entra_scenario("<name>") '
                                    "or an indirect parameter")
        name = marker.args[0]
    return load_scenario(entra_world, name)


@pytest.fixture
def windows_device(request, entra_mock):
    import requests

    from emulator.device.windows import WindowsDevice

    opts = {}
    if "entra_scenario" in request.fixturenames:
        opts = request.getfixturevalue("entra_scenario").device.device_kwargs()
    session = requests.Session()
    device = WindowsDevice(session, clock=entra_mock.clock, seed=entra_mock.seed, **opts)
    hint = entra_mock.device_skews.get(device.name)  # set through the control API, if any
    if hint is not None:
        device.skew_seconds = float(hint)
    yield device
    session.close()

"""Deterministic faults for testing a tool's error handling, in the services' own dialects."""
import datetime as dt

import msal
import pytest
import requests
from freezegun import freeze_time

from emulator.transport.inprocess import mock_entra
from emulator.world.world import World

GRAPH = "https://graph.microsoft.com/v1.0/devices"


def _app_token(world, tenant):
    app = world.add_application(tenant, "my tool", secret="s", app_roles=["Device.Read.All"])
    r = requests.post(f"https://login.microsoftonline.com/{tenant.id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app.app_id, "client_secret": "s",
        "scope": "https://graph.microsoft.com/.default"})
    return {"Authorization": "Bearer " + r.json()["access_token"]}


def my_tool_lists_devices(headers, calls):
    """A stand-in for a user's own inventory tool: it just records what each call answered."""
    return [requests.get(GRAPH, headers=headers).status_code for _ in range(calls)]


def test_fault_fires_exactly_on_the_configured_call(entra_world, entra_tenant, entra_mock):
    headers = _app_token(entra_world, entra_tenant)
    entra_world.faults.add(host="graph.microsoft.com", method="GET", path="/v1.0/devices", nth=3, status=503)
    assert my_tool_lists_devices(headers, 5) == [200, 200, 503, 200, 200]
    entra_world.faults.add(host="graph.microsoft.com", path="/v1.0/devices", nth=1, status=500)
    r = requests.get(GRAPH, headers=headers)
    body = r.json()["error"]
    assert r.status_code == 500 and body["code"] == "generalException"
    assert set(body["innerError"]) >= {"date", "request-id", "client-request-id"}


def test_graph_throttling_punishes_early_retries(entra_world, entra_tenant, entra_mock):
    entra_world.faults.add(host="graph.microsoft.com", path="/v1.0/devices", nth=2, throttle_seconds=10)
    with freeze_time("2026-03-01 10:00:00") as clock:
        headers = _app_token(entra_world, entra_tenant)
        assert requests.get(GRAPH, headers=headers).status_code == 200
        r = requests.get(GRAPH, headers=headers)
        assert r.status_code == 429 and r.headers["Retry-After"] == "10"
        assert r.json()["error"]["code"] == "TooManyRequests"
        clock.tick(dt.timedelta(seconds=5))          # retried too early: throttled again, wait restarts
        assert requests.get(GRAPH, headers=headers).status_code == 429
        clock.tick(dt.timedelta(seconds=9))
        assert requests.get(GRAPH, headers=headers).status_code == 429
        clock.tick(dt.timedelta(seconds=11))         # waited Retry-After: served
        assert requests.get(GRAPH, headers=headers).status_code == 200


def test_identity_fault_speaks_aadsts(entra_world, entra_tenant, entra_user, entra_mock):
    entra_world.faults.add(host="login.microsoftonline.com", method="POST", path="*/oauth2/v2.0/token",
                           nth=1, error="aadsts:50076", status=400)
    app = msal.PublicClientApplication("04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                                       authority="https://login.microsoftonline.com/contoso.com")
    first = app.acquire_token_by_username_password(entra_user.user_principal_name, "P@ssw0rd!", scopes=["User.Read"])
    assert first["error_codes"] == [50076]
    second = app.acquire_token_by_username_password(entra_user.user_principal_name, "P@ssw0rd!",
                                                    scopes=["User.Read", "Device.Read.All"])
    assert "access_token" in second


def test_seeded_probability_gives_the_same_run():
    def run(seed):
        world = World(seed=seed)
        tenant = world.create_tenant("Contoso", "contoso.com")
        with mock_entra(world):
            headers = _app_token(world, tenant)
            world.faults.add(host="graph.microsoft.com", path="/v1.0/devices", probability=0.3, status=503)
            return my_tool_lists_devices(headers, 40)

    a, b, c = run("s1"), run("s1"), run("s2")
    assert a == b
    assert 503 in a and 200 in a
    assert a != c


def test_latency_only_rule_delays_but_answers(entra_world, entra_tenant, entra_mock):
    slept = []
    entra_world.faults._sleep = slept.append
    headers = _app_token(entra_world, entra_tenant)
    entra_world.faults.add(host="graph.microsoft.com", path="/v1.0/devices", latency_ms=250)
    assert requests.get(GRAPH, headers=headers).status_code == 200
    assert slept == [0.25]


def test_drs_busy_makes_the_join_fail_with_server_busy(entra_world, entra_tenant, entra_user):
    from emulator.device.windows import WindowsDevice
    from emulator.transport.direct import DirectSession

    entra_world.faults.add(host="enterpriseregistration.windows.net", method="POST", path="/EnrollmentServer/device/",
                           status=503, times=1)
    device = WindowsDevice(DirectSession(entra_world), clock=entra_world.clock)
    screen = device.join(entra_user.user_principal_name, "P@ssw0rd!")
    assert "801c0025" in " ".join(screen.lines)
    assert not device.joined
    assert device.join(entra_user.user_principal_name, "P@ssw0rd!").name == "all_set"  # fired once only


def test_fault_log_records_what_fired(entra_world, entra_tenant, entra_mock):
    headers = _app_token(entra_world, entra_tenant)
    entra_world.faults.add(name="third", host="graph.microsoft.com", path="/v1.0/devices", nth=3, status=503)
    my_tool_lists_devices(headers, 4)
    assert entra_world.faults.log == [{"rule": "third", "call": 3, "path": "/v1.0/devices", "status": 503}]


@pytest.mark.parametrize("spec", ["graph:TooManyRequests", "drs:DirectoryError", "intune:DeviceCapReached"])
def test_dialect_errors_by_name(entra_world, spec):
    from emulator.http import Request
    from emulator.services.router import default_router

    host, path, method = {"graph": ("graph.microsoft.com", "/v1.0/devices", "GET"),
                          "drs": ("enterpriseregistration.windows.net", "/EnrollmentServer/device/", "POST"),
                          "intune": ("enrollment.manage.microsoft.com",
                                     "/EnrollmentServer/DeviceEnrollmentWebService.svc", "POST")}[spec.split(":")[0]]
    entra_world.faults.add(host=host, path=path, error=spec, status=429 if spec.startswith("graph") else 500)
    resp = default_router().dispatch(entra_world, Request(method, f"https://{host}{path}"))
    text = resp.text()
    assert spec.split(":")[1] in text

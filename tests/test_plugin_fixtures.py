"""The pytest plugin's fixtures as a user's own suite would use them."""
import pytest


@pytest.mark.entra_scenario("device-limit-reached")
def test_scenario_fixture_reproduces_the_symptom(entra_scenario, windows_device):
    actor = entra_scenario.actor
    screen = windows_device.join(actor.upn, actor.password)
    assert "801c0003" in " ".join(screen.lines)
    assert not windows_device.joined


@pytest.mark.parametrize("entra_scenario", ["mdm-scope-none", "happy-path"], indirect=True)
def test_scenario_fixture_parametrized(entra_scenario, windows_device):
    actor = entra_scenario.actor
    assert windows_device.join(actor.upn, actor.password, mfa=actor.mfa_choice).name == "all_set"
    assert windows_device.mdm_enrolled == entra_scenario.expect.enrolled


@pytest.mark.entra_scenario("clock-skew")
def test_scenario_device_settings_reach_the_device(entra_scenario, windows_device):
    assert windows_device.skew_seconds == entra_scenario.device.clock_skew != 0


def test_windows_device_fixture_joins(entra_user, windows_device, entra_tenant):
    assert windows_device.join(entra_user.user_principal_name, "P@ssw0rd!").name == "all_set"
    assert [d.display_name for d in entra_tenant.devices.values()] == [windows_device.name]


def test_skew_hint_from_the_control_api_reaches_the_device(entra_world, entra_tenant, request):
    from emulator.device.windows import WindowsDevice
    from emulator.transport.direct import DirectSession

    name = WindowsDevice(DirectSession(entra_world), clock=entra_world.clock, seed=entra_world.seed).name
    entra_world.device_skews[name] = 1200.0
    device = request.getfixturevalue("windows_device")
    assert device.name == name and device.skew_seconds == 1200.0

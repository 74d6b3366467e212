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

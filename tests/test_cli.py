"""The entra-emu command line: the join demo, scenario demos for trainers, the scenario list."""
import pytest
from click.testing import CliRunner

from emulator.cli import main
from emulator.scenarios import list_scenarios

SCENARIOS = [s.name for s in list_scenarios()]


def test_demo_plays_the_happy_path_and_ends_with_dsregcmd():
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.output
    for title in ("Access work or school", "Set up a work or school account", "Enter password",
                  "Approve sign in request", "Make sure this is your organization", "You're all set!"):
        assert title in out
    lines = out.splitlines()
    assert "             AzureAdJoined : YES" in lines
    assert "              DomainJoined : NO" in lines
    assert "For more information, please visit https://www.microsoft.com/aadjerrors" in lines
    assert "\x1b[" not in out  # not a terminal: plain text


def test_demo_is_deterministic_for_a_seed_and_a_frozen_clock():
    args = ["demo", "--seed", "7", "--at", "2026-03-09T10:00:00Z"]
    a = CliRunner().invoke(main, args).output
    b = CliRunner().invoke(main, args).output
    assert a == b
    assert "DeviceCertificateValidity : [ 2026-03-09 10:00:00.000 UTC -- 2036-03-09" in a
    other = CliRunner().invoke(main, ["demo", "--seed", "8", "--at", "2026-03-09T10:00:00Z"]).output
    assert other != a


def test_demo_rejects_a_bad_time():
    result = CliRunner().invoke(main, ["demo", "--at", "yesterday-ish"])
    assert result.exit_code == 2 and "not a time" in result.output


def test_color_when_asked():
    out = CliRunner().invoke(main, ["demo", "--fast", "--color"]).output
    assert "\x1b[" in out


def test_scenarios_lists_every_scenario_with_a_description():
    result = CliRunner().invoke(main, ["scenarios"])
    assert result.exit_code == 0
    rows = result.output.strip().splitlines()
    assert len(rows) == len(SCENARIOS) >= 20
    assert all(len(r.split(None, 1)) == 2 for r in rows)


@pytest.mark.parametrize("name", SCENARIOS)
def test_demo_every_scenario_symptom_and_fix_match(name):
    result = CliRunner().invoke(main, ["demo", name, "--fast"])
    assert result.exit_code == 0, result.output
    out = result.output
    for heading in ("What the user does", "What dsregcmd /status says", "What the admin sees", "Diagnosis",
                    "The fix", "After the fix"):
        assert heading in out, heading
    assert "Symptom: matches the scenario file." in out
    assert "After the fix: matches the scenario file." in out


def test_unknown_scenario_says_which_exist():
    result = CliRunner().invoke(main, ["demo", "device-limit"])
    assert result.exit_code == 2
    assert "device-limit-reached" in result.output


def test_every_scenario_has_a_failure_feature_with_symptom_and_fix():
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "features" / "failure-modes"
    for name in SCENARIOS:
        if name == "happy-path":
            continue
        text = (folder / f"{name}.feature").read_text()
        assert f'Given the scenario "{name}"' in text
        assert ": the symptom" in text and ": the fix repairs it" in text, name

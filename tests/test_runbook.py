"""The runbook checker: the project's runbook passes; broken copies fail exactly where they are broken."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from emulator.cli import main
from emulator.runbook.parser import parse, sentences
from emulator.runbook.runner import FAILED, NOT_UNDERSTOOD, Checker
from emulator.runbook.vocabulary import suggest

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "docs" / "runbook.md"
BROKEN = ROOT / "tests" / "runbooks"


def line_of(path: Path, needle: str) -> int:
    for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in ln:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def check(path: Path, **kw):
    return Checker(**kw).check_file(path)


def only_failure(report):
    failures = report.failures()
    assert len(failures) == 1, [(f.line, f.text, f.message) for f in failures]
    return failures[0]


# -- the project's runbook ---------------------------------------------------------------------------

def test_project_runbook_passes_the_checker():
    result = CliRunner().invoke(main, ["runbook", "check", str(RUNBOOK)])
    assert result.exit_code == 0, result.output
    assert "FAILED" not in result.output and "PASSED" in result.output


def test_project_runbook_checks_every_part_of_the_guide():
    report = check(RUNBOOK)
    steps = {r.step for r in report.results}
    # prerequisites, the join screens, restart and sign-in, dsregcmd, Intune, rollback
    assert {"valid_account", "may_join_check", "open_settings", "enter_actor_email", "password_and_mfa_actor",
            "dialog_says", "sign_in_actor", "run_dsregcmd", "expect_line", "listed_in_intune",
            "select_connected_account", "settings_path", "restart_pc", "answer"} <= steps
    repaired = {r.scenario for r in report.results if r.step == "symptom-then-fix" and r.status == "held"}
    assert repaired == {"join-permission-denied-none", "device-limit-reached", "ca-register-join-mfa", "mfa-denied",
                        "no-network", "clock-skew", "mdm-scope-none", "intune-license-missing"}


# -- broken copies fail at exactly those steps -----------------------------------------------------------

def test_wrong_expected_value():
    path = BROKEN / "wrong-expected-value.md"
    f = only_failure(check(path))
    assert f.line == line_of(path, "DomainJoined : YES")
    assert f.status == FAILED
    assert "Expected 'DomainJoined : YES' but the output shows 'DomainJoined : NO'" in f.message


def test_renamed_button():
    path = BROKEN / "renamed-button.md"
    f = only_failure(check(path))
    assert f.line == line_of(path, "Join this device to Azure Active Directory")
    assert "is not on the screen 'Set up a work or school account'" in f.message
    assert "Closest match: 'Join this device to Microsoft Entra ID'" in f.message
    assert "22H2/21H2 label" in f.message
    assert f.shown["screen"] == "Set up a work or school account"


def test_missing_step():
    path = BROKEN / "missing-step.md"
    f = only_failure(check(path))
    assert f.line == line_of(path, "In the window that opens")
    assert "On screen: 'Back', 'Connect'" in f.message
    assert "A step seems to be missing before this one: select 'Connect'" in f.message


def test_fix_that_does_not_repair_its_symptom():
    path = BROKEN / "fix-does-not-repair.md"
    f = only_failure(check(path))
    assert f.line == line_of(path, "Intune not enrolling")
    assert f.scenario == "mdm-scope-none" and f.step == "symptom-then-fix"
    assert "not enrolled in Intune" in f.message
    assert "Check that the user has a licence that includes Intune" in f.message
    assert "MDM user scope" in f.message           # what would repair it


@pytest.mark.parametrize("name", ["wrong-expected-value", "renamed-button", "missing-step", "fix-does-not-repair"])
def test_broken_copies_exit_1(name):
    result = CliRunner().invoke(main, ["runbook", "check", str(BROKEN / f"{name}.md")])
    assert result.exit_code == 1, result.output
    assert "[FAIL]" in result.output


# -- Windows releases ----------------------------------------------------------------------------------

def test_windows_21h2_labels():
    report = check(RUNBOOK, windows="21H2")
    f = only_failure(report)
    assert "Join this device to Microsoft Entra ID" in f.text
    assert "Windows 11 21H2 labels it 'Join this device to Azure Active Directory'" in f.message


# -- not understood, suggestions ------------------------------------------------------------------------

def test_unknown_step_gets_nearest_phrasings(tmp_path):
    rb = tmp_path / "rb.md"
    rb.write_text("# T\n\n## Step 1\n\n1. Open Settings.\n2. Navigate into the Accounts area.\n"
                  "3. Go to Accounts.\n", encoding="utf-8")
    report = check(rb)
    f = only_failure(report)
    assert f.status == NOT_UNDERSTOOD and f.line == 6
    assert "Go to Accounts" in f.suggestions


def test_suggest():
    assert "Click Connect" in suggest("Click the Conect button")
    assert "Run dsregcmd /status" in suggest("run dsregcmd")


def test_issue_without_scenario_is_not_understood(tmp_path):
    rb = tmp_path / "rb.md"
    rb.write_text("# T\n\n## Common issues and fixes\n\n### The screen flickers\n\n- Ensure internet access.\n",
                  encoding="utf-8")
    f = only_failure(check(rb))
    assert f.status == NOT_UNDERSTOOD and "scenarios:" in f.message


def test_scenario_directive(tmp_path):
    rb = tmp_path / "rb.md"
    rb.write_text("# T\n\n## Troubleshooting\n\n### Blocked at the door\n"
                  "<!-- scenarios: join-permission-denied-none -->\n\n"
                  "- Check Entra settings: device join restrictions.\n", encoding="utf-8")
    report = check(rb)
    assert report.ok
    assert [r.scenario for r in report.results if r.scenario] == ["join-permission-denied-none"]


@pytest.mark.parametrize("scenario, line, words", [
    ("wrong-password", "Give the password and answer", "Your account or password is incorrect"),
    ("unknown-user", "Give the password and answer", "This username may be incorrect"),
    ("mfa-denied", "Give the password and answer", "AADSTS500121"),
    ("device-limit-reached", "click **Join**", "801c0003"),
])
def test_procedure_in_a_failure_scenario_fails_where_the_pc_does(scenario, line, words):
    report = check(RUNBOOK, scenario=scenario)
    first = [r for r in report.failures() if r.section.startswith("Step")][0]
    assert first.line == line_of(RUNBOOK, line)
    assert words in first.message


def test_scenario_option_narrows_the_issue(tmp_path):
    text = RUNBOOK.read_text(encoding="utf-8")
    start = text.index("## Common issues and fixes")
    rb = tmp_path / "rb.md"
    rb.write_text("# T\n\n" + text[start:text.index("## Quick rollback")], encoding="utf-8")
    report = check(rb, scenario="drs-busy")
    f = only_failure(report)
    assert f.scenario == "drs-busy" and "801c0025" in f.message


# -- outputs -----------------------------------------------------------------------------------------------

def test_json_output_is_well_formed(tmp_path):
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["runbook", "check", str(BROKEN / "missing-step.md"), "--format", "json",
                                       "--output", str(out)])
    assert result.exit_code == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["ok"] is False and doc["summary"]["failed"] == 1
    failed = [s for s in doc["steps"] if s["status"] == "failed"]
    assert failed[0]["line"] == line_of(BROKEN / "missing-step.md", "In the window that opens")
    assert failed[0]["shown"]["screen"] == "Access work or school"


def test_junit_output_is_well_formed():
    result = CliRunner().invoke(main, ["runbook", "check", str(BROKEN / "wrong-expected-value.md"), "--format",
                                       "junit"])
    assert result.exit_code == 1
    root = ET.fromstring(result.output)
    assert root.tag == "testsuites" and root.get("failures") == "1"
    failures = root.findall(".//failure")
    assert len(failures) == 1 and failures[0].get("type") == "StepFailed"
    assert int(root.get("tests")) == len(root.findall(".//testcase"))


def test_same_seed_same_report():
    for fmt in ("text", "json", "junit"):
        a = CliRunner().invoke(main, ["runbook", "check", str(RUNBOOK), "--format", fmt, "--seed", "7"]).output
        b = CliRunner().invoke(main, ["runbook", "check", str(RUNBOOK), "--format", fmt, "--seed", "7"]).output
        assert a == b


@pytest.mark.parametrize("args", [["--scenario", "no-such-scenario"], ["--windows", "19H1"], ["--format", "pdf"]])
def test_usage_errors_exit_2(args):
    result = CliRunner().invoke(main, ["runbook", "check", str(RUNBOOK), *args])
    assert result.exit_code == 2


def test_missing_file_exits_2(tmp_path):
    assert CliRunner().invoke(main, ["runbook", "check", str(tmp_path / "none.md")]).exit_code == 2


# -- parser --------------------------------------------------------------------------------------------------

def test_parser_reads_fenced_commands_and_expected_lines():
    rb = parse("# T\n\n## Verify\n\nOpen PowerShell and run:\n\n```\ndsregcmd /status\n```\n\nLook for:\n\n"
               "```\nAzureAdJoined : YES\n```\n\n- Expected: `DomainJoined : NO`\n")
    sec = [s for s in rb.sections if s.title == "Verify"][0]
    texts = [s.text for s in sentences(sec)]
    assert texts == ["Run dsregcmd /status", "Look for AzureAdJoined : YES", 'Expected: "DomainJoined : NO"']


# -- the steps from Gherkin's side ------------------------------------------------------------------------

def test_given_the_scenario_step_loads_it_into_the_lab():
    from emulator.world.world import World
    from entra_emu_steps.lab import Lab, StepFailed
    from entra_emu_steps.vocabulary_steps import join_actor, mdm_scope_check, the_scenario

    lab = Lab(World(seed=0)).start()
    try:
        the_scenario(lab, name="mdm-scope-none")
        assert lab.tenant is lab.scenario.tenant
        join_actor(lab)
        assert lab.device.joined and not lab.device.mdm_enrolled
        with pytest.raises(StepFailed, match="not in the MDM user scope"):
            mdm_scope_check(lab)
    finally:
        lab.stop()


# -- the readable report of a feature run --------------------------------------------------------------------

FEATURE = '''Feature: Writers' check
  Scenario: Join and verify
    Given a Microsoft Entra tenant "Contoso" with the domain "contoso.com"
    And a licensed user "adele.vance@contoso.com" with the password "Blue-Harbor-42"
    And a Windows 11 PC that is not joined
    When I join this device to Microsoft Entra ID as "adele.vance@contoso.com"
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the output shows "DomainJoined : YES"

  Scenario: Unknown step
    Given a Microsoft Entra tenant "Contoso" with the domain "contoso.com"
    When I launch the Settings app
'''


@pytest.mark.parametrize("name", ["report.md", "report.html"])
def test_feature_run_report(tmp_path, name):
    import subprocess
    import sys

    (tmp_path / "writers.feature").write_text(FEATURE, encoding="utf-8")
    (tmp_path / "test_writers.py").write_text(
        "from pytest_bdd import scenarios\nfrom entra_emu_steps import *  # noqa\nscenarios('writers.feature')\n",
        encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "emulator.runbook.pytest_report",
                           f"--entra-report={tmp_path / name}", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Nearest known steps: " in proc.stdout            # in pytest's own output too
    text = (tmp_path / name).read_text(encoding="utf-8")
    assert "2 scenarios: 0 held, 2 failed." in text
    assert "held: Then the output shows &quot;AzureAdJoined : YES&quot;" in text if name.endswith(".html") else \
        'held: Then the output shows "AzureAdJoined : YES"' in text
    assert "Expected 'DomainJoined : YES' but the output shows 'DomainJoined : NO'." in text.replace("&#x27;", "'")
    assert "NOT UNDERSTOOD" in text and "Open Settings" in text


def test_numbered_issues_without_headings(tmp_path):
    rb = tmp_path / "rb.md"
    rb.write_text('# T\n\n## Common issues and fixes\n\n1) "You cannot join this device"\n'
                  "- Check Entra settings: device join restrictions and max devices per user.\n\n"
                  "2) Intune not enrolling\n- Confirm user is licensed for Intune/EMS.\n", encoding="utf-8")
    report = check(rb)
    rows = {(r.line, r.scenario): r.status for r in report.results if r.scenario}
    assert rows == {(5, "join-permission-denied-none"): "held", (5, "device-limit-reached"): "held",
                    (8, "mdm-scope-none"): "failed", (8, "intune-license-missing"): "held"}


@pytest.mark.parametrize("text", [
    "Open Settings", "Go to Accounts", "Select Access work or school", "Click Connect", "Run dsregcmd /status",
    "Look for AzureAdJoined : YES", "Choose Other user", "Disconnect", "Restart the PC",
    "Complete password and MFA prompts", "Enter the Entra user email", "Sign in with the Entra user",
    "Check MDM user scope in Entra", "Confirm user is licensed for Intune/EMS",
    "Test sign-in on portal.office.com", "In the dialog, select Join this device to Microsoft Entra ID",
    "Restart the device if prompted", "Choose Other user (if needed)", "Select the connected Entra account",
    "Go to Settings -> Accounts -> Access work or school", "Device appears in Intune admin center",
    "Run dsregcmd /status again after reboot", "Disconnect and repeat join process if needed",
    'Given the scenario "mdm-scope-none"', "Given the scenario `clock-skew`", "Given the PC runs Windows 11 21H2",
])
def test_guide_phrasings_are_understood(text):
    from emulator.runbook.mapper import map_step

    assert map_step(text) is not None, suggest(text)

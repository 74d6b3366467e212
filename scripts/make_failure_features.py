"""Write features/failure-modes/<scenario>.feature for every scenario file: the symptom and, when the
scenario has a fix, the repaired state. Re-run after adding or changing a scenario:

    python scripts/make_failure_features.py
"""
from __future__ import annotations

from pathlib import Path

from emulator.scenarios import find_scenario, list_scenarios
from emulator.scenarios.loader import read_scenario
from emulator.scenarios.schema import normalize_hex

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "features" / "failure-modes"
ACRONYMS = {"ca": "CA", "mfa": "MFA", "drs": "DRS", "mdm": "MDM"}


def _checks(expect: dict, fix: bool) -> list[str]:
    lines: list[str] = []
    code = expect.get("settings_error_code")
    if code is not None and not fix:
        lines.append(f'Then Settings shows the error code "{normalize_hex(code)}"')
    aadsts = expect.get("aadsts")
    if aadsts and not code and not expect.get("joined") and not fix:
        n = str(aadsts).upper().removeprefix("AADSTS")
        lines.append(f"Then the sign-in page shows AADSTS{n}")
    tail = ['When the user restarts the PC and signs in with the Entra account', 'And I run "dsregcmd /status"']
    lines += tail
    first = True
    for d in expect.get("dsregcmd") or []:
        lines.append(f'{"Then" if first else "And"} the output shows "{d}"')
        first = False
    lines.append(f'{"Then" if first else "And"} the device is {"" if expect.get("joined") else "not "}joined')
    if expect.get("enrolled") is not None:
        lines.append(f'And the device is {"" if expect["enrolled"] else "not "}enrolled in Intune')
    err = (expect.get("sign_in_log") or {}).get("error_code")
    if err:
        lines.append(f"And the admin sees error {err} in the sign-in log")
    portal = expect.get("office_portal")
    if portal == "ok":
        lines.append("And portal.office.com sign-in succeeds")
    elif portal is not None:
        n = portal["aadsts"] if isinstance(portal, dict) else portal
        lines.append(f"And portal.office.com sign-in fails with AADSTS{str(n).upper().removeprefix('AADSTS')}")
    return lines


def render(name: str) -> str:
    doc, _ = read_scenario(find_scenario(name))
    words = [ACRONYMS.get(w, w) for w in name.split("-")]
    title = " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])
    out = [f"@failure-mode @scenario-{name}",
           f"Feature: {title}",
           f"  {doc['description']}",
           f"  Guide section: {doc.get('guide_section', '')}",
           "",
           f"  Scenario: {title}: the symptom",
           f'    Given the scenario "{name}"',
           "    When the user tries to join the PC as the scenario describes"]
    out += [f"    {ln}" for ln in _checks(doc["expect"], fix=False)]
    if doc.get("fix"):
        after = _checks(doc["expect_after_fix"], fix=True)
        out += ["",
                f"  Scenario: {title}: the fix repairs it",
                f'    Given the scenario "{name}"',
                "    When the user tries to join the PC as the scenario describes",
                "    And the admin applies the scenario's fix",
                "    And the user disconnects if needed and joins again"]
        # "joins again" has restarted and signed in already: keep only dsregcmd and the checks
        out += [f"    {ln}" for ln in after[1:]]
    return "\n".join(out) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in list_scenarios() if s.name != "happy-path"]
    for name in names:
        (OUT / f"{name}.feature").write_text(render(name))
    print(f"wrote {len(names)} features to {OUT}")


if __name__ == "__main__":
    main()

"""A readable report of a Gherkin feature run, for writers who do not read pytest output.

    pytest -p emulator.runbook.pytest_report --entra-report=report.md      (or report.html)

Per feature and scenario: each step with held / FAILED / not run, and for the failing step the
reason the step library gave (what the emulator showed). Works under pytest-xdist: the scenario
record travels in the test report's user_properties. pytest-bdd's own `--cucumberjson=PATH`
gives the machine-readable form of the same run.
"""
from __future__ import annotations

import html
import re

import pytest

PROPERTY = "entra_emu_bdd_scenario"
HINT = "entra_emu_nearest_steps"


def nearest_steps_hint(message: str) -> str:
    """For pytest-bdd's "Step definition is not found: When "..."": the nearest known phrasings."""
    m = re.search(r'Step definition is not found: (?:\w+) "(.+?)"', message)
    if not m:
        return ""
    from .vocabulary import suggest

    return "Nearest known steps: " + " | ".join(suggest(m.group(1)))


def pytest_addoption(parser):
    group = parser.getgroup("entra-emu")
    group.addoption("--entra-report", metavar="PATH", default=None,
                    help="write a readable report of the feature run (Markdown; HTML when PATH ends in .html)")


def pytest_configure(config):
    path = config.getoption("--entra-report", default=None)
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(FeatureReport(path), "entra-emu-feature-report")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    try:
        from pytest_bdd.reporting import scenario_reports_registry
    except ImportError:  # pragma: no cover
        return
    if call.excinfo is not None and call.excinfo.typename == "StepDefinitionNotFoundError":
        hint = nearest_steps_hint(str(call.excinfo.value))
        if hint:
            rep.sections.append(("entra-emu: nearest known steps", hint))
            rep.user_properties.append((HINT, hint))
    scenario = scenario_reports_registry.get(item)
    if scenario is not None and (rep.when == "call" or rep.failed):
        rep.user_properties.append((PROPERTY, scenario.serialize()))


def _reason(report) -> str:
    text = getattr(report, "longreprtext", "") or ""
    errors = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
    if errors:
        msg = " ".join(errors)
    else:
        msg = text.strip().splitlines()[-1] if text.strip() else "failed"
    return re.sub(r"^(?:steps\.lab\.)?StepFailed: ", "", msg)


class FeatureReport:
    def __init__(self, path: str):
        self.path = path
        self.runs: list[dict] = []

    def pytest_runtest_logreport(self, report):
        scen = next((v for k, v in getattr(report, "user_properties", []) if k == PROPERTY), None)
        if scen is None:
            return
        if report.when == "call" or (report.failed and not any(r["nodeid"] == report.nodeid for r in self.runs)):
            self.runs = [r for r in self.runs if r["nodeid"] != report.nodeid]
            hint = next((v for k, v in getattr(report, "user_properties", []) if k == HINT), "")
            reason = "" if report.passed else _reason(report) + (f" {hint}" if hint else "")
            self.runs.append({"nodeid": report.nodeid, "scenario": scen, "passed": report.passed, "reason": reason})

    def pytest_sessionfinish(self, session):
        text = render_markdown(self.runs)
        if self.path.lower().endswith((".html", ".htm")):
            text = markdown_to_html(text)
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(text)

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_sep("-", f"entra-emu feature report: {self.path}")


def render_markdown(runs: list[dict]) -> str:
    runs = sorted(runs, key=lambda r: (r["scenario"]["feature"]["rel_filename"], r["scenario"]["line_number"]))
    passed = sum(r["passed"] for r in runs)
    out = ["# Feature run report", "",
           f"{len(runs)} scenarios: {passed} held, {len(runs) - passed} failed.", ""]
    feature = None
    for r in runs:
        s = r["scenario"]
        f = s["feature"]
        if f["rel_filename"] != feature:
            feature = f["rel_filename"]
            out += [f"## Feature: {f['name']}", "", f"`{feature}`", ""]
        out += [f"### {'HELD' if r['passed'] else 'FAILED'}: {s['name']} (line {s['line_number']})", ""]
        failed_seen = False
        for st in s["steps"]:
            if st["failed"] and not failed_seen:
                failed_seen = True
                out.append(f"- **FAILED** {st['keyword']} {st['name']}")
                out.append(f"  - Why: {r['reason']}")
            elif st["failed"]:
                out.append(f"- not run: {st['keyword']} {st['name']}")
            else:
                out.append(f"- held: {st['keyword']} {st['name']}")
        unknown = re.search(r'Step definition is not found: (\w+) "(.+?)"', r["reason"])
        if not r["passed"] and not failed_seen and unknown:
            out.append(f"- **NOT UNDERSTOOD** {unknown.group(1)} {unknown.group(2)}")
            hint = r["reason"].split("Nearest known steps: ", 1)
            if len(hint) == 2:
                out.append(f"  - Nearest known steps: {hint[1]}")
        elif not r["passed"] and not failed_seen:
            out.append(f"- **FAILED** before the steps ran: {r['reason']}")
        out.append("")
    return "\n".join(out)


def markdown_to_html(md: str) -> str:
    """Just enough Markdown for the report above."""
    body = []
    in_list = False
    for ln in md.splitlines():
        if ln.startswith("- ") or ln.startswith("  - "):
            if not in_list:
                body.append("<ul>")
                in_list = True
            item = html.escape(ln.strip()[2:])
            item = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", item)
            body.append(f"<li{' class=sub' if ln.startswith('  ') else ''}>{item}</li>")
            continue
        if in_list:
            body.append("</ul>")
            in_list = False
        m = re.match(r"^(#+) (.*)", ln)
        if m:
            n = len(m.group(1))
            body.append(f"<h{n}>{html.escape(m.group(2))}</h{n}>")
        elif ln.strip():
            para = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(ln))
            body.append(f"<p>{para}</p>")
    if in_list:
        body.append("</ul>")
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Feature run report</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}li.sub{margin-left:2em}</style>"
            "</head><body>\n" + "\n".join(body) + "\n</body></html>\n")

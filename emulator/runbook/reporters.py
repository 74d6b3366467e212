"""Reports of a runbook check: readable text for people, JSON and JUnit XML for pipelines."""
from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

from .runner import FAILED, HELD, NOT_UNDERSTOOD, NOTE, Report

MARK = {HELD: "ok  ", FAILED: "FAIL", NOT_UNDERSTOOD: "??  ", NOTE: "note"}


def render_text(report: Report) -> str:
    c = report.counts
    out = [f"Runbook check: {report.runbook}",
           f"Scenario: {report.scenario}   Windows 11 {report.windows}   seed {report.seed}", ""]
    if report.error:
        out += [f"ERROR: {report.error}", ""]
    section = None
    for r in report.results:
        if r.section != section:
            section = r.section
            out += ["", f"## {section}"]
        opt = " (optional)" if r.optional and r.status in (FAILED, NOT_UNDERSTOOD) else ""
        out.append(f"  [{MARK.get(r.status, r.status)}] line {r.line}: {r.text}{opt}")
        if r.status in (FAILED, NOT_UNDERSTOOD) or (r.step == "symptom-then-fix" and r.message):
            for para in [r.message]:
                out += textwrap.wrap(para, 100, initial_indent="         ", subsequent_indent="         ")
        if r.suggestions:
            out.append("         Nearest known steps: " + " | ".join(r.suggestions))
        if r.status == FAILED and r.shown and r.shown.get("screen") and r.kind == "when" \
                and "On screen:" not in r.message:
            out.append(f"         The PC shows: {r.shown['screen']!r} with "
                       + (", ".join(repr(e) for e in r.shown.get("elements", [])) or "nothing to click"))
    out += ["", f"{c[HELD]} held, {c[FAILED]} failed, {c[NOT_UNDERSTOOD]} not understood, {c[NOTE]} notes: "
                + ("PASSED" if report.ok else "FAILED")]
    return "\n".join(out) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


def render_junit(report: Report) -> str:
    """One <testsuite> per runbook section, one <testcase> per step. Not understood steps are
    failures of type NotUnderstood; notes are skipped test cases."""
    suites = ET.Element("testsuites", name=f"runbook {report.runbook}")
    by_section: dict[str, list] = {}
    for r in report.results:
        by_section.setdefault(r.section, []).append(r)
    total = fails = 0
    for section, results in by_section.items():
        failures = sum(1 for r in results if r.counts_as_failure)
        skipped = sum(1 for r in results if r.status == NOTE)
        suite = ET.SubElement(suites, "testsuite", name=section, tests=str(len(results)), failures=str(failures),
                              errors="0", skipped=str(skipped), time="0")
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"runbook.{report.runbook.replace('.', '_')}",
                                 name=f"line {r.line}: {r.text}", time="0")
            if r.status == NOTE:
                ET.SubElement(case, "skipped", message=r.message or "note")
            elif r.counts_as_failure:
                kind = "NotUnderstood" if r.status == NOT_UNDERSTOOD else "StepFailed"
                detail = r.message
                if r.suggestions:
                    detail += "\nNearest known steps: " + " | ".join(r.suggestions)
                if r.shown:
                    detail += "\nThe emulator showed: " + json.dumps(r.shown)
                el = ET.SubElement(case, "failure", message=r.message or r.status, type=kind)
                el.text = detail
            elif r.message:
                ET.SubElement(case, "system-out").text = r.message
        total += len(results)
        fails += failures
    suites.set("tests", str(total))
    suites.set("failures", str(fails))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


RENDERERS = {"text": render_text, "json": render_json, "junit": render_junit}

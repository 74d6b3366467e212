"""Run a parsed runbook against the emulator and build the report.

Procedure sections (everything but prose and troubleshooting) run in order in one fresh Lab
(steps/lab.py) loaded with the scenario (default happy-path): each sentence is mapped to a
registered step and the step function is called with the lab and the regex groups.
Troubleshooting sections ("issue, then fixes") are checked as symptom-then-fix, each scenario in a
fresh Lab of its own: the join is played and must show the scenario's symptom, the listed fixes
are mapped to the scenario's fix actions and applied, the PC joins again (after a Disconnect when
it was joined) and must reach the repaired state.

Deterministic: the same runbook, options and seed give the same report (the cloud clock starts at
a fixed instant; ids come from the world's seeded generator; no durations are reported).
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import parser
from .labsetup import DEFAULT_SCENARIO, use_scenario
from .mapper import is_note, map_fix, map_step
from .vocabulary import HEADING_SCENARIOS, suggest

HELD, FAILED, NOT_UNDERSTOOD, NOTE = "held", "failed", "not understood", "note"

#: The cloud clock of every run starts here (reports must not depend on the day they are made).
FIXED_START = _dt.datetime(2026, 3, 2, 9, 0, tzinfo=_dt.timezone.utc)

PROSE = re.compile(r"\b(introduction|overview|conclusion|summary|about this|background|see also|references?|"
                   r"notes?|glossary)\b", re.I)
TROUBLE = re.compile(r"common issues|troubleshoot|known issues|issues and fixes|problems and fixes|"
                     r"if something goes wrong|common problems", re.I)
#: A paragraph sentence is a step only if it reads like an instruction or a check.
IMPERATIVE = re.compile(r"^(?:open|go|select|click|choose|press|tap|enter|type|complete|approve|sign|restart|"
                        r"reboot|run|look|check|confirm|verify|ensure|make sure|disconnect|join|test|expect|"
                        r"settings\s*(?:->|>)|you should see|the output|the device|the pc|device appears)\b", re.I)

#: Click targets and the element that must be clicked first to show them (keys of the label table).
HOPS = {"join_link": "connect", "connect": "awos", "awos": "accounts", "accounts": "settings",
        "disconnect": "__account__", "info": "__account__", "__account__": "awos", "done": "join"}

#: Fix parameters used when the scenario's own fix has no step of that action.
def _default_fix(action: str, upn: str) -> dict[str, Any] | None:
    return {
        "set_join_policy": {"value": "all"},
        "set_quota": {"value": 50},
        "delete_stale_devices": {"user": upn},
        "set_network": {"value": "online"},
        "set_clock_skew": {"value": 0},
        "set_mdm_scope": {"value": "all"},
        "add_to_mdm_scope": {"user": upn},
        "assign_license": {"user": upn, "sku": "INTUNE_A"},
        "register_mfa_method": {"user": upn, "method": "microsoftAuthenticator"},
        "set_mfa_response": {"value": "approve"},
        "enable_user": {"user": upn},
        "clear_faults": {},
        "raise_enrollment_limit": {"value": 15},
        "unblock_platform": {"platform": "windows"},
    }.get(action)


@dataclass
class Result:
    section: str
    line: int
    text: str
    status: str
    message: str = ""
    step: str | None = None
    suggestions: list[str] = field(default_factory=list)
    shown: dict[str, Any] | None = None
    optional: bool = False
    scenario: str | None = None
    kind: str | None = None

    @property
    def counts_as_failure(self) -> bool:
        return self.status in (FAILED, NOT_UNDERSTOOD) and not self.optional

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: v for k, v in d.items() if v not in (None, [], "") or k in ("status", "text", "line")}


@dataclass
class Report:
    runbook: str
    scenario: str
    windows: str
    seed: str
    results: list[Result]
    error: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        out = {HELD: 0, FAILED: 0, NOT_UNDERSTOOD: 0, NOTE: 0}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        return self.error is None and not any(r.counts_as_failure for r in self.results)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def failures(self) -> list[Result]:
        return [r for r in self.results if r.counts_as_failure]

    def to_dict(self) -> dict[str, Any]:
        return {"runbook": self.runbook, "scenario": self.scenario, "windows": self.windows, "seed": self.seed,
                "ok": self.ok, "summary": self.counts, "error": self.error,
                "steps": [r.to_dict() for r in self.results]}


# ---------------------------------------------------------------------------------------------------

class Checker:
    def __init__(self, *, scenario: str | None = None, windows: str | None = None, seed: str = "0"):
        self.scenario = scenario
        self.windows = windows.upper() if windows else None
        self.seed = str(seed)

    # -- entry points ---------------------------------------------------------------------------
    def check_file(self, path: str | Path) -> Report:
        p = Path(path)
        return self.check_text(p.read_text(encoding="utf-8"), p.name)

    def check_text(self, text: str, name: str = "runbook.md") -> Report:
        rb = parser.parse(text)
        results: list[Result] = []
        procedure: list[parser.Section] = []
        trouble: list[parser.Section] = []
        for sec in rb.sections:
            if sec.directives.get("runbook", "").strip().lower() == "skip":
                continue
            if self._in_trouble(sec):
                trouble.append(sec)
            elif sec.level <= 1 and not sec.blocks:
                continue
            elif PROSE.search(sec.title) and not re.search(r"\bstep\b", sec.title, re.I):
                continue
            else:
                procedure.append(sec)
        results += self._run_procedure(procedure)
        for sec in trouble:
            results += self._run_trouble(sec)
        results.sort(key=lambda r: r.line)
        scenario = self.scenario or DEFAULT_SCENARIO
        return Report(name, scenario, self.windows or self._release_of(scenario), self.seed, results)

    @staticmethod
    def _in_trouble(sec: parser.Section) -> bool:
        s: parser.Section | None = sec
        while s is not None:
            if TROUBLE.search(s.title):
                return True
            s = s.parent
        return False

    @staticmethod
    def _release_of(name: str) -> str:
        try:
            from emulator.scenarios import read_scenario

            doc, _ = read_scenario(name)
            return (doc.get("device") or {}).get("release", "24H2")
        except Exception:  # pragma: no cover - reported elsewhere
            return "24H2"

    # -- labs -----------------------------------------------------------------------------------
    def _new_lab(self, scenario: str):
        from emulator.world.world import World
        from entra_emu_steps.lab import Lab

        world = World(seed=self.seed)
        world.clock.set(FIXED_START)
        lab = Lab(world).start()
        try:
            use_scenario(lab, scenario, release=self.windows)
        except Exception:
            lab.stop()
            raise
        return lab

    # -- procedure ------------------------------------------------------------------------------
    def _run_procedure(self, sections: list[parser.Section]) -> list[Result]:
        if not sections:
            return []
        lab = self._new_lab(self.scenario or DEFAULT_SCENARIO)
        out: list[Result] = []
        try:
            for sec in sections:
                for sent in parser.sentences(sec):
                    r = self._run_sentence(lab, sec, sent)
                    if r is not None:
                        out.append(r)
        finally:
            lab.stop()
        return out

    def _run_sentence(self, lab, sec: parser.Section, sent: parser.Sentence) -> Result | None:
        from emulator.device.screens import ElementNotFound
        from emulator.scenarios import ScenarioError
        from entra_emu_steps.lab import StepFailed

        if "__title__" in sent.alternatives:
            return None
        base = dict(section=sec.path, line=sent.line, text=sent.text, optional=sent.optional)
        mapped = map_step(sent.text, sent.alternatives)
        if mapped is None:
            note = is_note(sent.text)
            if note:
                return Result(**base, status=NOTE, message="A remark: nothing to check.")
            if not sent.list_item and not IMPERATIVE.match(sent.text):
                return None          # prose between the steps
            return Result(**base, status=NOT_UNDERSTOOD, message="No known step reads like this.",
                          suggestions=suggest(sent.text))
        base["step"] = mapped.name
        base["kind"] = mapped.step.kind
        device = lab.device
        before = (device.screen.name, device.screen.title) if device is not None else None
        try:
            mapped.step.func(lab, **mapped.args)
        except ElementNotFound as exc:
            shown = _shown(lab)
            return Result(**base, status=FAILED, message=self._not_on_screen(lab, exc), shown=shown)
        except (StepFailed, AssertionError, ScenarioError) as exc:
            shown = _shown(lab, dsregcmd=mapped.step.kind == "then")
            return Result(**base, status=FAILED, message=str(exc) + _pending_confirmation(lab), shown=shown)
        except Exception as exc:  # a device or service error: say what it was
            return Result(**base, status=FAILED, message=f"{type(exc).__name__}: {exc}", shown=_shown(lab))
        device = lab.device
        if mapped.step.kind == "when" and device is not None and device.screen.name in ("error", "signin_error") \
                and (device.screen.name, device.screen.title) != before:
            s = device.screen
            return Result(**base, status=FAILED, shown=_shown(lab),
                          message=f"The PC shows {s.title!r}: {' '.join(s.lines)}")
        return Result(**base, status=HELD)

    def _not_on_screen(self, lab, exc) -> str:
        """ElementNotFound's message (what is on screen, closest match), a hint when a step seems
        to be missing or the label belongs to another Windows release, and a repair so that the
        following steps are checked from the state the runbook meant."""
        from emulator.device import screens

        device = lab.device
        msg = str(exc)
        label = exc.label
        key = _label_key(label)
        L = device.labels
        if key and isinstance(L.get(key), str) and L[key] in device.screen.elements:
            msg = re.sub(r" Closest match: .*?\.$", f" Closest match: {L[key]!r}.", msg)
        if key and isinstance(L.get(key), str) and L[key].lower() != label.lower():
            others = [r for r, t in screens.LABELS.items() if isinstance(t.get(key), str)
                      and t[key].lower() == label.lower()]
            msg += (f" Windows 11 {device.release} labels it {L[key]!r}"
                    + (f" ({label!r} is the {'/'.join(others)} label)." if others else "."))
        path = _missing_hops(device, key) if key else None
        try:
            if path:
                msg += (" A step seems to be missing before this one: "
                        + ", then ".join(f"select {p!r}" for p in path) + f" shows {L.get(key, label)!r}.")
                for p in path:
                    device.click(p)
                device.click(L[key] if key in L else label)
            else:
                target = L[key] if key and key in L and L[key] in device.screen.elements else None
                if target is None:
                    near = difflib.get_close_matches(label.lower(), [e.lower() for e in device.screen.elements], n=1,
                                                     cutoff=0.6)
                    target = next((e for e in device.screen.elements if near and e.lower() == near[0]), None)
                if target is not None:
                    device.click(target)
                    msg += f" (The check went on as if the runbook said {target!r}.)"
        except Exception:  # pragma: no cover - the repair is best effort
            pass
        return msg

    # -- troubleshooting --------------------------------------------------------------------------
    def _issues(self, sec: parser.Section) -> list[tuple[str, int, list[parser.Sentence]]]:
        sents = parser.sentences(sec, trouble=True)
        if TROUBLE.search(sec.title) and any("__title__" in s.alternatives for s in sents):
            issues: dict[int, tuple[str, int, list[parser.Sentence]]] = {}
            for s in sents:
                if s.group is None:
                    continue
                if "__title__" in s.alternatives:
                    issues[s.group] = (s.text, s.line, [])
                elif s.group in issues:
                    issues[s.group][2].append(s)
            return list(issues.values())
        if TROUBLE.search(sec.title):       # the container's own introduction
            return []
        return [(sec.title, sec.line, sents)]

    def _scenarios_for(self, title: str, directives: dict[str, str]) -> list[str]:
        if directives.get("scenarios"):
            return [n.strip() for n in re.split(r"[,\s]+", directives["scenarios"]) if n.strip()]
        key = _issue_key(title)
        if key is None:
            return []
        if self.scenario:
            from emulator.scenarios import read_scenario

            try:
                doc, _ = read_scenario(self.scenario)
                if _issue_key(str(doc.get("guide_section", ""))) == key:
                    return [self.scenario]
            except Exception:
                pass
        return list(HEADING_SCENARIOS[key])

    def _run_trouble(self, sec: parser.Section) -> list[Result]:
        out: list[Result] = []
        for title, line, sents in self._issues(sec):
            names = self._scenarios_for(title, sec.directives)
            fixes: list[tuple[parser.Sentence, list]] = []
            for s in sents:
                base = dict(section=f"{sec.path}", line=s.line, text=s.text, optional=s.optional)
                phrases = map_fix(s.text)
                if phrases:
                    fixes.append((s, phrases))
                    acts = ", ".join(dict.fromkeys(a for p in phrases for a in p.actions))
                    out.append(Result(**base, status=HELD, step="fix", message=f"Understood as a fix ({acts})."))
                    continue
                note = is_note(s.text)
                if note:
                    out.append(Result(**base, status=NOTE, message="A remark: nothing to check."))
                    continue
                mapped = map_step(s.text, s.alternatives)
                if mapped is not None:
                    out.append(Result(**base, status=HELD, step=mapped.name,
                                      message="Understood (a diagnostic step; not needed to repair the symptom)."))
                    continue
                out.append(Result(**base, status=NOT_UNDERSTOOD, message="Neither a known fix nor a known step.",
                                  suggestions=suggest(s.text, troubleshooting=True)))
            if not names:
                out.append(Result(section=sec.path, line=line, text=title, status=NOT_UNDERSTOOD,
                                  message="No scenario matches this issue. Name them in the section with "
                                          "<!-- scenarios: name, name --> (see `entra-emu scenarios`).",
                                  suggestions=list(HEADING_SCENARIOS)))
                continue
            for name in names:
                out.append(self._symptom_then_fix(sec.path, title, line, name, fixes))
        return out

    def _symptom_then_fix(self, section: str, title: str, line: int, name: str, fixes) -> Result:
        from emulator.scenarios import ScenarioError, apply_fix

        base = dict(section=section, line=line, text=f"{title} [{name}]", scenario=name, step="symptom-then-fix")
        try:
            lab = self._new_lab(name)
        except ScenarioError as exc:
            return Result(**base, status=FAILED, message=str(exc))
        try:
            s = lab.scenario
            device = lab.ensure_device()
            _play_join(lab, s.actor.upn, s.actor.password, s.actor.mfa_response)
            problems = _differences(lab, s.expect)
            symptom = _describe(lab)
            if problems:
                return Result(**base, status=FAILED, shown=_shown(lab, dsregcmd=True),
                              message=f"The symptom of {name} did not show: {'; '.join(problems)}.")
            steps: list[dict[str, Any]] = []
            for _sent, phrases in fixes:
                for ph in phrases:
                    step = next((st for st in s.fix if st["action"] in ph.actions), None)
                    if step is None:
                        step = next(({"action": a, **_default_fix(a, s.actor.upn)} for a in ph.actions
                                     if _default_fix(a, s.actor.upn) is not None and _needed(lab, a)), None)
                    if step is not None and step not in steps:
                        steps.append(copy.deepcopy(step))
            if not steps:
                return Result(**base, status=FAILED, shown=_shown(lab, dsregcmd=True),
                              message=f"Symptom: {symptom}. None of the fixes listed under this issue ("
                                      + "; ".join(f"{x.text!r}" for x, _ in fixes)
                                      + f") changes anything for it, so joining again cannot repair it. What "
                                        f"repairs it: {s.fix_description}")
            applied_list: list[str] = []
            current = s
            for step in steps:
                try:
                    result = apply_fix(lab.world, dataclasses.replace(current, fix=[step]))
                except ScenarioError as exc:
                    applied_list.append(f"{step['action']} could not be applied ({exc.problem})")
                    continue
                applied_list += result.applied
                current = dataclasses.replace(current, actor=result.actor, device=result.device)
                if "clock_skew" in result.device_changes:
                    device.skew_seconds = result.device_changes["clock_skew"]
                if "network" in result.device_changes:
                    net = result.device_changes["network"]
                    device.network = list(net.get("blocked_hosts", [])) if isinstance(net, dict) else net
            actor = current.actor
            lab.passwords[actor.upn.lower()] = actor.password
            if device.joined:           # the guide's "Disconnect and repeat join process"
                device.disconnect()
                device.restart()
                device.sign_in(device.local_admin, device.local_accounts[device.local_admin].password)
            _play_join(lab, actor.upn, actor.password, actor.mfa_response)
            problems = _differences(lab, s.expect_after_fix)
            applied = "; ".join(applied_list) or "nothing changed"
            if problems:
                return Result(**base, status=FAILED, shown=_shown(lab, dsregcmd=True),
                              message=f"Symptom: {symptom}. Fixes applied: {applied}. After joining again it is not "
                                      f"repaired: {'; '.join(problems)}. What repairs it: {s.fix_description}")
            return Result(**base, status=HELD,
                          message=f"Symptom: {symptom}. Fixes applied: {applied}. After joining again: "
                                  f"{_describe(lab)}.")
        except Exception as exc:  # pragma: no cover - reported, never a traceback
            return Result(**base, status=FAILED, message=f"{type(exc).__name__}: {exc}", shown=_shown(lab))
        finally:
            lab.stop()


# -- helpers -------------------------------------------------------------------------------------------

def _pending_confirmation(lab) -> str:
    """The join dialog waiting on "Make sure this is your organization": the runbook skipped the
    Join button. Say so, and press it so that the next steps are checked from the joined state."""
    device = lab.device
    if device is None or device.screen.name != "confirm_org":
        return ""
    join = device.labels["join"]
    try:
        device.click(join)
    except Exception:  # pragma: no cover - best effort
        return ""
    return (f" A step seems to be missing before this one: select {join!r} on "
            f"{device.labels['confirm_title']!r}. (The check went on as if the runbook said so.)")


def _label_key(label: str) -> str | None:
    from emulator.device import screens

    for table in screens.LABELS.values():
        for k, v in table.items():
            if isinstance(v, str) and "{" not in v and v.lower() == label.lower():
                return k
    return None


def _hop_label(device, key: str) -> str | None:
    if key == "__account__":
        accounts = device.connected_accounts()
        return accounts[0]["caption"] if accounts else None
    v = device.labels.get(key)
    return v if isinstance(v, str) else None


def _missing_hops(device, key: str) -> list[str] | None:
    """The clicks (real labels) that would show `key`, starting from an element on the screen."""
    chain: list[str] = []
    k = key
    for _ in range(5):
        prev = HOPS.get(k)
        if prev is None:
            return None
        label = _hop_label(device, prev)
        if label is None:
            return None
        chain.insert(0, label)
        if label in device.screen.elements:
            return chain
        k = prev
    return None


def _needed(lab, action: str) -> bool:
    """Whether a default fix would change anything ("Confirm the user is licensed" changes nothing
    for a licensed user)."""
    from emulator.world import policy

    s = lab.scenario
    user = s.actor.user
    device = lab.device
    if action == "assign_license":
        return user is not None and not policy.has_intune_license(user)
    if action == "enable_user":
        return user is not None and not user.account_enabled
    if action == "set_network":
        return device is not None and device.network != "online"
    if action == "set_clock_skew":
        return device is not None and device.skew_seconds != 0
    if action in ("set_mdm_scope", "add_to_mdm_scope"):
        return user is not None and not policy.in_mdm_scope(s.tenant, user)
    if action in ("set_join_policy",):
        return user is not None and not policy.may_join(s.tenant, user)
    if action in ("set_quota", "delete_stale_devices"):
        return user is not None and policy.device_quota_reached(s.tenant, user)
    if action == "register_mfa_method":
        return user is not None and not user.mfa_methods
    return True


def _shown(lab, dsregcmd: bool = False) -> dict[str, Any] | None:
    device = lab.device
    if device is None:
        return None
    s = device.screen
    out: dict[str, Any] = {"screen": s.title, "lines": list(s.lines), "elements": list(s.elements)}
    if dsregcmd and lab.output:
        out["dsregcmd"] = _dsreg_lines(lab.output)
    return out


DSREG_KEYS = ("AzureAdJoined", "DomainJoined", "AzureAdPrt", "MdmUrl", "DeviceAuthStatus")


def _dsreg_lines(output: str) -> list[str]:
    from ..device.dsregcmd import parse_status  # (here: the device package is slow to import)

    return [f"{label} : {value}".rstrip() for label, value in parse_status(output).items() if label in DSREG_KEYS]


def _play_join(lab, upn: str, password: str, mfa: str) -> None:
    device = lab.ensure_device()
    device.join(upn, password, mfa=mfa)
    if device.joined:
        device.restart()
        device.sign_in(upn, password)
    lab.output = device.run("dsregcmd /status")


def _differences(lab, expect) -> list[str]:
    from entra_emu_steps.lab import StepFailed

    device = lab.device
    problems = []
    if device.joined != expect.joined:
        problems.append("the PC is joined" if device.joined else f"the join fails ({_describe(lab)})")
    if expect.enrolled is not None and device.joined and device.mdm_enrolled != expect.enrolled:
        problems.append("the PC is enrolled in Intune" if device.mdm_enrolled else "the PC is not enrolled in Intune")
    if expect.settings_error_code and not device.joined:
        text = " ".join([device.screen.title, *device.screen.lines]).lower()
        if expect.settings_error_code.lower() not in text:
            problems.append(f"Settings does not show {expect.settings_error_code}")
    for line in expect.dsregcmd:
        try:
            lab.expect_output_line(line)
        except StepFailed as exc:
            problems.append(f"dsregcmd: {exc}")
    return problems


def _describe(lab) -> str:
    device = lab.device
    if not device.joined:
        s = device.screen
        return f"Settings shows {s.title!r}: {' '.join(s.lines)}".strip().rstrip(".")
    mdm = "enrolled in Intune" if device.mdm_enrolled else "not enrolled in Intune"
    return f"joined ({', '.join(_dsreg_lines(lab.output))}), {mdm}"


def _issue_key(title: str) -> str | None:
    t = re.sub(r"^\s*\d+\s*[.)]\s*", "", title)
    t = t.replace('"', "").replace("'", "").strip().lower()
    keys = list(HEADING_SCENARIOS)
    for k in keys:
        if k.lower() in t or t in k.lower():
            return k
    near = difflib.get_close_matches(t, [k.lower() for k in keys], n=1, cutoff=0.6)
    return next((k for k in keys if near and k.lower() == near[0]), None)

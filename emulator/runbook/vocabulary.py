"""The step vocabulary as the runbook checker sees it: every phrasing registered in
`entra_emu_steps.registry.REGISTRY`, the troubleshooting fix phrasings (sentence -> scenario fix actions),
`suggest(text)` (nearest known phrasings) and `render_steps_markdown()` (docs/steps.md).

Regenerate docs/steps.md with:  entra-emu runbook steps > docs/steps.md
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

KEYWORDS = ("Given ", "When ", "Then ", "And ", "But ")

#: Guide troubleshooting headings -> the scenarios a runbook's section of that name is checked
#: against (symptom reproduced, fixes applied, join repeated). `--scenario` and a
#: `<!-- scenarios: a, b -->` comment in the section override it.
HEADING_SCENARIOS: dict[str, list[str]] = {
    "You cannot join this device": ["join-permission-denied-none", "device-limit-reached"],
    "MFA or sign-in loops": ["ca-register-join-mfa", "mfa-denied"],
    "AzureAdJoined : NO after setup": ["no-network", "clock-skew"],
    "Intune not enrolling": ["mdm-scope-none", "intune-license-missing"],
}


@dataclass(frozen=True)
class FixPhrase:
    """A troubleshooting sentence that names an admin (or user) fix; `actions` are scenario fix
    actions (emulator/scenarios/schema.py FIX_ACTIONS) in order of preference."""

    pattern: str
    actions: tuple[str, ...]
    example: str

    def search(self, text: str) -> bool:
        return re.search(self.pattern, text, re.I) is not None


FIX_PHRASES: list[FixPhrase] = [
    FixPhrase(r"join restrictions?|users may join devices|(?:permission|allowed) to join|who may join",
              ("set_join_policy", "add_to_group"), "Check Entra settings: device join restrictions"),
    FixPhrase(r"max(?:imum)?(?: number of)? devices per user|device (?:join )?limits?|stale devices|device quota",
              ("delete_stale_devices", "set_quota"), "Check the maximum number of devices per user"),
    FixPhrase(r"internet access|network connection|connect(?:ion)? to the internet|reach Microsoft|\bonline\b",
              ("set_network",), "Ensure internet access"),
    FixPhrase(r"(?:system|correct) (?:date|time)|date/time|date and time|clock",
              ("set_clock_skew",), "Ensure correct system time"),
    FixPhrase(r"MDM (?:user )?scope", ("set_mdm_scope", "add_to_mdm_scope"), "Check MDM user scope in Entra"),
    FixPhrase(r"licen[cs]ed for Intune|Intune(?:/EMS)? licen[cs]e|(?:assign|add) (?:an? )?(?:Intune )?licen[cs]e|"
              r"licen[cs]e that includes Intune",
              ("assign_license",), "Confirm user is licensed for Intune/EMS"),
    FixPhrase(r"conditional access", ("exclude_from_ca_policy", "disable_ca_policy", "remove_from_group"),
              "Confirm Conditional Access policies allow the device join flow"),
    FixPhrase(r"MFA (?:polic(?:y|ies)|methods?|registration|requirements?)|register (?:an )?MFA|MFA prompt",
              ("register_mfa_method", "set_mfa_response"), "Confirm MFA policies allow the device join flow"),
    FixPhrase(r"enrollment (?:restriction|limit)s?|platform restrictions?",
              ("raise_enrollment_limit", "unblock_platform"), "Check the Intune enrollment restrictions"),
    FixPhrase(r"(?:enable|unblock) the (?:user|account)|allow sign-in|account enabled",
              ("enable_user",), "Enable the user account"),
    FixPhrase(r"reset (?:the |their |the user's )?password", ("reset_password",), "Reset the user's password"),
    FixPhrase(r"service health|wait for the service|service to recover",
              ("clear_faults",), "Wait for the service to recover (check service health)"),
]

#: Troubleshooting sentences that state a likely cause or point at a log: understood, nothing to run.
NOTE_PHRASES: list[tuple[str, str]] = [
    (r"^(?:the )?user (?:may|might) not (?:have|be)\b", "User may not have permission to join devices"),
    (r"^(?:review|look at|read|see)\b.*\b(?:logs?|report)\b", "Review Enrollment failures in Intune logs"),
    (r"^(?:likely|possible|probable) causes?\b", "Likely cause: the user is not allowed to join devices"),
    (r"\bis normal\b|\bmay take\b|\btakes? a (?:little|few)\b", "If first login takes a little longer, that is normal"),
]


def registry():
    """The step registry with every step module imported."""
    import entra_emu_steps  # noqa: F401  (registers every phrasing)
    from entra_emu_steps.registry import REGISTRY

    return REGISTRY


def strip_keyword(example: str) -> str:
    for k in KEYWORDS:
        if example.startswith(k):
            return example[len(k):]
    return example


def known_phrasings(*, troubleshooting: bool = False) -> list[str]:
    out: list[str] = []
    for sd in registry():
        out.extend(strip_keyword(e) for e in sd.examples)
    if troubleshooting:
        out.extend(f.example for f in FIX_PHRASES)
    seen: set[str] = set()
    return [x for x in out if not (x.lower() in seen or seen.add(x.lower()))]


def suggest(text: str, n: int = 3, *, troubleshooting: bool = False) -> list[str]:
    """The known phrasings nearest to `text` (best first), from the registry's examples."""
    candidates = known_phrasings(troubleshooting=troubleshooting)
    want = text.strip().rstrip(".").lower()
    words = set(re.findall(r"[a-z0-9/]+", want))

    def score(c: str) -> float:
        cl = c.lower()
        ratio = difflib.SequenceMatcher(None, want, cl).ratio()
        cw = set(re.findall(r"[a-z0-9/]+", cl))
        overlap = len(words & cw) / max(len(words | cw), 1)
        return ratio + overlap

    ranked = sorted(candidates, key=lambda c: (-score(c), c))
    return ranked[:n]


def _code(text: str, table: bool = False) -> str:
    """A Markdown code span that survives backticks in the text (and pipes, in a table)."""
    if table:
        text = text.replace("|", "\\|")
    return "`` " + text + " ``" if "`" in text else "`" + text + "`"


def render_steps_markdown() -> str:
    """docs/steps.md: every step pattern with its examples, and the troubleshooting vocabulary."""
    lines = [
        "# Step vocabulary",
        "",
        "<!-- Generated from entra_emu_steps.registry.REGISTRY by emulator.runbook.vocabulary.render_steps_markdown().",
        "     Do not edit by hand: run  entra-emu runbook steps > docs/steps.md  -->",
        "",
        "Every phrasing the Gherkin steps (`steps/`) and the runbook checker (`entra-emu runbook check`)",
        "understand. Patterns are regular expressions matched against the whole sentence; quoted values",
        "(`\"...\"`) are yours to choose. In a runbook, the keyword (Given/When/Then) is not needed,",
        "the first letter may be upper or lower case, and **bold** or `code` marks count as quotes.",
        "",
    ]
    titles = {"given": "Given: the tenant, the user and the PC", "when": "When: what the person at the PC does",
              "then": "Then: what the person, dsregcmd and the admin see"}
    reg = registry()
    for kind in ("given", "when", "then"):
        lines += [f"## {titles[kind]}", ""]
        for sd in [s for s in reg if s.kind == kind]:
            lines.append(f"- {_code(sd.pattern)}")
            for ex in sd.examples or ["(no example yet)"]:
                lines.append(f"  - {ex}")
            doc = (sd.func.__doc__ or "").strip().splitlines()
            if doc:
                lines.append(f"  - _{doc[0].strip()}_")
        lines.append("")
    lines += ["## Troubleshooting: fixes", "",
              "In a troubleshooting section (\"issue, then fixes\"), a sentence that matches one of these",
              "(anywhere, any case) applies the fix actions of the scenario being checked",
              "(`emulator/scenarios`, see docs/scenarios.md), in this order of preference.", "",
              "| pattern | fix actions | example |", "|---|---|---|"]
    for f in FIX_PHRASES:
        lines.append(f"| {_code(f.pattern, table=True)} | {', '.join(f.actions)} | {f.example} |")
    lines += ["", "Sentences that state a cause or point at a log are understood and not run:", ""]
    for pattern, example in NOTE_PHRASES:
        lines.append(f"- {_code(pattern)} (for example: {example})")
    lines += ["", "## Troubleshooting: which scenarios a section is checked against", "",
              "| section heading | scenarios |", "|---|---|"]
    for heading, names in HEADING_SCENARIOS.items():
        lines.append(f"| {heading} | {', '.join(names)} |")
    lines.append("")
    return "\n".join(lines)


def release_differences() -> dict[str, dict[str, tuple[str, str]]]:
    """Per Windows 11 release (emulator/device/screens.py LABELS), the text labels that differ
    from the newest release: key -> (this release's label, the newest release's label)."""
    from emulator.device.screens import LABELS

    releases = sorted(LABELS, reverse=True)
    newest = LABELS[releases[0]]
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for r in releases:
        out[r] = {k: (v, newest.get(k)) for k, v in LABELS[r].items()
                  if isinstance(v, str) and v != newest.get(k)}
    return out

"""Map a runbook sentence to a registered step (the same functions the Gherkin features use), or
to a troubleshooting fix / note."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from .vocabulary import FIX_PHRASES, NOTE_PHRASES, FixPhrase, registry


@dataclass
class Mapped:
    step: object                 # steps.registry.StepDef
    args: dict[str, str]
    text: str                    # the reading that matched

    @property
    def name(self) -> str:
        return self.step.func.__name__


@cache
def _icase(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.I)


def _readings(text: str, alternatives: list[str] | tuple[str, ...] = ()) -> list[str]:
    out = []
    from .vocabulary import strip_keyword

    for t in [text, *alternatives]:
        t = strip_keyword(t) if t else t
        if not t or t == "__title__":
            continue
        # **Bold** labels arrive quoted; phrasings without quotes get a reading without them
        for reading in (t, re.sub(r'"([^"]+)"', r"\1", t)):
            if reading not in out:
                out.append(reading)
    return out


def map_step(text: str, alternatives: list[str] | tuple[str, ...] = ()) -> Mapped | None:
    """The best registered step for the sentence: exact-case matches first, then any case; among
    several, the one whose parameters capture the least text (the most specific), then the last
    registered (later modules refine earlier phrasings: steps/vocabulary_steps.py refines the
    lead's steps)."""
    reg = registry()
    for reading in _readings(text, alternatives):
        for flags in (0, re.I):
            found = []
            for order, sd in enumerate(reg):
                m = (sd.regex if flags == 0 else _icase(sd.pattern)).fullmatch(reading.strip())
                if m:
                    args = {k: v for k, v in m.groupdict().items() if v is not None}
                    found.append((sum(len(v) for v in args.values()), order, sd, args))
            if found:
                found.sort(key=lambda f: (f[0], -f[1]))
                _, _, sd, args = found[0]
                return Mapped(sd, args, reading)
    return None


def map_fix(text: str) -> list[FixPhrase]:
    """Every fix phrasing the sentence names (a sentence may name several: "internet access and
    correct system time")."""
    return [f for f in FIX_PHRASES if f.search(text)]


def is_note(text: str) -> str | None:
    for pattern, example in NOTE_PHRASES:
        if re.search(pattern, text, re.I):
            return example
    return None

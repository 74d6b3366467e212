"""One registry of every step phrasing, shared by pytest-bdd and the runbook checker.

`@phrase("when", r"...regex...", examples=[...])` registers a step function with pytest-bdd (as a
fixture in the defining module, pytest-bdd's design) and records it here, so that the runbook
checker maps a runbook's sentences to the same functions and docs/steps.md lists them all.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pytest_bdd import parsers
from pytest_bdd.steps import step as _bdd_step


@dataclass
class StepDef:
    kind: str                     # given | when | then
    pattern: str
    func: Callable
    examples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.regex = re.compile(self.pattern)

    def match(self, text: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(text.strip())
        if m is None:
            return None
        return {k: v for k, v in m.groupdict().items() if v is not None}


REGISTRY: list[StepDef] = []


def phrase(kind: str, pattern: str, *, examples: list[str] | None = None):
    def deco(fn: Callable) -> Callable:
        REGISTRY.append(StepDef(kind, pattern, fn, list(examples or [])))
        return _bdd_step(parsers.re(pattern), type_=kind, stacklevel=2)(fn)

    return deco

"""docs/steps.md lists every step phrasing; it is generated from the step registry."""
from pathlib import Path

from emulator.runbook.vocabulary import registry, render_steps_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "steps.md"


def test_steps_doc_is_up_to_date():
    expected = render_steps_markdown()
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert actual == expected, (
        "docs/steps.md is out of date with the step registry. Regenerate it with:\n"
        "    entra-emu runbook steps > docs/steps.md")


def test_every_step_has_an_example_that_it_matches():
    import re

    from emulator.runbook.vocabulary import strip_keyword

    for sd in registry():
        assert sd.examples, f"step {sd.func.__name__} ({sd.pattern}) has no example"
        for ex in sd.examples:
            assert re.fullmatch(sd.pattern, strip_keyword(ex), re.I), \
                f"example {ex!r} does not match its own pattern {sd.pattern!r}"

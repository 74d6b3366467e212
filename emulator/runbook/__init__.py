"""Runbook validation for writers: read a Markdown runbook, map each step to the step vocabulary
(steps/), run it against a fresh emulator lab, and report per step: held, failed (with what the
emulator showed) or not understood (with the nearest known phrasings).

    entra-emu runbook check docs/runbook.md [--scenario NAME] [--windows 21H2] [--format json]
    entra-emu runbook steps > docs/steps.md

Modules: `parser` (Markdown -> sections and items), `vocabulary` (suggest, docs/steps.md),
`mapper` (sentence -> step or fix), `labsetup` (scenario -> Lab), `runner` (runs, builds the
report), `reporters` (text, json, junit), `cli`, `pytest_report` (Markdown report of a feature run).
"""

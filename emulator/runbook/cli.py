"""`entra-emu runbook`: check a Markdown runbook against the emulator; print the step vocabulary."""
from __future__ import annotations

import sys

import click


@click.group()
def runbook() -> None:
    """Check Markdown runbooks against the emulated Windows 11 PC and tenant."""


def _release_choice():
    from emulator.device.screens import LABELS

    return click.Choice(sorted(LABELS), case_sensitive=False)


@runbook.command()
@click.argument("runbook_file", metavar="RUNBOOK.md", type=click.Path(exists=True, dir_okay=False))
@click.option("--scenario", metavar="NAME", default=None,
              help="Scenario the procedure runs in (default happy-path); a troubleshooting section of its "
                   "issue is checked against it alone. `entra-emu scenarios` lists them.")
@click.option("--windows", "release", metavar="RELEASE", type=_release_choice(), default=None,
              help="Windows 11 release whose UI labels the PC shows (default: the scenario's, 24H2).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit"]), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report to this file instead of standard output.")
@click.option("--seed", default="0", show_default=True, help="Seed of the emulated world.")
def check(runbook_file: str, scenario: str | None, release: str | None, fmt: str, output: str | None,
          seed: str) -> None:
    """Run every step of RUNBOOK.md against the emulator and report per step: held, failed (why,
    with what the emulator showed) or not understood (nearest known steps). Exit status 0 when
    everything held, 1 otherwise, 2 for usage errors."""
    from emulator.scenarios import ScenarioError, find_scenario

    from .reporters import RENDERERS
    from .runner import Checker

    if scenario:
        try:
            find_scenario(scenario)
        except ScenarioError as exc:
            raise click.BadParameter(exc.problem, param_hint="--scenario") from None
    report = Checker(scenario=scenario, windows=release, seed=seed).check_file(runbook_file)
    text = RENDERERS[fmt](report)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"{report.runbook}: {'PASSED' if report.ok else 'FAILED'} "
                   f"({report.counts['held']} held, {report.counts['failed']} failed, "
                   f"{report.counts['not understood']} not understood); report in {output}", err=True)
    else:
        click.echo(text, nl=False)
    sys.exit(report.exit_code)


@runbook.command()
def steps() -> None:
    """Print docs/steps.md: every step phrasing with examples (entra-emu runbook steps > docs/steps.md)."""
    from .vocabulary import render_steps_markdown

    click.echo(render_steps_markdown(), nl=False)


@runbook.command()
def windows() -> None:
    """List the Windows 11 releases --windows accepts and the UI labels in which they differ."""
    from emulator.device import screens

    from .vocabulary import release_differences

    sources = getattr(screens, "LABEL_SOURCES", {})
    for release, diffs in release_differences().items():
        click.echo(f"{release}" + (f"  (source: {sources[release]})" if release in sources else ""))
        for key, (label, newest) in diffs.items():
            click.echo(f"  {key}: {label!r}   (newest release: {newest!r})")
        if not diffs:
            click.echo("  (the newest labels)")
    if not sources:
        click.echo("\nWhere each label set comes from: the comment above LABELS in emulator/device/screens.py.")

"""The `entra-emu` command line."""
from __future__ import annotations

import sys

import click

from . import __version__
from .narrator import Narrator


@click.group()
@click.version_option(__version__, prog_name="entra-emu")
def main() -> None:
    """Emulator of Windows 11 joining Microsoft Entra ID (with Intune enrollment)."""


@main.command()
@click.argument("scenario", required=False)
@click.option("--seed", default="0", show_default=True, help="Seed of the emulated world.")
@click.option("--color/--no-color", default=None, help="Force colour on or off (default: when a terminal).")
@click.option("--fast", is_flag=True, help="Skip the screens; print only the outcome and dsregcmd.")
@click.option("--at", "at", default=None, metavar="TIME",
              help="Freeze the cloud clock at this UTC time (e.g. 2026-03-09T10:00:00Z) so that the output "
                   "is the same on every run.")
def demo(scenario: str | None, seed: str, color: bool | None, fast: bool, at: str | None) -> None:
    """Play the join lifecycle (or a failure SCENARIO) and narrate it."""
    from .demo import run_demo

    if at:
        from freezegun import freeze_time

        try:
            frozen = freeze_time(at)
            frozen.start()
        except (ValueError, OverflowError) as exc:
            raise click.BadParameter(f"not a time: {at!r} ({exc})", param_hint="--at") from None
        try:
            code = run_demo(scenario, seed=seed, narrator=Narrator(color), show_screens=not fast)
        finally:
            frozen.stop()
    else:
        code = run_demo(scenario, seed=seed, narrator=Narrator(color), show_screens=not fast)
    sys.exit(code)


@main.command()
def scenarios() -> None:
    """List every scenario with a one-line description."""
    try:
        from .scenarios import list_scenarios
    except ImportError:  # pragma: no cover - during development
        click.echo("No scenarios are installed.")
        return
    infos = list_scenarios()
    width = max((len(i.name) for i in infos), default=10)
    for info in infos:
        click.echo(f"{info.name:<{width}}  {info.description}")


def _attach_optional_commands() -> None:
    try:
        from .cli_serve import serve
    except ImportError:  # pragma: no cover
        serve = None
    if serve is not None:
        main.add_command(serve, "serve")
    try:
        from .runbook.cli import runbook
    except ImportError:
        runbook = None
    if runbook is not None:
        main.add_command(runbook, "runbook")


_attach_optional_commands()


if __name__ == "__main__":  # pragma: no cover
    main()

"""The voice of the terminal demos: headings, screens, commands and their output.

Colour when the terminal has it, plain text when piped. Used by `entra-emu demo` (emulator/demo.py
and emulator/scenario_demo.py); it knows nothing of the world or the device beyond a screen's
title, lines and elements.
"""
from __future__ import annotations

import sys
import textwrap

import click


class Narrator:
    """Prints the story of a demo."""

    def __init__(self, color: bool | None = None, out=None):
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color

    def _s(self, text: str, **style) -> str:
        return click.style(text, **style) if self.color else text

    def heading(self, text: str) -> None:
        click.echo("", file=self.out, color=self.color)
        click.echo(self._s(f"== {text} ==", bold=True, fg="cyan"), file=self.out, color=self.color)

    def say(self, text: str, **style) -> None:
        click.echo(self._s(text, **style), file=self.out, color=self.color)

    def action(self, text: str) -> None:
        click.echo(self._s(f"> {text}", fg="yellow"), file=self.out, color=self.color)

    def screen(self, screen) -> None:
        width = 72
        lines = [screen.title or screen.name, *[ln for ln in screen.lines if ln]]
        buttons = "  ".join(f"[{e}]" for e in screen.elements)
        click.echo(self._s("  +" + "-" * (width - 4) + "+", dim=True), file=self.out, color=self.color)
        for i, ln in enumerate(lines):
            for chunk in _wrap(ln, width - 8):
                text = f"  | {chunk:<{width - 6}}|"
                click.echo(self._s(text, bold=(i == 0)), file=self.out, color=self.color)
        if buttons:
            for chunk in _wrap(buttons, width - 8):
                click.echo(f"  | {self._s(f'{chunk:<{width - 6}}', fg='green')}|", file=self.out, color=self.color)
        click.echo(self._s("  +" + "-" * (width - 4) + "+", dim=True), file=self.out, color=self.color)

    def block(self, text: str) -> None:
        for ln in text.splitlines():
            click.echo(ln, file=self.out, color=self.color)


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width) or [""]

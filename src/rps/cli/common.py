"""What every ``rps`` command shares: the consoles, reading the settings, parsing lists.

Commands import from here, never from ``rps.cli.main`` (which imports every command module
to register it), so the CLI has no import cycle.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from rps.settings import Settings, SettingsError, get_settings

# Messages and progress on stderr, results on stdout; wide enough for the tables when piped.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 160)


def settings_or_exit() -> Settings:
    """The settings, or the reason they are invalid and exit 2."""
    try:
        return get_settings()
    except SettingsError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def split_list(text: str | None) -> list[str]:
    """A comma-separated option as its non-empty, trimmed parts."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]

"""`rps import-legacy PATH/rps.db`: bring the original system's games into this platform (SPEC §13).

A thin wrapper over :mod:`rps.persistence.legacy_import`: migrate the target database, import with
a progress bar, print what happened. Exit 2 when the source cannot be read as the original's
database (nothing is written then); games that fail a check are reported, not fatal, so a
re-run (which imports nothing new) exits 0 too.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rps.bootstrap import migrate_database
from rps.cli.common import console, out, settings_or_exit
from rps.persistence.database import Database
from rps.persistence.legacy_import import LegacyImportError, LegacyImportReport, import_legacy


def report_table(report: LegacyImportReport) -> Table:
    """The counts of an import, skipped games by reason with their first examples."""
    verb = "would be imported" if report.dry_run else "imported"
    table = Table("", "count", "details", title=f"legacy import from {report.source}")
    table.add_row("games in the source", str(report.games_seen), "")
    by_source = ", ".join(f"{n} {s.value}" for s, n in sorted(report.imported_by_source.items()))
    if report.test_games_imported:
        by_source += f"; {report.test_games_imported} marked as test games"
    table.add_row(f"games {verb}", str(report.games_imported), by_source)
    table.add_row(f"rounds {verb}", str(report.rounds_imported), "")
    table.add_row("already present", str(report.already_present), "left as they are")
    for reason, count in sorted(report.skipped.items()):
        examples = "; ".join(
            f"{game_id}: {detail}" for game_id, detail in report.skipped_examples.get(reason, [])
        )
        table.add_row(f"skipped: {reason.value}", str(count), examples)
    if report.orphan_events:
        table.add_row(
            "rounds without a game", str(report.orphan_events), "no games row has their game id"
        )
    return table


def _training_window_note(report: LegacyImportReport, since: datetime | None) -> str | None:
    if since is None or report.earliest_created_at is None:
        return None
    if report.earliest_created_at >= since:
        return None
    return (
        f"TRAINING_DATA_SINCE_DATE is {since.date().isoformat()}: training leaves out the "
        f"imported games created before it (the oldest is from "
        f"{report.earliest_created_at.date().isoformat()})"
    )


def register(app: typer.Typer) -> None:
    @app.command("import-legacy")
    def import_legacy_command(
        path: Annotated[
            Path, typer.Argument(help="The original system's SQLite database (its rps.db)")
        ],
        dry_run: Annotated[
            bool, typer.Option(help="Read and check every game, report, and store nothing")
        ] = False,
    ) -> None:
        """Import the original system's games and rounds (its games and events tables),
        idempotently: games already present are left alone."""
        settings = settings_or_exit()
        migrate_database(settings)
        database = Database(settings.database_url)
        progress = Progress(
            TextColumn("[bold]importing games"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        try:
            with progress:
                task = progress.add_task("games", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                report = import_legacy(path, database, dry_run=dry_run, on_progress=advance)
        except LegacyImportError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        finally:
            database.dispose()
        out.print(report_table(report))
        note = _training_window_note(report, settings.training_since())
        if note:
            console.print(f"[yellow]{note}[/yellow]")
        if report.games_skipped:
            console.print(
                f"[yellow]{report.games_skipped} game(s) skipped, nothing of them stored; "
                "the reasons are listed above[/yellow]"
            )
        if dry_run:
            console.print("dry run: nothing was stored")

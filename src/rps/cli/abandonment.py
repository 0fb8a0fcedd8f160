"""`rps close-abandoned [--dry-run]`: close the games nobody has moved in for
ABANDONED_AFTER_MINUTES (SPEC §1.2), as the `rps up` scheduler does every minute.

For deployments without that scheduler (a CronJob, a one-off after an outage, a check of what
a limit would close). Promotion closes them too before reading its evidence.
"""

from __future__ import annotations

from typing import Annotated

import typer

from rps.bootstrap import close_abandoned, migrate_database
from rps.cli.common import settings_or_exit


def register(app: typer.Typer) -> None:
    @app.command("close-abandoned")
    def close_abandoned_command(
        dry_run: Annotated[
            bool, typer.Option(help="Count the games that would be closed; close none")
        ] = False,
    ) -> None:
        """Close every open game with no move for ABANDONED_AFTER_MINUTES: the side ahead on
        score wins (level: a tie), finished_reason=abandoned."""
        settings = settings_or_exit()
        migrate_database(settings)
        closed = close_abandoned(settings, dry_run=dry_run)
        limit = f"{settings.ABANDONED_AFTER_MINUTES:g} minutes"
        if dry_run:
            typer.echo(f"dry run: {closed} game(s) with no move for over {limit} would be closed")
        else:
            typer.echo(f"closed {closed} abandoned game(s) (no move for over {limit})")

"""`rps promote`, `rps alias set|rollback` and `rps ledger export|import` (SPEC §7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from rps.cli.common import console, out, settings_or_exit
from rps.domain.policy import Alias, Family, parse_alias, parse_family

if TYPE_CHECKING:
    from rps.services.promotion import FamilyOutcome
    from rps.settings import Settings

SkipParity = Annotated[
    bool,
    typer.Option(
        "--skip-parity",
        help="Move even if the version fails (or cannot run) the parity check; recorded",
    ),
]


def outcomes_table(outcomes: list[FamilyOutcome], *, dry_run: bool) -> Table:
    title = "promotion (dry run: nothing applied)" if dry_run else "promotion"
    table = Table(title=title)
    for column in ("family", "decision", "alias moves", "reason"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        moves = (
            ", ".join(
                f"{a}: {f'v{old}' if old else 'empty'}→{f'v{new}' if new else 'empty'}"
                for a, (old, new) in o.moves.items()
            )
            or "—"
        )
        table.add_row(o.family.value, o.decision, moves, o.reason)
    return table


def one_line(outcomes: list[FamilyOutcome], *, dry_run: bool) -> str:
    decided = ", ".join(f"{o.family.value} {o.decision}" for o in outcomes)
    return f"promotion{' (dry run)' if dry_run else ''}: {decided}"


def run_promotion(
    settings: Settings, families: list[Family] | None, *, dry_run: bool, source: str
) -> list[FamilyOutcome]:
    """Decide (and unless ``dry_run`` apply) promotion; the shared path of the CLI, the
    scheduler and `rps train-scheduled`."""
    from rps.bootstrap.promotion import promotion_service

    with promotion_service(settings) as service:
        return service.run(families, dry_run=dry_run, source=source)


def _family(text: str) -> Family:
    try:
        return parse_family(text)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _alias(text: str) -> Alias:
    try:
        return parse_alias(text)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _report_problems(outcomes: list[FamilyOutcome]) -> None:
    for problem in dict.fromkeys(p for o in outcomes for p in o.problems):
        console.print(f"[yellow]{problem}[/yellow]")


def register(app: typer.Typer) -> None:
    alias_app = typer.Typer(help="Point an alias at a version by hand, or roll it back.")
    ledger_app = typer.Typer(help="Back up, move and backfill the promotion ledger.")
    app.add_typer(alias_app, name="alias")
    app.add_typer(ledger_app, name="ledger")

    @app.command()
    def promote(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Decide and print; change nothing")
        ] = False,
        model_types: Annotated[
            list[str] | None,
            typer.Option(
                "--model-types", help="Families (or policies), comma-separated; default all"
            ),
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Promote even when DISABLE_AUTO_PROMOTION is set")
        ] = False,
    ) -> None:
        """Promote from live results: Production vs B by win rate, challengers by accuracy
        (with DISABLE_AUTO_PROMOTION set, only when --force is given)."""
        from rps.services.promotion import families_from

        settings = settings_or_exit()
        try:
            families = families_from(model_types)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        if settings.DISABLE_AUTO_PROMOTION and not force:
            # The CronJob and the scheduler run this unattended: "off" must mean nothing moves.
            if not dry_run:
                console.print(
                    "auto-promotion is disabled (DISABLE_AUTO_PROMOTION=true): nothing changed "
                    "(--force promotes anyway)"
                )
                return
            console.print(
                "auto-promotion is disabled (DISABLE_AUTO_PROMOTION=true): showing what "
                "--force would do"
            )
        outcomes = run_promotion(settings, families, dry_run=dry_run, source="rps promote")
        out.print(outcomes_table(outcomes, dry_run=dry_run))
        _report_problems(outcomes)
        console.print(one_line(outcomes, dry_run=dry_run))

    @alias_app.command("set")
    def alias_set(
        family: Annotated[str, typer.Argument(help="xgboost, feedforward_nn, … (or a policy)")],
        alias: Annotated[str, typer.Argument(help="Production, B, shadow1 or shadow2")],
        version: Annotated[str, typer.Argument(help="A registered version number")],
        skip_parity: SkipParity = False,
    ) -> None:
        """Point FAMILY@ALIAS at VERSION (recorded, synced and reloaded like a promotion). A
        version reaching Production or B (directly or by exchange) must pass the parity check
        on its stored predictions."""
        from rps.bootstrap.promotion import promotion_service

        chosen_family, chosen_alias = _family(family), _alias(alias)
        settings = settings_or_exit()
        with promotion_service(settings) as service:
            try:
                outcome = service.set_alias(
                    chosen_family,
                    chosen_alias,
                    version.removeprefix("v"),
                    by="rps alias set",
                    skip_parity=skip_parity,
                )
            except ValueError as exc:
                console.print(f"[red]{exc}[/red]")
                raise typer.Exit(2) from None
        out.print(outcome.reason if outcome.applied else f"nothing to do: {outcome.reason}")
        _report_problems([outcome])

    @alias_app.command("rollback")
    def alias_rollback(
        family: Annotated[str, typer.Argument(help="xgboost, feedforward_nn, … (or a policy)")],
        alias: Annotated[str, typer.Argument(help="Production, B, shadow1 or shadow2")],
        skip_parity: SkipParity = False,
    ) -> None:
        """Point FAMILY@ALIAS back at the version it had before its newest move (a version
        that served before passes the parity check on its stored predictions)."""
        from rps.bootstrap.promotion import promotion_service

        chosen_family, chosen_alias = _family(family), _alias(alias)
        settings = settings_or_exit()
        with promotion_service(settings) as service:
            try:
                outcome = service.rollback(
                    chosen_family, chosen_alias, by="rps alias rollback", skip_parity=skip_parity
                )
            except ValueError as exc:
                console.print(f"[red]{exc}[/red]")
                raise typer.Exit(2) from None
        out.print(outcome.reason)
        _report_problems([outcome])

    @ledger_app.command("export")
    def ledger_export(
        out_path: Annotated[Path, typer.Option("--out", help="NDJSON file to write")],
    ) -> None:
        """Write every ledger row, oldest first, one JSON object per line."""
        from rps.persistence.database import Database
        from rps.persistence.promotion_repository import PromotionRepository

        database = Database(settings_or_exit().database_url)
        count = 0
        try:
            tmp = out_path.with_name(out_path.name + ".partial")
            with tmp.open("w", encoding="utf-8") as fh:
                for event in PromotionRepository(database).iter_events():
                    fh.write(json.dumps(event.to_json(), sort_keys=True) + "\n")
                    count += 1
            tmp.replace(out_path)
        finally:
            database.dispose()
        console.print(f"exported {count} ledger rows to {out_path}")

    @ledger_app.command("import")
    def ledger_import(
        path: Annotated[Path, typer.Argument(help="NDJSON file from `rps ledger export`")],
    ) -> None:
        """Add the file's ledger rows that are not in this database yet (safe to repeat)."""
        from rps.persistence.database import Database
        from rps.persistence.promotion_repository import PromotionRepository, event_from_json

        if not path.is_file():
            console.print(f"[red]no such file: {path}[/red]")
            raise typer.Exit(2)
        events = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                events.append(event_from_json(data))
            except (ValueError, TypeError) as exc:
                console.print(f"[red]{path}:{number}: {exc}; nothing imported[/red]")
                raise typer.Exit(2) from None
        database = Database(settings_or_exit().database_url)
        try:
            added, present = PromotionRepository(database).import_events(events)
        finally:
            database.dispose()
        console.print(f"imported {added} ledger rows; {present} were already there")

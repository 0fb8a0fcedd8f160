"""`rps evaluate`: every family@alias against scripted opponents, in-process, one table per family.

The bots play with the server's own decision code and the models the web app would load (serving
cache, then registry); nothing is stored unless ``--persist``.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import IntegrityError

from rps.domain.policy import Alias, Family, Policy
from rps.services.evaluation import (
    GENERIC_OPPONENTS,
    OPPONENTS,
    CellResult,
    EvaluationReport,
    Evaluator,
    NoModelToEvaluate,
    parse_aliases,
    parse_families,
    parse_opponents,
)

console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 160)

_POLICY_OF = {policy.family: policy for policy in Policy}


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _model_cell(report: EvaluationReport, family: Family, alias: Alias, cell: CellResult) -> str:
    status = report.statuses[(family, alias)]
    if status.on_fallback or (cell.on_fallback and not cell.model_rounds):
        reasons = ", ".join(sorted(cell.fallback_reasons)) or status.fallback_reason or "unknown"
        return f"[yellow]fallback ({reasons})[/yellow]"
    versions = sorted(cell.versions) or ([status.version] if status.version else [])
    label = ", ".join(f"v{v}" for v in versions) or "—"
    if cell.on_fallback:  # the model answered some rounds, the persona others
        label += f" [yellow]+ fallback in {cell.fallback_rounds} rounds[/yellow]"
    return label


def family_table(report: EvaluationReport, family: Family) -> Table:
    """alias × opponent → margin per round, game win rate with its 95% interval, accuracy."""
    table = Table(title=f"{family.value} ({_POLICY_OF[family].value})")
    table.add_column("alias")
    table.add_column("model")
    table.add_column("opponent")
    table.add_column("games", justify="right")
    table.add_column("rounds", justify="right")
    table.add_column("margin/round", justify="right")
    table.add_column("win rate", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("accuracy", justify="right")
    for alias in report.aliases:
        for i, opponent in enumerate(report.opponents):
            cell = report.cells[(family, alias, opponent)]
            low, high = cell.win_interval
            accuracy = cell.accuracy
            table.add_row(
                alias.value if i == 0 else "",
                _model_cell(report, family, alias, cell),
                opponent,
                str(cell.games),
                str(cell.rounds),
                f"{cell.margin_per_round:+.3f}",
                f"{cell.win_rate:.1%}",
                f"{low:.1%}–{high:.1%}",
                "n/a (fallback)" if accuracy is None else f"{accuracy:.1%}",
            )
        table.add_section()
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def evaluate(
        opponents: Annotated[
            str,
            typer.Option(
                help="Opponents, comma-separated: the personas and " + ", ".join(GENERIC_OPPONENTS)
            ),
        ] = ",".join(OPPONENTS),
        games: Annotated[int, typer.Option(min=1, help="Games per family@alias and opponent")] = 20,
        aliases: Annotated[str, typer.Option(help="Aliases, comma-separated")] = ",".join(
            a.value for a in Alias
        ),
        model_types: Annotated[
            str | None, typer.Option(help="Families, comma-separated (default: all)")
        ] = None,
        seed: Annotated[
            int | None, typer.Option(help="Seed for reproducible games (default: random)")
        ] = None,
        persist: Annotated[
            bool, typer.Option(help="Store the games (source=simulated, is_test)")
        ] = False,
        allow_fallback: Annotated[
            bool, typer.Option(help="Evaluate even when no model is loaded at all")
        ] = False,
    ) -> None:
        """Play each family@alias against scripted opponents and report margin, win rate and
        action accuracy (the bot is forced onto each alias, not the A/B assignment)."""
        from rps.bootstrap import build_container, migrate_database
        from rps.cli.main import _settings

        try:
            chosen_opponents = parse_opponents(_split(opponents))
            families = parse_families(_split(model_types)) or list(Family)
            chosen_aliases = parse_aliases(_split(aliases)) or list(Alias)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        settings = _settings()
        run_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        if persist:
            migrate_database(settings)
        container = build_container(settings)
        total = len(families) * len(chosen_aliases) * len(chosen_opponents) * games
        started = time.perf_counter()
        try:
            container.models.reload()
            evaluator = Evaluator(
                container.models, container.games if persist else None, seed=run_seed
            )
            evaluator.require_models(families, chosen_aliases, allow_fallback=allow_fallback)
            progress = Progress(
                TextColumn("[bold]evaluating"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )
            with progress:
                task = progress.add_task("games", total=total)
                report = evaluator.run(
                    families,
                    chosen_aliases,
                    chosen_opponents,
                    games,
                    allow_fallback=allow_fallback,
                    on_game=lambda: progress.advance(task),
                )
        except NoModelToEvaluate as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        except IntegrityError:  # game ids derive from the seed: this seed's games are stored
            console.print(
                f"[red]games of seed {run_seed} are already stored (session "
                f"evaluate-{run_seed}); pick another --seed to persist a new run[/red]"
            )
            raise typer.Exit(1) from None
        finally:
            container.close()
        elapsed_s = time.perf_counter() - started
        for family in families:
            out.print(family_table(report, family))
        fallback = [s.label for s in report.statuses.values() if s.on_fallback]
        if fallback:
            console.print(
                f"[yellow]on fallback (their fallback persona played, accuracy n/a): "
                f"{', '.join(fallback)}[/yellow]"
            )
        stored = (
            f"; stored {report.persisted_games} games (source=simulated, is_test)"
            if persist
            else "; nothing stored (use --persist)"
        )
        console.print(
            f"{report.games} games, {report.rounds} rounds in {elapsed_s:.1f} s, "
            f"seed {run_seed}{stored}"
        )

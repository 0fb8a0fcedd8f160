"""`rps evaluate`: strength against the opponent gym (SPEC §4.1), each family@alias beside the
baselines on the same games.

The bots play with the server's own decision code and the models the web app would load (serving
cache, then registry). ``--persist`` stores each evaluated version's figures (``model_strength``:
what /ops, the metrics and promotion read); ``--json`` writes the whole report.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rps.cli.common import console, settings_or_exit, split_list
from rps.domain.gym import GymGroup, GymPart, Strategy
from rps.domain.policy import Alias, Family, Policy, parse_aliases, parse_families
from rps.services.evaluation import (
    EvaluationReport,
    Evaluator,
    NoModelToEvaluate,
    parse_opponents,
    total_games,
)
from rps.serving.strength import BASELINE_GREEDY, BASELINE_LAYER, BASELINES, StrengthReport

out = Console(width=None if sys.stdout.isatty() else 200)


def _rate(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "—"
    return f"{summary['win_rate']:.1%} ({summary['low']:.0%}–{summary['high']:.0%})"


def _delta(paired: dict[str, Any] | None) -> str:
    if paired is None or not paired.get("games"):
        return "—"
    low, high = paired["low"] * 100, paired["high"] * 100
    return f"{paired['difference'] * 100:+.1f} ({low:+.0f}…{high:+.0f})"


def _label(report: EvaluationReport, contender: str) -> tuple[str, str]:
    """The row's bot and model cells."""
    for (family, alias), status in report.statuses.items():
        if report.contender(family, alias) != contender:
            continue
        bot = f"{Policy.playing(family).value} {alias.value}"
        if status.on_fallback:
            return bot, f"[yellow]fallback ({status.fallback_reason})[/yellow]"
        return bot, f"v{status.version}"
    return contender, "baseline"


def strength_table(report: EvaluationReport) -> Table:
    """Each contender: training and holdout part, overall, margin, worst opponent, the paired
    difference to the model-free layer and to value-greedy (holdout part), accuracy."""
    strength = report.strength
    table = Table(
        title=f"strength against the gym: {strength.games_per_opponent} games per opponent, "
        f"seed {strength.seed} (win rate, 95% interval)"
    )
    for name in ("bot", "model"):
        table.add_column(name)
    for name in ("training part", "holdout part", "overall", "margin/round", "worst opponent"):
        table.add_column(name, justify="right")
    table.add_column("Δ model-free (holdout)", justify="right")
    table.add_column("Δ value-greedy (holdout)", justify="right")
    table.add_column("accuracy", justify="right")
    has = {p: bool(strength.opponents_of(p)) for p in GymPart}
    for contender in strength.contenders:
        figures = strength.contender_dict(contender)
        bot, model = _label(report, contender)
        worst = figures["worst"]["overall"]
        paired = figures.get("paired", {})
        accuracy = figures.get("accuracy")
        table.add_row(
            bot,
            model,
            _rate(figures.get("training")) if has[GymPart.TRAINING] else "—",
            _rate(figures.get("holdout")) if has[GymPart.HOLDOUT] else "—",
            _rate(figures["overall"]),
            f"{figures['overall']['margin_per_round']:+.3f}",
            f"{worst['opponent']} {worst['win_rate']:.0%}" if worst else "—",
            _delta(paired.get(BASELINE_LAYER, {}).get("holdout")),
            _delta(paired.get(BASELINE_GREEDY, {}).get("holdout")),
            "" if contender in BASELINES else ("—" if accuracy is None else f"{accuracy:.1%}"),
        )
        if contender == strength.contenders[-len(BASELINES) - 1]:
            table.add_section()
    return table


def group_table(strength: StrengthReport) -> Table:
    """Win rate per group and part for each contender."""
    table = Table(title="win rate per group (training / holdout part)")
    table.add_column("bot")
    groups = [g for g in GymGroup if strength.opponents_of(None, g)]
    for group in groups:
        table.add_column(group.value, justify="right")
    for contender in strength.contenders:
        cells = []
        for group in groups:
            parts = []
            for part in GymPart:
                chosen = strength.opponents_of(part, group)
                parts.append(
                    f"{strength.summary(contender, chosen).win_rate:.0%}" if chosen else "—"
                )
            cells.append(" / ".join(parts))
        table.add_row(contender, *cells)
    return table


def opponent_table(strength: StrengthReport) -> Table:
    """Each opponent (rows) × contender (columns): the win rate."""
    table = Table(title="win rate per opponent")
    table.add_column("opponent")
    table.add_column("group")
    table.add_column("part")
    for contender in strength.contenders:
        table.add_column(contender, justify="right")
    for s in strength.opponents:
        rates = [f"{strength.tallies[(c, s.name)].win_rate:.0%}" for c in strength.contenders]
        table.add_row(s.name, s.group.value, s.part.value, *rates)
    return table


def report_json(report: EvaluationReport, elapsed_s: float) -> dict[str, Any]:
    data = report.strength.to_dict()
    data["elapsed_s"] = round(elapsed_s, 3)
    data["aliases"] = {
        status.label: {"version": status.version, "fallback_reason": status.fallback_reason}
        for status in report.statuses.values()
    }
    return data


def register(app: typer.Typer) -> None:
    @app.command()
    def evaluate(
        opponents: Annotated[
            str,
            typer.Option(
                help="Opponents, comma-separated: gym strategies, groups (naive, adaptive, "
                "value_aware, mixed), parts (training, holdout), group:part, personas or all"
            ),
        ] = "all",
        games: Annotated[int, typer.Option(min=1, help="Games per bot and opponent")] = 20,
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
            bool,
            typer.Option(help="Store each evaluated version's gym figures (/ops, metrics)"),
        ] = False,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Write the whole report as JSON here")
        ] = None,
        per_opponent: Annotated[
            bool, typer.Option(help="Also print the win rate against every opponent")
        ] = False,
        allow_fallback: Annotated[
            bool, typer.Option(help="Evaluate even when no model is loaded at all")
        ] = False,
    ) -> None:
        """Play each family@alias and the baselines (value-greedy, frequency-ev, the decision
        layer without a model) against the opponent gym on the same games; report win rates
        per part and group, overall, the worst opponent and the paired differences."""
        from rps.bootstrap import build_container, decision_config, migrate_database
        from rps.persistence.strength_repository import StrengthRepository

        try:
            chosen_opponents: list[Strategy] = parse_opponents(split_list(opponents))
            families = parse_families(split_list(model_types)) or list(Family)
            chosen_aliases = parse_aliases(split_list(aliases)) or list(Alias)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        settings = settings_or_exit()
        run_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        if persist:
            migrate_database(settings)
        container = build_container(settings)
        total = total_games(families, chosen_aliases, chosen_opponents, games)
        started = time.perf_counter()
        written = 0
        try:
            container.models.reload()
            evaluator = Evaluator(
                container.models,
                StrengthRepository(container.database) if persist else None,
                seed=run_seed,
                decision=decision_config(settings),
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
            if persist:
                written = evaluator.persist(report)
        except NoModelToEvaluate as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        finally:
            container.close()
        elapsed_s = time.perf_counter() - started
        out.print(strength_table(report))
        out.print(group_table(report.strength))
        if per_opponent:
            out.print(opponent_table(report.strength))
        fallback = [s.label for s in report.statuses.values() if s.on_fallback]
        if fallback:
            console.print(
                f"[yellow]on fallback (the layer without a model played, accuracy n/a): "
                f"{', '.join(fallback)}[/yellow]"
            )
        if json_path is not None:
            json_path.write_text(json.dumps(report_json(report, elapsed_s), indent=1))
            console.print(f"report written to {json_path}")
        stored = f"; stored the gym figures of {written} versions" if persist else ""
        console.print(
            f"{report.games} games, {report.rounds} rounds in {elapsed_s:.1f} s, "
            f"seed {run_seed}{stored}"
        )

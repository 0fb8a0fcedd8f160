"""`rps parity`: replay served rounds through the batch features and the loaded models (SPEC §6.6).

Rounds come from the inference capture (``--capture-dir``, default ``RPS_CAPTURE_INFERENCE_DIR``)
or, with ``--from-db``, from the stored model rounds and their stored probabilities. Exit 1 when a
replayed probability differs from the served one by more than ``--tolerance``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rps.cli.common import console, out, settings_or_exit
from rps.serving.parity import (
    DEFAULT_TOLERANCE,
    ParityReport,
    load_histories,
    read_captures,
    recent_model_round_keys,
    replay_rounds,
    stored_served_rounds,
)


def _diff(value: float | None, tolerance: float) -> str:
    if value is None:
        return "—"
    colour = "green" if value <= tolerance else "red"
    return f"[{colour}]{value:.3g}[/{colour}]"


def parity_table(report: ParityReport) -> Table:
    table = Table(title=f"train/serve parity (tolerance {report.tolerance:g})")
    table.add_column("model")
    table.add_column("rounds", justify="right")
    table.add_column("compared", justify="right")
    table.add_column("replayed", justify="right")
    table.add_column("other version", justify="right")
    table.add_column("max feature diff", justify="right")
    table.add_column("max probability diff", justify="right")
    table.add_column("blends replayed", justify="right")
    table.add_column("max blend diff", justify="right")
    table.add_column("other move", justify="right")
    table.add_column("worst round")
    for row in report.rows:
        table.add_row(
            row.model,
            str(row.rounds),
            str(row.compared),
            str(row.replayed),
            str(row.version_mismatch),
            _diff(row.max_feature_diff, report.tolerance),
            _diff(row.max_probability_diff, report.tolerance),
            str(row.blends_replayed),
            _diff(row.max_blend_diff, report.tolerance),
            f"[red]{row.move_mismatches}[/red]" if row.move_mismatches else "0",
            row.worst_round or "",
        )
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def parity(
        capture_dir: Annotated[
            Path | None,
            typer.Option(help="Inference capture folder (default: RPS_CAPTURE_INFERENCE_DIR)"),
        ] = None,
        from_db: Annotated[
            bool, typer.Option("--from-db", help="Replay the database's stored model rounds")
        ] = False,
        limit: Annotated[
            int, typer.Option(min=1, help="Replay at most the newest N rounds")
        ] = 5000,
        tolerance: Annotated[
            float, typer.Option(min=0.0, help="Largest acceptable probability difference")
        ] = DEFAULT_TOLERANCE,
    ) -> None:
        """Replay served rounds through the batch feature pipeline and the loaded model of the
        same family@alias and version; report the largest feature and probability differences."""
        from rps.bootstrap import build_container, decision_params

        settings = settings_or_exit()
        directory = capture_dir or settings.RPS_CAPTURE_INFERENCE_DIR
        if not from_db and directory is None:
            console.print(
                "[red]no capture folder: pass --capture-dir, set RPS_CAPTURE_INFERENCE_DIR, "
                "or use --from-db[/red]"
            )
            raise typer.Exit(2)
        container = build_container(settings)
        try:
            container.models.reload()
            if from_db:
                keys = recent_model_round_keys(container.database, limit)
                histories, games = load_histories((k[0] for k in keys), container.games.load)
                served = stored_served_rounds(keys, games)
                origin = "stored model rounds"
            else:
                assert directory is not None
                captured = read_captures(directory, limit)
                served = captured.rounds
                histories, games = load_histories((s.game_id for s in served), container.games.load)
                origin = f"captured rounds from {captured.files} files in {directory}"
                if captured.bad_lines:
                    console.print(f"[yellow]{captured.bad_lines} unreadable lines skipped[/yellow]")
            report = replay_rounds(
                served,
                histories,
                container.models,
                tolerance,
                games=games,
                params=decision_params(settings),
            )
        finally:
            container.close()
        out.print(parity_table(report))
        console.print(
            f"{len(served)} {origin}; {report.replayed} replayed through the model, "
            f"{report.blends_replayed} through the decision layer, "
            f"{report.missing_history} without a stored game history"
        )
        if not served:
            console.print("[yellow]nothing to replay[/yellow]")
        elif report.replayed == 0:
            console.print(
                "[yellow]no round was served by a currently loaded version: "
                "probabilities not compared[/yellow]"
            )
        if not report.features_ok:
            console.print(
                f"[red]features differ by up to {report.max_feature_diff:.3g} between serving "
                "and the batch pipeline[/red]"
            )
        failed = False
        if report.move_mismatches:
            console.print(
                f"[red]{report.move_mismatches} replayed rounds chose another move than the "
                "bot played[/red]"
            )
            failed = True
        worst_blend = report.max_blend_diff
        if worst_blend is not None and worst_blend > tolerance:
            console.print(f"[red]replayed blends differ by up to {worst_blend:.3g}[/red]")
            failed = True
        if not report.ok:
            console.print(
                f"[red]probabilities differ by up to {report.max_probability_diff:.3g} "
                f"(> {tolerance:g})[/red]"
            )
            failed = True
        if failed:
            raise typer.Exit(1)

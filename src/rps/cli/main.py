"""`rps` — serve, migrate, simulate, config, up."""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rps.bootstrap import build_container, migrate_database
from rps.cli import abandonment as abandonment_commands
from rps.cli import admin_token as admin_token_commands
from rps.cli import cache as cache_commands
from rps.cli import evaluate as evaluate_commands
from rps.cli import legacy as legacy_commands
from rps.cli import parity as parity_commands
from rps.cli import promotion as promotion_commands
from rps.cli import training as training_commands
from rps.cli.common import console, settings_or_exit, split_list
from rps.cli.workers import reuse_port_available, serve_workers
from rps.domain.gym import GymPart, resolve
from rps.persistence.database import Database, head_revision
from rps.persistence.schema_check import SchemaCheck, SchemaMismatch, check_schema
from rps.services.gameplay import parse_policy
from rps.services.simulation import (
    HttpSimulator,
    InProcessSimulator,
    SimulationError,
    SimulationSummary,
    schedule,
)
from rps.settings import (
    AdminTokenError,
    Settings,
    SettingsError,
    export_environment,
    get_settings,
    mask_url,
)

app = typer.Typer(
    help="RPS MLOps: value-weighted Rock-Paper-Scissors with machine-learned bots.",
    no_args_is_help=True,
    add_completion=False,
)


def _refuse(command: str, reason: str) -> typer.Exit:
    console.print(f"[red]{command}: refusing to start: {reason}[/red]")
    return typer.Exit(2)


def _admin_token_or_exit(settings: Settings, command: str) -> None:
    """Exit 2 with the reason when the configured admin token may not be used (SPEC §9)."""
    try:
        settings.admin_token()
    except AdminTokenError as exc:
        raise _refuse(command, str(exc)) from None


def _migrate_or_exit(settings: Settings, command: str) -> tuple[str | None, str | None]:
    try:
        return migrate_database(settings)
    except SchemaMismatch as exc:
        database = mask_url(settings.database_url)
        raise _refuse(command, f"{exc} (database: {database})") from None


def _schema_or_exit(settings: Settings, command: str) -> SchemaCheck:
    """The schema check of SPEC §9: exit 2 on a database this code must not serve; a database
    that cannot be reached now is only warned about (``/ready`` says 503 until it is)."""
    database = Database(settings.database_url)
    try:
        found = check_schema(database)
    finally:
        database.dispose()
    shown = mask_url(settings.database_url)
    if found.refused:
        raise _refuse(command, f"{found.message()} (database: {shown})")
    if not found.ready:
        console.print(
            f"[yellow]{found.message()} (database: {shown}); starting anyway: /ready answers "
            "503 until it is reachable[/yellow]"
        )
    elif found.database_revision != found.code_revision:
        console.print(f"[yellow]{found.detail}[/yellow]")
    return found


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the newest revision."""
    settings = settings_or_exit()
    try:
        before, after = migrate_database(settings)
    except SchemaMismatch as exc:
        console.print(f"[red]not migrated: {exc} (database: {mask_url(settings.database_url)})")
        raise typer.Exit(2) from None
    if before == after:
        console.print(f"database is up to date (revision {after})")
    else:
        console.print(f"database migrated: {before or 'empty'} → {after}")
    if after != head_revision():
        console.print(
            f"[yellow]revision {after} is newer than this code's {head_revision()}: a newer "
            "release migrated it and recorded that this code may serve it; nothing to do[/yellow]"
        )


@app.command()
def config(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Print the resolved settings, secrets masked."""
    shown = settings_or_exit().masked()
    if as_json:
        typer.echo(json.dumps(shown, indent=2, default=str))
        return
    table = Table("setting", "value", title="rps settings")
    for key, value in shown.items():
        table.add_row(key, "" if value is None else str(value))
    Console().print(table)


def _serve(settings: Settings, host: str, port: int, workers: int, access_log: bool) -> None:
    import uvicorn

    if workers > 1 and settings.PROMETHEUS_MULTIPROC_DIR is None:
        # Each worker writes its metric values here; /metrics merges them.
        metrics_dir = Path(tempfile.mkdtemp(prefix="rps-metrics-"))
        export_environment({"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
        get_settings.cache_clear()
    options = {
        "app": "rps.api.app:create_app",
        "factory": True,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": access_log,
        "log_level": settings.LOG_LEVEL.lower(),
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; the app believes it
        # from TRUSTED_PROXIES only (rps.api.rate_limits).
        "proxy_headers": False,
    }
    if workers > 1 and reuse_port_available():
        # A listening socket per worker: the kernel spreads connections across them.
        try:
            code = serve_workers(host, port, workers, options)
        except OSError as exc:
            console.print(f"[red]rps serve: cannot listen on {host}:{port}: {exc}[/red]")
            raise typer.Exit(1) from None
        if code:
            raise typer.Exit(code)
        return
    uvicorn.run(host=host, port=port, workers=workers, **options)  # type: ignore[arg-type]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request")] = False,
) -> None:
    """Serve the API and UI (the schema must be migrated: see `rps migrate`, `rps up`).

    Refuses to start (exit 2) on a database behind or foreign to the code, or an admin token
    that may not be used."""
    settings = settings_or_exit()
    _admin_token_or_exit(settings, "rps serve")
    _schema_or_exit(settings, "rps serve")
    _serve(settings, host, port, workers, access_log)


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    bootstrap: Annotated[
        bool, typer.Option(help="On an empty registry, simulate games and train the models")
    ] = True,
    scheduler: Annotated[
        bool,
        typer.Option(
            help="Run persona gameplay, scheduled training and promotion in the background "
            "(intervals: SCHEDULER_* settings)"
        ),
    ] = True,
) -> None:
    """Start the platform: migrate, train the first models if there are none, then serve."""
    from rps.cli.scheduler import build_scheduler, describe
    from rps.cli.up import bootstrap_models

    settings = settings_or_exit()
    try:
        _, token_path = settings.ensure_admin_token()
    except AdminTokenError as exc:
        raise _refuse("rps up", str(exc)) from None
    where = f"in {token_path}" if token_path else "from RPS_ADMIN_TOKEN"
    _before, after = _migrate_or_exit(settings, "rps up")
    console.print(f"database: {settings.masked()['database_url']} (revision {after})")
    _schema_or_exit(settings, "rps up")
    if bootstrap:
        bootstrap_models(settings, console)
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    background = build_scheduler(settings, f"http://{local}:{port}") if scheduler else None
    console.print(describe(background))
    console.print(f"[bold green]RPS MLOps on http://{host}:{port}[/] — admin token {where}")
    if background is not None:
        background.start()
    try:
        _serve(settings, host, port, workers, access_log=False)
    finally:
        if background is not None:
            background.stop()


def _print_summary(summary: SimulationSummary, elapsed_s: float) -> None:
    table = Table("persona", "policy", "games", "rounds", "bot win rate", title="simulation")
    for (persona, policy), tally in sorted(summary.pairs.items()):
        table.add_row(
            persona, policy, str(tally.games), str(tally.rounds), f"{tally.bot_win_rate:.1%}"
        )
    Console().print(table)
    rate = summary.games / elapsed_s if elapsed_s > 0 else 0.0
    console.print(
        f"{summary.games} games, {summary.rounds} rounds in {elapsed_s:.2f} s ({rate:.0f} games/s)"
    )


@app.command()
def simulate(
    users: Annotated[
        str,
        typer.Option(
            help="Who plays the user side: gym strategies, groups (naive, adaptive, "
            "value_aware, mixed), personas, training, or population (the training mix: every "
            "strategy of the gym's training part)"
        ),
    ] = "population",
    policies: Annotated[str, typer.Option(help="Bots to play against")] = "brian,forrest,logan",
    games: Annotated[int, typer.Option(min=1, help="Games in all (round-robin over pairs)")] = 24,
    via: Annotated[str | None, typer.Option(help="Play over HTTP against this server URL")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible games")] = None,
    test: Annotated[bool, typer.Option("--test", help="Mark the games as test games")] = False,
) -> None:
    """Play gym strategies as users against the bots and store the games (personas as
    source=persona, other strategies as source=simulated, named sim-<strategy>-<n>)."""
    settings = settings_or_exit()
    try:
        strategies = resolve(split_list(users))
        policy_names = [parse_policy(p).value for p in split_list(policies)]
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if not strategies or not policy_names:
        console.print("[red]need at least one user strategy and one policy[/red]")
        raise typer.Exit(2)
    held_out = [s.name for s in strategies if s.part is GymPart.HOLDOUT]
    if held_out and not test:
        console.print(
            f"[red]{', '.join(held_out)}: holdout strategies never play training data (their "
            "games would feed training); pass --test to store them as test games, or choose "
            "from the training part[/red]"
        )
        raise typer.Exit(2)
    plan = schedule(strategies, policy_names, games)
    rng = random.Random(seed)
    progress = Progress(
        TextColumn("[bold]simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    started = time.perf_counter()
    with progress:
        task = progress.add_task("games", total=len(plan))

        def advance() -> None:
            progress.advance(task)

        if via:
            try:
                token = settings.admin_token()
            except AdminTokenError as exc:
                console.print(f"[red]{exc}[/red]")
                raise typer.Exit(2) from None
            if not token:
                console.print(
                    "[red]--via needs the admin token (RPS_ADMIN_TOKEN or $DATA_PATH/admin-token)"
                    " to store games as source=persona[/red]"
                )
                raise typer.Exit(2)
            with httpx.Client(base_url=via.rstrip("/"), timeout=30) as client:
                try:
                    summary = HttpSimulator(client, token, rng).run(
                        plan, is_test=test, on_game=advance
                    )
                except (SimulationError, httpx.HTTPError) as exc:
                    console.print(f"[red]simulation failed: {exc}[/red]")
                    raise typer.Exit(1) from None
        else:
            _migrate_or_exit(settings, "rps simulate")
            container = build_container(
                settings, rng=rng, opening_rng=random.Random(rng.getrandbits(64))
            )
            try:
                container.models.reload()  # the bots play with whatever models exist
                simulator = InProcessSimulator(container.gameplay, container.games, rng)
                summary = simulator.run(plan, is_test=test, on_game=advance)
            finally:
                container.close()
    _print_summary(summary, time.perf_counter() - started)


training_commands.register(app)
admin_token_commands.register(app)
cache_commands.register(app)
evaluate_commands.register(app)
parity_commands.register(app)
legacy_commands.register(app)
promotion_commands.register(app)
abandonment_commands.register(app)


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except (SettingsError, SchemaMismatch) as exc:
        # A command that reads the admin token or opens the database late still ends with the
        # reason and exit 2, not a traceback.
        console.print(f"[red]{exc}[/red]")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()

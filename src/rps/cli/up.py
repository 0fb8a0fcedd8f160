"""`rps up`'s first-start bootstrap: on an empty registry, simulate games of the gym's training
population, train the 12 models with the config's ``bootstrap`` profile, publish them to the
serving cache.

Training and publishing run as child processes (`rps train`, `rps sync-cache`), so the process
that goes on to serve never loads torch or xgboost.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time

from rich.console import Console

from rps.bootstrap import build_container
from rps.bootstrap.model_sources import build_registry, build_serving_cache
from rps.domain.gym import training_population
from rps.domain.policy import Alias, Family, Policy
from rps.registry.serving_cache import CacheError
from rps.services.simulation import InProcessSimulator, schedule
from rps.settings import Settings

# ~15,000 rounds of the gym's training population: the bootstrap profile keeps the newest
# 12,000 labelled ones, enough for the models to add to the decision layer's in-game experts.
BOOTSTRAP_GAMES = 1200


def _rps(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "rps.cli.main", *args], check=False).returncode


def cached_models(settings: Settings) -> int:
    """How many family@alias the serving cache's manifest lists (0 without a cache)."""
    try:
        manifest = build_serving_cache(settings).read_manifest()
    except (CacheError, ValueError):
        return 0
    return len(manifest.models) if manifest else 0


def registry_aliases(settings: Settings) -> int:
    """How many family@alias point at a registered version (0 with no local store yet)."""
    if not settings.MLFLOW_TRACKING_URI and not (settings.DATA_PATH / "mlflow.db").exists():
        return 0
    registry = build_registry(settings)
    return sum(registry.alias_target(f, a) is not None for f in Family for a in Alias)


def simulate_training_games(settings: Settings, console: Console, games: int) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    rng = random.Random(2026)
    container = build_container(settings, rng=rng, opening_rng=random.Random(7))
    try:
        container.models.reload()
        plan = schedule(training_population(), [p.value for p in Policy], games)
        with Progress(
            TextColumn("[bold]simulated games"), BarColumn(), MofNCompleteColumn(), console=console
        ) as progress:
            task = progress.add_task("games", total=len(plan))
            summary = InProcessSimulator(container.gameplay, container.games, rng).run(
                plan, on_game=lambda: progress.advance(task)
            )
    finally:
        container.close()
    console.print(
        f"simulated {summary.games} games of the gym's training population "
        f"({summary.rounds} rounds)"
    )


def bootstrap_models(settings: Settings, console: Console) -> None:
    """Make sure the serving cache holds models, training them first if none exist."""
    started = time.perf_counter()
    total = len(Family) * len(Alias)
    if cached_models(settings) == total:
        console.print(f"models: {total} in the serving cache")
        return
    if registry_aliases(settings) == 0:
        console.print("models: none registered yet — training the bootstrap set")
        simulate_training_games(settings, console, BOOTSTRAP_GAMES)
        if _rps("train", "--profile", "bootstrap", "--skip-app-reload") != 0:
            console.print(
                "[yellow]bootstrap training failed; serving without models (the decision "
                "layer alone; see the output above)[/yellow]"
            )
    if registry_aliases(settings) and _rps("sync-cache") != 0:
        console.print("[yellow]could not publish to the serving cache; the app will load "
                      "models from the registry[/yellow]")  # fmt: skip
    console.print(f"models ready in {time.perf_counter() - started:.0f} s")

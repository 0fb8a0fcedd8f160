"""Training benchmark: features and all 12 models with the full three-step evaluation.

    .venv/bin/python benchmarks/train.py [--sizes 3000,20000,100000]

Simulates persona games in memory, reports batch vs online feature building in the same run,
then for each size (labelled rounds, newest whole games) trains the 12 shipped configs through
the same runner `rps train` uses — logging and registering into a throwaway MLflow store — and
prints seconds per family and per model.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from rps.domain.game import Game  # noqa: E402
from rps.domain.personas import PersonaName, persona_move  # noqa: E402
from rps.domain.policy import Family  # noqa: E402
from rps.features.batch import RoundTable, batch_features  # noqa: E402
from rps.features.online import online_features  # noqa: E402
from rps.persistence.database import Database, migrate  # noqa: E402
from rps.persistence.lifecycle_repository import LifecycleRepository  # noqa: E402
from rps.registry.mlflow_registry import MlflowRegistry  # noqa: E402
from rps.settings import PACKAGED_TRAINING_CONFIG  # noqa: E402
from rps.training.configs import REGISTERED_NAMES, load_config, plan  # noqa: E402
from rps.training.dataset import dataset_from_games  # noqa: E402
from rps.training.runner import TrainingRunner  # noqa: E402

console = Console(width=140)


def simulate(labelled_rounds: int, seed: int) -> list[Game]:
    """Persona-vs-persona games until there are enough labelled rounds (step ≥ 4)."""
    rng = random.Random(seed)
    personas = list(PersonaName)
    games: list[Game] = []
    labelled = 0
    i = 0
    while labelled < labelled_rounds:
        user, bot = personas[i % 8], personas[(i // 8) % 8]
        game = Game(f"bench-{seed}-{i}")
        while not game.finished:
            game.play(
                persona_move(user, game.view("user"), rng), persona_move(bot, game.view("bot"), rng)
            )
        games.append(game)
        labelled += max(0, len(game.rounds) - 3)
        i += 1
    return games


def feature_rates(games: list[Game]) -> tuple[int, float, float]:
    table = RoundTable.from_games(games)
    best_batch = min(_timed(lambda: batch_features(table)) for _ in range(3))
    started = time.perf_counter()
    for game in games:
        for n in range(len(game.rounds)):
            online_features(game.rounds[:n], game.rounds[n].values)
    online_s = time.perf_counter() - started
    return len(table), len(table) / best_batch, len(table) / online_s


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="3000,20000,100000")
    parser.add_argument("--config", default=str(PACKAGED_TRAINING_CONFIG))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    console.print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")

    started = time.perf_counter()
    games = simulate(max(sizes), args.seed)
    rounds = sum(len(g.rounds) for g in games)
    elapsed = time.perf_counter() - started
    console.print(f"simulated {len(games):,} games, {rounds:,} rounds in {elapsed:.1f} s")
    n, batch_rate, online_rate = feature_rates(games)
    console.print(
        f"features over {n:,} rounds: batch {batch_rate:,.0f} rounds/s, "
        f"online {online_rate:,.0f} rounds/s ({batch_rate / online_rate:.0f}× faster in batch)"
    )

    config = load_config(Path(args.config))
    planned = plan(config)
    summary = Table(title="all 12 models, three-step evaluation (seconds)")
    for column in ("labelled rounds", "games", *[f.value for f in Family], "all 12", "target"):
        summary.add_column(column, justify="right")
    for size in sizes:
        # The newest whole games up to the size, as the dataset's row cap does.
        chosen: list[Game] = []
        labelled = 0
        for game in reversed(games):
            rows = max(0, len(game.rounds) - 3)
            if labelled + rows > size:
                break
            chosen.append(game)
            labelled += rows
        chosen.reverse()
        dataset = dataset_from_games(chosen, ["persona"] * len(chosen))
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{tmp}/rps.db")
            migrate(db)
            registry = MlflowRegistry(
                tracking_uri=f"sqlite:///{tmp}/mlflow.db",
                experiment_name="bench",
                artifact_location=Path(tmp, "mlartifacts").as_uri(),
                registered_names=REGISTERED_NAMES,
            )
            registry.experiment_id()  # create the store before timing
            runner = TrainingRunner(registry, LifecycleRepository(db))
            started = time.perf_counter()
            outcomes = runner.run(dataset, planned)
            total = time.perf_counter() - started
            db.dispose()
        per_family: dict[Family, float] = defaultdict(float)
        detail = Table(title=f"{len(dataset):,} labelled rounds")
        for column in ("model", "seconds", "test acc", "cv mean", "iterations", "status"):
            detail.add_column(column)
        for o in outcomes:
            per_family[o.planned.family] += o.seconds
            m = o.trained.metrics if o.trained else {}
            report = o.trained.fit_reports.get("production") if o.trained else None
            detail.add_row(
                o.planned.key,
                f"{o.seconds:.2f}",
                f"{m.get('test_acc_holdout', float('nan')):.3f}",
                f"{m.get('cv_mean_acc', float('nan')):.3f}",
                str(report.best_iteration) if report else "—",
                o.error or ("registered" if o.registered else o.reason),
            )
        console.print(detail)
        target = "≤ 30 s" if size <= 3000 else ("≤ 600 s" if size >= 100_000 else "")
        summary.add_row(
            f"{len(dataset):,}",
            f"{len(chosen):,}",
            *[f"{per_family[f]:.1f}" for f in Family],
            f"{total:.1f}",
            target,
        )
    console.print(summary)


if __name__ == "__main__":
    main()

"""The composition root of the training side: database, lifecycle tables, the MLflow registry.

Kept apart from ``rps.bootstrap`` so the web process, which imports that, never loads torch,
xgboost or MLflow.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from rps.bootstrap import decision_config
from rps.bootstrap.model_sources import build_registry
from rps.persistence.database import Database, migrate
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.persistence.strength_repository import StrengthRepository
from rps.registry.mlflow_registry import MlflowRegistry
from rps.serving.strength import StrengthGate
from rps.settings import Settings
from rps.training.dataset import Dataset, load_dataset
from rps.training.runner import TrainingProgress, TrainingRunner
from rps.training.strength_check import StrengthCheck


def git_revision(settings: Settings) -> str | None:
    """The code's revision: stamped into images, else asked of git when run from a checkout."""
    if settings.GIT_REVISION:
        return settings.GIT_REVISION
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            cwd=Path(__file__).resolve().parent,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


@dataclass
class TrainingContext:
    settings: Settings
    database: Database
    lifecycle: LifecycleRepository
    registry: MlflowRegistry

    def load_dataset(self, max_rows: int | None = None) -> Dataset:
        s = self.settings
        return load_dataset(
            self.database,
            since=s.training_since(),
            legacy_game_stride=s.TRAINING_LEGACY_GAME_STRIDE,
            max_rows=max_rows or s.TRAINING_MAX_ROWS,
        )

    def runner(
        self, progress: TrainingProgress | None = None, assigned_by: str = "rps train"
    ) -> TrainingRunner:
        return TrainingRunner(
            self.registry,
            self.lifecycle,
            assigned_by=assigned_by,
            git_revision=git_revision(self.settings),
            progress=progress,
            strength=strength_check(self.settings),
            strength_store=StrengthRepository(self.database),
            lock=self.database.alias_lock.hold,
        )

    def close(self) -> None:
        self.database.dispose()


def strength_check(settings: Settings) -> StrengthCheck:
    """How candidates play the gym and what they must achieve (``GATE_*``, ``ACCEPT_*``)."""
    return StrengthCheck(
        games_per_opponent=settings.GATE_GAMES_PER_OPPONENT,
        decision=decision_config(settings),
        gate=StrengthGate(
            max_below_layer=settings.ACCEPT_MAX_BELOW_LAYER,
            max_below_greedy=settings.ACCEPT_MAX_BELOW_GREEDY,
        ),
    )


def build_training(settings: Settings, *, migrate_schema: bool = True) -> TrainingContext:
    database = Database(settings.database_url)
    if migrate_schema:
        migrate(database)
    settings.DATA_PATH.mkdir(parents=True, exist_ok=True)
    registry = build_registry(settings)
    return TrainingContext(settings, database, LifecycleRepository(database), registry)

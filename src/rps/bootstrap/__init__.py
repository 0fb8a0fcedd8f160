"""The composition root: builds the adapters and services from settings.

The API's lifespan and every CLI command get their objects here; tests build a Container from
their own settings (a temp DATA_PATH, a PostgreSQL URL) or pass fakes to the services directly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rps.domain.policy import Family
from rps.observability.metrics import Metrics
from rps.persistence.database import Database, migrate
from rps.persistence.game_repository import GameRepository
from rps.services.bot import NoModels, Predictor
from rps.services.gameplay import GameplayService
from rps.settings import Settings


@dataclass
class Container:
    settings: Settings
    database: Database
    games: GameRepository
    metrics: Metrics
    predictor: Predictor
    gameplay: GameplayService

    def close(self) -> None:
        self.database.dispose()


def ab_split(settings: Settings) -> dict[Family, float]:
    """Each family's Production share: its own setting, else AB_SPLIT_RATIO."""
    per_family = {
        Family.XGBOOST: settings.AB_SPLIT_RATIO_XGBOOST,
        Family.FEEDFORWARD_NN: settings.AB_SPLIT_RATIO_FEEDFORWARD_NN,
        Family.MULTINOMIAL_LOGISTIC: settings.AB_SPLIT_RATIO_MULTINOMIAL_LOGISTIC,
    }
    return {f: settings.AB_SPLIT_RATIO if v is None else v for f, v in per_family.items()}


def build_container(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    rng: random.Random | None = None,
    opening_rng: random.Random | None = None,
) -> Container:
    database = Database(settings.database_url)
    games = GameRepository(database)
    metrics = metrics or Metrics(settings.PROMETHEUS_MULTIPROC_DIR)
    predictor: Predictor = NoModels()
    gameplay = GameplayService(
        games,
        predictor,
        metrics,
        ab_split=ab_split(settings),
        ab_enabled=settings.ENABLE_AB_TESTING,
        rng=rng,
        opening_rng=opening_rng,
    )
    return Container(settings, database, games, metrics, predictor, gameplay)


def migrate_database(settings: Settings) -> tuple[str | None, str | None]:
    database = Database(settings.database_url)
    try:
        return migrate(database)
    finally:
        database.dispose()

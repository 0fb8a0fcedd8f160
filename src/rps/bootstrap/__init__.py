"""The composition root: builds the adapters and services from settings.

The API's lifespan and every CLI command get their objects here; tests build a Container from
their own settings (a temp DATA_PATH, a PostgreSQL URL) or pass fakes to the services directly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from rps.domain.decision import DecisionParams
from rps.domain.policy import Family
from rps.observability.metrics import Metrics
from rps.persistence.database import Database, migrate
from rps.persistence.game_repository import GameRepository
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.persistence.ops_queries import OpsQueries
from rps.persistence.promotion_repository import PromotionRepository
from rps.persistence.strength_repository import StrengthRepository
from rps.persistence.tables import utcnow
from rps.services.abandonment import close_abandoned_games
from rps.services.gameplay import GameplayService
from rps.services.lifecycle_metrics import lifecycle_snapshot
from rps.serving.capture import inference_capture
from rps.serving.model_manager import ModelManager, ModelSource
from rps.serving.policy import DecisionConfig, FallbackMode
from rps.settings import Settings


@dataclass
class Container:
    settings: Settings
    database: Database
    games: GameRepository
    metrics: Metrics
    models: ModelManager
    gameplay: GameplayService
    promotions: PromotionRepository = field(init=False)
    lifecycle: LifecycleRepository = field(init=False)
    strength: StrengthRepository = field(init=False)
    ops: OpsQueries = field(init=False)

    def __post_init__(self) -> None:
        self.promotions = PromotionRepository(self.database)
        self.lifecycle = LifecycleRepository(self.database)
        self.strength = StrengthRepository(self.database)
        self.ops = OpsQueries(self.database)

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
    model_sources: list[ModelSource] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Container:
    """The web side's objects. ``model_sources`` replaces the cache → registry chain, ``clock``
    the gameplay's time (tests)."""
    database = Database(settings.database_url)
    games = GameRepository(database)
    metrics = metrics or Metrics(settings.PROMETHEUS_MULTIPROC_DIR)
    sources = model_sources if model_sources is not None else default_model_sources(settings)
    models = ModelManager(sources, metrics)
    gameplay = GameplayService(
        games,
        models,
        metrics,
        ab_split=ab_split(settings),
        ab_enabled=settings.ENABLE_AB_TESTING,
        rng=rng,
        opening_rng=opening_rng,
        capture=inference_capture(
            settings.RPS_CAPTURE_INFERENCE_DIR, settings.RPS_CAPTURE_INFERENCE_SAMPLE_RATE
        ),
        decision=decision_config(settings),
        abandoned_after=settings.abandoned_after,
        clock=clock,
    )
    container = Container(settings, database, games, metrics, models, gameplay)
    metrics.set_lifecycle_source(
        lambda: lifecycle_snapshot(
            container.promotions,
            container.lifecycle,
            container.strength,
            container.ops,
            container.gameplay.scoring_version,
        )
    )
    return container


def close_abandoned(
    settings: Settings, *, now: datetime | None = None, dry_run: bool = False
) -> int:
    """Close the database's abandoned games (SPEC §1.2) with the configured limit; how many
    were closed (with ``dry_run``: would be). The scheduler's and `rps close-abandoned`'s path."""
    database = Database(settings.database_url)
    try:
        return close_abandoned_games(
            GameRepository(database), settings.abandoned_after, now=now, dry_run=dry_run
        )
    finally:
        database.dispose()


def decision_params(settings: Settings) -> DecisionParams:
    """The decision layer's parameters from the ``DECISION_*`` settings."""
    return DecisionParams(
        learning_rate=settings.DECISION_LEARNING_RATE,
        share=settings.DECISION_SHARE,
        uniform_prior=settings.DECISION_UNIFORM_PRIOR,
        uniform_learning_rate=settings.DECISION_UNIFORM_LEARNING_RATE,
        uniform_share=settings.DECISION_UNIFORM_SHARE,
        pseudo_count=settings.DECISION_PSEUDO_COUNT,
        decay=settings.DECISION_DECAY,
        model_learning_rate=settings.DECISION_MODEL_LEARNING_RATE,
        model_share=settings.DECISION_MODEL_SHARE,
        model_prior_floor=settings.DECISION_MODEL_PRIOR_FLOOR,
        model_prior_ceiling=settings.DECISION_MODEL_PRIOR_CEILING,
        model_prior_slope=settings.DECISION_MODEL_PRIOR_SLOPE,
        evidence_threshold=settings.DECISION_EVIDENCE_THRESHOLD,
        model_evidence_burden=settings.DECISION_MODEL_EVIDENCE_BURDEN,
        model_advantage_threshold=settings.DECISION_MODEL_ADVANTAGE_THRESHOLD,
        sample_margin=settings.DECISION_SAMPLE_MARGIN,
    )


def decision_config(settings: Settings) -> DecisionConfig:
    return DecisionConfig(decision_params(settings), FallbackMode(settings.FALLBACK))


def default_model_sources(settings: Settings) -> list[ModelSource]:
    """The serving cache first, then the registry (SPEC §6.1)."""
    from rps.bootstrap.model_sources import CacheSource, RegistrySource

    return [CacheSource.from_settings(settings), RegistrySource.from_settings(settings)]


def migrate_database(settings: Settings) -> tuple[str | None, str | None]:
    database = Database(settings.database_url)
    try:
        return migrate(database)
    finally:
        database.dispose()

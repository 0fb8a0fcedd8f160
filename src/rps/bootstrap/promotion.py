"""Wiring for promotion (SPEC §7): the registry, the cache publisher, the app reload and the
parity gate, around ``PromotionService``. Used by `rps promote`, `rps alias`, the scheduler and
`rps train-scheduled`."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import httpx

from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.domain.promotion import PromotionRule
from rps.persistence.database import Database
from rps.persistence.game_repository import GameRepository
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.persistence.promotion_repository import PromotionRepository
from rps.persistence.strength_repository import StrengthRepository
from rps.registry.mlflow_registry import MlflowRegistry
from rps.registry.serving_cache import sync_from_registry
from rps.services.promotion import ParityVerdict, PromotionConfig, PromotionService
from rps.serving.model_manager import FetchedModel, ModelManager, ModelUnavailableError
from rps.serving.parity import DEFAULT_TOLERANCE, ServedRound, load_histories, replay_rounds
from rps.settings import Settings, mask_secrets, mask_url

log = logging.getLogger(__name__)
PARITY_ROUNDS = 200  # the candidate's newest predictions replayed by the gate


class RegistryPublisher:
    """After alias moves: mirror the registry into the serving cache, then reload the app."""

    def __init__(self, settings: Settings, registry: MlflowRegistry) -> None:
        self._settings = settings
        self._registry = registry

    def sync_cache(self) -> str:
        from rps.bootstrap.model_sources import build_serving_cache

        # The cache holds exactly the aliased models (SPEC §6.3): runs that lost their last
        # alias go, after the new manifest is written.
        summary = sync_from_registry(
            self._registry, build_serving_cache(self._settings), clean=True
        )
        return f"serving cache at generation {summary.published.generation}"

    def reload_app(self) -> str:
        return reload_app(self._settings)


def reload_app(settings: Settings, timeout: float = 30.0) -> str:
    """``POST $APP_URL/models/reload`` with the admin token; raises with a clear message."""
    token = settings.admin_token()
    if not token:
        raise RuntimeError("no admin token (RPS_ADMIN_TOKEN or $DATA_PATH/admin-token)")
    url = settings.APP_URL.rstrip("/") + "/models/reload"
    try:
        response = httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise RuntimeError(
            mask_secrets(
                f"could not reach the app at {settings.APP_URL} ({exc}); it picks the new "
                f"cache up within MODEL_POLL_SECONDS ({settings.MODEL_POLL_SECONDS:g} s)"
            )
        ) from None
    if response.status_code != 200:
        raise RuntimeError(
            mask_secrets(f"{url} answered {response.status_code}: {response.text[:200]}")
        )
    return f"app at {mask_url(settings.APP_URL)} reloaded"


class _VersionSource:
    """One registered version, loaded from the registry, served under every alias asked for."""

    name = "registry-version"

    def __init__(self, fetched: FetchedModel, family: Family) -> None:
        self._fetched = fetched
        self._family = family

    def generation(self) -> int | None:
        return None

    def fetch(self, family: Family, alias: Alias) -> FetchedModel:
        if family is not self._family or alias is not Alias.PRODUCTION:
            raise ModelUnavailableError("no_model", "only one version is loaded")
        return self._fetched


class CacheParityGate:
    """Replay a version's newest stored predictions through the batch features and a fresh
    load of that version — from the serving cache, or from the registry when the cache no
    longer holds it (a rollback) — (SPEC §6.6); refuse differences > 1e-4."""

    def __init__(
        self, settings: Settings, database: Database, registry: MlflowRegistry | None = None
    ) -> None:
        self._settings = settings
        self._database = database
        self._registry = registry

    def _from_registry(self, family: Family, version: str) -> ModelManager | None:
        if self._registry is None:
            return None
        run_id = self._registry.version_run_id(REGISTERED_NAMES[family], version)
        if run_id is None:
            return None
        onnx, metadata = self._registry.serving_model(run_id)
        fetched = FetchedModel(onnx, version, run_id, hashlib.sha256(onnx).hexdigest(), metadata)
        manager = ModelManager([_VersionSource(fetched, family)])
        manager.reload()
        return manager

    def __call__(self, family: Family, version: str) -> ParityVerdict:
        from rps.bootstrap.model_sources import CacheSource

        repo = PromotionRepository(self._database)
        predictions = repo.recent_predictions(family.value, version, PARITY_ROUNDS)
        if not predictions:
            return ParityVerdict(False, f"v{version} has no stored predictions to replay")
        manager = ModelManager([CacheSource.from_settings(self._settings)])
        manager.reload()
        alias = next((a for a in Alias if manager.version_of(family, a) == version), None)
        if alias is None:
            loaded = self._from_registry(family, version)
            if loaded is None or loaded.version_of(family, Alias.PRODUCTION) != version:
                return ParityVerdict(
                    False, f"v{version} is neither in the serving cache nor in the registry"
                )
            manager, alias = loaded, Alias.PRODUCTION
        games = GameRepository(self._database)
        histories, _ = load_histories((g for g, _, _ in predictions), games.load)
        served = [
            ServedRound(
                game_id=game_id,
                round_no=round_no,
                family=family,
                alias=alias,
                version=version,
                probabilities=(probs[0], probs[1], probs[2]),
            )
            for game_id, round_no, probs in predictions
            if len(probs) == 3
        ]
        report = replay_rounds(served, histories, manager, DEFAULT_TOLERANCE)
        replayed = sum(r.replayed for r in report.rows)
        worst = max(
            (r.max_probability_diff for r in report.rows if r.max_probability_diff is not None),
            default=None,
        )
        if replayed == 0:
            return ParityVerdict(False, "no stored prediction could be replayed", 0, worst)
        if not report.ok:
            return ParityVerdict(
                False,
                f"replayed probabilities differ by up to {worst:.3g} (> {DEFAULT_TOLERANCE:g})",
                replayed,
                worst,
            )
        return ParityVerdict(
            True, f"{replayed} rounds replayed, max diff {worst or 0.0:.3g}", replayed, worst
        )


def promotion_config(settings: Settings) -> PromotionConfig:
    from rps.bootstrap import ab_split, decision_params

    return PromotionConfig(
        rule=PromotionRule(settings.PROMOTION_RULE),
        min_games=settings.PROMOTION_MIN_GAMES,
        min_predictions=settings.PROMOTION_MIN_PREDICTIONS,
        alpha=settings.PROMOTION_ALPHA,
        max_games=settings.PROMOTION_MAX_GAMES,
        production_share=ab_split(settings) if settings.ENABLE_AB_TESTING else None,
        sources=settings.promotion_sources,
        scoring_version=decision_params(settings).digest(),
    )


def abandonment_closer(settings: Settings, database: Database) -> Callable[[], int]:
    """Close the games quiet for longer than ABANDONED_AFTER_MINUTES (promotion runs it first,
    so its evidence counts every game that has ended)."""
    from rps.services.abandonment import close_abandoned_games

    return lambda: close_abandoned_games(GameRepository(database), settings.abandoned_after)


def gym_figures(database: Database) -> Callable[[Family, Sequence[str]], dict[str, float]]:
    """The newest holdout gym win rate of each version (training's or `rps evaluate`'s)."""
    strength = StrengthRepository(database)

    def figures(family: Family, versions: Sequence[str]) -> dict[str, float]:
        records = strength.latest((family.value, v) for v in versions)
        return {
            version: record.holdout_win_rate
            for (_, version), record in records.items()
            if record.holdout_win_rate is not None
        }

    return figures


@contextmanager
def promotion_service(
    settings: Settings, *, publish: bool = True, parity: bool = True
) -> Iterator[PromotionService]:
    """A ready ``PromotionService``; the database is released on exit."""
    from rps.bootstrap.model_sources import build_registry

    database = Database(settings.database_url)
    try:
        registry = build_registry(settings)
        yield PromotionService(
            PromotionRepository(database),
            LifecycleRepository(database),
            registry,
            RegistryPublisher(settings, registry) if publish else None,
            promotion_config(settings),
            parity=CacheParityGate(settings, database, registry) if parity else None,
            gym=gym_figures(database),
            lock=database.alias_lock.hold,
            close_abandoned=abandonment_closer(settings, database),
        )
    finally:
        database.dispose()

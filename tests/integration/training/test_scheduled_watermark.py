"""Scheduled training's watermark (SPEC §5 "Scheduled training"), on SQLite and PostgreSQL.

New rows are the usable labelled rounds stored after the newest round the last training saw,
never a difference of dataset sizes: the first human game switches on persona downsampling and
shrinks the dataset, and a row cap keeps it the same size, yet retraining still comes once
``MIN_NEW_ROWS_FOR_TRAINING`` rounds arrived. The runner is a fake (no model is trained) and the
registry stays empty, so every session that trains takes the config file's plan.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from rps.domain.personas import PersonaName
from rps.domain.policy import Alias, Family
from rps.features import MIN_LABEL_STEP
from rps.persistence.database import Database
from rps.persistence.game_repository import GameRepository
from rps.persistence.lifecycle_repository import LifecycleRepository, TrainingStatus
from rps.persistence.records import GameRecord, GameSource, RoundRecord
from rps.persistence.tables import rounds, training_runs
from rps.persistence.training_queries import fetch_training_rounds
from rps.registry.ports import AliasTarget
from rps.settings import PACKAGED_TRAINING_CONFIG
from rps.training.configs import PlannedModel, load_config
from rps.training.dataset import Dataset, load_dataset
from rps.training.runner import ModelOutcome
from rps.training.scheduling import SessionResult, Trigger, scheduled_training, train_session
from tests.golden.feature_vectors import play_persona_game

CONFIG = load_config(PACKAGED_TRAINING_CONFIG)
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
MIN_TOTAL = 100
MIN_NEW = 50


class EmptyRegistry:
    """No alias points anywhere: every training session trains the config file's plan."""

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None:
        return None


@dataclass
class FakeRunner:
    """Trains nothing: each planned model comes back ``registered``, ``rejected`` by the gate
    or ``failed``; remembers the size of every dataset it was given."""

    verdict: str = "registered"
    dataset_sizes: list[int] = field(default_factory=list)

    def run(
        self,
        dataset: Dataset,
        planned: Sequence[PlannedModel],
        **options: Any,  # warm starts, placement: nothing to place when nothing is trained
    ) -> list[ModelOutcome]:
        self.dataset_sizes.append(len(dataset))
        return [self._outcome(p, i) for i, p in enumerate(planned, start=1)]

    def _outcome(self, planned: PlannedModel, n: int) -> ModelOutcome:
        if self.verdict == "failed":
            return ModelOutcome(planned, error="RuntimeError: boom", seconds=1.0)
        if self.verdict == "rejected":
            return ModelOutcome(planned, run_id=f"r{n}", reason="rejected: gym", seconds=1.0)
        return ModelOutcome(planned, run_id=f"r{n}", version=str(n), accepted=True, seconds=1.0)


@dataclass
class Store:
    """Stores whole persona-played games the way the simulator does, a minute apart."""

    db: Database
    played: int = 0
    pairings: Any = field(
        default_factory=lambda: itertools.cycle(itertools.product(PersonaName, repeat=2))
    )

    def games(
        self,
        n: int,
        source: GameSource,
        *,
        is_test: bool = False,
        created_at: datetime | None = None,
    ) -> int:
        """Store ``n`` games; returns their labelled rounds (the new rows they bring)."""
        batch: list[tuple[GameRecord, list[RoundRecord]]] = []
        labelled = 0
        for _ in range(n):
            self.played += 1
            user, bot = next(self.pairings)
            game_id = f"g{self.played:04d}-{uuid.UUID(int=self.played).hex[:8]}"
            game = play_persona_game(game_id, user, bot, random.Random(self.played))
            at = created_at or T0 + timedelta(minutes=self.played)
            record = GameRecord(
                id=game_id,
                session_id=f"s-{self.played}",
                player_name="sim-cal-1" if source is not GameSource.HUMAN else "Ada",
                policy="brian",
                model_type="xgboost",
                bot_model_alias="Production",
                model_version=None,
                difficulty_mode="normal",
                is_test=is_test,
                opening_name=None,
                opening_seq=(),
                source=source,
                created_at=at,
                user_score=game.user_score,
                bot_score=game.bot_score,
                winner=game.winner,
                finished_at=at + timedelta(seconds=30),
                rounds_played=len(game.rounds),
            )
            played = [
                RoundRecord(
                    played=r, decision_source="opening", created_at=at + timedelta(seconds=i)
                )
                for i, r in enumerate(game.rounds)
            ]
            batch.append((record, played))
            labelled += max(0, len(game.rounds) - (MIN_LABEL_STEP - 1))  # steps 1, 2, ...
        GameRepository(self.db).add_played_games(batch)
        return labelled

    def until(self, rows: int, source: GameSource) -> int:
        """Store games one by one until they bring at least ``rows`` labelled rounds."""
        total = 0
        while total < rows:
            total += self.games(1, source)
        return total


def tick(
    db: Database,
    runner: FakeRunner,
    *,
    max_rows: int | None = None,
    since: datetime | None = None,
    min_total: int = MIN_TOTAL,
) -> SessionResult:
    """One run of ``rps train-scheduled`` against ``db``."""
    return scheduled_training(
        load_dataset=lambda: load_dataset(db, since=since, max_rows=max_rows),
        registry=EmptyRegistry(),
        runner=runner,  # type: ignore[arg-type]  # the runner's one method, faked
        lifecycle=LifecycleRepository(db),
        config=CONFIG,
        min_total_rows=min_total,
        min_new_rows=MIN_NEW,
        training_since=since,
    )


def newest_round_id(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.max(rounds.c.id))).scalar_one())


def watermarks(db: Database) -> list[tuple[str, int | None]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(training_runs.c.status, training_runs.c.watermark_round_id).order_by(
                training_runs.c.id
            )
        ).all()
    return [(r.status, r.watermark_round_id) for r in rows]


@pytest.fixture
def store(database: Database) -> Store:
    return Store(database)


def test_retraining_triggers_after_human_games_shrink_the_dataset_by_downsampling(
    database: Database, store: Store
) -> None:
    store.games(60, GameSource.PERSONA)
    runner = FakeRunner()
    first = tick(database, runner)
    assert first.status is TrainingStatus.SUCCEEDED
    assert watermarks(database) == [("succeeded", newest_round_id(database))]

    # The first human game: personas are now kept one in five, the dataset shrinks.
    human = store.games(1, GameSource.HUMAN)
    assert 0 < human < MIN_NEW
    waiting = tick(database, runner)
    assert waiting.status is TrainingStatus.SKIPPED
    assert MIN_TOTAL <= waiting.usable_rows < first.usable_rows
    assert waiting.new_rows == human
    assert f"{waiting.usable_rows} usable labelled rows (need {MIN_TOTAL})" in waiting.reason
    assert f"{human} new since the last training's watermark (need {MIN_NEW})" in waiting.reason

    more = store.until(MIN_NEW - human, GameSource.HUMAN)
    retrained = tick(database, runner)
    assert retrained.status is TrainingStatus.SUCCEEDED, retrained.reason
    assert retrained.new_rows == human + more
    assert retrained.usable_rows < first.usable_rows  # still smaller than the first dataset
    assert len(runner.dataset_sizes) == 2

    settled = tick(database, runner)
    assert (settled.status, settled.new_rows) == (TrainingStatus.SKIPPED, 0)


def test_a_row_cap_does_not_stall_retraining(database: Database, store: Store) -> None:
    cap = 120
    store.games(30, GameSource.PERSONA)
    runner = FakeRunner()
    assert tick(database, runner, max_rows=cap, min_total=50).status is TrainingStatus.SUCCEEDED

    few = store.games(1, GameSource.PERSONA)
    assert tick(database, runner, max_rows=cap, min_total=50).status is TrainingStatus.SKIPPED
    store.until(MIN_NEW - few, GameSource.PERSONA)
    capped = tick(database, runner, max_rows=cap, min_total=50)
    assert capped.status is TrainingStatus.SUCCEEDED, capped.reason
    assert capped.new_rows >= MIN_NEW
    assert max(runner.dataset_sizes) <= cap  # the dataset never grew, training came anyway
    assert len(runner.dataset_sizes) == 2


def test_rounds_training_cannot_use_are_never_new(database: Database, store: Store) -> None:
    since = T0 + timedelta(days=1)
    store.games(3, GameSource.HUMAN, created_at=since - timedelta(hours=1))  # before the date
    store.games(2, GameSource.HUMAN, is_test=True, created_at=since + timedelta(hours=1))
    usable = store.games(4, GameSource.HUMAN, created_at=since + timedelta(hours=2))
    store.games(20, GameSource.PERSONA, created_at=since + timedelta(hours=3))
    lifecycle = LifecycleRepository(database)

    # The count agrees with what the dataset loader reads, before any downsampling.
    fetched = fetch_training_rounds(database, since=since)
    everything = lifecycle.labelled_rounds_after(None, since=since, min_label_step=MIN_LABEL_STEP)
    assert everything == int((fetched.step_no >= MIN_LABEL_STEP).sum())
    assert everything >= usable > 0

    runner = FakeRunner()
    assert tick(database, runner, since=since, min_total=50).status is TrainingStatus.SUCCEEDED
    # Stored after the watermark, but a test game and a game from before the date.
    store.games(6, GameSource.HUMAN, is_test=True, created_at=since + timedelta(hours=4))
    store.games(6, GameSource.HUMAN, created_at=since - timedelta(hours=2))
    late = tick(database, runner, since=since, min_total=50)
    assert (late.status, late.new_rows) == (TrainingStatus.SKIPPED, 0)


def test_only_a_session_that_trained_moves_the_watermark(database: Database, store: Store) -> None:
    store.games(40, GameSource.PERSONA)
    newest = newest_round_id(database)

    failed = tick(database, FakeRunner("failed"))
    assert failed.status is TrainingStatus.FAILED
    retried = tick(database, FakeRunner())  # nothing new, but no session trained yet
    assert retried.status is TrainingStatus.SUCCEEDED
    assert tick(database, FakeRunner()).status is TrainingStatus.SKIPPED

    store.until(MIN_NEW, GameSource.PERSONA)
    refused = tick(database, FakeRunner("rejected"))
    assert refused.status is TrainingStatus.REJECTED
    assert not refused.failed
    # The gate refused every model on these rounds: retraining them at once would be refused
    # again, so the refused session's watermark holds like a successful one's.
    after_refusal = tick(database, FakeRunner())
    assert (after_refusal.status, after_refusal.new_rows) == (TrainingStatus.SKIPPED, 0)
    assert watermarks(database) == [
        ("failed", None),
        ("succeeded", newest),
        ("skipped", None),
        ("rejected", newest_round_id(database)),
        ("skipped", None),
    ]


def test_a_session_that_trained_without_a_watermark_counts_every_round_as_new(
    database: Database, store: Store
) -> None:
    labelled = store.games(40, GameSource.PERSONA)
    assert tick(database, FakeRunner()).status is TrainingStatus.SUCCEEDED
    with database.write() as conn:
        conn.execute(sa.update(training_runs).values(watermark_round_id=None, watermark_at=None))

    again = tick(database, FakeRunner())

    assert again.new_rows == labelled
    assert again.status is TrainingStatus.SUCCEEDED


def test_a_manual_capped_training_sets_the_watermark_the_scheduler_counts_from(
    database: Database, store: Store
) -> None:
    # What `rps up` does on an empty platform: a bootstrap training on a few rows only.
    store.games(40, GameSource.PERSONA)
    bootstrap: Callable[[], Dataset] = lambda: load_dataset(database, max_rows=60)  # noqa: E731
    session = train_session(
        trigger=Trigger.BOOTSTRAP,
        load_dataset=bootstrap,
        runner=FakeRunner(),  # type: ignore[arg-type]  # the runner's one method, faked
        lifecycle=LifecycleRepository(database),
        planned=[],
    )
    assert session.status is TrainingStatus.SUCCEEDED
    assert watermarks(database) == [("succeeded", newest_round_id(database))]

    assert tick(database, FakeRunner()).status is TrainingStatus.SKIPPED
    store.until(MIN_NEW, GameSource.PERSONA)
    assert tick(database, FakeRunner()).status is TrainingStatus.SUCCEEDED

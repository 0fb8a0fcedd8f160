"""The lifecycle as a loop (SPEC §5, §7): an in-process clock drives gym gameplay, scheduled
training, promotion and reloads through simulated days, on SQLite and on PostgreSQL.

The games are real (the server's decision code, the gym's training part as players, every alias
of the family scored every model round); the models are prepared behaviours behind the predictor
port, so strength differences are known in advance:

- ``good`` versions predict uniformly (the decision layer alone: a solid bot);
- the injected strong challenger puts 0.9 on the move the player is about to make;
- the injected weak challenger puts 0.9 on the move that beats it (the worst advice there is;
  the decision layer stops listening within a few rounds).

Training is a fast fake that registers prepared ``good`` versions through the real scheduled
training path (watermark, champion/challenger placement, lock); promotion is the real service on
the real database. The test checks the story the ledger tells.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from rps.domain.decision import DEFAULT_PARAMS
from rps.domain.gym import training_population
from rps.domain.move import Move, beater
from rps.domain.policy import REGISTERED_NAMES, Alias, Family, Probabilities
from rps.observability.metrics import Metrics
from rps.persistence.database import Database
from rps.persistence.game_repository import GameRepository
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.persistence.ops_queries import OpsQueries
from rps.persistence.promotion_repository import PromotionRepository
from rps.persistence.strength_repository import StrengthRecord, StrengthRepository
from rps.persistence.tables import utcnow
from rps.registry.ports import AliasTarget
from rps.services.abandonment import close_abandoned_games
from rps.services.gameplay import GameplayService
from rps.services.lifecycle_metrics import lifecycle_snapshot
from rps.services.promotion import PromotionConfig, PromotionService
from rps.services.simulation import InProcessSimulator
from rps.serving.predictor import ModelAnswer, ModelUnavailable
from rps.training.configs import parse_config
from rps.training.dataset import load_dataset
from rps.training.runner import ModelOutcome, Placement, TrainingRunner
from rps.training.scheduling import scheduled_training
from tests.integration.training.conftest import tiny_config

XGB = Family.XGBOOST
NAME = REGISTERED_NAMES[XGB]
P, B, S1, S2 = Alias.PRODUCTION, Alias.B, Alias.SHADOW1, Alias.SHADOW2
SCORING = DEFAULT_PARAMS.digest()
GOOD, STRONG, WEAK = "good", "strong", "weak"
GYM = {GOOD: 0.85, STRONG: 0.97, WEAK: 0.80}  # each behaviour's offline holdout figure
GAMES_PER_HOUR = 24
# PROMOTION_MAX_GAMES: an undecided test ends after B's 200th game. Both bots win most games
# (the decision layer is strong on its own), so telling 92% from 99% takes well over 100 games.
MAX_GAMES = 200


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Oracle:
    """The user's next move, set just before the bot decides (only prepared models read it)."""

    next_move: Move = Move.ROCK


class SimRegistry:
    """Registered versions (each with a prepared behaviour) and the four aliases, in memory.

    ``moves`` logs every alias move with the thread that made it, so the test can check that
    a trainer and a promoter never interleave."""

    def __init__(self) -> None:
        self.behaviour: dict[str, str] = {}
        self.by_name: dict[str, dict[Alias, str]] = {n: {} for n in REGISTERED_NAMES.values()}
        self.moves: list[tuple[str, Alias, str | None]] = []
        self.names: dict[str, str] = {}  # version → registered name
        self.slow = 0.0

    @property
    def aliases(self) -> dict[Alias, str]:
        """XGBoost's aliases (the family the simulation plays)."""
        return self.by_name[NAME]

    def add_version(self, behaviour: str, registered_name: str = NAME) -> str:
        version = str(len(self.behaviour) + 1)
        self.behaviour[version] = behaviour
        self.names[version] = registered_name
        return version

    # -- the registry port -----------------------------------------------------------------------

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None:
        name = REGISTERED_NAMES[family]
        version = self.by_name[name].get(alias)
        if version is None:
            return None
        return AliasTarget(family, alias, name, version, f"run-{version}")

    def set_alias(self, registered_name: str, alias: Alias, version: str) -> None:
        assert version in self.behaviour, version
        if registered_name == NAME:
            self.moves.append((threading.current_thread().name, alias, version))
            time.sleep(self.slow)
        self.by_name[registered_name][alias] = version

    def delete_alias(self, registered_name: str, alias: Alias) -> None:
        if registered_name == NAME:
            self.moves.append((threading.current_thread().name, alias, None))
        self.by_name[registered_name].pop(alias, None)

    def version_run_id(self, registered_name: str, version: str) -> str | None:
        return f"run-{version}" if version in self.behaviour else None

    def register(self, run_id: str, registered_name: str) -> str:
        return run_id.removeprefix("run-")

    def run_config(self, run_id: str) -> dict[str, Any]:
        name = self.names[run_id.removeprefix("run-")]
        family = next(f for f, n in REGISTERED_NAMES.items() if n == name)
        section = next(m for m in tiny_config()["models"] if m["model_type"] == family.value)
        entry = section["configs"][0]
        return {"config_id": entry["id"], "hyperparameters": entry["hyperparameters"]}

    def native_model(self, run_id: str) -> bytes:
        raise RuntimeError("prepared versions have no native model (cold start)")


class PreparedModels:
    """The predictor port: each alias answers with its current version's behaviour. Like the
    app, it serves what it loaded at the last reload, not the registry's live state."""

    def __init__(self, registry: SimRegistry, oracle: type[Oracle]) -> None:
        self._registry = registry
        self._oracle = oracle
        self._loaded: dict[Alias, str] = {}
        self.reloads = 0

    def reload(self) -> None:
        self._loaded = dict(self._registry.aliases)
        self.reloads += 1

    def version_of(self, family: Family, alias: Alias) -> str | None:
        return self._loaded.get(alias) if family is XGB else None

    def val_log_loss(self, family: Family, alias: Alias) -> float | None:
        return 0.95 if self.version_of(family, alias) else None

    def predict(
        self, family: Family, alias: Alias, features: np.ndarray
    ) -> ModelAnswer | ModelUnavailable:
        version = self.version_of(family, alias)
        if version is None:
            return ModelUnavailable("no_model")
        behaviour = self._registry.behaviour[version]
        if behaviour == GOOD:
            return ModelAnswer((1 / 3, 1 / 3, 1 / 3), version, f"run-{version}", 0.95)
        target = self._oracle.next_move
        if behaviour == WEAK:
            target = beater(target)
        probabilities: Probabilities = tuple(  # type: ignore[assignment]
            0.9 if move is target else 0.05 for move in Move
        )
        return ModelAnswer(probabilities, version, f"run-{version}", 0.95)


class Publisher:
    def __init__(self, models: PreparedModels) -> None:
        self._models = models

    def sync_cache(self) -> str:
        return "synced"

    def reload_app(self) -> str:
        self._models.reload()
        return "reloaded"


@dataclass
class PreparedOutcome(ModelOutcome):
    gym: float | None = None

    def gym_win_rate(self, part: Any = None) -> float | None:
        return self.gym


class FakeTrainer(TrainingRunner):
    """Training in no time: each planned model becomes a new ``good`` version, gated and with
    its gym figure stored; placement, lock and assignments are the real runner's."""

    def __init__(
        self,
        registry: SimRegistry,
        lifecycle: LifecycleRepository,
        gym: float = GYM[GOOD],
        **kw: Any,
    ) -> None:
        super().__init__(registry, lifecycle, assigned_by="rps train-scheduled", **kw)  # type: ignore[arg-type]
        self.sim = registry
        self.gym = gym
        self.trained = 0

    def _one(self, dataset: Any, planned: Any, warm: Any, placement: Any = None) -> ModelOutcome:
        version = self.sim.add_version(GOOD, planned.registered_name)
        self.trained += 1
        outcome = PreparedOutcome(
            planned, run_id=f"run-{version}", accepted=True, reason="passed", gym=self.gym
        )
        outcome.version = version
        assert self._strength_store is not None
        self._strength_store.add(strength_row(version, self.gym))
        with self._lock():
            direct = self._direct_alias(planned, placement or Placement.CHALLENGER)
            if direct is not None:
                self._move_alias(outcome, direct)
        return outcome


def strength_row(version: str, rate: float) -> StrengthRecord:
    return StrengthRecord(
        model_type=XGB.value,
        version=version,
        run_id=f"run-{version}",
        source="training",
        games_per_opponent=20,
        seed=1,
        scoring_version=SCORING,
        holdout_win_rate=rate,
        training_win_rate=rate,
        overall_win_rate=rate,
        holdout_margin=0.3,
        layer_holdout_win_rate=0.85,
        greedy_holdout_win_rate=0.63,
        gate_passed=True,
    )


@dataclass
class Loop:
    db: Database
    clock: Clock
    registry: SimRegistry
    models: PreparedModels
    gameplay: GameplayService
    rng: random.Random
    counters: list[dict[tuple[str, str], int]] = field(default_factory=list)
    trained_gym: float = GYM[GOOD]  # the fake trainer's candidates' holdout figure
    b_windows: list[tuple[datetime, str]] = field(default_factory=list)

    @property
    def lifecycle(self) -> LifecycleRepository:
        return LifecycleRepository(self.db)

    @property
    def ledger(self) -> PromotionRepository:
        return PromotionRepository(self.db)

    def promotion(self) -> PromotionService:
        games = GameRepository(self.db)
        strength = StrengthRepository(self.db)

        def gym(family: Family, versions: Sequence[str]) -> dict[str, float]:
            records = strength.latest((family.value, v) for v in versions)
            return {v: r.holdout_win_rate for (_, v), r in records.items() if r.holdout_win_rate}

        return PromotionService(
            self.ledger,
            self.lifecycle,
            self.registry,
            Publisher(self.models),
            PromotionConfig(
                min_games=3,
                min_predictions=50,
                max_games=MAX_GAMES,
                production_share={XGB: 0.5},
                scoring_version=SCORING,
            ),
            parity=None,
            gym=gym,
            lock=self.db.alias_lock.hold,
            close_abandoned=lambda: close_abandoned_games(
                games, timedelta(minutes=30), now=self.clock()
            ),
            clock=self.clock,
        )

    def trainer(self) -> FakeTrainer:
        return FakeTrainer(
            self.registry,
            self.lifecycle,
            gym=self.trained_gym,
            strength_store=StrengthRepository(self.db),
            lock=self.db.alias_lock.hold,
            clock=self.clock,
        )

    def play(self, games: int) -> None:
        population = training_population()
        simulator = InProcessSimulator(self.gameplay, GameRepository(self.db), self.rng)

        class Peeking:
            def __init__(self, inner: Any) -> None:
                self.inner = inner
                self.name = inner.name
                self.is_persona = inner.is_persona

            def player(self, rng: random.Random) -> Any:
                play = self.inner.player(rng)

                def move(view: Any) -> Move:
                    chosen = play(view)
                    Oracle.next_move = chosen
                    return chosen

                return move

        plan_ = [(Peeking(self.rng.choice(population)), "forrest") for _ in range(games)]
        simulator.run(plan_)  # type: ignore[arg-type]

    def train(self) -> Any:
        result = scheduled_training(
            load_dataset=lambda: load_dataset(self.db),
            registry=self.registry,  # type: ignore[arg-type]
            runner=self.trainer(),
            lifecycle=self.lifecycle,
            config=parse_config(tiny_config()),
            min_total_rows=300,
            min_new_rows=50,
        )
        self.models.reload()  # the app's cache poll picks up the new shadows
        return result

    def scrape(self) -> None:
        snapshot = lifecycle_snapshot(
            self.ledger,
            self.lifecycle,
            StrengthRepository(self.db),
            OpsQueries(self.db),
            SCORING,
        )
        self.counters.append(dict(snapshot.training_completed))

    def hour(self, *, train: bool) -> None:
        """One simulated hour: games, promotion every 10 minutes of it, training at its end."""
        for _ in range(6):
            self.play(GAMES_PER_HOUR // 6 + 1)
            self.clock.advance(timedelta(minutes=10))
            self.promotion().run([XGB], source="rps-promoter")
        if train:
            self.train()
        self.scrape()
        assigned = self.ledger.current_assignments(XGB.value).get(B.value)
        if assigned is not None:
            self.b_windows.append((assigned.assigned_at, assigned.version))


@pytest.fixture
def loop(database: Database) -> Loop:
    clock = Clock(utcnow().replace(microsecond=0) - timedelta(days=7))
    registry = SimRegistry()
    models = PreparedModels(registry, Oracle)
    strength = StrengthRepository(database)
    lifecycle = LifecycleRepository(database)
    for alias in Alias:
        version = registry.add_version(GOOD)
        registry.aliases[alias] = version
        strength.add(strength_row(version, GYM[GOOD]))
        lifecycle.record_assignment(
            model_type=XGB.value,
            alias=alias.value,
            version=version,
            run_id=f"run-{version}",
            previous_version=None,
            assigned_by="rps train",
            assigned_at=clock(),
        )
    models.reload()
    gameplay = GameplayService(
        GameRepository(database),
        models,  # type: ignore[arg-type]
        Metrics(None),
        ab_split={XGB: 0.5},
        rng=random.Random(5),
        opening_rng=random.Random(6),
        clock=clock,
    )
    return Loop(database, clock, registry, models, gameplay, random.Random(11))


def _story(loop: Loop) -> list[tuple[str, str | None, str | None]]:
    events = sorted(loop.ledger.events(limit=0), key=lambda e: e.created_at)
    return [(e.decision, e.production_version, e.b_version) for e in events if e.applied]


def test_a_stronger_challenger_reaches_b_then_production_and_a_weaker_one_never_does(
    loop: Loop,
) -> None:
    promotion = loop.promotion()
    # Day 0: a strong challenger and a weak one are set by hand into the shadows.
    strong = loop.registry.add_version(STRONG)
    weak = loop.registry.add_version(WEAK)
    StrengthRepository(loop.db).add(strength_row(strong, GYM[STRONG]))
    StrengthRepository(loop.db).add(strength_row(weak, GYM[WEAK]))
    promotion.set_alias(XGB, S1, strong, by="rps alias set")
    loop.clock.advance(timedelta(minutes=1))
    promotion.set_alias(XGB, S2, weak, by="rps alias set")
    assert loop.models.version_of(XGB, S1) == strong

    reached_b = reached_production = None
    for hour in range(30):
        loop.hour(train=hour % 6 == 5)
        held = loop.registry.aliases
        if reached_b is None and held.get(B) == strong:
            reached_b = hour
        if held.get(P) == strong:
            reached_production = hour
            break
        assert weak not in (held.get(P), held.get(B)), f"the weak challenger moved up at {hour}"
    assert reached_b is not None, _story(loop)
    assert reached_production is not None, _story(loop)
    assert weak not in (loop.registry.aliases.get(P), loop.registry.aliases.get(B))

    events = sorted(loop.ledger.events(limit=0), key=lambda e: e.created_at)
    applied = [e for e in events if e.applied]
    decisions = [e.decision for e in applied]
    # The first test (two equally good versions) ran out of games; the strong shadow then took
    # B, won its test and became Production. The weak one lost its shadow to a retrained
    # version (training keeps the two strongest shadows) and never came near B.
    to_b = decisions.index("challenger_to_b")
    swap = decisions.index("swap_production_b")
    assert to_b < swap
    exhausted = applied[to_b]
    assert (exhausted.details or {})["test_outcome"] == "test_exhausted"
    assert exhausted.b_games is not None
    assert exhausted.b_games >= MAX_GAMES
    assert (exhausted.assignments_after or {})["B"] == strong
    swap_row = applied[swap]
    assert swap_row.b_version == strong
    assert (swap_row.assignments_after or {})["Production"] == strong
    assert swap_row.rule == "sequential"
    assert swap_row.sequential_p_value is not None
    assert swap_row.sequential_p_value <= 0.05
    assert swap_row.b_wins is not None
    assert swap_row.b_games is not None
    assert swap_row.production_wins is not None
    assert swap_row.production_games is not None
    assert swap_row.b_wins * swap_row.production_games > (
        swap_row.production_wins * swap_row.b_games
    )
    assert weak not in loop.registry.aliases.values()
    shadow_moves = loop.lifecycle.assignments(model_type=XGB.value, alias=S2.value, limit=50)
    assert any(m.assigned_by == "rps train-scheduled" for m in shadow_moves)
    details = swap_row.details or {}
    assert details["sources"]["by_arm"]["B"]  # per-source breakdown of B's games
    # Training ran (shadows only) and its counters never decreased.
    assert any(c for c in loop.counters)
    for before, after in zip(loop.counters, loop.counters[1:], strict=False):
        for key, value in before.items():
            assert after.get(key, 0) >= value, (key, before, after)


def test_retraining_never_resets_a_running_test(loop: Loop) -> None:
    loop.trained_gym = 0.9  # every candidate beats the serving versions offline
    loop.play(40)  # enough rows for training; the A/B test is running
    window = loop.ledger.current_assignments(XGB.value)
    production, b = window[P.value], window[B.value]
    for _ in range(3):
        loop.play(10)
        loop.clock.advance(timedelta(hours=1))
        result = loop.train()
        assert result.status.value in ("succeeded", "rejected"), result.reason
    after = loop.ledger.current_assignments(XGB.value)
    assert (after[P.value].version, after[P.value].assigned_at) == (
        production.version,
        production.assigned_at,
    )
    assert (after[B.value].version, after[B.value].assigned_at) == (b.version, b.assigned_at)
    # Stronger versions were registered and took the shadows; Production and B never moved.
    moved = {alias for _, alias, _ in loop.registry.moves}
    assert moved == {S1, S2}


def test_a_trainer_and_a_promoter_started_together_do_not_interleave(loop: Loop) -> None:
    loop.trained_gym = 0.9  # the trainer's candidates take the shadows
    loop.play(40)
    # B lost: the promoter's run moves B and the shadows; the trainer places new shadows.
    loop.registry.slow = 0.02
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(name: str, work: Any) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    # A promotion decision that moves several aliases: make B's arm lose outright.
    promotion = loop.promotion()
    original = promotion._repo.version_games

    def rigged(model_type: str, alias: str, version: str, since: Any, **kw: Any) -> Any:
        got = original(model_type, alias, version, since, **kw)
        if alias == B.value:
            return type(got)(games=MAX_GAMES, bot_wins=0, **_extra(got))
        return type(got)(games=MAX_GAMES, bot_wins=MAX_GAMES, **_extra(got))

    promotion._repo.version_games = rigged  # type: ignore[method-assign]
    trainer = threading.Thread(target=run, args=("trainer", loop.train), name="trainer")
    promoter = threading.Thread(
        target=run, args=("promoter", lambda: promotion.run([XGB])), name="promoter"
    )
    trainer.start()
    promoter.start()
    trainer.join(60)
    promoter.join(60)
    assert not errors, errors
    threads = [name for name, _, _ in loop.registry.moves]
    assert "promoter" in threads, loop.registry.moves
    assert "trainer" in threads, loop.registry.moves
    # Each lock holder's moves are contiguous: at most one switch between the two threads
    # per placement section (the trainer places once; the promoter moves once).
    switches = sum(1 for a, b in itertools.pairwise(threads) if a != b)
    assert switches <= 2, threads


def _extra(got: Any) -> dict[str, Any]:
    fields = getattr(got, "__dataclass_fields__", {})
    return {k: getattr(got, k) for k in fields if k not in ("games", "bot_wins")}


def test_the_ledger_rows_are_json_and_name_every_alias(loop: Loop) -> None:
    loop.play(30)
    loop.clock.advance(timedelta(minutes=10))
    loop.promotion().run([XGB])
    (row,) = loop.ledger.events(limit=0)
    json.dumps(row.to_json())
    assert set(row.assignments_before or {}) == {a.value for a in Alias}

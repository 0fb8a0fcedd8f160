"""PromotionService on SQLite and on a real PostgreSQL (SPEC §7).

The database holds hand-made histories (games, their rounds, alias predictions, alias
assignments) written with SQLAlchemy Core; the model registry and the cache publisher are small
in-memory fakes, so each test can say exactly which aliases moved and what was published.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.domain.promotion import (
    PromotionRule,
    sample_ratio_mismatch_p,
    sequential_test,
    two_proportion_z,
)
from rps.persistence.database import Database
from rps.persistence.lifecycle_repository import Assignment, LifecycleRepository
from rps.persistence.promotion_repository import LedgerEvent, PromotionRepository
from rps.persistence.tables import alias_predictions, games, rounds, utcnow
from rps.registry.ports import AliasTarget
from rps.services.promotion import (
    FamilyOutcome,
    ParityCheck,
    ParityRefused,
    ParityVerdict,
    PromotionConfig,
    PromotionService,
)
from tests.support.rows import round_row

XGB = Family.XGBOOST
NAME = REGISTERED_NAMES[XGB]
P, B, S1, S2 = Alias.PRODUCTION, Alias.B, Alias.SHADOW1, Alias.SHADOW2
START = {P: "1", B: "2", S1: "3", S2: "4"}
REGISTERED = ("1", "2", "3", "4", "5", "6")
SCORING = "layer-sv1"  # the decision layer's digest the service ranks margins of
# The aliases took their versions ten days ago; the games below are played after that.
T0 = utcnow().replace(microsecond=0) - timedelta(days=10)
_ids = itertools.count()


# -- fakes -----------------------------------------------------------------------------------------


def run_id_of(registered_name: str, version: str) -> str:
    return f"run-{registered_name}-v{version}"


class FakeRegistry:
    """The registry's aliases and registered versions, in dicts."""

    def __init__(self) -> None:
        self.aliases: dict[tuple[str, Alias], str] = {}
        self.versions: dict[str, set[str]] = {name: set() for name in REGISTERED_NAMES.values()}
        self.set_calls: list[tuple[str, Alias, str]] = []
        self.deleted: list[tuple[str, Alias]] = []

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None:
        name = REGISTERED_NAMES[family]
        version = self.aliases.get((name, alias))
        if version is None:
            return None
        return AliasTarget(family, alias, name, version, run_id_of(name, version))

    def set_alias(self, registered_name: str, alias: Alias, version: str) -> None:
        assert version in self.versions[registered_name], f"{registered_name} has no v{version}"
        self.set_calls.append((registered_name, alias, version))
        self.aliases[(registered_name, alias)] = version

    def delete_alias(self, registered_name: str, alias: Alias) -> None:
        self.deleted.append((registered_name, alias))
        self.aliases.pop((registered_name, alias), None)

    def version_run_id(self, registered_name: str, version: str) -> str | None:
        if version not in self.versions[registered_name]:
            return None
        return run_id_of(registered_name, version)

    def held(self, family: Family = XGB) -> dict[Alias, str | None]:
        name = REGISTERED_NAMES[family]
        return {alias: self.aliases.get((name, alias)) for alias in Alias}


@dataclass
class RecordingPublisher:
    """Records each call; ``sync_error`` makes the cache sync fail."""

    sync_error: Exception | None = None
    calls: list[str] = field(default_factory=list)

    def sync_cache(self) -> str:
        self.calls.append("sync_cache")
        if self.sync_error is not None:
            raise self.sync_error
        return "serving cache at generation 2"

    def reload_app(self) -> str:
        self.calls.append("reload_app")
        return "app reloaded"


# -- the world: a database, a registry with XGBoost's four aliases, their assignments -------------


@dataclass
class World:
    db: Database
    registry: FakeRegistry
    publisher: RecordingPublisher
    host_games: dict[str, str] = field(default_factory=dict)
    predicted: dict[str, int] = field(default_factory=dict)  # rows hung on each host game
    played: int = 0  # games stored so far; each starts a minute after the previous one

    @property
    def repo(self) -> PromotionRepository:
        return PromotionRepository(self.db)

    @property
    def lifecycle(self) -> LifecycleRepository:
        return LifecycleRepository(self.db)

    def service(
        self,
        *,
        rule: PromotionRule = PromotionRule.WINRATE,
        min_games: int = 3,
        min_predictions: int = 50,
        production_share: dict[Family, float] | None = None,
        parity: ParityCheck | None = None,
        publisher: RecordingPublisher | None = None,
        gym: dict[str, float] | None = None,
        max_games: int | None = 500,
    ) -> PromotionService:
        return PromotionService(
            self.repo,
            self.lifecycle,
            self.registry,
            publisher or self.publisher,
            PromotionConfig(
                rule=rule,
                min_games=min_games,
                min_predictions=min_predictions,
                max_games=max_games,
                production_share=production_share,
                scoring_version=SCORING,
            ),
            parity=parity,
            gym=(lambda family, versions: {v: gym[v] for v in versions if v in gym})
            if gym
            else None,
        )

    def assign(self, alias: Alias, version: str, at: datetime, previous: str | None = None) -> None:
        """An alias move recorded the way the trainer records one (registry + history)."""
        self.registry.aliases[(NAME, alias)] = version
        self.lifecycle.record_assignment(
            model_type=XGB.value,
            alias=alias.value,
            version=version,
            run_id=run_id_of(NAME, version),
            previous_version=previous,
            assigned_by="rps train",
            assigned_at=at,
        )

    def game(
        self,
        alias: Alias,
        winner: str | None,
        *,
        version: str | None = None,
        is_test: bool = False,
        created_at: datetime | None = None,
        model_rounds: Iterable[tuple[str, str | None]] = (),
    ) -> str:
        """A game of XGBoost's ``alias`` (at the version it holds) with the given winner.

        Three opening rounds are stored, then one round per ``(decision_source, model_version)``.
        """
        game_id = f"game-{next(_ids):06d}"
        self.played += 1
        created = created_at or T0 + timedelta(minutes=self.played)
        version = version or START[alias]
        played = [("opening", None)] * 3 + list(model_rounds)
        with self.db.write() as conn:
            conn.execute(
                insert(games),
                {
                    "id": game_id,
                    "session_id": "session-1",
                    "player_name": "Ann",
                    "policy": "forrest",
                    "model_type": XGB.value,
                    "bot_model_alias": alias.value,
                    "model_version": version,
                    "difficulty_mode": "normal",
                    "is_test": is_test,
                    "user_score": 10.0 if winner == "user" else 5.0,
                    "bot_score": 10.0 if winner == "bot" else 5.0,
                    "winner": winner,
                    "created_at": created,
                    "finished_at": created + timedelta(minutes=5) if winner else None,
                    "source": "human",
                    "rounds_played": len(played),
                },
            )
            for step, (source, model_version) in enumerate(played, 1):
                conn.execute(
                    insert(rounds),
                    round_row(
                        game_id,
                        step,
                        decision_source=source,
                        model_alias=alias.value if source == "model" else None,
                        model_version=model_version,
                        created_at=created + timedelta(seconds=step),
                    ),
                )
        return game_id

    def games(self, alias: Alias, outcomes: str, **kwargs: Any) -> None:
        """One finished game per letter: W = the bot won, L = the user won, T = a tie. Each
        has one model round by the alias's version unless ``model_rounds`` says otherwise
        (only games with a model round are evidence)."""
        winners = {"W": "bot", "L": "user", "T": "tie"}
        kwargs.setdefault("model_rounds", [("model", kwargs.get("version") or START[alias])])
        for letter in outcomes:
            self.game(alias, winners[letter], **kwargs)

    def predictions(
        self,
        version: str,
        total: int,
        correct: int,
        alias: Alias = S1,
        margin: float | None = None,
        scoring_version: str = SCORING,
    ) -> None:
        """``total`` predictions of XGBoost ``version``, ``correct`` of them right, each with a
        counterfactual ``margin`` scored by ``scoring_version`` when given.

        They hang on an unfinished game created before the window, so they change no game count.
        """
        host = self.host_games.get(version)
        if host is None:
            host = self.game(alias, None, version=version, created_at=T0 - timedelta(days=1))
            self.host_games[version] = host
        rows = [
            {
                "game_id": host,
                "step_no": 4 + i,
                "model_type": XGB.value,
                "alias": alias.value,
                "model_version": version,
                "predicted_move": "rock",
                "probabilities": json.dumps([0.6, 0.2, 0.2]),
                "correct": i < correct,
                "counterfactual_result": "win",
                "counterfactual_margin": margin,
                "scoring_version": scoring_version if margin is not None else None,
                "created_at": T0 + timedelta(minutes=i),
            }
            for i in range(total)
        ]
        offset = self.predicted.get(host, 0)
        for row in rows:
            row["step_no"] = int(row["step_no"]) + offset
        self.predicted[host] = offset + total
        with self.db.write() as conn:
            conn.execute(insert(alias_predictions), rows)

    def ledger(self) -> list[LedgerEvent]:
        return self.repo.events(limit=0)

    def moves_recorded(self) -> list[Assignment]:
        """Alias moves recorded after the initial assignments, oldest first."""
        rows = self.lifecycle.assignments(model_type=XGB.value, limit=1000)
        return [a for a in reversed(rows) if a.assigned_by != "rps train"]


@pytest.fixture
def world(database: Database) -> World:
    registry = FakeRegistry()
    registry.versions[NAME].update(REGISTERED)
    built = World(database, registry, RecordingPublisher())
    for alias, version in START.items():
        built.assign(alias, version, T0)
    return built


def only(outcomes: list[FamilyOutcome]) -> FamilyOutcome:
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


def b_beats_production(world: World) -> None:
    """Production won 1 of 3 games, B all 3."""
    world.games(P, "WLL")
    world.games(B, "WWW")


# -- Production vs B -------------------------------------------------------------------------------


def test_too_few_games_write_an_insufficient_data_row_and_move_nothing(world: World) -> None:
    world.games(P, "WW")
    world.games(B, "WWW")

    outcome = only(world.service().run([XGB]))

    assert outcome.decision == "insufficient_data"
    assert not outcome.applied
    assert outcome.moves == {}
    assert "at least 3 games per arm" in outcome.reason
    assert world.registry.held() == START
    assert world.registry.set_calls == []
    assert world.moves_recorded() == []
    assert world.publisher.calls == []
    (row,) = world.ledger()
    assert row == outcome.event
    assert (row.decision, row.applied) == ("insufficient_data", False)
    assert (row.production_wins, row.production_games, row.b_wins, row.b_games) == (2, 2, 3, 3)


def test_b_with_the_higher_win_rate_swaps_with_production(world: World) -> None:
    b_beats_production(world)
    world.game(B, None)  # started, not finished: counts for the A/B split, not the win rate

    outcome = only(world.service(production_share={XGB: 0.5}).run([XGB]))

    assert outcome.decision == "swap_production_b"
    assert outcome.applied
    assert outcome.problems == []
    assert outcome.moves == {"Production": ("1", "2"), "B": ("2", "1")}
    assert world.registry.held() == {P: "2", B: "1", S1: "3", S2: "4"}
    moved = world.moves_recorded()
    assert [(m.alias, m.previous_version, m.version, m.run_id) for m in moved] == [
        ("Production", "1", "2", run_id_of(NAME, "2")),
        ("B", "2", "1", run_id_of(NAME, "1")),
    ]
    assert {m.assigned_by for m in moved} == {"promotion (auto)"}
    assert world.publisher.calls == ["sync_cache", "reload_app"]

    (row,) = world.ledger()
    assert row == outcome.event
    assert row.id is not None
    assert (row.decision, row.rule, row.source, row.applied) == (
        "swap_production_b",
        "winrate",
        "auto",
        True,
    )
    assert (row.production_version, row.production_wins, row.production_games) == ("1", 1, 3)
    assert (row.b_version, row.b_wins, row.b_games) == ("2", 3, 3)
    z, p = two_proportion_z(1, 3, 3, 3)
    assert row.z == pytest.approx(z)
    assert row.p_value == pytest.approx(p)
    assert row.z is not None
    assert row.z > 0
    # The unfinished game counts for the split: 4 of 7 games went to B where half were expected.
    assert row.srm_p_value == pytest.approx(sample_ratio_mismatch_p(4, 7, 0.5))
    assert row.assignments_before == {"Production": "1", "B": "2", "shadow1": "3", "shadow2": "4"}
    assert row.assignments_after == {"Production": "2", "B": "1", "shadow1": "3", "shadow2": "4"}
    # The old Production competes for B with the shadows; none has figures, so order stands.
    assert row.rankings == {
        "before": ["2", "3", "4"],
        "after": ["1", "3", "4"],
        "order": ["1", "3", "4"],
    }
    assert row.reorder_applied is False
    assert "B has the higher win rate" in row.reason


def test_the_new_windows_start_at_the_swap_so_the_next_run_does_not_swap_back(
    world: World,
) -> None:
    b_beats_production(world)
    world.service().run([XGB])

    again = only(world.service().run([XGB]))

    # v2's Production window and v1's B window begin at the swap: no games in either yet.
    assert again.decision == "insufficient_data"
    assert again.moves == {}
    assert world.registry.held()[P] == "2"
    assert again.event is not None
    assert (again.event.production_games, again.event.b_games) == (0, 0)


def test_equal_win_rates_keep_the_incumbent_and_b_gives_way_to_the_next_challenger(
    world: World,
) -> None:
    world.games(P, "WWL")
    world.games(B, "WLW")

    outcome = only(world.service().run([XGB]))

    # The test concluded without B winning: Production stays, shadow1 takes B.
    assert outcome.decision == "challenger_to_b"
    assert outcome.applied
    assert "equal win rates keep the incumbent" in outcome.reason
    assert world.registry.held() == {P: "1", B: "3", S1: "2", S2: "4"}
    assert world.publisher.calls == ["sync_cache", "reload_app"]
    (row,) = world.ledger()
    assert (row.decision, row.applied, row.production_wins, row.b_wins) == (
        "challenger_to_b",
        True,
        2,
        2,
    )
    assert row.details["test_outcome"] == "retain_production"


def test_test_games_do_not_count(world: World) -> None:
    world.games(P, "WWL")
    world.games(B, "WLL")
    # Counted, these would lift B to 6 of 8 (75%) above Production's 67%.
    world.games(B, "WWWWW", is_test=True)

    outcome = only(world.service().run([XGB]))

    assert outcome.event is not None
    assert outcome.event.details["test_outcome"] == "retain_production"
    assert (outcome.event.b_wins, outcome.event.b_games) == (1, 3)
    assert world.registry.held()[P] == "1"


def test_games_before_the_alias_was_last_assigned_do_not_count(world: World) -> None:
    later = T0 + timedelta(days=2)
    world.assign(B, "2", later, previous="2")  # B re-assigned: its window starts again
    world.games(B, "WWWWW", created_at=later - timedelta(hours=1))
    world.games(P, "WWL")
    world.games(B, "WLL", created_at=later + timedelta(hours=1))

    outcome = only(world.service().run([XGB]))

    assert outcome.event is not None
    assert outcome.event.details["test_outcome"] == "retain_production"
    assert (outcome.event.b_wins, outcome.event.b_games) == (1, 3)
    assert outcome.event.details["windows"]["B"] == later.isoformat()


def test_games_not_played_throughout_by_the_version_do_not_count(world: World) -> None:
    world.games(P, "WWL")
    # Model rounds by the game's own version (after the openings) count normally.
    world.games(B, "WLL", model_rounds=[("model", "2"), ("model", "2")])
    # A reload mid-game (a round by another version) or a fallback round leaves a game out;
    # counted, these four wins would put B at 5 of 7 (71%), above Production's 67%.
    world.games(B, "WW", model_rounds=[("model", "2"), ("model", "5")])
    world.games(B, "WW", model_rounds=[("model", "2"), ("fallback", None)])

    outcome = only(world.service().run([XGB]))

    assert outcome.event is not None
    assert outcome.event.details["test_outcome"] == "retain_production"
    assert (outcome.event.b_wins, outcome.event.b_games) == (1, 3)


def test_a_dry_run_decides_but_writes_and_moves_nothing(world: World) -> None:
    b_beats_production(world)

    outcome = only(world.service().run([XGB], dry_run=True))

    assert outcome.decision == "swap_production_b"
    assert outcome.moves == {"Production": ("1", "2"), "B": ("2", "1")}
    assert not outcome.applied
    assert outcome.event is None
    assert world.ledger() == []
    assert world.moves_recorded() == []
    assert world.registry.held() == START
    assert world.publisher.calls == []


def test_a_failed_parity_check_keeps_production(world: World) -> None:
    b_beats_production(world)
    checked: list[tuple[Family, str]] = []

    def parity(family: Family, version: str) -> ParityVerdict:
        checked.append((family, version))
        return ParityVerdict(False, "replayed probabilities differ by up to 0.2", 50, 0.2)

    outcome = only(world.service(parity=parity).run([XGB]))

    # v2 may not become Production (the old Production moving to B is not checked: it
    # serves already); neither shadow may take B in its place (they fail too), so B keeps v2
    # and nothing moves.
    assert checked == [(XGB, "2"), (XGB, "3"), (XGB, "4")]
    assert outcome.decision == "retain_production"
    assert not outcome.applied
    assert "the swap is vetoed: v2 failed the parity check" in outcome.reason
    assert world.registry.held() == START
    assert world.publisher.calls == []
    (row,) = world.ledger()
    assert row.decision == "retain_production"
    assert row.assignments_after == row.assignments_before
    assert row.details["parity"]["2"]["ok"] is False
    assert row.details["parity"]["2"]["replayed"] == 50


def test_a_passed_parity_check_lets_the_swap_through(world: World) -> None:
    b_beats_production(world)

    outcome = only(world.service(parity=lambda f, v: ParityVerdict(True, "ok", 50, 0.0)).run([XGB]))

    assert outcome.decision == "swap_production_b"
    assert world.registry.held()[P] == "2"
    assert outcome.event is not None
    assert outcome.event.details["parity"]["2"]["ok"] is True


def test_the_sequential_rule_refuses_an_early_peek_the_winrate_rule_accepts(world: World) -> None:
    world.games(P, "WLLLL")
    world.games(B, "WWWWL")

    peek = only(world.service(rule=PromotionRule.SEQUENTIAL).run([XGB]))
    naive = only(world.service(rule=PromotionRule.WINRATE).run([XGB], dry_run=True))

    assert peek.decision == "insufficient_data"
    assert "the test goes on" in peek.reason
    assert naive.decision == "swap_production_b"
    assert world.registry.held() == START
    (row,) = world.ledger()
    assert row.rule == "sequential"
    expected = sequential_test(1, 5, 4, 5).always_valid_p
    assert row.sequential_p_value == pytest.approx(expected)
    assert 0.05 < expected < 1.0
    assert row.p_value is not None
    assert row.p_value < 0.05


# -- challengers -----------------------------------------------------------------------------------


def test_while_the_test_goes_on_no_challenger_moves_however_strong(world: World) -> None:
    world.games(P, "WL")  # too few games: the test has not concluded
    world.predictions("3", 200, 150, margin=1.5)

    outcome = only(world.service().run([XGB]))

    assert outcome.decision == "insufficient_data"
    assert world.registry.held() == START


def test_after_a_concluded_test_the_best_live_margin_takes_b(world: World) -> None:
    world.games(P, "WWL")
    world.games(B, "WLL")  # B lost its (winrate) test
    world.predictions("2", 60, 18, alias=B, margin=0.9)  # best margin, but B just lost
    world.predictions("3", 49, 49, margin=2.0)  # one scored round short: ranked on its gym
    world.predictions("4", 50, 40, alias=S2, margin=0.4)

    outcome = only(world.service(gym={"3": 0.95}).run([XGB]))

    assert outcome.decision == "challenger_to_b"
    # Live margins outrank gym figures: v4 (live) takes B; v2 (lost) and v3 (gym) are shadows.
    assert world.registry.held() == {P: "1", B: "4", S1: "2", S2: "3"}
    assert [(m.alias, m.previous_version, m.version) for m in world.moves_recorded()] == [
        ("B", "2", "4"),
        ("shadow1", "3", "2"),
        ("shadow2", "4", "3"),
    ]
    (row,) = world.ledger()
    assert row.rankings == {
        "before": ["2", "3", "4"],
        "after": ["4", "2", "3"],
        "order": ["2", "4", "3"],
    }
    assert row.details["strength"]["3"]["ranked_on"] == "gym"
    assert row.details["strength"]["4"]["margin"] == pytest.approx(0.4)
    assert "not eligible for B this run: v2" in row.reason


def test_margins_of_another_decision_layer_do_not_rank(world: World) -> None:
    world.games(P, "WWL")
    world.games(B, "WLL")
    world.predictions("3", 100, 10, margin=-1.0)
    world.predictions("4", 100, 10, alias=S2, margin=3.0, scoring_version="old-layer")

    outcome = only(world.service(gym={"4": 0.1}).run([XGB]))

    # v4's margins were scored by another layer: it ranks on its gym figure, below v3's margin.
    assert world.registry.held()[B] == "3"
    assert outcome.event is not None
    assert outcome.event.details["strength"]["4"]["scored_rounds"] == 0


def test_a_swap_with_a_reorder_is_a_swap_flagged_reorder_applied(world: World) -> None:
    b_beats_production(world)
    world.predictions("1", 100, 70, alias=P, margin=0.2)  # demoted Production
    world.predictions("3", 100, 80, margin=0.6)  # shadow1 is the best challenger
    world.predictions("4", 100, 40, alias=S2, margin=0.1)

    outcome = only(world.service().run([XGB]))

    assert outcome.decision == "swap_production_b"
    assert outcome.moves == {
        "Production": ("1", "2"),
        "B": ("2", "3"),
        "shadow1": ("3", "1"),
    }
    assert world.registry.held() == {P: "2", B: "3", S1: "1", S2: "4"}
    assert len(world.moves_recorded()) == 3
    assert world.publisher.calls == ["sync_cache", "reload_app"]  # once for all moves
    (row,) = world.ledger()
    assert (row.decision, row.reorder_applied) == ("swap_production_b", True)
    assert row.assignments_after == {"Production": "2", "B": "3", "shadow1": "1", "shadow2": "4"}


def test_a_parity_veto_lets_the_next_challenger_take_b(world: World) -> None:
    b_beats_production(world)
    world.predictions("3", 100, 80, margin=0.6)
    world.predictions("4", 100, 40, alias=S2, margin=0.1)

    def parity(family: Family, version: str) -> ParityVerdict:
        return ParityVerdict(version != "2", "no rounds" if version == "2" else "ok")

    outcome = only(world.service(parity=parity).run([XGB]))

    assert outcome.decision == "challenger_to_b"
    # v2 has no margin figures: it ranks below both shadows once it is back among them.
    assert world.registry.held() == {P: "1", B: "3", S1: "4", S2: "2"}
    (row,) = world.ledger()
    assert "the swap is vetoed: v2 failed the parity check" in row.reason
    assert row.details["parity"]["3"]["ok"] is True


# -- aliases that point nowhere, publishing ------------------------------------------------------


def test_an_empty_shadow_does_not_stop_production_and_b_being_compared(world: World) -> None:
    del world.registry.aliases[(NAME, S2)]
    b_beats_production(world)

    outcome = only(world.service().run([XGB]))

    assert outcome.decision == "swap_production_b"
    assert world.registry.held() == {P: "2", B: "1", S1: "3", S2: None}
    (row,) = world.ledger()
    assert row.details["missing_aliases"] == ["shadow2"]


def test_an_empty_b_is_filled_by_the_best_shadow(world: World) -> None:
    del world.registry.aliases[(NAME, B)]
    world.predictions("4", 100, 40, alias=S2, margin=0.3)

    outcome = only(world.service().run([XGB]))

    assert outcome.decision == "challenger_to_b"
    assert world.registry.held() == {P: "1", B: "4", S1: "3", S2: None}
    assert world.registry.deleted == [(NAME, S2)]


def test_an_empty_production_gives_insufficient_data_naming_it(world: World) -> None:
    del world.registry.aliases[(NAME, P)]

    outcome = only(world.service().run([XGB]))

    assert outcome.decision == "insufficient_data"
    assert outcome.reason == "aliases without a model: Production"
    assert world.registry.set_calls == []


def test_every_family_gets_a_ledger_row_by_default(world: World) -> None:
    outcomes = world.service().run()

    assert [o.family for o in outcomes] == list(Family)
    empty = [o for o in outcomes if o.family is not XGB]
    assert {o.reason for o in empty} == {"aliases without a model: Production, B, shadow1, shadow2"}
    assert {(e.model_type, e.decision) for e in world.ledger()} == {
        ("xgboost", "insufficient_data"),
        ("feedforward_nn", "insufficient_data"),
        ("multinomial_logistic", "insufficient_data"),
    }


def test_a_failed_cache_sync_is_reported_and_the_ledger_row_still_written(world: World) -> None:
    b_beats_production(world)
    failing = RecordingPublisher(sync_error=RuntimeError("bucket rps-models unreachable"))

    outcome = only(world.service(publisher=failing).run([XGB]))

    assert outcome.decision == "swap_production_b"
    assert outcome.applied
    assert outcome.problems == ["cache sync failed: bucket rps-models unreachable"]
    assert failing.calls == ["sync_cache"]  # no reload of the old set
    assert world.registry.held()[P] == "2"
    (row,) = world.ledger()
    assert (row.decision, row.applied) == ("swap_production_b", True)


# -- manual control --------------------------------------------------------------------------------


def test_setting_an_alias_to_a_version_another_alias_holds_exchanges_them(world: World) -> None:
    outcome = world.service().set_alias(XGB, P, "3", by="rps alias set")

    assert outcome.decision == "alias_set"
    assert outcome.applied
    assert outcome.moves == {"Production": ("1", "3"), "shadow1": ("3", "1")}
    assert world.registry.held() == {P: "3", B: "2", S1: "1", S2: "4"}
    assert [
        (m.alias, m.previous_version, m.version, m.assigned_by) for m in world.moves_recorded()
    ] == [
        ("Production", "1", "3", "rps alias set"),
        ("shadow1", "3", "1", "rps alias set"),
    ]
    assert world.publisher.calls == ["sync_cache", "reload_app"]
    (row,) = world.ledger()
    assert (row.decision, row.source) == ("alias_set", "rps alias set")
    assert row.assignments_before == {"Production": "1", "B": "2", "shadow1": "3", "shadow2": "4"}
    assert row.assignments_after == {"Production": "3", "B": "2", "shadow1": "1", "shadow2": "4"}
    assert "shadow1 takes v1 in exchange" in row.reason


def test_setting_an_alias_to_the_version_it_holds_changes_nothing(world: World) -> None:
    outcome = world.service().set_alias(XGB, B, "2")

    assert not outcome.applied
    assert "already at v2" in outcome.reason
    assert world.ledger() == []
    assert world.publisher.calls == []


def test_rollback_returns_the_alias_to_its_previous_version(world: World) -> None:
    service = world.service()
    service.set_alias(XGB, B, "5")  # v5 held no alias: nothing to exchange
    assert world.registry.held() == {P: "1", B: "5", S1: "3", S2: "4"}

    outcome = service.rollback(XGB, B, by="rps alias rollback")

    assert outcome.applied
    assert outcome.moves == {"B": ("5", "2")}
    assert world.registry.held() == START
    assert [(e.decision, e.source) for e in world.ledger()] == [
        ("rollback", "rps alias rollback"),
        ("alias_set", "manual"),
    ]
    assert "roll xgboost@B back to v2" in outcome.reason


def test_rollback_without_a_previous_version_is_refused_clearly(world: World) -> None:
    with pytest.raises(ValueError, match=r"xgboost@shadow1 has no previous version"):
        world.service().rollback(XGB, S1)
    with pytest.raises(ValueError, match=r"feedforward_nn@B has no previous version"):
        world.service().rollback(Family.FEEDFORWARD_NN, B)
    assert world.registry.held() == START
    assert world.ledger() == []


def test_setting_an_unregistered_version_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match=r"rps_bot_xgboost has no version '99'"):
        world.service().set_alias(XGB, P, "99")
    assert world.registry.held() == START
    assert world.moves_recorded() == []
    assert world.ledger() == []
    assert world.publisher.calls == []


def test_a_manual_move_into_production_or_b_passes_the_parity_check(world: World) -> None:
    checked: list[str] = []

    def parity(family: Family, version: str) -> ParityVerdict:
        checked.append(version)
        return ParityVerdict(version == "3", "ok" if version == "3" else "no stored predictions")

    service = world.service(parity=parity)
    # Into a shadow: no check.
    service.set_alias(XGB, S2, "5")
    assert checked == []
    # v6 into B: refused, nothing moves.
    with pytest.raises(ParityRefused, match=r"v6 cannot serve xgboost Production or B"):
        service.set_alias(XGB, B, "6")
    assert world.registry.held()[B] == "2"
    # v3 into Production by exchange with shadow1: v3 is checked; v1 goes to a shadow.
    outcome = service.set_alias(XGB, P, "3")
    assert checked == ["6", "3"]
    assert outcome.event is not None
    assert outcome.event.details["parity"]["3"]["ok"] is True
    # --skip-parity moves anyway and says so.
    skipped = service.set_alias(XGB, B, "6", skip_parity=True)
    assert world.registry.held()[B] == "6"
    assert "parity check skipped" in skipped.reason
    assert skipped.event is not None
    assert skipped.event.details["parity"] == "skipped"


def test_alias_moves_wait_for_the_alias_lock(world: World) -> None:
    """A manual move started while a promotion holds the lock waits for it."""
    import threading

    lock = world.db.alias_lock
    order: list[str] = []
    with lock.hold():
        mover = threading.Thread(
            target=lambda: (
                PromotionService(
                    world.repo,
                    world.lifecycle,
                    world.registry,
                    None,
                    PromotionConfig(),
                    lock=lock.hold,
                ).set_alias(XGB, S2, "5"),
                order.append("moved"),
            )
        )
        mover.start()
        mover.join(timeout=0.5)
        assert mover.is_alive()  # still waiting
        order.append("released")
    mover.join(timeout=10)
    assert order == ["released", "moved"]
    assert world.registry.held()[S2] == "5"

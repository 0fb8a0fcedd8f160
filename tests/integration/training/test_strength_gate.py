"""The strength-aware training gate (SPEC §5): every candidate plays the gym through the decision
layer beside the layer without it and value-greedy; a candidate that makes the bot worse than
either is refused, so is one whose calibrated validation log-loss is not below ln 3, and a family
whose Production is empty gets its best refused candidate registered below the gate.

The layer's parameters are pinned here, so the figures these tests rely on do not move when the
shipped ``DECISION_*`` defaults are retuned.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from rps.domain.decision import DecisionParams
from rps.domain.game import Game
from rps.domain.gym import GYM, GymPart, Strategy
from rps.domain.personas import PersonaName, persona_move
from rps.domain.policy import Alias, Family
from rps.features.names import FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION
from rps.persistence.database import Database, migrate
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.persistence.strength_repository import StrengthRepository
from rps.registry.ports import LoggedTraining
from rps.serving.policy import DecisionConfig
from rps.serving.strength import (
    BASELINE_GREEDY,
    BASELINE_LAYER,
    StrengthGate,
    strength_metrics,
)
from rps.training.configs import REGISTERED_NAMES, parse_config, plan
from rps.training.dataset import Dataset, dataset_from_games
from rps.training.pipeline import LN3
from rps.training.runner import BELOW_GATE_TAG, TrainingRunner
from rps.training.strength_check import CANDIDATE, StrengthCheck
from tests.integration.training.conftest import new_platform, tiny_config
from tests.integration.training.test_runner import MemoryRegistry
from tests.integration.training.test_train_cli import alias_versions, client_for, db_rows
from tests.support.onnx_models import constant_model

# The decision layer as these tests measure it (the values the layer shipped with).
LAYER = DecisionConfig(
    DecisionParams(
        learning_rate=0.8,
        share=0.05,
        uniform_prior=0.3,
        uniform_learning_rate=0.8,
        uniform_share=0.05,
        pseudo_count=1.0,
        decay=0.8,
        model_learning_rate=0.8,
        model_share=0.02,
        model_prior_floor=0.05,
        model_prior_ceiling=0.85,
        model_prior_slope=2.0,
        evidence_threshold=0.0,
        model_evidence_burden=0.5,
        # The model keeps deciding once trusted, even where it misleads: the gate, not the layer,
        # has to catch such a candidate here.
        model_advantage_threshold=float("-inf"),
        sample_margin=0.0,
    )
)
ROCK = (0.8, 0.1, 0.1)
# Candidates of the runner tests play two training opponents (the personas they learned) and two
# holdout ones, twice each: enough for every figure to exist, fast enough for the test run.
RUNNER_OPPONENTS = [GYM["cal"], GYM["hal"], GYM["scissors"], GYM["middle"]]
IMPOSSIBLE = {"min_test_accuracy": 0.999, "min_test_rows": 0}
GYM_METRICS = (
    "gym_win_rate",
    "gym_margin",
    "gym_training_win_rate",
    "gym_holdout_win_rate",
    "gym_training_vs_model_free_layer",
    "gym_training_vs_value_greedy",
    "gym_holdout_vs_model_free_layer",
    "gym_training_model_free_layer_win_rate",
    "gym_training_value_greedy_win_rate",
    "gym_mixed_win_rate",
)


class GateRegistry(MemoryRegistry):
    """The in-memory registry with run tags and alias removal, its run ids unique to it (the
    tests share one ``model_strength`` table)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, dict[str, str]] = {}
        self._prefix = uuid.uuid4().hex[:8]

    def log_training(self, logged: LoggedTraining) -> str:
        run_id = f"{self._prefix}-run{len(self.runs) + 1}"
        self.runs[run_id] = logged
        return run_id

    def tag_run(self, run_id: str, key: str, value: str) -> None:
        self.tags.setdefault(run_id, {})[key] = value

    def delete_alias(self, registered_name: str, alias: Alias) -> None:
        self.aliases.pop((registered_name, alias), None)


def serving_metadata(val_log_loss: float | None) -> dict[str, Any]:
    """What the serving cache keeps with a model, claiming ``val_log_loss``."""
    return {
        "feature_names": list(FEATURE_NAMES),
        "feature_count": FEATURE_COUNT,
        "feature_version": FEATURE_VERSION,
        "input": "features",
        "output": "probabilities",
        "temperature": 1.0,
        "val_log_loss": val_log_loss,
    }


def gate_check(opponents: list[Strategy], games: int) -> StrengthCheck:
    return StrengthCheck(games_per_opponent=games, decision=LAYER, opponents=opponents)


# -- the gym gate on served graphs ------------------------------------------------------------


def test_the_gate_accepts_a_model_that_is_right_about_a_constant_player():
    check = gate_check([GYM["rock"]], games=6)
    report = check.evaluate(
        Family.MULTINOMIAL_LOGISTIC, constant_model(ROCK), serving_metadata(0.1)
    )
    passed, why = check.judge(report)
    assert passed, why
    assert why.startswith("gym win rate 100.0% (model-free layer ")
    assert "value-greedy" in why
    candidate = report.tallies[(CANDIDATE, "rock")]
    layer = report.tallies[(BASELINE_LAYER, "rock")]
    assert candidate.model_rounds > 0
    assert candidate.accuracy == 1.0
    # Trusted from its first model round, it beats the rock player sooner than the layer alone.
    assert candidate.margin_per_round > layer.margin_per_round


def test_the_gate_refuses_a_model_that_earns_the_layers_trust_and_then_misleads_it():
    # switch-4 plays rock for four rounds, then beat-last, the highest-valued move and a cycle:
    # a model sure the player plays rock is right long enough to be trusted, then leads the bot
    # astray when the player moves on.
    check = gate_check([GYM["switch-4"]], games=8)
    report = check.evaluate(
        Family.MULTINOMIAL_LOGISTIC, constant_model(ROCK), serving_metadata(0.1)
    )
    passed, why = check.judge(report)
    assert not passed
    mine = report.summary(CANDIDATE, report.opponents).win_rate * 100
    layer = report.summary(BASELINE_LAYER, report.opponents).win_rate * 100
    assert mine < layer - check.gate.max_below_layer
    assert (
        f"gym win rate {mine:.1f}% is {layer - mine:.1f} points below the model-free layer's "
        f"{layer:.1f}% (allowed 2)"
    ) in why


def test_a_confidently_wrong_model_is_never_trusted_so_it_plays_exactly_like_the_layer_alone():
    # Scissors at 98%, claiming a small validation log-loss (the highest prior weight), against
    # players who never play scissors: its blend never earns the evidence to act, so the bot
    # plays every game as the layer without a model does, and the gate has nothing to refuse.
    opponents = [GYM["rock"], GYM["paper"]]
    check = gate_check(opponents, games=4)
    report = check.evaluate(
        Family.MULTINOMIAL_LOGISTIC, constant_model((0.01, 0.01, 0.98)), serving_metadata(0.05)
    )
    for strategy in opponents:
        candidate = report.tallies[(CANDIDATE, strategy.name)]
        layer = report.tallies[(BASELINE_LAYER, strategy.name)]
        assert candidate.model_rounds > 0
        assert candidate.accuracy == 0.0
        assert candidate.wins_by_game == layer.wins_by_game
        assert candidate.margin_tenths == layer.margin_tenths
    assert check.judge(report)[0]


# -- the runner: real tiny training -----------------------------------------------------------


def _game(game_id: str, user: Strategy, bot: PersonaName, rng: random.Random) -> Game:
    game = Game(game_id)
    player = user.player(random.Random(rng.getrandbits(64)))
    while not game.finished:
        game.play(player(game.view("user")), persona_move(bot, game.view("bot"), rng))
    return game


@pytest.fixture(scope="module")
def persona_games() -> Dataset:
    """cal and hal (learnable, deterministic) against every persona."""
    rng = random.Random(3)
    users = [GYM["cal"], GYM["hal"]]
    bots = list(PersonaName)
    games = [_game(f"gate-{i}", users[i % 2], bots[i % 8], rng) for i in range(100)]
    return dataset_from_games(games)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory):
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('gate') / 'rps.db'}")
    migrate(db)
    yield db
    db.dispose()


def runner(registry: GateRegistry, database: Database) -> TrainingRunner:
    return TrainingRunner(
        registry,
        LifecycleRepository(database),
        strength=gate_check(RUNNER_OPPONENTS, games=2),
        strength_store=StrengthRepository(database),
    )


def strength_rows(database: Database, run_ids: list[str | None]) -> list[sa.Row[Any]]:
    query = sa.text(
        "SELECT run_id, model_type, version, gate_passed, below_gate, gate_reason, "
        "training_win_rate, holdout_win_rate, overall_win_rate, figures FROM model_strength "
        "ORDER BY id"
    )
    with database.engine.connect() as conn:
        return [r for r in conn.execute(query) if r.run_id in run_ids]


def test_a_model_trained_on_cal_and_hal_passes_the_gate_with_its_figures_in_the_reason(
    persona_games, database
):
    registry = GateRegistry()
    planned = plan(parse_config(tiny_config()), config_ids=["xgb-d3"])
    [outcome] = runner(registry, database).run(persona_games, planned)
    assert outcome.error is None
    assert outcome.accepted
    assert outcome.gate_passed
    assert outcome.registered
    assert outcome.run_id not in registry.rejected
    assert outcome.trained is not None
    metrics = outcome.trained.metrics
    mine = metrics["gym_training_win_rate"] * 100
    layer = metrics["gym_training_model_free_layer_win_rate"] * 100
    greedy = metrics["gym_training_value_greedy_win_rate"] * 100
    assert mine >= layer - 2
    assert mine >= greedy
    assert outcome.reason.startswith("accepted: ")
    assert outcome.reason.endswith(
        f"; gym win rate {mine:.1f}% (model-free layer {layer:.1f}%, value-greedy {greedy:.1f}%)"
    )
    [row] = strength_rows(database, [outcome.run_id])
    assert row.version == outcome.version
    assert row.gate_passed
    assert not row.below_gate
    assert row.gate_reason == outcome.reason


def _habit_then_its_opposite() -> Dataset:
    """Games whose training part (4 in 5, SPEC §5's production split) is played by a user of
    the lowest-valued move, and whose validation games by a user of the highest-valued move: a
    model learns the habit and is confidently wrong on every validation round."""
    rng = random.Random(8)
    bots = list(PersonaName)
    games = [
        _game(f"habit-{i}", GYM["highest" if i % 5 == 4 else "lowest"], bots[i % 8], rng)
        for i in range(60)
    ]
    return dataset_from_games(games)


def test_a_candidate_whose_calibrated_validation_log_loss_is_not_below_ln3_is_refused(database):
    registry = GateRegistry()
    name = REGISTERED_NAMES[Family.MULTINOMIAL_LOGISTIC]
    registry.register("earlier-run", name)
    registry.set_alias(name, Alias.PRODUCTION, "1")  # not a fresh family: no below-gate rescue
    planned = plan(parse_config(tiny_config()), config_ids=["mnl-unweighted"])
    [outcome] = runner(registry, database).run(_habit_then_its_opposite(), planned)
    assert outcome.error is None
    trained = outcome.trained
    assert trained is not None
    log_loss = trained.metrics["val_log_loss"]
    assert log_loss >= LN3
    assert not outcome.accepted
    assert not outcome.registered
    assert outcome.reason.startswith(
        f"rejected: calibrated validation log-loss {log_loss:.3f} is not below ln 3 = 1.099 "
        "(no better than uniform)"
    )
    assert registry.rejected == {outcome.run_id: outcome.reason}
    assert registry.aliases[(name, Alias.PRODUCTION)] == "1"
    # The bar is strict: exactly ln 3 is refused, just below it is not.
    at_bar = replace(trained, metrics={**trained.metrics, "val_log_loss": LN3}, test_rows=0)
    assert not at_bar.acceptance()[0]
    below = replace(trained, metrics={**trained.metrics, "val_log_loss": LN3 - 1e-9}, test_rows=0)
    assert below.acceptance()[0]


@pytest.fixture(scope="module")
def below_gate_sessions(persona_games, database):
    """A fresh registry: two logistic candidates both refused by an impossible accuracy bar;
    then a second session whose candidate is refused too, Production filled by the first."""
    registry = GateRegistry()
    impossible = parse_config(tiny_config(acceptance=IMPOSSIBLE))
    first = runner(registry, database).run(
        persona_games, plan(impossible, config_ids=["mnl-balanced", "mnl-unweighted"])
    )
    aliases_after_first = dict(registry.aliases)
    tags_after_first = {k: dict(v) for k, v in registry.tags.items()}
    second = runner(registry, database).run(
        persona_games, plan(impossible, config_ids=["mnl-danger"])
    )
    return registry, first, second, aliases_after_first, tags_after_first


def test_a_fresh_family_gets_its_best_refused_candidate_in_production_below_the_gate(
    below_gate_sessions, database
):
    registry, first, _, aliases_after_first, tags_after_first = below_gate_sessions
    assert [o.error for o in first] == [None, None]
    assert not any(o.accepted for o in first)
    [chosen] = [o for o in first if o.registered]
    [other] = [o for o in first if not o.registered]

    def rank(o):
        return (o.gym_win_rate(GymPart.TRAINING), o.trained.metrics["test_acc_holdout"])

    assert rank(chosen) > rank(other)
    assert chosen.below_gate
    assert not other.below_gate
    assert chosen.alias is Alias.PRODUCTION
    name = REGISTERED_NAMES[Family.MULTINOMIAL_LOGISTIC]
    assert aliases_after_first == {(name, Alias.PRODUCTION): chosen.version}
    assert tags_after_first == {chosen.run_id: {BELOW_GATE_TAG: "true"}}
    assert chosen.reason.startswith(
        "registered below the gate (no candidate of multinomial_logistic passed and its "
        "Production alias was empty): rejected: test accuracy "
    )
    # Both were refused and logged as such; the chosen one's row with its version says why.
    assert {chosen.run_id, other.run_id} <= set(registry.rejected)
    rows = strength_rows(database, [chosen.run_id])
    below = [r for r in rows if r.below_gate]
    assert [(r.version, r.model_type) for r in below] == [(chosen.version, "multinomial_logistic")]
    assert below[0].gate_reason == chosen.reason
    latest = StrengthRepository(database).latest([("multinomial_logistic", chosen.version)])
    assert latest[("multinomial_logistic", chosen.version)].below_gate
    moves = LifecycleRepository(database).assignments(model_type="multinomial_logistic")
    assert [(m.alias, m.version) for m in moves if m.run_id == chosen.run_id] == [
        ("Production", chosen.version)
    ]


def test_with_production_filled_a_refused_candidate_is_not_registered_below_the_gate(
    below_gate_sessions, database
):
    registry, _, second, aliases_after_first, tags_after_first = below_gate_sessions
    [outcome] = second
    assert outcome.error is None
    assert not outcome.accepted
    assert not outcome.registered
    assert not outcome.below_gate
    assert outcome.run_id in registry.rejected
    assert registry.aliases == aliases_after_first
    assert registry.tags == tags_after_first
    [row] = strength_rows(database, [outcome.run_id])
    assert row.version is None
    assert not row.below_gate


def test_every_candidate_logs_its_gym_figures_and_gets_a_model_strength_row(
    below_gate_sessions, database
):
    registry, first, second, _, _ = below_gate_sessions
    for outcome in [*first, *second]:
        assert outcome.run_id is not None
        logged = registry.runs[outcome.run_id]
        report = outcome.strength
        assert report is not None
        assert [s.name for s in report.opponents] == [s.name for s in RUNNER_OPPONENTS]
        expected = strength_metrics(report, CANDIDATE)
        assert set(GYM_METRICS) <= set(expected)
        assert {k: logged.metrics[k] for k in expected} == expected
        assert logged.metrics["gym_training_win_rate"] == outcome.gym_win_rate(GymPart.TRAINING)
        assert logged.metrics["gym_holdout_win_rate"] == outcome.gym_win_rate(GymPart.HOLDOUT)
        strength = logged.artifacts["gym_strength"]
        assert strength["games_per_opponent"] == 2
        assert set(strength["baselines"]) == {BASELINE_GREEDY, BASELINE_LAYER, "frequency-ev"}
        rows = strength_rows(database, [outcome.run_id])
        # One row when the candidate is measured (no version: refused), and one more with its
        # version when it is registered below the gate.
        assert rows[0].version is None
        assert rows[0].gate_passed == outcome.gate_passed
        assert len(rows) == (2 if outcome.below_gate else 1)
        for row in rows:
            assert row.model_type == "multinomial_logistic"
            assert row.training_win_rate == logged.metrics["gym_training_win_rate"]
            assert row.holdout_win_rate == logged.metrics["gym_holdout_win_rate"]
            assert row.overall_win_rate == logged.metrics["gym_win_rate"]
            figures = json.loads(row.figures)
            assert set(figures["opponents"]) == {s.name for s in RUNNER_OPPONENTS}


def test_the_gate_allows_what_the_settings_allow():
    # The same games judged by two gates: the default one, which refuses this misleading model
    # (see above), and one that allows 100 points.
    check = gate_check([GYM["switch-4"]], games=8)
    report = check.evaluate(
        Family.MULTINOMIAL_LOGISTIC, constant_model(ROCK), serving_metadata(0.1)
    )
    assert not check.judge(report)[0]
    lenient = StrengthGate(max_below_layer=100, max_below_greedy=100)
    assert lenient.judge(report, CANDIDATE)[0]


def test_rps_train_registers_a_fresh_familys_best_refused_model_below_the_gate_and_says_so(
    tmp_path,
):
    platform = new_platform(tmp_path / "fresh", games=60)
    path = platform.write_config("impossible.json", tiny_config(acceptance=IMPOSSIBLE))

    result = platform.rps(
        "train", "--config", str(path), "--config-ids", "mnl-unweighted", "--skip-cache-sync"
    )

    # The trained models table comes first, then the registry's aliases.
    trained, aliases = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│ multinomi")
    ]
    assert trained[1:4] == ["below_gate", "1", "Production"]
    assert aliases[1:] == ["v1", "empty", "empty", "empty"]
    stderr = " ".join(result.stderr.split())
    assert (
        "multinomial_logistic/mnl-unweighted v1 is below the gate: registered below the gate "
        "(no candidate of multinomial_logistic passed and its Production alias was empty): "
        "rejected: test accuracy"
    ) in stderr
    assert alias_versions(platform) == {(Family.MULTINOMIAL_LOGISTIC, "Production"): "1"}
    client = client_for(platform)
    version = client.get_model_version(REGISTERED_NAMES[Family.MULTINOMIAL_LOGISTIC], "1")
    assert client.get_run(version.run_id).data.tags[BELOW_GATE_TAG] == "true"
    rows = db_rows(
        platform, "SELECT version, below_gate, gate_reason FROM model_strength ORDER BY id"
    )
    assert [(r.version, bool(r.below_gate)) for r in rows] == [(None, False), ("1", True)]
    assert rows[1].gate_reason.startswith("registered below the gate")

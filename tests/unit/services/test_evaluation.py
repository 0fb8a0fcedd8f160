"""Strength evaluation (`rps evaluate`, SPEC §4.1): opponents from the gym, every bot and the
baselines on the same games, the figures per part, group and opponent, and what is persisted —
against fake models served by a real ModelManager."""

from __future__ import annotations

import pytest

from rps.domain.gym import GYM, GymPart, holdout_part, resolve
from rps.domain.policy import Alias, Family
from rps.persistence.strength_repository import StrengthRecord
from rps.services.evaluation import (
    Evaluator,
    NoModelToEvaluate,
    parse_opponents,
    total_games,
)
from rps.serving.model_manager import ModelManager
from rps.serving.strength import (
    BASELINE_GREEDY,
    BASELINE_LAYER,
    BASELINES,
    Paired,
    ServedModel,
    ValueGreedy,
    baselines,
    play_gym,
    wilson_interval,
)
from tests.support.onnx_models import DictSource, fetched

CERTAIN_ROCK = (0.998, 0.001, 0.001)
CERTAIN_SCISSORS = (0.001, 0.001, 0.998)


def manager(models: dict) -> ModelManager:
    loaded = ModelManager([DictSource("cache", models)])
    loaded.reload()
    return loaded


def everywhere(probabilities, version: str = "4") -> ModelManager:
    return manager({(f, a): fetched(version, probabilities) for f in Family for a in Alias})


# -- choosing opponents ----------------------------------------------------------------------------


def test_opponents_are_gym_strategies_groups_and_parts_and_the_old_names_still_work():
    assert [s.name for s in parse_opponents(["random", "constant", "cycle"])] == [
        "random",
        "rock",
        "cycle",
    ]
    assert [s.name for s in parse_opponents(["frequency", "wsls", "highest", "lowest"])] == [
        "frequency",
        "wsls",
        "highest",
        "lowest",
    ]
    assert parse_opponents(["holdout"]) == holdout_part()
    assert parse_opponents(["value_aware:holdout"]) == [
        s for s in holdout_part() if s.group.value == "value_aware"
    ]
    assert len(parse_opponents(["all"])) == len(GYM)
    assert parse_opponents(["Cal", "cal", "personas"])[0].name == "cal"
    with pytest.raises(ValueError, match="unknown opponent 'grandmaster'"):
        parse_opponents(["grandmaster"])


# -- statistics ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (5, 10, 0.2366, 0.7634),
        (1, 10, 0.0179, 0.4042),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_wilson_interval_matches_published_values(successes, trials, low, high):
    assert wilson_interval(successes, trials) == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_is_exact_at_the_edges_and_uninformative_without_trials():
    assert wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(7, 7)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(4, 3)


def test_a_paired_difference_is_the_mean_of_per_game_differences_with_its_interval():
    paired = Paired.of([1, 0, 0, 1, -1, 0, 1, 0])
    assert paired.difference == pytest.approx(2 / 8)
    assert paired.low < paired.difference < paired.high
    assert Paired.of([1] * 10).low == Paired.of([1] * 10).high == 1.0
    assert Paired.of([]).games == 0


# -- the games -------------------------------------------------------------------------------------


def test_every_contender_plays_the_same_games_against_each_opponent():
    played: dict[str, list[tuple[str, str, int]]] = {}
    contenders = [ServedModel(Family.XGBOOST, Alias.B, everywhere(CERTAIN_ROCK)), *baselines()]
    play_gym(
        contenders,
        resolve(["rock", "beat-last"]),
        4,
        seed=8,
        on_played=lambda c, spec, game: played.setdefault(c.name, []).append(
            (spec.opponent, game.game_id, len(game.rounds))
        ),
    )
    ids = {name: [(o, g) for o, g, _ in games] for name, games in played.items()}
    assert len(ids) == 4
    assert all(games == ids["value-greedy"] for games in ids.values())
    assert len({g for _, g in ids["value-greedy"]}) == 8


def test_a_model_certain_of_rock_beats_constant_rock_in_every_game_and_predicts_it_perfectly():
    report = Evaluator(everywhere(CERTAIN_ROCK), seed=1).run(
        [Family.XGBOOST], [Alias.PRODUCTION], resolve(["rock"]), 6
    )
    tally = report.strength.tallies[("xgboost@Production", "rock")]
    assert tally.games == 6
    assert tally.bot_wins == 6
    assert tally.model_rounds > 0
    assert tally.accuracy == 1.0
    assert tally.margin_per_round > 0.5
    assert tally.versions == {"4"}
    assert not tally.on_fallback
    # value-greedy plays the highest-valued move whatever rock does: it cannot win them all
    assert report.strength.tallies[(BASELINE_GREEDY, "rock")].bot_wins < 6


def test_a_confidently_wrong_model_stops_counting_so_the_bot_still_beats_a_simple_player():
    wrong = Evaluator(everywhere(CERTAIN_SCISSORS), seed=2).run(
        [Family.FEEDFORWARD_NN], [Alias.PRODUCTION], resolve(["rock", "cycle"]), 10
    )
    strength = wrong.strength
    for opponent in ("rock", "cycle"):
        bot = strength.tallies[("feedforward_nn@Production", opponent)]
        layer = strength.tallies[(BASELINE_LAYER, opponent)]
        assert bot.win_rate >= layer.win_rate - 0.2
        assert bot.win_rate >= 0.8


def test_an_alias_without_a_model_plays_exactly_as_the_layer_without_a_model():
    models = {(Family.XGBOOST, Alias.PRODUCTION): fetched("2", CERTAIN_ROCK)}
    report = Evaluator(manager(models), seed=6).run(
        [Family.XGBOOST], [Alias.PRODUCTION, Alias.B], resolve(["rock", "wsls"]), 5
    )
    statuses = report.statuses
    assert not statuses[(Family.XGBOOST, Alias.PRODUCTION)].on_fallback
    assert statuses[(Family.XGBOOST, Alias.B)].fallback_reason == "no_model"
    for opponent in ("rock", "wsls"):
        empty = report.strength.tallies[("xgboost@B", opponent)]
        layer = report.strength.tallies[(BASELINE_LAYER, opponent)]
        assert empty.accuracy is None
        assert empty.fallback_rounds == empty.rounds - 3 * empty.games
        assert empty.wins_by_game == layer.wins_by_game
        assert empty.margin_tenths == layer.margin_tenths


def test_when_every_selected_alias_is_on_fallback_the_run_refuses_unless_allowed():
    nothing = manager({})
    with pytest.raises(NoModelToEvaluate, match="xgboost@Production: no_model"):
        Evaluator(nothing, seed=7).run([Family.XGBOOST], [Alias.PRODUCTION], resolve(["rock"]), 1)
    report = Evaluator(nothing, seed=7).run(
        [Family.XGBOOST], [Alias.PRODUCTION], resolve(["rock"]), 2, allow_fallback=True
    )
    assert report.strength.tallies[("xgboost@Production", "rock")].accuracy is None


def test_games_are_reproducible_from_the_seed_and_independent_of_the_other_opponents():
    def tally_of(opponents: list[str], seed: int):
        report = Evaluator(everywhere(CERTAIN_ROCK), seed=seed).run(
            [Family.MULTINOMIAL_LOGISTIC], [Alias.PRODUCTION], resolve(opponents), 4
        )
        t = report.strength.tallies[("multinomial_logistic@Production", "gus")]
        return (t.rounds, t.margin_tenths, t.wins_by_game, t.correct)

    assert tally_of(["gus"], 11) == tally_of(["random", "gus"], 11)
    assert tally_of(["gus"], 11) != tally_of(["gus"], 12)


def test_progress_is_reported_once_per_game_of_every_bot_and_baseline():
    ticks = []
    families, aliases = [Family.XGBOOST, Family.FEEDFORWARD_NN], [Alias.PRODUCTION]
    opponents = resolve(["rock", "cycle"])
    Evaluator(everywhere(CERTAIN_ROCK), seed=8).run(
        families, aliases, opponents, 2, on_game=lambda: ticks.append(1)
    )
    assert len(ticks) == total_games(families, aliases, opponents, 2) == (2 + 3) * 2 * 2


# -- the figures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_report():
    opponents = resolve(["rock", "random", "highest", "middle", "frequency", "cal"])
    return Evaluator(everywhere(CERTAIN_ROCK), seed=3).run(
        [Family.XGBOOST], [Alias.PRODUCTION, Alias.SHADOW1], opponents, 6
    )


def test_the_report_has_every_part_group_baseline_and_the_worst_opponent(small_report):
    strength = small_report.strength
    assert strength.contenders == ["xgboost@Production", "xgboost@shadow1", *BASELINES]
    figures = strength.contender_dict("xgboost@Production")
    parts = {s.part for s in strength.opponents}
    assert parts == {GymPart.TRAINING, GymPart.HOLDOUT}
    training = [s for s in strength.opponents if s.part is GymPart.TRAINING]
    pooled = sum(strength.tallies[("xgboost@Production", s.name)].bot_wins for s in training)
    assert figures["training"]["wins"] == pooled
    assert figures["training"]["games"] == 6 * len(training)
    assert figures["overall"]["games"] == 36
    assert set(figures["groups"]) == {"naive", "adaptive", "value_aware", "mixed"}
    worst = figures["worst"]["overall"]
    rates = {
        s.name: strength.tallies[("xgboost@Production", s.name)].win_rate
        for s in strength.opponents
    }
    assert worst["win_rate"] == min(rates.values())
    assert rates[worst["opponent"]] == worst["win_rate"]
    assert worst["low"] <= worst["win_rate"] <= worst["high"]
    assert set(figures["paired"]) == set(BASELINES)
    mine = figures["holdout"]["win_rate"]
    greedy = strength.contender_dict(BASELINE_GREEDY)["holdout"]["win_rate"]
    assert figures["paired"][BASELINE_GREEDY]["holdout"]["difference"] == pytest.approx(
        mine - greedy
    )
    assert "paired" not in strength.contender_dict(BASELINE_GREEDY)
    assert figures["accuracy"] is not None
    assert figures["versions"] == ["4"]


def test_margin_per_round_is_the_bots_points_minus_the_opponents_over_all_rounds():
    games = []
    play_gym(
        [ValueGreedy()],
        resolve(["cal"]),
        5,
        seed=4,
        on_played=lambda c, spec, game: games.append(game),
    )
    report = play_gym([ValueGreedy()], resolve(["cal"]), 5, seed=4)
    tally = report.tallies[("value-greedy", "cal")]
    margin = sum(g.bot_score - g.user_score for g in games) / 10
    assert tally.rounds == sum(len(g.rounds) for g in games)
    assert tally.margin_per_round == pytest.approx(margin / tally.rounds)


class RecordingStore:
    def __init__(self) -> None:
        self.records: list[StrengthRecord] = []

    def add(self, record: StrengthRecord) -> None:
        self.records.append(record)


def test_persist_stores_the_figures_of_each_evaluated_version_and_not_of_fallbacks():
    models = {(Family.XGBOOST, Alias.SHADOW1): fetched("8", CERTAIN_ROCK)}
    store = RecordingStore()
    evaluator = Evaluator(manager(models), store, seed=4)
    report = evaluator.run(
        [Family.XGBOOST], [Alias.SHADOW1, Alias.SHADOW2], resolve(["rock", "scissors"]), 3
    )
    assert evaluator.persist(report) == 1
    (record,) = store.records
    assert (record.model_type, record.version, record.source) == ("xgboost", "8", "evaluate")
    assert record.training_win_rate == report.strength.tallies[("xgboost@shadow1", "rock")].win_rate
    assert record.holdout_win_rate == (
        report.strength.tallies[("xgboost@shadow1", "scissors")].win_rate
    )
    assert record.greedy_holdout_win_rate == (
        report.strength.tallies[(BASELINE_GREEDY, "scissors")].win_rate
    )
    assert record.games_per_opponent == 3
    assert record.seed == 4
    assert record.scoring_version == report.strength.params_digest
    assert record.figures["overall"]["games"] == 6
    assert Evaluator(manager(models), seed=4).persist(report) == 0  # no store, nothing written

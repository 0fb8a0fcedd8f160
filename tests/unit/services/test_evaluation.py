"""`rps evaluate`'s service: the generic opponents' rules, the Wilson interval, and the evaluation
loop against fake models served by a real ModelManager."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from rps.domain.history import PlayerView
from rps.domain.move import MOVES, Move, Outcome
from rps.domain.personas import PersonaName
from rps.domain.policy import Alias, Family
from rps.domain.round_values import RoundValues
from rps.persistence.records import GameRecord, GameSource, RoundRecord
from rps.services.evaluation import (
    OPPONENTS,
    Evaluator,
    NoModelToEvaluate,
    constant_rock,
    cycle,
    frequency,
    highest_valued,
    lowest_valued,
    parse_aliases,
    parse_families,
    parse_opponents,
    uniform_random,
    wilson_interval,
    win_stay_lose_shift,
)
from rps.serving.model_manager import ModelManager
from tests.support.onnx_models import DictSource, fetched

R, P, S = Move.ROCK, Move.PAPER, Move.SCISSORS
W, L, D = Outcome.WIN, Outcome.LOSE, Outcome.DRAW
VALUES = RoundValues(20, 10, 15)  # rock highest, paper lowest, scissors middle


def view(
    mine: tuple[Move, ...] = (),
    bots: tuple[Move, ...] = (),
    results: tuple[Outcome, ...] = (),
    values: RoundValues = VALUES,
) -> PlayerView:
    """The user side's view: ``mine`` are the opponent's own moves, ``bots`` the bot's."""
    return PlayerView(values, mine, bots, results, (values,) * len(mine), 0, 0)


# -- opponents ----------------------------------------------------------------------------------


def test_every_persona_and_generic_opponent_is_registered():
    assert set(OPPONENTS) == {p.value for p in PersonaName} | {
        "random",
        "constant",
        "cycle",
        "frequency",
        "wsls",
        "highest",
        "lowest",
    }


def test_random_plays_each_move_about_a_third_of_the_time_and_repeats_with_its_seed():
    rng = random.Random(3)
    counts = Counter(uniform_random(view(), rng) for _ in range(3000))
    assert set(counts) == set(MOVES)
    assert all(900 < c < 1100 for c in counts.values())
    first = [uniform_random(view(), random.Random(9)) for _ in range(5)]
    assert first == [uniform_random(view(), random.Random(9)) for _ in range(5)]


def test_constant_always_plays_rock_whatever_happened():
    assert constant_rock(view(), random.Random(0)) is R
    assert constant_rock(view((R, R), (P, P), (L, L)), random.Random(0)) is R


def test_cycle_plays_rock_paper_scissors_by_rounds_played():
    moves = [cycle(view((R,) * n, (R,) * n, (D,) * n), random.Random(0)) for n in range(5)]
    assert moves == [R, P, S, R, P]


def test_frequency_beats_the_bots_most_frequent_move():
    assert frequency(view((R, R, R), (S, P, S), (W, L, W)), random.Random(0)) is R


def test_frequency_breaks_ties_rock_paper_scissors_and_starts_with_paper():
    assert frequency(view((R, R), (S, P), (W, L)), random.Random(0)) is S  # tie: paper first
    assert frequency(view(), random.Random(0)) is P  # nothing played: rock counts as most frequent


def test_wsls_repeats_its_move_after_a_win():
    assert win_stay_lose_shift(view((P, S), (R, P), (W, W)), random.Random(0)) is S


def test_wsls_plays_the_beater_of_the_bots_last_move_after_a_loss():
    assert win_stay_lose_shift(view((R, R), (S, P), (W, L)), random.Random(0)) is S


def test_wsls_shifts_to_the_next_move_in_the_cycle_after_a_draw():
    assert win_stay_lose_shift(view((S,), (S,), (D,)), random.Random(0)) is R
    assert win_stay_lose_shift(view((R,), (R,), (D,)), random.Random(0)) is P


def test_wsls_opens_with_a_seeded_random_move():
    opened = {win_stay_lose_shift(view(), random.Random(seed)) for seed in range(30)}
    assert opened == set(MOVES)
    assert win_stay_lose_shift(view(), random.Random(4)) is win_stay_lose_shift(
        view(), random.Random(4)
    )


def test_highest_and_lowest_play_the_rounds_highest_and_lowest_valued_moves():
    assert highest_valued(view(), random.Random(0)) is R
    assert lowest_valued(view(), random.Random(0)) is P
    other = RoundValues(11, 16, 10)
    assert highest_valued(view(values=other), random.Random(0)) is P
    assert lowest_valued(view(values=other), random.Random(0)) is S


def test_unknown_opponents_are_refused_with_the_list_of_valid_ones():
    with pytest.raises(ValueError, match="unknown opponent 'bogus'") as excinfo:
        parse_opponents(["cal", "bogus"])
    for name in ("ace", "hal", "random", "constant", "wsls", "lowest"):
        assert name in str(excinfo.value)


def test_opponent_names_are_case_insensitive_and_deduplicated_in_order():
    assert parse_opponents([" Random", "cal", "random", ""]) == ["random", "cal"]
    with pytest.raises(ValueError, match="no opponent"):
        parse_opponents(["", " "])


def test_families_accept_policy_and_short_names_and_aliases_need_their_exact_case():
    assert parse_families(["forrest", "mnlogit", "xgboost"]) == [
        Family.XGBOOST,
        Family.MULTINOMIAL_LOGISTIC,
    ]
    assert parse_aliases(["Production", "B"]) == [Alias.PRODUCTION, Alias.B]
    with pytest.raises(ValueError, match="unknown alias 'production'"):
        parse_aliases(["production"])
    with pytest.raises(ValueError, match="unknown model type 'svm'"):
        parse_families(["svm"])


# -- the Wilson interval ------------------------------------------------------------------------


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


# -- the evaluation loop ------------------------------------------------------------------------

CERTAIN_ROCK = (0.998, 0.001, 0.001)


class RecordingRepository:
    """Stands in for the GameRepository: keeps what would have been stored."""

    def __init__(self) -> None:
        self.games: list[tuple[GameRecord, list[RoundRecord]]] = []

    def add_played_games(self, played_games):
        self.games.extend((g, list(rs)) for g, rs in played_games)


def manager(models: dict) -> ModelManager:
    loaded = ModelManager([DictSource("cache", models)])
    loaded.reload()
    return loaded


def certain_of_rock() -> ModelManager:
    return manager({(f, a): fetched("4", CERTAIN_ROCK) for f in Family for a in Alias})


def test_a_model_certain_of_rock_predicts_constant_rock_perfectly_and_wins_every_model_round():
    repo = RecordingRepository()
    evaluator = Evaluator(certain_of_rock(), repo, seed=1)
    report = evaluator.run([Family.XGBOOST], [Alias.PRODUCTION], ["constant"], 5)
    cell = report.cells[(Family.XGBOOST, Alias.PRODUCTION, "constant")]
    assert cell.games == 5
    assert cell.model_rounds > 0
    assert cell.accuracy == 1.0
    assert cell.bot_wins == 5
    assert cell.win_interval == pytest.approx(wilson_interval(5, 5))
    assert cell.margin_per_round > 0.5  # every model round wins ≥ 1.0; the openings vary
    assert not cell.on_fallback
    assert cell.versions == {"4"}
    model_rounds = [r for _, rounds in repo.games for r in rounds if r.decision_source == "model"]
    assert len(model_rounds) == cell.model_rounds
    assert all(r.played.bot_move is P and r.played.outcome is L for r in model_rounds)


def test_against_a_random_opponent_the_accuracy_is_about_a_third():
    report = Evaluator(certain_of_rock(), seed=2).run(
        [Family.FEEDFORWARD_NN], [Alias.B], ["random"], 40
    )
    cell = report.cells[(Family.FEEDFORWARD_NN, Alias.B, "random")]
    assert cell.model_rounds > 400
    assert cell.accuracy == pytest.approx(1 / 3, abs=0.07)


def test_the_margin_per_round_is_the_bots_points_minus_the_opponents_over_all_rounds():
    repo = RecordingRepository()
    report = Evaluator(certain_of_rock(), repo, seed=3).run(
        [Family.XGBOOST], [Alias.PRODUCTION], ["cal"], 4
    )
    cell = report.cells[(Family.XGBOOST, Alias.PRODUCTION, "cal")]
    margin = sum(g.bot_score - g.user_score for g, _ in repo.games) / 10
    assert cell.rounds == sum(len(rs) for _, rs in repo.games)
    assert cell.margin_per_round == pytest.approx(margin / cell.rounds)


def test_the_bot_is_forced_onto_each_alias_and_games_are_stored_as_simulated_test_games():
    models = {(Family.XGBOOST, Alias.SHADOW1): fetched("8", CERTAIN_ROCK)}
    repo = RecordingRepository()
    report = Evaluator(manager(models), repo, seed=4).run(
        [Family.XGBOOST], [Alias.SHADOW1], ["constant", "hal"], 3
    )
    assert report.persisted_games == 6
    assert len(repo.games) == 6
    for record, rounds in repo.games:
        assert record.source is GameSource.SIMULATED
        assert record.is_test is True
        assert record.bot_model_alias == "shadow1"
        assert record.model_version == "8"
        assert record.policy == "forrest"
        assert record.winner is not None
        assert record.rounds_played == len(rounds)
        assert [r.decision_source for r in rounds[:3]] == ["opening"] * 3
        assert {r.model_alias for r in rounds[3:]} == {"shadow1"}
    assert {g.player_name for g, _ in repo.games} == {"constant", "Hal"}


def test_nothing_is_stored_without_a_repository():
    report = Evaluator(certain_of_rock(), seed=5).run(
        [Family.XGBOOST], [Alias.PRODUCTION], ["constant"], 2
    )
    assert report.persisted_games == 0
    assert report.games == 2


def test_an_alias_without_a_model_is_reported_as_fallback_with_no_accuracy():
    models = {(Family.XGBOOST, Alias.PRODUCTION): fetched("2", CERTAIN_ROCK)}
    report = Evaluator(manager(models), seed=6).run(
        [Family.XGBOOST], [Alias.PRODUCTION, Alias.B], ["constant"], 3
    )
    served = report.cells[(Family.XGBOOST, Alias.PRODUCTION, "constant")]
    empty = report.cells[(Family.XGBOOST, Alias.B, "constant")]
    assert served.accuracy == 1.0
    assert not report.statuses[(Family.XGBOOST, Alias.PRODUCTION)].on_fallback
    assert report.statuses[(Family.XGBOOST, Alias.B)].fallback_reason == "no_model"
    assert empty.accuracy is None
    assert empty.on_fallback
    assert empty.model_rounds == 0
    assert empty.fallback_reasons == Counter({"no_model": empty.rounds - 3 * empty.games})


def test_when_every_selected_alias_is_on_fallback_the_run_refuses_unless_allowed():
    nothing = manager({})
    with pytest.raises(NoModelToEvaluate, match="xgboost@Production: no_model"):
        Evaluator(nothing, seed=7).run([Family.XGBOOST], [Alias.PRODUCTION], ["constant"], 1)
    report = Evaluator(nothing, seed=7).run(
        [Family.XGBOOST], [Alias.PRODUCTION], ["constant"], 2, allow_fallback=True
    )
    assert report.cells[(Family.XGBOOST, Alias.PRODUCTION, "constant")].accuracy is None


def test_games_are_reproducible_from_the_seed_and_independent_of_the_other_opponents():
    def cell_of(opponents: list[str], seed: int):
        report = Evaluator(certain_of_rock(), seed=seed).run(
            [Family.MULTINOMIAL_LOGISTIC], [Alias.PRODUCTION], opponents, 4
        )
        c = report.cells[(Family.MULTINOMIAL_LOGISTIC, Alias.PRODUCTION, "gus")]
        return (c.rounds, c.margin_tenths, c.bot_wins, c.correct)

    assert cell_of(["gus"], 11) == cell_of(["random", "gus"], 11)
    assert cell_of(["gus"], 11) != cell_of(["gus"], 12)


def test_progress_is_reported_once_per_game():
    ticks = []
    Evaluator(certain_of_rock(), seed=8).run(
        [Family.XGBOOST, Family.FEEDFORWARD_NN],
        [Alias.PRODUCTION],
        ["constant", "cycle"],
        2,
        on_game=lambda: ticks.append(1),
    )
    assert len(ticks) == 8

"""The opponent gym (SPEC §2.1): every strategy's rule from crafted views and scripted games, the
catalogue's shape, and the selectors ``rps`` commands accept."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Sequence

import pytest

from rps.domain.game import Game
from rps.domain.gym import (
    GYM,
    LEGACY_NAMES,
    STRATEGIES,
    GymGroup,
    GymPart,
    holdout_part,
    resolve,
    strategies_in,
    training_part,
)
from rps.domain.history import PlayerView
from rps.domain.move import MOVES, Move, Outcome, beater, outcome, prey
from rps.domain.personas import PersonaName, persona_move
from rps.domain.round_values import RoundValues, round_values
from rps.domain.scoring import MAX_ROUNDS, score_round

R, P, S = Move.ROCK, Move.PAPER, Move.SCISSORS
W, L, D = Outcome.WIN, Outcome.LOSE, Outcome.DRAW

# Value sets (rock, paper, scissors) in tenths; ranks noted as best / middle / lowest.
ROCK_HIGH = RoundValues(20, 10, 15)  # best R, middle S, lowest P
PAPER_HIGH = RoundValues(13, 18, 10)  # best P, middle R, lowest S
SCISSORS_HIGH = RoundValues(10, 15, 20)  # best S, middle P, lowest R
NARROW = RoundValues(16, 10, 11)  # best R, middle S, lowest P; spread 0.6
SCISSORS_TOP = RoundValues(10, 12, 17)  # best S, middle P, lowest R; spread 0.7


def view(
    values: RoundValues = ROCK_HIGH,
    mine: Sequence[Move] = (),
    theirs: Sequence[Move] = (),
    past: Sequence[RoundValues] | None = None,
    scores: tuple[int, int] | None = None,
) -> PlayerView:
    """A player's view: results follow from the moves; past values default to ``values``; scores
    default to the real totals of the history."""
    mine, theirs = tuple(mine), tuple(theirs)
    past = tuple(past) if past is not None else (values,) * len(mine)
    if scores is None:
        my_score = their_score = 0
        for m, t, v in zip(mine, theirs, past, strict=True):
            score = score_round(m, t, v)
            my_score += score.user_delta
            their_score += score.bot_delta
        scores = (my_score, their_score)
    results = tuple(outcome(m, t) for m, t in zip(mine, theirs, strict=True))
    return PlayerView(values, mine, theirs, results, past, *scores)


def history(
    results: Sequence[Outcome], mine: Move = R
) -> tuple[tuple[Move, ...], tuple[Move, ...]]:
    """My moves and the bot's that give ``results`` when I always play ``mine``."""
    theirs = {W: prey(mine), L: beater(mine), D: mine}
    return (mine,) * len(results), tuple(theirs[r] for r in results)


class DrewRandomness(Exception):
    """A rule drew from an RNG that a deterministic rule must not touch."""


class NoRandomness(random.Random):
    """An RNG that raises when drawn from: deterministic rules are played with it."""

    def random(self):
        raise DrewRandomness

    def choice(self, *args, **kwargs):
        raise DrewRandomness

    def choices(self, *args, **kwargs):
        raise DrewRandomness

    def randrange(self, *args, **kwargs):
        raise DrewRandomness


def move(name: str, v: PlayerView) -> Move:
    """What a fresh player of the deterministic strategy ``name`` plays from ``v``."""
    return GYM[name].player(NoRandomness())(v)


def move_or_none(name: str, v: PlayerView) -> Move | None:
    """Like :func:`move`, but None where the rule plays at random."""
    try:
        return move(name, v)
    except DrewRandomness:
        return None


def draws(name: str, v: PlayerView, n: int, seed: int) -> list[Move]:
    """``n`` moves of one seeded player asked again and again from the same view."""
    player = GYM[name].player(random.Random(seed))
    return [player(v) for _ in range(n)]


def replay(
    name: str,
    bot_moves: Sequence[Move],
    values: Sequence[RoundValues] | None = None,
    seed: int = 0,
) -> list[Move]:
    """A fresh player's moves, round by round, against a bot scripted to play ``bot_moves``."""
    values = list(values) if values is not None else [ROCK_HIGH] * len(bot_moves)
    player = GYM[name].player(random.Random(seed))
    mine: list[Move] = []
    for i in range(len(bot_moves)):
        mine.append(player(view(values[i], mine, bot_moves[:i], past=values[:i])))
    return mine


def first_moves(name: str, seeds: range = range(60)) -> Counter[Move]:
    """The opening move of a fresh player per seed; each seed must reproduce its own."""
    moves: Counter[Move] = Counter()
    for seed in seeds:
        first = GYM[name].player(random.Random(seed))(view())
        assert GYM[name].player(random.Random(seed))(view()) is first, seed
        moves[first] += 1
    return moves


def shares(moves: Sequence[Move]) -> dict[Move, float]:
    counts = Counter(moves)
    return {m: counts[m] / len(moves) for m in MOVES}


# ================================================================ the catalogue


def test_the_gym_has_at_least_thirty_strategies_with_unique_lower_case_kebab_names():
    names = [s.name for s in STRATEGIES]
    assert len(names) >= 30
    assert len(set(names)) == len(names)
    for name in names:
        assert name == name.lower()
        assert all(part.isalnum() for part in name.split("-")), name


def test_gym_indexes_every_strategy_by_name_in_catalogue_order():
    assert list(GYM) == [s.name for s in STRATEGIES]
    assert all(GYM[s.name] is s for s in STRATEGIES)


@pytest.mark.parametrize("group", list(GymGroup))
def test_every_group_has_strategies_and_a_third_of_them_held_out(group):
    members = [s for s in STRATEGIES if s.group is group]
    assert members
    assert sum(s.holdout for s in members) == round(len(members) / 3)


def test_descriptions_are_single_non_empty_lines():
    for s in STRATEGIES:
        assert s.description.strip(), s.name
        assert "\n" not in s.description, s.name
        assert s.description == s.description.strip(), s.name


def test_the_eight_personas_are_mixed_strategies_in_the_training_part():
    personas = [s for s in STRATEGIES if s.is_persona]
    assert [s.name for s in personas] == [p.value for p in PersonaName]
    for s in personas:
        assert s.group is GymGroup.MIXED
        assert not s.holdout
        assert s.part is GymPart.TRAINING
        assert s.description.startswith("persona: ")
    assert not any(s.is_persona for s in STRATEGIES if s.name not in set(PersonaName))


def test_part_follows_the_holdout_flag():
    for s in STRATEGIES:
        assert s.part is (GymPart.HOLDOUT if s.holdout else GymPart.TRAINING)


def test_training_and_holdout_parts_split_the_gym_in_catalogue_order():
    training, holdout = training_part(), holdout_part()
    assert training == [s for s in STRATEGIES if not s.holdout]
    assert holdout == [s for s in STRATEGIES if s.holdout]
    assert len(training) + len(holdout) == len(STRATEGIES)


def test_strategies_in_filters_by_groups_and_part():
    assert strategies_in() == list(STRATEGIES)
    naive = strategies_in([GymGroup.NAIVE])
    assert naive == [s for s in STRATEGIES if s.group is GymGroup.NAIVE]
    both = strategies_in([GymGroup.VALUE_AWARE, GymGroup.NAIVE], GymPart.HOLDOUT)
    assert both == [
        s for s in STRATEGIES if s.group in (GymGroup.NAIVE, GymGroup.VALUE_AWARE) and s.holdout
    ]
    assert strategies_in([]) == []


# ================================================================ resolve


def names(strategies) -> list[str]:
    return [s.name for s in strategies]


def test_resolve_finds_strategies_and_personas_by_name():
    assert names(resolve(["meta", "beat-last", "cal"])) == ["meta", "beat-last", "cal"]


def test_resolve_expands_a_group_in_catalogue_order():
    assert resolve(["adaptive"]) == strategies_in([GymGroup.ADAPTIVE])
    assert resolve(["value_aware"]) == strategies_in([GymGroup.VALUE_AWARE])


def test_resolve_expands_the_training_and_holdout_parts():
    assert resolve(["training"]) == training_part()
    assert resolve(["holdout"]) == holdout_part()


def test_resolve_expands_group_colon_part():
    assert names(resolve(["adaptive:holdout"])) == [
        "frequency-5",
        "markov-self",
        "history-match-bot",
        "wsls-cycle",
    ]
    assert resolve(["naive:training"]) == strategies_in([GymGroup.NAIVE], GymPart.TRAINING)


def test_resolve_expands_personas_and_all():
    assert names(resolve(["personas"])) == [p.value for p in PersonaName]
    assert resolve(["all"]) == list(STRATEGIES)


def test_resolve_maps_the_legacy_constant_to_rock():
    assert LEGACY_NAMES == {"constant": "rock"}
    assert names(resolve(["constant"])) == ["rock"]


def test_resolve_is_case_insensitive_and_ignores_surrounding_spaces():
    assert names(resolve([" Meta ", "ROCK", "Constant"])) == ["meta", "rock"]
    assert resolve(["Adaptive:HOLDOUT"]) == resolve(["adaptive:holdout"])
    assert resolve(["PERSONAS"]) == resolve(["personas"])


def test_resolve_drops_duplicates_keeping_the_first_position():
    chosen = names(resolve(["lowest", "value_aware", "rock", "constant", "naive", "lowest"]))
    value_aware = [n for n in names(strategies_in([GymGroup.VALUE_AWARE])) if n != "lowest"]
    naive = [n for n in names(strategies_in([GymGroup.NAIVE])) if n != "rock"]
    assert chosen == ["lowest", *value_aware, "rock", *naive]
    assert len(chosen) == len(set(chosen))


def test_resolve_skips_blank_selectors_but_needs_one():
    assert names(resolve(["", " rock ", "  "])) == ["rock"]
    with pytest.raises(ValueError, match="no opponent given"):
        resolve([])
    with pytest.raises(ValueError, match="no opponent given"):
        resolve(["  "])


@pytest.mark.parametrize("bad", ["zed", "naive:bogus", "bogus:holdout", "personas:holdout"])
def test_resolve_rejects_an_unknown_selector_naming_it_and_what_is_valid(bad):
    with pytest.raises(ValueError, match="unknown opponent") as raised:
        resolve(["rock", bad])
    message = str(raised.value)
    assert repr(bad) in message
    for valid in ("meta", "cal", "naive", "value_aware", "training", "holdout", "personas", "all"):
        assert valid in message


def test_resolve_keeps_the_selectors_spelling_in_its_error():
    with pytest.raises(ValueError, match="unknown opponent 'Zed'"):
        resolve([" Zed "])


# ================================================================ naive


def test_random_plays_each_move_about_a_third_of_the_time_and_repeats_with_its_seed():
    moves = draws("random", view(), 3000, seed=3)
    assert all(0.3 < share < 0.367 for share in shares(moves).values()), shares(moves)
    assert draws("random", view(), 50, seed=3) == moves[:50]
    assert draws("random", view(), 50, seed=4) != moves[:50]


@pytest.mark.parametrize(("name", "expected"), [("rock", R), ("paper", P), ("scissors", S)])
def test_constant_strategies_always_play_their_move(name, expected):
    mine, theirs = history((L, L, L, W, D))
    assert move(name, view()) is expected
    assert move(name, view(SCISSORS_HIGH, mine, theirs)) is expected
    assert replay(name, (P, S, R, R, P, S)) == [expected] * 6


def test_cycle_plays_rock_paper_scissors_by_rounds_played():
    assert replay("cycle", (S, S, P, R, R, P, S)) == [R, P, S, R, P, S, R]


def test_cycle_reverse_plays_rock_scissors_paper_by_rounds_played():
    assert replay("cycle-reverse", (S, S, P, R, R, P, S)) == [R, S, P, R, S, P, R]


def test_copy_last_plays_the_bots_last_move():
    assert move("copy-last", view(mine=(R, R), theirs=(S, P))) is P
    assert move("copy-last", view(mine=(P,), theirs=(S,))) is S


def test_beat_last_plays_the_beater_of_the_bots_last_move():
    assert move("beat-last", view(mine=(R, R), theirs=(S, P))) is S
    assert move("beat-last", view(mine=(P,), theirs=(S,))) is R


def test_lose_to_last_plays_the_move_the_bots_last_move_beats():
    assert move("lose-to-last", view(mine=(R, R), theirs=(S, P))) is R
    assert move("lose-to-last", view(mine=(P,), theirs=(S,))) is P


@pytest.mark.parametrize(
    "name", ["copy-last", "beat-last", "lose-to-last", "repeat", "wsls", "wsls-cycle"]
)
def test_reacting_strategies_open_with_a_seeded_random_move(name):
    opened = first_moves(name)
    assert set(opened) == set(MOVES)


def test_repeat_keeps_playing_its_own_first_move_whatever_happens():
    firsts = set()
    for seed in range(12):
        moves = replay("repeat", (P, S, R, P, S, R, P, P), seed=seed)
        assert moves == [moves[0]] * 8
        firsts.add(moves[0])
    assert firsts == set(MOVES)
    assert move("repeat", view(mine=(S, S), theirs=(R, R))) is S


def test_biased_rock_plays_rock_about_half_the_time():
    moves = draws("biased-rock", view(), 4000, seed=5)
    share = shares(moves)
    assert 0.47 < share[R] < 0.53, share
    assert 0.22 < share[P] < 0.28, share
    assert 0.22 < share[S] < 0.28, share
    assert draws("biased-rock", view(), 4000, seed=5) == moves


def test_biased_favours_a_per_game_move_about_half_the_time():
    favourites = set()
    for seed in range(12):
        moves = draws("biased", view(), 2000, seed=seed)
        share = shares(moves)
        favourite = max(MOVES, key=share.__getitem__)
        assert 0.46 < share[favourite] < 0.54, (seed, share)
        assert all(0.21 < share[m] < 0.29 for m in MOVES if m is not favourite), (seed, share)
        assert draws("biased", view(), 2000, seed=seed) == moves
        favourites.add(favourite)
    assert favourites == set(MOVES)


# ================================================================ adaptive

# Whole game: scissors is the favourite; the last five: paper; the last three: rock.
WINDOWED = (S, S, S, S, P, P, P, R, R)


def test_frequency_beats_the_bots_most_frequent_move():
    assert move("frequency", view(mine=(R,) * 9, theirs=WINDOWED)) is R
    assert move("frequency", view(mine=(R, R, R), theirs=(S, P, S))) is R


def test_frequency_breaks_ties_rock_paper_scissors_and_opens_with_paper():
    assert move("frequency", view(mine=(R, R), theirs=(S, P))) is S
    assert move("frequency", view()) is P


@pytest.mark.parametrize(("name", "expected"), [("frequency-5", S), ("frequency-3", P)])
def test_windowed_frequency_beats_the_most_frequent_move_of_the_last_rounds(name, expected):
    assert move(name, view(mine=(R,) * 9, theirs=WINDOWED)) is expected
    assert move(name, view(mine=(R, R), theirs=(S, P))) is S  # fewer rounds than the window
    assert move(name, view()) is P


def test_frequency_decay_weighs_each_older_round_by_seven_tenths():
    # Before round 4 rock weighs 0.7 + 0.49 = 1.19 > paper's 1 (a decay of 0.6 would say paper);
    # before round 6 paper weighs 1 + 0.49 = 1.49 > rock's 0.7 + 0.343 + 0.2401 = 1.28 (a decay
    # of 0.8, or none, would say rock).
    assert replay("frequency-decay", (R, R, P, R, P, S)) == [P, P, P, P, P, S]
    assert replay("frequency", (R, R, P, R, P, S)) == [P, P, P, P, P, P]


def test_frequency_decay_follows_a_recent_change_of_habit():
    moves = replay("frequency-decay", (R, R, R, P, P, P, S, S, S))
    assert moves == [P, P, P, P, P, S, S, S, R]


def test_markov_bot_beats_what_the_bot_played_after_its_last_move():
    # After rock the bot played paper twice → expect paper → scissors (frequency says paper).
    assert move("markov-bot", view(mine=(R,) * 5, theirs=(R, P, R, P, R))) is S


def test_markov_bot_falls_back_to_frequency_without_a_precedent():
    assert move("markov-bot", view(mine=(R,), theirs=(S,))) is R  # one round only
    assert move("markov-bot", view(mine=(R,) * 3, theirs=(R, R, P))) is P  # nothing followed P


def test_markov_self_beats_what_the_bot_played_after_my_last_move():
    # After my scissors the bot played scissors (next round) → rock. The bot's own transitions
    # (markov-bot) and its frequencies both say scissors.
    v = view(mine=(R, S, R, S), theirs=(P, P, S, R))
    assert move("markov-self", v) is R
    assert move("markov-bot", v) is S
    assert move("frequency", v) is S


def test_markov_self_falls_back_to_frequency():
    assert move("markov-self", view(mine=(P,), theirs=(S,))) is R
    assert move("markov-self", view(mine=(R, R, P), theirs=(S, S, S))) is R  # P never before


def test_markov_2_beats_what_followed_the_bots_last_two_moves():
    v = view(mine=(R,) * 5, theirs=(R, R, P, R, R))
    assert move("markov-2", v) is S  # after rock, rock came paper
    assert move("markov-bot", v) is P  # after rock alone, rock came twice


def test_markov_2_falls_back_to_first_order():
    assert move("markov-2", view(mine=(R, R), theirs=(P, P))) is S  # two rounds only
    # (paper, rock) never came before; after rock came paper → scissors (frequency: paper).
    assert move("markov-2", view(mine=(R,) * 4, theirs=(R, P, P, R))) is S


def test_history_match_prefers_the_longest_earlier_match_of_the_joint_history():
    # Joint history: (R,R) (P,P) (S,S) (P,P) (R,P) (R,R) (P,P). The last two pairs occurred at
    # the start, followed by the bot's scissors → rock; the last pair alone last occurred before
    # the bot's paper.
    v = view(mine=(R, P, S, P, R, R, P), theirs=(R, P, S, P, P, R, P))
    assert move("history-match", v) is R


def test_history_match_matches_my_moves_too_unlike_history_match_bot():
    # The bot's moves alone: (rock, paper) last came before scissors → rock. With my moves, only
    # (rock, paper) at the start matches the last pair; the bot then played rock → paper.
    v = view(mine=(R, S, P, R, R, R), theirs=(P, R, P, S, R, P))
    assert move("history-match", v) is P
    assert move("history-match-bot", v) is R


def test_history_matchers_follow_the_most_recent_of_equally_long_matches():
    # Rock came before paper (round 2) and before scissors (round 4): the latter counts → rock.
    assert move("history-match-bot", view(mine=(R,) * 5, theirs=(R, P, R, S, R))) is R
    assert move("history-match", view(mine=(R,) * 5, theirs=(R, P, R, S, R))) is R


def test_history_matchers_fall_back_to_frequency_without_an_earlier_match():
    assert move("history-match-bot", view(mine=(R,) * 3, theirs=(S, S, P))) is R
    assert move("history-match", view(mine=(R, P), theirs=(S, S))) is R
    assert move("history-match", view()) is P


def test_wsls_repeats_its_move_after_a_win():
    assert move("wsls", view(mine=(P, S), theirs=(R, P))) is S


def test_wsls_plays_the_beater_of_the_bots_last_move_after_a_loss():
    assert move("wsls", view(mine=(R, R), theirs=(S, P))) is S


def test_wsls_shifts_up_the_cycle_after_a_draw():
    assert move("wsls", view(mine=(S,), theirs=(S,))) is R
    assert move("wsls", view(mine=(R,), theirs=(R,))) is P


def test_wsls_cycle_repeats_after_a_win_and_steps_down_the_cycle_otherwise():
    assert move("wsls-cycle", view(mine=(P, S), theirs=(R, P))) is S  # win
    assert move("wsls-cycle", view(mine=(R, R), theirs=(S, P))) is S  # loss: rock → scissors
    assert move("wsls-cycle", view(mine=(P,), theirs=(P,))) is R  # draw: paper → rock
    assert move("wsls-cycle", view(mine=(S,), theirs=(R,))) is P


META_MEMBERS = ("frequency", "markov-bot", "history-match", "beat-last")


def test_meta_starts_with_frequency_and_switches_to_markov_bot_against_a_backward_cycle():
    backward = [MOVES[-i % 3] for i in range(12)]  # R S P R S P …
    moves = replay("meta", backward)
    assert moves == [P, P, P, P, P, S, P, R, S, P, R, S]
    assert [outcome(m, b) for m, b in zip(moves[5:], backward[5:], strict=True)] == [W] * 7
    # beat-last, one of its members, loses every round to the same bot.
    beat_last = replay("beat-last", backward)
    assert all(outcome(m, b) is L for m, b in zip(beat_last[1:], backward[1:], strict=True))


POINTS = {W: 1, L: -1, D: 0}


def meta_choice(mine: Sequence[Move], bots: Sequence[Move], values) -> tuple[str, Move]:
    """The member that scored best over the last five rounds (ties: member order) and its move,
    from at least six rounds of history (the members' random openings no longer count)."""
    n = len(mine)
    assert n >= 6
    scores = {
        member: sum(
            POINTS[outcome(move(member, view(values[k], mine[:k], bots[:k], values[:k])), bots[k])]
            for k in range(n - 5, n)
        )
        for member in META_MEMBERS
    }
    best = max(META_MEMBERS, key=lambda m: (scores[m], -META_MEMBERS.index(m)))
    return best, move(best, view(values[n], mine, bots[:n], values[:n]))


def test_meta_follows_the_member_with_the_best_score_over_the_last_five_rounds():
    values = [round_values("meta", r) for r in range(1, MAX_ROUNDS + 1)]
    followed: Counter[str] = Counter()
    for seed in range(8):
        bot_rng = random.Random(seed)
        habit = [MOVES[-i % 3] for i in range(10)] + [bot_rng.choice(MOVES)] * 10
        bots = [m if bot_rng.random() < 0.8 else bot_rng.choice(MOVES) for m in habit]
        mine = replay("meta", bots, values, seed=seed)
        for n in range(6, MAX_ROUNDS):
            member, expected = meta_choice(mine[:n], bots, values)
            assert mine[n] is expected, (seed, n, member)
            followed[member] += 1
    assert set(followed) == set(META_MEMBERS), followed


# ================================================================ value-aware


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("highest", (R, P, S, S)),
        ("middle", (S, R, P, P)),
        ("lowest", (P, S, R, R)),
    ],
)
def test_value_tier_strategies_play_the_rounds_move_of_that_tier(name, expected):
    value_sets = (ROCK_HIGH, PAPER_HIGH, SCISSORS_HIGH, SCISSORS_TOP)
    assert tuple(move(name, view(v)) for v in value_sets) == expected
    mine, theirs = history((L, L, L, W))
    assert move(name, view(PAPER_HIGH, mine, theirs)) is expected[1]


def test_tier_counter_beats_the_move_in_the_bots_favourite_tier_judged_by_each_rounds_values():
    # The bot's paper was lowest in ROCK_HIGH, its rock lowest in SCISSORS_HIGH and middle in
    # PAPER_HIGH: lowest is its favourite tier (rock its favourite move). Now (NARROW) the lowest
    # is paper → scissors.
    v = view(NARROW, mine=(S, P, S), theirs=(P, R, R), past=(ROCK_HIGH, SCISSORS_HIGH, PAPER_HIGH))
    assert move("tier-counter", v) is S
    assert move("frequency", v) is P


def test_tier_counter_breaks_tier_ties_highest_middle_lowest_and_opens_with_best():
    # The bot played middle (S), then lowest (P) → middle; now the middle is S → R.
    assert move("tier-counter", view(NARROW, mine=(R, S), theirs=(S, P))) is R
    # highest, lowest, middle once each → highest; now best of NARROW is R → P.
    assert move("tier-counter", view(NARROW, mine=(P, S, P), theirs=(R, P, S))) is P
    assert move("tier-counter", view(PAPER_HIGH)) is P


def test_tier_counter_counts_the_whole_game():
    # Tiers (ROCK_HIGH): H, H, H, H, L, L, M, L. The whole game: highest; the last five: lowest.
    # Now (PAPER_HIGH): highest is P → S.
    v = view(PAPER_HIGH, mine=(R,) * 8, theirs=(R, R, R, R, P, P, S, P), past=(ROCK_HIGH,) * 8)
    assert move("tier-counter", v) is S
    assert move("tier-counter-3", v) is R


def test_tier_counter_3_counts_only_the_last_three_rounds():
    # Tiers (ROCK_HIGH): H, H, L, L, M. Whole game: highest (tie, first); last three: lowest.
    # Now (PAPER_HIGH): highest is P → S; lowest is S → R.
    v = view(PAPER_HIGH, mine=(R,) * 5, theirs=(R, R, P, P, S), past=(ROCK_HIGH,) * 5)
    assert move("tier-counter", v) is S
    assert move("tier-counter-3", v) is R
    assert move("tier-counter-3", view(SCISSORS_HIGH)) is S


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ((), R),
        ((L,), R),
        ((L, L), P),
        ((L, L, W), P),
        ((L, L, L), P),
        ((L, L, L, L), R),
        ((L, W, L), R),
        ((L, D, L), R),
        ((L, L, D, L, L), R),
        ((W, L, L, D, W, L), P),
    ],
)
def test_greedy_switch_toggles_highest_and_lowest_after_each_two_straight_losses(results, expected):
    mine, theirs = history(results, mine=S)
    assert move("greedy-switch", view(ROCK_HIGH, mine, theirs)) is expected


def test_greedy_switch_over_a_game_switches_to_lowest_and_back():
    values = [ROCK_HIGH, PAPER_HIGH, SCISSORS_HIGH] * 2
    # Best, best (both lost), lowest, lowest (both lost), best again (won), best.
    assert replay("greedy-switch", (P, S, P, S, R, R), values) == [R, P, R, P, P, S]


def test_value_weighted_plays_moves_in_proportion_to_their_values():
    moves = draws("value-weighted", view(ROCK_HIGH), 4500, seed=8)
    share = shares(moves)
    for m, expected in zip(MOVES, (20 / 45, 10 / 45, 15 / 45), strict=True):
        assert abs(share[m] - expected) < 0.03, share
    assert draws("value-weighted", view(ROCK_HIGH), 4500, seed=8) == moves


def test_tier_markov_beats_the_tier_that_followed_the_bots_last_tier():
    # The bot always played rock, but in tiers H, L, H, L, H (ROCK_HIGH, SCISSORS_HIGH, …): after
    # highest came lowest twice. Now (PAPER_HIGH) the lowest is S → R; rock-based rules say P.
    past = (ROCK_HIGH, SCISSORS_HIGH) * 2 + (ROCK_HIGH,)
    v = view(PAPER_HIGH, mine=(P,) * 5, theirs=(R,) * 5, past=past)
    assert move("tier-markov", v) is R
    assert move("markov-bot", v) is P


def test_tier_markov_expects_a_repeated_tier_without_a_precedent_and_opens_with_best():
    # Tiers (ROCK_HIGH): middle, highest; nothing ever followed highest → expect highest again.
    v = view(PAPER_HIGH, mine=(R, R), theirs=(S, R), past=(ROCK_HIGH, ROCK_HIGH))
    assert move("tier-markov", v) is S
    assert move("tier-markov", view(PAPER_HIGH, mine=(R,), theirs=(S,))) is P
    assert move("tier-markov", view(SCISSORS_HIGH)) is S


def test_ev_frequency_plays_the_move_of_highest_expected_net_points():
    # Smoothed bot frequencies (2/5, 1/5, 2/5); net expectation: rock 0.4·1.0 − 0.2·1.2 = 0.16,
    # paper 0.4·1.2 − 0.4·1.7 = −0.2, scissors 0.2·1.7 − 0.4·1.0 = −0.06. Frequency says paper,
    # highest says scissors, gains alone would say paper.
    assert move("ev-frequency", view(SCISSORS_TOP, mine=(P, P), theirs=(R, S))) is R


def test_ev_frequency_plays_the_highest_valued_move_with_no_history():
    assert move("ev-frequency", view(PAPER_HIGH)) is P
    assert move("ev-frequency", view(SCISSORS_TOP)) is S


def test_ev_frequency_breaks_exact_ties_rock_paper_scissors():
    # Frequencies (2/6, 3/6, 1/6): paper and scissors both expect +0.5/6, rock −1/6.
    assert move("ev-frequency", view(ROCK_HIGH, mine=(R, R, R), theirs=(R, P, P))) is P


# ================================================================ mixed

NOISY = [
    ("noisy-beat-last", "beat-last", 0.2),
    ("noisy-highest", "highest", 0.2),
    ("noisy-lowest", "lowest", 0.4),
    ("noisy-frequency", "frequency", 0.4),
    ("noisy-cycle", "cycle", 0.4),
    ("noisy-tier-counter", "tier-counter", 0.2),
    ("noisy-copy-last", "copy-last", 0.2),
]


@pytest.mark.parametrize(("name", "base", "epsilon"), NOISY)
def test_noisy_strategies_play_a_random_move_instead_of_their_base_epsilon_of_the_time(
    name, base, epsilon
):
    v = view(
        PAPER_HIGH,
        mine=(R, S, P, R),
        theirs=(S, S, R, P),
        past=(ROCK_HIGH, SCISSORS_HIGH, PAPER_HIGH, ROCK_HIGH),
    )
    intended = move(base, v)
    moves = draws(name, v, 3000, seed=11)
    share = shares(moves)
    # A random move is the intended one a third of the time: others 2ε/3 in all, ε/3 each.
    assert abs((1 - share[intended]) - 2 * epsilon / 3) < 0.03, share
    for other in MOVES:
        if other is not intended:
            assert abs(share[other] - epsilon / 3) < 0.025, share
    assert draws(name, v, 3000, seed=11) == moves
    assert draws(name, v, 3000, seed=12) != moves


SWITCHERS = [
    ("switch-4", 4, ("rock", "beat-last", "highest", "cycle")),
    ("switch-6", 6, ("frequency", "lowest", "copy-last", "markov-bot")),
    ("switch-3-tiers", 3, ("highest", "middle", "lowest")),
]


@pytest.mark.parametrize(("name", "every", "members"), SWITCHERS)
def test_switchers_play_one_member_per_block_of_rounds_and_change_it_every_block(
    name, every, members
):
    values = [round_values("switch", r) for r in range(1, MAX_ROUNDS + 1)]
    identified: Counter[str] = Counter()
    for seed in range(15):
        bot_rng = random.Random(seed)
        bots = [bot_rng.choice(MOVES) for _ in range(MAX_ROUNDS)]
        mine = replay(name, bots, values, seed=seed)
        previous: set[str] = set()
        for start in range(0, MAX_ROUNDS, every):
            rounds = range(start, min(start + every, MAX_ROUNDS))
            candidates = {
                member
                for member in members
                if all(
                    move_or_none(member, view(values[n], mine[:n], bots[:n], past=values[:n]))
                    in (mine[n], None)
                    for n in rounds
                )
            }
            assert candidates, (seed, start)  # some member played every move of the block
            if len(candidates) == 1:
                if len(previous) == 1:
                    assert candidates != previous, (seed, start)  # never the same rule again
                identified.update(candidates)
            previous = candidates
        assert replay(name, bots, values, seed=seed) == mine
    assert set(identified) == set(members)


def test_switch_3_tiers_holds_one_value_tier_for_three_rounds_at_a_time():
    values = [round_values("tiers", r) for r in range(1, MAX_ROUNDS + 1)]
    orders = set()
    for seed in range(10):
        mine = replay("switch-3-tiers", [R] * MAX_ROUNDS, values, seed=seed)
        tiers = [v.rank_of(m) for m, v in zip(mine, values, strict=True)]
        blocks = [tiers[i : i + 3] for i in range(0, MAX_ROUNDS, 3)]
        assert all(len(set(block)) == 1 for block in blocks), (seed, tiers)
        assert all(a[0] is not b[0] for a, b in itertools.pairwise(blocks)), tiers
        orders.add(tuple(block[0] for block in blocks))
    assert len(orders) > 1


PERSONA_VIEWS = [
    view(ROCK_HIGH),
    view(PAPER_HIGH, mine=(R, R, R), theirs=(P, P, P)),
    view(SCISSORS_TOP, mine=(P, S, R, R), theirs=(R, P, S, S)),
    view(NARROW, mine=(S, P, S), theirs=(P, R, R), past=(ROCK_HIGH, SCISSORS_HIGH, PAPER_HIGH)),
    view(SCISSORS_HIGH, mine=(R, R), theirs=(S, R), scores=(60, 20)),
    view(SCISSORS_TOP, mine=(S, S), theirs=(R, R)),
]


@pytest.mark.parametrize("persona", list(PersonaName))
def test_persona_entries_play_exactly_what_the_persona_plays(persona):
    for seed in range(4):
        for v in PERSONA_VIEWS:
            played = GYM[persona.value].player(random.Random(seed))(v)
            assert played is persona_move(persona, v, random.Random(seed)), (seed, v)


# ================================================================ every strategy, whole games


def play_a_game(name: str, seed: int) -> list[Move]:
    """A whole game of ``name`` as the user against a bot playing seeded random moves."""
    game = Game(f"gym-{name}-{seed}")
    player = GYM[name].player(random.Random(seed))
    bot = random.Random(1000 + seed)
    moves: list[Move] = []
    while not game.finished:
        played = player(game.view("user"))
        assert played in MOVES
        moves.append(played)
        game.play(played, bot.choice(MOVES))
    return moves


@pytest.mark.parametrize("name", list(GYM))
def test_every_strategy_plays_whole_games_reproducibly_from_its_seed(name):
    for seed in range(3):
        moves = play_a_game(name, seed)
        assert 5 <= len(moves) <= MAX_ROUNDS
        assert play_a_game(name, seed) == moves


BEHAVIOUR_TESTED = {
    *("random", "rock", "paper", "scissors", "cycle", "cycle-reverse", "copy-last"),
    *("beat-last", "lose-to-last", "repeat", "biased-rock", "biased"),
    *("frequency", "frequency-3", "frequency-5", "frequency-decay", "markov-bot", "markov-self"),
    *("markov-2", "history-match", "history-match-bot", "wsls", "wsls-cycle", "meta"),
    *("highest", "middle", "lowest", "tier-counter", "tier-counter-3", "greedy-switch"),
    *("value-weighted", "tier-markov", "ev-frequency"),
    *(name for name, _, _ in NOISY),
    *(name for name, _, _ in SWITCHERS),
    *(p.value for p in PersonaName),
}


def test_every_strategy_has_a_behaviour_test_in_this_file():
    assert set(GYM) == BEHAVIOUR_TESTED

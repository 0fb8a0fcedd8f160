"""The opponent gym: a library of user-side strategies, grouped and seeded (SPEC §2.1).

Personas alone are a narrow population, and a model trained only on them is confidently wrong
about everyone else. The gym widens it: naive players, adaptive ones that model the bot, players
that follow the round's values, and mixtures (noisy versions, switchers, the eight personas).
Each strategy is written from the player's own view, like the personas, so "my opponent" is the
bot. A third of each group is marked ``holdout``: those are never used for training data or for
tuning anything, so strength measured on them shows whether a gain generalises.

A strategy makes a fresh :data:`Player` per game from a seeded RNG (some draw a per-game
parameter, e.g. a favourite move), so every game is reproducible from its seed.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rps.domain.history import PlayerView
from rps.domain.move import MOVES, Move, Outcome, Rank, beater, prey
from rps.domain.personas import PERSONAS, PersonaName, most_common
from rps.domain.round_values import RoundValues

Player = Callable[[PlayerView], Move]
"""One game's player: the move it plays from what it sees."""

PlayerFactory = Callable[[random.Random], Player]


class GymGroup(StrEnum):
    NAIVE = "naive"
    ADAPTIVE = "adaptive"
    VALUE_AWARE = "value_aware"
    MIXED = "mixed"


class GymPart(StrEnum):
    """Which part of the gym a strategy belongs to: training data and tuning, or holdout."""

    TRAINING = "training"
    HOLDOUT = "holdout"


@dataclass(frozen=True, slots=True)
class Strategy:
    """A named user-side strategy of the gym."""

    name: str
    group: GymGroup
    description: str
    holdout: bool
    make: PlayerFactory

    @property
    def part(self) -> GymPart:
        return GymPart.HOLDOUT if self.holdout else GymPart.TRAINING

    @property
    def is_persona(self) -> bool:
        return self.name in _PERSONA_NAMES

    def player(self, rng: random.Random) -> Player:
        """A fresh player for one game, drawing all its randomness from ``rng``."""
        return self.make(rng)


_PERSONA_NAMES = frozenset(p.value for p in PersonaName)


# -- helpers -----------------------------------------------------------------------------------


def _counts(moves: Sequence[Move]) -> list[int]:
    counts = [0, 0, 0]
    for m in moves:
        counts[m.position] += 1
    return counts


def _rank_index(rank: Rank) -> int:
    return (Rank.HIGH, Rank.MIDDLE, Rank.LOW).index(rank)


_RANKS = (Rank.HIGH, Rank.MIDDLE, Rank.LOW)


def _tiers(moves: Sequence[Move], values: Sequence[RoundValues]) -> list[Rank]:
    """The value tier of each move, judged by its own round's values."""
    return [v.rank_of(m) for m, v in zip(moves, values, strict=True)]


def _most_common_tier(tiers: Sequence[Rank]) -> Rank:
    """The most frequent tier; ties break highest, middle, lowest."""
    counts = [0, 0, 0]
    for t in tiers:
        counts[_rank_index(t)] += 1
    return _RANKS[counts.index(max(counts))]


def _stateless(rule: Callable[[PlayerView, random.Random], Move]) -> PlayerFactory:
    """A factory for a rule with no per-game parameter (its randomness is the game's RNG)."""

    def make(rng: random.Random) -> Player:
        return lambda view: rule(view, rng)

    return make


def _noisy(rule: PlayerFactory, epsilon: float) -> PlayerFactory:
    """``rule``, except that with probability ``epsilon`` a uniformly random move."""

    def make(rng: random.Random) -> Player:
        inner = rule(rng)

        def play(view: PlayerView) -> Move:
            intended = inner(view)  # always asked, so a stateful rule sees every round
            return rng.choice(MOVES) if rng.random() < epsilon else intended

        return play

    return make


def _switching(rules: Sequence[PlayerFactory], every: int) -> PlayerFactory:
    """Every ``every`` rounds, switch to another of ``rules``, drawn per game."""

    def make(rng: random.Random) -> Player:
        players = [r(rng) for r in rules]
        order = [rng.randrange(len(players))]
        while len(order) < 20 // every + 2:  # each block another rule than the one before
            order.append((order[-1] + 1 + rng.randrange(len(players) - 1)) % len(players))

        def play(view: PlayerView) -> Move:
            moves = [p(view) for p in players]  # every player sees every round
            return moves[order[view.rounds_played // every]]

        return play

    return make


# -- naive ---------------------------------------------------------------------------------------


def uniform_random(view: PlayerView, rng: random.Random) -> Move:
    return rng.choice(MOVES)


def _constant(move: Move) -> Callable[[PlayerView, random.Random], Move]:
    def rule(view: PlayerView, rng: random.Random) -> Move:
        return move

    return rule


def cycle(view: PlayerView, rng: random.Random) -> Move:
    return MOVES[view.rounds_played % 3]


def cycle_reverse(view: PlayerView, rng: random.Random) -> Move:
    return MOVES[-view.rounds_played % 3]


def copy_last(view: PlayerView, rng: random.Random) -> Move:
    return view.opponent_moves[-1] if view.opponent_moves else rng.choice(MOVES)


def beat_last(view: PlayerView, rng: random.Random) -> Move:
    return beater(view.opponent_moves[-1]) if view.opponent_moves else rng.choice(MOVES)


def lose_to_last(view: PlayerView, rng: random.Random) -> Move:
    return prey(view.opponent_moves[-1]) if view.opponent_moves else rng.choice(MOVES)


def repeat_self(view: PlayerView, rng: random.Random) -> Move:
    return view.my_moves[-1] if view.my_moves else rng.choice(MOVES)


def biased_rock(view: PlayerView, rng: random.Random) -> Move:
    return rng.choices(MOVES, weights=(2, 1, 1), k=1)[0]


def _biased_per_game(rng: random.Random) -> Player:
    favourite = rng.randrange(3)
    weights = [1, 1, 1]
    weights[favourite] = 2
    return lambda view: rng.choices(MOVES, weights=weights, k=1)[0]


# -- adaptive (they model the bot) ---------------------------------------------------------------


def frequency(view: PlayerView, rng: random.Random) -> Move:
    """Beater of the bot's most frequent move (ties rock, paper, scissors; no history: paper)."""
    return beater(most_common(view.opponent_moves))


def _frequency_window(window: int) -> Callable[[PlayerView, random.Random], Move]:
    def rule(view: PlayerView, rng: random.Random) -> Move:
        return beater(most_common(view.opponent_moves[-window:]))

    return rule


def _transition_prediction(
    keys: Sequence[object], targets: Sequence[Move], key_now: object
) -> Move | None:
    """The target that most often followed ``key_now`` (ties rock, paper, scissors)."""
    counts = [0, 0, 0]
    for key, target in zip(keys, targets, strict=True):
        if key == key_now:
            counts[target.position] += 1
    if max(counts) == 0:
        return None
    return MOVES[counts.index(max(counts))]


def markov_bot(view: PlayerView, rng: random.Random) -> Move:
    """Predict the bot's move from what it played after its previous move; play the beater."""
    bots = view.opponent_moves
    if len(bots) < 2:
        return frequency(view, rng)
    guess = _transition_prediction(bots[:-1], bots[1:], bots[-1])
    return beater(guess) if guess is not None else frequency(view, rng)


def markov_self(view: PlayerView, rng: random.Random) -> Move:
    """Predict the bot's move from how it answered my previous moves; play the beater."""
    mine, bots = view.my_moves, view.opponent_moves
    if len(bots) < 2:
        return frequency(view, rng)
    guess = _transition_prediction(mine[:-1], bots[1:], mine[-1])
    return beater(guess) if guess is not None else frequency(view, rng)


def markov_2(view: PlayerView, rng: random.Random) -> Move:
    """Second order: the bot's move after its last two moves; falls back to first order."""
    bots = view.opponent_moves
    if len(bots) < 3:
        return markov_bot(view, rng)
    keys = list(itertools.pairwise(bots[:-1]))
    guess = _transition_prediction(keys, bots[2:], (bots[-2], bots[-1]))
    return beater(guess) if guess is not None else markov_bot(view, rng)


def _longest_match(sequence: Sequence[object], max_length: int = 6) -> int | None:
    """Index after the most recent earlier occurrence of the longest suffix of ``sequence``."""
    n = len(sequence)
    for length in range(min(max_length, n - 1), 0, -1):
        suffix = list(sequence[n - length :])
        for start in range(n - length - 1, -1, -1):
            if list(sequence[start : start + length]) == suffix:
                return start + length
    return None


def history_match(view: PlayerView, rng: random.Random) -> Move:
    """Find the longest earlier match of the recent (my move, bot move) history and beat what
    the bot played next."""
    joint = list(zip(view.my_moves, view.opponent_moves, strict=True))
    at = _longest_match(joint)
    if at is None or at >= len(joint):
        return frequency(view, rng)
    return beater(view.opponent_moves[at])


def history_match_bot(view: PlayerView, rng: random.Random) -> Move:
    """Like ``history-match`` on the bot's own moves only."""
    at = _longest_match(view.opponent_moves)
    if at is None or at >= len(view.opponent_moves):
        return frequency(view, rng)
    return beater(view.opponent_moves[at])


def win_stay_lose_shift(view: PlayerView, rng: random.Random) -> Move:
    """Repeat after a win; after a loss, beat the bot's last move; after a draw, the next move
    in the rock → paper → scissors cycle. First move random."""
    if not view.my_moves:
        return rng.choice(MOVES)
    last = view.my_results[-1]
    if last is Outcome.WIN:
        return view.my_moves[-1]
    if last is Outcome.LOSE:
        return beater(view.opponent_moves[-1])
    return beater(view.my_moves[-1])


def wsls_cycle(view: PlayerView, rng: random.Random) -> Move:
    """Repeat after a win, otherwise move one step back in the cycle (rock → scissors)."""
    if not view.my_moves:
        return rng.choice(MOVES)
    if view.my_results[-1] is Outcome.WIN:
        return view.my_moves[-1]
    return prey(view.my_moves[-1])


_META_MEMBERS: tuple[Callable[[PlayerView, random.Random], Move], ...] = (
    frequency,
    markov_bot,
    history_match,
    beat_last,
)


def _meta_player(rng: random.Random) -> Player:
    """Follows whichever of its members scored best over the last five rounds."""
    members = _META_MEMBERS
    advice: list[list[Move]] = [[] for _ in members]

    def play(view: PlayerView) -> Move:
        n = view.rounds_played
        # The advice each member would have given in the rounds played so far (kept per game).
        for i, member in enumerate(members):
            while len(advice[i]) < n:
                k = len(advice[i])
                past = _prefix(view, k)
                advice[i].append(member(past, rng))
        scores = []
        for i in range(len(members)):
            score = 0
            for k in range(max(0, n - 5), n):
                score += _points(advice[i][k], view.opponent_moves[k])
            scores.append(score)
        best = scores.index(max(scores))
        return members[best](view, rng)

    return play


def _points(mine: Move, theirs: Move) -> int:
    if mine is theirs:
        return 0
    return 1 if prey(mine) is theirs else -1


def _prefix(view: PlayerView, k: int) -> PlayerView:
    """The view as it was before round ``k + 1`` (scores are not replayed: members ignore them)."""
    values = view.past_values[k] if k < len(view.past_values) else view.values
    return PlayerView(
        values,
        view.my_moves[:k],
        view.opponent_moves[:k],
        view.my_results[:k],
        view.past_values[:k],
        0,
        0,
    )


def _decayed_frequency(rng: random.Random) -> Player:
    def play(view: PlayerView) -> Move:
        weights = [0.0, 0.0, 0.0]
        for age, move in enumerate(reversed(view.opponent_moves)):
            weights[move.position] += 0.7**age
        return beater(MOVES[weights.index(max(weights))])

    return play


# -- value-aware ---------------------------------------------------------------------------------


def highest_valued(view: PlayerView, rng: random.Random) -> Move:
    return view.values.best()


def middle_valued(view: PlayerView, rng: random.Random) -> Move:
    return view.values.middle()


def lowest_valued(view: PlayerView, rng: random.Random) -> Move:
    return view.values.lowest()


def _tier_counter(window: int | None) -> Callable[[PlayerView, random.Random], Move]:
    def rule(view: PlayerView, rng: random.Random) -> Move:
        bots, past = view.opponent_moves, view.past_values
        if window is not None:
            bots, past = bots[-window:], past[-window:]
        if not bots:
            return view.values.best()
        tier = _most_common_tier(_tiers(bots, past))
        return beater(view.values.move_of_rank(tier))

    return rule


def _greedy_switch(rng: random.Random) -> Player:
    """Plays the highest-valued move; after losing twice in a row it switches to the tier that
    beats a greedy bot (the lowest-valued move), and back again after two more losses."""

    def play(view: PlayerView) -> Move:
        switched = False
        streak = 0
        for result in view.my_results:
            streak = streak + 1 if result is Outcome.LOSE else 0
            if streak == 2:
                switched = not switched
                streak = 0
        return view.values.lowest() if switched else view.values.best()

    return play


def value_weighted(view: PlayerView, rng: random.Random) -> Move:
    """A random move, each with probability proportional to its value."""
    return rng.choices(MOVES, weights=view.values.as_tuple(), k=1)[0]


def tier_markov(view: PlayerView, rng: random.Random) -> Move:
    """Predict the bot's tier from the tier it played after its previous tier; beat that move."""
    tiers = _tiers(view.opponent_moves, view.past_values)
    if len(tiers) < 2:
        return view.values.best()
    counts = [0, 0, 0]
    for before, after in itertools.pairwise(tiers):
        if before is tiers[-1]:
            counts[_rank_index(after)] += 1
    if max(counts) == 0:
        return beater(view.values.move_of_rank(tiers[-1]))
    return beater(view.values.move_of_rank(_RANKS[counts.index(max(counts))]))


def ev_versus_frequency(view: PlayerView, rng: random.Random) -> Move:
    """The move of highest expected points against the bot's move frequencies so far
    (Laplace-smoothed): a value-aware frequency player."""
    counts = _counts(view.opponent_moves)
    n = len(view.opponent_moves)
    probabilities = [(c + 1) / (n + 3) for c in counts]
    best_move, best_ev = MOVES[0], float("-inf")
    for m in MOVES:
        gain = probabilities[prey(m).position] * view.values.points(m)
        loss = probabilities[beater(m).position] * view.values.points(beater(m))
        if gain - loss > best_ev + 1e-12:
            best_move, best_ev = m, gain - loss
    return best_move


# -- the catalogue -------------------------------------------------------------------------------

N, A, V, X = GymGroup.NAIVE, GymGroup.ADAPTIVE, GymGroup.VALUE_AWARE, GymGroup.MIXED


def _s(
    name: str,
    group: GymGroup,
    description: str,
    make: PlayerFactory,
    *,
    holdout: bool = False,
) -> Strategy:
    return Strategy(name, group, description, holdout, make)


_PERSONA_DESCRIPTIONS = {
    PersonaName.ACE: "persona: highest value when winning, else the beater of its own last move",
    PersonaName.BOB: "persona: rotates value tiers; when winning, counters the opponent's tier",
    PersonaName.CAL: "persona: the lowest-valued move, the highest after three straight losses",
    PersonaName.DAN: "persona: value-weighted random with score and loss adjustments",
    PersonaName.EDD: "persona: highest after a loss, else beats the opponent's favourite move",
    PersonaName.FOX: "persona: plays by the score: lowest ahead, counters when behind",
    PersonaName.GUS: "persona: highest on a wide spread, else counters; random after losses",
    PersonaName.HAL: "persona: the middle-valued move; copies after three straight losses",
}


def _persona(name: PersonaName) -> Strategy:
    rule = PERSONAS[name]
    return _s(name.value, X, _PERSONA_DESCRIPTIONS[name], _stateless(rule))


STRATEGIES: tuple[Strategy, ...] = (
    # naive: 12, a third held out
    _s("random", N, "uniformly random moves", _stateless(uniform_random)),
    _s("rock", N, "always rock", _stateless(_constant(Move.ROCK))),
    _s("paper", N, "always paper", _stateless(_constant(Move.PAPER))),
    _s("scissors", N, "always scissors", _stateless(_constant(Move.SCISSORS)), holdout=True),
    _s("cycle", N, "rock, paper, scissors, rock, ... by round", _stateless(cycle)),
    _s(
        "cycle-reverse",
        N,
        "rock, scissors, paper, rock, ... by round",
        _stateless(cycle_reverse),
        holdout=True,
    ),
    _s("copy-last", N, "plays the bot's last move", _stateless(copy_last)),
    _s("beat-last", N, "plays the beater of the bot's last move", _stateless(beat_last)),
    _s(
        "lose-to-last",
        N,
        "plays the move that the bot's last move beats",
        _stateless(lose_to_last),
        holdout=True,
    ),
    _s("repeat", N, "repeats its own first (random) move", _stateless(repeat_self)),
    _s("biased-rock", N, "random, rock half the time", _stateless(biased_rock)),
    _s("biased", N, "random, a per-game favourite half the time", _biased_per_game, holdout=True),
    # adaptive: 12, a third held out
    _s("frequency", A, "beats the bot's most frequent move", _stateless(frequency)),
    _s(
        "frequency-3",
        A,
        "beats the bot's most frequent move of the last 3 rounds",
        _stateless(_frequency_window(3)),
    ),
    _s(
        "frequency-5",
        A,
        "beats the bot's most frequent move of the last 5 rounds",
        _stateless(_frequency_window(5)),
        holdout=True,
    ),
    _s(
        "frequency-decay",
        A,
        "beats the bot's most frequent move, older rounds decayed by 0.7 each",
        _decayed_frequency,
    ),
    _s(
        "markov-bot",
        A,
        "predicts the bot's move from its previous move (first order); beats it",
        _stateless(markov_bot),
    ),
    _s(
        "markov-self",
        A,
        "predicts the bot's move from my previous move; beats it",
        _stateless(markov_self),
        holdout=True,
    ),
    _s(
        "markov-2",
        A,
        "predicts the bot's move from its last two moves (second order); beats it",
        _stateless(markov_2),
    ),
    _s(
        "history-match",
        A,
        "finds the longest earlier match of the joint history; beats what the bot did next",
        _stateless(history_match),
    ),
    _s(
        "history-match-bot",
        A,
        "finds the longest earlier match of the bot's moves; beats what came next",
        _stateless(history_match_bot),
        holdout=True,
    ),
    _s(
        "wsls",
        A,
        "win-stay; after a loss beats the bot's last move; after a draw shifts up",
        _stateless(win_stay_lose_shift),
    ),
    _s(
        "wsls-cycle",
        A,
        "win-stay; otherwise shifts one step down the cycle",
        _stateless(wsls_cycle),
        holdout=True,
    ),
    _s(
        "meta",
        A,
        "follows whichever of frequency, markov-bot, history-match, beat-last scored best lately",
        _meta_player,
    ),
    # value-aware: 9, a third held out
    _s("highest", V, "always the highest-valued move", _stateless(highest_valued)),
    _s("middle", V, "always the middle-valued move", _stateless(middle_valued), holdout=True),
    _s("lowest", V, "always the lowest-valued move", _stateless(lowest_valued)),
    _s(
        "tier-counter",
        V,
        "counts the bot's value tiers and beats the move in its favourite tier",
        _stateless(_tier_counter(None)),
    ),
    _s(
        "tier-counter-3",
        V,
        "like tier-counter over the last 3 rounds",
        _stateless(_tier_counter(3)),
        holdout=True,
    ),
    _s(
        "greedy-switch",
        V,
        "highest-valued; after two straight losses switches to the lowest-valued, and back",
        _greedy_switch,
    ),
    _s(
        "value-weighted",
        V,
        "random, each move with probability proportional to its value",
        _stateless(value_weighted),
    ),
    _s(
        "tier-markov",
        V,
        "predicts the bot's value tier from its previous tier; beats that move",
        _stateless(tier_markov),
        holdout=True,
    ),
    _s(
        "ev-frequency",
        V,
        "the move of highest expected points against the bot's move frequencies",
        _stateless(ev_versus_frequency),
    ),
    # mixed: 18 (the eight personas among them), a third held out
    _s(
        "noisy-beat-last",
        X,
        "beat-last, random 20% of the time",
        _noisy(_stateless(beat_last), 0.2),
    ),
    _s(
        "noisy-highest",
        X,
        "highest-valued, random 20% of the time",
        _noisy(_stateless(highest_valued), 0.2),
    ),
    _s(
        "noisy-lowest",
        X,
        "lowest-valued, random 40% of the time",
        _noisy(_stateless(lowest_valued), 0.4),
    ),
    _s(
        "switch-4",
        X,
        "every 4 rounds switches among rock, beat-last, highest-valued and cycle",
        _switching(
            [
                _stateless(_constant(Move.ROCK)),
                _stateless(beat_last),
                _stateless(highest_valued),
                _stateless(cycle),
            ],
            4,
        ),
    ),
    _s(
        "noisy-frequency",
        X,
        "frequency, random 40% of the time",
        _noisy(_stateless(frequency), 0.4),
        holdout=True,
    ),
    _s(
        "noisy-cycle",
        X,
        "cycle, random 40% of the time",
        _noisy(_stateless(cycle), 0.4),
        holdout=True,
    ),
    _s(
        "noisy-tier-counter",
        X,
        "tier-counter, random 20% of the time",
        _noisy(_stateless(_tier_counter(None)), 0.2),
        holdout=True,
    ),
    _s(
        "noisy-copy-last",
        X,
        "copy-last, random 20% of the time",
        _noisy(_stateless(copy_last), 0.2),
        holdout=True,
    ),
    _s(
        "switch-6",
        X,
        "every 6 rounds switches among frequency, lowest-valued, copy-last and markov-bot",
        _switching(
            [
                _stateless(frequency),
                _stateless(lowest_valued),
                _stateless(copy_last),
                _stateless(markov_bot),
            ],
            6,
        ),
        holdout=True,
    ),
    _s(
        "switch-3-tiers",
        X,
        "every 3 rounds switches among the highest, middle and lowest-valued move",
        _switching(
            [
                _stateless(highest_valued),
                _stateless(middle_valued),
                _stateless(lowest_valued),
            ],
            3,
        ),
        holdout=True,
    ),
    *(_persona(p) for p in PersonaName),
)

GYM: dict[str, Strategy] = {s.name: s for s in STRATEGIES}

# Names `rps evaluate` accepted before the gym existed.
LEGACY_NAMES: dict[str, str] = {"constant": "rock"}


def strategies_in(
    groups: Iterable[GymGroup] | None = None, part: GymPart | None = None
) -> list[Strategy]:
    """The gym's strategies of ``groups`` (all by default) and ``part`` (both by default), in
    catalogue order."""
    chosen = set(groups) if groups is not None else set(GymGroup)
    return [s for s in STRATEGIES if s.group in chosen and (part is None or s.part is part)]


def training_part() -> list[Strategy]:
    return strategies_in(part=GymPart.TRAINING)


def holdout_part() -> list[Strategy]:
    return strategies_in(part=GymPart.HOLDOUT)


def training_population() -> list[Strategy]:
    """Who plays the user side of the games models learn from (``rps up``'s bootstrap, the
    scheduler's gameplay, ``rps simulate`` by default): the gym's training part — the eight
    personas and every other training strategy, each equally often. Holdout strategies never
    appear, so strength on them measures generalisation."""
    return training_part()


def resolve(selectors: Iterable[str]) -> list[Strategy]:
    """Strategies named by ``selectors``: strategy names, persona names, group names
    (``naive`` …), parts (``training``, ``holdout``), ``group:part`` (``adaptive:holdout``),
    ``all``, and the pre-gym names (``constant``). Order kept, duplicates dropped; ValueError
    naming the selector otherwise."""
    chosen: dict[str, Strategy] = {}
    any_selector = False
    for raw in selectors:
        key = raw.strip().lower()
        if not key:
            continue
        any_selector = True
        for strategy in _resolve_one(key, raw.strip()):
            chosen.setdefault(strategy.name, strategy)
    if not any_selector:
        raise ValueError(f"no opponent given: {selector_help()}")
    return list(chosen.values())


def _resolve_one(key: str, raw: str) -> list[Strategy]:
    key = LEGACY_NAMES.get(key, key)
    if key in GYM:
        return [GYM[key]]
    if key == "all":
        return list(STRATEGIES)
    if key == "personas":
        return [s for s in STRATEGIES if s.is_persona]
    if key == "population":
        return training_population()
    group_text, _, part_text = key.partition(":")
    try:
        groups = [GymGroup(group_text)] if group_text not in ("", "all") else list(GymGroup)
        part = GymPart(part_text) if part_text else None
        return strategies_in(groups, part)
    except ValueError:
        pass
    try:
        return strategies_in(None, GymPart(key))
    except ValueError:
        raise ValueError(f"unknown opponent {raw!r}: {selector_help()}") from None


def selector_help() -> str:
    groups = ", ".join(g.value for g in GymGroup)
    return (
        f"use strategy names ({', '.join(GYM)}), groups ({groups}), parts (training, holdout), "
        "group:part (e.g. adaptive:holdout), personas, population (the training mix) or all"
    )

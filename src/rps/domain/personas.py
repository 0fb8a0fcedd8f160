"""The eight scripted players (SPEC §2), written from the persona's own view.

Each persona is a pure function of a :class:`PlayerView` and an injectable RNG, so it plays the
same in either role and tests can seed it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from enum import StrEnum

from rps.domain.history import PlayerView
from rps.domain.move import MOVES, Move, Outcome, Rank, beater

PersonaRule = Callable[[PlayerView, random.Random], Move]


class PersonaName(StrEnum):
    ACE = "ace"
    BOB = "bob"
    CAL = "cal"
    DAN = "dan"
    EDD = "edd"
    FOX = "fox"
    GUS = "gus"
    HAL = "hal"

    @property
    def display_name(self) -> str:
        return self.value.capitalize()


def _counts(moves: Sequence[Move]) -> list[int]:
    counts = [0, 0, 0]
    for m in moves:
        counts[m.position] += 1
    return counts


def most_common(moves: Sequence[Move]) -> Move:
    """Most frequent move; ties break rock, paper, scissors."""
    counts = _counts(moves)
    return MOVES[counts.index(max(counts))]


def least_common(moves: Sequence[Move]) -> Move:
    """Least frequent move (never played counts 0); ties break rock, paper, scissors."""
    counts = _counts(moves)
    return MOVES[counts.index(min(counts))]


def _won_at_least(view: PlayerView, k: int, of_last: int) -> bool:
    return sum(r is Outcome.WIN for r in view.last_results(of_last)) >= k


def ace(view: PlayerView, rng: random.Random) -> Move:
    if not view.my_moves or _won_at_least(view, 2, 3):
        return view.values.best()
    return beater(view.my_moves[-1])


_BOB_ROTATION = (Rank.HIGH, Rank.LOW, Rank.MIDDLE)
_TIER_ORDER = (Rank.HIGH, Rank.MIDDLE, Rank.LOW)


def bob(view: PlayerView, rng: random.Random) -> Move:
    if _won_at_least(view, 2, 3):
        tiers = [
            past.rank_of(m) for past, m in zip(view.past_values, view.opponent_moves, strict=True)
        ]
        favourite = max(_TIER_ORDER, key=lambda t: (tiers.count(t), -_TIER_ORDER.index(t)))
        return beater(view.values.move_of_rank(favourite))
    return view.values.move_of_rank(_BOB_ROTATION[view.rounds_played % 3])


def cal(view: PlayerView, rng: random.Random) -> Move:
    if view.lost_each_of_last(3):
        return view.values.best()
    return beater(view.values.best())


def dan_weights(view: PlayerView) -> list[float]:
    """Dan's unnormalised weights per move (rock, paper, scissors) before sampling."""
    best = view.values.best()
    counter = beater(best)  # the lowest-valued move
    other = view.values.middle()
    w_best = min(0.60, max(0.10, view.values.points(best) - 1.40))
    w_counter = 0.30
    w_other = max(0.05, 1 - w_best - 0.30)
    weights = [0.0, 0.0, 0.0]
    weights[best.position] += w_best
    weights[counter.position] += w_counter
    weights[other.position] += w_other
    if view.my_results:
        last = view.my_results[-1]
        if last is Outcome.LOSE:
            weights[best.position] += 0.15
        elif last is Outcome.WIN:
            weights[other.position] += 0.05
    if view.my_score < view.opponent_score:
        weights[counter.position] += 0.10
    elif view.my_score > view.opponent_score:
        weights[other.position] += 0.05
    recent = view.opponent_moves[-10:]
    if recent:
        favourite = most_common(recent)
        if recent.count(favourite) >= max(2, len(recent) // 2):
            weights[beater(favourite).position] += 0.10
    return weights


def dan(view: PlayerView, rng: random.Random) -> Move:
    weights = dan_weights(view)
    total = sum(weights)
    return rng.choices(MOVES, weights=[w / total for w in weights], k=1)[0]


def edd(view: PlayerView, rng: random.Random) -> Move:
    if not view.my_moves or view.my_results[-1] is Outcome.LOSE:
        return view.values.best()
    return beater(most_common(view.opponent_moves))


def fox(view: PlayerView, rng: random.Random) -> Move:
    if view.my_score > view.opponent_score:
        return view.values.lowest()
    if view.my_score < view.opponent_score:
        return beater(least_common(view.opponent_moves))
    return view.values.middle()


_GUS_SPREAD_TENTHS = 8


def gus(view: PlayerView, rng: random.Random) -> Move:
    if view.lost_each_of_last(2):
        return rng.choice(MOVES)
    tenths = view.values.as_tuple()
    if max(tenths) - min(tenths) >= _GUS_SPREAD_TENTHS:
        return view.values.best()
    theirs = view.opponent_moves
    if not theirs:
        return rng.choice(MOVES)
    if len(theirs) >= 2 and theirs[-1] is theirs[-2]:
        return beater(theirs[-1])
    counts = _counts(theirs)
    for move, count in zip(MOVES, counts, strict=True):
        if 2 * count >= len(theirs):
            return beater(move)
    return beater(theirs[-1])


def hal(view: PlayerView, rng: random.Random) -> Move:
    if view.lost_each_of_last(3):
        return most_common(view.opponent_moves[-3:])
    return view.values.middle()


PERSONAS: dict[PersonaName, PersonaRule] = {
    PersonaName.ACE: ace,
    PersonaName.BOB: bob,
    PersonaName.CAL: cal,
    PersonaName.DAN: dan,
    PersonaName.EDD: edd,
    PersonaName.FOX: fox,
    PersonaName.GUS: gus,
    PersonaName.HAL: hal,
}
DETERMINISTIC_PERSONAS = frozenset(PersonaName) - {PersonaName.DAN, PersonaName.GUS}


def persona_move(name: PersonaName, view: PlayerView, rng: random.Random) -> Move:
    """The move persona ``name`` plays from ``view``."""
    return PERSONAS[name](view, rng)


def parse_persona(text: str) -> PersonaName:
    try:
        return PersonaName(text.strip().lower())
    except ValueError:
        names = ", ".join(p.value for p in PersonaName)
        raise ValueError(f"unknown persona {text!r}: expected one of {names}") from None

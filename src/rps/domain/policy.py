"""Bot policies and the expected-value rule the bot plays by from round 4 (SPEC §4)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from rps.domain.move import MOVES, Move, Winner, beater, prey
from rps.domain.personas import PersonaName
from rps.domain.round_values import RoundValues
from rps.domain.scoring import DRAW_TENTHS, TARGET_TENTHS, winner_of

Probabilities = tuple[float, float, float]  # P(user plays rock, paper, scissors)


class Family(StrEnum):
    """The three model families."""

    FEEDFORWARD_NN = "feedforward_nn"
    XGBOOST = "xgboost"
    MULTINOMIAL_LOGISTIC = "multinomial_logistic"


# The registry's name for each family's models (SPEC §5).
REGISTERED_NAMES: dict[Family, str] = {
    Family.FEEDFORWARD_NN: "rps_bot_feedforward",
    Family.XGBOOST: "rps_bot_xgboost",
    Family.MULTINOMIAL_LOGISTIC: "rps_bot_mnlogit",
}


class Alias(StrEnum):
    PRODUCTION = "Production"
    B = "B"
    SHADOW1 = "shadow1"
    SHADOW2 = "shadow2"


class Policy(StrEnum):
    """The model-backed bots a player can choose."""

    BRIAN = "brian"
    FORREST = "forrest"
    LOGAN = "logan"

    @property
    def family(self) -> Family:
        return _POLICY_FAMILY[self]

    @classmethod
    def playing(cls, family: Family) -> Policy:
        """The policy whose bot is backed by ``family``'s models."""
        return next(policy for policy in cls if _POLICY_FAMILY[policy] is family)

    @property
    def fallback_persona(self) -> PersonaName:
        """The persona that plays for this policy when no model can answer."""
        return _POLICY_FALLBACK[self]


_POLICY_FAMILY = {
    Policy.BRIAN: Family.FEEDFORWARD_NN,
    Policy.FORREST: Family.XGBOOST,
    Policy.LOGAN: Family.MULTINOMIAL_LOGISTIC,
}
_POLICY_FALLBACK = {
    Policy.BRIAN: PersonaName.BOB,
    Policy.FORREST: PersonaName.CAL,
    Policy.LOGAN: PersonaName.DAN,
}


# Every name a family answers to: its own, a short one, and the policy that plays it.
_FAMILY_NAMES: dict[str, Family] = {
    **{f.value: f for f in Family},
    "feedforward": Family.FEEDFORWARD_NN,
    "mnlogit": Family.MULTINOMIAL_LOGISTIC,
    "logistic": Family.MULTINOMIAL_LOGISTIC,
    **{p.value: family for p, family in _POLICY_FAMILY.items()},
}


def parse_family(text: str) -> Family:
    """A family by its name, a short name (feedforward, mnlogit, logistic) or the policy that
    plays it (brian, forrest, logan), in any case; ValueError naming the valid ones otherwise.
    The one parser for every command, config file and import."""
    family = _FAMILY_NAMES.get(text.strip().lower())
    if family is None:
        names = ", ".join(f.value for f in Family)
        raise ValueError(f"unknown model type {text.strip()!r}: expected one of {names}")
    return family


def parse_alias(text: str) -> Alias:
    """An alias by its exact name (Production, B, shadow1, shadow2: nothing else is accepted);
    ValueError naming the valid ones otherwise."""
    try:
        return Alias(text.strip())
    except ValueError:
        names = ", ".join(a.value for a in Alias)
        raise ValueError(f"unknown alias {text.strip()!r}: expected one of {names}") from None


def parse_families(texts: Iterable[str]) -> list[Family]:
    """Each family named in ``texts`` (comma-separated lists allowed), once, in order."""
    return list(dict.fromkeys(parse_family(name) for name in _names(texts)))


def parse_aliases(texts: Iterable[str]) -> list[Alias]:
    """Each alias named in ``texts`` (comma-separated lists allowed), once, in order."""
    return list(dict.fromkeys(parse_alias(name) for name in _names(texts)))


def _names(texts: Iterable[str]) -> list[str]:
    return [part.strip() for text in texts for part in text.split(",") if part.strip()]


class ProbabilitySource(StrEnum):
    OPENING = "opening"
    MODEL = "model"
    FALLBACK = "fallback"
    PERSONA = "persona"


_WIN_BONUS = 10.0


def _draw_ending_sign(bot_tenths: int, user_tenths: int) -> int:
    """D of SPEC §4: +1 if a draw now ends the game with the bot winning, −1 user, else 0."""
    result = winner_of(user_tenths + DRAW_TENTHS, bot_tenths + DRAW_TENTHS)
    if result is Winner.BOT:
        return 1
    if result is Winner.USER:
        return -1
    return 0


# Per bot move: (position of the move it beats, gain, position of its beater, loss, draw term).
EvTerms = tuple[tuple[int, float, int, float, float], ...]


def ev_terms(values: RoundValues, bot_tenths: int, user_tenths: int) -> EvTerms:
    """The parts of the EV rule that depend on the round, not on the probabilities.

    One round scores up to four aliases: compute these once and apply each alias's
    probabilities with ``apply_ev_terms``.
    """
    lead = 0.5 * (bot_tenths - user_tenths) / 100
    draw = lead + _WIN_BONUS * _draw_ending_sign(bot_tenths, user_tenths)
    terms = []
    for m in MOVES:
        v_m = values.tenths(m)
        threat = beater(m)
        v_threat = values.tenths(threat)
        gain = (v_m / 10) + (_WIN_BONUS if bot_tenths + v_m >= TARGET_TENTHS else 0.0)
        loss = (v_threat / 10) + (_WIN_BONUS if user_tenths + v_threat >= TARGET_TENTHS else 0.0)
        terms.append((prey(m).position, gain, threat.position, loss, draw))
    return tuple(terms)


def apply_ev_terms(terms: EvTerms, probs: Probabilities) -> tuple[float, float, float]:
    """EV of each bot move for one set of probabilities (see ``expected_values``)."""
    (a, ga, b, la, da), (c, gc, d, lc, dc), (e, ge, f, le, de) = terms
    return (
        probs[a] * ga - probs[b] * la + probs[0] * da,
        probs[c] * gc - probs[d] * lc + probs[1] * dc,
        probs[e] * ge - probs[f] * le + probs[2] * de,
    )


def expected_values(
    probs: Probabilities, values: RoundValues, bot_tenths: int, user_tenths: int
) -> tuple[float, float, float]:
    """EV of each bot move (rock, paper, scissors) given P(user move) and the scores before.

    Winning with a move that reaches the target is worth 10 extra; losing to one costs 10 extra;
    a draw is worth half the score lead plus 10·D when the draw itself ends the game.
    """
    return apply_ev_terms(ev_terms(values, bot_tenths, user_tenths), probs)


# EVs are float sums of tenths; values equal by the formula can differ by rounding noise.
_EV_TIE_TOLERANCE = 1e-9


def choose_ev_move(evs: tuple[float, float, float]) -> Move:
    """The move with the highest EV; ties go to the first in rock, paper, scissors order."""
    best = max(evs)
    for move, ev in zip(MOVES, evs, strict=True):
        if ev >= best - _EV_TIE_TOLERANCE:
            return move
    raise AssertionError("unreachable: some EV equals the maximum")

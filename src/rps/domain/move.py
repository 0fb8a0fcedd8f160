"""Moves, outcomes and the 3-cycle that relates them."""

from __future__ import annotations

from enum import Enum, StrEnum


class Move(StrEnum):
    """The three moves, in the order used everywhere (index 0, 1, 2)."""

    ROCK = "rock"
    PAPER = "paper"
    SCISSORS = "scissors"

    @property
    def position(self) -> int:
        """0, 1, 2 for rock, paper, scissors."""
        return _INDEX[self]

    @classmethod
    def at(cls, index: int) -> Move:
        return MOVES[index % 3]


MOVES: tuple[Move, Move, Move] = (Move.ROCK, Move.PAPER, Move.SCISSORS)
_INDEX = {m: i for i, m in enumerate(MOVES)}


class Outcome(StrEnum):
    """A round's result from one side's view (stored from the user's view)."""

    WIN = "win"
    LOSE = "lose"
    DRAW = "draw"

    def flipped(self) -> Outcome:
        """The same round seen from the other side."""
        return _FLIP[self]


_FLIP = {Outcome.WIN: Outcome.LOSE, Outcome.LOSE: Outcome.WIN, Outcome.DRAW: Outcome.DRAW}
OUTCOMES: tuple[Outcome, Outcome, Outcome] = (Outcome.WIN, Outcome.LOSE, Outcome.DRAW)


class Winner(StrEnum):
    USER = "user"
    BOT = "bot"
    TIE = "tie"


class Rank(Enum):
    """A move's value rank within one round: highest, middle or lowest valued."""

    HIGH = "H"
    MIDDLE = "M"
    LOW = "L"


def beater(move: Move) -> Move:
    """The move that beats ``move`` (rock→paper, paper→scissors, scissors→rock)."""
    return MOVES[(_INDEX[move] + 1) % 3]


def prey(move: Move) -> Move:
    """The move that ``move`` beats."""
    return MOVES[(_INDEX[move] + 2) % 3]


def outcome(mine: Move, theirs: Move) -> Outcome:
    """Result of a round for the side that played ``mine``."""
    if mine is theirs:
        return Outcome.DRAW
    return Outcome.WIN if prey(mine) is theirs else Outcome.LOSE


def parse_move(text: str) -> Move:
    """A move from its name, case-insensitive; ValueError naming the input otherwise."""
    try:
        return Move(text.strip().lower())
    except ValueError:
        raise ValueError(f"unknown move {text!r}: expected rock, paper or scissors") from None

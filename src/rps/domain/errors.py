"""The domain's error hierarchy; the API maps each class to one status code (api/errors.py)."""

from __future__ import annotations


class GameError(Exception):
    """Base of every error a player's request can cause."""


class InvalidInput(GameError, ValueError):
    """A request value the rules do not accept (unknown policy, bad name, ...)."""


class GameNotFound(GameError):
    pass


class GameFinished(GameError):
    """The game has a winner and accepts no more moves."""


class RoundConflict(GameError):
    """A move for a round that is not the next one, or a replay of a round with another move."""


class GameAbandoned(GameFinished):
    """The game was closed after a stretch without moves (SPEC §1.2) and accepts no more."""


# How much of a client-supplied identifier an error message repeats.
ECHO_LIMIT = 64


def echoed(value: str, limit: int = ECHO_LIMIT) -> str:
    """A client-supplied identifier as a message may repeat it: quoted, and cut after ``limit``
    characters (marked with "…"), so no answer grows with what a client sent."""
    return repr(value if len(value) <= limit else value[:limit] + "…")

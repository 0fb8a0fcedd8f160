"""Closing abandoned games (SPEC §1.2): a game with no move for ``ABANDONED_AFTER_MINUTES`` since
its last round (or its start) ends on the score it has, ``finished_reason = abandoned``.

Three callers share this one entry point: the `rps up` scheduler's periodic sweep, promotion
(so its evidence counts every game that has ended, not only those somebody finished) and
`rps close-abandoned`. ``/play`` closes the one game it is asked about the same way
(``GameplayService``), so a quiet game is closed on its next move even between sweeps.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from rps.persistence.tables import utcnow

log = logging.getLogger(__name__)


class AbandonedGames(Protocol):
    """What closing needs of the game store (``GameRepository`` provides it)."""

    def close_abandoned(
        self, cutoff: datetime, now: datetime, *, game_id: str | None = None
    ) -> int: ...

    def count_abandoned(self, cutoff: datetime) -> int: ...


def abandonment_cutoff(now: datetime, after: timedelta) -> datetime:
    """Games whose last move (or start) is older than this are abandoned at ``now``."""
    if after <= timedelta(0):
        raise ValueError(f"the abandonment limit must be positive, got {after}")
    return now - after


def close_abandoned_games(
    games: AbandonedGames,
    after: timedelta,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> int:
    """Close every open game (test games included) with no move for longer than ``after``.

    Returns how many were closed — with ``dry_run``, how many would be, closing none. Safe to
    run from several processes at once and while rounds are being played: the store closes a
    game only if it is still open and still quiet as it writes it.
    """
    at = now or utcnow()
    cutoff = abandonment_cutoff(at, after)
    if dry_run:
        return games.count_abandoned(cutoff)
    closed = games.close_abandoned(cutoff, at)
    if closed:
        log.info("closed %d abandoned game(s) with no move since %s", closed, cutoff.isoformat())
    return closed

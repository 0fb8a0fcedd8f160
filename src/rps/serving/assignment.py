"""Sticky A/B assignment of a game to its family's Production or B alias (SPEC §6.2)."""

from __future__ import annotations

import hashlib

from rps.domain.policy import Alias

_SCALE = float(1 << 64)


def assignment_point(game_id: str) -> float:
    """A number in [0, 1) fixed by the game id: uniform over ids, reproducible anywhere."""
    digest = hashlib.sha256(f"ab:{game_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign_alias(game_id: str, production_share: float, enabled: bool = True) -> Alias:
    """Production with probability ``production_share`` (by hash of the game id), else B."""
    if not enabled or assignment_point(game_id) < production_share:
        return Alias.PRODUCTION
    return Alias.B

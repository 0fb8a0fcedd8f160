"""The A/B figures that promotion decides on and ``/ops/summary`` shows, computed in one place
so the two cannot disagree (SPEC §7, §9).

Each arm's games come from ``PromotionRepository.version_games`` (finished games, completed and
abandoned, with a model round, of the counted sources); the sample-ratio-mismatch check of the
split from :func:`sample_ratio`, over the games started since both arms' windows opened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from rps.domain.policy import Alias, Family
from rps.domain.promotion import sample_ratio_mismatch_p


class AssignmentCounts(Protocol):
    """What the check reads (``PromotionRepository`` provides it)."""

    def assignment_counts(
        self,
        model_type: str,
        since: datetime | None,
        *,
        sources: Sequence[str] | None = None,
    ) -> dict[str, int]: ...


def ab_window_start(windows: Mapping[Alias, datetime | None]) -> datetime | None:
    """Since when both Production and B have held their versions: the later of their windows
    (a window of None, no assignment on record, starts at the beginning)."""
    starts = [windows.get(Alias.PRODUCTION), windows.get(Alias.B)]
    known = [start for start in starts if start is not None]
    return max(known) if known else None


def sample_ratio(
    repo: AssignmentCounts,
    family: Family,
    since: datetime | None,
    production_share: float | None,
    sources: Sequence[str],
) -> dict[str, Any]:
    """The sample-ratio-mismatch figures of ``family``'s split since ``since``.

    ``production_share`` is the configured share of new games that go to Production
    (``AB_SPLIT_RATIO[_FAMILY]``); None when A/B testing is off, every game then going to
    Production, so nothing is tested (``enabled`` false, ``p_value`` None) though the observed
    split is still reported. Non-test games started by ``sources``, finished or not, count:
    assignment happens at the start, whatever becomes of the game.
    """
    counts = repo.assignment_counts(family.value, since, sources=list(sources))
    production_games = counts.get(Alias.PRODUCTION.value, 0)
    b_games = counts.get(Alias.B.value, 0)
    total = production_games + b_games
    enabled = production_share is not None
    expected_b = 1.0 - production_share if production_share is not None else 0.0
    return {
        "enabled": enabled,
        "since": since.isoformat() if since else None,
        "production_games": production_games,
        "b_games": b_games,
        "expected_b_share": expected_b,
        "observed_b_share": b_games / total if total else None,
        "p_value": sample_ratio_mismatch_p(b_games, total, expected_b) if enabled else None,
    }

"""Read-only analytics over the ``games`` table (SPEC §9): totals, records per policy and player,
the leaderboard, the bots' win rates, win streaks and the list of recent games.

Every public-facing figure leaves out test games and games created before ``since`` (the
caller passes ``METRICS_SINCE_DATE`` as a UTC datetime). Rankings of people (leaderboard, win
streaks) also leave out every game not played by a person: ``source`` other than ``human``, a
persona's name, or a simulated player's name (:data:`SIMULATED_NAME`). A session's or a single
game's figures are the player's own view and take no filter at all.

Counts come from ``games`` alone: ``rounds_played`` is maintained with every stored round (it
is the compare-and-set guard of ``GameRepository.append_round``), so no public figure scans
``rounds``; only a session's round results read them, through its games' ids.
A "game" in a rate is a finished one (``winner`` set); ties count as games. Games closed as
abandoned (SPEC §1.2) are finished games like completed ones, and the figures can be narrowed to
one ``finished_reason``; streaks and the leaderboard count completed games only, so walking
away from a game can neither earn nor protect a ranking.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    Float,
    Integer,
    and_,
    case,
    cast,
    desc,
    distinct,
    func,
    literal_column,
    not_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from rps.domain.move import Outcome, Winner
from rps.domain.personas import PersonaName
from rps.domain.policy import Policy
from rps.persistence.database import Database
from rps.persistence.records import FinishedReason, GameSource
from rps.persistence.tables import games, rounds

# A simulated player's name: "sim" in any letter case, then anything, ending in an ASCII digit
# ("sim12", "Sim-player-0042", "simulated_7"; not "sim", "simone", "Simon"). Use ``fullmatch``.
# The SQL below states the same rule with prefix and last-character tests (see _simulated_name).
SIMULATED_NAME: Final = re.compile(r"sim.*[0-9]", re.IGNORECASE | re.ASCII | re.DOTALL)
PERSONA_NAMES: Final = frozenset(p.value for p in PersonaName)

# The most recent finished games win_streaks reads; older ones no longer count towards streaks.
STREAK_GAMES_READ: Final = 200_000
# A session is one browser's games; this bounds a pathological client's session.
SESSION_GAMES_READ: Final = 10_000

_SIM_PREFIXES: Final = tuple(s + i + m for s in "sS" for i in "iI" for m in "mM")
_DIGITS: Final = tuple("0123456789")
_POLICIES: Final = tuple(p.value for p in Policy)


def is_simulated_name(name: str) -> bool:
    """True for a simulated player's name: ``sim`` (any case) first, an ASCII digit last."""
    return SIMULATED_NAME.fullmatch(name) is not None


def is_persona_name(name: str) -> bool:
    """True for one of the eight persona names, in any letter case ("Ace", "ACE", "ace")."""
    return name.lower() in PERSONA_NAMES


def is_ranked_name(name: str) -> bool:
    """Whether a name may appear in rankings of people (neither persona nor simulated)."""
    return not (is_persona_name(name) or is_simulated_name(name))


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tally:
    """Finished games and how they ended (user's view: ``user_wins`` are the player's wins)."""

    games: int = 0
    user_wins: int = 0
    bot_wins: int = 0
    ties: int = 0

    @property
    def user_win_rate(self) -> float:
        return self.user_wins / self.games if self.games else 0.0

    @property
    def bot_win_rate(self) -> float:
        return self.bot_wins / self.games if self.games else 0.0


@dataclass(frozen=True, slots=True)
class GlobalStats:
    totals: Tally
    active_games: int
    rounds: int
    players: int  # distinct names of people (the ranking filters)
    by_policy: dict[str, Tally]  # every Policy value


@dataclass(frozen=True, slots=True)
class PolicyStats:
    policy: str
    tally: Tally
    rounds: int  # in every game against the policy, finished or not
    finished_rounds: int  # in its finished games only

    @property
    def avg_rounds_per_game(self) -> float:
        return self.finished_rounds / self.tally.games if self.tally.games else 0.0


@dataclass(frozen=True, slots=True)
class PlayerStats:
    player_name: str
    totals: Tally
    by_policy: dict[str, Tally]  # every Policy value


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    player_name: str
    tally: Tally


@dataclass(frozen=True, slots=True)
class StreakEntry:
    player_name: str
    best_streak: int
    current_streak: int
    games: int
    last_win_at: datetime  # when the newest counted win finished


@dataclass(frozen=True, slots=True)
class GameSummary:
    """One game as public listings and its holder see it (no session id: SPEC §9)."""

    game_id: str
    player_name: str
    policy: str
    model_type: str | None
    bot_model_alias: str | None
    user_score: float
    bot_score: float
    winner: str | None
    rounds: int
    created_at: datetime
    finished_at: datetime | None
    source: str
    finished_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RoundTally:
    """Stored rounds by result, from the player's view."""

    wins: int = 0
    losses: int = 0
    draws: int = 0


@dataclass(frozen=True, slots=True)
class SessionStats:
    session_id: str
    tally: Tally
    active_games: int
    rounds: int
    best_streak: int
    current_streak: int
    round_results: RoundTally = RoundTally()


# -- SQL building blocks -------------------------------------------------------------------------


def _int(value: int) -> ColumnElement[Any]:
    # Inline literals: bound parameters would make PostgreSQL guess their types inside CASE.
    return literal_column(str(value), Integer)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, _int(1)), else_=_int(0))), _int(0))


def _sum_if(condition: ColumnElement[bool], column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, column), else_=_int(0))), _int(0))


_FINISHED = games.c.winner.is_not(None)
_COMPLETED = games.c.finished_reason == FinishedReason.COMPLETED.value
_TALLY_FIELDS: Final = ("games", "user_wins", "bot_wins", "ties")


def _tally_columns(prefix: str, condition: ColumnElement[bool] | None = None) -> list[Any]:
    """Labelled ``{prefix}games``, ``user_wins``, ``bot_wins``, ``ties`` where ``condition``."""

    def scoped(test: ColumnElement[bool]) -> ColumnElement[bool]:
        return test if condition is None else and_(condition, test)

    return [
        _count_if(scoped(_FINISHED)).label(f"{prefix}games"),
        _count_if(scoped(games.c.winner == Winner.USER.value)).label(f"{prefix}user_wins"),
        _count_if(scoped(games.c.winner == Winner.BOT.value)).label(f"{prefix}bot_wins"),
        _count_if(scoped(games.c.winner == Winner.TIE.value)).label(f"{prefix}ties"),
    ]


def _tally(row: Any, prefix: str = "") -> Tally:
    mapping = row._mapping
    return Tally(*(int(mapping[f"{prefix}{field}"]) for field in _TALLY_FIELDS))


def _public(
    since: datetime | None, reason: FinishedReason | None = None
) -> list[ColumnElement[bool]]:
    """The filters of every public figure: no test games, none created before ``since``; with
    ``reason``, only games that finished for that reason."""
    conditions: list[ColumnElement[bool]] = [games.c.is_test.is_(False)]
    if since is not None:
        conditions.append(games.c.created_at >= since)
    if reason is not None:
        conditions.append(games.c.finished_reason == reason.value)
    return conditions


def _simulated_name() -> ColumnElement[bool]:
    # SIMULATED_NAME in SQL both backends run alike: no regex in SQLite, and comparing exact
    # prefixes keeps the case rule ASCII-only, as the Python pattern's is.
    name = games.c.player_name
    return and_(
        func.substr(name, _int(1), _int(3)).in_(_SIM_PREFIXES),
        func.substr(name, func.length(name), _int(1)).in_(_DIGITS),
    )


def _played_by_a_person() -> ColumnElement[bool]:
    return and_(
        games.c.source == GameSource.HUMAN.value,
        func.lower(games.c.player_name).not_in(sorted(PERSONA_NAMES)),
        not_(_simulated_name()),
    )


def _name_order(db: Database) -> ColumnElement[Any]:
    # Code-point order on both backends (PostgreSQL's default collation would ignore case and
    # punctuation), so rankings agree with each other and with Python's str ordering.
    return games.c.player_name.collate("C") if db.dialect == "postgresql" else games.c.player_name


# -- queries -------------------------------------------------------------------------------------


def global_stats(
    db: Database, *, since: datetime | None, reason: FinishedReason | None = None
) -> GlobalStats:
    """Totals over every public game (any source), and the same per model policy; with
    ``reason``, over the games that finished for it (then none is active)."""
    person = _played_by_a_person()
    query = select(
        *_tally_columns(""),
        _count_if(games.c.winner.is_(None)).label("active_games"),
        func.coalesce(func.sum(games.c.rounds_played), _int(0)).label("rounds"),
        func.count(distinct(case((person, games.c.player_name)))).label("players"),
        *(
            column
            for policy in _POLICIES
            for column in _tally_columns(f"{policy}_", games.c.policy == policy)
        ),
    ).where(*_public(since, reason))
    with db.read() as conn:
        row = conn.execute(query).one()
    return GlobalStats(
        totals=_tally(row),
        active_games=int(row.active_games),
        rounds=int(row.rounds),
        players=int(row.players),
        by_policy={policy: _tally(row, f"{policy}_") for policy in _POLICIES},
    )


def policy_stats(
    db: Database,
    policy: Policy,
    *,
    since: datetime | None,
    reason: FinishedReason | None = None,
) -> PolicyStats:
    """One model policy's record against everyone (any source) in public games (with
    ``reason``: those that finished for it)."""
    query = select(
        *_tally_columns(""),
        func.coalesce(func.sum(games.c.rounds_played), _int(0)).label("rounds"),
        _sum_if(_FINISHED, games.c.rounds_played).label("finished_rounds"),
    ).where(*_public(since, reason), games.c.policy == policy.value)
    with db.read() as conn:
        row = conn.execute(query).one()
    return PolicyStats(
        policy=policy.value,
        tally=_tally(row),
        rounds=int(row.rounds),
        finished_rounds=int(row.finished_rounds),
    )


def player_stats(
    db: Database,
    player_name: str,
    *,
    since: datetime | None,
    reason: FinishedReason | None = None,
) -> PlayerStats | None:
    """A player's record (exact name, any source) in public games (with ``reason``: those that
    finished for it); None if they have none.

    A player whose only games are unfinished exists (all counts zero).
    """
    query = (
        select(games.c.policy, *_tally_columns(""))
        .where(*_public(since, reason), games.c.player_name == player_name)
        .group_by(games.c.policy)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return None
    per_policy = {row.policy: _tally(row) for row in rows}
    totals = Tally(
        *(sum(getattr(t, field) for t in per_policy.values()) for field in _TALLY_FIELDS)
    )
    return PlayerStats(
        player_name=player_name,
        totals=totals,
        by_policy={policy: per_policy.get(policy, Tally()) for policy in _POLICIES},
    )


def leaderboard(
    db: Database, *, since: datetime | None, min_games: int, limit: int
) -> list[LeaderboardEntry]:
    """People with ≥ ``min_games`` completed public games, best first (abandoned games do
    not count: a ranking is earned by finishing games).

    Order: win rate (wins / completed games) descending, then games descending, then name in
    code-point order. Every filter runs in SQL before the ``LIMIT``.
    """
    n_games = func.count()
    wins = _count_if(games.c.winner == Winner.USER.value)
    query = (
        select(
            games.c.player_name,
            n_games.label("games"),
            wins.label("user_wins"),
            _count_if(games.c.winner == Winner.BOT.value).label("bot_wins"),
            _count_if(games.c.winner == Winner.TIE.value).label("ties"),
        )
        .where(*_public(since), _FINISHED, _COMPLETED, _played_by_a_person())
        .group_by(games.c.player_name)
        .having(n_games >= min_games)
        # Both backends divide doubles exactly (IEEE), so 2/4 and 3/6 tie as they should.
        .order_by(desc(cast(wins, Float) / n_games), desc(n_games), _name_order(db))
        .limit(limit)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [LeaderboardEntry(player_name=row.player_name, tally=_tally(row)) for row in rows]


def bot_win_rates(
    db: Database,
    *,
    since: datetime | None,
    human_only: bool,
    reason: FinishedReason | None = None,
) -> dict[str, Tally]:
    """Each model policy's record in public games: against people only, or against everyone
    (with ``reason``: in the games that finished for it)."""
    conditions = _public(since, reason)
    if human_only:
        conditions.append(_played_by_a_person())
    query = select(
        *(
            column
            for policy in _POLICIES
            for column in _tally_columns(f"{policy}_", games.c.policy == policy)
        )
    ).where(*conditions)
    with db.read() as conn:
        row = conn.execute(query).one()
    return {policy: _tally(row, f"{policy}_") for policy in _POLICIES}


def streaks(winners: Iterable[str]) -> tuple[int, int]:
    """(best, current) runs of consecutive user wins in completed games, oldest first.

    A loss or a tie ends a run; ``current`` is the run the newest games end with.
    """
    best = current = 0
    for winner in winners:
        current = current + 1 if winner == Winner.USER.value else 0
        best = max(best, current)
    return best, current


def win_streaks(
    db: Database, *, since: datetime | None, opponent: Policy | None, limit: int
) -> list[StreakEntry]:
    """People ranked by their longest run of wins (then current run, then name).

    Reads the newest :data:`STREAK_GAMES_READ` completed public games of people (against
    ``opponent`` only, when given) — three short columns each — and walks them once: O(n) for
    n games read, plus O(p log p) to rank the p players. Players without a win are left out.
    Abandoned games neither extend nor break a run.
    """
    conditions = [*_public(since), _FINISHED, _COMPLETED, _played_by_a_person()]
    if opponent is not None:
        conditions.append(games.c.policy == opponent.value)
    query = (
        select(games.c.player_name, games.c.winner, games.c.finished_at)
        .where(*conditions)
        .order_by(desc(games.c.finished_at), desc(games.c.id))
        .limit(STREAK_GAMES_READ)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    by_player: dict[str, list[str]] = {}
    last_win: dict[str, datetime] = {}
    for row in reversed(rows):  # oldest first
        by_player.setdefault(row.player_name, []).append(row.winner)
        if row.winner == Winner.USER.value:
            last_win[row.player_name] = row.finished_at
    entries = []
    for name, winners in by_player.items():
        best, current = streaks(winners)
        if best >= 1:
            entries.append(StreakEntry(name, best, current, len(winners), last_win[name]))
    entries.sort(key=lambda e: (-e.best_streak, -e.current_streak, e.player_name))
    return entries[:limit]


def _summary(row: Any) -> GameSummary:
    return GameSummary(
        game_id=row.id,
        player_name=row.player_name,
        policy=row.policy,
        model_type=row.model_type,
        bot_model_alias=row.bot_model_alias,
        user_score=round(float(row.user_score), 1),
        bot_score=round(float(row.bot_score), 1),
        winner=row.winner,
        rounds=int(row.rounds_played),
        created_at=row.created_at,
        finished_at=row.finished_at,
        source=row.source,
        finished_reason=row.finished_reason,
    )


_SUMMARY_COLUMNS: Final = (
    games.c.id,
    games.c.player_name,
    games.c.policy,
    games.c.model_type,
    games.c.bot_model_alias,
    games.c.user_score,
    games.c.bot_score,
    games.c.winner,
    games.c.rounds_played,
    games.c.created_at,
    games.c.finished_at,
    games.c.source,
    games.c.finished_reason,
)


def recent_games(
    db: Database,
    *,
    since: datetime | None,
    player_name: str | None,
    policy: Policy | None,
    limit: int,
    reason: FinishedReason | None = None,
) -> list[GameSummary]:
    """Finished public games (any source), newest first, optionally one player's, one policy's,
    or only those that finished for ``reason``.

    Unfinished games are never listed: a game's id lets whoever holds it play the game, so only
    its player may know it while it is open (SPEC §9).
    """
    conditions = [*_public(since, reason), _FINISHED]
    if player_name is not None:
        conditions.append(games.c.player_name == player_name)
    if policy is not None:
        conditions.append(games.c.policy == policy.value)
    query = (
        select(*_SUMMARY_COLUMNS)
        .where(*conditions)
        .order_by(desc(games.c.created_at), desc(games.c.id))
        .limit(limit)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [_summary(row) for row in rows]


def game_summary(db: Database, game_id: str) -> GameSummary | None:
    """One game, whatever its flags (the player's own view); None if unknown."""
    with db.read() as conn:
        row = conn.execute(select(*_SUMMARY_COLUMNS).where(games.c.id == game_id)).first()
    return None if row is None else _summary(row)


def session_stats(db: Database, session_id: str) -> SessionStats:
    """A session's record and streaks over all its games, whatever their flags (the streaks
    over its completed games only), and its stored rounds by result.

    An unknown session has no games: every figure is zero.
    """
    query = (
        select(games.c.winner, games.c.rounds_played, games.c.finished_reason)
        .where(games.c.session_id == session_id)
        # finished games oldest first (for the streaks), the unfinished ones after them
        .order_by(games.c.finished_at.is_(None), games.c.finished_at, games.c.id)
        .limit(SESSION_GAMES_READ)
    )
    # Through the session's index on games, then each game's rounds by the (game_id, step_no) key.
    by_result = (
        select(rounds.c.result, func.count().label("n"))
        .select_from(rounds.join(games, games.c.id == rounds.c.game_id))
        .where(games.c.session_id == session_id)
        .group_by(rounds.c.result)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
        results = {row.result: int(row.n) for row in conn.execute(by_result)}
    finished = [row.winner for row in rows if row.winner is not None]
    best, current = streaks(
        row.winner
        for row in rows
        if row.winner is not None and row.finished_reason != FinishedReason.ABANDONED.value
    )
    return SessionStats(
        session_id=session_id,
        tally=_tally_of(finished),
        active_games=len(rows) - len(finished),
        rounds=sum(int(row.rounds_played) for row in rows),
        best_streak=best,
        current_streak=current,
        round_results=RoundTally(
            wins=results.get(Outcome.WIN.value, 0),
            losses=results.get(Outcome.LOSE.value, 0),
            draws=results.get(Outcome.DRAW.value, 0),
        ),
    )


def _tally_of(winners: Sequence[str]) -> Tally:
    return Tally(
        games=len(winners),
        user_wins=sum(w == Winner.USER.value for w in winners),
        bot_wins=sum(w == Winner.BOT.value for w in winners),
        ties=sum(w == Winner.TIE.value for w in winners),
    )

"""The analytics queries on SQLite and on a real PostgreSQL (SPEC §9).

Every test that takes ``database`` runs once per backend. Games are stored as the app stores them
(``GameRepository.add_played_games``) with chosen outcomes, flags and timestamps, then read back
through ``rps.persistence.analytics_queries``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rps.domain.game import Game
from rps.domain.move import Move, Winner
from rps.domain.policy import Policy
from rps.persistence import analytics_queries as q
from rps.persistence.database import Database
from rps.persistence.game_repository import GameRepository
from rps.persistence.records import FinishedReason, GameRecord, GameSource, RoundRecord

T0 = datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
_ids = itertools.count()

W, L, T = Winner.USER, Winner.BOT, Winner.TIE


def game(
    name: str,
    winner: Winner | None,
    *,
    policy: str = "brian",
    source: GameSource = GameSource.HUMAN,
    is_test: bool = False,
    created_at: datetime = T0,
    finished_at: datetime | None = None,
    session_id: str = "session-1",
    rounds: int = 12,
    reason: FinishedReason | None = None,
) -> GameRecord:
    """A stored game with a chosen outcome; finished one minute after it started by default
    (completed unless ``reason`` says abandoned)."""
    if winner is not None and finished_at is None:
        finished_at = created_at + timedelta(minutes=1)
    return GameRecord(
        id=f"game-{next(_ids):06d}",
        session_id=session_id,
        player_name=name,
        policy=policy,
        model_type=None,
        bot_model_alias=None,
        model_version=None,
        difficulty_mode="normal",
        is_test=is_test,
        opening_name=None,
        opening_seq=(),
        source=source,
        created_at=created_at,
        user_score=100 if winner is W else 55,
        bot_score=100 if winner is L else 55,
        winner=winner,
        finished_at=finished_at if winner is not None else None,
        rounds_played=rounds,
        finished_reason=reason,
    )


def store(database: Database, *records: GameRecord) -> None:
    GameRepository(database).add_played_games([(r, []) for r in records])


def series(name: str, winners: str, start: datetime = T0, **kwargs: Any) -> list[GameRecord]:
    """Games finished one after another, in order: "WLT" = win, loss, tie."""
    codes = {"W": W, "L": L, "T": T}
    return [
        game(name, codes[c], created_at=start + timedelta(hours=i), **kwargs)
        for i, c in enumerate(winners)
    ]


# -- who counts as a person ----------------------------------------------------------------------

SIMULATED = ["sim12", "sim-player-0042", "simulated_7", "SIM7", "Sim 3", "sim0", "simone 2"]
NOT_SIMULATED = ["sim", "simone", "Simon", "asim1", "sim1a", "sim\u0661", "\u017fim1", "s1m1"]
PERSONAS = ["ace", "Ace", "ACE", "hal", "Fox", "gUs"]
PEOPLE = ["Ann", "ace1", "Acer", "Halo", "<img src=x onerror=alert(1)>", *NOT_SIMULATED]


@pytest.mark.parametrize("name", SIMULATED)
def test_names_starting_with_sim_and_ending_in_a_digit_are_simulated(name: str) -> None:
    assert q.is_simulated_name(name)
    assert not q.is_ranked_name(name)


@pytest.mark.parametrize("name", NOT_SIMULATED)
def test_other_names_are_not_simulated(name: str) -> None:
    # "sim\u0661" ends in an Arabic-Indic digit and "\u017fim1" starts with a long s: the rule
    # is ASCII-only, as the SQL's is.
    assert not q.is_simulated_name(name)


@pytest.mark.parametrize("name", PERSONAS)
def test_persona_names_match_in_any_letter_case(name: str) -> None:
    assert q.is_persona_name(name)
    assert not q.is_ranked_name(name)


def test_the_sql_filter_ranks_exactly_the_names_the_python_rule_ranks(database: Database) -> None:
    names = SIMULATED + PERSONAS + PEOPLE
    store(database, *(game(name, W) for name in names))

    ranked = q.leaderboard(database, since=None, min_games=1, limit=100)

    assert sorted(e.player_name for e in ranked) == sorted(n for n in names if q.is_ranked_name(n))
    assert sorted(e.player_name for e in ranked) == sorted(PEOPLE)


# -- global, policy, player ----------------------------------------------------------------------


def test_global_stats_leave_out_test_games_and_games_before_the_since_date(
    database: Database,
) -> None:
    since = T0
    store(
        database,
        game("Ann", W),
        game("Ann", L, policy="forrest"),
        game("Ann", T, policy="logan"),
        game("Bea", None, rounds=4),
        game("Ann", W, is_test=True),
        game("Old", W, created_at=since - timedelta(seconds=1)),
    )

    stats = q.global_stats(database, since=since)

    assert stats.totals == q.Tally(games=3, user_wins=1, bot_wins=1, ties=1)
    assert stats.active_games == 1
    assert stats.rounds == 12 * 3 + 4
    assert stats.players == 2
    assert stats.by_policy == {
        "brian": q.Tally(1, 1, 0, 0),
        "forrest": q.Tally(1, 0, 1, 0),
        "logan": q.Tally(1, 0, 0, 1),
    }
    assert q.global_stats(database, since=None).totals.games == 4  # the old game is back


def test_global_stats_count_every_source_but_only_people_as_players(database: Database) -> None:
    store(
        database,
        game("Ann", L),
        game("Ace", L, source=GameSource.PERSONA),
        game("sim-7", W, source=GameSource.SIMULATED),
        game("bot-runner", W, source=GameSource.SIMULATED),
        game("cal", L),  # a person who typed a persona's name is not counted as a player
        game("Ann", W, policy="ace"),  # a persona as the server opponent
    )

    stats = q.global_stats(database, since=None)

    assert stats.totals == q.Tally(games=6, user_wins=3, bot_wins=3, ties=0)
    assert stats.players == 1
    assert sum(t.games for t in stats.by_policy.values()) == 5
    assert stats.totals.bot_win_rate == pytest.approx(0.5)


def test_policy_stats_average_the_length_of_finished_games_only(database: Database) -> None:
    store(
        database,
        game("Ann", W, policy="logan", rounds=12),
        game("Bea", L, policy="logan", rounds=16),
        game("Cid", None, policy="logan", rounds=3),
        game("Ann", L, policy="brian", rounds=20),
        game("Ann", L, policy="logan", rounds=18, is_test=True),
    )

    stats = q.policy_stats(database, Policy.LOGAN, since=None)

    assert stats.tally == q.Tally(games=2, user_wins=1, bot_wins=1, ties=0)
    assert stats.rounds == 12 + 16 + 3
    assert stats.avg_rounds_per_game == pytest.approx(14.0)
    assert stats.tally.bot_win_rate == pytest.approx(0.5)
    empty = q.policy_stats(database, Policy.FORREST, since=None)
    assert (empty.tally.games, empty.avg_rounds_per_game, empty.tally.bot_win_rate) == (0, 0.0, 0.0)


def test_player_stats_split_by_policy_and_leave_out_test_games(database: Database) -> None:
    store(
        database,
        *series("Ann", "WWL", policy="brian"),
        *series("Ann", "T", policy="forrest"),
        game("Ann", W, policy="logan", is_test=True),
        game("ann", W),  # names are exact: another player
    )

    stats = q.player_stats(database, "Ann", since=None)

    assert stats is not None
    assert stats.totals == q.Tally(games=4, user_wins=2, bot_wins=1, ties=1)
    assert stats.by_policy == {
        "brian": q.Tally(3, 2, 1, 0),
        "forrest": q.Tally(1, 0, 0, 1),
        "logan": q.Tally(),
    }
    assert stats.totals.user_win_rate == pytest.approx(0.5)


def test_a_player_without_public_games_is_unknown_but_one_mid_game_exists(
    database: Database,
) -> None:
    store(database, game("Tess", W, is_test=True), game("Newbie", None))

    assert q.player_stats(database, "Tess", since=None) is None
    assert q.player_stats(database, "Nobody", since=None) is None
    newbie = q.player_stats(database, "Newbie", since=None)
    assert newbie is not None
    assert newbie.totals == q.Tally()


# -- leaderboard ---------------------------------------------------------------------------------


def test_leaderboard_ranks_by_win_rate_then_games_then_name(database: Database) -> None:
    store(
        database,
        *series("Dee", "WWWWWL"),  # 5/6
        *series("ann", "WWLL"),  # 1/2 over 4 games
        *series("Bix", "WWWLLL"),  # 1/2 over 6 games: more games first
        *series("Cy", "WWLL"),  # 1/2 over 4: ties with ann on rate and games
        *series("Eve", "TTTT"),  # 0/4
        *series("Fay", "WWW"),  # 3 games: below min_games
    )

    board = q.leaderboard(database, since=None, min_games=4, limit=10)

    # Names in code-point order on both backends: upper case before lower case.
    assert [e.player_name for e in board] == ["Dee", "Bix", "Cy", "ann", "Eve"]
    assert board[0].tally == q.Tally(games=6, user_wins=5, bot_wins=1, ties=0)
    assert board[-1].tally == q.Tally(games=4, user_wins=0, bot_wins=0, ties=4)


def test_leaderboard_filters_before_the_limit(database: Database) -> None:
    perfect = [g for i in range(12) for g in series(f"sim{i}", "WWWWW")]
    store(
        database,
        *perfect,
        *series("Ann", "WWWLL"),
        *series("Bix", "WLLLL"),
        *series("Ace", "WWWWW", source=GameSource.PERSONA),
        *series("Zed", "WWWWW", source=GameSource.SIMULATED),
        *series("Tess", "WWWWW", is_test=True),
    )

    board = q.leaderboard(database, since=None, min_games=5, limit=2)

    assert [e.player_name for e in board] == ["Ann", "Bix"]


def test_leaderboard_counts_only_finished_games_towards_the_minimum(database: Database) -> None:
    store(database, *series("Ann", "WWWW"), game("Ann", None), game("Ann", None))

    assert q.leaderboard(database, since=None, min_games=5, limit=10) == []
    assert len(q.leaderboard(database, since=None, min_games=4, limit=10)) == 1


def test_leaderboard_leaves_out_games_before_the_since_date(database: Database) -> None:
    store(database, *series("Ann", "WWWWW", start=T0 - timedelta(days=1)))

    assert q.leaderboard(database, since=T0, min_games=1, limit=10) == []
    assert len(q.leaderboard(database, since=T0 - timedelta(days=1), min_games=1, limit=10)) == 1


# -- bot win rates -------------------------------------------------------------------------------


def test_bot_win_rates_against_people_or_against_everyone(database: Database) -> None:
    store(
        database,
        game("Ann", L, policy="brian"),
        game("Ann", W, policy="brian"),
        game("Ace", L, policy="brian", source=GameSource.PERSONA),
        game("sim3", L, policy="brian"),
        game("Bix", L, policy="forrest", source=GameSource.SIMULATED),
        game("Ann", L, policy="logan", is_test=True),
    )

    people = q.bot_win_rates(database, since=None, human_only=True)
    everyone = q.bot_win_rates(database, since=None, human_only=False)

    assert people == {"brian": q.Tally(2, 1, 1, 0), "forrest": q.Tally(), "logan": q.Tally()}
    assert everyone == {
        "brian": q.Tally(4, 1, 3, 0),
        "forrest": q.Tally(1, 0, 1, 0),
        "logan": q.Tally(),
    }
    assert everyone["brian"].bot_win_rate == pytest.approx(0.75)
    assert everyone["brian"].user_win_rate == pytest.approx(0.25)


# -- streaks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("winners", "expected"),
    [
        ("", (0, 0)),
        ("L", (0, 0)),
        ("W", (1, 1)),
        ("WWLWWWTW", (3, 1)),
        ("WWWL", (3, 0)),
        ("LWWTWWWW", (4, 4)),
    ],
)
def test_streaks_count_runs_of_wins_that_a_loss_or_tie_ends(
    winners: str, expected: tuple[int, int]
) -> None:
    codes = {"W": "user", "L": "bot", "T": "tie"}
    assert q.streaks(codes[c] for c in winners) == expected


def test_win_streaks_follow_the_order_games_finished_in(database: Database) -> None:
    # Created W, W, L, W but finished W, L, W, W: the finish order decides.
    store(
        database,
        game("Ann", W, created_at=T0, finished_at=T0 + timedelta(hours=1)),
        game("Ann", W, created_at=T0 + timedelta(minutes=1), finished_at=T0 + timedelta(hours=4)),
        game("Ann", L, created_at=T0 + timedelta(minutes=2), finished_at=T0 + timedelta(hours=2)),
        game("Ann", W, created_at=T0 + timedelta(minutes=3), finished_at=T0 + timedelta(hours=3)),
        game("Ann", None, created_at=T0 + timedelta(minutes=4)),
    )

    [entry] = q.win_streaks(database, since=None, opponent=None, limit=10)

    assert (entry.best_streak, entry.current_streak, entry.games) == (2, 2, 4)
    assert entry.last_win_at == T0 + timedelta(hours=4)  # the win that finished last


def test_win_streaks_rank_people_by_best_then_current_then_name(database: Database) -> None:
    store(
        database,
        *series("Cy", "WWWL"),  # best 3, current 0
        *series("Bea", "WWLWW"),  # best 2, current 2
        *series("Al", "LWWL"),  # best 2, current 0
        *series("Ann", "WWLL"),  # best 2, current 0: after Al by name
        *series("Dot", "LLTL"),  # never won: left out
        *series("sim5", "WWWWWWW"),
        *series("Gus", "WWWWWWW", source=GameSource.PERSONA),
        *series("Tess", "WWWWWWW", is_test=True),
    )

    entries = q.win_streaks(database, since=None, opponent=None, limit=10)

    assert [(e.player_name, e.best_streak, e.current_streak) for e in entries] == [
        ("Cy", 3, 0),
        ("Bea", 2, 2),
        ("Al", 2, 0),
        ("Ann", 2, 0),
    ]
    assert [e.player_name for e in q.win_streaks(database, since=None, opponent=None, limit=2)] == [
        "Cy",
        "Bea",
    ]


def test_win_streaks_against_one_opponent_skip_the_other_games(database: Database) -> None:
    store(
        database,
        game("Ann", W, policy="forrest", created_at=T0),
        game("Ann", L, policy="brian", created_at=T0 + timedelta(hours=1)),
        game("Ann", W, policy="forrest", created_at=T0 + timedelta(hours=2)),
    )

    [overall] = q.win_streaks(database, since=None, opponent=None, limit=10)
    [vs_forrest] = q.win_streaks(database, since=None, opponent=Policy.FORREST, limit=10)

    assert (overall.best_streak, overall.games) == (1, 3)
    assert (vs_forrest.best_streak, vs_forrest.current_streak, vs_forrest.games) == (2, 2, 2)
    assert q.win_streaks(database, since=None, opponent=Policy.LOGAN, limit=10) == []


# -- one session, one game, recent games -----------------------------------------------------------


def test_session_stats_take_every_game_of_the_session_even_test_ones(database: Database) -> None:
    store(
        database,
        *series("Ann", "WLWW", session_id="s-ann"),
        game("Ann", W, session_id="s-ann", is_test=True, created_at=T0 + timedelta(hours=9)),
        game("Ann", None, session_id="s-ann", rounds=5, created_at=T0 + timedelta(hours=10)),
        *series("Bix", "WWWWW", session_id="s-bix"),
    )

    stats = q.session_stats(database, "s-ann")

    assert stats.tally == q.Tally(games=5, user_wins=4, bot_wins=1, ties=0)
    assert (stats.active_games, stats.rounds) == (1, 12 * 5 + 5)
    assert (stats.best_streak, stats.current_streak) == (3, 3)
    unknown = q.session_stats(database, "no-such-session")
    assert (unknown.tally, unknown.active_games, unknown.rounds) == (q.Tally(), 0, 0)


def test_session_round_results_count_the_stored_rounds_of_the_sessions_games(
    database: Database,
) -> None:
    def played(record: GameRecord, bot_moves: str) -> tuple[GameRecord, list[RoundRecord]]:
        # The user always plays rock: scissors is a won round, paper a lost one, rock a draw.
        board = Game(record.id)
        moves = {"s": Move.SCISSORS, "p": Move.PAPER, "r": Move.ROCK}
        rounds = [
            RoundRecord(board.play(Move.ROCK, moves[m]), "opening", record.created_at)
            for m in bot_moves
        ]
        return record, rounds

    GameRepository(database).add_played_games(
        [
            played(game("Ann", W, session_id="s-r"), "sspr"),
            played(game("Ann", None, session_id="s-r", is_test=True), "pr"),
            played(game("Bix", L, session_id="s-other"), "ppppp"),
        ]
    )

    stats = q.session_stats(database, "s-r")

    assert stats.round_results == q.RoundTally(wins=2, losses=2, draws=2)
    assert q.session_stats(database, "no-such-session").round_results == q.RoundTally()


def test_game_summary_reads_any_game_and_none_for_an_unknown_id(database: Database) -> None:
    record = game("Tess", L, is_test=True, rounds=14)
    store(database, record)

    summary = q.game_summary(database, record.id)

    assert summary is not None
    assert (summary.player_name, summary.winner, summary.rounds) == ("Tess", "bot", 14)
    assert (summary.user_score, summary.bot_score) == (5.5, 10.0)
    assert summary.created_at == record.created_at
    assert q.game_summary(database, "no-such-game") is None


def test_recent_games_are_finished_ones_newest_first_without_test_games(
    database: Database,
) -> None:
    records = [
        game("Ann", W, policy="brian", created_at=T0),
        game("Bix", L, policy="forrest", created_at=T0 + timedelta(hours=1)),
        game("Ann", None, policy="forrest", created_at=T0 + timedelta(hours=2)),
        game("Ann", W, policy="forrest", created_at=T0 + timedelta(hours=3), is_test=True),
    ]
    store(database, *records)

    def ids(
        player_name: str | None = None, policy: Policy | None = None, limit: int = 20
    ) -> list[str]:
        found = q.recent_games(
            database, since=None, player_name=player_name, policy=policy, limit=limit
        )
        return [g.game_id for g in found]

    # records[2] is still being played: its id is its player's alone, never listed.
    assert ids() == [records[1].id, records[0].id]
    assert ids(limit=1) == [records[1].id]
    assert ids(player_name="Ann") == [records[0].id]
    assert ids(policy=Policy.FORREST) == [records[1].id]
    assert ids(player_name="Ann", policy=Policy.BRIAN) == [records[0].id]
    latest = q.recent_games(database, since=None, player_name=None, policy=None, limit=1)[0]
    assert (latest.winner, latest.finished_at, latest.created_at) == (
        "bot",
        records[1].finished_at,
        records[1].created_at,
    )


# -- abandoned games (SPEC §1.2) ------------------------------------------------------------------

ABANDONED = FinishedReason.ABANDONED
COMPLETED = FinishedReason.COMPLETED


def abandoned(name: str, winner: Winner, **kwargs: Any) -> GameRecord:
    """A game closed after a stretch without moves, ``winner`` being the side ahead then."""
    return game(name, winner, reason=ABANDONED, **kwargs)


def test_abandoned_games_are_finished_games_and_the_figures_narrow_to_one_reason(
    database: Database,
) -> None:
    hour = timedelta(hours=1)
    records = [
        game("Ann", W, policy="brian", created_at=T0),
        abandoned("Ann", L, policy="brian", created_at=T0 + hour),
        abandoned("Ann", W, policy="logan", created_at=T0 + 2 * hour),
        game("Ann", None, policy="logan", created_at=T0 + 3 * hour),
    ]
    store(database, *records)

    everything = q.global_stats(database, since=None)
    assert everything.totals == q.Tally(games=3, user_wins=2, bot_wins=1, ties=0)
    assert everything.active_games == 1
    only_abandoned = q.global_stats(database, since=None, reason=ABANDONED)
    assert only_abandoned.totals == q.Tally(games=2, user_wins=1, bot_wins=1, ties=0)
    assert only_abandoned.active_games == 0
    assert only_abandoned.by_policy["logan"] == q.Tally(games=1, user_wins=1)
    only_completed = q.global_stats(database, since=None, reason=COMPLETED)
    assert only_completed.totals == q.Tally(games=1, user_wins=1)

    brian = q.policy_stats(database, Policy.BRIAN, since=None, reason=ABANDONED)
    assert brian.tally == q.Tally(games=1, bot_wins=1)
    player = q.player_stats(database, "Ann", since=None, reason=COMPLETED)
    assert player is not None
    assert player.totals == q.Tally(games=1, user_wins=1)
    rates = q.bot_win_rates(database, since=None, human_only=True, reason=ABANDONED)
    assert (rates["brian"].bot_wins, rates["logan"].user_wins) == (1, 1)

    listed = q.recent_games(
        database, since=None, player_name=None, policy=None, limit=10, reason=ABANDONED
    )
    assert [g.game_id for g in listed] == [records[2].id, records[1].id]
    assert {g.finished_reason for g in listed} == {"abandoned"}
    every = q.recent_games(database, since=None, player_name=None, policy=None, limit=10)
    assert [g.finished_reason for g in every] == ["abandoned", "abandoned", "completed"]


def test_the_leaderboard_counts_completed_games_only(database: Database) -> None:
    store(
        database,
        # Four completed wins and an abandoned one: short of the five games a ranking needs.
        *series("Ann", "WWWW"),
        abandoned("Ann", W, created_at=T0 + timedelta(days=1)),
        # Five completed games, two lost; the abandoned losses change nothing.
        *series("Bix", "WWWLL"),
        *(abandoned("Bix", L, created_at=T0 + timedelta(days=1, hours=h)) for h in range(3)),
    )

    ranked = q.leaderboard(database, since=None, min_games=5, limit=10)

    assert [(e.player_name, e.tally) for e in ranked] == [
        ("Bix", q.Tally(games=5, user_wins=3, bot_wins=2)),
    ]


def test_streaks_skip_abandoned_games_which_neither_extend_nor_break_a_run(
    database: Database,
) -> None:
    hour = timedelta(hours=1)
    store(
        database,
        game("Cat", W, created_at=T0, session_id="s-cat"),
        game("Cat", W, created_at=T0 + hour, session_id="s-cat"),
        abandoned("Cat", L, created_at=T0 + 2 * hour, session_id="s-cat"),
        game("Cat", W, created_at=T0 + 3 * hour, session_id="s-cat"),
        abandoned("Cat", W, created_at=T0 + 4 * hour, session_id="s-cat"),
        # Wins only by walking away from games ahead: no streak at all.
        abandoned("Dan", W, created_at=T0),
        abandoned("Dan", W, created_at=T0 + hour),
    )

    entries = q.win_streaks(database, since=None, opponent=None, limit=10)

    assert [(e.player_name, e.best_streak, e.current_streak, e.games) for e in entries] == [
        ("Cat", 3, 3, 3),
    ]
    session = q.session_stats(database, "s-cat")
    assert session.tally == q.Tally(games=5, user_wins=4, bot_wins=1)
    assert (session.best_streak, session.current_streak) == (3, 3)

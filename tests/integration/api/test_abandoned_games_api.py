"""Abandoned games as a client sees them (SPEC §1.2, §9): ``/play`` on a game nobody moved in for
ABANDONED_AFTER_MINUTES answers 409 saying so, the game's JSON says how it finished, and the
analytics count abandoned games as finished, filter by reason and rank completed games only.

The app's gameplay clock is the test's: "31 minutes later" is a clock move, never a sleep.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rps.api.app import create_app
from rps.bootstrap import Container, build_container
from rps.domain.move import Winner
from rps.persistence.database import Database, migrate
from rps.persistence.records import FinishedReason, GameRecord, GameSource
from rps.settings import Settings

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
_serial = iter(range(1_000_000))
WINNERS = {"W": Winner.USER, "L": Winner.BOT}


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Iterator[tuple[TestClient, Container]]:
    database = Database(settings.database_url)
    migrate(database)
    database.dispose()
    container = build_container(
        settings, rng=random.Random(5), opening_rng=random.Random(6), clock=clock
    )
    container.models.reload()
    with TestClient(create_app(container=container)) as client:
        yield client, container
    container.close()


def start(client: TestClient, **body: Any) -> str:
    response = client.post("/start_game", json={"player_name": "Ann", **body})
    assert response.status_code == 200, response.text
    return str(response.json()["game_id"])


def play(client: TestClient, game_id: str, move: str = "rock", **extra: Any) -> Any:
    return client.post("/play", json={"game_id": game_id, "user_move": move, **extra})


def test_a_move_after_half_an_hour_of_quiet_answers_409_saying_the_game_was_abandoned(
    app: tuple[TestClient, Container], clock: Clock
) -> None:
    client, _ = app
    game_id = start(client)
    first = play(client, game_id).json()
    assert (first["finished"], first["finished_reason"]) == (False, None)
    clock.now += timedelta(minutes=31)

    refused = play(client, game_id, "paper")

    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert f"game {game_id} was abandoned (no move for over 30 minutes)" in detail
    assert "start a new game" in detail
    state = client.get(f"/games/{game_id}").json()
    assert (state["status"], state["finished_reason"]) == ("finished", "abandoned")
    assert len(state["rounds"]) == 1
    assert (state["user_score"], state["bot_score"]) == (first["user_score"], first["bot_score"])
    ahead = {True: "user", False: "bot"}
    level = first["user_score"] == first["bot_score"]
    assert state["winner"] == ("tie" if level else ahead[first["user_score"] > first["bot_score"]])
    assert state["next_round_points"] is None
    assert state["finished_at"] == clock.now.isoformat().replace("+00:00", "Z")
    points = client.get(f"/round_points?game_id={game_id}").json()
    assert (points["finished"], points["finished_reason"]) == (True, "abandoned")
    summary = client.get(f"/stats?game_id={game_id}").json()
    assert (summary["finished"], summary["finished_reason"]) == (True, "abandoned")
    # Later moves are refused the same way, naming the next round or not.
    again = play(client, game_id, "scissors", round=2)
    assert again.status_code == 409
    assert "was abandoned" in again.json()["detail"]


def test_a_move_within_the_limit_plays_and_a_finished_game_says_it_was_completed(
    app: tuple[TestClient, Container], clock: Clock
) -> None:
    client, _ = app
    game_id = start(client)
    for _ in range(25):
        clock.now += timedelta(minutes=29)
        answer = play(client, game_id)
        assert answer.status_code == 200, answer.text
        if answer.json()["finished"]:
            break
    assert answer.json()["finished_reason"] == "completed"
    state = client.get(f"/games/{game_id}").json()
    assert (state["status"], state["finished_reason"]) == ("finished", "completed")
    clock.now += timedelta(hours=2)
    refused = play(client, game_id)
    assert refused.status_code == 409
    assert "abandoned" not in refused.json()["detail"]


# -- analytics ------------------------------------------------------------------------------------


def stored_game(
    name: str, winner: Winner | None, reason: FinishedReason | None, hours: int
) -> GameRecord:
    created = T0 - timedelta(days=3) + timedelta(hours=hours)
    return GameRecord(
        id=f"finished-{next(_serial):06d}",
        session_id=f"session-{name}",
        player_name=name,
        policy="brian",
        model_type=None,
        bot_model_alias=None,
        model_version=None,
        difficulty_mode="normal",
        is_test=False,
        opening_name=None,
        opening_seq=(),
        source=GameSource.HUMAN,
        created_at=created,
        user_score=100 if winner is Winner.USER else 45,
        bot_score=100 if winner is Winner.BOT else 45,
        winner=winner,
        finished_at=created + timedelta(minutes=40) if winner else None,
        rounds_played=12,
        finished_reason=reason,
    )


def store(container: Container, *records: GameRecord) -> None:
    container.games.add_played_games([(r, []) for r in records])


def test_the_games_list_and_the_stats_filter_by_how_games_finished(
    app: tuple[TestClient, Container],
) -> None:
    client, container = app
    completed = stored_game("Ann", Winner.USER, FinishedReason.COMPLETED, 0)
    walked_away = stored_game("Ann", Winner.BOT, FinishedReason.ABANDONED, 1)
    playing = stored_game("Ann", None, None, 2)
    store(container, completed, walked_away, playing)

    def listed(query: str = "") -> list[tuple[str, str | None]]:
        games = client.get(f"/games?{query}").json()["games"]
        return [(g["game_id"], g["finished_reason"]) for g in games]

    # The open game is not listed (its id is its player's alone).
    assert listed() == [(walked_away.id, "abandoned"), (completed.id, "completed")]
    assert listed("finished_reason=abandoned") == [(walked_away.id, "abandoned")]
    assert listed("finished_reason=completed&player_name=Ann") == [(completed.id, "completed")]
    assert len(listed("finished_reason=")) == 2  # empty: no filter

    overall = client.get("/stats/global").json()
    assert (overall["games"], overall["user_wins"], overall["bot_wins"]) == (2, 1, 1)
    assert overall["active_games"] == 1
    quit_games = client.get("/stats/global?finished_reason=abandoned").json()
    assert (quit_games["games"], quit_games["bot_wins"], quit_games["active_games"]) == (1, 1, 0)
    player = client.get("/stats/player/Ann?finished_reason=completed").json()
    assert (player["games"], player["wins"]) == (1, 1)
    brian = client.get("/stats/policy/brian?finished_reason=abandoned").json()
    assert (brian["games"], brian["bot_wins"]) == (1, 1)
    rates = client.get("/bot_win_rates?finished_reason=abandoned").json()
    assert rates["policies"]["brian"]["games"] == 1


@pytest.mark.parametrize(
    "path",
    [
        "/games",
        "/stats/global",
        "/stats/policy/brian",
        "/stats/player/Ann",
        "/bot_win_rates",
    ],
)
@pytest.mark.parametrize("value", ["quit", "Abandoned", "finished"])
def test_an_unknown_finished_reason_is_refused_with_422_naming_the_parameter(
    app: tuple[TestClient, Container], path: str, value: str
) -> None:
    client, _ = app
    response = client.get(f"{path}?finished_reason={value}")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("finished_reason:")


def test_rankings_count_completed_games_only(app: tuple[TestClient, Container]) -> None:
    client, container = app
    store(
        container,
        # Five completed games, then three wins the opponent walked away from while behind.
        *(
            stored_game("Ann", WINNERS[c], FinishedReason.COMPLETED, h)
            for h, c in enumerate("WWLWW")
        ),
        *(stored_game("Ann", Winner.USER, FinishedReason.ABANDONED, 10 + h) for h in range(3)),
        # Only abandoned games: never ranked.
        *(stored_game("Bix", Winner.USER, FinishedReason.ABANDONED, 20 + h) for h in range(6)),
    )

    board = client.get("/leaderboard").json()["entries"]
    assert [(e["player_name"], e["games"], e["wins"]) for e in board] == [("Ann", 5, 4)]
    streaks = client.get("/win_streaks").json()["entries"]
    assert [(e["player_name"], e["best_streak"], e["current_streak"]) for e in streaks] == [
        ("Ann", 2, 2)
    ]

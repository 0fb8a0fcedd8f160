"""The analytics endpoints as a client sees them (SPEC §9; in-process ASGI client, SQLite).

Games come from the real API (``/start_game`` + ``/play``) where any outcome will do, and from
the repository where a test needs chosen outcomes, flags or dates.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rps.api.app import create_app
from rps.bootstrap import Container, build_container
from rps.domain.move import Winner
from rps.persistence.database import Database, migrate
from rps.persistence.records import GameRecord, GameSource
from rps.settings import load_settings
from tests.conftest import ADMIN_TOKEN
from tests.integration.api.test_gameplay_api import play_to_end, start

XSS_NAME = "<img src=x onerror=alert(1)>"
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
POLICIES = {"brian", "forrest", "logan"}
TALLY_KEYS = {"games", "user_wins", "bot_wins", "ties", "bot_win_rate"}
PLAYER_KEYS = {"games", "wins", "losses", "ties", "win_rate"}

ClientFactory = Callable[..., tuple[TestClient, Container]]
_serial = iter(range(1_000_000))


def stored_game(
    name: str,
    winner: Winner | None,
    *,
    policy: str = "brian",
    source: GameSource = GameSource.HUMAN,
    is_test: bool = False,
    created_at: datetime = T0,
    session_id: str = "stored-session",
) -> GameRecord:
    return GameRecord(
        id=f"stored-{next(_serial):06d}",
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
        user_score=100 if winner is Winner.USER else 40,
        bot_score=100 if winner is Winner.BOT else 40,
        winner=winner,
        finished_at=created_at + timedelta(minutes=2) if winner else None,
        rounds_played=13,
    )


def store(container: Container, *records: GameRecord) -> None:
    container.games.add_played_games([(r, []) for r in records])


def record_of(name: str, outcomes: str, **kwargs: Any) -> list[GameRecord]:
    """Games finished in this order: "W" the player won, "L" lost, "T" tied."""
    codes = {"W": Winner.USER, "L": Winner.BOT, "T": Winner.TIE}
    start_at = kwargs.pop("created_at", T0)
    return [
        stored_game(name, codes[c], created_at=start_at + timedelta(hours=i), **kwargs)
        for i, c in enumerate(outcomes)
    ]


def get_json(client: TestClient, url: str, status: int = 200) -> Any:
    response = client.get(url)
    assert response.status_code == status, response.text
    return response.json()


def detail(client: TestClient, url: str, status: int) -> str:
    body = get_json(client, url, status)
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str)
    return str(body["detail"])


@pytest.fixture
def client_with(tmp_path: Path) -> Iterator[ClientFactory]:
    """Builds clients whose settings carry the given overrides (e.g. METRICS_SINCE_DATE)."""
    with contextlib.ExitStack() as stack:

        def make(**overrides: Any) -> tuple[TestClient, Container]:
            settings = load_settings(
                DATA_PATH=tmp_path / "custom", RPS_ADMIN_TOKEN=ADMIN_TOKEN, **overrides
            )
            db = Database(settings.database_url)
            migrate(db)
            db.dispose()
            container = build_container(settings, rng=random.Random(3))
            stack.callback(container.close)
            container.models.reload()
            client = stack.enter_context(TestClient(create_app(container=container)))
            return client, container

        yield make


# -- /stats/global -------------------------------------------------------------------------------


def test_global_stats_count_real_games_and_leave_out_test_games(client: TestClient) -> None:
    finished = start(client, player_name="Ann", policy="forrest")
    answers = play_to_end(client, finished["game_id"])
    play_to_end(client, start(client, player_name="Ann", mark_test_game=True)["game_id"])
    active = start(client, player_name="Bea", policy="logan")
    client.post("/play", json={"game_id": active["game_id"], "user_move": "paper"})

    stats = get_json(client, "/stats/global")

    assert set(stats) == {
        "games", "active_games", "rounds", "players", "user_wins", "bot_wins", "ties",
        "bot_win_rate", "by_policy",
    }  # fmt: skip
    assert (stats["games"], stats["active_games"], stats["players"]) == (1, 1, 2)
    assert stats["rounds"] == len(answers) + 1
    winner = answers[-1]["winner"]
    expected = {"user_wins": 0, "bot_wins": 0, "ties": 0}
    expected[{"user": "user_wins", "bot": "bot_wins", "tie": "ties"}[winner]] = 1
    assert {k: stats[k] for k in expected} == expected
    assert stats["bot_win_rate"] == (1.0 if winner == "bot" else 0.0)
    assert set(stats["by_policy"]) == POLICIES
    assert all(set(entry) == TALLY_KEYS for entry in stats["by_policy"].values())
    assert stats["by_policy"]["forrest"]["games"] == 1
    assert stats["by_policy"]["brian"] == {
        "games": 0, "user_wins": 0, "bot_wins": 0, "ties": 0, "bot_win_rate": 0.0,
    }  # fmt: skip


def test_metrics_since_date_leaves_older_games_out_of_every_public_figure(
    client_with: ClientFactory,
) -> None:
    client, container = client_with(METRICS_SINCE_DATE="2026-01-10", LEADERBOARD_MIN_GAMES=1)
    old = stored_game("Old", Winner.USER, created_at=datetime(2026, 1, 9, 23, 59, tzinfo=UTC))
    new = stored_game("New", Winner.BOT, created_at=datetime(2026, 1, 10, 0, 0, tzinfo=UTC))
    store(container, old, new)

    assert get_json(client, "/stats/global")["games"] == 1
    assert [e["player_name"] for e in get_json(client, "/leaderboard")["entries"]] == ["New"]
    assert [g["game_id"] for g in get_json(client, "/games")["games"]] == [new.id]
    assert get_json(client, "/win_streaks")["entries"] == []
    assert get_json(client, "/bot_win_rates")["policies"]["brian"]["bot_wins"] == 1
    assert get_json(client, "/stats/policy/brian")["games"] == 1
    detail(client, "/stats/player/Old", 404)
    # The player's own view keeps it.
    assert get_json(client, f"/stats?game_id={old.id}")["winner"] == "user"
    assert get_json(client, "/stats?session_id=stored-session")["games"] == 2


# -- /stats?game_id= | session_id= ---------------------------------------------------------------


def test_game_stats_summarise_one_game_even_a_test_game(client: TestClient) -> None:
    game = start(client, player_name=XSS_NAME, policy="logan", mark_test_game=True)
    answers = play_to_end(client, game["game_id"], "scissors")

    stats = get_json(client, f"/stats?game_id={game['game_id']}")

    assert stats == {
        "game_id": game["game_id"],
        "player_name": XSS_NAME,
        "policy": "logan",
        "rounds": len(answers),
        "user_score": answers[-1]["user_score"],
        "bot_score": answers[-1]["bot_score"],
        "winner": answers[-1]["winner"],
        "finished": True,
        "finished_reason": "completed",
    }


def test_an_unfinished_game_has_no_winner_yet(client: TestClient) -> None:
    game = start(client, player_name="Ann")
    client.post("/play", json={"game_id": game["game_id"], "user_move": "rock"})

    stats = get_json(client, f"/stats?game_id={game['game_id']}")

    assert (stats["rounds"], stats["winner"], stats["finished"]) == (1, None, False)
    assert stats["finished_reason"] is None


def test_session_stats_count_the_sessions_games_and_streaks(
    client: TestClient, container: Container
) -> None:
    later = T0 + timedelta(days=1)
    store(
        container,
        *record_of("Ann", "WWLW", session_id="s-1"),
        stored_game("Ann", Winner.USER, session_id="s-1", is_test=True, created_at=later),
        stored_game("Ann", None, session_id="s-1", created_at=later + timedelta(hours=1)),
        *record_of("Other", "LLL", session_id="s-2"),
    )

    stats = get_json(client, "/stats?session_id=s-1")

    assert stats == {
        "session_id": "s-1",
        "games": 5,
        "active_games": 1,
        "wins": 4,
        "losses": 1,
        "ties": 0,
        "win_rate": 0.8,
        "rounds_played": 13 * 6,
        "best_streak": 2,
        "current_streak": 2,
        "draws": 0,
        # These games were stored without their rounds: no round has a result to count.
        "rounds": {"wins": 0, "losses": 0, "draws": 0},
    }


def test_a_new_session_has_all_zero_stats(client: TestClient) -> None:
    stats = get_json(client, "/stats?session_id=fresh")

    assert stats["games"] == stats["wins"] == stats["best_streak"] == 0
    assert stats["win_rate"] == 0.0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "neither was given"),
        ("?game_id=g&session_id=s", "both were given"),
    ],
)
def test_stats_need_exactly_one_of_game_id_and_session_id(
    client: TestClient, query: str, expected: str
) -> None:
    message = detail(client, f"/stats{query}", 422)

    assert "game_id" in message
    assert "session_id" in message
    assert expected in message


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("?game_id=", "game_id"),
        ("?game_id=" + "x" * 65, "game_id"),
        ("?session_id=a%00b", "session_id"),
    ],
)
def test_stats_reject_a_malformed_id_naming_it(client: TestClient, query: str, named: str) -> None:
    assert detail(client, f"/stats{query}", 422).startswith(named)


def test_stats_of_an_unknown_game_is_404(client: TestClient) -> None:
    assert "no-such-game" in detail(client, "/stats?game_id=no-such-game", 404)


# -- /stats/policy/{policy} ----------------------------------------------------------------------


def test_policy_stats_add_rounds_and_the_mean_game_length(
    client: TestClient, container: Container
) -> None:
    store(
        container,
        *record_of("Ann", "WLT", policy="forrest"),
        stored_game("Bea", None, policy="forrest"),
        stored_game("Ann", Winner.USER, policy="brian"),
    )

    stats = get_json(client, "/stats/policy/forrest")

    assert stats == {
        "policy": "forrest",
        "games": 3,
        "user_wins": 1,
        "bot_wins": 1,
        "ties": 1,
        "bot_win_rate": pytest.approx(1 / 3),
        "rounds": 13 * 4,
        "avg_rounds_per_game": 13.0,
    }


@pytest.mark.parametrize("policy", ["ace", "Brian", "xgboost"])
def test_policy_stats_of_an_unknown_policy_is_422(client: TestClient, policy: str) -> None:
    message = detail(client, f"/stats/policy/{policy}", 422)

    assert message.startswith("policy")
    assert "brian" in message


# -- /stats/player/{name} ------------------------------------------------------------------------


def test_player_stats_come_back_with_the_name_verbatim(client: TestClient) -> None:
    game = start(client, player_name=XSS_NAME, policy="brian")
    answers = play_to_end(client, game["game_id"], "paper")

    response = client.get("/stats/player/" + XSS_NAME)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    stats = response.json()
    assert stats["player_name"] == XSS_NAME
    assert set(stats) == PLAYER_KEYS | {"player_name", "by_policy"}
    won = answers[-1]["winner"] == "user"
    assert (stats["games"], stats["wins"], stats["win_rate"]) == (1, int(won), float(won))
    assert set(stats["by_policy"]) == POLICIES
    assert all(set(entry) == PLAYER_KEYS for entry in stats["by_policy"].values())
    assert stats["by_policy"]["brian"]["games"] == 1
    assert stats["by_policy"]["logan"]["games"] == 0


def test_player_stats_find_a_name_with_a_slash(client: TestClient, container: Container) -> None:
    store(container, *record_of("AC/DC", "WL"))

    stats = get_json(client, "/stats/player/AC%2FDC")

    assert (stats["player_name"], stats["games"], stats["wins"]) == ("AC/DC", 2, 1)


def test_player_stats_of_a_player_without_public_games_is_404(
    client: TestClient, container: Container
) -> None:
    store(container, stored_game("Tess", Winner.USER, is_test=True))

    assert "Tess" in detail(client, "/stats/player/Tess", 404)
    assert "Nobody" in detail(client, "/stats/player/Nobody", 404)


def test_player_stats_reject_a_name_longer_than_any_stored_one(client: TestClient) -> None:
    assert detail(client, "/stats/player/" + "n" * 65, 422).startswith("name")


# -- /leaderboard ----------------------------------------------------------------------------------


def test_leaderboard_leaves_out_simulated_players_before_the_limit(
    client: TestClient, container: Container
) -> None:
    store(
        container,
        *(g for i in range(12) for g in record_of(f"sim-player-{i:04d}", "WWWWW")),
        *record_of("Ann", "WWWLL"),
        *record_of(XSS_NAME, "WLLLL"),
        *record_of("Cal", "WWWWW"),  # a persona's name
        *record_of("Zed", "WWWWW", source=GameSource.SIMULATED),
        *record_of("Tess", "WWWWW", is_test=True),
        *record_of("Few", "WWWW"),  # below LEADERBOARD_MIN_GAMES (5)
    )

    board = get_json(client, "/leaderboard?limit=2")

    assert board == {
        "min_games": 5,
        "entries": [
            {"rank": 1, "player_name": "Ann", "games": 5, "wins": 3, "losses": 2, "ties": 0,
             "win_rate": 0.6},
            {"rank": 2, "player_name": XSS_NAME, "games": 5, "wins": 1, "losses": 4, "ties": 0,
             "win_rate": 0.2},
        ],
    }  # fmt: skip


def test_leaderboard_breaks_equal_win_rates_by_games_then_name(client_with: ClientFactory) -> None:
    client, container = client_with(LEADERBOARD_MIN_GAMES=2)
    store(
        container,
        *record_of("Cy", "WL"),
        *record_of("Al", "WL"),
        *record_of("Bea", "WWLL"),
        *record_of("Dan2", "WWW"),
    )

    board = get_json(client, "/leaderboard")

    assert board["min_games"] == 2
    assert [(e["rank"], e["player_name"]) for e in board["entries"]] == [
        (1, "Dan2"),
        (2, "Bea"),
        (3, "Al"),
        (4, "Cy"),
    ]


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_leaderboard_limit_outside_1_to_100_is_422(client: TestClient, limit: str) -> None:
    assert detail(client, f"/leaderboard?limit={limit}", 422).startswith("limit")


# -- /bot_win_rates --------------------------------------------------------------------------------


def test_bot_win_rates_count_persona_games_only_when_asked(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    person = start(client, player_name="Ann", policy="brian")
    person_end = play_to_end(client, person["game_id"], "rock")[-1]["winner"]
    response = client.post(
        "/start_game",
        json={"player_name": "Ace", "policy": "brian", "source": "persona"},
        headers=admin_headers,
    )
    persona_end = play_to_end(client, response.json()["game_id"], "paper")[-1]["winner"]

    people = get_json(client, "/bot_win_rates")
    everyone = get_json(client, "/bot_win_rates?human_only=false")

    assert people["human_only"] is True
    assert everyone["human_only"] is False
    for body in (people, everyone):
        assert set(body["policies"]) == POLICIES
        assert all(
            set(entry)
            == {"games", "bot_wins", "user_wins", "ties", "bot_win_rate", "user_win_rate"}
            for entry in body["policies"].values()
        )
        assert body["policies"]["logan"]["games"] == 0
    brian = people["policies"]["brian"]
    assert brian["games"] == 1
    assert brian["bot_wins"] == int(person_end == "bot")
    assert brian["bot_win_rate"] == float(person_end == "bot")
    assert everyone["policies"]["brian"]["games"] == 2
    assert everyone["policies"]["brian"]["bot_wins"] == (
        int(person_end == "bot") + int(persona_end == "bot")
    )


def test_bot_win_rates_reject_a_non_boolean_flag(client: TestClient) -> None:
    assert detail(client, "/bot_win_rates?human_only=maybe", 422).startswith("human_only")


# -- /win_streaks ----------------------------------------------------------------------------------


def test_win_streaks_rank_people_and_can_focus_on_one_opponent(
    client: TestClient, container: Container
) -> None:
    store(
        container,
        *record_of("Ann", "WWWLW", policy="forrest"),
        *record_of("Bea", "WW", policy="brian"),
        *record_of(XSS_NAME, "LLL", policy="brian"),
        *record_of("sim7", "WWWWWW", policy="brian"),
        *record_of("Hal", "WWWWWW", policy="brian"),
    )

    everyone = get_json(client, "/win_streaks?opponent=&limit=10")
    vs_brian = get_json(client, "/win_streaks?opponent=brian")

    assert everyone == {
        "opponent": None,
        "entries": [
            {"rank": 1, "player_name": "Ann", "best_streak": 3, "current_streak": 1, "games": 5},
            {"rank": 2, "player_name": "Bea", "best_streak": 2, "current_streak": 2, "games": 2},
        ],
        # The same entries under the original's names; the date is the newest win's end.
        "players": [
            {"username": "Ann", "streak": 3, "last_win_date": "2026-01-10T16:02:00Z"},
            {"username": "Bea", "streak": 2, "last_win_date": "2026-01-10T13:02:00Z"},
        ],
    }
    assert vs_brian["opponent"] == "brian"
    assert [e["player_name"] for e in vs_brian["entries"]] == ["Bea"]
    assert len(get_json(client, "/win_streaks?limit=1")["entries"]) == 1


@pytest.mark.parametrize(
    ("query", "named"),
    [("opponent=ace", "opponent"), ("opponent=Brian", "opponent"), ("limit=0", "limit")],
)
def test_win_streaks_reject_bad_parameters_with_422(
    client: TestClient, query: str, named: str
) -> None:
    assert detail(client, f"/win_streaks?{query}", 422).startswith(named)


# -- /games ----------------------------------------------------------------------------------------


def test_games_list_finished_games_newest_first_without_test_games(client: TestClient) -> None:
    first = start(client, player_name=XSS_NAME, policy="brian")
    answers = play_to_end(client, first["game_id"])
    play_to_end(client, start(client, player_name="Tess", mark_test_game=True)["game_id"])
    second = start(client, player_name="Bea", policy="logan")
    play_to_end(client, second["game_id"], "paper")
    start(client, player_name="Cy", policy="logan")  # open: its id is Cy's alone

    listed = get_json(client, "/games?player_name=&policy=&limit=20")["games"]

    assert [g["game_id"] for g in listed] == [second["game_id"], first["game_id"]]
    done = listed[1]
    assert set(done) == {
        "game_id", "player_name", "policy", "model_type", "bot_model_alias", "user_score",
        "bot_score", "winner", "rounds", "created_at", "finished_at", "finished_reason", "source",
    }  # fmt: skip
    assert done["player_name"] == XSS_NAME
    assert (done["policy"], done["model_type"]) == ("brian", "feedforward_nn")
    assert done["bot_model_alias"] == first["bot_model_alias"]
    assert (done["winner"], done["rounds"]) == (answers[-1]["winner"], len(answers))
    assert (done["user_score"], done["bot_score"]) == (
        answers[-1]["user_score"],
        answers[-1]["bot_score"],
    )
    assert (done["source"], done["finished_reason"]) == ("human", "completed")
    created = datetime.fromisoformat(done["created_at"])
    assert done["created_at"].endswith("Z")
    assert datetime.fromisoformat(done["finished_at"]) >= created


def test_games_list_filters_by_player_and_policy(client: TestClient, container: Container) -> None:
    store(
        container,
        stored_game("Ann", Winner.USER, policy="brian", created_at=T0),
        stored_game("Ann", Winner.BOT, policy="logan", created_at=T0 + timedelta(hours=1)),
        stored_game("Bea", Winner.BOT, policy="logan", created_at=T0 + timedelta(hours=2)),
    )

    def names_and_policies(query: str) -> list[tuple[str, str]]:
        games = get_json(client, f"/games?{query}")["games"]
        return [(g["player_name"], g["policy"]) for g in games]

    assert names_and_policies("player_name=Ann") == [("Ann", "logan"), ("Ann", "brian")]
    assert names_and_policies("policy=logan") == [("Bea", "logan"), ("Ann", "logan")]
    assert names_and_policies("player_name=Ann&policy=brian") == [("Ann", "brian")]
    assert names_and_policies("limit=1") == [("Bea", "logan")]


@pytest.mark.parametrize(
    ("query", "named"),
    [("policy=ace", "policy"), ("limit=0", "limit"), ("limit=201", "limit")],
)
def test_games_list_rejects_bad_parameters_with_422(
    client: TestClient, query: str, named: str
) -> None:
    assert detail(client, f"/games?{query}", 422).startswith(named)

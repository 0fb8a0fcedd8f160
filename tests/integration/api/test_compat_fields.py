"""The fields the original system's clients read, beside ours (SPEC §9 "Compatibility with the
original's clients"): each holds the same figure as ours under the original's name and shape."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rps.bootstrap import Container
from rps.domain.move import Winner
from tests.integration.api.test_analytics_api import (
    get_json,
    record_of,
    store,
    stored_game,
)
from tests.integration.api.test_gameplay_api import play, play_to_end, start

# -- /bot_win_rates → bot_rates ---------------------------------------------------------------


def test_bot_rates_are_each_policys_bot_wins_games_and_win_rate_in_percent(
    client: TestClient, container: Container, admin_headers: dict[str, str]
) -> None:
    store(
        container,
        *record_of("Ann", "WLL", policy="brian"),
        stored_game("Ann", Winner.TIE, policy="logan"),
        stored_game("Ann", None, policy="forrest"),  # unfinished: no games for forrest yet
    )
    persona = client.post(
        "/start_game",
        json={"player_name": "Ace", "policy": "forrest", "source": "persona"},
        headers=admin_headers,
    )
    play_to_end(client, persona.json()["game_id"])

    people = get_json(client, "/bot_win_rates")

    assert people["bot_rates"] == {
        "brian": {"bot_wins": 2, "human_games": 3, "bot_win_rate": pytest.approx(200 / 3)},
        "forrest": {"bot_wins": 0, "human_games": 0, "bot_win_rate": None},
        "logan": {"bot_wins": 0, "human_games": 1, "bot_win_rate": 0.0},
    }
    for body in (people, get_json(client, "/bot_win_rates?human_only=false")):
        for policy, ours in body["policies"].items():
            theirs = body["bot_rates"][policy]
            assert (theirs["bot_wins"], theirs["human_games"]) == (ours["bot_wins"], ours["games"])
            if ours["games"]:
                assert theirs["bot_win_rate"] == pytest.approx(100 * ours["bot_win_rate"])


# -- /win_streaks → players -------------------------------------------------------------------


def test_streak_players_name_each_entry_with_its_best_streak_and_latest_win(
    client: TestClient, container: Container
) -> None:
    store(container, *record_of("Ann", "WWLW"), *record_of("Bea", "LWWWL"), *record_of("Cy", "L"))

    streaks = get_json(client, "/win_streaks")
    finished = get_json(client, "/games")["games"]

    assert [(p["username"], p["streak"]) for p in streaks["players"]] == [
        (e["player_name"], e["best_streak"]) for e in streaks["entries"]
    ]
    assert [p["username"] for p in streaks["players"]] == ["Bea", "Ann"]
    for player in streaks["players"]:
        wins = [
            g["finished_at"]
            for g in finished
            if g["player_name"] == player["username"] and g["winner"] == "user"
        ]
        assert player["last_win_date"] == max(wins)


# -- /stats?session_id= → draws, rounds{wins, losses, draws} ----------------------------------


def test_session_stats_count_the_sessions_rounds_by_result_and_name_ties_draws(
    client: TestClient,
) -> None:
    first = start(client, player_name="Ann", policy="logan")
    session = first["session_id"]
    play_to_end(client, first["game_id"], "paper")
    second = start(client, player_name="Ann", policy="brian", session_id=session)
    for move in ("rock", "scissors", "rock", "paper"):
        assert play(client, second["game_id"], move).status_code == 200
    elsewhere = start(client, player_name="Bea", policy="brian")
    play_to_end(client, elsewhere["game_id"], "scissors")

    stats = get_json(client, f"/stats?session_id={session}")

    stored = [
        r["result"]
        for game in (first, second)
        for r in get_json(client, f"/games/{game['game_id']}")["rounds"]
    ]
    counts = Counter(stored)
    assert stats["rounds"] == {
        "wins": counts["win"],
        "losses": counts["lose"],
        "draws": counts["draw"],
    }
    assert sum(stats["rounds"].values()) == stats["rounds_played"] == len(stored)
    assert stats["draws"] == stats["ties"]
    assert (stats["games"], stats["active_games"]) == (1, 1)


# -- /play debug → move_values, model_type, probability_source, selected_move -----------------


def _compat_debug_holds_ours(answer: dict[str, Any], model_type: str | None) -> None:
    debug = answer["debug"]
    assert debug["move_values"] == debug["expected_values"]
    assert debug["model_type"] == model_type
    assert debug["probability_source"] == answer["model_info"]["probability_source"]
    assert debug["selected_move"] == answer["bot_move"]


@pytest.mark.parametrize(("policy", "model_type"), [("forrest", "xgboost"), ("cal", None)])
def test_play_debug_repeats_the_values_source_family_and_move_under_the_originals_names(
    client: TestClient, policy: str, model_type: str | None
) -> None:
    game = start(client, player_name="Ann", policy=policy)

    answers = play_to_end(client, game["game_id"], "paper")

    for answer in answers:
        _compat_debug_holds_ours(answer, model_type)
    sources = {a["debug"]["probability_source"] for a in answers}
    assert sources == {"opening", "fallback" if model_type else "persona"}
    if model_type:  # the layer's values from round 4 on: the field is not always null
        assert answers[3]["debug"]["move_values"] is not None


# -- GET /recent?game_id= ---------------------------------------------------------------------


def test_recent_lists_one_games_rounds_newest_first(client: TestClient) -> None:
    game = start(client, player_name="Ann", policy="brian")
    for move in ("rock", "paper", "scissors"):
        play(client, game["game_id"], move)
    other = start(client, player_name="Bea")
    play(client, other["game_id"], "rock")

    recent = get_json(client, f"/recent?game_id={game['game_id']}")

    state = get_json(client, f"/games/{game['game_id']}")
    assert recent == {
        "game_id": game["game_id"],
        "status": "active",
        "rounds": list(reversed(state["rounds"])),
    }
    assert [r["round"] for r in recent["rounds"]] == [3, 2, 1]
    assert [r["user_move"] for r in recent["rounds"]] == ["scissors", "paper", "rock"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 422),
        ("?game_id=", 422),
        ("?game_id=" + "g" * 65, 422),
        ("?game_id=a%00b", 422),
        ("?game_id=no-such-game", 404),
    ],
)
def test_recent_needs_a_known_game_id(client: TestClient, query: str, status: int) -> None:
    body = get_json(client, f"/recent{query}", status)

    assert set(body) == {"detail"}
    if status == 422:
        assert body["detail"].startswith("game_id")
    else:
        assert "no-such-game" in body["detail"]


def test_recent_is_declared_in_the_api_schema(client: TestClient) -> None:
    operation = get_json(client, "/openapi.json")["paths"]["/recent"]["get"]

    assert {"200", "404", "422"} <= set(operation["responses"])
    [param] = operation["parameters"]
    assert (param["name"], param["required"]) == ("game_id", True)
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/RecentRoundsResponse")

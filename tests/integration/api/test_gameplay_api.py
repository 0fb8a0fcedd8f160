"""The gameplay endpoints as a client sees them (in-process ASGI client, SQLite)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rps.domain.move import MOVES, Move, beater
from rps.domain.round_values import round_values


def start(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/start_game", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def play(client: TestClient, game_id: str, move: str, round_no: int | None = None) -> Any:
    body: dict[str, Any] = {"game_id": game_id, "user_move": move}
    if round_no is not None:
        body["round"] = round_no
    return client.post("/play", json=body)


def play_to_end(client: TestClient, game_id: str, move: str = "rock") -> list[dict[str, Any]]:
    answers = []
    for _ in range(25):
        response = play(client, game_id, move)
        assert response.status_code == 200, response.text
        answers.append(response.json())
        if answers[-1]["finished"]:
            return answers
    raise AssertionError("game did not finish within 25 rounds")


def test_start_game_returns_the_first_rounds_values_and_the_assigned_alias(client):
    game = start(client, player_name="  Ann  ", policy="forrest")
    assert game["player_name"] == "Ann"
    assert game["policy"] == game["bot_policy"] == "forrest"
    assert game["model_type"] == "xgboost"
    assert game["bot_model_alias"] in ("Production", "B")
    assert game["status"] == "active"
    assert game["target_score"] == 10.0
    assert game["round_points"] == round_values(game["game_id"], 1).as_points()


def test_a_whole_game_ends_with_a_winner_and_scores_equal_the_sum_of_deltas(client):
    game = start(client, player_name="Ann", policy="brian")
    answers = play_to_end(client, game["game_id"], "paper")
    last = answers[-1]
    assert last["winner"] in ("user", "bot", "tie")
    # Deltas are tenths shown as floats: compare their sum at one decimal.
    assert round(sum(a["user_delta"] for a in answers), 1) == last["user_score"]
    assert round(sum(a["bot_delta"] for a in answers), 1) == last["bot_score"]
    assert max(last["user_score"], last["bot_score"]) >= 10.0
    assert [a["round"] for a in answers] == list(range(1, len(answers) + 1))
    assert last["scores"]["ties"] == sum(a["result"] == "draw" for a in answers)
    assert last["next_round_points"] is None
    for a in answers[:-1]:
        assert a["next_round_points"] == round_values(game["game_id"], a["round"] + 1).as_points()


def test_rounds_one_to_three_are_openings_and_later_rounds_say_fallback(client):
    game = start(client, policy="logan")
    answers = play_to_end(client, game["game_id"], "scissors")
    sources = [a["model_info"]["probability_source"] for a in answers]
    assert sources[:3] == ["opening"] * 3
    assert set(sources[3:]) == {"fallback"}
    for a in answers[3:]:
        assert a["model_info"]["fallback_reason"] == "no_model"
        assert a["model_info"]["model_type"] == "multinomial_logistic"
        assert a["debug"]["probabilities"] is None
        assert len(a["debug"]["features"]) == a["debug"]["feature_count"] == 50
    assert answers[0]["ab_assignment"]["model_key"].startswith("multinomial_logistic@")


def test_without_models_the_layer_plays_and_says_so_and_learns_a_constant_player(client):
    game = start(client, policy="forrest")
    answers = play_to_end(client, game["game_id"], "rock")
    for answer in answers[3:]:
        info = answer["model_info"]
        assert info["probability_source"] == "fallback"
        assert info["fallback_reason"] in ("not_loaded", "no_model")
        belief = answer["debug"]["belief"]
        assert belief["model_weight"] is None
        assert set(belief["weights"]) >= {"uniform", "frequency", "value-tier"}
        # Without a model the blend is the in-game experts' mixture: it acts, or value-greedy.
        assert belief["acted"] in ("in-game", "greedy")
        acting = (
            dict.fromkeys(("rock", "paper", "scissors"), 1 / 3)
            if belief["acted"] == "greedy"
            else belief["probabilities"]
        )
        assert belief["acting_probabilities"] == pytest.approx(acting)
    # Rock every round: once the layer has seen enough, the bot answers with paper.
    assert answers[-1]["bot_move"] == "paper"
    assert answers[-1]["debug"]["belief"]["probabilities"]["rock"] > 0.5
    assert answers[-1]["debug"]["belief"]["acted"] == "in-game"
    assert client.get(f"/games/{game['game_id']}").json()["winner"] == "bot"


def test_fallback_persona_keeps_the_seeds_fallback(tmp_path):
    from rps.api.app import create_app
    from rps.bootstrap import build_container
    from rps.persistence.database import Database, migrate
    from rps.settings import load_settings
    from tests.conftest import ADMIN_TOKEN

    settings = load_settings(
        DATA_PATH=tmp_path / "data", RPS_ADMIN_TOKEN=ADMIN_TOKEN, FALLBACK="persona"
    )
    database = Database(settings.database_url)
    migrate(database)
    database.dispose()
    container = build_container(settings, rng=random.Random(7), opening_rng=random.Random(11))
    container.models.reload()
    try:
        with TestClient(create_app(container=container)) as persona_client:
            # forrest falls back to cal, who (not having lost 3 in a row) plays beater(best).
            game = start(persona_client, policy="forrest")
            for answer in play_to_end(persona_client, game["game_id"], "rock")[3:]:
                values = round_values(game["game_id"], answer["round"])
                assert answer["bot_move"] in (beater(values.best()).value, values.best().value)
                assert answer["model_info"]["probability_source"] == "fallback"
                assert answer["debug"]["belief"] is None
    finally:
        container.close()


def test_a_persona_chosen_as_opponent_is_reported_as_persona(client):
    game = start(client, policy="cal")
    assert game["model_type"] is None
    assert game["bot_model_alias"] is None
    answers = play_to_end(client, game["game_id"])
    assert {a["model_info"]["probability_source"] for a in answers[3:]} == {"persona"}
    assert answers[0]["ab_assignment"] is None


def test_finished_game_rejects_moves_with_409_and_changes_nothing(client):
    game = start(client)
    answers = play_to_end(client, game["game_id"])
    before = client.get(f"/games/{game['game_id']}").json()
    response = play(client, game["game_id"], "rock")
    assert response.status_code == 409
    assert "finished" in response.json()["detail"]
    assert client.get(f"/games/{game['game_id']}").json() == before
    assert len(before["rounds"]) == len(answers)


def test_retrying_a_round_with_the_same_move_returns_the_stored_answer(client):
    game = start(client)
    first = play(client, game["game_id"], "rock", 1).json()
    again = play(client, game["game_id"], "rock", 1)
    assert again.status_code == 200
    assert again.json() == first
    assert len(client.get(f"/games/{game['game_id']}").json()["rounds"]) == 1


def test_retrying_the_final_round_after_the_end_still_gets_its_answer(client):
    game = start(client)
    answers = play_to_end(client, game["game_id"], "scissors")
    last = answers[-1]
    again = play(client, game["game_id"], "scissors", last["round"])
    assert again.status_code == 200
    assert again.json()["winner"] == last["winner"]
    assert again.json()["bot_move"] == last["bot_move"]


def test_replaying_a_round_with_another_move_is_a_409(client):
    game = start(client)
    play(client, game["game_id"], "rock", 1)
    response = play(client, game["game_id"], "paper", 1)
    assert response.status_code == 409
    assert "already played with rock" in response.json()["detail"]


def test_a_round_that_is_not_the_next_one_is_a_409(client):
    game = start(client)
    response = play(client, game["game_id"], "rock", 3)
    assert response.status_code == 409
    assert "next is 1" in response.json()["detail"]
    assert client.get(f"/games/{game['game_id']}").json()["rounds"] == []


def test_unknown_game_is_a_404_naming_the_id(client):
    response = play(client, "no-such-game", "rock")
    assert response.status_code == 404
    assert "no-such-game" in response.json()["detail"]
    assert client.get("/games/no-such-game").status_code == 404
    assert client.get("/round_points", params={"game_id": "no-such-game"}).status_code == 404


def test_an_invalid_move_is_a_422_naming_the_field(client):
    game = start(client)
    response = play(client, game["game_id"], "lizard")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("user_move:")
    assert client.get(f"/games/{game['game_id']}").json()["rounds"] == []


def test_unknown_policy_and_difficulty_are_422_naming_the_field(client):
    response = client.post("/start_game", json={"policy": "skynet"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("policy:")
    response = client.post("/start_game", json={"difficulty_mode": "nightmare"})
    assert response.status_code == 422
    assert "difficulty_mode" in response.json()["detail"]


def test_easy_difficulty_is_accepted_and_treated_as_normal(client):
    assert start(client, difficulty_mode="easy")["difficulty_mode"] == "normal"


def test_player_names_are_trimmed_cut_to_32_characters_and_defaulted(client):
    assert start(client, player_name="x" * 32)["player_name"] == "x" * 32
    # Longer names are cut, not refused (the original's clients send whatever was typed); a
    # cut that ends in a space does not keep it.
    long = start(client, player_name="  " + "y" * 40)
    assert long["player_name"] == "y" * 32
    assert client.get(f"/games/{long['game_id']}").json()["player_name"] == "y" * 32
    assert start(client, player_name="z" * 31 + " tail")["player_name"] == "z" * 31
    control = client.post("/start_game", json={"player_name": "bad\x07name"})
    assert control.status_code == 422
    assert "control" in control.json()["detail"]
    default = start(client, player_name="player", session_id="s-1")
    assert default["player_name"].startswith("Player-")
    assert start(client, player_name="", session_id="s-1")["player_name"] == default["player_name"]


def test_test_game_flag_accepts_every_alias(client):
    for key in ("mark_test_game", "is_test_game", "is_test_data", "is_test"):
        game = start(client, **{key: True})
        assert client.get(f"/games/{game['game_id']}").json()["is_test"] is True
    game = start(client)
    assert client.get(f"/games/{game['game_id']}").json()["is_test"] is False


def test_non_human_source_needs_the_admin_token(client, admin_headers):
    response = client.post("/start_game", json={"source": "persona"})
    assert response.status_code == 401
    response = client.post(
        "/start_game", json={"source": "persona"}, headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
    response = client.post("/start_game", json={"source": "simulated"}, headers=admin_headers)
    assert response.status_code == 200
    game_id = response.json()["game_id"]
    assert client.get(f"/games/{game_id}").json()["source"] == "simulated"


def test_opening_is_revealed_only_after_round_three(client):
    game = start(client)
    for _ in range(2):
        play(client, game["game_id"], "rock")
        assert client.get(f"/games/{game['game_id']}").json()["opening_name"] is None
    play(client, game["game_id"], "rock")
    assert client.get(f"/games/{game['game_id']}").json()["opening_name"] is not None


def test_opening_moves_follow_the_stored_openings_value_ranks(client, container):
    game = start(client)
    answers = [play(client, game["game_id"], "rock").json() for _ in range(3)]
    stored = container.games.load(game["game_id"])
    assert stored is not None
    assert tuple(Move(a["bot_move"]) for a in answers) == stored[0].opening_seq


def test_round_points_names_the_next_round(client):
    game = start(client)
    play(client, game["game_id"], "rock")
    data = client.get("/round_points", params={"game_id": game["game_id"]}).json()
    assert data["round_no"] == 2
    assert data["round_points"] == round_values(game["game_id"], 2).as_points()


def test_game_state_lists_rounds_with_values_and_sources(client):
    game = start(client, player_name="Bea", policy="brian")
    play(client, game["game_id"], "rock")
    state = client.get(f"/games/{game['game_id']}").json()
    assert state["player_name"] == "Bea"
    assert state["status"] == "active"
    assert state["rounds"][0]["probability_source"] == "opening"
    assert state["created_at"].endswith("Z")


def test_policies_and_rand(client):
    assert client.get("/policies").json() == ["brian", "forrest", "logan"]
    seen = {client.get("/rand").json()["move"] for _ in range(60)}
    assert seen == {m.value for m in MOVES}

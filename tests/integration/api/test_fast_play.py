"""The /play fast path answers exactly as the /play route does, and hands over what it does not
handle (other content types, bodies that do not validate) to the route unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from rps.api.app import create_app
from rps.api.schemas import PlayResponse

BAD_REQUESTS: list[tuple[str, Any, dict[str, str]]] = [
    ("unknown game", {"game_id": "no-such-game", "user_move": "rock"}, {}),
    ("bad move", {"game_id": "x", "user_move": "lizard"}, {}),
    ("missing move", {"game_id": "x"}, {}),
    ("round zero", {"game_id": "x", "user_move": "rock", "round": 0}, {}),
    ("extra types", {"game_id": 7, "user_move": ["rock"]}, {}),
    ("malformed json", b'{"game_id": "x", ', {"content-type": "application/json"}),
    ("not json", b"game_id=x&user_move=rock", {"content-type": "text/plain"}),
    ("array body", [1, 2, 3], {}),
]


@pytest.fixture
def route_client(container):
    with TestClient(create_app(container=container, fast_play=False)) as client:
        yield client


def _send(client: TestClient, body: Any, headers: dict[str, str]):
    if isinstance(body, bytes):
        return client.post("/play", content=body, headers=headers)
    return client.post("/play", json=body, headers=headers)


@pytest.mark.parametrize(
    ("case", "body", "headers"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_errors_are_identical_with_and_without_the_fast_path(
    client, route_client, case, body, headers
):
    fast = _send(client, body, headers)
    slow = _send(route_client, body, headers)
    assert fast.status_code == slow.status_code
    assert fast.status_code >= 400
    assert fast.json() == slow.json()


def test_game_errors_from_the_service_match_the_route(client, route_client):
    game = client.post("/start_game", json={"policy": "logan"}).json()
    for _ in range(25):
        answer = client.post("/play", json={"game_id": game["game_id"], "user_move": "paper"})
        if answer.json()["finished"]:
            break
    body = {"game_id": game["game_id"], "user_move": "rock"}
    fast, slow = client.post("/play", json=body), route_client.post("/play", json=body)
    assert fast.status_code == slow.status_code == 409
    assert fast.json() == slow.json()
    # A replay of a stored round with another move: the same 409 text from both paths.
    replay = {"game_id": game["game_id"], "user_move": "rock", "round": 1}
    first = client.post("/play", json=replay)
    second = route_client.post("/play", json=replay)
    assert first.status_code == second.status_code
    assert first.json() == second.json()


def test_fast_path_answers_match_the_documented_response(client, route_client):
    game = client.post("/start_game", json={"policy": "brian"}).json()
    fast = client.post("/play", json={"game_id": game["game_id"], "user_move": "rock"})
    # The next round through the route: both answers have the same fields and types.
    slow = route_client.post("/play", json={"game_id": game["game_id"], "user_move": "paper"})
    assert fast.status_code == slow.status_code == 200
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    PlayResponse.model_validate(fast.json())
    PlayResponse.model_validate(slow.json())
    assert fast.json().keys() == slow.json().keys()
    assert [fast.json()["round"], slow.json()["round"]] == [1, 2]
    # The debug block too, with the fields the original's clients read (SPEC §9).
    assert fast.json()["debug"].keys() == slow.json()["debug"].keys()
    for answer in (fast.json(), slow.json()):
        debug = answer["debug"]
        assert debug["move_values"] == debug["expected_values"]
        assert debug["model_type"] == game["model_type"] == "feedforward_nn"
        assert debug["probability_source"] == answer["model_info"]["probability_source"]
        assert debug["selected_move"] == answer["bot_move"]


def test_a_retried_round_gets_the_same_answer_from_the_fast_path_and_the_route(
    client, route_client
):
    game = client.post("/start_game", json={"policy": "forrest"}).json()
    answers = [
        client.post("/play", json={"game_id": game["game_id"], "user_move": m, "round": n})
        for n, m in enumerate(["rock", "paper", "rock", "scissors"], start=1)
    ]
    # Round 4 is the layer's (values, a source other than the opening): replay it both ways.
    retry = {"game_id": game["game_id"], "user_move": "scissors", "round": 4}
    fast, slow = client.post("/play", json=retry), route_client.post("/play", json=retry)

    assert fast.status_code == slow.status_code == 200
    assert fast.json()["debug"]["move_values"] is not None
    for key in ("move_values", "model_type", "probability_source", "selected_move"):
        assert (
            fast.json()["debug"][key]
            == slow.json()["debug"][key]
            == answers[3].json()["debug"][key]
        )

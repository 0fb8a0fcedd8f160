"""Concurrent /play requests against a real `rps serve --workers 2` (SPEC §9: retries with
``round``, 409s, "concurrent moves on one game never create two rounds with one number").

One server per backend for the whole module: SQLite in a temp DATA_PATH, and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.aio import run_coroutine
from tests.support.limits import LOAD_SETTINGS
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess

ADMIN_TOKEN = "concurrent-play-admin-token"
REQUESTS = 50
MOVES = ("rock", "paper", "scissors")

_db_numbers = itertools.count(1)


@dataclass
class Backend:
    name: str
    url: str  # the server's base URL
    database_url: str

    def rounds_in_db(self, game_id: str) -> list[dict[str, Any]]:
        """The game's rounds straight from the database, in step order."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT step_no, user_move, bot_move, user_delta, bot_delta, "
                        "user_score, bot_score FROM rounds WHERE game_id = :g ORDER BY step_no"
                    ),
                    {"g": game_id},
                ).mappings()
                return [dict(r) for r in rows]
        finally:
            engine.dispose()

    def game_in_db(self, game_id: str) -> dict[str, Any]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT user_score, bot_score, winner, rounds_played "
                        "FROM games WHERE id = :g"
                    ),
                    {"g": game_id},
                ).mappings()
                return dict(row.one())
        finally:
            engine.dispose()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    data_path = tmp_path_factory.mktemp(f"concurrent-{request.param}")
    env = {
        "DATA_PATH": str(data_path),
        "RPS_ADMIN_TOKEN": ADMIN_TOKEN,
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(data_path / "metrics"),
        **LOAD_SETTINGS,  # hundreds of concurrent requests from one address
    }
    (data_path / "metrics").mkdir()
    if request.param == "sqlite":
        database_url = f"sqlite:///{data_path.resolve() / 'rps.db'}"
        env["DATABASE_URL"] = ""
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres_server")
        database_url = postgres.create_database(f"concurrent_play_{next(_db_numbers)}")
        env["DATABASE_URL"] = database_url
    server = ServerProcess(env, workers=2, log_path=data_path / "server.log")
    server.start()
    try:
        yield Backend(request.param, server.url, database_url)
    finally:
        server.stop()


def _client(backend: Backend) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    return httpx.AsyncClient(base_url=backend.url, limits=limits, timeout=30)


async def _start(client: httpx.AsyncClient, policy: str = "brian") -> str:
    response = await client.post(
        "/start_game", json={"player_name": "Racer", "policy": policy, "mark_test_game": True}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["game_id"])


async def _burst(client: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Send every body at once (each on its own connection) and wait for all answers."""
    return await asyncio.gather(*(client.post("/play", json=b) for b in bodies))


def _assert_scores_are_the_sum_of_deltas(state: dict[str, Any]) -> None:
    rounds = state["rounds"]
    user = bot = 0
    for r in rounds:
        user += round(r["user_delta"] * 10)
        bot += round(r["bot_delta"] * 10)
        assert round(r["user_score"] * 10) == user, r
        assert round(r["bot_score"] * 10) == bot, r
    assert round(state["user_score"] * 10) == user
    assert round(state["bot_score"] * 10) == bot


def _answer_core(body: dict[str, Any]) -> dict[str, Any]:
    """The part of a /play answer that must be identical for every retry of one round."""
    keys = ("round", "user_move", "bot_move", "result", "user_delta", "bot_delta")
    return {
        **{k: body[k] for k in keys},
        "scores": body["scores"],
        "winner": body["winner"],
        "finished": body["finished"],
        "round_points": body["round_points"],
    }


_BurstThenEnd = tuple[str, list[httpx.Response], dict[str, Any], httpx.Response, httpx.Response]


def _assert_only_200_or_409(responses: list[httpx.Response]) -> None:
    unexpected = [r.text for r in responses if r.status_code not in (200, 409)]
    assert not unexpected, (Counter(r.status_code for r in responses), unexpected[:3])
    for r in responses:
        if r.status_code == 409:
            assert r.json()["detail"]


def test_fifty_retries_of_one_round_with_one_move_store_it_once_and_agree(
    backend: Backend,
) -> None:
    # Round 4 is the first round the bot decides itself (here on its fallback persona, as no
    # model is trained), so the answer carries features that a replay must rebuild exactly.
    round_no = 4

    async def scenario() -> tuple[str, list[httpx.Response], dict[str, Any]]:
        async with _client(backend) as client:
            game_id = await _start(client)
            for n in range(1, round_no):
                opening = await client.post(
                    "/play", json={"game_id": game_id, "user_move": "paper", "round": n}
                )
                assert opening.status_code == 200, opening.text
            body = {"game_id": game_id, "user_move": "rock", "round": round_no}
            responses = await _burst(client, [body] * REQUESTS)
            state = (await client.get(f"/games/{game_id}")).json()
            return game_id, responses, state

    game_id, responses, state = run_coroutine(scenario())

    _assert_only_200_or_409(responses)
    answers = [r.json() for r in responses if r.status_code == 200]
    assert answers, "no request got an answer"
    assert answers[0]["model_info"]["probability_source"] == "fallback"
    assert answers[0]["debug"]["features"] is not None
    assert len({repr(_answer_core(a)) for a in answers}) == 1, "retries got different answers"
    # Not just the round: the whole answer, debug features and message included, is the same.
    assert all(a == answers[0] for a in answers), "retries got different answers"
    assert [r["round"] for r in state["rounds"]] == [1, 2, 3, round_no]
    stored = state["rounds"][-1]
    assert answers[0]["bot_move"] == stored["bot_move"]
    assert answers[0]["user_move"] == stored["user_move"] == "rock"
    assert answers[0]["user_score"] == stored["user_score"] == state["user_score"]
    assert answers[0]["bot_score"] == stored["bot_score"] == state["bot_score"]
    _assert_scores_are_the_sum_of_deltas(state)
    in_db = backend.rounds_in_db(game_id)
    assert [r["step_no"] for r in in_db] == [1, 2, 3, round_no]
    assert in_db[-1]["bot_move"] == stored["bot_move"]
    assert backend.game_in_db(game_id)["rounds_played"] == round_no


def test_fifty_racing_moves_for_one_round_store_one_and_refuse_the_others_with_409(
    backend: Backend,
) -> None:
    async def scenario() -> tuple[str, list[httpx.Response], dict[str, Any]]:
        async with _client(backend) as client:
            game_id = await _start(client)
            bodies = [
                {"game_id": game_id, "user_move": MOVES[i % 3], "round": 1} for i in range(REQUESTS)
            ]
            responses = await _burst(client, bodies)
            state = (await client.get(f"/games/{game_id}")).json()
            return game_id, responses, state

    game_id, responses, state = run_coroutine(scenario())

    _assert_only_200_or_409(responses)
    assert [r["round"] for r in state["rounds"]] == [1]
    stored = state["rounds"][0]
    answers = [r.json() for r in responses if r.status_code == 200]
    assert answers
    assert {a["user_move"] for a in answers} == {stored["user_move"]}
    assert {a["bot_move"] for a in answers} == {stored["bot_move"]}
    assert len({repr(_answer_core(a)) for a in answers}) == 1
    # Every request with another move was refused.
    for body, response in zip([MOVES[i % 3] for i in range(REQUESTS)], responses, strict=True):
        if body != stored["user_move"]:
            assert response.status_code == 409, response.text
    _assert_scores_are_the_sum_of_deltas(state)
    assert [r["step_no"] for r in backend.rounds_in_db(game_id)] == [1]


def test_fifty_concurrent_moves_without_round_numbers_each_get_their_own_round(
    backend: Backend,
) -> None:
    async def scenario() -> _BurstThenEnd:
        async with _client(backend) as client:
            game_id = await _start(client)
            bodies = [{"game_id": game_id, "user_move": MOVES[i % 3]} for i in range(REQUESTS)]
            responses = await _burst(client, bodies)
            # Play the game to its end one move at a time, then once more.
            for _ in range(25):
                state = (await client.get(f"/games/{game_id}")).json()
                if state["status"] == "finished":
                    break
                follow = await client.post("/play", json={"game_id": game_id, "user_move": "rock"})
                assert follow.status_code == 200, follow.text
            state = (await client.get(f"/games/{game_id}")).json()
            after_end = await client.post("/play", json={"game_id": game_id, "user_move": "paper"})
            last = state["rounds"][-1]
            retry_last = await client.post(
                "/play",
                json={"game_id": game_id, "user_move": last["user_move"], "round": last["round"]},
            )
            return game_id, responses, state, after_end, retry_last

    game_id, responses, state, after_end, retry_last = run_coroutine(scenario())

    _assert_only_200_or_409(responses)
    answers = [r.json() for r in responses if r.status_code == 200]
    numbers = [a["round"] for a in answers]
    assert len(numbers) == len(set(numbers)), f"two answers for one round: {sorted(numbers)}"
    assert answers, "no request got an answer"
    stored = state["rounds"]
    assert [r["round"] for r in stored] == list(range(1, len(stored) + 1))
    # Every 200 answer is a stored round, exactly as stored.
    by_round = {r["round"]: r for r in stored}
    for a in answers:
        r = by_round[a["round"]]
        assert (a["user_move"], a["bot_move"]) == (r["user_move"], r["bot_move"])
        assert (a["user_score"], a["bot_score"]) == (r["user_score"], r["bot_score"])
    # The burst alone stored exactly as many rounds as it answered with 200.
    assert set(numbers) == set(range(1, len(numbers) + 1))
    _assert_scores_are_the_sum_of_deltas(state)
    assert state["status"] == "finished"
    assert after_end.status_code == 409, after_end.text
    # A retry of the final round with its move still gets the stored answer.
    assert retry_last.status_code == 200, retry_last.text
    final = retry_last.json()
    assert final["finished"] is True
    assert final["winner"] == state["winner"]
    assert (final["round"], final["bot_move"]) == (stored[-1]["round"], stored[-1]["bot_move"])
    in_db = backend.rounds_in_db(game_id)
    assert [r["step_no"] for r in in_db] == list(range(1, len(stored) + 1))
    game_row = backend.game_in_db(game_id)
    assert game_row["rounds_played"] == len(stored)
    assert round(game_row["user_score"] * 10) == sum(round(r["user_delta"] * 10) for r in in_db)
    assert round(game_row["bot_score"] * 10) == sum(round(r["bot_delta"] * 10) for r in in_db)


def test_games_played_in_parallel_to_the_end_lose_no_round(backend: Backend) -> None:
    games = 8
    players_per_game = 3

    async def player(
        client: httpx.AsyncClient, game_id: str, seat: int, answered: list[dict[str, Any]]
    ) -> None:
        for step in itertools.count():
            assert step < 200, "game did not finish"
            move = MOVES[(seat + step) % 3]
            response = await client.post("/play", json={"game_id": game_id, "user_move": move})
            if response.status_code == 200:
                body = response.json()
                answered.append(body)
                if body["finished"]:
                    return
                continue
            assert response.status_code == 409, response.text
            state = (await client.get(f"/games/{game_id}")).json()
            if state["status"] == "finished":
                return

    async def scenario() -> list[tuple[str, list[dict[str, Any]], dict[str, Any]]]:
        async with _client(backend) as client:
            ids = await asyncio.gather(
                *(_start(client, ("brian", "forrest", "logan", "hal")[i % 4]) for i in range(games))
            )
            answered: dict[str, list[dict[str, Any]]] = {g: [] for g in ids}
            await asyncio.gather(
                *(
                    player(client, g, seat, answered[g])
                    for g in ids
                    for seat in range(players_per_game)
                )
            )
            states = [(await client.get(f"/games/{g}")).json() for g in ids]
            return [(g, answered[g], s) for g, s in zip(ids, states, strict=True)]

    results = run_coroutine(scenario())

    for game_id, answered, state in results:
        assert state["status"] == "finished"
        numbers = sorted(a["round"] for a in answered)
        stored = state["rounds"]
        assert numbers == [r["round"] for r in stored] == list(range(1, len(stored) + 1))
        for a in answered:
            r = stored[a["round"] - 1]
            assert (a["user_move"], a["bot_move"], a["result"]) == (
                r["user_move"],
                r["bot_move"],
                r["result"],
            )
        assert sum(a["finished"] for a in answered) == 1
        _assert_scores_are_the_sum_of_deltas(state)
        assert len(backend.rounds_in_db(game_id)) == len(answered)
        assert backend.game_in_db(game_id)["winner"] == state["winner"] is not None

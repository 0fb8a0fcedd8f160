"""The decision layer in live play (SPEC §4, §6.2): each round's stored belief, the layer's state
rebuilt from the database when a process does not hold it, and the shadows scored through the
layer with their own probabilities."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rps.api.app import create_app
from rps.bootstrap import Container, build_container
from rps.domain.decision import ACTED_BLEND, Belief, GameBelief
from rps.domain.move import MOVES, Move
from rps.domain.policy import Alias, Family, ev_terms
from rps.domain.scoring import score_round
from rps.features.names import FEATURE_VERSION
from rps.persistence.database import Database, migrate
from rps.services.gameplay import StartGame
from rps.serving.model_manager import FetchedModel
from rps.settings import load_settings
from tests.support.onnx_models import DictSource, constant_model

GAME_ID = "5d0b8a4e-6c1f-4f7e-9a3b-2c8d7e6f5a41"
# Each alias its own constant model and calibrated validation log-loss (hence prior weight):
# aliases are told apart only if the layer really keeps one weight per alias.
ANSWERS: dict[Alias, tuple[tuple[float, float, float], float | None]] = {
    Alias.PRODUCTION: ((0.7, 0.2, 0.1), 0.8),
    Alias.B: ((0.1, 0.8, 0.1), 0.6),
    Alias.SHADOW1: ((0.1, 0.1, 0.8), 0.9),
    Alias.SHADOW2: ((0.4, 0.3, 0.3), None),
}
VERSIONS = {Alias.PRODUCTION: "21", Alias.B: "22", Alias.SHADOW1: "23", Alias.SHADOW2: "24"}


def _fetched(alias: Alias) -> FetchedModel:
    probabilities, val_log_loss = ANSWERS[alias]
    payload = constant_model(probabilities)
    metadata: dict[str, Any] = {"feature_version": FEATURE_VERSION}
    if val_log_loss is not None:
        metadata["val_log_loss"] = val_log_loss
    version = VERSIONS[alias]
    return FetchedModel(
        payload, version, f"run-{version}", hashlib.sha256(payload).hexdigest(), metadata
    )


MODELS = {(family, alias): _fetched(alias) for family in Family for alias in Alias}


def user_moves(n: int) -> list[Move]:
    """Rock most of the time (the Production model is right about it), some noise."""
    rng = random.Random(12)
    return [Move.ROCK if rng.random() < 0.7 else MOVES[rng.randrange(3)] for _ in range(n)]


@dataclass
class Worker:
    """One app process: its container and HTTP client."""

    container: Container
    client: TestClient

    def play(self, round_no: int, move: Move) -> dict[str, Any]:
        response = self.client.post(
            "/play", json={"game_id": GAME_ID, "user_move": move.value, "round": round_no}
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Any]:
    """``workers(name)`` → a worker on the database under ``tmp_path/name`` (two workers of the
    same name share it); every worker's openings come from the same seed."""
    started: list[tuple[Container, TestClient]] = []

    def start(name: str) -> Worker:
        settings = load_settings(DATA_PATH=tmp_path / name, ENABLE_AB_TESTING=False)
        db = Database(settings.database_url)
        migrate(db)
        db.dispose()
        container = build_container(
            settings,
            rng=random.Random(3),
            opening_rng=random.Random(4),
            model_sources=[DictSource("cache", MODELS)],
        )
        container.models.reload()
        client = TestClient(create_app(container=container))
        client.__enter__()
        started.append((container, client))
        return Worker(container, client)

    yield start
    for container, client in started:
        client.__exit__(None, None, None)
        container.close()


def add_game(worker: Worker) -> None:
    """The game ``GAME_ID`` (forrest, Production) stored as /start_game would store it."""
    gameplay = worker.container.gameplay
    worker.container.games.add_game(
        gameplay.new_game_record(StartGame(policy="forrest"), game_id=GAME_ID)
    )


def stored_rounds(worker: Worker) -> list[sa.Row[Any]]:
    with worker.container.database.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT step_no, user_move, bot_move, decision_source, belief FROM rounds "
                    "WHERE game_id = :g ORDER BY step_no"
                ),
                {"g": GAME_ID},
            )
        )


def play_out(workers_by_round: Any, moves: list[Move]) -> int:
    """Play ``GAME_ID`` to its end, round n by ``workers_by_round(n)``; returns the rounds."""
    for n, move in enumerate(moves, start=1):
        if workers_by_round(n).play(n, move)["finished"]:
            return n
    raise AssertionError("the game did not finish")


def test_a_game_served_by_two_processes_keeps_exactly_the_belief_of_one_uninterrupted(workers):
    twin = workers("twin")
    first, second = workers("shared"), workers("shared")
    for worker in (twin, first):
        add_game(worker)
    moves = user_moves(20)
    rounds = play_out(lambda n: twin, moves)
    # From round 5 on the two processes take turns: each round's process holds a state one
    # round behind (or none) and rebuilds it from the stored rounds and alias probabilities.
    assert play_out(lambda n: first if n < 5 or n % 2 else second, moves) == rounds

    alone, shared = stored_rounds(twin), stored_rounds(first)
    assert [r.bot_move for r in shared] == [r.bot_move for r in alone]
    assert [r.belief for r in shared] == [r.belief for r in alone]
    model_rounds = [r for r in shared if r.decision_source == "model"]
    assert len(model_rounds) == rounds - 3
    beliefs = [Belief.from_json(r.belief) for r in model_rounds]
    # What carried across the switches is real state: the model's weight moved every round and
    # its blend earned the right to act.
    assert len({b.model_weight for b in beliefs}) == len(beliefs)
    assert any(b.acted == ACTED_BLEND for b in beliefs)


def test_stored_beliefs_are_null_for_openings_and_name_what_acted_in_model_rounds(workers):
    worker = workers("one")
    add_game(worker)
    play_out(lambda n: worker, user_moves(20))
    rows = stored_rounds(worker)
    digest = worker.container.gameplay.scoring_version
    for row in rows:
        if row.step_no <= 3:
            assert row.decision_source == "opening"
            assert row.belief is None
            continue
        data = json.loads(row.belief)
        assert data["acted"] in ("blend", "in-game", "greedy")
        assert data["params"] == digest
        assert sum(data["p"]) == pytest.approx(1.0)
        assert {"model", "uniform", "frequency"} <= set(data["w"])
        assert sum(data["w"].values()) == pytest.approx(1.0, abs=1e-4)


def test_rows_stored_before_the_layer_are_read_replayed_and_played_on(workers):
    twin = workers("twin")
    first, second = workers("old"), workers("old")
    for worker in (twin, first):
        add_game(worker)
    moves = user_moves(20)
    rounds = play_out(lambda n: twin, moves)
    for n in range(1, 7):
        first.play(n, moves[n - 1])
    # What rows of a database from before the decision layer look like.
    with first.container.database.engine.begin() as conn:
        conn.execute(sa.text("UPDATE rounds SET belief = NULL WHERE game_id = :g"), {"g": GAME_ID})
        conn.execute(
            sa.text(
                "UPDATE alias_predictions SET counterfactual_margin = NULL, "
                "scoring_version = NULL WHERE game_id = :g"
            ),
            {"g": GAME_ID},
        )

    retried = second.play(5, moves[4])  # a retried request answers from the stored round
    assert retried["model_info"]["probability_source"] == "model"
    assert retried["debug"]["belief"] is None
    state = second.client.get(f"/games/{GAME_ID}")
    assert state.status_code == 200
    assert len(state.json()["rounds"]) == 6
    # The layer's state is rebuilt from the rounds and alias probabilities, not from the
    # beliefs: the game goes on exactly as it would have.
    assert play_out(lambda n: second, moves) == rounds  # rounds 1-6 answered as retries
    alone, old = stored_rounds(twin), stored_rounds(first)
    assert [r.bot_move for r in old] == [r.bot_move for r in alone]
    assert [r.belief for r in old[6:]] == [r.belief for r in alone[6:]]


def test_memory_dropped_mid_game_is_rebuilt_to_the_state_a_replay_gives(workers):
    worker = workers("one")
    add_game(worker)
    moves = user_moves(20)
    for n in range(1, 9):
        worker.play(n, moves[n - 1])
    gameplay = worker.container.gameplay
    gameplay._memories.clear()  # a restart of this process
    worker.container.games.forget(GAME_ID)
    worker.play(9, moves[8])
    loaded = worker.container.games.load(GAME_ID)
    assert loaded is not None
    _, stored = loaded
    by_round = worker.container.games.alias_probabilities(GAME_ID)
    params = gameplay.decision.params
    priors = {a.value: params.model_prior(ANSWERS[a][1]) for a in Alias}
    state = GameBelief.replay(
        [r.played for r in stored[:8]],
        params,
        prior_of=priors.__getitem__,
        model_probabilities=[by_round.get(n) for n in range(1, 9)],
    )
    played = stored[8].played
    state.prepare(played.values)
    for alias in Alias:
        state.register_alias(alias.value, priors[alias.value])
    terms = ev_terms(played.values, stored[7].played.bot_score, stored[7].played.user_score)
    served = by_round[9][Alias.PRODUCTION.value]  # the graph's float32 answer, as stored
    expected = state.choose(terms, Alias.PRODUCTION.value, served)
    assert stored[8].belief == expected.belief.to_json()
    assert played.bot_move is expected.move


def test_every_alias_is_scored_by_the_move_its_own_layer_would_have_played(workers):
    worker = workers("one")
    add_game(worker)
    play_out(lambda n: worker, user_moves(20))
    container = worker.container
    loaded = container.games.load(GAME_ID)
    assert loaded is not None
    _, stored = loaded
    with container.database.engine.connect() as conn:
        rows = list(
            conn.execute(
                sa.text(
                    "SELECT step_no, alias, model_version, probabilities, counterfactual_result, "
                    "counterfactual_margin, scoring_version FROM alias_predictions "
                    "WHERE game_id = :g ORDER BY step_no, alias"
                ),
                {"g": GAME_ID},
            )
        )
    model_rounds = [r.played.round_no for r in stored if r.decision_source == "model"]
    assert sorted({r.step_no for r in rows}) == model_rounds
    params = container.gameplay.decision.params
    assert {r.scoring_version for r in rows} == {params.digest()}
    priors = {a.value: params.model_prior(ANSWERS[a][1]) for a in Alias}
    by_round = container.games.alias_probabilities(GAME_ID)
    state = GameBelief(params)
    differs_from_served = 0
    for record in stored:
        played = record.played
        n = played.round_no
        if n in model_rounds:
            mine = [r for r in rows if r.step_no == n]
            assert sorted(r.alias for r in mine) == sorted(a.value for a in Alias)
            state.prepare(played.values)
            for alias in Alias:
                state.register_alias(alias.value, priors[alias.value])
            before = stored[n - 2].played
            terms = ev_terms(played.values, before.bot_score, before.user_score)
            for row in mine:
                alias = Alias(row.alias)
                assert row.model_version == VERSIONS[alias]
                assert tuple(json.loads(row.probabilities)) == pytest.approx(ANSWERS[alias][0])
                move = state.choose(terms, alias.value, by_round[n][alias.value]).move
                would = score_round(played.user_move, move, played.values)
                assert row.counterfactual_result == would.outcome.flipped().value
                assert row.counterfactual_margin == (would.bot_delta - would.user_delta) / 10
                if alias is Alias.PRODUCTION:
                    assert move is played.bot_move
                differs_from_served += move is not played.bot_move
        state.push(played, by_round.get(n))
    # The shadows' own layers did not all play the served move: they are scored as themselves.
    assert differs_from_served > 0

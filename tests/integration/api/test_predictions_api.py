"""The stateless prediction endpoints (SPEC §9): model answers, the EV move, batches, the admin
gate, fallbacks, and a schemathesis run over the three operations."""

from __future__ import annotations

import hashlib
import logging
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from rps.api.app import create_app
from rps.api.prediction_schemas import (
    PredictBatchResponse,
    PredictResponse,
    PredictWithPolicyResponse,
)
from rps.api.routers import predictions
from rps.bootstrap import Container, build_container
from rps.domain.game import Game
from rps.domain.move import MOVES, Move
from rps.domain.policy import Alias, Family, choose_ev_move, expected_values
from rps.domain.round_values import RoundValues
from rps.features.names import FEATURE_COUNT, FEATURE_VERSION
from rps.features.stateless import stateless_features
from rps.persistence.database import Database, migrate
from rps.serving.model_manager import FetchedModel
from rps.settings import Settings, load_settings
from tests.conftest import ADMIN_TOKEN
from tests.support.fuzz_cases import consistent_case
from tests.support.onnx_models import DictSource, constant_model

RUN_ID = "0123456789abcdef0123456789abcdef"
PRODUCTION = (0.6, 0.3, 0.1)
VARIANT_B = (0.1, 0.3, 0.6)
CERTAIN_ROCK = (0.98, 0.01, 0.01)
ROCK_OR_PAPER = (0.5, 0.4, 0.1)
LINEAR_WEIGHTS = np.random.default_rng(5).normal(0.0, 0.4, size=(FEATURE_COUNT, 3))
LINEAR_BIAS = np.array([0.2, -0.1, 0.05])


def linear_model(weights: np.ndarray, bias: np.ndarray) -> bytes:
    """features[N,50] → softmax(features·W + b): an answer that depends on every feature."""
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["features", "W", "B"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "linear",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", FEATURE_COUNT])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        [
            helper.make_tensor("W", TensorProto.FLOAT, [FEATURE_COUNT, 3], weights.ravel()),
            helper.make_tensor("B", TensorProto.FLOAT, [3], bias),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx: bytes = model.SerializeToString()
    return onnx


def served(onnx: bytes, version: str, run_id: str = RUN_ID) -> FetchedModel:
    return FetchedModel(
        onnx,
        version,
        run_id,
        hashlib.sha256(onnx).hexdigest(),
        {"feature_version": FEATURE_VERSION},
    )


def model_source() -> DictSource:
    """Every family@alias has a model except multinomial_logistic@B (logan's B is on fallback).

    xgboost's shadows answer fixed probabilities for the EV tests; feedforward_nn@shadow1 is
    linear in the features, so its answer shows which row it was given.
    """
    models: dict[tuple[Family, Alias], FetchedModel] = {}
    for family in Family:
        models[(family, Alias.PRODUCTION)] = served(constant_model(PRODUCTION), "7")
        models[(family, Alias.B)] = served(constant_model(VARIANT_B), "8", "b" * 32)
        models[(family, Alias.SHADOW1)] = served(constant_model(PRODUCTION), "9")
        models[(family, Alias.SHADOW2)] = served(constant_model(PRODUCTION), "10")
    models[(Family.XGBOOST, Alias.SHADOW1)] = served(constant_model(ROCK_OR_PAPER), "11")
    models[(Family.XGBOOST, Alias.SHADOW2)] = served(constant_model(CERTAIN_ROCK), "12")
    models[(Family.FEEDFORWARD_NN, Alias.SHADOW1)] = served(
        linear_model(LINEAR_WEIGHTS, LINEAR_BIAS), "13"
    )
    del models[(Family.MULTINOMIAL_LOGISTIC, Alias.B)]
    return DictSource("cache", models)


def container_for(settings: Settings) -> Container:
    built = build_container(settings, rng=random.Random(7), model_sources=[model_source()])
    built.models.reload()
    return built


@pytest.fixture
def predict_container(settings: Settings) -> Iterator[Container]:
    built = container_for(settings)
    yield built
    built.close()


@pytest.fixture
def api(predict_container: Container, admin_headers: dict[str, str]) -> TestClient:
    """A client that sends the admin token on every request."""
    app = create_app(container=predict_container)
    return TestClient(app, headers=admin_headers)


@contextmanager
def client_with(tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    built = container_for(load_settings(DATA_PATH=tmp_path / "data", **overrides))
    try:
        yield TestClient(create_app(container=built))
    finally:
        built.close()


def body(**fields: Any) -> dict[str, Any]:
    """A valid request: two rounds of history (a user win, then a loss), brian@Production."""
    request: dict[str, Any] = {
        "policy": "brian",
        "player_history": ["rock", "rock"],
        "bot_history": ["scissors", "paper"],
        "result_history": ["win", "lose"],
        "round_values": {"rock": 1.0, "paper": 1.2, "scissors": 1.7},
    }
    request.update(fields)
    return request


def post_ok(api: TestClient, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = api.post(path, json=payload)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def ok_prediction(api: TestClient, **fields: Any) -> dict[str, Any]:
    data = post_ok(api, "/predict", body(**fields))
    PredictResponse.model_validate(data)
    return data


def ok_policy_move(api: TestClient, **fields: Any) -> dict[str, Any]:
    data = post_ok(api, "/predict-with-policy", body(**fields))
    PredictWithPolicyResponse.model_validate(data)
    return data


def triple(values: dict[str, float]) -> tuple[float, float, float]:
    return (values["rock"], values["paper"], values["scissors"])


# -- /predict ------------------------------------------------------------------------------------


def test_predict_answers_with_the_production_models_probabilities_and_version(
    api: TestClient,
) -> None:
    data = ok_prediction(api, policy="forrest")
    assert triple(data["probabilities"]) == pytest.approx(PRODUCTION, abs=1e-6)
    assert data["prediction"] == "rock"
    assert data["policy"] == "forrest"
    assert data["features_used"] == FEATURE_COUNT == 50
    assert data["model_info"] == {
        "model_type": "xgboost",
        "model_alias": "Production",
        "model_version": "7",
        "model_run_id": RUN_ID[:8],
        "probability_source": "model",
        "fallback_reason": None,
    }


def test_the_alias_selects_which_model_of_the_family_answers(api: TestClient) -> None:
    data = ok_prediction(api, policy="brian", alias="B")
    assert triple(data["probabilities"]) == pytest.approx(VARIANT_B, abs=1e-6)
    assert data["prediction"] == "scissors"
    assert data["model_info"]["model_type"] == "feedforward_nn"
    assert data["model_info"]["model_alias"] == "B"
    assert data["model_info"]["model_version"] == "8"
    assert data["model_info"]["model_run_id"] == "bbbbbbbb"


def test_the_model_is_given_exactly_the_stateless_feature_row_of_the_body(api: TestClient) -> None:
    fields: dict[str, Any] = {
        "alias": "shadow1",
        "player_history": ["rock", "paper", "paper", "scissors"],
        "bot_history": ["scissors", "paper", "scissors", "scissors"],
        "result_history": ["win", "draw", "lose", "draw"],
        "history_round_values": [
            {"rock": 1.6, "paper": 1.0, "scissors": 1.1},
            None,
            {"rock": 1.3, "paper": 1.8, "scissors": 1.0},
            {"rock": 1.0, "paper": 1.5, "scissors": 2.0},
        ],
    }
    request = body(**fields)
    row = stateless_features(
        request["player_history"],
        request["bot_history"],
        request["result_history"],
        request["round_values"],
        request["history_round_values"],
    )
    logits = row.astype(np.float32).astype(np.float64) @ LINEAR_WEIGHTS + LINEAR_BIAS
    expected = np.exp(logits - logits.max())
    expected /= expected.sum()
    data = ok_prediction(api, **fields)
    assert triple(data["probabilities"]) == pytest.approx(tuple(expected), abs=1e-5)
    # Another history gives another row, so the comparison above cannot pass by accident.
    other = ok_prediction(api, alias="shadow1")
    assert triple(other["probabilities"]) != pytest.approx(tuple(expected), abs=1e-3)


def test_an_empty_history_predicts_the_first_round(api: TestClient) -> None:
    data = ok_prediction(api, player_history=[], bot_history=[], result_history=[])
    assert data["prediction"] == "rock"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"result_history": ["win", "win"]}, "result_history[1]"),
        ({"bot_history": ["scissors"]}, "same length"),
        ({"history_round_values": [None]}, "history_round_values has 1 entries"),
        ({"round_values": {"rock": 1.05, "paper": 1.2, "scissors": 1.7}}, "round_values['rock']"),
        (
            {"player_history": [], "bot_history": [], "result_history": [], "bot_score": 2.0},
            "bot_score 2.0 must be 0",
        ),
        ({"player_history": ["rock", "lizard"]}, "player_history.1"),
        ({"result_history": ["win", "loss"]}, "result_history.1"),
        ({"round_values": {"rock": 1.0, "paper": 1.2}}, "round_values.scissors"),
        ({"round_values": {"rock": "1.0", "paper": 1.2, "scissors": 1.7}}, "round_values.rock"),
        ({"user_score": True}, "user_score"),
        ({"policy": "ace"}, "policy"),
        ({"alias": "production"}, "alias"),
        ({"difficulty": "easy"}, "difficulty"),
    ],
)
def test_a_malformed_body_is_a_422_naming_the_field_at_fault(
    api: TestClient, fields: dict[str, Any], named: str
) -> None:
    for path in ("/predict", "/predict-with-policy"):
        response = api.post(path, json=body(**fields))
        assert response.status_code == 422, response.text
        assert named in response.json()["detail"]


def test_a_history_longer_than_a_game_can_be_is_refused(api: TestClient) -> None:
    rounds = 20
    response = api.post(
        "/predict",
        json=body(
            player_history=["rock"] * rounds,
            bot_history=["rock"] * rounds,
            result_history=["draw"] * rounds,
        ),
    )
    assert response.status_code == 422
    assert "player_history" in response.json()["detail"]
    assert "19" in response.json()["detail"]


def test_a_history_in_which_a_side_already_won_has_no_round_left_to_predict(
    api: TestClient,
) -> None:
    # Six bot wins with scissors worth 1.7 replay to 10.2 points for the bot.
    response = api.post(
        "/predict",
        json=body(
            player_history=["paper"] * 6,
            bot_history=["scissors"] * 6,
            result_history=["lose"] * 6,
        ),
    )
    assert response.status_code == 422
    assert "the game is already over: the bot has reached 10" in response.json()["detail"]
    explicit = api.post("/predict", json=body(user_score=10.0))
    assert explicit.status_code == 422
    assert "user_score" in explicit.json()["detail"]


# -- /predict-with-policy ------------------------------------------------------------------------


def test_a_model_certain_of_rock_makes_the_bot_play_paper(api: TestClient) -> None:
    # Paper is worth most this round too, so neither value nor score terms compete with it.
    values = {"rock": 1.0, "paper": 1.7, "scissors": 1.2}
    data = ok_policy_move(api, policy="forrest", alias="shadow2", round_values=values)
    assert data["bot_move"] == "paper"
    probs = triple(data["probabilities"])
    assert probs == pytest.approx(CERTAIN_ROCK, abs=1e-6)
    # The history, played at this round's values, replays to 1.0 (rock beat scissors) – 1.7
    # (paper beat rock); the EVs are the domain's for those scores.
    game_values = RoundValues.from_points(*triple(values))
    assert triple(data["expected_values"]) == pytest.approx(
        expected_values(probs, game_values, bot_tenths=17, user_tenths=10)
    )
    assert data["prediction"] == "rock"
    assert data["model_info"]["model_version"] == "12"


def test_scores_near_the_target_change_the_bots_move(api: TestClient) -> None:
    # P(rock, paper, scissors) = (0.5, 0.4, 0.1); values rock 1.0, paper 1.2, scissors 1.7.
    # Level at 0–0 paper has the best EV (0.43 against scissors' 0.18); at 0–8.5 scissors
    # (prey paper) ends the game with a win, worth 10 more, and takes over.
    values = {"rock": 1.0, "paper": 1.2, "scissors": 1.7}
    history = {
        "player_history": ["rock"] * 5,
        "bot_history": ["paper"] * 5,
        "result_history": ["lose"] * 5,
        "history_round_values": [values] * 5,
    }
    common = {"policy": "forrest", "alias": "shadow1", "round_values": values, **history}
    level = ok_policy_move(api, **common, user_score=0.0, bot_score=0.0)
    assert level["bot_move"] == "paper"
    replayed = ok_policy_move(api, **common)  # five bot wins with paper at 1.2: 0–6.0
    explicit = ok_policy_move(api, **common, user_score=0.0, bot_score=6.0)
    assert replayed["expected_values"] == pytest.approx(explicit["expected_values"])
    near = ok_policy_move(api, **common, user_score=0.0, bot_score=8.5)
    assert near["bot_move"] == "scissors"
    probs = triple(near["probabilities"])
    evs = expected_values(probs, RoundValues(10, 12, 17), bot_tenths=85, user_tenths=0)
    assert triple(near["expected_values"]) == pytest.approx(evs)
    assert choose_ev_move(evs).value == "scissors"


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for every hypothesis example (function-scoped fixtures are not reset per example)."""
    path = tmp_path_factory.mktemp("predictions") / "data"
    built = container_for(load_settings(DATA_PATH=path, RPS_ADMIN_TOKEN=ADMIN_TOKEN))
    app = create_app(container=built)
    yield TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    built.close()


games = st.lists(st.tuples(st.sampled_from(MOVES), st.sampled_from(MOVES)), max_size=19)


@given(moves=games, game_id=st.sampled_from(["test-game", "00000000-0000-0000-0000-000000000000"]))
@hypothesis_settings(max_examples=40, deadline=None)
def test_any_unfinished_game_is_answered_with_the_ev_move_of_its_own_scores(
    shared_api: TestClient, moves: list[tuple[Move, Move]], game_id: str
) -> None:
    game = Game(game_id)
    for user_move, bot_move in moves:
        if game.finished:
            break
        game.play(user_move, bot_move)
    if game.finished:
        game.rounds.pop()
    rounds = game.rounds
    request = {
        "policy": "forrest",
        "alias": "shadow1",
        "player_history": [r.user_move.value for r in rounds],
        "bot_history": [r.bot_move.value for r in rounds],
        "result_history": [r.outcome.value for r in rounds],
        "history_round_values": [r.values.as_points() for r in rounds],
        "round_values": game.next_values().as_points(),
    }
    data = post_ok(shared_api, "/predict-with-policy", request)
    evs = expected_values(
        triple(data["probabilities"]), game.next_values(), game.bot_score, game.user_score
    )
    assert triple(data["expected_values"]) == pytest.approx(evs)
    assert data["bot_move"] == choose_ev_move(evs).value


# -- /predict/batch ------------------------------------------------------------------------------


def test_a_batch_returns_one_result_per_item_in_order(api: TestClient) -> None:
    items = [
        body(policy="brian"),
        body(policy="forrest", alias="B"),
        body(policy="logan", alias="shadow2"),
    ]
    data = post_ok(api, "/predict/batch", {"items": items})
    PredictBatchResponse.model_validate(data)
    results = data["results"]
    assert [r["policy"] for r in results] == ["brian", "forrest", "logan"]
    assert [r["model_info"]["model_alias"] for r in results] == ["Production", "B", "shadow2"]
    assert [r["prediction"] for r in results] == ["rock", "scissors", "rock"]
    assert results[0] == ok_prediction(api, policy="brian")


def test_a_bad_batch_item_is_a_422_naming_its_index(api: TestClient) -> None:
    items = [body(), body(), body(result_history=["win", "draw"])]
    response = api.post("/predict/batch", json={"items": items})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("items[2]: result_history[1]")
    items = [body(), body(policy="nobody")]
    response = api.post("/predict/batch", json={"items": items})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("items.1.policy")


def test_a_batch_of_more_than_256_items_is_refused(api: TestClient) -> None:
    assert post_ok(api, "/predict/batch", {"items": [body()] * 256})["results"][255]
    response = api.post("/predict/batch", json={"items": [body()] * 257})
    assert response.status_code == 422
    assert "items" in response.json()["detail"]


# -- fallback ------------------------------------------------------------------------------------


def test_a_model_on_fallback_answers_200_saying_so_without_made_up_numbers(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=predictions.__name__):
        data = ok_policy_move(api, policy="logan", alias="B")
    assert data["model_info"] == {
        "model_type": "multinomial_logistic",
        "model_alias": "B",
        "model_version": None,
        "model_run_id": None,
        "probability_source": "fallback",
        "fallback_reason": "no_model",
    }
    assert data["prediction"] is None
    assert data["probabilities"] is None
    assert data["bot_move"] is None
    assert data["expected_values"] is None
    assert "multinomial_logistic@B answered without a model (no_model)" in caplog.text
    assert ok_prediction(api, policy="logan", alias="B")["probabilities"] is None


def test_a_batch_mixes_fallback_and_model_answers_item_by_item(api: TestClient) -> None:
    items = [body(policy="logan", alias="B"), body(policy="logan")]
    results = post_ok(api, "/predict/batch", {"items": items})["results"]
    assert [r["model_info"]["probability_source"] for r in results] == ["fallback", "model"]
    assert results[1]["probabilities"] is not None


# -- the admin gate ------------------------------------------------------------------------------

PATHS = ["/predict", "/predict-with-policy", "/predict/batch"]


def payload_for(path: str) -> dict[str, Any]:
    return {"items": [body()]} if path.endswith("batch") else body()


@pytest.mark.parametrize("path", PATHS)
def test_predictions_need_the_admin_token(predict_container: Container, path: str) -> None:
    app = create_app(container=predict_container)
    client = TestClient(app)
    missing = client.post(path, json=payload_for(path))
    assert missing.status_code == 401
    assert "admin token required" in missing.json()["detail"]
    wrong = client.post(path, json=payload_for(path), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = client.post(
        path, json=payload_for(path), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert right.status_code == 200


@pytest.mark.parametrize("path", PATHS)
def test_predictions_are_forbidden_when_no_admin_token_is_configured(
    tmp_path: Path, path: str
) -> None:
    with client_with(tmp_path, RPS_ADMIN_TOKEN=None) as client:
        response = client.post(
            path, json=payload_for(path), headers={"Authorization": "Bearer anything"}
        )
        assert response.status_code == 403
        assert "no RPS_ADMIN_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize("path", PATHS)
def test_public_predict_opens_predictions_without_a_token(tmp_path: Path, path: str) -> None:
    with client_with(tmp_path, RPS_ADMIN_TOKEN=None, PUBLIC_PREDICT=True) as client:
        response = client.post(path, json=payload_for(path))
        assert response.status_code == 200, response.text


# -- schemathesis over the three operations ------------------------------------------------------

_FUZZ_TOKEN = "fuzz-token-0123456789abcdef"
_fuzz_settings = load_settings(
    DATA_PATH=Path(tempfile.mkdtemp(prefix="rps-predict-fuzz-")), RPS_ADMIN_TOKEN=_FUZZ_TOKEN
)
# The app refuses an unmigrated database at start-up (SPEC §9), and reading the schema starts it.
_fuzz_db = Database(_fuzz_settings.database_url)
migrate(_fuzz_db)
_fuzz_db.dispose()
_fuzz_app = create_app(_fuzz_settings)
schema = schemathesis.openapi.from_asgi("/openapi.json", _fuzz_app).include(path_regex="^/predict")


@pytest.fixture(scope="module")
def fuzz_models() -> Iterator[None]:
    container = container_for(_fuzz_settings)
    _fuzz_app.state.container = container
    yield
    _fuzz_app.state.container = None
    container.close()


@schema.hook
def map_case(
    context: schemathesis.HookContext, case: schemathesis.Case[Any]
) -> schemathesis.Case[Any]:
    """Positive cases obey the cross-field rules too, so every one of them must be accepted."""
    return consistent_case(case)


@schema.parametrize()
@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_prediction_input_causes_a_server_error_or_breaks_the_schema(
    case: schemathesis.Case[Any], fuzz_models: None
) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {_FUZZ_TOKEN}"})

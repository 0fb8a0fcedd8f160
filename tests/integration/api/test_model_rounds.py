"""ML rounds with (tiny, constant) ONNX models: EV play and shadow scoring of all four aliases."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rps.api.app import create_app
from rps.bootstrap import build_container
from rps.domain.policy import Alias, Family
from rps.persistence.database import Database, migrate
from tests.integration.api.test_platform_api import metric_value
from tests.support.onnx_models import DictSource, fetched

VERSIONS = {Alias.PRODUCTION: "11", Alias.B: "12", Alias.SHADOW1: "13", Alias.SHADOW2: "14"}


@pytest.fixture
def model_client(settings):
    db = Database(settings.database_url)
    migrate(db)
    db.dispose()
    models = {
        (family, alias): fetched(version, probabilities=(0.8, 0.1, 0.1))
        for family in Family
        for alias, version in VERSIONS.items()
    }
    container = build_container(
        settings, rng=random.Random(3), model_sources=[DictSource("cache", models)]
    )
    container.models.reload()
    with TestClient(create_app(container=container)) as client:
        yield client, container


def test_model_rounds_play_the_ev_move_and_score_every_alias(model_client):
    client, container = model_client
    game = client.post("/start_game", json={"policy": "forrest"}).json()
    alias = game["bot_model_alias"]
    answers = []
    for round_no in range(1, 21):
        answer = client.post(
            "/play", json={"game_id": game["game_id"], "user_move": "paper", "round": round_no}
        ).json()
        answers.append(answer)
        if answer["finished"]:
            break
    model_rounds = answers[3:]
    assert model_rounds
    for answer in model_rounds:
        info = answer["model_info"]
        assert info["probability_source"] == "model"
        assert info["model_alias"] == alias
        assert info["model_version"] == VERSIONS[Alias(alias)]
        assert answer["debug"]["probabilities"]["rock"] == pytest.approx(0.8, abs=1e-5)
    with container.database.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT step_no, alias, model_version, predicted_move, correct, "
                "counterfactual_result FROM alias_predictions WHERE game_id = :g"
            ),
            {"g": game["game_id"]},
        ).all()
    assert len(rows) == 4 * len(model_rounds)
    assert {r.step_no for r in rows} == {a["round"] for a in model_rounds}
    assert {(r.alias, r.model_version) for r in rows} == {(a.value, v) for a, v in VERSIONS.items()}
    assert all(r.predicted_move == "rock" and not r.correct for r in rows)
    # Every alias has the served model's output, so each would have played the bot's actual
    # move: its counterfactual is the round's real result, seen from the bot.
    bot_view = {"win": "lose", "lose": "win", "draw": "draw"}
    actual = {a["round"]: bot_view[a["result"]] for a in model_rounds}
    assert all(r.counterfactual_result == actual[r.step_no] for r in rows)
    text = client.get("/metrics").text
    predictions = metric_value(
        text, "rps_model_predictions_by_alias_total", model="xgboost", alias="shadow2"
    )
    assert predictions == len(model_rounds)
    assert (
        metric_value(
            text, "rps_model_correct_predictions_by_alias_total", model="xgboost", alias="shadow2"
        )
        == 0
    )
    assert metric_value(text, "rps_model_games_by_alias_total", model="xgboost", alias=alias) == 1


def test_opening_and_persona_rounds_store_no_alias_predictions(model_client):
    client, container = model_client
    game = client.post("/start_game", json={"policy": "cal"}).json()
    for round_no in range(1, 6):
        client.post(
            "/play", json={"game_id": game["game_id"], "user_move": "rock", "round": round_no}
        )
    with container.database.engine.connect() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM alias_predictions")).scalar_one()
    assert count == 0

"""The decision layer in the inference capture and in `rps parity` (SPEC §4, §6.5, §6.6): games
played through the API with ONNX models from the serving cache, replayed by the command from the
database and from the capture, blend and move included."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rps.api.app import create_app
from rps.bootstrap import Container, build_container
from rps.domain.decision import Belief
from rps.domain.policy import Alias, Family
from rps.persistence.database import Database, migrate
from rps.serving.capture import capture_files
from rps.settings import load_settings
from tests.integration.test_cli import _env, _output, rps
from tests.support.onnx_models import publish_constant_models

# Production and B answer differently, and the models claim a calibrated log-loss, so each
# blend starts from a prior above the floor: a replay must start where serving started.
ANSWERS = {
    Alias.PRODUCTION: ((0.6, 0.3, 0.1), "31"),
    Alias.B: ((0.2, 0.2, 0.6), "32"),
    Alias.SHADOW1: ((0.3, 0.4, 0.3), "33"),
    Alias.SHADOW2: ((0.1, 0.8, 0.1), "34"),
}
MOVES = ["rock", "rock", "paper", "rock", "scissors", "rock", "rock", "paper"]


@pytest.fixture
def played(tmp_path: Path) -> Iterator[tuple[Path, Path, Container]]:
    """Games of forrest and logan played through the API with constant ONNX models published to
    the serving cache (so `rps parity` loads the same ones), captured; → data, capture, app."""
    data, capture = tmp_path / "data", tmp_path / "capture"
    publish_constant_models(
        data / "model-cache",
        {(f, a): answer for f in Family for a, answer in ANSWERS.items()},
        val_log_loss=0.85,
    )
    settings = load_settings(DATA_PATH=data, RPS_CAPTURE_INFERENCE_DIR=capture)
    db = Database(settings.database_url)
    migrate(db)
    db.dispose()
    container = build_container(settings, rng=random.Random(5), opening_rng=random.Random(6))
    container.models.reload()
    with TestClient(create_app(container=container)) as client:
        for i in range(6):
            game = client.post("/start_game", json={"policy": ("forrest", "logan")[i % 2]})
            assert game.status_code == 200, game.text
            game_id = game.json()["game_id"]
            for n in range(1, 21):
                answer = client.post(
                    "/play",
                    json={"game_id": game_id, "user_move": MOVES[(n + i) % 8], "round": n},
                )
                assert answer.status_code == 200, answer.text
                if answer.json()["finished"]:
                    break
    yield data, capture, container
    container.close()


def model_rounds(container: Container) -> list[sa.Row[Any]]:
    with container.database.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT r.id, r.game_id, r.step_no, r.model_alias, r.belief "
                    "FROM rounds r WHERE r.decision_source = 'model' ORDER BY r.id"
                )
            )
        )


def parity_figures(result: Any) -> dict[str, Any]:
    """The table's rows (one per family@alias: its cells) and the summary's counts."""
    rows = []
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 11 and cells[0]:
            rows.append(cells)
    summary = re.search(
        r"(\d+) replayed through the model, (\d+) through the decision layer",
        " ".join(result.stderr.split()),
    )
    assert summary is not None, _output(result)
    return {"rows": rows, "replayed": int(summary[1]), "blends": int(summary[2])}


def assert_blends_replay(result: Any, rounds: int) -> None:
    assert result.returncode == 0, _output(result)
    figures = parity_figures(result)
    assert figures["replayed"] == figures["blends"] == rounds
    assert len(figures["rows"]) >= 2  # both families, each with its games' aliases
    for cells in figures["rows"]:
        blends, worst_blend, other_moves = cells[7], cells[8], cells[9]
        assert int(blends) == int(cells[1]) > 0, cells
        assert float(worst_blend) <= 1e-4, cells
        assert other_moves == "0", cells
    assert "another move" not in result.stderr
    assert "blends differ" not in result.stderr


def test_each_captured_model_round_carries_the_stored_belief(played):
    _, capture, container = played
    stored = {(r.game_id, r.step_no): Belief.from_json(r.belief) for r in model_rounds(container)}
    (path,) = capture_files(capture)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len(stored)
    for line in lines:
        belief = stored[(line["game_id"], line["round"])]
        captured = line["belief"]
        assert captured["probabilities"] == list(belief.probabilities)
        assert captured["weights"] == belief.weights()
        assert captured["weights"]["model"] == belief.model_weight
        assert captured["params"] == belief.params_digest == container.gameplay.scoring_version


def test_parity_replays_every_stored_blend_and_move_from_the_database(played):
    data, _, container = played
    rounds = len(model_rounds(container))
    # The prior the models' log-loss claims, not the floor, opened every game's first model round.
    first = [
        Belief.from_json(r.belief).model_weight for r in model_rounds(container) if r.step_no == 4
    ]
    floor = container.gameplay.decision.params.model_prior_floor
    assert first
    assert all(w is not None and w > floor for w in first)
    assert_blends_replay(rps("parity", "--from-db", env=_env(data)), rounds)


def test_parity_replays_every_captured_blend_and_move(played):
    data, capture, container = played
    rounds = len(model_rounds(container))
    assert_blends_replay(rps("parity", "--capture-dir", str(capture), env=_env(data)), rounds)


def test_a_tampered_stored_belief_fails_parity_with_the_blend_difference(played):
    data, _, container = played
    target = model_rounds(container)[5]
    belief = json.loads(target.belief)
    belief["p"] = [belief["p"][0] + 0.05, belief["p"][1] - 0.05, belief["p"][2]]
    with container.database.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE rounds SET belief = :b WHERE id = :i"),
            {"b": json.dumps(belief), "i": target.id},
        )

    result = rps("parity", "--from-db", env=_env(data))

    assert result.returncode == 1, _output(result)
    difference = re.search(r"replayed blends differ by up to ([0-9.e-]+)", result.stderr)
    assert difference is not None, _output(result)
    assert float(difference[1]) == pytest.approx(0.05, abs=1e-3)
    worst = sorted(float(cells[8]) for cells in parity_figures(result)["rows"])
    assert worst[-1] == pytest.approx(0.05, abs=1e-3)
    assert worst[-2] <= 1e-4  # every other family@alias replays exactly
    # The stored probabilities and features are untouched: only the blend is reported.
    assert "probabilities differ" not in result.stderr

"""Inference capture in live play, and the parity replay of what it captured (SPEC §6.5, §6.6)."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import numpy as np
import pytest

from rps.bootstrap import build_container
from rps.domain.move import Move
from rps.domain.policy import Alias, Family
from rps.features.names import FEATURE_COUNT, FEATURE_NAMES
from rps.features.online import online_features
from rps.persistence.database import Database, migrate
from rps.services.gameplay import StartGame
from rps.serving.capture import capture_files
from rps.serving.parity import (
    load_histories,
    read_captures,
    recent_model_round_keys,
    replay_rounds,
    stored_served_rounds,
)
from rps.settings import load_settings
from tests.integration.api.test_model_rounds import VERSIONS
from tests.integration.test_cli import _env, _output, rps
from tests.support.onnx_models import DictSource, fetched


@pytest.fixture
def capture_container(tmp_path):
    settings = load_settings(
        DATA_PATH=tmp_path / "data", RPS_CAPTURE_INFERENCE_DIR=tmp_path / "capture"
    )
    db = Database(settings.database_url)
    migrate(db)
    db.dispose()
    models = {
        (family, alias): fetched(version, probabilities=(0.8, 0.1, 0.1))
        for family in Family
        for alias, version in VERSIONS.items()
    }
    container = build_container(
        settings,
        rng=random.Random(3),
        opening_rng=random.Random(4),
        model_sources=[DictSource("cache", models)],
    )
    container.models.reload()
    yield container, tmp_path / "capture"
    container.close()


def play_forrest(container) -> tuple[str, list]:
    game = container.gameplay.start_game(StartGame(policy="forrest"))
    moves = [Move.PAPER, Move.ROCK, Move.SCISSORS]
    for round_no in range(1, 21):
        result = container.gameplay.play(game.id, moves[round_no % 3], round_no)
        if result.finished:
            break
    _, stored = container.games.load(game.id)
    return game.id, stored


def test_model_rounds_are_captured_and_replay_through_the_batch_pipeline_exactly(
    capture_container,
):
    container, capture_dir = capture_container
    game_id, stored = play_forrest(container)
    model_rounds = [r for r in stored if r.decision_source == "model"]
    assert len(model_rounds) == len(stored) - 3  # every round after the opening

    (path,) = capture_files(capture_dir)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["round"] for line in lines] == [r.played.round_no for r in model_rounds]
    history = [r.played for r in stored]
    for line, stored_round in zip(lines, model_rounds, strict=True):
        n = stored_round.played.round_no
        assert line["game_id"] == game_id
        assert line["model"] == f"xgboost@{stored_round.model_alias}"
        assert line["model_version"] == VERSIONS[Alias(stored_round.model_alias)]
        assert line["move"] == stored_round.played.bot_move.value
        assert line["feature_names"] == list(FEATURE_NAMES)
        assert len(line["features"]) == FEATURE_COUNT
        expected = online_features(history[: n - 1], stored_round.played.values)
        assert np.array_equal(np.array(line["features"]), expected)
        assert line["probabilities"] == list(stored_round.probabilities)

    captured = read_captures(capture_dir)
    assert captured.bad_lines == 0
    histories, _ = load_histories({s.game_id for s in captured.rounds}, container.games.load)
    report = replay_rounds(captured.rounds, histories, container.models)
    assert report.ok
    assert report.replayed == len(model_rounds)
    assert report.max_feature_diff == 0.0
    assert report.max_probability_diff == pytest.approx(0.0, abs=1e-7)
    (row,) = report.rows
    assert row.rounds == row.compared == row.replayed == len(model_rounds)


def test_a_tampered_feature_is_reported_with_its_difference(capture_container):
    container, capture_dir = capture_container
    play_forrest(container)
    (path,) = capture_files(capture_dir)
    lines = path.read_text().splitlines()
    tampered = json.loads(lines[0])
    tampered["features"][45] += 0.5  # score_diff as serving would have seen it, skewed
    lines[0] = json.dumps(tampered)
    path.write_text("\n".join(lines) + "\n")

    captured = read_captures(capture_dir)
    histories, _ = load_histories({s.game_id for s in captured.rounds}, container.games.load)
    report = replay_rounds(captured.rounds, histories, container.models)
    assert report.max_feature_diff == pytest.approx(0.5)
    assert not report.features_ok
    assert report.rows[0].worst_round == f"{tampered['game_id']}#{tampered['round']}"
    # the constant model answers the same on any features: probabilities still agree
    assert report.ok


def test_a_changed_model_version_is_not_replayed_and_other_probabilities_fail(
    capture_container,
):
    container, capture_dir = capture_container
    play_forrest(container)
    captured = read_captures(capture_dir)
    histories, _ = load_histories({s.game_id for s in captured.rounds}, container.games.load)
    served = captured.rounds[0]
    other_version = [replace(served, version="999")]
    report = replay_rounds(other_version, histories, container.models)
    assert report.replayed == 0
    assert report.rows[0].version_mismatch == 1
    skewed = [replace(served, probabilities=(0.7, 0.2, 0.1))]
    report = replay_rounds(skewed, histories, container.models)
    assert report.max_probability_diff == pytest.approx(0.1, abs=1e-6)
    assert not report.ok


def test_stored_model_rounds_replay_from_the_database(capture_container):
    container, _ = capture_container
    _, stored = play_forrest(container)
    keys = recent_model_round_keys(container.database, limit=1000)
    histories, games = load_histories((k[0] for k in keys), container.games.load)
    served = stored_served_rounds(keys, games)
    assert len(served) == sum(r.decision_source == "model" for r in stored)
    report = replay_rounds(served, histories, container.models)
    assert report.ok
    assert report.replayed == len(served)
    assert report.max_feature_diff == 0.0


def test_the_parity_command_reports_each_model_and_needs_a_source(capture_container, tmp_path):
    container, capture_dir = capture_container
    play_forrest(container)
    env = _env(tmp_path / "data")
    # This process's models came from a fake source; the command's own (an empty cache and
    # registry) hold none, so it compares features only and says so.
    result = rps("parity", "--capture-dir", str(capture_dir), env=env)
    assert result.returncode == 0, _output(result)
    assert "xgboost@" in result.stdout
    assert "probabilities not compared" in result.stderr
    missing = rps("parity", env=env)
    assert missing.returncode == 2
    assert "RPS_CAPTURE_INFERENCE_DIR" in _output(missing)

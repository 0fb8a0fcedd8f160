"""`rps evaluate` against the session's trained registry: every family's Production beside the
baselines on the same gym games, the figures as JSON, and the gym figures stored only with
``--persist``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from rps.domain.policy import Policy
from tests.integration.training.conftest import Platform

# Two training-part opponents (a persona and the pre-gym name of "rock") and one held out.
OPPONENTS = ("cal", "constant", "scissors")
BOTS = {f"{p.value} Production" for p in Policy}
BASELINE_ROWS = {"value-greedy", "frequency-ev", "model-free-layer"}
PERCENT = r"\d{1,3}\.\d%"


def evaluate(base_env: dict[str, str], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rps.cli.main", "evaluate", *args],
        env={**base_env, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def strength_rows(stdout: str) -> dict[str, list[str]]:
    """bot → the cells of its row in the strength table."""
    rows: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 10 and (cells[0] in BOTS or cells[0] in BASELINE_ROWS):
            rows.setdefault(cells[0], cells)
    return rows


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """A platform with nothing in it: an empty DATA_PATH and its defaults."""
    env = {**os.environ, "DATA_PATH": str(tmp_path / "data"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    for name in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "MODEL_CACHE_URI"):
        env.pop(name, None)
    return env


def table_rows(db_path: Path, table: str) -> list[sa.Row]:
    engine = sa.create_engine(f"sqlite:///{db_path}")
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return []
            return list(conn.execute(sa.text(f"SELECT * FROM {table}")))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def evaluation(trained_platform: Platform, tmp_path_factory: pytest.TempPathFactory):
    """Run once without and once with --persist, each into its own database (the models come
    from the shared platform's registry, which the model manager reads behind the cache)."""
    root = tmp_path_factory.mktemp("evaluate")
    args = ("--opponents", ",".join(OPPONENTS), "--games", "6", "--aliases", "Production")
    plain_db = root / "plain.db"
    report = root / "report.json"
    plain = evaluate(
        trained_platform.env,
        *args,
        "--seed",
        "3",
        "--json",
        str(report),
        DATABASE_URL=f"sqlite:///{plain_db}",
    )
    persisted_db = root / "persisted.db"
    persisted = evaluate(
        trained_platform.env,
        *args,
        "--seed",
        "4",
        "--persist",
        DATABASE_URL=f"sqlite:///{persisted_db}",
    )
    return plain, plain_db, report, persisted, persisted_db


def test_evaluate_shows_every_production_beside_the_baselines(evaluation):
    plain, _, _, _, _ = evaluation
    assert plain.returncode == 0, plain.stdout + plain.stderr
    rows = strength_rows(plain.stdout)
    assert set(rows) == BOTS | BASELINE_ROWS, plain.stdout
    for bot in BOTS:
        cells = rows[bot]
        model, training, holdout, overall, margin, worst = cells[1:7]
        assert re.fullmatch(r"v\d+", model), cells
        for rate in (training, holdout, overall):
            assert re.fullmatch(rf"{PERCENT} \(\d+%–\d+%\)", rate), cells
        assert re.fullmatch(r"[+-]\d+\.\d{3}", margin)
        assert worst.split()[0] in ("cal", "rock", "scissors"), cells
        assert re.fullmatch(r"[+-]\d+\.\d \([+-]\d+…[+-]\d+\)", cells[7]), cells
        assert re.fullmatch(PERCENT, cells[9]), cells
    for baseline in BASELINE_ROWS:
        assert rows[baseline][1] == "baseline"
        assert rows[baseline][9] == ""
    # value-greedy plays the highest-valued move, which cal (the lowest) always beats.
    assert rows["value-greedy"][6] == "cal 0%", rows["value-greedy"]
    assert "win rate per group" in plain.stdout
    assert "108 games" in plain.stderr  # (3 Productions + 3 baselines) × 3 opponents × 6


def test_the_json_report_has_every_part_group_and_the_paired_differences(evaluation):
    _, _, report_path, _, _ = evaluation
    data = json.loads(report_path.read_text())
    assert data["seed"] == 3
    assert data["games_per_opponent"] == 6
    assert [o["name"] for o in data["opponents"]] == ["cal", "rock", "scissors"]
    assert {o["part"] for o in data["opponents"]} == {"training", "holdout"}
    contenders = data["contenders"]
    assert set(contenders) == {f"{p.family.value}@Production" for p in Policy} | BASELINE_ROWS
    xgb = contenders["xgboost@Production"]
    assert xgb["training"]["games"] == 12
    assert xgb["holdout"]["games"] == 6
    assert set(xgb["groups"]) == {"naive", "mixed"}
    assert set(xgb["paired"]) == BASELINE_ROWS
    assert xgb["worst"]["overall"]["opponent"] in ("cal", "rock", "scissors")
    assert data["aliases"]["xgboost@Production"]["version"] is not None


def test_evaluate_stores_nothing_without_persist(evaluation):
    _, plain_db, _, _, _ = evaluation
    assert table_rows(plain_db, "games") == []
    assert table_rows(plain_db, "model_strength") == []


def test_persist_stores_each_evaluated_versions_gym_figures_and_no_games(evaluation):
    _, _, _, persisted, persisted_db = evaluation
    assert persisted.returncode == 0, persisted.stdout + persisted.stderr
    rows = table_rows(persisted_db, "model_strength")
    assert {r.model_type for r in rows} == {p.family.value for p in Policy}
    assert {r.source for r in rows} == {"evaluate"}
    assert all(r.version for r in rows)
    assert {r.games_per_opponent for r in rows} == {6}
    for r in rows:
        assert 0.0 <= r.training_win_rate <= 1.0
        assert 0.0 <= r.holdout_win_rate <= 1.0
        assert r.greedy_holdout_win_rate is not None
        assert json.loads(r.figures)["overall"]["games"] == 18
    assert table_rows(persisted_db, "games") == []
    assert "stored the gym figures of 3 versions" in persisted.stderr


def test_unknown_opponents_exit_2_naming_the_valid_ones(tmp_path):
    result = evaluate(isolated_env(tmp_path), "--opponents", "cal,nobody")
    assert result.returncode == 2
    assert "unknown opponent 'nobody'" in result.stderr
    assert "wsls" in result.stderr
    assert "holdout" in result.stderr


def test_with_no_model_at_all_evaluate_exits_1_unless_fallback_is_allowed(tmp_path):
    empty = isolated_env(tmp_path)  # no registry, no cache
    args = ("--opponents", "constant", "--games", "1", "--aliases", "Production")
    refused = evaluate(empty, *args)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "no model is loaded" in refused.stderr
    allowed = evaluate(empty, *args, "--model-types", "xgboost", "--allow-fallback")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    rows = strength_rows(allowed.stdout)
    assert "fallback (no_model)" in rows["forrest Production"][1]
    # Without a model the bot is the layer without one: the same games, the same result.
    assert rows["forrest Production"][2] == rows["model-free-layer"][2]

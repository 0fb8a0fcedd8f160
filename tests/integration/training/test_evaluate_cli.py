"""`rps evaluate` against the session's trained registry: one table per family with numbers for
every alias × opponent, and games stored only with ``--persist``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from rps.domain.policy import Family, Policy
from tests.integration.training.conftest import Platform

OPPONENTS = ("cal", "constant", "random")
# Runs the CLI with `evaluate` registered, whether or not rps.cli.main wires it in yet.
RUNNER = """
import sys
from rps.cli.evaluate import register
from rps.cli.main import app

if not any(
    (c.name or getattr(c.callback, "__name__", "")) == "evaluate" for c in app.registered_commands
):
    register(app)
app(sys.argv[1:], prog_name="rps")
"""
PERCENT = r"\d{1,3}\.\d%"


def evaluate(base_env: dict[str, str], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, "evaluate", *args],
        env={**base_env, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def table_rows(stdout: str) -> dict[tuple[Family, str], list[str]]:
    """(family, opponent) → the row's cells, from the rich tables (one titled per family)."""
    titles = {f"{p.family.value} ({p.value})": p.family for p in Policy}
    rows: dict[tuple[Family, str], list[str]] = {}
    family: Family | None = None
    for line in stdout.splitlines():
        if line.strip() in titles:
            family = titles[line.strip()]
            continue
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if family is not None and len(cells) == 9 and cells[2] in OPPONENTS:
            rows[(family, cells[2])] = cells
    return rows


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """A platform with nothing in it: an empty DATA_PATH and its defaults."""
    env = {**os.environ, "DATA_PATH": str(tmp_path / "data"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    for name in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "MODEL_CACHE_URI"):
        env.pop(name, None)
    return env


def games_in(db_path: Path) -> list[sa.Row]:
    engine = sa.create_engine(f"sqlite:///{db_path}")
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT id, source, is_test, player_name, policy, bot_model_alias "
                        "FROM games"
                    )
                )
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def evaluation(trained_platform: Platform, tmp_path_factory: pytest.TempPathFactory):
    """Run once without and once with --persist, each into its own database (the models come
    from the shared platform's registry, which the model manager reads behind the cache)."""
    root = tmp_path_factory.mktemp("evaluate")
    args = ("--opponents", ",".join(OPPONENTS), "--games", "6", "--aliases", "Production")
    plain_db = root / "plain.db"
    plain = evaluate(
        trained_platform.env, *args, "--seed", "3", DATABASE_URL=f"sqlite:///{plain_db}"
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
    return plain, plain_db, persisted, persisted_db


def test_evaluate_prints_a_table_per_family_with_numbers_for_every_opponent(evaluation):
    plain, _, _, _ = evaluation
    assert plain.returncode == 0, plain.stdout + plain.stderr
    rows = table_rows(plain.stdout)
    assert set(rows) == {(f, o) for f in Family for o in OPPONENTS}, plain.stdout
    for (family, opponent), cells in rows.items():
        _alias, model, _, games, rounds, margin, win_rate, interval, accuracy = cells
        assert re.fullmatch(r"v\d+", model), (family, opponent, cells)
        assert games == "6"
        assert int(rounds) >= 6 * 6  # a game lasts at least 6 rounds (≤ 2.0 points a round)
        assert re.fullmatch(r"[+-]\d+\.\d{3}", margin)
        assert re.fullmatch(PERCENT, win_rate)
        assert re.fullmatch(f"{PERCENT}–{PERCENT}", interval)
        assert re.fullmatch(PERCENT, accuracy)
    # Trained on cal's games, the tree models read cal far better than chance.
    cal_accuracy = float(rows[(Family.XGBOOST, "cal")][8].rstrip("%"))
    assert cal_accuracy > 50.0, plain.stdout
    assert "54 games" in plain.stderr
    assert "nothing stored" in plain.stderr


def test_evaluate_stores_nothing_without_persist(evaluation):
    _, plain_db, _, _ = evaluation
    assert not plain_db.exists() or games_in(plain_db) == []


def test_persist_stores_the_games_as_simulated_test_games_named_for_the_opponent(evaluation):
    _, _, persisted, persisted_db = evaluation
    assert persisted.returncode == 0, persisted.stdout + persisted.stderr
    stored = games_in(persisted_db)
    assert len(stored) == 3 * len(OPPONENTS) * 6
    assert {r.source for r in stored} == {"simulated"}
    assert {bool(r.is_test) for r in stored} == {True}
    assert {r.bot_model_alias for r in stored} == {"Production"}
    assert {r.player_name for r in stored} == {"Cal", "constant", "random"}
    assert {r.policy for r in stored} == {p.value for p in Policy}
    assert "stored 54 games" in persisted.stderr


def test_unknown_opponents_exit_2_naming_the_valid_ones(tmp_path):
    result = evaluate(isolated_env(tmp_path), "--opponents", "cal,nobody")
    assert result.returncode == 2
    assert "unknown opponent 'nobody'" in result.stderr
    assert "wsls" in result.stderr


def test_with_no_model_at_all_evaluate_exits_1_unless_fallback_is_allowed(tmp_path):
    empty = isolated_env(tmp_path)  # no registry, no cache
    args = ("--opponents", "constant", "--games", "1", "--aliases", "Production")
    refused = evaluate(empty, *args)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "no model is loaded" in refused.stderr
    allowed = evaluate(empty, *args, "--model-types", "xgboost", "--allow-fallback")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "fallback (no_model)" in allowed.stdout
    assert "n/a (fallback)" in allowed.stdout

"""`rps promote` and DISABLE_AUTO_PROMOTION (SPEC §7): the CronJob and the scheduler run it
unattended, so "disabled" must mean that a run changes nothing, while --force and --dry-run
still work. On a fresh platform every run that applies writes one ledger row per family."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from rps.settings import Settings


def _env(data_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update(COLUMNS="250", NO_COLOR="1", TERM="dumb", DATA_PATH=str(data_path))
    env.update(extra)
    return env


def _rps(*args: str, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "rps.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _ledger(data_path: Path) -> list[tuple[str, str]]:
    engine = create_engine(f"sqlite:///{data_path.resolve() / 'rps.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT decision, source FROM promotion_events")).all()
    finally:
        engine.dispose()
    return [(r[0], r[1]) for r in rows]


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    code, output = _rps("migrate", env=_env(data))
    assert code == 0, output
    return data


def test_disabled_auto_promotion_exits_0_and_changes_nothing(platform: Path) -> None:
    code, output = _rps("promote", env=_env(platform, DISABLE_AUTO_PROMOTION="true"))
    assert code == 0, output
    assert "auto-promotion is disabled (DISABLE_AUTO_PROMOTION=true): nothing changed" in output
    assert _ledger(platform) == []
    # It did not even open the registry.
    assert not (platform / "mlflow.db").exists()


def test_a_dry_run_shows_what_would_happen_while_disabled(platform: Path) -> None:
    code, output = _rps("promote", "--dry-run", env=_env(platform, DISABLE_AUTO_PROMOTION="true"))
    assert code == 0, output
    assert "auto-promotion is disabled" in output
    assert "promotion (dry run: nothing applied)" in output
    assert output.count("insufficient_data") >= 3
    assert _ledger(platform) == []


@pytest.mark.parametrize(
    ("args", "disabled"),
    [(("--force",), "true"), ((), "false")],
    ids=["forced-while-disabled", "enabled"],
)
def test_force_or_an_enabled_setting_runs_promotion(
    platform: Path, args: tuple[str, ...], disabled: str
) -> None:
    code, output = _rps("promote", *args, env=_env(platform, DISABLE_AUTO_PROMOTION=disabled))
    assert code == 0, output
    assert "auto-promotion is disabled" not in output
    assert _ledger(platform) == [("insufficient_data", "rps promote")] * 3

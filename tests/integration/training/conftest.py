"""One small platform for the training tests: persona games in SQLite, a tiny config, and one
`rps train` run into a local MLflow store, done once per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from rps.settings import PACKAGED_TRAINING_CONFIG
from tests.support.limits import LOAD_SETTINGS

REPO = Path(__file__).resolve().parents[3]
SHIPPED_CONFIG = PACKAGED_TRAINING_CONFIG

# Small enough to train 12 models in seconds, big enough to learn cal/hal-like players.
TINY = {
    "feedforward_nn": {"epochs": 25, "patience": 5, "batch_size": 256},
    "multinomial_logistic": {"epochs": 25, "patience": 5, "batch_size": 256},
    "xgboost": {"n_estimators": 40, "early_stopping_rounds": 10},
}


def tiny_config(acceptance: dict | None = None) -> dict:
    config = json.loads(SHIPPED_CONFIG.read_text())
    config.pop("$schema", None)
    for section in config["models"]:
        for entry in section["configs"]:
            entry["hyperparameters"].update(TINY[section["model_type"]])
    if acceptance is not None:
        config["acceptance"] = acceptance
    return config


@dataclass
class Platform:
    root: Path
    env: dict[str, str]
    config_path: Path

    def rps(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "rps.cli.main", *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"rps {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def write_config(self, name: str, config: dict) -> Path:
        path = self.root / name
        path.write_text(json.dumps(config))
        return path


def new_platform(root: Path, games: int = 240) -> Platform:
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / "tiny.json"
    config_path.write_text(json.dumps(tiny_config()))
    env = {
        **os.environ,
        "DATA_PATH": str(root / "data"),
        "TRAINING_CONFIG_PATH": str(config_path),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "RPS_ADMIN_TOKEN": "training-tests-admin-token-0123456789",
        # The gym gate, set explicitly: few games (each candidate still plays every opponent)
        # and no refusal, so these tests know which models get registered; the gate's own
        # tests set it strictly.
        "GATE_GAMES_PER_OPPONENT": "2",
        "ACCEPT_MAX_BELOW_LAYER": "100",
        "ACCEPT_MAX_BELOW_GREEDY": "100",
        # Servers of these tests play many games from one address (SPEC §9: limits set here).
        **LOAD_SETTINGS,
    }
    env.pop("DATABASE_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    platform = Platform(root, env, config_path)
    platform.rps("simulate", "--users", "cal,hal,ace,bob", "--games", str(games), "--seed", "5")
    return platform


@pytest.fixture(scope="session")
def trained_platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    """Persona games plus one full `rps train` of the 12 tiny configs."""
    platform = new_platform(tmp_path_factory.mktemp("trained"))
    result = platform.rps("train")
    platform.train_output = result.stdout + result.stderr  # type: ignore[attr-defined]
    return platform


@pytest.fixture
def fresh_platform(tmp_path: Path) -> Platform:
    return new_platform(tmp_path / "fresh", games=120)

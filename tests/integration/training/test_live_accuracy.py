"""Train/serve parity, live: models trained on cal's games predict cal in real play (§6.6)."""

from __future__ import annotations

import os

import sqlalchemy as sa

from tests.integration.training.conftest import SHIPPED_CONFIG, Platform
from tests.support.server import ServerProcess


def test_forrest_and_brian_predict_cal_live_after_training_on_cal(tmp_path):
    root = tmp_path / "cal"
    root.mkdir()
    env = {
        **os.environ,
        "DATA_PATH": str(root / "data"),
        "TRAINING_CONFIG_PATH": str(SHIPPED_CONFIG),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "RPS_ADMIN_TOKEN": "live-accuracy-admin-token-0123456789",
        "MODEL_POLL_SECONDS": "0",
    }
    env.pop("DATABASE_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    platform = Platform(root, env, SHIPPED_CONFIG)
    platform.rps("simulate", "--users", "cal", "--games", "400", "--seed", "9")
    platform.rps("train", "--config-ids", "xgb-d5,ff-128-64")
    platform.rps("sync-cache")
    with ServerProcess(env) as server:
        platform.rps(
            "simulate", "--users", "cal", "--policies", "forrest,brian",
            "--games", "16", "--via", server.url, "--seed", "10",
        )  # fmt: skip
    engine = sa.create_engine(f"sqlite:///{root / 'data' / 'rps.db'}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT model_type, AVG(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS accuracy, "
                "COUNT(*) AS n FROM alias_predictions WHERE alias = 'Production' "
                "GROUP BY model_type"
            )
        ).all()
    engine.dispose()
    accuracy = {r.model_type: (r.accuracy, r.n) for r in rows}
    for family in ("xgboost", "feedforward_nn"):
        value, n = accuracy[family]
        assert n >= 50, accuracy
        assert value >= 0.90, accuracy

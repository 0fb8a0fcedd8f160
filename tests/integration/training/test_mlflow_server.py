"""Training against a real `mlflow server` (MLFLOW_TRACKING_URI=http://...), as on Kubernetes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from tests.support.server import free_port

MLFLOW = Path(sys.executable).with_name("mlflow")


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [
            str(MLFLOW),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        process.kill()
        raise RuntimeError("mlflow server did not start within 60 s")
    yield url, tmp_path / "server-artifacts"
    process.terminate()
    process.wait(timeout=15)


def test_train_logs_registers_and_aliases_through_a_tracking_server(fresh_platform, mlflow_server):
    url, artifacts = mlflow_server
    result = fresh_platform.rps(
        "train",
        "--config-ids",
        "xgb-d3",
        "--promote-alias",
        "Production",
        MLFLOW_TRACKING_URI=url,
    )
    assert "v1" in result.stdout
    client = MlflowClient(tracking_uri=url)
    version = client.get_model_version_by_alias("rps_bot_xgboost", "Production")
    assert version.version == "1"
    run = client.get_run(version.run_id)
    assert run.data.tags["config_id"] == "xgb-d3"
    # Artifacts went to the server's store, not to the local DATA_PATH.
    assert any(artifacts.rglob("model.onnx"))
    assert not (fresh_platform.root / "data" / "mlartifacts").exists()
    assert not (fresh_platform.root / "data" / "mlflow.db").exists()
    assert shutil.which(str(MLFLOW))

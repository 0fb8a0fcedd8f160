"""`rps sync-cache` against the session's trained registry and the default local cache
($DATA_PATH/model-cache), read back as the web app reads it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from mlflow import MlflowClient

from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.registry.serving_cache import LocalStore, ServingCache
from rps.settings import Settings
from tests.integration.training.conftest import Platform


def sync_cache(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rps.cli.main", "sync-cache", *args],
        env={**env, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def checked(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def synced(trained_platform: Platform) -> tuple[Platform, str]:
    return trained_platform, checked(sync_cache(trained_platform.env))


def cache_of(platform: Platform) -> ServingCache:
    return ServingCache(LocalStore(platform.root / "data" / "model-cache"))


def test_sync_cache_mirrors_the_twelve_aliased_models(synced: tuple[Platform, str]) -> None:
    platform, output = synced
    client = MlflowClient(tracking_uri=f"sqlite:///{platform.root / 'data' / 'mlflow.db'}")
    cache = cache_of(platform)
    manifest = cache.read_manifest()
    assert manifest is not None
    assert set(manifest.models) == {(f, a) for f in Family for a in Alias}
    features = np.random.default_rng(0).random((16, 50), dtype=np.float32)
    for family in Family:
        for alias in Alias:
            target = client.get_model_version_by_alias(REGISTERED_NAMES[family], alias.value)
            loaded = cache.load_model(family, alias, manifest)
            assert (loaded.version, loaded.run_id) == (str(target.version), target.run_id)
            assert hashlib.sha256(loaded.onnx).hexdigest() == loaded.sha256
            # exactly the graph the training run checked against the native model
            run = client.get_run(loaded.run_id)
            assert loaded.sha256 == run.data.tags["onnx_sha256"]
            assert loaded.metadata["feature_version"] == run.data.tags["feature_version"]
            assert len(loaded.metadata["feature_names"]) == 50
            session = ort.InferenceSession(loaded.onnx, providers=["CPUExecutionProvider"])
            (probabilities,) = session.run(
                [loaded.metadata["output"]], {loaded.metadata["input"]: features}
            )
            assert probabilities.shape == (16, 3)
            assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
            assert f"{family.value}@{alias.value}" in output
            assert loaded.sha256[:12] in output
    assert "manifest generation" in output


def test_a_second_sync_with_clean_uploads_and_removes_nothing(
    synced: tuple[Platform, str],
) -> None:
    platform, _ = synced
    store = LocalStore(platform.root / "data" / "model-cache")
    keys = store.list_keys()
    manifest = store.get("manifest.json")
    output = checked(sync_cache(platform.env, "--clean"))
    assert "uploaded 0 runs, reused 12, removed 0 objects" in output
    assert "(unchanged)" in output
    assert store.list_keys() == keys
    assert store.get("manifest.json") == manifest
    assert len(keys) == 1 + 12 * 3  # the manifest, then graph, metadata and marker per run


def test_sync_cache_on_an_empty_registry_exits_1_and_says_why(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update(DATA_PATH=str(tmp_path / "data"), MLFLOW_DISABLE_TELEMETRY="true")
    result = sync_cache(env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no aliased model" in result.stderr
    assert not (tmp_path / "data" / "model-cache" / "manifest.json").exists()

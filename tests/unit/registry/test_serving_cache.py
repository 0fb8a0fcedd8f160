"""The serving cache in a local folder: layout, validation on read, alias moves, clean-up.

The ``check_*`` behaviours take any cache, so the S3 integration tests run the very same ones
against a real S3 server.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.registry.ports import AliasTarget
from rps.registry.serving_cache import (
    MANIFEST_KEY,
    CacheError,
    EmptyRegistry,
    LocalStore,
    ModelKey,
    PublishedModel,
    S3Store,
    ServingCache,
    open_store,
    sha256_hex,
    sync_from_registry,
)

ALL = [(family, alias) for family in Family for alias in Alias]


def fake_model(family: Family, alias: Alias, version: int, rng: random.Random) -> PublishedModel:
    """Random bytes standing in for an ONNX graph, with registry-like metadata."""
    onnx_bytes = rng.randbytes(rng.randint(200, 2000))
    return PublishedModel(
        run_id=f"{family.value[:3]}{version:03d}{rng.getrandbits(48):012x}",
        version=str(version),
        registered_name=REGISTERED_NAMES[family],
        onnx_bytes=onnx_bytes,
        metadata={
            "family": family.value,
            "config_id": f"{family.value}-{alias.value}",
            "feature_names": [f"f{i}" for i in range(50)],
            "feature_version": "v1",
            "onnx_sha256": sha256_hex(onnx_bytes),
            "input": "features",
            "output": "probabilities",
        },
    )


def fake_set(seed: int = 0) -> dict[ModelKey, PublishedModel]:
    """Twelve models: family × alias, versions 1-4 per family."""
    rng = random.Random(seed)
    return {
        (family, alias): fake_model(family, alias, index + 1, rng)
        for family in Family
        for index, alias in enumerate(Alias)
    }


def new_cache(store: Any) -> ServingCache:
    return ServingCache(store, REGISTERED_NAMES)


def run_keys(cache: ServingCache, run_id: str) -> set[str]:
    return set(cache.store.list_keys(f"{run_id}/"))


# Behaviours shared with tests/integration/test_s3_serving_cache.py.


def check_publish_then_load_every_model(cache: ServingCache) -> None:
    models = fake_set()
    summary = cache.publish(models)
    assert len(summary.uploaded) == 12
    assert summary.reused == ()
    assert summary.generation == 1
    for (family, alias), published in models.items():
        loaded = cache.load_model(family, alias)
        assert loaded.onnx == published.onnx_bytes
        assert loaded.sha256 == sha256_hex(published.onnx_bytes)
        assert (loaded.run_id, loaded.version) == (published.run_id, published.version)
        assert loaded.registered_name == REGISTERED_NAMES[family]
        assert loaded.metadata["family"] == family.value
        assert loaded.metadata["registered_name"] == REGISTERED_NAMES[family]
        assert loaded.metadata["version"] == published.version
        assert loaded.metadata["run_id"] == published.run_id
        assert loaded.metadata["sha256"] == loaded.sha256
        assert loaded.metadata["feature_names"] == [f"f{i}" for i in range(50)]
        assert loaded.metadata["config_id"] == f"{family.value}-{alias.value}"
        assert (loaded.metadata["input"], loaded.metadata["output"]) == (
            "features",
            "probabilities",
        )


def check_manifest_maps_every_alias_and_generation_grows(cache: ServingCache) -> None:
    models = fake_set()
    cache.publish(models)
    manifest = cache.read_manifest()
    assert manifest is not None
    assert manifest.generation == 1
    assert set(manifest.models) == set(ALL)
    document = json.loads(cache.store.get(MANIFEST_KEY) or b"")
    assert document["models"]["xgboost@Production"] == {
        "run_id": models[(Family.XGBOOST, Alias.PRODUCTION)].run_id,
        "version": "1",
        "sha256": sha256_hex(models[(Family.XGBOOST, Alias.PRODUCTION)].onnx_bytes),
        "registered_name": "rps_bot_xgboost",
    }
    assert document["written_at"]
    moved = dict(models)
    moved[(Family.XGBOOST, Alias.PRODUCTION)] = fake_model(
        Family.XGBOOST, Alias.PRODUCTION, 5, random.Random(1)
    )
    assert cache.publish(moved).generation == 2
    assert cache.publish(models).generation == 3
    manifest = cache.read_manifest()
    assert manifest is not None
    assert manifest.generation == 3


def check_markers_name_model_alias_and_version(cache: ServingCache) -> None:
    models = fake_set()
    models[(Family.XGBOOST, Alias.PRODUCTION)] = fake_model(
        Family.XGBOOST, Alias.PRODUCTION, 94, random.Random(2)
    )
    cache.publish(models)
    run_id = models[(Family.XGBOOST, Alias.PRODUCTION)].run_id
    assert cache.store.get(f"{run_id}/.alias_Production") == b"rps_bot_xgboost@Production v94"
    for (family, alias), published in models.items():
        assert run_keys(cache, published.run_id) == {
            f"{published.run_id}/model/model.onnx",
            f"{published.run_id}/model/metadata.json",
            f"{published.run_id}/.alias_{alias.value}",
        }
        marker = cache.store.get(f"{published.run_id}/.alias_{alias.value}")
        assert marker == f"{REGISTERED_NAMES[family]}@{alias.value} v{published.version}".encode()


def check_marker_naming_another_model_is_refused(cache: ServingCache) -> None:
    models = fake_set()
    cache.publish(models)
    run_id = models[(Family.XGBOOST, Alias.B)].run_id
    cache.store.put(f"{run_id}/.alias_B", b"rps_bot_feedforward@B v2")
    with pytest.raises(CacheError, match=r"names model rps_bot_feedforward.*another family"):
        cache.load_model(Family.XGBOOST, Alias.B)
    cache.store.put(f"{run_id}/.alias_B", b"rps_bot_xgboost@B v7")
    with pytest.raises(CacheError, match=r"v7, manifest says v2"):
        cache.load_model(Family.XGBOOST, Alias.B)
    cache.store.put(f"{run_id}/.alias_B", b"whatever")
    with pytest.raises(CacheError, match=r"malformed"):
        cache.load_model(Family.XGBOOST, Alias.B)
    cache.store.delete(f"{run_id}/.alias_B")
    with pytest.raises(CacheError, match=r"marker .* is missing"):
        cache.load_model(Family.XGBOOST, Alias.B)
    # the other eleven are untouched
    for family, alias in ALL:
        if (family, alias) != (Family.XGBOOST, Alias.B):
            cache.load_model(family, alias)


def check_corrupt_bytes_are_detected(cache: ServingCache) -> None:
    models = fake_set()
    cache.publish(models)
    published = models[(Family.FEEDFORWARD_NN, Alias.SHADOW1)]
    damaged = bytearray(published.onnx_bytes)
    damaged[10] ^= 0xFF
    cache.store.put(f"{published.run_id}/model/model.onnx", bytes(damaged))
    with pytest.raises(CacheError, match=r"sha256.*corrupt"):
        cache.load_model(Family.FEEDFORWARD_NN, Alias.SHADOW1)
    cache.store.delete(f"{published.run_id}/model/model.onnx")
    with pytest.raises(CacheError, match=r"model.onnx is missing"):
        cache.load_model(Family.FEEDFORWARD_NN, Alias.SHADOW1)
    # a sync puts the right bytes back and tells readers (a new generation)
    summary = cache.publish(models)
    assert summary.uploaded == (published.run_id,)
    assert summary.generation == 2
    assert cache.load_model(Family.FEEDFORWARD_NN, Alias.SHADOW1).onnx == published.onnx_bytes


def check_missing_entry_or_manifest_is_an_error(cache: ServingCache) -> None:
    with pytest.raises(CacheError, match=r"no manifest.json"):
        cache.load_model(Family.XGBOOST, Alias.PRODUCTION)
    assert cache.read_manifest() is None
    models = fake_set()
    del models[(Family.MULTINOMIAL_LOGISTIC, Alias.SHADOW2)]
    cache.publish(models)
    with pytest.raises(CacheError, match=r"multinomial_logistic@shadow2 is not in the cache"):
        cache.load_model(Family.MULTINOMIAL_LOGISTIC, Alias.SHADOW2)


def check_alias_move_rewrites_markers_and_clean_removes_exactly_the_orphans(
    cache: ServingCache,
) -> None:
    models = fake_set()
    cache.publish(models)
    before = set(cache.store.list_keys())
    old_production = models[(Family.XGBOOST, Alias.PRODUCTION)]
    old_b = models[(Family.XGBOOST, Alias.B)]
    shadow1 = models[(Family.XGBOOST, Alias.SHADOW1)]
    new_production = fake_model(Family.XGBOOST, Alias.PRODUCTION, 5, random.Random(3))
    moved = dict(models)
    moved[(Family.XGBOOST, Alias.PRODUCTION)] = new_production
    moved[(Family.XGBOOST, Alias.B)] = shadow1  # B now shares shadow1's run

    # Without clean: the markers follow the aliases; the orphans' objects stay.
    summary = cache.publish(moved)
    assert summary.uploaded == (new_production.run_id,)
    assert set(summary.removed) == {
        f"{old_production.run_id}/.alias_Production",
        f"{old_b.run_id}/.alias_B",
    }
    assert cache.store.get(f"{new_production.run_id}/.alias_Production") == (
        b"rps_bot_xgboost@Production v5"
    )
    assert cache.store.get(f"{shadow1.run_id}/.alias_B") == b"rps_bot_xgboost@B v3"
    assert cache.store.get(f"{shadow1.run_id}/.alias_shadow1") == b"rps_bot_xgboost@shadow1 v3"
    assert run_keys(cache, old_production.run_id) == {
        f"{old_production.run_id}/model/model.onnx",
        f"{old_production.run_id}/model/metadata.json",
    }

    # With clean: exactly the orphaned runs' remaining objects go, one key at a time.
    summary = cache.publish(moved, clean=True)
    orphans = {
        f"{run.run_id}/model/{name}"
        for run in (old_production, old_b)
        for name in ("model.onnx", "metadata.json")
    }
    assert set(summary.removed) == orphans
    assert summary.uploaded == ()
    after = set(cache.store.list_keys())
    assert after == (before - orphans - set(summary.removed)) - {
        f"{old_production.run_id}/.alias_Production",
        f"{old_b.run_id}/.alias_B",
    } | {
        f"{new_production.run_id}/model/model.onnx",
        f"{new_production.run_id}/model/metadata.json",
        f"{new_production.run_id}/.alias_Production",
        f"{shadow1.run_id}/.alias_B",
    }
    assert run_keys(cache, old_production.run_id) == set()
    assert run_keys(cache, old_b.run_id) == set()
    for family, alias in ALL:
        loaded = cache.load_model(family, alias)
        assert loaded.onnx == moved[(family, alias)].onnx_bytes


def check_publish_is_idempotent(cache: ServingCache) -> None:
    models = fake_set()
    first = cache.publish(models, clean=True)
    keys = set(cache.store.list_keys())
    manifest = cache.store.get(MANIFEST_KEY)
    second = cache.publish(models, clean=True)
    assert second.uploaded == ()
    assert len(second.reused) == 12
    assert second.removed == ()
    assert not second.changed
    assert second.generation == first.generation
    assert set(cache.store.list_keys()) == keys
    assert cache.store.get(MANIFEST_KEY) == manifest  # not even rewritten


BEHAVIOURS = [
    check_publish_then_load_every_model,
    check_manifest_maps_every_alias_and_generation_grows,
    check_markers_name_model_alias_and_version,
    check_marker_naming_another_model_is_refused,
    check_corrupt_bytes_are_detected,
    check_missing_entry_or_manifest_is_an_error,
    check_alias_move_rewrites_markers_and_clean_removes_exactly_the_orphans,
    check_publish_is_idempotent,
]


@pytest.fixture
def cache(tmp_path: Path) -> ServingCache:
    return new_cache(LocalStore(tmp_path / "model-cache"))


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.__name__.removeprefix("check_"))
def test_local_cache_behaviour(behaviour: Any, cache: ServingCache) -> None:
    behaviour(cache)


# Local-only details.


def test_manifest_entry_naming_another_family_is_refused(cache: ServingCache) -> None:
    cache.publish(fake_set())
    path = Path(cache.store.uri.removeprefix("file://")) / MANIFEST_KEY
    document = json.loads(path.read_text())
    document["models"]["xgboost@B"]["registered_name"] = "rps_bot_mnlogit"
    path.write_text(json.dumps(document))
    with pytest.raises(CacheError, match=r"rps_bot_mnlogit.*another family"):
        cache.load_model(Family.XGBOOST, Alias.B)


def test_publishing_another_family_model_under_a_family_is_refused(cache: ServingCache) -> None:
    models = fake_set()
    feedforward = models[(Family.FEEDFORWARD_NN, Alias.PRODUCTION)]
    models[(Family.XGBOOST, Alias.PRODUCTION)] = feedforward
    with pytest.raises(CacheError, match=r"rps_bot_feedforward is not xgboost's"):
        cache.publish(models)
    assert cache.store.list_keys() == []


def test_publishing_a_graph_whose_sha256_differs_from_its_metadata_is_refused(
    cache: ServingCache,
) -> None:
    models = fake_set()
    good = models[(Family.XGBOOST, Alias.B)]
    models[(Family.XGBOOST, Alias.B)] = PublishedModel(
        good.run_id, good.version, good.registered_name, good.onnx_bytes + b"x", good.metadata
    )
    with pytest.raises(CacheError, match=r"sha256 differs"):
        cache.publish(models)


def test_an_unreadable_manifest_is_an_error_and_a_publish_replaces_it(
    cache: ServingCache,
) -> None:
    models = fake_set()
    cache.publish(models)
    cache.store.put(MANIFEST_KEY, b"{not json")
    with pytest.raises(CacheError, match=r"unreadable manifest.json"):
        cache.read_manifest()
    summary = cache.publish(models)
    assert summary.changed
    assert cache.load_model(Family.XGBOOST, Alias.B).version == "2"


def test_local_store_writes_through_a_temporary_file_and_leaves_none(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "cache")
    store.put("run/model/model.onnx", b"one")
    store.put("run/model/model.onnx", b"two")
    store.put("manifest.json", b"{}")
    assert store.get("run/model/model.onnx") == b"two"
    assert store.get("run/missing") is None
    assert store.get("run/model/model.onnx/deeper") is None
    # a writer's temporary file, caught mid-write, is not a key
    (tmp_path / "cache" / "run" / ".tmp-abc").write_bytes(b"partial")
    assert store.list_keys() == ["manifest.json", "run/model/model.onnx"]
    assert store.list_keys("run/") == ["run/model/model.onnx"]
    store.delete("run/model/model.onnx")
    store.delete("run/model/model.onnx")  # deleting what is gone is fine
    assert not (tmp_path / "cache" / "run" / "model").exists()  # empty folders go too
    assert (tmp_path / "cache").is_dir()


@pytest.mark.parametrize("key", ["", "/abs", "../escape", "a/../../b", "a//b", "./a"])
def test_local_store_refuses_keys_outside_its_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match=r"invalid cache key"):
        LocalStore(tmp_path).put(key, b"x")


def test_open_store_reads_file_and_s3_uris(tmp_path: Path) -> None:
    local = open_store((tmp_path / "my cache").as_uri())
    assert isinstance(local, LocalStore)
    assert local.root == tmp_path / "my cache"
    s3 = open_store(
        "s3://models-bucket/rps/cache/",
        endpoint="http://minio:9000",
        access_key="key",
        secret_key="secret",
    )
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == (
        "models-bucket",
        "rps/cache/",
        "http://minio:9000",
    )
    assert s3.uri == "s3://models-bucket/rps/cache/ at http://minio:9000"
    bare = open_store("s3://bucket")
    assert isinstance(bare, S3Store)
    assert bare.prefix == ""


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gs://bucket/models", "unsupported model cache URI 'gs://bucket/models'"),
        ("/plain/path", "unsupported model cache URI '/plain/path'"),
        ("s3:///prefix-only", "names no bucket"),
        ("file://host/path", "needs no host"),
    ],
)
def test_open_store_refuses_what_it_cannot_serve(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(uri)


def test_an_s3_access_key_without_its_secret_is_refused() -> None:
    with pytest.raises(ValueError, match=r"access key needs its secret key"):
        open_store("s3://bucket/models", access_key="key")


def test_the_reading_side_imports_neither_mlflow_nor_torch_nor_boto3() -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rps.registry.serving_cache import ServingCache, open_store\n"
        "ServingCache(open_store(Path('.').resolve().as_uri())).read_manifest()\n"
        "heavy = {'mlflow', 'torch', 'xgboost', 'onnx', 'onnxruntime', 'boto3', 'botocore'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


class FakeRegistry:
    """Aliases over a fixed set of models; counts downloads."""

    def __init__(self, models: dict[ModelKey, PublishedModel]) -> None:
        self.models = models
        self.downloads: list[str] = []

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None:
        found = self.models.get((family, alias))
        if found is None:
            return None
        return AliasTarget(family, alias, found.registered_name, found.version, found.run_id)

    def serving_model(self, run_id: str) -> tuple[bytes, dict[str, Any]]:
        self.downloads.append(run_id)
        found = next(m for m in self.models.values() if m.run_id == run_id)
        return found.onnx_bytes, found.metadata


def test_sync_mirrors_the_registry_aliases_and_reports_the_empty_ones(
    cache: ServingCache,
) -> None:
    models = fake_set()
    del models[(Family.FEEDFORWARD_NN, Alias.SHADOW2)]
    models[(Family.XGBOOST, Alias.B)] = models[(Family.XGBOOST, Alias.PRODUCTION)]
    registry = FakeRegistry(models)
    summary = sync_from_registry(registry, cache, clean=True)
    assert summary.empty == ((Family.FEEDFORWARD_NN, Alias.SHADOW2),)
    assert set(summary.targets) == set(models)
    assert sorted(registry.downloads) == sorted({m.run_id for m in models.values()})
    assert len(summary.published.uploaded) == 10
    assert cache.load_model(Family.XGBOOST, Alias.B).version == "1"
    again = sync_from_registry(registry, cache, clean=True)
    assert again.published.uploaded == ()
    assert not again.published.changed


def test_sync_refuses_an_empty_registry_and_leaves_the_cache_alone(
    cache: ServingCache,
) -> None:
    cache.publish(fake_set())
    keys = cache.store.list_keys()
    with pytest.raises(EmptyRegistry, match=r"no aliased model"):
        sync_from_registry(FakeRegistry({}), cache, clean=True)
    assert cache.store.list_keys() == keys

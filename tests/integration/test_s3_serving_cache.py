"""The serving cache on a real S3 server (moto's standalone server, started once per module):
the same behaviours as the local folder, deletes one object at a time, credentials checked."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from rps.domain.policy import Alias, Family
from rps.registry.serving_cache import CacheError, S3Store, open_store
from tests.support.s3 import ADMIN_CREDENTIALS as ADMIN
from tests.support.s3 import S3Server, S3ServerError
from tests.support.server import free_port
from tests.unit.registry.test_serving_cache import BEHAVIOURS, fake_model, fake_set, new_cache

PREFIX = "models/"
OUTSIDE_KEY = "elsewhere/keep-me.txt"  # in the bucket, outside the cache's prefix


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        server.start()
    except S3ServerError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A fresh bucket per test, with one object outside the cache's prefix."""
    name = f"cache-{uuid.uuid4().hex[:12]}"
    client = s3_server.client()
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key=OUTSIDE_KEY, Body=b"not the cache's")
    return name


def s3_store(server: S3Server, bucket: str, **credentials: str) -> S3Store:
    store = open_store(
        f"s3://{bucket}/{PREFIX}",
        endpoint=server.endpoint,
        access_key=credentials.get("access_key", ADMIN["aws_access_key_id"]),
        secret_key=credentials.get("secret_key", ADMIN["aws_secret_access_key"]),
    )
    assert isinstance(store, S3Store)
    return store


def bucket_keys(server: S3Server, bucket: str) -> set[str]:
    response = server.client().list_objects_v2(Bucket=bucket)
    return {obj["Key"] for obj in response.get("Contents", [])}


def record_operations(store: S3Store) -> list[str]:
    """The name of every S3 operation the store's client sends, as it sends it."""
    operations: list[str] = []

    def record(model: Any, **_: Any) -> None:
        operations.append(model.name)

    store.client.meta.events.register("before-call.s3", record)
    return operations


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.__name__.removeprefix("check_"))
def test_s3_cache_behaviour(behaviour: Any, s3_server: S3Server, bucket: str) -> None:
    store = s3_store(s3_server, bucket)
    operations = record_operations(store)
    behaviour(new_cache(store))
    assert "DeleteObjects" not in operations
    keys = bucket_keys(s3_server, bucket)
    assert OUTSIDE_KEY in keys
    assert all(key.startswith(PREFIX) for key in keys - {OUTSIDE_KEY})


def test_the_cache_lives_under_its_prefix_in_the_bucket(s3_server: S3Server, bucket: str) -> None:
    cache = new_cache(s3_store(s3_server, bucket))
    models = fake_set()
    cache.publish(models)
    production = models[(Family.XGBOOST, Alias.PRODUCTION)]
    keys = bucket_keys(s3_server, bucket)
    assert f"{PREFIX}manifest.json" in keys
    assert f"{PREFIX}{production.run_id}/model/model.onnx" in keys
    assert f"{PREFIX}{production.run_id}/model/metadata.json" in keys
    assert f"{PREFIX}{production.run_id}/.alias_Production" in keys
    assert len(keys) == 1 + 12 * 3 + 1  # manifest, 12 runs × 3 objects, the outside object
    marker = s3_server.client().get_object(
        Bucket=bucket, Key=f"{PREFIX}{production.run_id}/.alias_Production"
    )
    assert marker["Body"].read() == b"rps_bot_xgboost@Production v1"


def test_clean_deletes_orphans_one_object_at_a_time(s3_server: S3Server, bucket: str) -> None:
    store = s3_store(s3_server, bucket)
    cache = new_cache(store)
    models = fake_set()
    cache.publish(models)
    old = models[(Family.FEEDFORWARD_NN, Alias.B)]
    moved = dict(models)
    moved[(Family.FEEDFORWARD_NN, Alias.B)] = fake_model(
        Family.FEEDFORWARD_NN, Alias.B, 9, random.Random(9)
    )
    operations = record_operations(store)
    summary = cache.publish(moved, clean=True)
    assert set(summary.removed) == {
        f"{old.run_id}/model/model.onnx",
        f"{old.run_id}/model/metadata.json",
        f"{old.run_id}/.alias_B",
    }
    assert operations.count("DeleteObject") == len(summary.removed) == 3
    assert "DeleteObjects" not in operations
    assert not any(
        key.startswith(f"{PREFIX}{old.run_id}/") for key in bucket_keys(s3_server, bucket)
    )
    assert cache.load_model(Family.FEEDFORWARD_NN, Alias.B).version == "9"


def test_a_reader_with_wrong_credentials_gets_a_clear_error(
    s3_server: S3Server, bucket: str
) -> None:
    iam = s3_server.client("iam")
    user = f"cache-reader-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    iam.put_user_policy(
        UserName=user,
        PolicyName="serving-cache",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    new_cache(s3_store(s3_server, bucket)).publish(fake_set())
    s3_server.require_credentials(True)
    try:
        good = new_cache(
            s3_store(
                s3_server, bucket, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
            )
        )
        assert good.load_model(Family.XGBOOST, Alias.SHADOW2).version == "4"
        unknown_key = new_cache(
            s3_store(s3_server, bucket, access_key="AKIAUNKNOWNKEY000000", secret_key="nope")
        )
        with pytest.raises(CacheError, match=r"InvalidAccessKeyId.*check MINIO_ACCESS_KEY"):
            unknown_key.read_manifest()
        wrong_secret = new_cache(
            s3_store(s3_server, bucket, access_key=key["AccessKeyId"], secret_key="wrong")
        )
        with pytest.raises(CacheError, match=r"SignatureDoesNotMatch.*check MINIO_ACCESS_KEY"):
            wrong_secret.load_model(Family.XGBOOST, Alias.SHADOW2)
    finally:
        s3_server.require_credentials(False)


def test_a_missing_bucket_or_an_unreachable_endpoint_is_a_cache_error(
    s3_server: S3Server,
) -> None:
    missing = new_cache(s3_store(s3_server, "no-such-bucket-here"))
    with pytest.raises(CacheError, match=r"NoSuchBucket"):
        missing.read_manifest()
    unreachable = new_cache(
        open_store(
            "s3://bucket/models",
            endpoint=f"http://127.0.0.1:{free_port()}",
            access_key="a",
            secret_key="b",
        )
    )
    with pytest.raises(CacheError, match=r"cannot read manifest.json in s3://bucket/models/"):
        unreachable.read_manifest()

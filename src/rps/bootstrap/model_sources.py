"""The two places the web process loads models from (SPEC §6.1): the serving cache, then the
registry. Adapters from the registry package to the model manager's ``ModelSource`` port."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.registry.mlflow_registry import MlflowRegistry
from rps.registry.serving_cache import CacheError, Manifest, ServingCache, open_store
from rps.serving.model_manager import FetchedModel, ModelUnavailableError
from rps.settings import Settings, export_serving_client_defaults

log = logging.getLogger(__name__)


def build_registry(settings: Settings) -> MlflowRegistry:
    """The MLflow registry the settings name (MLflow itself is imported on first use)."""
    return MlflowRegistry(
        tracking_uri=settings.mlflow_tracking_uri,
        experiment_name=settings.MLFLOW_EXPERIMENT_NAME,
        artifact_location=settings.mlflow_artifact_location,
        registered_names=REGISTERED_NAMES,
    )


def build_serving_cache(settings: Settings) -> ServingCache:
    """The cache ``MODEL_CACHE_URI`` names, with ``MINIO_*`` for an S3 endpoint and its keys."""

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    store = open_store(
        settings.model_cache_uri,
        endpoint=settings.MINIO_ENDPOINT,
        access_key=secret(settings.MINIO_ACCESS_KEY),
        secret_key=secret(settings.MINIO_SECRET_KEY),
    )
    return ServingCache(store, REGISTERED_NAMES)


class CacheSource:
    """The serving cache (a local folder or S3/MinIO): the 12 aliased models and a manifest."""

    name = "cache"

    def __init__(self, cache: ServingCache) -> None:
        self._cache = cache
        self._manifest: Manifest | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> CacheSource:
        return cls(build_serving_cache(settings))

    def generation(self) -> int | None:
        manifest = self._cache.read_manifest()
        self._manifest = manifest
        return manifest.generation if manifest else None

    def fetch(self, family: Family, alias: Alias) -> FetchedModel:
        manifest = self._manifest or self._cache.read_manifest()
        if manifest is None:
            raise ModelUnavailableError("no_model", "the serving cache has no manifest yet")
        if (family, alias) not in manifest.models:
            raise ModelUnavailableError("no_model", "the manifest lists no such model")
        try:
            cached = self._cache.load_model(family, alias, manifest)
        except CacheError as exc:
            raise ModelUnavailableError("load_failed", str(exc)) from exc
        return FetchedModel(
            cached.onnx, cached.version, cached.run_id, cached.sha256, cached.metadata
        )


class RegistrySource:
    """``models:/name@alias`` from MLflow, when the cache cannot answer.

    A registry that cannot be reached is not asked again for ``RETRY_AFTER_S`` seconds, so a
    reload with a tracking server down costs one failed call, not twelve slow ones.
    """

    name = "registry"
    RETRY_AFTER_S = 30.0

    def __init__(
        self,
        registry: MlflowRegistry,
        local_store: Path | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._local_store = local_store
        self._clock = clock
        self._down_until = 0.0
        self._down_reason = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistrySource:
        export_serving_client_defaults()
        registry = build_registry(settings)
        local = None if settings.MLFLOW_TRACKING_URI else settings.DATA_PATH / "mlflow.db"
        return cls(registry, local)

    def generation(self) -> int | None:
        return None

    def fetch(self, family: Family, alias: Alias) -> FetchedModel:
        if self._local_store is not None and not self._local_store.exists():
            # No local registry yet: say so without creating an empty store.
            raise ModelUnavailableError("no_model", "nothing has been trained yet")
        if self._clock() < self._down_until:
            raise ModelUnavailableError("source_unreachable", self._down_reason)
        try:
            target = self._registry.alias_target(family, alias)
            if target is None:
                raise ModelUnavailableError(
                    "no_model", f"{REGISTERED_NAMES[family]}@{alias.value} is not set"
                )
            onnx, metadata = self._registry.serving_model(target.run_id)
        except ModelUnavailableError:
            raise
        except Exception as exc:
            self._down_until = self._clock() + self.RETRY_AFTER_S
            self._down_reason = f"registry unreachable: {str(exc)[:200]}"
            log.warning("model registry: %s", self._down_reason)
            raise ModelUnavailableError("source_unreachable", self._down_reason) from exc
        sha256 = hashlib.sha256(onnx).hexdigest()
        return FetchedModel(onnx, target.version, target.run_id, sha256, metadata)

"""The serving cache (SPEC §6.3): a mirror of exactly the aliased models, in a local folder or an
S3 bucket (MinIO), from which the web app loads without MLflow, torch or xgboost.

Layout under the cache root (``file:///path`` or ``s3://bucket/prefix``)::

    {run_id}/model/model.onnx      the serving graph (self-contained ONNX)
    {run_id}/model/metadata.json   family, registered name, version, run id, config id,
                                   feature names and version, sha256, input/output names
    {run_id}/.alias_{alias}        marker: "rps_bot_xgboost@Production v94"
    manifest.json                  generation + family@alias → run id, version, sha256

The manifest is written after everything it names, so a reader that reads the manifest first
and then the objects it names never sees a half-swapped set. Reading needs only the standard
library (and boto3 for S3): this module imports nothing heavy, and boto3 only when an S3 store
is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.registry.ports import AliasTarget

log = logging.getLogger(__name__)

MANIFEST_KEY = "manifest.json"
MODEL_KEY = "model/model.onnx"
METADATA_KEY = "model/metadata.json"
MARKER_PREFIX = ".alias_"
_TEMP_PREFIX = ".tmp-"
_MARKER = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)@(?P<alias>[A-Za-z0-9_]+) v(?P<version>\d+)$")

ModelKey = tuple[Family, Alias]


class CacheError(RuntimeError):
    """The cache cannot be read or written, or what it holds fails validation."""


class EmptyRegistry(CacheError):
    """The registry has no alias at all: there is nothing to mirror."""


# Stores: bytes under string keys ("a/b/c", relative to the cache root).


class CacheStore(Protocol):
    @property
    def uri(self) -> str:
        """Where the store lives, for messages."""
        ...

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key starting with ``prefix``, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove one object; a missing one is not an error."""
        ...


class LocalStore:
    """A folder. Writes go to a temporary file beside the target, then ``os.replace``, so a
    reader sees the old or the new object, never half of one."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def uri(self) -> str:
        return self.root.resolve().as_uri()

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid cache key {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise CacheError(f"cannot write {key} in {self.uri}: {exc}") from exc

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise CacheError(f"cannot read {key} in {self.uri}: {exc}") from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(_TEMP_PREFIX):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot delete {key} in {self.uri}: {exc}") from exc
        # Empty run folders would otherwise pile up; rmdir refuses non-empty ones.
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


class S3Store:
    """A bucket and key prefix on S3 or MinIO.

    Path-style addressing, because MinIO and moto serve buckets under the endpoint's path.
    Deletes are one ``DeleteObject`` per key: MinIO refuses the batch ``DeleteObjects`` request
    without a Content-MD5 header, which current boto3 no longer sends. Missing keys mean boto3's
    own credential chain (``AWS_*`` variables, config files, instance roles); there are no
    defaults here.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        if bool(access_key) != bool(secret_key):
            raise ValueError(
                "an S3 access key needs its secret key, and a secret key its access key"
            )
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self._access_key = access_key or None
        self._secret_key = secret_key or None
        self._client: Any = None

    @property
    def uri(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    @property
    def client(self) -> Any:
        """The boto3 client, built on first use (boto3 is imported only then)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                aws_access_key_id=self._access_key,
                aws_secret_access_key=self._secret_key,
                config=Config(
                    s3={"addressing_style": "path"},
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            )
        return self._client

    def _failure(self, action: str, key: str, exc: Exception) -> CacheError:
        code = _error_code(exc)
        hint = ""
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
            hint = " (check MINIO_ACCESS_KEY / MINIO_SECRET_KEY or the AWS credentials)"
        elif code in ("NoSuchBucket", "404") and not key:
            hint = " (the bucket does not exist)"
        return CacheError(f"cannot {action} {key or 'objects'} in {self.uri}: {exc}{hint}")

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except Exception as exc:  # botocore raises ClientError and connection errors alike
            raise self._failure("write", key, exc) from exc

    def get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            body: bytes = response["Body"].read()
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._failure("read", key, exc) from exc
        return body

    def list_keys(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                keys.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []))
        except Exception as exc:
            raise self._failure("list", prefix, exc) from exc
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as exc:
            raise self._failure("delete", key, exc) from exc


def _error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def open_store(
    uri: str,
    *,
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> CacheStore:
    """The store for ``file:///path`` or ``s3://bucket/prefix`` (``endpoint`` and the keys are
    used for S3 only)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"model cache URI {uri!r}: a file URI needs no host (file:///path)")
        return LocalStore(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"model cache URI {uri!r} names no bucket (s3://bucket/prefix)")
        return S3Store(
            parsed.netloc,
            parsed.path.strip("/"),
            endpoint_url=endpoint or None,
            access_key=access_key,
            secret_key=secret_key,
        )
    raise ValueError(
        f"unsupported model cache URI {uri!r}: expected s3://bucket/prefix or file:///path"
    )


# What the cache holds.


def model_label(family: Family, alias: Alias) -> str:
    """``xgboost@Production``: the manifest's key for a model."""
    return f"{family.value}@{alias.value}"


def _parse_label(label: str) -> ModelKey:
    family, sep, alias = label.partition("@")
    if not sep:
        raise ValueError(f"not family@alias: {label!r}")
    return Family(family), Alias(alias)


def marker_key(run_id: str, alias: Alias) -> str:
    return f"{run_id}/{MARKER_PREFIX}{alias.value}"


def marker_text(registered_name: str, alias: Alias, version: str) -> str:
    return f"{registered_name}@{alias.value} v{version}"


@dataclass(frozen=True, slots=True)
class Marker:
    registered_name: str
    alias: str
    version: str

    @classmethod
    def parse(cls, text: str) -> Marker:
        found = _MARKER.match(text.strip())
        if found is None:
            raise ValueError(f"not a marker ('name@alias vN'): {text[:80]!r}")
        return cls(found["name"], found["alias"], found["version"])


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    run_id: str
    version: str
    sha256: str
    registered_name: str


@dataclass(frozen=True, slots=True)
class Manifest:
    generation: int
    written_at: datetime
    models: dict[ModelKey, ManifestEntry]

    def to_json(self) -> bytes:
        document = {
            "generation": self.generation,
            "written_at": self.written_at.isoformat(),
            "models": {
                model_label(family, alias): {
                    "run_id": e.run_id,
                    "version": e.version,
                    "sha256": e.sha256,
                    "registered_name": e.registered_name,
                }
                for (family, alias), e in sorted(self.models.items())
            },
        }
        return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        document = json.loads(data)
        models = {
            _parse_label(label): ManifestEntry(
                run_id=str(entry["run_id"]),
                version=str(entry["version"]),
                sha256=str(entry["sha256"]),
                registered_name=str(entry["registered_name"]),
            )
            for label, entry in document["models"].items()
        }
        return cls(
            generation=int(document["generation"]),
            written_at=datetime.fromisoformat(document["written_at"]),
            models=models,
        )

    @property
    def run_ids(self) -> set[str]:
        return {entry.run_id for entry in self.models.values()}


@dataclass(frozen=True, slots=True)
class CachedModel:
    """One validated model read from the cache."""

    family: Family
    alias: Alias
    registered_name: str
    version: str
    run_id: str
    sha256: str
    onnx: bytes
    metadata: dict[str, Any]
    generation: int


@dataclass(frozen=True, slots=True)
class PublishedModel:
    """One model to put in the cache: the serving graph and its metadata from the registry."""

    run_id: str
    version: str
    registered_name: str
    onnx_bytes: bytes
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PublishSummary:
    uploaded: tuple[str, ...]  # run ids whose objects were written
    reused: tuple[str, ...]  # run ids already present with the same sha256 and metadata
    removed: tuple[str, ...]  # keys deleted (stale markers, and with clean the orphaned runs)
    generation: int
    changed: bool  # False: the cache already held exactly this set, the manifest was kept
    manifest: Manifest


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ServingCache:
    """Reads and writes the cache in one store.

    ``registered_names`` maps each family to its registered model name (SPEC §5 by default): a
    marker or manifest entry naming another model is refused, so one family can never be served
    another's model.
    """

    def __init__(
        self, store: CacheStore, registered_names: Mapping[Family, str] = REGISTERED_NAMES
    ) -> None:
        self.store = store
        self._names = dict(registered_names)

    # Reading.

    def read_manifest(self) -> Manifest | None:
        data = self.store.get(MANIFEST_KEY)
        if data is None:
            return None
        try:
            return Manifest.from_json(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CacheError(f"unreadable {MANIFEST_KEY} in {self.store.uri}: {exc}") from exc

    def load_model(
        self, family: Family, alias: Alias, manifest: Manifest | None = None
    ) -> CachedModel:
        """The model behind family@alias, validated against the manifest (pass one to load a
        whole set from the same generation): the marker names the family's model and the
        manifest's version, and the bytes have the manifest's sha256. Raises CacheError."""
        label = model_label(family, alias)
        if manifest is None:
            manifest = self.read_manifest()
            if manifest is None:
                raise CacheError(f"{self.store.uri} has no {MANIFEST_KEY}: run `rps sync-cache`")
        entry = manifest.models.get((family, alias))
        if entry is None:
            raise CacheError(
                f"{label} is not in the cache manifest (generation {manifest.generation})"
            )
        expected_name = self._names[family]
        if entry.registered_name != expected_name:
            raise CacheError(
                f"manifest maps {label} to {entry.registered_name}, "
                f"but {family.value} is served by {expected_name}: refusing another family's model"
            )
        key = marker_key(entry.run_id, alias)
        raw_marker = self.store.get(key)
        if raw_marker is None:
            raise CacheError(f"{label}: marker {key} is missing")
        try:
            marker = Marker.parse(raw_marker.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CacheError(f"{label}: marker {key} is malformed: {exc}") from exc
        if marker.registered_name != expected_name:
            raise CacheError(
                f"{label}: marker {key} names model {marker.registered_name}, "
                f"but {family.value} is served by {expected_name}: refusing another family's model"
            )
        if marker.alias != alias.value:
            raise CacheError(f"{label}: marker {key} is for alias {marker.alias}")
        if marker.version != entry.version:
            raise CacheError(
                f"{label}: marker {key} says v{marker.version}, manifest says v{entry.version}"
            )
        onnx_bytes = self.store.get(f"{entry.run_id}/{MODEL_KEY}")
        if onnx_bytes is None:
            raise CacheError(f"{label}: {entry.run_id}/{MODEL_KEY} is missing")
        actual = sha256_hex(onnx_bytes)
        if actual != entry.sha256:
            raise CacheError(
                f"{label}: sha256 of {entry.run_id}/{MODEL_KEY} is {actual}, "
                f"manifest says {entry.sha256}: the artifact is corrupt"
            )
        metadata = self._metadata(entry.run_id, label)
        if metadata.get("family") != family.value or metadata.get("sha256") != entry.sha256:
            raise CacheError(
                f"{label}: {entry.run_id}/{METADATA_KEY} describes another model "
                f"(family {metadata.get('family')!r}, sha256 {metadata.get('sha256')!r})"
            )
        return CachedModel(
            family=family,
            alias=alias,
            registered_name=expected_name,
            version=entry.version,
            run_id=entry.run_id,
            sha256=entry.sha256,
            onnx=onnx_bytes,
            metadata=metadata,
            generation=manifest.generation,
        )

    def _metadata(self, run_id: str, label: str) -> dict[str, Any]:
        key = f"{run_id}/{METADATA_KEY}"
        data = self.store.get(key)
        if data is None:
            raise CacheError(f"{label}: {key} is missing")
        try:
            metadata = json.loads(data)
        except ValueError as exc:
            raise CacheError(f"{label}: {key} is not JSON: {exc}") from exc
        if not isinstance(metadata, dict):
            raise CacheError(f"{label}: {key} is not a JSON object")
        return metadata

    # Writing.

    def publish(
        self, models: Mapping[ModelKey, PublishedModel], *, clean: bool = False
    ) -> PublishSummary:
        """Make the cache hold exactly ``models``.

        Order matters to readers, who read the manifest and then what it names: new run objects
        and new markers first, then the manifest (generation + 1, only when something changed),
        then the markers of aliases that moved away, and with ``clean`` every object of runs no
        alias points to — one delete per object.
        """
        runs = self._check(models)
        try:
            previous = self.read_manifest()
        except CacheError as exc:
            # Readers cannot use it either: replace it, the generation starting again.
            log.warning("replacing the unreadable manifest: %s", exc)
            previous = None
        existing = self.store.list_keys()
        present = set(existing)

        uploaded: list[str] = []
        reused: list[str] = []
        for run_id, (family, published) in sorted(runs.items()):
            if self._upload(run_id, family, published, present):
                uploaded.append(run_id)
            else:
                reused.append(run_id)

        wanted_markers = {
            marker_key(p.run_id, alias): marker_text(p.registered_name, alias, p.version)
            for (_family, alias), p in models.items()
        }
        markers_written = False
        for key, text in sorted(wanted_markers.items()):
            current = self.store.get(key) if key in present else None
            if current is None or current.decode("utf-8", "replace") != text:
                self.store.put(key, text.encode())
                markers_written = True

        entries = {
            (family, alias): ManifestEntry(
                p.run_id, p.version, sha256_hex(p.onnx_bytes), p.registered_name
            )
            for (family, alias), p in models.items()
        }
        if (
            previous is not None
            and previous.models == entries
            and not uploaded
            and not markers_written
        ):
            manifest, changed = previous, False
        else:
            manifest = Manifest(
                generation=(previous.generation if previous else 0) + 1,
                written_at=datetime.now(UTC),
                models=entries,
            )
            self.store.put(MANIFEST_KEY, manifest.to_json())
            changed = True

        removed: list[str] = []
        live = set(runs)
        for key in existing:
            run_id, sep, rest = key.partition("/")
            if not sep:
                continue  # the manifest, or something that is not ours
            stale_marker = rest.startswith(MARKER_PREFIX) and key not in wanted_markers
            orphan = clean and run_id not in live
            if stale_marker or orphan:
                self.store.delete(key)
                removed.append(key)
        return PublishSummary(
            uploaded=tuple(uploaded),
            reused=tuple(reused),
            removed=tuple(removed),
            generation=manifest.generation,
            changed=changed,
            manifest=manifest,
        )

    def _check(
        self, models: Mapping[ModelKey, PublishedModel]
    ) -> dict[str, tuple[Family, PublishedModel]]:
        """One family per run, one graph per run, and each family's own registered name."""
        runs: dict[str, tuple[Family, PublishedModel]] = {}
        for (family, alias), published in models.items():
            label = model_label(family, alias)
            expected = self._names[family]
            if published.registered_name != expected:
                raise CacheError(
                    f"{label}: model {published.registered_name} is not {family.value}'s "
                    f"({expected}): refusing to publish another family's model"
                )
            declared = published.metadata.get("onnx_sha256")
            if declared is not None and declared != sha256_hex(published.onnx_bytes):
                raise CacheError(f"{label}: the graph's sha256 differs from its metadata's")
            seen = runs.get(published.run_id)
            if seen is not None and (
                seen[0] != family or seen[1].onnx_bytes != published.onnx_bytes
            ):
                raise CacheError(f"run {published.run_id} is given twice with different models")
            runs[published.run_id] = (family, published)
        return runs

    def _upload(
        self, run_id: str, family: Family, published: PublishedModel, present: set[str]
    ) -> bool:
        """Write the run's graph and metadata where they differ; True when anything was written."""
        sha = sha256_hex(published.onnx_bytes)
        metadata = {key: value for key, value in published.metadata.items() if key != "onnx_sha256"}
        metadata.update(
            family=family.value,
            registered_name=published.registered_name,
            version=published.version,
            run_id=run_id,
            sha256=sha,
        )
        metadata_bytes = (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode()
        model_key = f"{run_id}/{MODEL_KEY}"
        metadata_key = f"{run_id}/{METADATA_KEY}"
        wrote = False
        current = self.store.get(model_key) if model_key in present else None
        if current is None or sha256_hex(current) != sha:
            self.store.put(model_key, published.onnx_bytes)
            wrote = True
        current = self.store.get(metadata_key) if metadata_key in present else None
        if current != metadata_bytes:
            self.store.put(metadata_key, metadata_bytes)
            wrote = True
        return wrote


# Mirroring the registry.


class ServingModelSource(Protocol):
    """What the sync needs of a registry (the MLflow adapter provides it)."""

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None: ...

    def serving_model(self, run_id: str) -> tuple[bytes, dict[str, Any]]:
        """The run's self-contained ONNX graph and the metadata logged with it."""
        ...


@dataclass(frozen=True, slots=True)
class SyncSummary:
    targets: dict[ModelKey, AliasTarget]
    empty: tuple[ModelKey, ...]  # aliases pointing nowhere (served by the fallback)
    published: PublishSummary
    sha256: dict[ModelKey, str] = field(default_factory=dict)


def sync_from_registry(
    registry: ServingModelSource, cache: ServingCache, *, clean: bool = False
) -> SyncSummary:
    """Mirror every family@alias of the registry into the cache. Raises EmptyRegistry when no
    alias points anywhere (an empty set would wipe a working cache)."""
    targets: dict[ModelKey, AliasTarget] = {}
    empty: list[ModelKey] = []
    for family in Family:
        for alias in Alias:
            target = registry.alias_target(family, alias)
            if target is None:
                empty.append((family, alias))
            else:
                targets[(family, alias)] = target
    if not targets:
        raise EmptyRegistry("the registry has no aliased model: train first (`rps train`)")
    downloaded: dict[str, tuple[bytes, dict[str, Any]]] = {}
    models: dict[ModelKey, PublishedModel] = {}
    for key, target in targets.items():
        if target.run_id not in downloaded:
            downloaded[target.run_id] = registry.serving_model(target.run_id)
        onnx_bytes, metadata = downloaded[target.run_id]
        models[key] = PublishedModel(
            run_id=target.run_id,
            version=target.version,
            registered_name=target.registered_name,
            onnx_bytes=onnx_bytes,
            metadata=metadata,
        )
    published = cache.publish(models, clean=clean)
    return SyncSummary(
        targets=targets,
        empty=tuple(empty),
        published=published,
        sha256={key: sha256_hex(m.onnx_bytes) for key, m in models.items()},
    )

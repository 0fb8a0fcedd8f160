"""The hyperparameter config file (shipped as ``rps/configs/model_hyperparameters.json``):
schema, validation with errors that name the bad field, overrides, and the plan of what to
train."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.domain.policy import parse_family as domain_parse_family
from rps.models.base import Hyperparameters
from rps.models.catalog import FAMILY_CLASSES

FAMILY_BY_NAME = {name: family for family, name in REGISTERED_NAMES.items()}


__all__ = ["REGISTERED_NAMES", "ConfigError", "ConfigFile", "PlannedModel", "load_config", "plan"]


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the field."""


def parse_family(text: str) -> Family:
    """A family by any of its names (``rps.domain.policy.parse_family``); ConfigError if none."""
    try:
        return domain_parse_family(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class AcceptanceCriteria(BaseModel):
    """A model is registered only if its hold-out test accuracy clears this bar."""

    model_config = ConfigDict(extra="forbid")

    min_test_accuracy: float = Field(1 / 3 + 0.02, ge=0.0, le=1.0)
    min_test_rows: int = Field(
        300, ge=0, description="The bar applies only when the test set has at least this many rows"
    )


class ConfigEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    promote_alias: Alias | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    mlflow_tags: dict[str, str] = Field(default_factory=dict)
    acceptance: AcceptanceCriteria | None = None


class ModelSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_type: Family
    model_name: str
    configs: list[ConfigEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ModelSection:
        expected = REGISTERED_NAMES[self.model_type]
        if self.model_name != expected:
            raise ValueError(f"model_name must be {expected!r} for {self.model_type.value}")
        ids = [c.id for c in self.configs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate config ids: {', '.join(duplicates)}")
        aliases = [c.promote_alias for c in self.configs if c.promote_alias]
        twice = sorted({a.value for a in aliases if aliases.count(a) > 1})
        if twice:
            raise ValueError(f"more than one config promotes to alias {', '.join(twice)}")
        family_class = FAMILY_CLASSES[self.model_type]
        for index, config in enumerate(self.configs):
            try:
                family_class.parse_hyperparameters(config.hyperparameters)
            except ValidationError as exc:
                raise ValueError(
                    _describe(exc, prefix=f"configs[{index}] ({config.id}).hyperparameters")
                ) from None
        return self


class Profile(BaseModel):
    """Named overrides for a purpose, e.g. ``bootstrap``: few rows, fast settings."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    max_rows: int | None = Field(None, ge=1)
    hyperparameters: dict[Family, dict[str, Any]] = Field(default_factory=dict)


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_ref: str | None = Field(None, alias="$schema", description="For editors")
    version: int | str
    description: str = ""
    acceptance: AcceptanceCriteria = Field(default_factory=AcceptanceCriteria)
    profiles: dict[str, Profile] = Field(default_factory=dict)
    models: list[ModelSection] = Field(min_length=1)

    @field_validator("models")
    @classmethod
    def _one_section_per_family(cls, models: list[ModelSection]) -> list[ModelSection]:
        families = [m.model_type for m in models]
        twice = sorted({f.value for f in families if families.count(f) > 1})
        if twice:
            raise ValueError(f"model_type listed more than once: {', '.join(twice)}")
        return models


def _describe(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors():
        location = ".".join(str(p) for p in err["loc"])
        where = ".".join(p for p in (prefix, location) if p)
        message = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def load_config(path: Path) -> ConfigFile:
    """Read and validate a config file; ConfigError names the file and every bad field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: Any, source: str = "config") -> ConfigFile:
    try:
        return ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (shipped next to it for editors)."""
    return ConfigFile.model_json_schema()


@dataclass(frozen=True)
class PlannedModel:
    """One model to train: a family, a config and the resolved hyperparameters."""

    family: Family
    registered_name: str
    config_id: str
    description: str
    promote_alias: Alias | None
    hyperparameters: Hyperparameters
    mlflow_tags: dict[str, str]
    acceptance: AcceptanceCriteria
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.family.value}/{self.config_id}"


def parse_overrides(assignments: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs (value parsed as JSON when it is JSON, else a string).

    A key may be scoped to a family: ``xgboost.max_depth=4``.
    """
    overrides: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return overrides


def _overrides_for(family: Family, overrides: dict[str, Any]) -> dict[str, Any]:
    fields = FAMILY_CLASSES[family].hyperparameter_type.model_fields
    chosen: dict[str, Any] = {}
    for key, value in overrides.items():
        scope, dot, name = key.rpartition(".")
        if dot:
            if parse_family(scope) is family:
                chosen[name] = value
        elif key in fields:
            chosen[key] = value
    return chosen


def plan(
    config: ConfigFile,
    *,
    model_types: Iterable[Family] | None = None,
    config_ids: Iterable[str] | None = None,
    overrides: dict[str, Any] | None = None,
    promote_alias: Alias | None = None,
    profile: str | None = None,
) -> list[PlannedModel]:
    """The models ``rps train`` will train, in file order, with overrides applied."""
    families = set(model_types) if model_types else None
    ids = set(config_ids) if config_ids else None
    overrides = overrides or {}
    chosen_profile: Profile | None = None
    if profile is not None:
        if profile not in config.profiles:
            known = ", ".join(sorted(config.profiles)) or "none"
            raise ConfigError(f"unknown profile {profile!r} (the config defines: {known})")
        chosen_profile = config.profiles[profile]
    used_keys: set[str] = set()
    planned: list[PlannedModel] = []
    for section in config.models:
        if families is not None and section.model_type not in families:
            continue
        family_class = FAMILY_CLASSES[section.model_type]
        scoped = _overrides_for(section.model_type, overrides)
        for key, _ in overrides.items():
            scope, dot, name = key.rpartition(".")
            if (dot and parse_family(scope) is section.model_type) or name in scoped:
                used_keys.add(key)
        for entry in section.configs:
            if ids is not None and entry.id not in ids:
                continue
            values = dict(entry.hyperparameters)
            if chosen_profile is not None:
                values.update(chosen_profile.hyperparameters.get(section.model_type, {}))
            values.update(scoped)
            try:
                hyperparameters = family_class.parse_hyperparameters(values)
            except ValidationError as exc:
                raise ConfigError(
                    _describe(exc, prefix=f"{section.model_type.value}/{entry.id}")
                ) from None
            planned.append(
                PlannedModel(
                    family=section.model_type,
                    registered_name=section.model_name,
                    config_id=entry.id,
                    description=entry.description,
                    promote_alias=promote_alias or entry.promote_alias,
                    hyperparameters=hyperparameters,
                    mlflow_tags=dict(entry.mlflow_tags),
                    acceptance=entry.acceptance or config.acceptance,
                    overrides=scoped,
                )
            )
    unused = sorted(set(overrides) - used_keys)
    if unused and planned:
        raise ConfigError(f"--set {', '.join(unused)}: no selected model has such a hyperparameter")
    if ids is not None:
        missing = sorted(ids - {p.config_id for p in planned})
        if missing:
            raise ConfigError(f"no config with id {', '.join(missing)} in the selected models")
    if promote_alias is not None:
        per_family = [p.family for p in planned]
        if len(per_family) != len(set(per_family)):
            raise ConfigError(
                "--promote-alias needs one config per family (choose them with --config-ids)"
            )
    return planned

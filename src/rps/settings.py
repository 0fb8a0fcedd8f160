"""The one typed settings object (SPEC §11). Nothing else in the package reads the environment."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FIELDS = ("RPS_ADMIN_TOKEN", "MINIO_SECRET_KEY", "MINIO_ACCESS_KEY")
# Who may play the user side of a game (``rps.persistence.records.GameSource``).
GAME_SOURCES = ("human", "persona", "simulated")

# The hyperparameter configs ship inside the package (package data), so `rps train` and the
# bootstrap of `rps up` find them whatever the working directory, in a checkout or a wheel.
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"
PACKAGED_TRAINING_CONFIG = PACKAGED_CONFIGS / "model_hyperparameters.json"


class SettingsError(RuntimeError):
    """Invalid configuration; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    DATA_PATH: Path = Path("./data")
    DATABASE_URL: str | None = None
    MLFLOW_TRACKING_URI: str | None = None
    MLFLOW_EXPERIMENT_NAME: str = "rps-bot"
    MLFLOW_DISABLE_TELEMETRY: bool = True
    MODEL_CACHE_URI: str | None = None
    MINIO_ENDPOINT: str | None = None
    MINIO_ACCESS_KEY: SecretStr | None = None
    MINIO_SECRET_KEY: SecretStr | None = None
    ENABLE_AB_TESTING: bool = True
    AB_SPLIT_RATIO: float = Field(0.5, ge=0.0, le=1.0)
    AB_SPLIT_RATIO_XGBOOST: float | None = Field(None, ge=0.0, le=1.0)
    AB_SPLIT_RATIO_FEEDFORWARD_NN: float | None = Field(None, ge=0.0, le=1.0)
    AB_SPLIT_RATIO_MULTINOMIAL_LOGISTIC: float | None = Field(None, ge=0.0, le=1.0)
    RPS_CAPTURE_INFERENCE_DIR: Path | None = None
    RPS_CAPTURE_INFERENCE_SAMPLE_RATE: float = Field(1.0, ge=0.0, le=1.0)
    METRICS_SINCE_DATE: date | None = None
    TRAINING_DATA_SINCE_DATE: date | None = None
    TRAINING_LEGACY_GAME_STRIDE: int = Field(5, ge=1)
    MIN_NEW_ROWS_FOR_TRAINING: int = Field(50, ge=0)
    MIN_TOTAL_ROWS: int = Field(300, ge=0)
    DISABLE_AUTO_PROMOTION: bool = False
    # `sequential` (an always-valid test) is the default; `winrate` is the seed's rule.
    PROMOTION_RULE: Literal["winrate", "sequential"] = "sequential"
    PROMOTION_MIN_GAMES: int = Field(3, ge=1)
    PROMOTION_MIN_PREDICTIONS: int = Field(50, ge=1)
    PROMOTION_ALPHA: float = Field(0.05, gt=0.0, lt=1.0)
    # A sequential test that found no difference after B played this many games ends as
    # `test_exhausted` (Production stays; the challengers are ranked again).
    PROMOTION_MAX_GAMES: int = Field(500, ge=1)
    # The game sources whose games count as promotion evidence (SPEC §7): a comma list of
    # human, persona, simulated (read through ``promotion_sources``).
    PROMOTION_SOURCES: str = "human,simulated,persona"
    # A game with no move for this long since its last round (or its start) is closed as
    # abandoned (SPEC §1.2).
    ABANDONED_AFTER_MINUTES: float = Field(30.0, gt=0.0)
    MODEL_POLL_SECONDS: float = Field(30.0, ge=0.0)
    # The background loop `rps up` runs (never one per web worker); 0 turns a job off.
    SCHEDULER_ENABLED: bool = True
    SCHEDULER_GAMEPLAY_SECONDS: float = Field(120.0, ge=0.0)
    SCHEDULER_GAMEPLAY_GAMES: int = Field(12, ge=1)
    SCHEDULER_PROMOTION_SECONDS: float = Field(600.0, ge=0.0)
    SCHEDULER_TRAINING_SECONDS: float = Field(3600.0, ge=0.0)
    SCHEDULER_ABANDONMENT_SECONDS: float = Field(60.0, ge=0.0)
    # The decision layer (SPEC §4); defaults chosen on the gym's training part
    # (rps.domain.decision.DecisionParams documents each one).
    DECISION_LEARNING_RATE: float = Field(0.8, gt=0.0, le=1.0)
    DECISION_SHARE: float = Field(0.05, ge=0.0, lt=1.0)
    DECISION_UNIFORM_PRIOR: float = Field(0.3, gt=0.0, lt=1.0)
    DECISION_UNIFORM_LEARNING_RATE: float = Field(0.8, gt=0.0, le=1.0)
    DECISION_UNIFORM_SHARE: float = Field(0.05, ge=0.0, lt=1.0)
    DECISION_PSEUDO_COUNT: float = Field(1.0, gt=0.0)
    DECISION_DECAY: float = Field(0.8, gt=0.0, le=1.0)
    DECISION_MODEL_LEARNING_RATE: float = Field(0.8, gt=0.0, le=1.0)
    DECISION_MODEL_SHARE: float = Field(0.02, ge=0.0, lt=1.0)
    DECISION_MODEL_PRIOR_FLOOR: float = Field(0.05, gt=0.0, lt=1.0)
    DECISION_MODEL_PRIOR_CEILING: float = Field(0.85, gt=0.0, lt=1.0)
    DECISION_MODEL_PRIOR_SLOPE: float = Field(2.0, ge=0.0)
    DECISION_EVIDENCE_THRESHOLD: float = 0.3
    DECISION_MODEL_EVIDENCE_BURDEN: float = Field(0.75, ge=0.0)
    DECISION_MODEL_ADVANTAGE_THRESHOLD: float = 0.0
    DECISION_SAMPLE_MARGIN: float = Field(0.0, ge=0.0)
    # What plays when no model answers: the layer without a model, or the seed's personas.
    FALLBACK: Literal["layer", "persona"] = "layer"
    # The strength-aware acceptance gate (SPEC §5).
    GATE_GAMES_PER_OPPONENT: int = Field(20, ge=1)
    ACCEPT_MAX_BELOW_LAYER: float = Field(2.0, ge=0.0, le=100.0)
    ACCEPT_MAX_BELOW_GREEDY: float = Field(0.0, ge=0.0, le=100.0)
    LEADERBOARD_MIN_GAMES: int = Field(5, ge=1)
    PUBLIC_PREDICT: bool = False
    ASSET_VERSION: str | None = None
    RPS_ADMIN_TOKEN: SecretStr | None = None
    CORS_ORIGINS: str = ""
    APP_URL: str = "http://127.0.0.1:8000"
    LOG_LEVEL: str = "INFO"
    GIT_REVISION: str | None = None  # stamped into images at build time
    # Unset: the configs shipped inside the package (see training_config_path).
    TRAINING_CONFIG_PATH: Path | None = None
    TRAINING_MAX_ROWS: int | None = Field(None, ge=1)
    # Read by prometheus_client itself too; set by `rps serve --workers N` for its workers.
    PROMETHEUS_MULTIPROC_DIR: Path | None = None

    @field_validator("PROMOTION_RULE")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        if value not in ("winrate", "sequential"):
            raise ValueError("must be 'winrate' or 'sequential'")
        return value

    @field_validator("TRAINING_CONFIG_PATH", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: Any) -> Any:
        # An empty variable (e.g. a ConfigMap entry left blank) means the packaged configs.
        return None if value == "" else value

    @field_validator("PROMOTION_SOURCES")
    @classmethod
    def _known_sources(cls, value: str) -> str:
        named = [part.strip().lower() for part in value.split(",") if part.strip()]
        unknown = [part for part in named if part not in GAME_SOURCES]
        if unknown:
            raise ValueError(
                f"unknown game source {', '.join(map(repr, unknown))}: expected a comma list "
                f"of {', '.join(GAME_SOURCES)}"
            )
        if not named:
            raise ValueError(f"must name at least one game source of {', '.join(GAME_SOURCES)}")
        return ",".join(dict.fromkeys(named))

    @field_validator("LOG_LEVEL")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    # Derived values: defaults that depend on DATA_PATH.

    @property
    def database_url(self) -> str:
        return self.DATABASE_URL or f"sqlite:///{self.DATA_PATH.resolve() / 'rps.db'}"

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.MLFLOW_TRACKING_URI or f"sqlite:///{self.DATA_PATH.resolve() / 'mlflow.db'}"

    @property
    def model_cache_uri(self) -> str:
        return self.MODEL_CACHE_URI or (self.DATA_PATH.resolve() / "model-cache").as_uri()

    @property
    def mlflow_artifact_location(self) -> str | None:
        """Where the default local store keeps artifacts; a remote server decides its own."""
        if self.MLFLOW_TRACKING_URI:
            return None
        return (self.DATA_PATH.resolve() / "mlartifacts").as_uri()

    @property
    def training_config_path(self) -> Path:
        """The hyperparameter config file: TRAINING_CONFIG_PATH, else the packaged one."""
        return self.TRAINING_CONFIG_PATH or PACKAGED_TRAINING_CONFIG

    @property
    def promotion_sources(self) -> tuple[str, ...]:
        """The game sources promotion counts, each once, as PROMOTION_SOURCES names them."""
        return tuple(self.PROMOTION_SOURCES.split(","))

    @property
    def abandoned_after(self) -> timedelta:
        return timedelta(minutes=self.ABANDONED_AFTER_MINUTES)

    @property
    def admin_token_path(self) -> Path:
        return self.DATA_PATH / "admin-token"

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.CORS_ORIGINS.split(",") if o.strip()]

    def admin_token(self) -> str | None:
        """The configured admin token: the setting, else the token file ``rps up`` writes."""
        if self.RPS_ADMIN_TOKEN is not None and self.RPS_ADMIN_TOKEN.get_secret_value():
            return self.RPS_ADMIN_TOKEN.get_secret_value()
        try:
            token = self.admin_token_path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return token or None

    def ensure_admin_token(self) -> tuple[str, Path | None]:
        """The admin token, creating ``$DATA_PATH/admin-token`` (mode 0600) if none exists.

        Returns the token and the file it lives in (None when it comes from the environment).
        """
        if self.RPS_ADMIN_TOKEN is not None and self.RPS_ADMIN_TOKEN.get_secret_value():
            return self.RPS_ADMIN_TOKEN.get_secret_value(), None
        existing = self.admin_token()
        if existing:
            return existing, self.admin_token_path
        self.DATA_PATH.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        fd = os.open(self.admin_token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        return token, self.admin_token_path

    def metrics_since(self) -> datetime | None:
        return _start_of_day(self.METRICS_SINCE_DATE)

    def training_since(self) -> datetime | None:
        return _start_of_day(self.TRAINING_DATA_SINCE_DATE)

    def masked(self) -> dict[str, Any]:
        """Resolved settings for display, secrets masked (``rps config``, ``/info``)."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                shown[name] = "****" if value is not None and value.get_secret_value() else None
            elif isinstance(value, Path | date):
                shown[name] = str(value)
            else:
                shown[name] = value
        shown["database_url"] = _mask_url(self.database_url)
        shown["mlflow_tracking_uri"] = _mask_url(self.mlflow_tracking_uri)
        shown["model_cache_uri"] = self.model_cache_uri
        shown["training_config_path"] = str(self.training_config_path)
        if self.DATABASE_URL:
            shown["DATABASE_URL"] = _mask_url(self.DATABASE_URL)
        if self.MLFLOW_TRACKING_URI:
            shown["MLFLOW_TRACKING_URI"] = _mask_url(self.MLFLOW_TRACKING_URI)
        return shown


def _start_of_day(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


def _mask_url(url: str) -> str:
    """Hide the password of ``scheme://user:password@host``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}" if ":" in creds else url


def load_settings(**overrides: Any) -> Settings:
    """Read the environment plus explicit overrides; a bad value raises SettingsError naming it."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None
    if settings.MLFLOW_DISABLE_TELEMETRY:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def export_environment(values: dict[str, str]) -> None:
    """Set variables for child processes (worker processes, the prometheus multiprocess dir)."""
    os.environ.update(values)


# How the web process asks a remote MLflow server (MLflow reads these itself): briefly, since its
# own defaults — several retries with backoff — would hold a reload for minutes when the server
# is down. Set only where unset, so an operator's values win.
SERVING_MLFLOW_CLIENT = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def export_serving_client_defaults() -> None:
    for name, value in SERVING_MLFLOW_CLIENT.items():
        os.environ.setdefault(name, value)

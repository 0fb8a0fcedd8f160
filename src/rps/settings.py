"""The one typed settings object (SPEC §11). Nothing else in the package reads the environment."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FIELDS = ("RPS_ADMIN_TOKEN", "MINIO_SECRET_KEY", "MINIO_ACCESS_KEY")
# Settings that hold one URL (``mask_url`` hides their credentials wherever they are shown).
URL_FIELDS = ("DATABASE_URL", "MLFLOW_TRACKING_URI", "MODEL_CACHE_URI", "MINIO_ENDPOINT", "APP_URL")
# Who may play the user side of a game (``rps.persistence.records.GameSource``).
GAME_SOURCES = ("human", "persona", "simulated")

# The hyperparameter configs ship inside the package (package data), so `rps train` and the
# bootstrap of `rps up` find them whatever the working directory, in a checkout or a wheel.
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"
PACKAGED_TRAINING_CONFIG = PACKAGED_CONFIGS / "model_hyperparameters.json"


class SettingsError(RuntimeError):
    """Invalid configuration; the message names the variable."""


class AdminTokenError(SettingsError):
    """The configured admin token may not be used; the message says why and what to run."""


# A shorter token is refused (SPEC §9); `rps token rotate` writes a 43-character one.
ADMIN_TOKEN_MIN_LENGTH = 24
ROTATE_TOKEN_COMMAND = "rps token rotate"


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
    # Request bodies over these many bytes are refused with 413 before they are read (SPEC §9).
    # A /play or /start_game body is under 300 bytes, a /predict one under 4 KB, a promotion
    # report under 30 KB even with its 2,000-character reason all \u-escaped; a full
    # /predict/batch (256 items) is up to 450 KB, 840 KB pretty-printed: it has a cap of its own.
    MAX_BODY_BYTES: int = Field(65_536, ge=1)
    MAX_BATCH_BODY_BYTES: int = Field(1_048_576, ge=1)
    # Per-client rate limits, per minute and per process (SPEC §9); 0 turns one off. Requests
    # carrying the admin token are not limited.
    RATE_LIMIT_START_PER_MIN: int = Field(30, ge=0)
    RATE_LIMIT_PLAY_PER_MIN: int = Field(300, ge=0)
    RATE_LIMIT_READ_PER_MIN: int = Field(60, ge=0)
    RATE_LIMIT_AUTH_FAIL_PER_MIN: int = Field(10, ge=0)
    # Seconds the public aggregate reads (leaderboards, stats, /ops/summary) are served from a
    # per-process cache; 0 turns the cache off.
    READ_CACHE_SECONDS: float = Field(5.0, ge=0.0)
    # Peers whose X-Forwarded-For is believed (comma-separated IPs or CIDRs, e.g. the Ingress
    # controller's pod network); empty trusts nobody and limits go by the connecting address.
    TRUSTED_PROXIES: str = ""
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

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        entries = [part.strip() for part in value.split(",") if part.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or CIDR network (e.g. 10.42.0.0/16)"
                ) from None
        return ",".join(entries)

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

    @property
    def trusted_proxies(self) -> list[str]:
        """The TRUSTED_PROXIES entries (addresses or networks), each checked at start-up."""
        return [part for part in self.TRUSTED_PROXIES.split(",") if part]

    def _env_admin_token(self) -> str | None:
        value = self.RPS_ADMIN_TOKEN.get_secret_value().strip() if self.RPS_ADMIN_TOKEN else ""
        return value or None

    def admin_token(self) -> str | None:
        """The configured admin token, trimmed: RPS_ADMIN_TOKEN, else the file ``rps up`` writes
        (None when neither exists).

        AdminTokenError, saying why and what to run, for a token shorter than
        ADMIN_TOKEN_MIN_LENGTH, or a file that its group or others may read or that another
        user owns (SPEC §9).
        """
        env = self._env_admin_token()
        if env is not None:
            _check_token_length(env, "RPS_ADMIN_TOKEN")
            return env
        return _read_token_file(self.admin_token_path)

    def ensure_admin_token(self) -> tuple[str, Path | None]:
        """The admin token, creating ``$DATA_PATH/admin-token`` (mode 0600) if none exists.

        Returns the token and the file it lives in (None when it comes from the environment).
        AdminTokenError for an existing token that may not be used (see ``admin_token``).
        """
        existing = self.admin_token()
        if existing:
            return existing, None if self._env_admin_token() else self.admin_token_path
        return self.write_admin_token(), self.admin_token_path

    def write_admin_token(self) -> str:
        """A new random admin token in ``$DATA_PATH/admin-token`` (mode 0600), replacing the
        file atomically: a reader sees the old token or the new one, never a partial file."""
        self.DATA_PATH.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        target = self.admin_token_path
        staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(token + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(staging, 0o600)  # O_CREAT's mode does not apply to a leftover file
            os.replace(staging, target)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        return token

    def metrics_since(self) -> datetime | None:
        return _start_of_day(self.METRICS_SINCE_DATE)

    def training_since(self) -> datetime | None:
        return _start_of_day(self.TRAINING_DATA_SINCE_DATE)

    def masked(self) -> dict[str, Any]:
        """Resolved settings for display (``rps config``): secret settings as ``****``, and
        credentials in any URL masked (``mask_url``)."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                shown[name] = "****" if value is not None and value.get_secret_value() else None
            elif isinstance(value, Path | date):
                shown[name] = str(value)
            elif isinstance(value, str):
                shown[name] = mask_url(value) if name in URL_FIELDS else mask_secrets(value)
            else:
                shown[name] = value
        shown["database_url"] = mask_url(self.database_url)
        shown["mlflow_tracking_uri"] = mask_url(self.mlflow_tracking_uri)
        shown["model_cache_uri"] = mask_url(self.model_cache_uri)
        shown["training_config_path"] = str(self.training_config_path)
        return shown


def _start_of_day(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


def _check_token_length(token: str, where: str) -> None:
    if len(token) >= ADMIN_TOKEN_MIN_LENGTH:
        return
    fix = (
        "set it to a longer one (e.g. `openssl rand -hex 32`), or unset it and run "
        f"`{ROTATE_TOKEN_COMMAND}`"
        if where == "RPS_ADMIN_TOKEN"
        else f"make a new one with `{ROTATE_TOKEN_COMMAND}`"
    )
    raise AdminTokenError(
        f"the admin token in {where} is {len(token)} characters long; at least "
        f"{ADMIN_TOKEN_MIN_LENGTH} are required: {fix}"
    )


def _read_token_file(path: Path) -> str | None:
    """The trimmed token of ``path``; None when there is no file; AdminTokenError when it may
    not be used (another user's, readable or writable by others, empty, short, unreadable)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AdminTokenError(
            f"the admin token file {path} cannot be read ({exc.strerror})"
        ) from None
    if status.st_uid != os.geteuid():
        raise AdminTokenError(
            f"the admin token file {path} is owned by another user (uid {status.st_uid}; this "
            f"process runs as uid {os.geteuid()}): run `chown {os.geteuid()} {path} && chmod "
            f"600 {path}`, or make a new token with `{ROTATE_TOKEN_COMMAND}`"
        )
    if status.st_mode & 0o077:
        raise AdminTokenError(
            f"the admin token file {path} is open to its group or others (mode "
            f"{status.st_mode & 0o777:04o}): run `chmod 600 {path}`, and since others could "
            f"read it, consider a new token (`{ROTATE_TOKEN_COMMAND}`)"
        )
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise AdminTokenError(
            f"the admin token file {path} cannot be read ({reason}): make a new token with "
            f"`{ROTATE_TOKEN_COMMAND}`"
        ) from None
    if not token:
        raise AdminTokenError(
            f"the admin token file {path} is empty: make a token with `{ROTATE_TOKEN_COMMAND}`"
        )
    _check_token_length(token, str(path))
    return token


# Query and fragment parameters whose values are credentials, by a part of their name
# (lower-cased, ``-`` read as ``_``): ?token=, ?access_token=, ?password=, ?sslpassword=,
# ?X-Amz-Signature=, ?X-Amz-Credential=, ?X-Amz-Security-Token=, ?api_key=, ?client_secret=, ...
_SECRET_PARAM_PARTS = (
    "token",
    "passw",
    "pwd",
    "secret",
    "signature",
    "credential",
    "api_key",
    "apikey",
    "access_key",
    "accesskey",
    "auth",
    "session",
)
# ... and those whose whole name is one (Azure's SAS ``sig``, Google's ``key``).
_SECRET_PARAMS = frozenset({"sig", "key", "pass", "code"})
_MASK = "****"
# A URL runs to whitespace, a quote, or a comma that starts the next URL (a comma list).
_URL_IN_TEXT = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*://(?:(?!,[A-Za-z][A-Za-z0-9+.\-]*://)[^\s\"'<>`])+"
)
_DSN_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd)(\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&;]+)")


def _secret_param(name: str) -> bool:
    key = unquote(name).strip().lower().replace("-", "_")
    return key in _SECRET_PARAMS or any(part in key for part in _SECRET_PARAM_PARTS)


def _mask_params(text: str) -> str:
    """``a=1&token=x`` → ``a=1&token=****``, the rest left exactly as written."""
    pieces = []
    for piece in re.split(r"([&;])", text):
        name, eq, _value = piece.partition("=")
        pieces.append(f"{name}={_MASK}" if eq and _secret_param(name) else piece)
    return "".join(pieces)


def _mask_userinfo(rest: str) -> str:
    """``rest`` (a URL after ``scheme://``) with its credentials masked: ``user:****@`` for a
    user and password, ``****@`` for one part alone (``https://TOKEN@host``)."""
    authority_end = next((i for i, ch in enumerate(rest) if ch in "/?#"), len(rest))
    at = rest.rfind("@", 0, authority_end)
    if at < 0:
        # A password holding a raw "/", "?" or "#" ends the authority early for a URL parser
        # but not for SQLAlchemy's, which reads up to the "@": hide that too. (``host:8080/a@b``
        # cannot be told from ``user:8080/pass@host``, so it is masked as well.)
        _user, colon, _after = rest[:authority_end].partition(":")
        at = rest.find("@", authority_end)
        if not colon or at < 0:
            return rest
    userinfo, host_and_rest = rest[:at], rest[at + 1 :]
    user, colon, _password = userinfo.partition(":")
    shown = f"{user}:{_MASK}" if colon else _MASK
    return f"{shown}@{host_and_rest}"


def mask_url(url: str) -> str:
    """``url`` as it may be shown or logged: credentials masked in every form a URL carries
    them — ``user:password@``, a bare ``token@``, secret query or fragment parameters
    (``?token=``, ``?password=``, ``?X-Amz-Signature=``, ...), and ``password=`` in a
    key/value DSN. Percent-encoded parts stay encoded; where the shape is ambiguous, it hides
    more rather than less. Anything without credentials is returned unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _DSN_PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}", url)
    rest = _mask_userinfo(rest)
    before_fragment, hash_, fragment = rest.partition("#")
    base, question, query = before_fragment.partition("?")
    if question:
        base = f"{base}?{_mask_params(query)}"
    if hash_:
        base = f"{base}#{_mask_params(fragment)}"
    return f"{scheme}://{base}"


def mask_secrets(text: str) -> str:
    """Free text (a log line, an error message) with every URL in it masked (``mask_url``)."""
    masked = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
    return _DSN_PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}", masked)


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

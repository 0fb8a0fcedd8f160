"""The schema as SQLAlchemy Core tables. Migrations under ``migrations/`` create exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite keeps no offset, so add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware ones")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text: store them naive in one fixed format.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


games = Table(
    "games",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("session_id", String(64), nullable=False),
    Column("player_name", String(64), nullable=False),
    Column("policy", String(32), nullable=False),
    Column("model_type", String(32)),
    Column("bot_model_alias", String(16)),
    Column("model_version", String(32)),
    Column("difficulty_mode", String(16), nullable=False, server_default="normal"),
    Column("is_test", Boolean, nullable=False, server_default="0"),
    Column("opening_name", String(32)),
    Column("opening_seq", String(64)),
    Column("user_score", Float, nullable=False, server_default="0"),
    Column("bot_score", Float, nullable=False, server_default="0"),
    Column("winner", String(8)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("source", String(16), nullable=False, server_default="human"),
    # Rounds stored so far: the compare-and-set guard that keeps concurrent moves from
    # producing two rounds with one number, across processes and replicas.
    Column("rounds_played", Integer, nullable=False, server_default="0"),
    # completed | abandoned (SPEC §1.2); NULL while the game is open.
    Column("finished_reason", String(16)),
    # The newest round's time: a game quiet for ABANDONED_AFTER_MINUTES since this (or since its
    # start) is closed as abandoned.
    Column("last_round_at", UTCDateTime),
    Index("ix_games_created_at", "created_at"),
    Index("ix_games_finished_at", "finished_at"),
    Index("ix_games_session_id", "session_id"),
    Index("ix_games_player_name", "player_name"),
    Index("ix_games_policy", "policy"),
    Index("ix_games_model_version", "model_type", "bot_model_alias", "model_version"),
)

rounds = Table(
    "rounds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("game_id", String(64), ForeignKey("games.id", ondelete="CASCADE"), nullable=False),
    Column("step_no", Integer, nullable=False),
    Column("user_move", String(8), nullable=False),
    Column("bot_move", String(8), nullable=False),
    Column("result", String(8), nullable=False),
    Column("user_delta", Float, nullable=False),
    Column("bot_delta", Float, nullable=False),
    Column("user_score", Float, nullable=False),
    Column("bot_score", Float, nullable=False),
    Column("rock_pts", Float, nullable=False),
    Column("paper_pts", Float, nullable=False),
    Column("scissors_pts", Float, nullable=False),
    Column("decision_source", String(16), nullable=False),
    Column("model_alias", String(16)),
    Column("model_version", String(32)),
    Column("model_run_id", String(64)),
    Column("fallback_reason", String(64)),
    Column("probabilities", Text),
    Column("created_at", UTCDateTime, nullable=False),
    # The decision layer's blend (JSON: P, the experts' weights, the parameters' digest);
    # NULL for openings, personas and rounds stored before the layer existed.
    Column("belief", Text),
    UniqueConstraint("game_id", "step_no", name="uq_rounds_game_step"),
)


# The history of every alias move (SPEC §10): who pointed family@alias at which version, when.
model_assignments = Table(
    "model_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_type", String(32), nullable=False),
    Column("alias", String(16), nullable=False),
    Column("version", String(32), nullable=False),
    Column("run_id", String(64)),
    Column("previous_version", String(32)),
    Column("assigned_at", UTCDateTime, nullable=False),
    Column("assigned_by", String(64), nullable=False),
    Column("reason", Text),
    Index("ix_model_assignments_family_alias", "model_type", "alias", "assigned_at"),
)

# One row per training session (manual, scheduled, bootstrap): the watermark that scheduled
# training compares new data against.
training_runs = Table(
    "training_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("rows_used", Integer),
    Column("models_trained", Integer, nullable=False, server_default="0"),
    Column("models_registered", Integer, nullable=False, server_default="0"),
    Column("dataset_fingerprint", String(64)),
    Column("details", Text),
    Column("error", Text),
    # The newest round this (successful) training saw: scheduled training counts rounds stored
    # after it. Monotone, so downsampling or a row cap cannot stall retraining.
    Column("watermark_round_id", Integer),
    Column("watermark_at", UTCDateTime),
    Column("duration_s", Float),
    Column("models_rejected", Integer, nullable=False, server_default="0"),
    Index("ix_training_runs_status_started", "status", "started_at"),
)

# One row per model a training session trained: the training counters of SPEC §8 are counts of
# these over all of history (status succeeded | rejected | failed).
training_outcomes = Table(
    "training_outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "training_run_id",
        Integer,
        ForeignKey("training_runs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("model_type", String(32), nullable=False),
    Column("model_key", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", String(32)),
    Column("duration_s", Float),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_training_outcomes_family_status", "model_type", "status"),
)


# Every ML round, every alias of the game's family predicts on the same features (SPEC §6.2).
alias_predictions = Table(
    "alias_predictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("game_id", String(64), ForeignKey("games.id", ondelete="CASCADE"), nullable=False),
    Column("step_no", Integer, nullable=False),
    Column("model_type", String(32), nullable=False),
    Column("alias", String(16), nullable=False),
    Column("model_version", String(32)),
    Column("predicted_move", String(8), nullable=False),
    Column("probabilities", Text, nullable=False),
    Column("correct", Boolean, nullable=False),
    Column("counterfactual_result", String(8), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The alias's layer move's bot − user points in that round, and the layer version that chose
    # it: rankings compare only rows of one scoring version (NULL: before the layer).
    Column("counterfactual_margin", Float),
    Column("scoring_version", String(16)),
    Index("ix_alias_predictions_game_step", "game_id", "step_no"),
    Index("ix_alias_predictions_version", "model_type", "alias", "model_version"),
)


# The promotion ledger (SPEC §7): one row per family per promotion run, manual alias move or
# external report. ``event_id`` is globally unique so a ledger exported from one database and
# imported into another (or twice) never duplicates a row.
promotion_events = Table(
    "promotion_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("model_type", String(32), nullable=False),
    Column("decision", String(32), nullable=False),
    Column("rule", String(16)),
    Column("source", String(32), nullable=False),
    Column("z", Float),
    Column("p_value", Float),
    Column("sequential_p_value", Float),
    Column("srm_p_value", Float),
    Column("production_version", String(32)),
    Column("production_wins", Integer),
    Column("production_games", Integer),
    Column("b_version", String(32)),
    Column("b_wins", Integer),
    Column("b_games", Integer),
    Column("reorder_applied", Boolean, nullable=False, server_default="0"),
    Column("applied", Boolean, nullable=False, server_default="1"),
    Column("rankings", Text),  # JSON: the challenger order before and after
    Column("accuracies", Text),  # JSON: version → {predictions, accuracy}
    Column("assignments_before", Text),  # JSON: alias → version
    Column("assignments_after", Text),
    Column("reason", Text, nullable=False),
    Column("details", Text),  # JSON: parity, sample-ratio figures, anything else
    Index("ix_promotion_events_created", "created_at"),
    Index("ix_promotion_events_family", "model_type", "created_at"),
)


# Offline strength of a registered version against the opponent gym (SPEC §4.1, §5): written by
# training (every candidate, registered or not) and by `rps evaluate --persist`; the newest row
# per version is current. The scalar columns are what /ops, metrics and promotion read; the
# whole report (per group, per opponent, baselines) is in ``figures``.
model_strength = Table(
    "model_strength",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_type", String(32), nullable=False),
    Column("version", String(32)),
    Column("run_id", String(64)),
    Column("evaluated_at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),  # training | evaluate
    Column("games_per_opponent", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("scoring_version", String(16), nullable=False),
    Column("holdout_win_rate", Float),
    Column("training_win_rate", Float),
    Column("overall_win_rate", Float),
    Column("holdout_margin", Float),
    Column("layer_holdout_win_rate", Float),  # the layer without the model, same games
    Column("greedy_holdout_win_rate", Float),  # value-greedy, same games
    Column("gate_passed", Boolean),
    Column("below_gate", Boolean, nullable=False, server_default="0"),
    Column("gate_reason", Text),
    Column("figures", Text),
    Index("ix_model_strength_version", "model_type", "version", "evaluated_at"),
)


# One row: which code may serve this schema, written by whatever release migrated it last
# (``rps.persistence.schema_check`` explains why the database, not the code, has to say so).
schema_compatibility = Table(
    "schema_compatibility",
    metadata,
    Column("schema_revision", String(32), primary_key=True),
    Column("oldest_code_revision", String(32), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
)

"""The settings object: defaults, validation messages that name the variable, masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from rps.settings import Settings, SettingsError, load_settings


def test_defaults_derive_every_store_from_data_path(tmp_path):
    settings = load_settings(DATA_PATH=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'rps.db'}"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert settings.model_cache_uri == (tmp_path.resolve() / "model-cache").as_uri()
    assert settings.AB_SPLIT_RATIO == 0.5
    assert settings.MLFLOW_EXPERIMENT_NAME == "rps-bot"


def test_environment_variables_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_PATH", str(tmp_path))
    monkeypatch.setenv("AB_SPLIT_RATIO", "0.25")
    monkeypatch.setenv("ENABLE_AB_TESTING", "false")
    settings = load_settings()
    assert Path(tmp_path) == settings.DATA_PATH
    assert settings.AB_SPLIT_RATIO == 0.25
    assert settings.ENABLE_AB_TESTING is False


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AB_SPLIT_RATIO", "1.5"),
        ("PROMOTION_RULE", "coin-flip"),
        ("MIN_TOTAL_ROWS", "many"),
        ("METRICS_SINCE_DATE", "yesterday"),
        ("LOG_LEVEL", "LOUD"),
        ("PROMOTION_SOURCES", "human,robots"),
        ("PROMOTION_SOURCES", " , "),
        ("ABANDONED_AFTER_MINUTES", "0"),
        ("ABANDONED_AFTER_MINUTES", "half an hour"),
        ("SCHEDULER_ABANDONMENT_SECONDS", "-1"),
    ],
)
def test_an_invalid_value_fails_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_masked_settings_hide_secrets_and_url_passwords(tmp_path):
    settings = load_settings(
        DATA_PATH=tmp_path,
        RPS_ADMIN_TOKEN="s3cret-token-0123456789abcdef",
        MINIO_SECRET_KEY="minio-secret",
        DATABASE_URL="postgresql+psycopg://rps:db-password@db:5432/rps",
    )
    shown = repr(settings.masked())
    for secret in ("s3cret-token-0123456789abcdef", "minio-secret", "db-password"):
        assert secret not in shown
    assert settings.masked()["DATABASE_URL"] == "postgresql+psycopg://rps:****@db:5432/rps"
    assert settings.masked()["RPS_ADMIN_TOKEN"] == "****"


def test_admin_token_prefers_the_setting_over_the_file(tmp_path):
    token_file = tmp_path / "admin-token"
    token_file.write_text("from-file-0123456789abcdef\n")
    token_file.chmod(0o600)
    from_env = "from-env-0123456789abcdefgh"
    assert load_settings(DATA_PATH=tmp_path).admin_token() == "from-file-0123456789abcdef"
    assert load_settings(DATA_PATH=tmp_path, RPS_ADMIN_TOKEN=from_env).admin_token() == from_env
    assert load_settings(DATA_PATH=tmp_path / "empty").admin_token() is None


def test_promotion_counts_every_game_source_by_default_and_reads_a_comma_list(tmp_path):
    from datetime import timedelta

    from rps.persistence.records import GameSource

    default = load_settings(DATA_PATH=tmp_path)
    assert set(default.promotion_sources) == {s.value for s in GameSource}
    assert default.abandoned_after == timedelta(minutes=30)
    chosen = load_settings(
        DATA_PATH=tmp_path, PROMOTION_SOURCES=" Human, persona,human ", ABANDONED_AFTER_MINUTES=7.5
    )
    assert chosen.promotion_sources == ("human", "persona")
    assert chosen.abandoned_after == timedelta(minutes=7, seconds=30)


def test_an_unknown_promotion_source_is_named_with_the_known_ones(monkeypatch):
    monkeypatch.setenv("PROMOTION_SOURCES", "human,bots")
    with pytest.raises(SettingsError, match=r"'bots'.*human, persona, simulated"):
        load_settings()


def test_cors_origins_are_split_on_commas(tmp_path):
    settings = load_settings(
        DATA_PATH=tmp_path, CORS_ORIGINS="https://a.example, https://b.example"
    )
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_every_decision_layer_parameter_has_a_setting_whose_default_is_the_layers():
    import dataclasses

    from rps.bootstrap import decision_params
    from rps.domain.decision import DEFAULT_PARAMS, DecisionParams

    names = {f"DECISION_{f.name.upper()}" for f in dataclasses.fields(DecisionParams)}
    assert names <= set(Settings.model_fields)
    assert decision_params(load_settings()) == DEFAULT_PARAMS
    tuned = decision_params(load_settings(DECISION_DECAY=0.9, DECISION_MODEL_EVIDENCE_BURDEN=1.5))
    assert (tuned.decay, tuned.model_evidence_burden) == (0.9, 1.5)
    assert tuned.digest() != DEFAULT_PARAMS.digest()

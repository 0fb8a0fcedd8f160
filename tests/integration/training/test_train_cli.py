"""`rps train`, `rps train-aliases` and `rps train-scheduled` against a real MLflow store."""

from __future__ import annotations

import json

import sqlalchemy as sa
from mlflow import MlflowClient

from rps.domain.policy import Alias, Family
from rps.training.configs import REGISTERED_NAMES
from tests.integration.training.conftest import Platform, tiny_config


def client_for(platform: Platform) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{platform.root / 'data' / 'mlflow.db'}")


def alias_versions(platform: Platform) -> dict[tuple[Family, str], str]:
    client = client_for(platform)
    found = {}
    registered = {m.name: m for m in client.search_registered_models()}
    for family, name in REGISTERED_NAMES.items():
        if name in registered:
            for alias, version in registered[name].aliases.items():
                found[(family, alias)] = str(version)
    return found


def db_rows(platform: Platform, query: str) -> list[sa.Row]:
    engine = sa.create_engine(f"sqlite:///{platform.root / 'data' / 'rps.db'}")
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text(query)))
    engine.dispose()
    return rows


def test_train_registers_exactly_three_models_with_four_aliases_each(trained_platform):
    versions = alias_versions(trained_platform)
    assert set(versions) == {(f, a.value) for f in Family for a in Alias}
    for family in Family:
        per_family = {versions[(family, a.value)] for a in Alias}
        assert len(per_family) == 4  # a distinct version behind every alias
    assert "registry aliases" in trained_platform.train_output  # type: ignore[attr-defined]


def test_every_alias_move_is_recorded_in_model_assignments(trained_platform):
    rows = db_rows(
        trained_platform, "SELECT model_type, alias, version FROM model_assignments ORDER BY id"
    )
    versions = alias_versions(trained_platform)
    recorded = {(Family(r.model_type), r.alias): r.version for r in rows}
    assert recorded == versions


def test_runs_carry_the_three_step_metrics_tags_and_artifacts(trained_platform):
    client = client_for(trained_platform)
    target = client.get_model_version_by_alias(REGISTERED_NAMES[Family.XGBOOST], "Production")
    run = client.get_run(target.run_id)
    metrics = run.data.metrics
    for name in (
        "val_acc_holdout",
        "test_acc_holdout",
        "test_accuracy",
        "train_acc_production",
        "val_acc_production",
        "cv_fold_1_acc",
        "cv_fold_2_acc",
        "cv_fold_3_acc",
        "cv_mean_acc",
        "cv_std_acc",
        "onnx_max_abs_diff",
    ):
        assert name in metrics, name
    assert metrics["test_accuracy"] == metrics["test_acc_holdout"]
    assert metrics["onnx_max_abs_diff"] <= 1e-5
    tags = run.data.tags
    assert tags["config_family"] == "xgboost"
    assert tags["target_alias"] == "Production"
    assert tags["config_id"] == "xgb-d5"
    assert tags["feature_version"]
    assert tags["dataset_fingerprint"]
    artifacts = {a.path for a in client.list_artifacts(target.run_id)}
    assert {"config.json", "confusion_matrix.json", "family_extras.json", "native"} <= artifacts
    assert "n_estimators" in run.data.params


def test_a_model_below_the_acceptance_gate_is_not_registered_and_its_alias_stays(fresh_platform):
    fresh_platform.rps("train", "--model-types", "multinomial_logistic")
    before = alias_versions(fresh_platform)
    impossible = tiny_config(acceptance={"min_test_accuracy": 0.999, "min_test_rows": 0})
    path = fresh_platform.write_config("impossible.json", impossible)
    result = fresh_platform.rps(
        "train", "--config", str(path), "--config-ids", "mnl-unweighted", "--promote-alias", "B"
    )
    assert "rejected" in result.stdout
    after = alias_versions(fresh_platform)
    assert after == before
    client = client_for(fresh_platform)
    rejected = client.search_runs(
        [client.get_experiment_by_name("rps-bot").experiment_id],
        filter_string="tags.rejected = 'true'",
    )
    assert len(rejected) == 1
    assert "not above" in rejected[0].data.tags["rejected_reason"]
    versions = client.search_model_versions(
        f"name = '{REGISTERED_NAMES[Family.MULTINOMIAL_LOGISTIC]}'"
    )
    assert len(versions) == 4  # the rejected model got no version


def test_train_aliases_retrains_onto_the_same_alias_with_the_same_hyperparameters(
    trained_platform,
):
    before = alias_versions(trained_platform)
    trained_platform.rps("train-aliases", "--model-types", "feedforward_nn", "--aliases", "shadow1")
    after = alias_versions(trained_platform)
    key = (Family.FEEDFORWARD_NN, "shadow1")
    assert int(after[key]) > int(before[key])
    assert {k: v for k, v in after.items() if k != key} == {
        k: v for k, v in before.items() if k != key
    }
    client = client_for(trained_platform)
    name = REGISTERED_NAMES[Family.FEEDFORWARD_NN]
    old_run = client.get_run(client.get_model_version(name, before[key]).run_id)
    new_run = client.get_run(client.get_model_version(name, after[key]).run_id)
    assert new_run.data.params["hidden_sizes"] == old_run.data.params["hidden_sizes"]
    assert new_run.data.params["warm_start"] == "true"
    assert new_run.data.tags["continued_from_version"] == before[key]


def test_scheduled_training_waits_for_enough_new_rows_then_continues_every_alias(
    fresh_platform,
):
    # Empty registry, too little data for the thresholds → skipped and recorded.
    skipped = fresh_platform.rps("train-scheduled", MIN_TOTAL_ROWS="1000000")
    assert "skipped" in skipped.stderr
    # Enough data, empty registry → every config of the file.
    first = fresh_platform.rps(
        "train-scheduled", MIN_TOTAL_ROWS="10", MIN_NEW_ROWS_FOR_TRAINING="10"
    )
    assert "empty registry" in first.stderr
    versions = alias_versions(fresh_platform)
    assert len(versions) == 12
    # No new rows since → skipped, the watermark holds.
    again = fresh_platform.rps(
        "train-scheduled", MIN_TOTAL_ROWS="10", MIN_NEW_ROWS_FOR_TRAINING="10"
    )
    assert "skipped" in again.stderr
    assert alias_versions(fresh_platform) == versions
    runs = db_rows(
        fresh_platform, "SELECT status, trigger, rows_used FROM training_runs ORDER BY id"
    )
    assert [r.status for r in runs] == ["skipped", "succeeded", "skipped"]
    assert all(r.trigger == "scheduled" for r in runs)
    details = db_rows(fresh_platform, "SELECT details FROM training_runs WHERE status='succeeded'")
    assert len(json.loads(details[0].details)["models"]) == 12


def test_dry_run_prints_the_plan_and_trains_nothing(fresh_platform):
    result = fresh_platform.rps("train", "--dry-run", "--set", "xgboost.max_depth=5")
    assert "training plan" in result.stdout
    assert '"max_depth":5' in result.stdout
    assert not (fresh_platform.root / "data" / "mlflow.db").exists()


def test_a_bad_config_exits_2_naming_the_field(fresh_platform):
    bad = tiny_config()
    bad["models"][0]["configs"][0]["hyperparameters"]["dropout"] = 3
    path = fresh_platform.write_config("bad.json", bad)
    result = fresh_platform.rps("train", "--config", str(path), check=False)
    assert result.returncode == 2
    assert "dropout" in result.stderr

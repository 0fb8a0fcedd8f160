"""The hyperparameter configs ship inside the package (SPEC §11): `rps train` and the bootstrap of
`rps up` find them from any working directory; TRAINING_CONFIG_PATH and --config name another."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rps
from rps.cli.main import app
from rps.domain.policy import Alias, Family
from rps.settings import PACKAGED_TRAINING_CONFIG, Settings, get_settings, load_settings
from rps.training.configs import load_config, plan

TWELVE = set(itertools.product([f.value for f in Family], [a.value for a in Alias]))


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A working directory with no configs/ in it and no rps setting in the environment."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_PATH", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _train(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["train", *args])
    return result.exit_code, result.output


def _plan_rows(output: str) -> list[tuple[str, str, str]]:
    """(model type, config id, alias) of each row of the printed training plan."""
    families = {f.value for f in Family}
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) >= 3 and cells[0] in families:
            rows.append((cells[0], cells[1], cells[2]))
    return rows


def test_unset_training_config_path_means_the_file_inside_the_installed_package(elsewhere):
    settings = load_settings()
    assert settings.TRAINING_CONFIG_PATH is None
    assert settings.training_config_path == PACKAGED_TRAINING_CONFIG
    assert PACKAGED_TRAINING_CONFIG.is_file()
    assert PACKAGED_TRAINING_CONFIG.is_relative_to(Path(rps.__file__).resolve().parent)
    assert PACKAGED_TRAINING_CONFIG.with_name("model_hyperparameters.schema.json").is_file()
    assert not (elsewhere / "configs").exists()
    # A blank variable (a ConfigMap entry left empty) is the same as none.
    assert load_settings(TRAINING_CONFIG_PATH="").training_config_path == PACKAGED_TRAINING_CONFIG


def test_the_packaged_file_plans_twelve_models_and_resolves_the_bootstrap_profile(elsewhere):
    config = load_config(load_settings().training_config_path)
    planned = plan(config)
    assert {(p.family.value, p.promote_alias.value) for p in planned if p.promote_alias} == TWELVE
    bootstrap = config.profiles["bootstrap"]
    assert bootstrap.max_rows is not None
    for p in plan(config, profile="bootstrap"):
        chosen = p.hyperparameters.model_dump()
        for key, value in bootstrap.hyperparameters.get(p.family, {}).items():
            assert chosen[key] == value, f"{p.key}: {key}"


def test_train_dry_run_from_another_directory_lists_the_twelve_packaged_models(elsewhere):
    code, output = _train("--dry-run")
    assert code == 0, output
    assert f"hyperparameter configs: {PACKAGED_TRAINING_CONFIG} (shipped with the package)" in (
        " ".join(output.split())
    )
    rows = _plan_rows(output)
    assert len(rows) == 12
    assert {(family, alias) for family, _, alias in rows} == TWELVE


def test_the_bootstrap_profile_of_rps_up_plans_from_another_directory(elsewhere):
    code, output = _train("--profile", "bootstrap", "--dry-run")
    assert code == 0, output
    assert len(_plan_rows(output)) == 12


def test_a_missing_training_config_path_fails_naming_the_variable_and_the_file(
    elsewhere, monkeypatch
):
    missing = elsewhere / "nowhere" / "hyper.json"
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(missing))
    get_settings.cache_clear()
    code, output = _train("--dry-run")
    flat = " ".join(output.split())
    assert code == 2
    assert f"TRAINING_CONFIG_PATH={missing}: no such file" in flat
    assert _plan_rows(output) == []


def test_training_config_path_names_a_file_of_ones_own(elsewhere, monkeypatch):
    mine = json.loads(PACKAGED_TRAINING_CONFIG.read_text())
    mine["models"] = [m for m in mine["models"] if m["model_type"] == "xgboost"]
    path = elsewhere / "xgboost-only.json"
    path.write_text(json.dumps(mine))
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(path))
    get_settings.cache_clear()
    code, output = _train("--dry-run")
    assert code == 0, output
    assert f"{path} (TRAINING_CONFIG_PATH)" in " ".join(output.split())
    assert {family for family, _, _ in _plan_rows(output)} == {"xgboost"}


def test_the_config_flag_still_wins_and_reads_relative_to_the_working_directory(
    elsewhere, monkeypatch
):
    shutil.copy(PACKAGED_TRAINING_CONFIG, elsewhere / "copy.json")
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(elsewhere / "absent.json"))
    get_settings.cache_clear()
    code, output = _train("--config", "copy.json", "--model-types", "mnlogit", "--dry-run")
    assert code == 0, output
    assert "copy.json (--config)" in output
    assert len(_plan_rows(output)) == 4
    code, output = _train("--config", "absent.json", "--dry-run")
    assert code == 2
    assert "--config absent.json: no such file" in " ".join(output.split())

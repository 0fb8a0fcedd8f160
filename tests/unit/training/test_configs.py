"""The hyperparameter config file: the shipped file is valid, errors name the field."""

from __future__ import annotations

import copy
import json

import pytest

from rps.domain.policy import Alias, Family
from rps.settings import PACKAGED_TRAINING_CONFIG
from rps.training.configs import (
    REGISTERED_NAMES,
    ConfigError,
    json_schema,
    load_config,
    parse_config,
    parse_overrides,
    plan,
)

SHIPPED = PACKAGED_TRAINING_CONFIG
SCHEMA = SHIPPED.with_name("model_hyperparameters.schema.json")


@pytest.fixture
def raw() -> dict:
    return json.loads(SHIPPED.read_text())


def test_the_shipped_file_gives_each_family_a_distinct_config_per_alias():
    config = load_config(SHIPPED)
    for family in Family:
        section = next(m for m in config.models if m.model_type is family)
        assert section.model_name == REGISTERED_NAMES[family]
        assert len(section.configs) >= 4
        assert {c.promote_alias for c in section.configs} >= set(Alias)
        hyper = [json.dumps(c.hyperparameters, sort_keys=True) for c in section.configs]
        assert len(set(hyper)) == len(hyper)
    assert len(plan(config)) == 12


def test_the_shipped_schema_file_matches_the_code():
    assert json.loads(SCHEMA.read_text()) == json_schema()


def test_a_bad_hyperparameter_is_reported_with_its_path(raw):
    raw["models"][0]["configs"][1]["hyperparameters"]["dropout"] = 1.5
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, source="cfg.json")
    message = str(excinfo.value)
    assert "cfg.json" in message
    assert "models.0" in message
    assert "configs[1]" in message
    assert "dropout" in message


def test_an_unknown_hyperparameter_is_named(raw):
    raw["models"][2]["configs"][0]["hyperparameters"]["max_deepness"] = 3
    with pytest.raises(ConfigError, match="max_deepness"):
        parse_config(raw)


def test_a_string_is_not_a_boolean(raw):
    raw["models"][1]["configs"][0]["hyperparameters"]["class_weight_balanced"] = "false"
    with pytest.raises(ConfigError, match="class_weight_balanced"):
        parse_config(raw)


def test_unknown_alias_model_name_and_top_level_fields_are_refused(raw):
    bad_alias = copy.deepcopy(raw)
    bad_alias["models"][0]["configs"][0]["promote_alias"] = "production"
    with pytest.raises(ConfigError, match="promote_alias"):
        parse_config(bad_alias)
    bad_name = copy.deepcopy(raw)
    bad_name["models"][0]["model_name"] = "my_model"
    with pytest.raises(ConfigError, match="rps_bot_feedforward"):
        parse_config(bad_name)
    extra = copy.deepcopy(raw)
    extra["modles"] = []
    with pytest.raises(ConfigError, match="modles"):
        parse_config(extra)


def test_two_configs_promoting_to_one_alias_are_refused(raw):
    raw["models"][0]["configs"][1]["promote_alias"] = "Production"
    with pytest.raises(ConfigError, match="Production"):
        parse_config(raw)


def test_missing_and_broken_files_say_so(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(broken)


def test_plan_filters_by_family_and_config_id():
    config = load_config(SHIPPED)
    planned = plan(config, model_types=[Family.XGBOOST])
    assert {p.family for p in planned} == {Family.XGBOOST}
    one = plan(config, config_ids=["xgb-d4-bin64"])
    assert [p.config_id for p in one] == ["xgb-d4-bin64"]
    with pytest.raises(ConfigError, match="nope"):
        plan(config, config_ids=["nope"])


def test_overrides_apply_where_the_family_has_the_field():
    config = load_config(SHIPPED)
    planned = plan(config, overrides=parse_overrides(["epochs=7", "xgboost.max_depth=5"]))
    for p in planned:
        values = p.hyperparameters.model_dump()
        if p.family is Family.XGBOOST:
            assert values["max_depth"] == 5
            assert "epochs" not in values
        else:
            assert values["epochs"] == 7


def test_an_override_no_family_knows_is_refused():
    config = load_config(SHIPPED)
    with pytest.raises(ConfigError, match="warp_speed"):
        plan(config, overrides=parse_overrides(["warp_speed=9"]))
    with pytest.raises(ConfigError, match="dropout"):
        plan(config, overrides=parse_overrides(["dropout=2"]))
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["epochs"])


def test_promote_alias_override_needs_one_config_per_family():
    config = load_config(SHIPPED)
    planned = plan(config, config_ids=["ff-64-32"], promote_alias=Alias.B)
    assert planned[0].promote_alias is Alias.B
    with pytest.raises(ConfigError, match="one config per family"):
        plan(config, model_types=[Family.FEEDFORWARD_NN], promote_alias=Alias.B)


def test_the_bootstrap_profile_overrides_hyperparameters():
    config = load_config(SHIPPED)
    planned = plan(config, profile="bootstrap")
    xgb = next(p for p in planned if p.family is Family.XGBOOST)
    assert xgb.hyperparameters.model_dump()["n_estimators"] == 100
    with pytest.raises(ConfigError, match="unknown profile"):
        plan(config, profile="turbo")

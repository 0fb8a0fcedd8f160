"""The model manager: load order, validation, atomic reload, and surviving every fault."""

from __future__ import annotations

import numpy as np
import pytest

from rps.domain.policy import Alias, Family
from rps.features.names import FEATURE_COUNT, FEATURE_VERSION
from rps.serving.model_manager import FetchedModel, LoadedModel, ModelManager
from rps.serving.predictor import ModelAnswer, ModelUnavailable
from tests.support.onnx_models import DictSource, fetched


def full(version: str = "1", **kwargs) -> dict:
    return {(f, a): fetched(version, **kwargs) for f in Family for a in Alias}


FEATURES = np.zeros(FEATURE_COUNT, dtype=np.float32)


def test_models_answer_with_their_probabilities_version_and_run():
    manager = ModelManager([DictSource("cache", full("7"))])
    manager.reload()
    answer = manager.predict(Family.XGBOOST, Alias.B, FEATURES)
    assert isinstance(answer, ModelAnswer)
    assert answer.probabilities == pytest.approx((0.7, 0.2, 0.1), abs=1e-6)
    assert answer.version == "7"
    assert answer.run_id == "run-7"
    assert manager.degraded() == []


def test_before_loading_every_model_is_unavailable_as_not_loaded():
    manager = ModelManager([DictSource("cache", full())])
    assert manager.predict(Family.XGBOOST, Alias.PRODUCTION, FEATURES) == ModelUnavailable(
        "not_loaded"
    )
    assert not manager.loaded_once


def test_the_registry_answers_what_the_cache_lacks():
    cache = DictSource("cache", {(Family.XGBOOST, Alias.PRODUCTION): fetched("5")})
    registry = DictSource("registry", full("9"))
    manager = ModelManager([cache, registry])
    manager.reload()
    status = {row["model"]: row for row in manager.status()}
    assert status["xgboost@Production"]["source"] == "cache"
    assert status["xgboost@Production"]["version"] == "5"
    assert status["xgboost@B"]["source"] == "registry"
    assert status["xgboost@B"]["version"] == "9"


def test_a_missing_alias_is_declared_fallback_and_listed_as_degraded():
    models = full()
    del models[(Family.FEEDFORWARD_NN, Alias.SHADOW2)]
    manager = ModelManager([DictSource("cache", models)])
    manager.reload()
    answer = manager.predict(Family.FEEDFORWARD_NN, Alias.SHADOW2, FEATURES)
    assert answer == ModelUnavailable("no_model")
    assert manager.degraded() == [{"model": "feedforward_nn@shadow2", "reason": "no_model"}]


def test_a_corrupt_artifact_falls_back_to_the_next_source():
    corrupt = FetchedModel(
        b"not onnx at all", "3", "run-3", "x", {"feature_version": FEATURE_VERSION}
    )
    cache = DictSource("cache", {(Family.XGBOOST, Alias.PRODUCTION): corrupt})
    registry = DictSource("registry", {(Family.XGBOOST, Alias.PRODUCTION): fetched("2")})
    manager = ModelManager([cache, registry])
    manager.reload()
    row = next(r for r in manager.status() if r["model"] == "xgboost@Production")
    assert row["source"] == "registry"
    assert row["version"] == "2"


def test_a_corrupt_artifact_with_no_other_source_is_a_load_failed_fallback():
    corrupt = FetchedModel(b"\x00\x01", "3", "run-3", "x", {"feature_version": FEATURE_VERSION})
    manager = ModelManager([DictSource("cache", {(Family.XGBOOST, Alias.B): corrupt})])
    manager.reload()
    assert manager.predict(Family.XGBOOST, Alias.B, FEATURES) == ModelUnavailable("load_failed")


def test_a_model_built_for_other_features_is_refused():
    manager = ModelManager([DictSource("cache", full(feature_version="0"))])
    manager.reload()
    assert manager.predict(Family.XGBOOST, Alias.B, FEATURES) == ModelUnavailable(
        "feature_mismatch"
    )


def test_an_unreachable_source_does_not_take_the_manager_down():
    down = DictSource("cache", {k: ConnectionError("no route to host") for k in full()})
    manager = ModelManager([down])
    manager.reload()
    assert manager.predict(Family.MULTINOMIAL_LOGISTIC, Alias.PRODUCTION, FEATURES) == (
        ModelUnavailable("source_unreachable")
    )


def test_a_failed_reload_keeps_serving_the_previous_versions_marked_stale():
    source = DictSource("cache", full("1"))
    manager = ModelManager([source])
    manager.reload()
    source.models = {k: ConnectionError("cache down") for k in full()}
    manager.reload()
    answer = manager.predict(Family.XGBOOST, Alias.PRODUCTION, FEATURES)
    assert isinstance(answer, ModelAnswer)
    assert answer.version == "1"
    assert {d["reason"] for d in manager.degraded()} == {"stale"}


def test_a_reload_swaps_the_whole_set_at_once():
    source = DictSource("cache", full("1", probabilities=(0.8, 0.1, 0.1)))
    manager = ModelManager([source])
    manager.reload()
    before = manager.model_set
    source.models = full("2", probabilities=(0.1, 0.1, 0.8))
    source._generation = 2
    after = manager.reload()
    assert before is not after
    assert all(isinstance(s, LoadedModel) and s.version == "1" for s in before.slots.values())
    assert all(isinstance(s, LoadedModel) and s.version == "2" for s in after.slots.values())
    assert manager.model_set.generation == 2
    answer = manager.predict(Family.FEEDFORWARD_NN, Alias.B, FEATURES)
    assert isinstance(answer, ModelAnswer)
    assert answer.probabilities[2] == pytest.approx(0.8, abs=1e-6)


def test_a_model_that_raises_at_predict_time_is_reported_not_raised():
    manager = ModelManager([DictSource("cache", full())])
    manager.reload()
    answer = manager.predict(Family.XGBOOST, Alias.B, np.zeros(7, dtype=np.float32))
    assert answer == ModelUnavailable("predict_failed")


class RecordingMetrics:
    def __init__(self) -> None:
        self.results: list[str] = []

    def model_loaded(self, model) -> None: ...

    def model_unloaded(self, family, alias) -> None: ...

    def load_seconds(self, seconds: float) -> None: ...

    def reload_result(self, result: str) -> None:
        self.results.append(result)

    def fallback(self, family: str, reason: str) -> None: ...


def test_reloads_are_counted_as_success_degraded_or_failed():
    metrics = RecordingMetrics()
    source = DictSource("cache", full("1"))
    manager = ModelManager([source], metrics)
    manager.reload()  # all 12 load
    partial = full("2")
    partial[(Family.XGBOOST, Alias.SHADOW2)] = ConnectionError("one object unreadable")
    source.models = partial
    manager.reload()  # one kept stale
    source.models = {k: ConnectionError("cache down") for k in full()}
    manager.reload()  # nothing could be loaded: every model kept stale
    assert metrics.results == ["success", "degraded", "failed"]
    # Nothing trained yet is not a failure of the sources: merely degraded.
    empty = RecordingMetrics()
    ModelManager([DictSource("cache", {})], empty).reload()
    assert empty.results == ["degraded"]


# -- one inference call per family ---------------------------------------------------------------


def distinct_models() -> dict:
    """Every family@alias with its own answer, so a mixed-up output would show."""
    answers = [(0.7, 0.2, 0.1), (0.1, 0.6, 0.3), (0.2, 0.2, 0.6), (0.4, 0.35, 0.25)]
    return {(f, a): fetched(f"{i + 1}", answers[i]) for f in Family for i, a in enumerate(Alias)}


def test_a_familys_aliases_answer_in_one_merged_session_exactly_as_they_do_alone():
    manager = ModelManager([DictSource("cache", distinct_models())])
    manager.reload()
    assert set(manager.model_set.families) == set(Family)
    rows = [FEATURES, np.linspace(-1, 3, FEATURE_COUNT, dtype=np.float32)]
    for family in Family:
        for row in rows:
            together = manager.predict_family(family, row)
            assert list(together) == list(Alias)
            for alias in Alias:
                alone = manager.predict(family, alias, row)
                assert together[alias] == alone
    assert manager.predict_family(Family.XGBOOST, FEATURES)[Alias.SHADOW1].version == "3"


def test_an_alias_on_fallback_keeps_its_reason_beside_the_merged_others():
    models = distinct_models()
    del models[(Family.XGBOOST, Alias.B)]
    manager = ModelManager([DictSource("cache", models)])
    manager.reload()
    merged = manager.model_set.families[Family.XGBOOST]
    assert [m.alias for m in merged.models] == [Alias.PRODUCTION, Alias.SHADOW1, Alias.SHADOW2]
    answers = manager.predict_family(Family.XGBOOST, FEATURES)
    assert answers[Alias.B] == ModelUnavailable("no_model")
    assert isinstance(answers[Alias.SHADOW2], ModelAnswer)


def test_a_family_with_one_model_or_none_is_not_merged_and_still_answers():
    models = {(Family.FEEDFORWARD_NN, Alias.PRODUCTION): fetched("3")}
    manager = ModelManager([DictSource("cache", models)])
    manager.reload()
    assert manager.model_set.families == {}
    answers = manager.predict_family(Family.FEEDFORWARD_NN, FEATURES)
    assert isinstance(answers[Alias.PRODUCTION], ModelAnswer)
    assert answers[Alias.B] == ModelUnavailable("no_model")
    assert all(
        isinstance(a, ModelUnavailable)
        for a in manager.predict_family(Family.XGBOOST, FEATURES).values()
    )


def test_graphs_that_cannot_be_merged_keep_their_own_sessions(caplog):
    manager = ModelManager([DictSource("cache", distinct_models())])
    manager.reload()
    assert Family.XGBOOST in manager.model_set.families
    from rps.serving import model_manager

    def refuse(models: object) -> object:
        raise ValueError("cannot merge these graphs")

    original = model_manager._merged
    model_manager._merged = refuse
    try:
        manager.reload()
    finally:
        model_manager._merged = original
    assert manager.model_set.families == {}
    assert "serving each alias on its own session" in caplog.text
    answers = manager.predict_family(Family.XGBOOST, FEATURES)
    assert answers[Alias.B] == manager.predict(Family.XGBOOST, Alias.B, FEATURES)

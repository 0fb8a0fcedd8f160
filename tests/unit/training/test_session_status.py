"""What a trained model and a training session count as (SPEC §8 ``rps_training_completed_total``):
a model the gate refused is rejected, one that raised failed, a registered one succeeded."""

from __future__ import annotations

import pytest

from rps.persistence.lifecycle_repository import TrainingStatus
from rps.settings import PACKAGED_TRAINING_CONFIG
from rps.training.configs import load_config, plan
from rps.training.runner import ModelOutcome
from rps.training.scheduling import model_status, session_status

PLANNED = plan(load_config(PACKAGED_TRAINING_CONFIG))[0]
SUCCEEDED, FAILED, REJECTED = (
    TrainingStatus.SUCCEEDED,
    TrainingStatus.FAILED,
    TrainingStatus.REJECTED,
)


def registered() -> ModelOutcome:
    return ModelOutcome(PLANNED, run_id="r", version="3", accepted=True)


def refused() -> ModelOutcome:
    return ModelOutcome(PLANNED, run_id="r", reason="rejected: gym win rate 30% below the layer")


def below_gate() -> ModelOutcome:
    return ModelOutcome(PLANNED, run_id="r", version="1", below_gate=True)


def raised() -> ModelOutcome:
    return ModelOutcome(PLANNED, error="RuntimeError: boom")


def registered_then_raised() -> ModelOutcome:
    return ModelOutcome(PLANNED, run_id="r", version="4", accepted=True, error="alias: timeout")


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (registered(), SUCCEEDED),
        (below_gate(), SUCCEEDED),
        (refused(), REJECTED),
        (raised(), FAILED),
        (registered_then_raised(), FAILED),
    ],
)
def test_a_model_is_succeeded_rejected_or_failed(outcome: ModelOutcome, expected: TrainingStatus):
    assert model_status(outcome) is expected


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([registered(), refused(), raised()], FAILED),
        ([refused(), refused()], REJECTED),
        ([refused(), below_gate()], SUCCEEDED),
        ([registered(), refused()], SUCCEEDED),
        ([], SUCCEEDED),
    ],
)
def test_a_session_is_rejected_only_when_the_gate_refused_every_model(
    outcomes: list[ModelOutcome], expected: TrainingStatus
):
    assert session_status(outcomes) is expected

"""The port the bot asks for probabilities, and its answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rps.domain.policy import Alias, Family, Probabilities


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """A model's probabilities for the user's move, with the version that produced them."""

    probabilities: Probabilities
    version: str | None
    run_id: str | None
    # The model's calibrated validation log-loss (sets its prior weight in the decision layer);
    # None for models trained before calibration.
    val_log_loss: float | None = None


@dataclass(frozen=True, slots=True)
class ModelUnavailable:
    """Why no model could answer (the fallback reason reported everywhere)."""

    reason: str


class Predictor(Protocol):
    """Implemented by the model manager; ``NoModels`` before any model exists."""

    def predict(
        self, family: Family, alias: Alias, features: np.ndarray
    ) -> ModelAnswer | ModelUnavailable: ...

    def version_of(self, family: Family, alias: Alias) -> str | None: ...

    def val_log_loss(self, family: Family, alias: Alias) -> float | None:
        """The loaded model's calibrated validation log-loss (None: unknown or no model)."""
        ...


class NoModels:
    """The predictor before any model exists: every family is on its fallback."""

    def predict(self, family: Family, alias: Alias, features: np.ndarray) -> ModelUnavailable:
        return ModelUnavailable("no_model")

    def version_of(self, family: Family, alias: Alias) -> str | None:
        return None

    def val_log_loss(self, family: Family, alias: Alias) -> float | None:
        return None

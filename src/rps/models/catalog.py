"""Which class implements each family, and building one from a config's raw hyperparameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rps.domain.policy import Family
from rps.models.base import ModelFamily
from rps.models.feedforward import FeedforwardNN
from rps.models.gradient_boosting import XGBoostModel
from rps.models.logistic import MultinomialLogistic

FAMILY_CLASSES: dict[Family, type[ModelFamily]] = {
    Family.FEEDFORWARD_NN: FeedforwardNN,
    Family.XGBOOST: XGBoostModel,
    Family.MULTINOMIAL_LOGISTIC: MultinomialLogistic,
}


def model_for(
    family: Family | str, hyperparameters: Mapping[str, Any] | None = None, seed: int = 0
) -> ModelFamily:
    """An unfitted model of ``family`` with validated hyperparameters (missing ones take the
    SPEC §5 defaults). A bad or unknown hyperparameter raises pydantic's ``ValidationError``,
    which names the field."""
    model_class = FAMILY_CLASSES[Family(family)]
    validated = model_class.parse_hyperparameters(dict(hyperparameters or {}))
    return model_class(validated, seed=seed)

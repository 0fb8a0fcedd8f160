"""multinomial_logistic (policy logan): softmax regression in PyTorch (SPEC §5)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from rps.domain.move import MOVES
from rps.domain.policy import Family
from rps.features.names import FEATURE_NAMES
from rps.models.base import CLASS_COUNT, Hyperparameters, Labels
from rps.models.hyperparameters import LogisticHyperparameters
from rps.models.torch_training import Regularizer, ScaledNetwork, TorchFamily, class_weights


class MultinomialLogistic(TorchFamily):
    """Scaler → Linear(50 → 3); Adam on class-weighted cross-entropy + ``l2 · ½‖W‖² / n``.

    The weights start at zero (the objective is convex, so nothing is gained from a random start,
    and a constant column's coefficient stays exactly 0) and the bias at the log of the
    class-weighted label shares (add-one smoothed): training starts from the best constant
    prediction rather than from uniform, which matters on small data where Adam takes few steps.
    ``extras()`` holds the coefficients.
    """

    family: ClassVar[Family] = Family.MULTINOMIAL_LOGISTIC
    hyperparameter_type: ClassVar[type[Hyperparameters]] = LogisticHyperparameters
    hyperparameters: LogisticHyperparameters

    def architecture(self) -> dict[str, Any]:
        return {"layers": "linear"}

    def build_body(self, n_features: int) -> nn.Sequential:
        linear = nn.Linear(n_features, CLASS_COUNT)
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)
        return nn.Sequential(linear)

    def initialize(self, network: ScaledNetwork, y: Labels) -> None:
        counts = torch.from_numpy(np.bincount(y, minlength=CLASS_COUNT).astype(np.float32))
        weights = self.loss_weights(y)
        weighted = counts * weights if weights is not None else counts
        with torch.no_grad():
            network.first_linear().bias.copy_(torch.log((weighted + 1) / (weighted.sum() + 3)))

    def loss_weights(self, y: Labels) -> torch.Tensor | None:
        return class_weights(y, self.hyperparameters.class_weight_balanced)

    def regularizer(self, network: ScaledNetwork, n_train: int) -> Regularizer | None:
        if not self.hyperparameters.l2:
            return None
        weight = network.first_linear().weight
        strength = self.hyperparameters.l2 / (2 * n_train)

        def penalty() -> torch.Tensor:
            return strength * weight.pow(2).sum()

        return penalty

    def extras(self) -> dict[str, Any]:
        """Coefficients per class and feature: ``coefficients``/``intercepts`` act on the
        original feature values (``logit = Σ w·x + b``), ``standardized_coefficients`` on the
        standardised ones (comparable across features)."""
        extras = super().extras()
        if self.network is None:
            return extras
        linear = self.network.first_linear()
        with torch.no_grad():
            weight = linear.weight.double()
            scale = self.network.scaler.scale.double()
            mean = self.network.scaler.mean.double()
            original = weight / scale
            intercept = linear.bias.double() - original @ mean
        classes = [m.value for m in MOVES]
        extras["coefficient_units"] = "original feature values"
        extras["coefficients"] = {
            c: dict(zip(FEATURE_NAMES, original[i].tolist(), strict=True))
            for i, c in enumerate(classes)
        }
        extras["intercepts"] = dict(zip(classes, intercept.tolist(), strict=True))
        extras["standardized_coefficients"] = {
            c: dict(zip(FEATURE_NAMES, weight[i].tolist(), strict=True))
            for i, c in enumerate(classes)
        }
        return extras

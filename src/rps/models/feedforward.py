"""feedforward_nn (policy brian): a small multilayer perceptron in PyTorch (SPEC §5)."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from rps.domain.policy import Family
from rps.models.base import CLASS_COUNT, Hyperparameters
from rps.models.hyperparameters import FeedforwardHyperparameters
from rps.models.torch_training import TorchFamily


class FeedforwardNN(TorchFamily):
    """Scaler → per hidden size (Linear → BatchNorm1d → ReLU → Dropout) → Linear → 3 logits.

    Adam with weight decay on every parameter; the plateau scheduler, early stopping and warm
    start of :class:`~rps.models.torch_training.TorchFamily`. ``extras()`` are the training
    curves.
    """

    family: ClassVar[Family] = Family.FEEDFORWARD_NN
    hyperparameter_type: ClassVar[type[Hyperparameters]] = FeedforwardHyperparameters
    hyperparameters: FeedforwardHyperparameters

    def architecture(self) -> dict[str, Any]:
        return {"hidden_sizes": list(self.hyperparameters.hidden_sizes)}

    def build_body(self, n_features: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        width = n_features
        for size in self.hyperparameters.hidden_sizes:
            layers += [
                nn.Linear(width, size),
                nn.BatchNorm1d(size),
                nn.ReLU(),
                nn.Dropout(self.hyperparameters.dropout),
            ]
            width = size
        layers.append(nn.Linear(width, CLASS_COUNT))
        return nn.Sequential(*layers)

    def weight_decay(self) -> float:
        return self.hyperparameters.weight_decay

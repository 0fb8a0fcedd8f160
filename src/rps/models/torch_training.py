"""What the two PyTorch families share: the scaler inside the network, the training loop with the
danger penalty and early stopping, warm starts, native save/load and prediction.

The networks are tiny (a few thousand weights), so a training step costs Python and dispatch
overhead more than arithmetic: the loop indexes pre-built tensors instead of using a
``DataLoader`` and Adam runs fused. Training and prediction run on one thread: measured on 2
cores, one thread is faster for batches of 64 (1.4 against 1.7 ms a step), as fast up to ~256
rows a batch, and two are only 5–12% faster from 512 rows on an idle machine — but when another
process keeps a core busy, two threads wait on each other and a 0.3 s fit took 5–16 s.
"""

from __future__ import annotations

import copy
import io
import logging
import math
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from rps.features.names import FEATURE_COUNT
from rps.models.base import (
    CLASS_COUNT,
    FitReport,
    FloatMatrix,
    Hyperparameters,
    Labels,
    ModelFamily,
    TrainingDiverged,
    Validation,
    checked_features,
    checked_fit_inputs,
    iteration_budget,
)
from rps.models.hyperparameters import TorchHyperparameters

logger = logging.getLogger(__name__)

TRAINING_THREADS = 1
# A column whose training standard deviation is below this is treated as constant: it is centred
# but not divided (scale 1), so an unseen value stays finite instead of being multiplied by 1e6+.
MIN_FEATURE_STD = 1e-6
_NATIVE_FORMAT = 1


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads, restoring the process's setting after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Standardizer(nn.Module):
    """``(x − mean) / scale`` with the statistics as buffers, so they are saved with the weights
    and exported into the ONNX graph."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    @staticmethod
    def statistics(features: FloatMatrix) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and scale of each column (computed in float64, stored as float32)."""
        mean = features.mean(axis=0, dtype=np.float64)
        std = features.std(axis=0, dtype=np.float64)
        scale = np.where(std < MIN_FEATURE_STD, 1.0, std)
        return (
            torch.from_numpy(mean.astype(np.float32)),
            torch.from_numpy(scale.astype(np.float32)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


class ScaledNetwork(nn.Module):
    """Standardisation followed by ``body``; returns logits (softmax is added for serving)."""

    def __init__(self, n_features: int, body: nn.Sequential) -> None:
        super().__init__()
        self.scaler = Standardizer(n_features)
        self.body = body

    def first_linear(self) -> nn.Linear:
        layer = self.body[0]
        if not isinstance(layer, nn.Linear):
            raise TypeError("the network body must start with a Linear layer")
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.body(self.scaler(x))
        return logits


class ProbabilityNetwork(nn.Module):
    """The serving form of a network: logits → softmax over rock, paper, scissors."""

    def __init__(self, network: ScaledNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.network(x), dim=1)


def rescale_inputs(network: ScaledNetwork, mean: torch.Tensor, scale: torch.Tensor) -> None:
    """Give ``network`` a new scaler without changing the function it computes.

    The first Linear layer sees ``(x − m_old) / s_old``; with ``W' = W · s_new / s_old`` and
    ``b' = b + W · (m_new − m_old) / s_old`` it computes the same pre-activations from
    ``(x − m_new) / s_new``. A warm start thus begins exactly where the previous model ended while
    its inputs are standardised for the new data.
    """
    layer = network.first_linear()
    old_mean, old_scale = network.scaler.mean, network.scaler.scale
    with torch.no_grad():
        weight = layer.weight.double()
        shift = weight @ ((mean - old_mean).double() / old_scale.double())
        layer.weight.copy_(weight * (scale.double() / old_scale.double()))
        if layer.bias is not None:
            layer.bias.add_(shift.to(layer.bias.dtype))
        network.scaler.mean.copy_(mean)
        network.scaler.scale.copy_(scale)


def class_weights(y: Labels, balanced: bool) -> torch.Tensor | None:
    """Balanced weights ``n / (k · n_class)`` over the k classes present (scikit-learn's rule);
    classes absent from ``y`` get 1 (they never weigh a training row anyway)."""
    if not balanced:
        return None
    counts = np.bincount(y, minlength=CLASS_COUNT).astype(np.float64)
    present = counts > 0
    weights = np.ones(CLASS_COUNT)
    weights[present] = len(y) / (present.sum() * counts[present])
    return torch.from_numpy(weights.astype(np.float32))


def danger(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean probability given to the move that beats the true one: the bot answers a predicted
    move with its beater, so this is the probability mass that makes the bot lose (SPEC §5)."""
    beaters = (y + 1) % CLASS_COUNT
    return torch.softmax(logits, dim=1).gather(1, beaters.unsqueeze(1)).mean()


class Objective:
    """The data term of the loss: (weighted) cross-entropy + λ · danger."""

    def __init__(self, weights: torch.Tensor | None, lambda_danger: float) -> None:
        self._cross_entropy = nn.CrossEntropyLoss(weight=weights)
        self._lambda_danger = lambda_danger

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss: torch.Tensor = self._cross_entropy(logits, y)
        if self._lambda_danger:
            loss = loss + self._lambda_danger * danger(logits, y)
        return loss


Regularizer = Callable[[], torch.Tensor]


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    batches = list(torch.split(order, batch_size))
    # BatchNorm cannot normalise a single row in training mode; drop a lone trailing row (a
    # different one each epoch, since the order is reshuffled).
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()
    return batches


def _evaluate(
    network: nn.Module, objective: Objective, features: torch.Tensor, labels: torch.Tensor
) -> tuple[float, float]:
    network.eval()
    with torch.inference_mode():
        logits = network(features)
        loss = float(objective(logits, labels))
        accuracy = float((logits.argmax(dim=1) == labels).double().mean())
    return loss, accuracy


def train_network(
    network: ScaledNetwork,
    features: FloatMatrix,
    labels: Labels,
    validation: Validation | None,
    *,
    hyperparameters: TorchHyperparameters,
    epochs: int,
    seed: int,
    weight_decay: float = 0.0,
    weights: torch.Tensor | None = None,
    regularizer: Regularizer | None = None,
    warm_started: bool = False,
) -> FitReport:
    """Adam on mini-batches with the plateau scheduler; with a validation set, early stopping
    that restores the weights of the best validation loss.

    The validation loss is the training objective's data term (class-weighted cross-entropy +
    λ · danger, weights from the training labels) without the regulariser. Without a validation
    set the scheduler follows the training loss and the last weights are kept. A warm-started
    network's untrained state counts as iteration 0, so continuing never ends worse on
    validation than the previous model did.
    """
    hp = hyperparameters
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    train_features = torch.from_numpy(features)
    train_labels = torch.from_numpy(labels)
    check = (
        (torch.from_numpy(validation.features), torch.from_numpy(validation.labels))
        if validation is not None
        else None
    )
    objective = Objective(weights, hp.lambda_danger)
    optimizer = torch.optim.Adam(
        network.parameters(), lr=hp.lr, weight_decay=weight_decay, fused=True
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=hp.lr_factor, patience=hp.lr_patience, min_lr=hp.min_lr
    )
    curves: dict[str, list[float]] = {"train_loss": [], "learning_rate": []}
    if check is not None:
        curves["val_loss"] = []
        curves["val_accuracy"] = []

    best_loss = float("inf")
    best_epoch = 0
    best_state: dict[str, Any] | None = None
    if check is not None and warm_started:
        best_loss, _ = _evaluate(network, objective, *check)
        best_state = copy.deepcopy(network.state_dict())

    epoch = 0
    for epoch in range(1, epochs + 1):
        network.train()
        total, rows = 0.0, 0
        curves["learning_rate"].append(optimizer.param_groups[0]["lr"])
        for batch in _batches(len(train_labels), hp.batch_size, generator):
            data_loss = objective(network(train_features[batch]), train_labels[batch])
            loss = data_loss + regularizer() if regularizer is not None else data_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
            optimizer.step()
            total += float(data_loss.detach()) * len(batch)
            rows += len(batch)
        train_loss = total / max(rows, 1)
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"training loss became {train_loss} in epoch {epoch}; lower the learning rate"
            )
        curves["train_loss"].append(train_loss)
        if check is None:
            scheduler.step(train_loss)
            continue
        val_loss, val_accuracy = _evaluate(network, objective, *check)
        curves["val_loss"].append(val_loss)
        curves["val_accuracy"].append(val_accuracy)
        scheduler.step(val_loss)
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(network.state_dict())
        elif epoch - best_epoch >= hp.patience:
            break

    network.eval()
    if check is None:
        return FitReport(
            iterations_run=epoch,
            best_iteration=epoch,
            curves=curves,
            seconds=time.perf_counter() - started,
            warm_started=warm_started,
        )
    if best_state is None:
        raise TrainingDiverged("the validation loss was never finite")
    network.load_state_dict(best_state)
    return FitReport(
        iterations_run=epoch,
        best_iteration=best_epoch,
        best_validation_loss=best_loss,
        curves=curves,
        seconds=time.perf_counter() - started,
        warm_started=warm_started,
    )


class TorchFamily(ModelFamily):
    """A PyTorch family: a :class:`ScaledNetwork` built from the hyperparameters.

    Warm start: the new network starts from the previous model's weights when the architecture
    matches, with the scaler recomputed on the new data and the first layer re-expressed under it
    (:func:`rescale_inputs`), so training resumes from the previous function with well-scaled
    inputs. The optimizer and scheduler start afresh. A previous model of another architecture
    cannot be continued: the fit starts from scratch, logs a warning and reports
    ``warm_started=False``.
    """

    needs_scaling: ClassVar[bool] = True
    supports_warm_start: ClassVar[bool] = True
    hyperparameters: TorchHyperparameters

    def __init__(self, hyperparameters: Hyperparameters, seed: int = 0) -> None:
        super().__init__(hyperparameters, seed)
        self.network: ScaledNetwork | None = None
        self.fit_report: FitReport | None = None

    # --- what a family defines -------------------------------------------------------------

    @abstractmethod
    def architecture(self) -> dict[str, Any]:
        """What determines the network's shape (saved with the weights, compared on warm start)."""

    @abstractmethod
    def build_body(self, n_features: int) -> nn.Sequential:
        """The layers after the scaler, ending in logits over the three moves."""

    def initialize(self, network: ScaledNetwork, y: Labels) -> None:
        """Adjust a fresh network to the training labels before training (not on warm start)."""

    def weight_decay(self) -> float:
        return 0.0

    def loss_weights(self, y: Labels) -> torch.Tensor | None:
        return None

    def regularizer(self, network: ScaledNetwork, n_train: int) -> Regularizer | None:
        return None

    # --- the interface ------------------------------------------------------------------------

    def build_network(self, n_features: int = FEATURE_COUNT) -> ScaledNetwork:
        return ScaledNetwork(n_features, self.build_body(n_features))

    def fitted_network(self) -> ScaledNetwork:
        if self.network is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return self.network

    def fit(
        self,
        X: FloatMatrix,
        y: Labels,
        X_val: FloatMatrix | None = None,
        y_val: Labels | None = None,
        *,
        max_iterations: int | None = None,
        warm_start: ModelFamily | None = None,
    ) -> FitReport:
        # BatchNorm needs two rows to normalise a batch
        features, labels, validation = checked_fit_inputs(X, y, X_val, y_val, min_rows=2)
        epochs = iteration_budget(self.hyperparameters.epochs, max_iterations)
        mean, scale = Standardizer.statistics(features)
        with torch.random.fork_rng(devices=[]), torch_threads(TRAINING_THREADS):
            torch.manual_seed(self.seed)
            network = self.build_network(features.shape[1])
            warm = self._continue_from(warm_start, network)
            if warm:
                rescale_inputs(network, mean, scale)
            else:
                network.scaler.mean.copy_(mean)
                network.scaler.scale.copy_(scale)
                self.initialize(network, labels)
            report = train_network(
                network,
                features,
                labels,
                validation,
                hyperparameters=self.hyperparameters,
                epochs=epochs,
                seed=self.seed,
                weight_decay=self.weight_decay(),
                weights=self.loss_weights(labels),
                regularizer=self.regularizer(network, len(labels)),
                warm_started=warm,
            )
        self.network = network
        self.fit_report = report
        return report

    def _continue_from(self, previous: ModelFamily | None, network: ScaledNetwork) -> bool:
        if previous is None:
            return False
        if not isinstance(previous, type(self)):
            raise TypeError(
                f"cannot warm-start {type(self).__name__} from {type(previous).__name__}"
            )
        if previous.network is None:
            raise ValueError("cannot warm-start from a model that was never fitted")
        if previous.architecture() != self.architecture():
            logger.warning(
                "warm start skipped: architecture %s differs from the previous model's %s",
                self.architecture(),
                previous.architecture(),
            )
            return False
        network.load_state_dict(previous.network.state_dict())
        return True

    def predict_proba(self, X: FloatMatrix) -> npt.NDArray[np.float32]:
        network = self.fitted_network()
        network.eval()
        with torch_threads(TRAINING_THREADS), torch.inference_mode():
            probabilities = torch.softmax(network(torch.from_numpy(checked_features(X))), dim=1)
        result: npt.NDArray[np.float32] = probabilities.numpy().astype(np.float32, copy=False)
        return result

    def to_onnx(self) -> bytes:
        from rps.models.onnx_export import torch_to_onnx

        network = self.fitted_network()
        return torch_to_onnx(ProbabilityNetwork(network), network.scaler.mean.numel())

    def save_native(self) -> tuple[str, bytes]:
        buffer = io.BytesIO()
        torch.save(
            {
                "format": _NATIVE_FORMAT,
                "family": self.family.value,
                "architecture": self.architecture(),
                "n_features": self.fitted_network().scaler.mean.numel(),
                "state_dict": self.fitted_network().state_dict(),
            },
            buffer,
        )
        return f"{self.family.value}.pt", buffer.getvalue()

    @classmethod
    def load_native(cls, hyperparameters: Hyperparameters, payload: bytes) -> TorchFamily:
        saved = torch.load(io.BytesIO(payload), weights_only=True)
        if saved.get("format") != _NATIVE_FORMAT or saved.get("family") != cls.family.value:
            raise ValueError(
                f"not a {cls.family.value} model (format {saved.get('format')!r}, "
                f"family {saved.get('family')!r})"
            )
        model = cls(hyperparameters)
        if saved["architecture"] != model.architecture():
            raise ValueError(
                f"saved architecture {saved['architecture']} does not match the "
                f"hyperparameters' {model.architecture()}"
            )
        network = model.build_network(int(saved["n_features"]))
        network.load_state_dict(saved["state_dict"])
        network.eval()
        model.network = network
        return model

    def extras(self) -> dict[str, Any]:
        if self.fit_report is None:
            return {}
        return {
            "curves": self.fit_report.curves,
            "iterations_run": self.fit_report.iterations_run,
            "best_iteration": self.fit_report.best_iteration,
        }

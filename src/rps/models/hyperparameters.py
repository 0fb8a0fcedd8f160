"""Each family's hyperparameters: validated, with the defaults of SPEC §5.

They come from the config file (``rps/configs/model_hyperparameters.json`` unless
TRAINING_CONFIG_PATH names another) and ``--set key=value`` overrides, so every
check names the field it refuses (pydantic does) and unknown names are errors (``extra="forbid"``
on :class:`~rps.models.base.Hyperparameters`). Numbers are coerced the usual pydantic way
(``"64"`` → 64), but ``class_weight_balanced`` is a real boolean: ``"false"`` is refused rather
than read as true.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool

from rps.models.base import Hyperparameters

PositiveInt = Annotated[int, Field(gt=0)]


class TorchHyperparameters(Hyperparameters):
    """What the two PyTorch families share: Adam, mini-batches, early stopping, the plateau
    scheduler and the danger penalty."""

    lr: float = Field(default=3e-3, gt=0, description="Adam learning rate")
    batch_size: int = Field(default=64, ge=2, description="rows per mini-batch")
    epochs: int = Field(default=200, ge=1, description="most epochs to train")
    patience: int = Field(
        default=15, ge=1, description="epochs without a better validation loss before stopping"
    )
    lr_factor: float = Field(default=0.5, gt=0, lt=1, description="ReduceLROnPlateau factor")
    lr_patience: int = Field(default=7, ge=0, description="ReduceLROnPlateau patience (epochs)")
    min_lr: float = Field(default=1e-6, ge=0, description="ReduceLROnPlateau floor")
    lambda_danger: float = Field(
        default=0.0,
        ge=0,
        description="weight of mean P(beater(true move)) added to the loss (SPEC §5)",
    )


class FeedforwardHyperparameters(TorchHyperparameters):
    """feedforward_nn: per hidden size Linear → BatchNorm1d → ReLU → Dropout, then Linear → 3."""

    hidden_sizes: tuple[PositiveInt, ...] = Field(default=(64, 32), min_length=1)
    dropout: float = Field(default=0.3, ge=0, lt=1)
    weight_decay: float = Field(default=1e-4, ge=0, description="Adam weight decay")


class LogisticHyperparameters(TorchHyperparameters):
    """multinomial_logistic: Linear(50 → 3) on standardised features.

    ``l2`` adds ``l2 · ½‖W‖² / n_train`` to the mean loss (weights only, not the bias). That is
    scikit-learn's objective divided by ``C · n_train`` with ``C = 1 / l2``, so ``l2 = 1`` is
    ``LogisticRegression(C=1)`` — on the standardised features the model sees.
    """

    lr: float = Field(default=5e-3, gt=0, description="Adam learning rate")
    l2: float = Field(default=1.0, ge=0, description="L2 strength on the weights (1/C)")
    class_weight_balanced: StrictBool = Field(
        default=True, description="weight classes by n / (k · n_class) in the loss"
    )
    batch_size: int = Field(default=256, ge=2, description="rows per mini-batch")
    epochs: int = Field(default=100, ge=1, description="most epochs to train")
    patience: int = Field(default=25, ge=1)


class XGBoostHyperparameters(Hyperparameters):
    """xgboost: multi:softprob over 3 classes on unscaled features."""

    n_estimators: int = Field(default=300, ge=1, description="most boosting rounds")
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    max_depth: int = Field(default=3, ge=1, le=16)
    min_child_weight: float = Field(default=2.0, ge=0)
    subsample: float = Field(default=0.8, gt=0, le=1)
    colsample_bytree: float = Field(default=0.7, gt=0, le=1)
    reg_lambda: float = Field(default=2.0, ge=0)
    reg_alpha: float = Field(default=0.1, ge=0)
    gamma: float = Field(default=0.0, ge=0)
    tree_method: Literal["hist", "approx", "exact"] = "hist"
    max_bin: int = Field(default=256, ge=2, description="histogram bins per feature (hist)")
    early_stopping_rounds: int = Field(
        default=20, ge=1, description="rounds without a better validation loss before stopping"
    )
    # One thread: on two shared cores a second OpenMP thread made fits ~100× slower when anything
    # else ran (busy-waiting threads), and these small trees gain little from it even when idle.
    n_jobs: int = Field(default=1, ge=1, description="training threads")

"""Every candidate plays the opponent gym in the training process (SPEC §5): through the
decision layer, as it would be served, paired with the layer without a model and with
value-greedy on the same games. The figures are logged with the run and gate registration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rps.domain.gym import STRATEGIES, Strategy
from rps.domain.policy import Alias, Family
from rps.serving.model_manager import FetchedModel, FixedModels, load_model
from rps.serving.policy import DEFAULT_DECISION, DecisionConfig
from rps.serving.strength import (
    ServedModel,
    StrengthGate,
    StrengthReport,
    cached_baselines,
    play_gym,
)

CANDIDATE = "candidate"
# Every candidate of every session plays the same games, so their figures compare directly
# and the baselines are played once per process.
GATE_SEED = 20261207


@dataclass(frozen=True)
class StrengthCheck:
    """How candidates are measured against the gym and what they must achieve."""

    games_per_opponent: int = 20
    decision: DecisionConfig = DEFAULT_DECISION
    gate: StrengthGate = field(default_factory=StrengthGate)
    seed: int = GATE_SEED
    opponents: Sequence[Strategy] = STRATEGIES

    def evaluate(self, family: Family, onnx: bytes, metadata: dict[str, Any]) -> StrengthReport:
        """The candidate (its ONNX graph and serving metadata) and the baselines on the gym."""
        fetched = FetchedModel(
            onnx, CANDIDATE, CANDIDATE, hashlib.sha256(onnx).hexdigest(), metadata
        )
        model = load_model(family, Alias.PRODUCTION, fetched, source=CANDIDATE)
        predictor = FixedModels({(family, Alias.PRODUCTION): model})
        contender = ServedModel(family, Alias.PRODUCTION, predictor, self.decision, label=CANDIDATE)
        params = self.decision.params
        baselines = cached_baselines(self.opponents, self.games_per_opponent, self.seed, params)
        played = play_gym(
            [contender],
            self.opponents,
            self.games_per_opponent,
            seed=self.seed,
            params_digest=params.digest(),
        )
        return played.merged(baselines)

    def judge(self, report: StrengthReport) -> tuple[bool, str]:
        return self.gate.judge(report, CANDIDATE)

"""The 50-feature contract (SPEC §3): ordered names and one definition of every feature, served
through three entry points that agree exactly — batch (tables of rounds, training), online (one
game's history, serving) and stateless (move lists from an API call).

numpy and the domain only; no IO.
"""

from rps.features.batch import RoundTable, batch_features, labelled_mask, labels
from rps.features.names import FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION, MIN_LABEL_STEP
from rps.features.online import OnlineFeatureState, online_features
from rps.features.stateless import stateless_features

__all__ = [
    "FEATURE_COUNT",
    "FEATURE_NAMES",
    "FEATURE_VERSION",
    "MIN_LABEL_STEP",
    "OnlineFeatureState",
    "RoundTable",
    "batch_features",
    "labelled_mask",
    "labels",
    "online_features",
    "stateless_features",
]

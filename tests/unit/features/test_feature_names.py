"""The ordered names of the 50-feature contract."""

from __future__ import annotations

import pytest

from rps.features import FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION, MIN_LABEL_STEP


def test_there_are_exactly_fifty_features() -> None:
    assert FEATURE_COUNT == 50
    assert len(FEATURE_NAMES) == FEATURE_COUNT


@pytest.mark.parametrize(
    ("index", "name"),
    [
        (0, "user_-1_rock"),
        (8, "user_-3_scissors"),
        (9, "bot_-1_rock"),
        (18, "res_-1_win"),
        (20, "res_-1_draw"),
        (27, "rock_pts"),
        (30, "points_-1_rock"),
        (38, "points_-3_scissors"),
        (39, "user_tend_rock"),
        (42, "tend_favored"),
        (44, "tend_fav_beater_beater"),
        (45, "score_diff"),
        (46, "user_pts_to_win"),
        (47, "bot_pts_to_win"),
        (48, "step_no"),
        (49, "easy_mode"),
    ],
)
def test_feature_order_is_pinned(index: int, name: str) -> None:
    assert FEATURE_NAMES[index] == name


def test_feature_names_are_unique() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_feature_version_is_a_string_that_models_can_log() -> None:
    assert isinstance(FEATURE_VERSION, str)
    assert FEATURE_VERSION


def test_training_examples_start_after_the_three_opening_rounds() -> None:
    assert MIN_LABEL_STEP == 4

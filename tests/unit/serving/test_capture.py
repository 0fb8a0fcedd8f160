"""Inference capture: sampling, one file per day, rotation by size, retention, never raising."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rps.domain.move import Move
from rps.domain.policy import Alias, Family
from rps.features.names import FEATURE_COUNT, FEATURE_NAMES
from rps.serving.capture import InferenceCapture, NullCapture, capture_files, inference_capture

DAY = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = DAY) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def record(capture, round_no: int = 4, game_id: str = "g1") -> None:
    capture.record(
        game_id=game_id,
        round_no=round_no,
        family=Family.XGBOOST,
        alias=Alias.B,
        version="7",
        run_id="run-7",
        features=[float(i) / 10 for i in range(FEATURE_COUNT)],
        probabilities=(0.5, 0.3, 0.2),
        move=Move.PAPER,
    )


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_sampled_round_is_one_json_line_with_everything_needed_to_replay_it(tmp_path):
    capture = InferenceCapture(tmp_path, 1.0, clock=Clock())
    record(capture)
    (line,) = lines(tmp_path / "inference-2026-03-01.jsonl")
    assert line["timestamp"] == "2026-03-01T12:00:00Z"
    assert (line["game_id"], line["round"], line["model"]) == ("g1", 4, "xgboost@B")
    assert (line["model_version"], line["run_id"], line["move"]) == ("7", "run-7", "paper")
    assert line["feature_names"] == list(FEATURE_NAMES)
    assert line["features"] == [float(i) / 10 for i in range(FEATURE_COUNT)]
    assert line["probabilities"] == [0.5, 0.3, 0.2]


def test_sample_rate_zero_writes_nothing(tmp_path):
    capture = InferenceCapture(tmp_path / "capture", 0.0, random.Random(1), clock=Clock())
    for round_no in range(4, 40):
        record(capture, round_no)
    assert not (tmp_path / "capture").exists()
    assert capture.written == 0


def test_sample_rate_one_writes_every_round(tmp_path):
    capture = InferenceCapture(tmp_path, 1.0, random.Random(1), clock=Clock())
    for round_no in range(4, 40):
        record(capture, round_no)
    assert [x["round"] for x in lines(tmp_path / "inference-2026-03-01.jsonl")] == list(
        range(4, 40)
    )


def test_a_fractional_sample_rate_keeps_about_that_share(tmp_path):
    capture = InferenceCapture(tmp_path, 0.25, random.Random(5), clock=Clock())
    for round_no in range(2000):
        record(capture, round_no)
    assert 400 < capture.written < 600


def test_each_utc_day_has_its_own_file(tmp_path):
    clock = Clock(datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    capture = InferenceCapture(tmp_path, 1.0, clock=clock)
    record(capture, 4)
    clock.now += timedelta(minutes=2)
    record(capture, 5)
    assert [p.name for p in capture_files(tmp_path)] == [
        "inference-2026-03-01.jsonl",
        "inference-2026-03-02.jsonl",
    ]
    assert lines(tmp_path / "inference-2026-03-02.jsonl")[0]["round"] == 5


def test_a_full_file_is_rotated_to_numbered_files_and_no_line_is_lost(tmp_path):
    capture = InferenceCapture(tmp_path, 1.0, clock=Clock(), max_bytes_per_file=3000)
    for round_no in range(1, 11):
        record(capture, round_no)
    files = capture_files(tmp_path)
    names = [p.name for p in files]
    assert names[-1] == "inference-2026-03-01.jsonl"
    assert names[:2] == ["inference-2026-03-01.1.jsonl", "inference-2026-03-01.2.jsonl"]
    assert all(p.stat().st_size <= 3000 for p in files)
    rounds = [line["round"] for p in files for line in lines(p)]
    assert rounds == list(range(1, 11))  # oldest first across rotations


def test_retention_keeps_the_newest_files(tmp_path):
    clock = Clock()
    capture = InferenceCapture(tmp_path, 1.0, clock=clock, max_bytes_per_file=3000, keep_files=3)
    for day in range(5):
        clock.now = DAY + timedelta(days=day)
        for round_no in range(1, 4):
            record(capture, round_no, game_id=f"day{day}")
    names = [p.name for p in capture_files(tmp_path)]
    assert len(names) == 3
    assert names[-1] == "inference-2026-03-05.jsonl"
    assert all("2026-03-05" in n or "2026-03-04" in n for n in names)


def test_an_unwritable_directory_never_raises_and_is_counted_and_logged_once(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    capture = InferenceCapture(blocker / "capture", 1.0, clock=Clock())
    with caplog.at_level(logging.WARNING, logger="rps.serving.capture"):
        for round_no in range(4, 9):
            record(capture, round_no)
    assert capture.errors == 5
    assert capture.written == 0
    warnings = [r for r in caplog.records if "inference capture" in r.getMessage()]
    assert len(warnings) == 1


def test_bad_input_is_swallowed_too(tmp_path):
    capture = InferenceCapture(tmp_path, 1.0, clock=Clock())
    capture.record(
        game_id="g",
        round_no=4,
        family="xgboost",
        alias="B",
        version=None,
        run_id=None,
        features=["not a number"],  # type: ignore[list-item]
        probabilities=None,
        move=Move.ROCK,
    )
    assert capture.errors == 1


def test_no_directory_means_no_capture(tmp_path):
    assert isinstance(inference_capture(None, 1.0), NullCapture)
    assert isinstance(inference_capture(tmp_path, 0.5), InferenceCapture)
    record(NullCapture())


def test_sample_rate_outside_zero_to_one_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="sample_rate"):
        InferenceCapture(tmp_path, 1.5)

"""Inference capture (SPEC §6.5): a sampled share of ML rounds appended as JSON lines, so the
served features and probabilities can be replayed through the batch pipeline later (§6.6).

One file per UTC day, ``inference-YYYY-MM-DD.jsonl``; a file that would grow past
``max_bytes_per_file`` is renamed to ``inference-YYYY-MM-DD.N.jsonl`` (N = 1, 2, ... in order of
rotation) and a fresh one started; at most ``keep_files`` files are kept, oldest deleted first.

Capture sits on the request path, so it must be cheap and must never fail a round: each line is
one ``write`` to a file opened in append mode (O_APPEND keeps lines from several worker processes
whole), and any error is counted and logged at most once a minute instead of raised.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from rps.domain.decision import Belief
from rps.domain.move import Move
from rps.domain.policy import Alias, Family
from rps.features.names import FEATURE_NAMES, FEATURE_VERSION

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES_PER_FILE = 50 * 1024 * 1024
DEFAULT_KEEP_FILES = 14
FILE_PATTERN = re.compile(r"^inference-(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.jsonl$")


class Capture(Protocol):
    """What the gameplay service calls after storing an ML round."""

    def record(
        self,
        *,
        game_id: str,
        round_no: int,
        family: Family | str,
        alias: Alias | str,
        version: str | None,
        run_id: str | None,
        features: np.ndarray | Sequence[float] | None,
        probabilities: Sequence[float] | None,
        move: Move,
        belief: Belief | None = None,
    ) -> None: ...


class NullCapture:
    """Capture switched off (``RPS_CAPTURE_INFERENCE_DIR`` unset): records nothing."""

    def record(
        self,
        *,
        game_id: str,
        round_no: int,
        family: Family | str,
        alias: Alias | str,
        version: str | None,
        run_id: str | None,
        features: np.ndarray | Sequence[float] | None,
        probabilities: Sequence[float] | None,
        move: Move,
        belief: Belief | None = None,
    ) -> None:
        return None


def capture_file_order(path: Path) -> tuple[str, float]:
    """Sort key, oldest first: by day, then rotated files by number, the day's live file last."""
    match = FILE_PATTERN.match(path.name)
    if match is None:
        return ("", 0.0)
    day, index = match.groups()
    return (day, float(index) if index else math.inf)


def capture_files(directory: Path) -> list[Path]:
    """The capture files in ``directory``, oldest first (empty if it does not exist)."""
    try:
        paths = [p for p in directory.iterdir() if FILE_PATTERN.match(p.name) and p.is_file()]
    except OSError:
        return []
    return sorted(paths, key=capture_file_order)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InferenceCapture:
    """Appends sampled ML rounds to the day's JSON-lines file in ``directory``."""

    def __init__(
        self,
        directory: Path,
        sample_rate: float = 1.0,
        rng: random.Random | None = None,
        *,
        max_bytes_per_file: int = DEFAULT_MAX_BYTES_PER_FILE,
        keep_files: int = DEFAULT_KEEP_FILES,
        clock: Callable[[], datetime] = _utcnow,
        log_interval_s: float = 60.0,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be between 0 and 1, got {sample_rate}")
        if max_bytes_per_file < 1 or keep_files < 1:
            raise ValueError("max_bytes_per_file and keep_files must be at least 1")
        self.directory = Path(directory)
        self.sample_rate = sample_rate
        self._rng = rng or random.Random()
        self.max_bytes_per_file = max_bytes_per_file
        self.keep_files = keep_files
        self._clock = clock
        self._log_interval_s = log_interval_s
        self._lock = threading.Lock()
        self._day: str | None = None  # the day whose file was last written (prune on change)
        self._last_error_log = -math.inf
        self._errors_since_log = 0
        self.written = 0
        self.errors = 0

    def _sampled(self) -> bool:
        if self.sample_rate >= 1.0:
            return True
        return self.sample_rate > 0.0 and self._rng.random() < self.sample_rate

    def record(
        self,
        *,
        game_id: str,
        round_no: int,
        family: Family | str,
        alias: Alias | str,
        version: str | None,
        run_id: str | None,
        features: np.ndarray | Sequence[float] | None,
        probabilities: Sequence[float] | None,
        move: Move,
        belief: Belief | None = None,
    ) -> None:
        """Append the round if sampled; never raises (errors are counted and logged)."""
        try:
            if not self._sampled():
                return
            now = self._clock()
            family_text = str(getattr(family, "value", family))
            alias_text = str(getattr(alias, "value", alias))
            line = {
                "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "game_id": game_id,
                "round": round_no,
                "model": f"{family_text}@{alias_text}",
                "family": family_text,
                "alias": alias_text,
                "model_version": version,
                "run_id": run_id,
                "feature_version": FEATURE_VERSION,
                "feature_names": FEATURE_NAMES,
                "features": None if features is None else [float(x) for x in features],
                "probabilities": (
                    None if probabilities is None else [float(p) for p in probabilities]
                ),
                "move": move.value,
                "belief": None
                if belief is None
                else {
                    "probabilities": list(belief.probabilities),
                    "weights": belief.weights(),
                    "params": belief.params_digest,
                },
            }
            data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
            with self._lock:
                self._append(now.astimezone(UTC).strftime("%Y-%m-%d"), data)
                self.written += 1
        except Exception as exc:  # a capture problem must never fail the player's round
            self._failed(exc)

    def _append(self, day: str, data: bytes) -> None:
        path = self.directory / f"inference-{day}.jsonl"
        if day != self._day:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._prune(reserve=0 if path.exists() else 1)
            self._day = day
        # Opened per line: another worker process may have rotated the file since our last write.
        with open(path, "ab") as fh:
            size = fh.seek(0, 2)
            if size > 0 and size + len(data) > self.max_bytes_per_file:
                fh.close()
                self._rotate(path, day)
                with open(path, "ab") as fresh:
                    fresh.write(data)
                return
            fh.write(data)

    def _rotate(self, path: Path, day: str) -> None:
        taken = [
            int(m.group(2))
            for p in self.directory.iterdir()
            if (m := FILE_PATTERN.match(p.name)) and m.group(1) == day and m.group(2)
        ]
        path.rename(self.directory / f"inference-{day}.{max(taken, default=0) + 1}.jsonl")
        self._prune(reserve=1)  # the fresh live file counts too

    def _prune(self, reserve: int = 0) -> None:
        files = capture_files(self.directory)
        excess = len(files) + reserve - self.keep_files
        for old in files[: max(0, excess)]:
            old.unlink(missing_ok=True)

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self.errors += 1
            now = time.monotonic()
            if now - self._last_error_log < self._log_interval_s:
                self._errors_since_log += 1
                return
            suppressed, self._errors_since_log = self._errors_since_log, 0
            self._last_error_log = now
        log.warning(
            "inference capture to %s failed: %s (%d more failures since the last warning, "
            "%d in all)",
            self.directory,
            exc,
            suppressed,
            self.errors,
        )


def inference_capture(directory: Path | None, sample_rate: float = 1.0) -> Capture:
    """The capture the settings ask for: ``InferenceCapture`` on ``directory``, else none."""
    if directory is None:
        return NullCapture()
    return InferenceCapture(directory, sample_rate)

"""Logging setup: one format, level from settings."""

from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_rps", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._rps = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # The HTTP client logs every request at INFO (the scheduler's persona games, the promoter's
    # reload call): keep those to warnings so the server log stays readable.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))

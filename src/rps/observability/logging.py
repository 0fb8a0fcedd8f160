"""Logging setup: one format, level from settings, secrets masked in every line."""

from __future__ import annotations

import logging
from collections.abc import Callable

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks the whole line, traceback included (an exception's message
    may quote a URL with its credentials)."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__(_FORMAT)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


def configure_logging(level: str = "INFO", *, redact: Callable[[str], str] | None = None) -> None:
    """``redact`` masks credentials in each formatted line (the caller passes the settings'
    ``mask_secrets``: this package does not read settings)."""
    root = logging.getLogger()
    if not any(getattr(h, "_rps", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler._rps = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for ours in root.handlers:
        if getattr(ours, "_rps", False):
            ours.setFormatter(_RedactingFormatter(redact) if redact else logging.Formatter(_FORMAT))
    root.setLevel(level)
    # The HTTP client logs every request at INFO (the scheduler's persona games, the promoter's
    # reload call): keep those to warnings so the server log stays readable.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))

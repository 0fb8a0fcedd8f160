"""The browser UI's files: HTML templates and static assets (CSS, JavaScript modules, icons).

Plain files with no build step; they ship as package data. ``fingerprint`` hashes them so every
worker and replica running the same files derives the same asset version (SPEC §11, §12).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

WEB_DIR: Final = Path(__file__).resolve().parent
TEMPLATES_DIR: Final = WEB_DIR / "templates"
STATIC_DIR: Final = WEB_DIR / "static"


def _files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")]


def static_files() -> dict[str, Path]:
    """Every static file by its URL path below ``/static/`` (``css/app.css``), sorted."""
    return {path.relative_to(STATIC_DIR).as_posix(): path for path in _files(STATIC_DIR)}


def fingerprint(*extra: str) -> str:
    """A short hash of the templates, the static files and ``extra`` strings.

    The input is names and contents only (never modification times), so two installs of the same
    files agree.
    """
    digest = hashlib.sha256()
    for part in extra:
        digest.update(part.encode() + b"\0")
    for root in (TEMPLATES_DIR, STATIC_DIR):
        for path in _files(root):
            digest.update(path.relative_to(root.parent).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]

"""Rate limits and read cache for tests and benchmarks that drive load (SPEC §9: they set the
limits they need explicitly).

Merge into a server's environment or into ``load_settings(...)`` overrides (the values are
strings, as in an environment). The limits stay on, so their cost is still in every request,
but no test or benchmark reaches them; the read cache is off, so figures read right after a
game show that game.
"""

from __future__ import annotations

UNREACHED = str(10**9)

UNREACHED_LIMITS: dict[str, str] = {
    "RATE_LIMIT_START_PER_MIN": UNREACHED,
    "RATE_LIMIT_PLAY_PER_MIN": UNREACHED,
    "RATE_LIMIT_READ_PER_MIN": UNREACHED,
    "RATE_LIMIT_AUTH_FAIL_PER_MIN": UNREACHED,
}

NO_READ_CACHE: dict[str, str] = {"READ_CACHE_SECONDS": "0"}

LOAD_SETTINGS: dict[str, str] = {**UNREACHED_LIMITS, **NO_READ_CACHE}

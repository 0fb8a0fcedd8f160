"""Running a coroutine from a synchronous test, whatever else the test process is doing."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)``, on a thread of its own: a browser test's Playwright session
    keeps an event loop running on the main thread for the rest of the test process, and
    ``asyncio.run`` refuses to start inside one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-asyncio") as pool:
        return pool.submit(asyncio.run, coroutine).result()

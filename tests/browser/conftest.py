"""A real server process with small models in its serving cache, and Debian's Chromium driven by
Playwright — one of each for the whole browser suite.

The models are tiny ONNX graphs that always answer the same probabilities, so the debug page has
real model internals to show without any training. Every browser context refuses requests to
other hosts: the pages must work with nothing but this server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Route, sync_playwright

from rps.domain.policy import Alias, Family
from tests.support.onnx_models import publish_constant_models as publish
from tests.support.server import REPO_ROOT, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
ADMIN_TOKEN = "browser-tests-admin-token-0123456789"
# What each alias's model answers: P(user plays rock, paper, scissors).
ALIAS_PROBABILITIES = {
    Alias.PRODUCTION: (0.5, 0.3, 0.2),
    Alias.B: (0.2, 0.3, 0.5),
    Alias.SHADOW1: (0.4, 0.4, 0.2),
    Alias.SHADOW2: (0.1, 0.6, 0.3),
}
ALIAS_VERSIONS = {Alias.PRODUCTION: "3", Alias.B: "4", Alias.SHADOW1: "2", Alias.SHADOW2: "1"}


def publish_constant_models(cache_dir: Path) -> None:
    """Put a model behind every family@alias of a local serving cache."""
    publish(
        cache_dir,
        {
            (family, alias): (ALIAS_PROBABILITIES[alias], ALIAS_VERSIONS[alias])
            for family in Family
            for alias in Alias
        },
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("browser-platform")
    data = root / "data"
    cache = root / "model-cache"
    publish_constant_models(cache)
    env = {
        "DATA_PATH": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'rps.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{data / 'mlflow.db'}",
        "MODEL_CACHE_URI": cache.as_uri(),
        "MODEL_POLL_SECONDS": "0",
        "RPS_ADMIN_TOKEN": ADMIN_TOKEN,
        "LOG_LEVEL": "WARNING",
        # Every page and API call of the suite comes from one address, faster than any player:
        # the rate limits are off here (their own tests check them).
        "RATE_LIMIT_START_PER_MIN": "0",
        "RATE_LIMIT_PLAY_PER_MIN": "0",
        "RATE_LIMIT_READ_PER_MIN": "0",
        # Pages must show the figures of the games just played, not a few seconds' old copy.
        "READ_CACHE_SECONDS": "0",
    }
    data.mkdir(parents=True)
    with ServerProcess(env, log_path=root / "server.log") as process:
        yield process


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        "Chromium is missing: install Debian's package (`apt-get install chromium`, which "
        "`make test` does as root)"
    )
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@dataclass
class PageProbe:
    """A page plus what it complained about and every request it tried to send elsewhere."""

    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def set_phone(self) -> None:
        self.page.set_viewport_size(PHONE)

    def open_tab(self) -> PageProbe:
        """Another page of the same browser context (shared localStorage, as a second tab of
        one browser), watched into the same lists as this one."""
        tab = PageProbe(
            self.page.context.new_page(),
            self.base_url,
            self.errors,
            self.foreign_requests,
            self.dialogs,
            self.requests,
        )
        watch(tab)
        return tab

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path


def watch(probe: PageProbe) -> None:
    """Record the page's console errors, uncaught errors and dialogs into ``probe``."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            probe.errors.append(f"console: {message.text} ({message.location})")

    def on_dialog(dialog: object) -> None:
        probe.dialogs.append(getattr(dialog, "message", ""))
        dialog.dismiss()  # type: ignore[attr-defined]

    probe.page.on("console", on_console)
    probe.page.on("pageerror", lambda error: probe.errors.append(f"page error: {error}"))
    probe.page.on("dialog", on_dialog)


@pytest.fixture
def probe(browser: Browser, server: ServerProcess) -> Iterator[PageProbe]:
    context = browser.new_context(viewport=DESKTOP, base_url=server.url)
    page = context.new_page()
    result = PageProbe(page, server.url)

    def keep_local(route: Route) -> None:
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith("data:"):
            result.requests.append(route.request.url)
            route.continue_()
        else:
            result.foreign_requests.append(route.request.url)
            route.abort()

    watch(result)
    context.route("**/*", keep_local)
    try:
        yield result
    finally:
        context.close()

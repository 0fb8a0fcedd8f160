"""One game open in two tabs: a move the server refuses (409) resyncs the page and says why
(SPEC §12).

The play page remembers the game it is playing (in the browser's storage), so a second tab of
the same browser opens on that game, as a player who opened the site twice would see it. Both
tabs are pages of one browser context here; their errors are checked together.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, Route, expect

from rps.persistence.database import Database
from rps.persistence.game_repository import GameRepository
from rps.persistence.tables import utcnow
from tests.browser.conftest import PageProbe
from tests.browser.test_web_ui import (
    MOVES,
    assert_clean,
    check_banner,
    check_pills,
    is_play,
    play_to_banner,
)
from tests.support.server import ServerProcess

NOTICE = re.compile(r"\bnotice\b")
# Chromium logs every HTTP error answer to a fetch on the console itself; the page cannot stop it.
NETWORK_LOG = re.compile(
    r"^console: Failed to load resource: the server responded with a status of (\d{3}) "
    r".*'url': '[^']*?(/play|/games/)"
)


def assert_clean_but_for(probe: PageProbe, answers: dict[tuple[int, str], int]) -> None:
    """No console errors except the browser's own log of the HTTP errors the test provoked
    (``answers``: how many of each (status, path)), and nothing else wrong (assert_clean)."""
    logged: Counter[tuple[int, str]] = Counter()
    others = []
    for error in probe.errors:
        found = NETWORK_LOG.match(error)
        if found:
            logged[(int(found.group(1)), found.group(2))] += 1
        else:
            others.append(error)
    assert logged == Counter(answers), probe.errors
    probe.errors[:] = others
    assert_clean(probe)


def start(tab: PageProbe, name: str) -> dict[str, Any]:
    tab.goto("/")
    tab.page.fill("#player-name", name)
    with tab.page.expect_response(lambda r: r.url.endswith("/start_game")) as started:
        tab.page.get_by_role("button", name="Start game").click()
    expect(tab.page.locator("#round-status")).to_have_text("Round 1 — your move.")
    game: dict[str, Any] = started.value.json()
    return game


def open_second_tab(first: PageProbe, name: str) -> PageProbe:
    """A second tab of the same browser: it picks up the game the first one is playing."""
    tab = first.open_tab()
    tab.goto("/")
    expect(tab.page.locator("body")).to_have_attribute("data-ready", "true")
    expect(tab.page.locator("#user-name")).to_have_text(name)
    return tab


def move(page: Page, chosen: str) -> tuple[int, dict[str, Any]]:
    """Switch to the tab and click a move; the status and body of the /play answer."""
    page.bring_to_front()  # a tab in the background gets its timers throttled: slow to check
    with page.expect_response(is_play) as info:
        page.locator(f'#moves .move[data-move="{chosen}"]').click()
    return info.value.status, info.value.json()


def other_than(played: str) -> str:
    """A move other than ``played``: the same move again would be a safe retry of that round."""
    return MOVES[(MOVES.index(played) + 1) % 3]


def count_requests(page: Page) -> dict[str, int]:
    """How many moves and game reads the page sends from now on."""
    sent = {"play": 0, "game": 0}

    def on_request(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/play"):
            sent["play"] += 1
        elif request.method == "GET" and "/games/" in request.url:
            sent["game"] += 1

    page.on("request", on_request)
    return sent


def assert_same_game(shown: Page, other: Page) -> None:
    """Both tabs show the same scores, health, last result and history."""
    for part in ("#user-score", "#bot-score", "#user-hp", "#bot-hp", "#round-result", "#history"):
        expect(shown.locator(part)).to_have_text(other.locator(part).text_content() or "")


def test_a_move_refused_after_play_in_another_tab_resyncs_that_tab_and_says_why(
    probe: PageProbe,
) -> None:
    tab_a = probe
    a = tab_a.page
    game = start(tab_a, "Twin")
    tab_b = open_second_tab(tab_a, "Twin")
    b = tab_b.page
    expect(b.locator("#round-status")).to_contain_text("round 1 — your move")
    check_pills(b, game["round_points"])

    played: dict[int, str] = {}
    for round_no in (1, 2, 3):
        played[round_no] = MOVES[round_no % 3]
        status, answer = move(a, played[round_no])
        assert status == 200
    expect(a.locator("#round-status")).to_have_text("Round 4 — your move.")

    # B still shows round 1: its move is refused, and B takes the game as it is now.
    sent_by_b = count_requests(b)
    status, refused = move(b, other_than(played[1]))
    assert status == 409, refused
    notice = b.locator("#round-status")
    expect(notice).to_have_text(
        "This game moved on in another tab or window: you are now at round 4."
    )
    expect(notice).to_have_class(NOTICE)
    expect(notice).to_have_attribute("aria-live", "polite")
    assert_same_game(b, a)
    expect(b.locator(".history-row")).to_have_count(3)
    check_pills(b, answer["next_round_points"])
    for button in b.locator("#moves .move").all():
        expect(button).to_be_enabled()
    assert sent_by_b == {"play": 1, "game": 1}, "one refused move, one read, no retry of its own"
    tab_b.screenshot("play-resynced-desktop")

    # B plays round 4 as if it had played the first three itself.
    status, fourth = move(b, "rock")
    assert status == 200
    assert fourth["round"] == 4
    expect(b.locator("#round-status")).to_have_text("Round 5 — your move.")
    expect(b.locator("#round-result")).to_contain_text("Round 4")
    expect(b.locator(".history-row")).to_have_count(4)

    # Now A is behind: its round 4 is refused in turn and it catches up with B.
    status, _ = move(a, other_than("rock"))
    assert status == 409
    expect(a.locator("#round-status")).to_have_text(
        "This game moved on in another tab or window: you are now at round 5."
    )
    assert_same_game(a, b)
    check_pills(a, fourth["next_round_points"])
    tab_a.set_phone()  # the notice fits a phone too
    assert a.evaluate("document.documentElement.scrollWidth") <= 390
    tab_a.screenshot("play-resynced-phone")
    status, fifth = move(a, "paper")
    assert status == 200
    assert fifth["round"] == 5
    expect(a.locator("#round-status")).not_to_have_class(NOTICE)
    assert_clean_but_for(probe, {(409, "/play"): 2})


def test_a_game_finished_in_another_tab_shows_its_end_and_offers_a_new_game(
    probe: PageProbe,
) -> None:
    tab_a = probe
    a = tab_a.page
    start(tab_a, "Finn")
    tab_b = open_second_tab(tab_a, "Finn")
    b = tab_b.page
    a.bring_to_front()
    answers = play_to_banner(
        a, lambda n: a.locator(f'#moves .move[data-move="{MOVES[n % 3]}"]').click()
    )
    final = answers[-1]

    status, _ = move(b, other_than(answers[0]["user_move"]))
    assert status == 409
    expect(b.locator("#round-status")).to_have_text(
        "This game has ended: it was finished in another tab or window."
    )
    check_banner(b, final, "Brian")
    assert_same_game(b, a)
    again = b.locator("#again-button")
    expect(again).to_be_visible()
    expect(again).to_be_focused()
    tab_b.screenshot("play-resynced-finished-desktop")

    # The finished game is forgotten: a new tab opens empty, and B starts a new game.
    tab_c = tab_a.open_tab()
    tab_c.goto("/")
    expect(tab_c.page.locator("body")).to_have_attribute("data-ready", "true")
    expect(tab_c.page.locator("#round-status")).to_contain_text("press Start")
    with b.expect_response(lambda r: r.url.endswith("/start_game")):
        again.click()
    expect(b.locator("#winner-banner")).to_be_hidden()
    expect(b.locator("#round-status")).to_have_text("Round 1 — your move.")
    expect(b.locator("#moves .move").first).to_be_enabled()
    assert_clean_but_for(probe, {(409, "/play"): 1})


def close_as_abandoned(server: ServerProcess, game_id: str, quiet: timedelta) -> None:
    """Close the game the way the abandonment sweep does, as if it ran ``quiet`` after now."""
    db = Database(server.env["DATABASE_URL"])
    try:
        now = utcnow()
        closed = GameRepository(db).close_abandoned(
            now + timedelta(seconds=1), now + quiet, game_id=game_id
        )
        assert closed == 1
    finally:
        db.dispose()


def test_a_move_on_a_game_closed_as_abandoned_shows_why_it_ended(
    probe: PageProbe, server: ServerProcess
) -> None:
    page = probe.page
    game = start(probe, "Idle")
    for chosen in ("rock", "paper"):
        assert move(page, chosen)[0] == 200
    close_as_abandoned(server, game["game_id"], timedelta(minutes=35))

    status, refused = move(page, "scissors")
    assert status == 409
    assert "abandoned" in refused["detail"]
    expect(page.locator("#round-status")).to_have_text(
        "This game has ended: it was closed as abandoned after 35 minutes without a move."
    )
    state = httpx.get(f"{server.url}/games/{game['game_id']}", timeout=10).json()
    final = {
        "winner": state["winner"],
        "round": 2,
        "user_score": state["user_score"],
        "bot_score": state["bot_score"],
    }
    check_banner(page, final, "Brian")
    expect(page.locator(".history-row")).to_have_count(2)
    expect(page.locator("#again-button")).to_be_visible()
    assert_clean_but_for(probe, {(409, "/play"): 1})


def test_when_the_game_cannot_be_fetched_after_a_refused_move_the_page_says_so_and_reloads_it(
    probe: PageProbe,
) -> None:
    tab_a = probe
    start(tab_a, "Rhea")
    tab_b = open_second_tab(tab_a, "Rhea")
    b = tab_b.page
    status, first = move(tab_a.page, "rock")
    assert status == 200

    def unavailable(route: Route) -> None:
        route.fulfill(status=503, json={"detail": "the database is unreachable"})

    b.route("**/games/*", unavailable)
    status, _ = move(b, "paper")
    assert status == 409
    shown = b.locator("#round-status")
    expect(shown).to_contain_text(
        "That move did not count, and the game could not be fetched from the server: "
        "the database is unreachable."
    )
    expect(shown).to_have_class(re.compile(r"\berror\b"))
    for button in b.locator("#moves .move").all():
        expect(button).to_be_enabled()

    b.unroute("**/games/*", unavailable)
    b.get_by_role("button", name="Reload the game").click()
    expect(shown).to_have_text(
        "This game moved on in another tab or window: you are now at round 2."
    )
    check_pills(b, first["next_round_points"])
    assert_same_game(b, tab_a.page)
    assert_clean_but_for(probe, {(409, "/play"): 1, (503, "/games/"): 1})

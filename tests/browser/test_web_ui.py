"""The web UI in a real browser against a real server (SPEC §12).

One server process and one Chromium serve every test here (see conftest.py); each test gets a
fresh browser context, so its own empty localStorage and session. Every test also checks that
the page logged no error and sent nothing to another host. Screenshots of each page at desktop
and phone width land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from rps.domain.policy import Alias
from rps.persistence.database import Database
from rps.persistence.strength_repository import StrengthRecord, StrengthRepository
from tests.browser.conftest import ADMIN_TOKEN, ALIAS_VERSIONS, PageProbe
from tests.support.server import ServerProcess

MOVES = ("rock", "paper", "scissors")
KEYS = {"rock": "r", "paper": "p", "scissors": "s"}
XSS_NAME = "<img src=x onerror=alert(1)>"


def assert_clean(probe: PageProbe) -> None:
    assert probe.errors == [], "the page logged errors"
    assert probe.foreign_requests == [], "the page tried to reach another host"
    assert probe.dialogs == [], "the page opened a dialog"


def is_play(response: Any) -> bool:
    return bool(response.url.endswith("/play") and response.request.method == "POST")


def is_start(response: Any) -> bool:
    return bool(response.url.endswith("/start_game"))


def damage(value: float) -> int:
    return round(value * 10)


def expected_health(other_score: float) -> int:
    return max(0, 100 - round(other_score * 10))


def check_pills(page: Page, points: dict[str, float]) -> None:
    """Each move shows its value × 10, coloured by its rank among the three."""
    ranked = sorted(MOVES, key=lambda m: points[m])
    for move in MOVES:
        pill = page.locator(f'[data-pill="{move}"]')
        expect(pill).to_have_text(f"{damage(points[move])} dmg")
        tier = ("low", "mid", "high")[ranked.index(move)]
        expect(pill).to_have_class(re.compile(rf"\b{tier}\b"))


def play_to_banner(page: Page, press: Callable[[int], None]) -> list[dict[str, Any]]:
    """Play rounds with ``press(round_no)`` until the winner banner shows; the /play answers."""
    answers: list[dict[str, Any]] = []
    for round_no in range(1, 21):
        with page.expect_response(is_play) as info:
            press(round_no)
        answer = info.value.json()
        answers.append(answer)
        expect(page.locator("#round-result")).to_contain_text(f"Round {round_no}")
        expect(page.locator("#user-hp")).to_have_text(str(expected_health(answer["bot_score"])))
        expect(page.locator("#bot-hp")).to_have_text(str(expected_health(answer["user_score"])))
        if answer["finished"]:
            break
        check_pills(page, answer["next_round_points"])
    assert answers[-1]["finished"], "a game lasts at most 20 rounds"
    expect(page.locator("#winner-banner")).to_be_visible()
    return answers


def check_banner(page: Page, final: dict[str, Any], opponent: str) -> None:
    title = {"user": "You win!", "bot": f"{opponent} wins", "tie": "It's a tie"}[final["winner"]]
    expect(page.locator("#banner-title")).to_contain_text(title)
    expect(page.locator("#banner-score")).to_contain_text(f"after {final['round']} rounds")
    for button in page.locator("#moves .move").all():
        expect(button).to_be_disabled()


def test_a_whole_game_played_by_clicking_ends_with_the_winner_banner(probe: PageProbe) -> None:
    page = probe.page
    probe.goto("/")
    expect(page.locator(".opponent")).to_have_count(3)
    for name in ("Brian", "Forrest", "Logan"):
        expect(page.locator(".opponent", has_text=name)).to_be_visible()
    expect(page.locator("#moves .move").first).to_be_disabled()
    page.fill("#player-name", "Ada")
    page.locator(".opponent", has_text="Forrest").click()
    with page.expect_response(is_start) as started:
        page.get_by_role("button", name="Start game").click()
    game = started.value.json()
    assert game["policy"] == "forrest"
    expect(page.locator("#user-name")).to_have_text("Ada")
    expect(page.locator("#bot-name")).to_contain_text("Forrest")
    check_pills(page, game["round_points"])
    expect(page.locator("#user-hp")).to_have_text("100")

    # Space for results is reserved: the first result must not move the buttons or the history.
    moves_before = page.locator("#moves").bounding_box()
    history_before = page.locator("#history").bounding_box()

    def click(round_no: int) -> None:
        page.locator(f'#moves .move[data-move="{MOVES[round_no % 3]}"]').click()

    answers = play_to_banner(page, click)
    assert page.locator("#moves").bounding_box() == moves_before
    assert page.locator("#history").bounding_box() == history_before

    final = answers[-1]
    check_banner(page, final, "Forrest")
    newest = page.locator(".history-row").first
    expect(newest).to_contain_text(f"#{final['round']}")
    expect(page.locator(".history-row")).to_have_count(min(8, len(answers)))
    rates = httpx.get(f"{probe.base_url}/bot_win_rates?human_only=true", timeout=10).json()
    forrest = rates["policies"]["forrest"]
    shown = page.locator('[data-rate="forrest"]')
    expect(shown).to_have_text(re.compile(r"^Beats players \d{1,3}%$"))
    shown_rate = int(shown.inner_text().removeprefix("Beats players ").removesuffix("%"))
    assert abs(shown_rate - forrest["bot_win_rate"] * 100) <= 0.5
    expect(page.locator('[data-games="forrest"]')).to_contain_text(f"of {forrest['games']} game")
    stats = page.locator("#session-stats")
    expect(stats.locator(".stat", has_text="Games").locator("dd")).to_have_text("1")
    expect(stats.locator(".stat", has_text="Rounds").locator("dd")).to_have_text(str(len(answers)))
    probe.screenshot("play-desktop")
    # Every stylesheet, script module and icon was asked for under the current asset version,
    # module imports included (the import map), so none can come from a stale cache.
    version = httpx.get(probe.base_url + "/", timeout=10).headers["etag"].strip('"')
    static = [u for u in probe.requests if "/static/" in u]
    assert any(u.split("?")[0].endswith("/static/js/dom.js") for u in static)
    assert all(u.endswith(f"?v={version}") for u in static), static
    assert_clean(probe)


def test_a_whole_game_played_with_the_keyboard_ends_with_the_winner_banner(
    probe: PageProbe,
) -> None:
    page = probe.page
    probe.goto("/ui-lite")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    # Letters typed into the name field are a name, not moves or a new game.
    page.locator("#player-name").press_sequentially("Sam")
    expect(page.locator("#player-name")).to_have_value("Sam")
    expect(page.locator("#round-status")).to_contain_text("press Start")
    page.locator("h1").click()

    with page.expect_response(is_start) as started:
        page.keyboard.press("n")
    game = started.value.json()
    assert game["player_name"] == "Sam"
    answers = play_to_banner(page, lambda n: page.keyboard.press(KEYS[MOVES[(n * 2) % 3]]))
    assert [a["user_move"] for a in answers] == [
        MOVES[(n * 2) % 3] for n in range(1, len(answers) + 1)
    ]
    check_banner(page, answers[-1], "Brian")

    # N starts the next game from the banner.
    with page.expect_response(is_start):
        page.keyboard.press("n")
    expect(page.locator("#winner-banner")).to_be_hidden()
    expect(page.locator("#round-status")).to_contain_text("Round 1")
    expect(page.locator("#moves .move").first).to_be_enabled()
    assert_clean(probe)


def test_the_play_page_fits_a_390_pixel_phone_and_plays_there(probe: PageProbe) -> None:
    page = probe.page
    probe.set_phone()
    probe.goto("/")
    with page.expect_response(is_start):
        page.get_by_role("button", name="Start game").click()
    for n in range(3):
        with page.expect_response(is_play):
            page.locator(f'#moves .move[data-move="{MOVES[n]}"]').click()
        expect(page.locator("#round-result")).to_contain_text(f"Round {n + 1}")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width} px wide)"
    for button in page.locator("#moves .move").all():
        box = button.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390
        assert box["height"] >= 44, "buttons must be big enough to tap"
    probe.screenshot("play-phone")
    assert_clean(probe)


def test_the_debug_page_shows_the_model_and_blended_probabilities_the_weights_and_the_move(
    probe: PageProbe,
) -> None:
    page = probe.page
    probe.goto("/ui-lite-debug")
    expect(page.locator("#debug-panel")).to_be_visible()
    with page.expect_response(is_start):
        page.get_by_role("button", name="Start game").click()
    expect(page.locator("#moves .move").first).to_be_enabled()

    with page.expect_response(is_play):
        page.keyboard.press("r")
    facts = page.locator("#model-facts")
    expect(facts.locator("div", has_text="Probability source")).to_contain_text("opening")
    expect(page.locator("#debug-probabilities")).to_contain_text("opening")
    expect(page.locator("#debug-weights")).to_contain_text("No blend this round")

    for round_no, key in enumerate("psr", start=2):
        with page.expect_response(is_play) as info:
            page.keyboard.press(key)
        expect(page.locator("#round-result")).to_contain_text(f"Round {round_no}")
    answer = info.value.json()
    assert answer["round"] == 4
    info_block = answer["model_info"]
    assert info_block["probability_source"] == "model"
    expect(facts.locator("div", has_text="Probability source")).to_contain_text("model")
    expect(facts.locator("div", has_text="Alias")).to_contain_text(info_block["model_alias"])
    expect(facts.locator("div", has_text="Version")).to_contain_text(info_block["model_version"])
    expect(facts.locator("div", has_text="Run id")).to_contain_text(info_block["model_run_id"])
    expect(facts.locator("div", has_text="Model type")).to_contain_text("feedforward_nn")

    probabilities = answer["debug"]["probabilities"]
    belief = answer["debug"]["belief"]
    for move in MOVES:
        expect(
            page.locator(f'#debug-probabilities .bar-row[data-move="{move}"] .bar-value')
        ).to_have_text(f"{probabilities[move] * 100:.1f}%")
        expect(page.locator(f'#debug-blend .bar-row[data-move="{move}"] .bar-value')).to_have_text(
            f"{belief['probabilities'][move] * 100:.1f}%"
        )
    # The blend is not the model's own prediction: the in-game experts have their share.
    assert belief["probabilities"] != probabilities
    weight = f"{belief['model_weight'] * 100:.1f}%"
    expect(page.locator("#debug-model-weight")).to_have_text(weight)
    weights = page.locator("#debug-weights .weight-row")
    expect(weights).to_have_count(len(belief["weights"]))
    expect(weights.first).to_have_attribute("data-expert", "model")
    expect(weights.first.locator(".bar-value")).to_have_text(weight)
    expect(page.locator('#debug-weights [data-expert="uniform"] .bar-value')).to_have_text(
        f"{belief['weights']['uniform'] * 100:.1f}%"
    )
    acted_names = {"blend": "the blend", "in-game": "the in-game experts", "greedy": "value-greedy"}
    expect(page.locator("#debug-acted-by")).to_have_text(acted_names[belief["acted"]])
    expect(page.locator("#debug-acted")).to_have_attribute("data-acted", belief["acted"])
    chosen = page.locator(".ev-row.chosen")
    expect(chosen).to_have_count(1)
    expect(chosen).to_have_attribute("data-move", answer["bot_move"])
    expect(chosen).to_contain_text("chosen")
    expect(page.locator("#debug-bot-move")).to_contain_text(answer["bot_move"].capitalize())
    features = page.locator("#debug-features .feature")
    expect(features).to_have_count(50)
    expect(features.first.locator(".feature-name")).to_have_text("user_-1_rock")
    expect(features.nth(48).locator(".feature-value")).to_have_text("4")  # step_no
    probe.screenshot("debug-desktop")
    probe.set_phone()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    probe.screenshot("debug-phone")
    assert_clean(probe)


def test_the_ops_page_renders_every_familys_aliases_and_the_ledger(
    probe: PageProbe, server: ServerProcess
) -> None:
    finish_games(server, "Opal", 1)
    reason = "Production keeps 7/10 over B's 4/10 <b>not bold</b>"
    report = httpx.post(
        f"{server.url}/internal/promotion/report",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={
            "model_type": "multinomial_logistic",
            "decision": "retain_production",
            "reason": reason,
            "source": "browser-test",
            "z": -1.2,
            "p_value": 0.88,
            "assignments_before": {"Production": "3", "B": "4"},
            "assignments_after": {"Production": "3", "B": "4"},
        },
        timeout=10,
    )
    assert report.status_code == 200, report.text
    summary = httpx.get(f"{server.url}/ops/summary", timeout=10)
    assert summary.status_code == 200, summary.text
    body = summary.json()

    page = probe.page
    probe.goto("/ops")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("article.family")).to_have_count(3)
    for family in body["families"]:
        card = page.locator(f'article.family[data-family="{family["model_type"]}"]')
        expect(card.locator("tbody tr[data-alias]")).to_have_count(4)
        for alias in family["aliases"]:
            row = card.locator(f'tr[data-alias="{alias["alias"]}"]')
            # The browser suite's models are in the serving cache as v3, v4, v2, v1.
            assert alias["version"] == ALIAS_VERSIONS[Alias(alias["alias"])]
            expect(row).to_contain_text(f"v{alias['version']}")
        accuracy_points = [d for d in family["daily"] if d["accuracy"] is not None]
        dots = card.locator("figure.chart").first.locator("circle.dot")
        expect(dots).to_have_count(len(accuracy_points))
    logan = next(f for f in body["families"] if f["model_type"] == "multinomial_logistic")
    assert any(d["accuracy"] is not None for d in logan["daily"]), "the game played was scored"

    ledger = page.locator("#ledger tbody tr")
    expect(ledger).to_have_count(len(body["ledger"]))
    reported = ledger.filter(has_text="browser-test")
    expect(reported).to_have_count(1)
    expect(reported.locator("td.wrap")).to_have_text(reason)
    expect(reported).to_contain_text("Retain Production")
    expect(reported.locator("b")).to_have_count(0)
    probe.screenshot("ops-desktop")
    probe.set_phone()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    probe.screenshot("ops-phone")
    assert_clean(probe)


def record_gym_figures(server: ServerProcess, gate_reason: str) -> None:
    """Gym figures of xgboost's Production (v3) and of its B (v4), which was registered below
    the gate, as training or `rps evaluate --persist` write them."""
    db = Database(server.env["DATABASE_URL"])
    try:
        store = StrengthRepository(db)
        for alias, holdout, below_gate in ((Alias.PRODUCTION, 0.64, False), (Alias.B, 0.55, True)):
            store.add(
                StrengthRecord(
                    model_type="xgboost",
                    version=ALIAS_VERSIONS[alias],
                    run_id=None,
                    source="training",
                    games_per_opponent=20,
                    seed=1,
                    scoring_version="browser",
                    holdout_win_rate=holdout,
                    training_win_rate=holdout,
                    overall_win_rate=holdout,
                    holdout_margin=0.2,
                    layer_holdout_win_rate=0.62,
                    greedy_holdout_win_rate=0.6,
                    gate_passed=not below_gate,
                    below_gate=below_gate,
                    gate_reason=gate_reason if below_gate else None,
                )
            )
    finally:
        db.dispose()


def shown_number(text: str) -> float:
    """A figure as the page prints it ("48.5%", "+0.21") as a number."""
    return float(text.strip().rstrip("%"))


def test_the_ops_page_shows_gym_strength_beside_the_baselines_and_flags_below_gate_versions(
    probe: PageProbe, server: ServerProcess
) -> None:
    gate_reason = "gym win rate 55.0% is 5.0 points below value-greedy's 60.0%"
    record_gym_figures(server, gate_reason)
    finish_games(server, "Gemma", 1, policy="forrest")  # model rounds every shadow scores
    summary = httpx.get(f"{server.url}/ops/summary", timeout=10).json()
    xgboost = next(f for f in summary["families"] if f["model_type"] == "xgboost")
    counterfactual = {a["alias"]: a["counterfactual"] for a in xgboost["aliases"]}
    assert counterfactual["shadow1"]["model_rounds"] > 0

    page = probe.page
    probe.goto("/ops")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    forrest = page.locator('article.family[data-family="xgboost"]')
    production = forrest.locator('tr[data-alias="Production"]')
    expect(production.locator(".gym-rate")).to_have_text("64.0%")
    expect(production.locator(".gym-greedy")).to_have_text("greedy 60.0%")
    expect(production.locator(".gym-layer")).to_have_text("layer 62.0%")
    expect(production.locator(".gym-rate")).not_to_have_class(re.compile(r"\bgym-weak\b"))
    expect(production.locator(".badge.below_gate")).to_have_count(0)
    b = forrest.locator('tr[data-alias="B"]')
    expect(b).to_have_attribute("data-below-gate", "true")
    flag = b.locator(".badge.below_gate")
    expect(flag).to_have_text("below gate")
    expect(flag).to_have_attribute("title", gate_reason)
    expect(b.locator(".gym-rate")).to_have_text("55.0%")
    expect(b.locator(".gym-rate")).to_have_class(re.compile(r"\bgym-weak\b"))
    # Versions without gym figures say so instead of showing a number.
    for alias in ("shadow1", "shadow2"):
        expect(forrest.locator(f'tr[data-alias="{alias}"] td.gym')).to_have_text("—")
    expect(page.locator(".badge.below_gate")).to_have_count(1)
    # Shadows play no games: their column shows what their own decisions would have won.
    for alias in ("shadow1", "shadow2"):
        row = forrest.locator(f'tr[data-alias="{alias}"]')
        figures = counterfactual[alias]
        rate = row.locator(".counterfactual-rate div").first
        expect(rate).to_have_text(re.compile(r"^\d+\.\d%$"))
        assert shown_number(rate.inner_text()) == pytest.approx(
            figures["win_rate"] * 100, abs=0.051
        )
        rounds = figures["model_rounds"]
        expect(row.locator(".counterfactual-rate .sub").first).to_have_text(
            f"counterfactual, {rounds} {'round' if rounds == 1 else 'rounds'}"
        )
        margin = row.locator(".counterfactual-margin")
        expect(margin).to_have_text(re.compile(r"^[+-]\d+(\.\d+)? pts per round$"))
        assert shown_number(margin.inner_text().split()[0]) == pytest.approx(
            figures["mean_margin"], abs=0.0051
        )
    expect(page.locator("#generated-at")).to_contain_text(
        f"decision layer {summary['scoring_version']}"
    )
    probe.screenshot("ops-strength-desktop")
    probe.set_phone()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_clean(probe)


SAMPLE_REASON = "B leads 14/20 vs 9/20 <script>alert(1)</script>"


def sample_gym(rank: int) -> dict[str, Any] | None:
    """Gym figures for the first three aliases of a sample family; the last has none."""
    if rank == 3:
        return None
    return {
        "holdout_win_rate": 0.66 - 0.05 * rank,
        "training_win_rate": 0.67 - 0.05 * rank,
        "holdout_margin": 0.3,
        "layer_holdout_win_rate": 0.63,
        "greedy_holdout_win_rate": 0.6,
        "gate_passed": rank < 2,
        "below_gate": rank == 2,
        "gate_reason": "gym win rate 56.0% is 4.0 points below value-greedy's 60.0%"
        if rank == 2
        else None,
        "games_per_opponent": 20,
        "scoring_version": "5f0c2a9e11d4",
        "evaluated_at": "2026-11-29T05:04:00Z",
        "source": "training",
    }


def sample_preview() -> dict[str, Any]:
    """Forrest's next promotion run: a sequential test under way, shadow1 ranked first."""
    return {
        "rule": "sequential",
        "next_decision": "insufficient_data",
        "test_outcome": "insufficient_data",
        "reason": "sequential rule: the test goes on, no difference yet at alpha=0.05",
        "alpha": 0.05,
        "max_games": 500,
        "min_games": 3,
        "production": {"version": "10", "games": 20, "bot_wins": 12},
        "b": {"version": "9", "games": 20, "bot_wins": 9},
        "z": -0.95,
        "p_value": 0.83,
        "always_valid_p": 0.91,
        "log_likelihood_ratio": 0.09,
        "windows": {"Production": "2026-11-23T08:00:00Z", "B": "2026-11-23T08:00:00Z"},
        "challengers": [
            {
                "rank": 1,
                "alias": "shadow1",
                "version": "8",
                "ranked_on": "live",
                "margin": 0.31,
                "scored_rounds": 180,
                "gym_holdout_win_rate": 0.9,
                "accuracy": 0.45,
                "predictions": 300,
            },
            {
                "rank": 2,
                "alias": "B",
                "version": "9",
                "ranked_on": "gym",
                "margin": None,
                "scored_rounds": 12,
                "gym_holdout_win_rate": 0.88,
                "accuracy": 0.5,
                "predictions": 350,
            },
        ],
        "assignments_after": {"Production": "10", "B": "9", "shadow1": "8", "shadow2": "7"},
    }


def sample_summary() -> dict[str, Any]:
    """An /ops/summary body with a week of history, one swap and two training runs."""
    days = [f"2026-11-{d:02d}" for d in range(23, 30)]
    families = []
    for index, (model_type, policy) in enumerate(
        [("feedforward_nn", "brian"), ("xgboost", "forrest"), ("multinomial_logistic", "logan")]
    ):
        aliases = []
        daily = []
        for rank, alias in enumerate(("Production", "B", "shadow1", "shadow2")):
            playing = alias in ("Production", "B")
            aliases.append(
                {
                    "alias": alias,
                    "version": str(10 - rank),
                    "run_id": f"{index}{rank}abcdef",
                    "source": "cache",
                    "fallback_reason": None,
                    "assigned_at": "2026-11-23T08:00:00Z",
                    "predictions": 400 - 50 * rank,
                    "accuracy": 0.55 - 0.05 * rank,
                    "games": 20 if playing else 0,
                    "bot_wins": 12 - 3 * rank if playing else 0,
                    "win_rate": (12 - 3 * rank) / 20 if playing else None,
                    "gym": sample_gym(rank),
                    "counterfactual": {
                        "model_rounds": 200 - 10 * rank,
                        "win_rate": 0.5 - 0.01 * rank,
                        "mean_margin": 0.25 - 0.2 * rank,
                    },
                }
            )
            for day_no, day in enumerate(days):
                daily.append(
                    {
                        "date": day,
                        "alias": alias,
                        "predictions": 50,
                        "accuracy": 0.4 + 0.02 * day_no - 0.03 * rank,
                        "games": 3 if playing else 0,
                        "win_rate": (0.5 + 0.04 * ((day_no + rank) % 3)) if playing else None,
                    }
                )
        families.append(
            {
                "model_type": model_type,
                "policy": policy,
                "ab_split": {
                    "enabled": index != 2,
                    "configured_b": 0.5,
                    "observed_b": 0.48,
                    "games": 40,
                    "srm_p_value": 0.8,
                },
                "aliases": aliases,
                "promotion": sample_preview() if index == 1 else None,
                "daily": daily,
            }
        )
    return {
        "generated_at": "2026-11-29T12:00:00Z",
        "scoring_version": "5f0c2a9e11d4",
        "families": families,
        "ledger": [
            {
                "id": 7,
                "created_at": "2026-11-29T06:00:00Z",
                "model_type": "xgboost",
                "decision": "swap_production_b",
                "z": 1.93,
                "p_value": 0.027,
                "reason": SAMPLE_REASON,
                "source": "rps promote",
                "reorder_applied": True,
                "assignments_before": {"Production": "8", "B": "9"},
                "assignments_after": {"Production": "9", "B": "8"},
            },
            {
                "id": 6,
                "created_at": "2026-11-28T06:00:00Z",
                "model_type": "feedforward_nn",
                "decision": "insufficient_data",
                "z": None,
                "p_value": None,
                "reason": "B has 2 games, needs 3",
                "source": "rps promote",
                "reorder_applied": False,
                "assignments_before": {"Production": "10", "B": "9"},
                "assignments_after": {"Production": "10", "B": "9"},
            },
        ],
        "training_runs": [
            {
                "id": 12,
                "started_at": "2026-11-29T05:00:00Z",
                "finished_at": "2026-11-29T05:04:30Z",
                "status": "succeeded",
                "trigger": "schedule",
                "rows_used": 18250,
                "models_trained": 12,
                "models_registered": 12,
            },
            {
                "id": 11,
                "started_at": "2026-11-28T05:00:00Z",
                "finished_at": None,
                "status": "failed",
                "trigger": "manual",
                "rows_used": None,
                "models_trained": 0,
                "models_registered": 0,
            },
        ],
    }


def test_the_ops_page_draws_charts_and_tables_from_a_full_summary(probe: PageProbe) -> None:
    page = probe.page
    body = json.dumps(sample_summary())

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=body)

    page.route("**/ops/summary", fulfil)
    probe.goto("/ops")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    forrest = page.locator('article.family[data-family="xgboost"]')
    expect(forrest).to_contain_text("Forrest")
    expect(forrest.locator('tr[data-alias="Production"]')).to_contain_text("v10")
    expect(forrest.locator('tr[data-alias="Production"]')).to_contain_text("55.0%")
    expect(forrest.locator('tr[data-alias="B"]')).to_contain_text("45.0%")  # 9 of 20 games
    expect(forrest.locator('tr[data-alias="Production"] td.gym')).to_contain_text("66.0%")
    shadow1 = forrest.locator('tr[data-alias="shadow1"]')
    expect(shadow1.locator(".counterfactual-rate div").first).to_have_text("48.0%")
    expect(shadow1.locator(".counterfactual-rate")).to_contain_text("counterfactual, 180 rounds")
    expect(shadow1.locator(".counterfactual-margin")).to_have_text("-0.15 pts per round")
    expect(forrest.locator('tr[data-alias="B"] .live-rate')).to_contain_text("9 of 20 games")
    expect(shadow1).to_have_attribute("data-below-gate", "true")
    expect(shadow1.locator(".gym-rate")).to_have_class(re.compile(r"\bgym-weak\b"))
    expect(forrest.locator('tr[data-alias="shadow2"] td.gym')).to_have_text("—")
    expect(page.locator("#generated-at")).to_contain_text("decision layer 5f0c2a9e11d4")
    expect(forrest.locator(".ab-split")).to_contain_text("observed 48% of 40 games")
    logan = page.locator('article.family[data-family="multinomial_logistic"]')
    expect(logan.locator(".ab-split")).to_contain_text("A/B test off")
    preview = forrest.locator(".promotion-preview")
    expect(preview).to_have_attribute("data-decision", "insufficient_data")
    expect(preview).to_contain_text("Next promotion run: Insufficient data")
    expect(preview.locator(".test-figures")).to_contain_text("v10: 12/20 games won (60.0%)")
    expect(preview.locator(".test-figures")).to_contain_text("sequential p = 0.91")
    expect(preview.locator(".test-figures")).to_contain_text("B at 20 of 500 games")
    ranking = preview.locator(".challenger-ranking li")
    expect(ranking).to_have_count(2)
    expect(ranking.first).to_have_text("shadow1 v8 — margin +0.31 pts over 180 rounds")
    expect(ranking.nth(1)).to_have_text("B v9 — gym 88.0% (12 scored rounds)")
    expect(logan.locator(".promotion-preview")).to_contain_text("No Production served")
    # Accuracy: a line per alias; win rate: only the two aliases that play games.
    charts = forrest.locator("figure.chart")
    expect(charts).to_have_count(2)
    expect(charts.nth(0).locator("path.series")).to_have_count(4)
    expect(charts.nth(1).locator("path.series")).to_have_count(2)
    expect(charts.nth(0).locator("circle.dot")).to_have_count(28)
    ledger = page.locator("#ledger tbody tr")
    expect(ledger).to_have_count(2)
    expect(ledger.first).to_contain_text("Swap Production ↔ B")
    expect(ledger.first).to_contain_text("+ reorder")
    expect(ledger.first).to_contain_text("Production v8, B v9")
    expect(ledger.first).to_contain_text("→ Production v9, B v8")
    expect(ledger.first.locator("td.wrap")).to_have_text(SAMPLE_REASON)
    expect(page.locator("#ledger script")).to_have_count(0)
    runs = page.locator("#training-runs tbody tr")
    expect(runs).to_have_count(2)
    expect(runs.first).to_contain_text("succeeded")
    expect(runs.first).to_contain_text("18250")
    expect(runs.first).to_contain_text("4.5 min")
    expect(runs.nth(1)).to_contain_text("failed")
    probe.screenshot("ops-sample-desktop")
    probe.set_phone()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    probe.screenshot("ops-sample-phone")
    assert_clean(probe)


def finish_games(server: ServerProcess, name: str, games: int, policy: str = "logan") -> None:
    """Play ``games`` whole games as ``name`` against ``policy`` through the API."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(games):
            game = client.post("/start_game", json={"player_name": name, "policy": policy})
            assert game.status_code == 200, game.text
            game_id = game.json()["game_id"]
            for round_no in range(1, 21):
                answer = client.post(
                    "/play",
                    json={"game_id": game_id, "user_move": MOVES[round_no % 3], "round": round_no},
                )
                assert answer.status_code == 200, answer.text
                if answer.json()["finished"]:
                    break


def test_a_name_made_of_markup_shows_as_literal_text_on_the_leaderboard(
    probe: PageProbe, server: ServerProcess
) -> None:
    finish_games(server, XSS_NAME, 5)
    page = probe.page
    probe.goto("/")
    page.get_by_role("tab", name="Win rate").click()
    board = page.locator("#rate-board")
    expect(board.locator(".b-name", has_text=XSS_NAME)).to_have_text(XSS_NAME)
    expect(page.locator("#board-rates")).to_contain_text("at least 5 finished games")
    assert page.locator("#rate-board img, #streak-board img").count() == 0
    streaks = httpx.get(f"{server.url}/win_streaks?limit=10", timeout=10).json()["entries"]
    if any(e["player_name"] == XSS_NAME for e in streaks):
        page.get_by_role("tab", name="Win streaks").click()
        expect(page.locator("#streak-board .b-name", has_text=XSS_NAME)).to_have_text(XSS_NAME)
    assert_clean(probe)


def test_the_api_docs_render_with_every_other_host_blocked(probe: PageProbe) -> None:
    page = probe.page
    probe.goto("/docs")
    operation = page.locator(".opblock-summary-path", has_text=re.compile(r"^/play$"))
    expect(operation).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/start_game")).to_be_visible()
    probe.screenshot("docs-desktop")
    probe.set_phone()
    probe.screenshot("docs-phone")
    assert_clean(probe)

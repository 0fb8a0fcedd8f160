// The play page (/ and /ui-lite) and, with the model internals panel, /ui-lite-debug.

import { ApiError, getJSON, postJSON } from "./api.js";
import { renderDebug, resetDebug } from "./debug.js";
import { byId, el, fill, markNavigation, number, percent } from "./dom.js";
import { MOVE_ICONS, MOVE_NAMES, MOVES, OPPONENTS, opponentByPolicy } from "./opponents.js";

const debugMode = document.body.dataset.mode === "debug";
const HISTORY_ROWS = 8;
const MAX_HEALTH = 100;

// Remembered across visits and tabs (localStorage) or by this tab only, across reloads
// (sessionStorage). Either can be unavailable (privacy modes): the page still works, it just
// forgets.
function keeper(area) {
  const call = (method, key, ...rest) => {
    try {
      return window[area][method](`rps.${key}`, ...rest);
    } catch {
      return null; // not remembered
    }
  };
  return {
    get: (key) => call("getItem", key),
    set: (key, value) => call("setItem", key, value),
    remove: (key) => call("removeItem", key),
  };
}
const saved = keeper("localStorage");
const thisTab = keeper("sessionStorage");

// The game in play is remembered so a reload or another tab picks it up again. A game id is a
// capability (whoever knows it may play the game): it stays in this browser's own storage.
function rememberGame(gameId) {
  saved.set("game_id", gameId);
  thisTab.set("game_id", gameId);
}

function forgetGame(gameId) {
  for (const store of [saved, thisTab]) {
    if (store.get("game_id") === gameId) store.remove("game_id");
  }
}

const state = {
  policy: opponentByPolicy(saved.get("policy")).policy,
  sessionId: saved.get("session_id"),
  game: null,
  busy: false,
};

const ui = {
  form: byId("setup-form"),
  name: byId("player-name"),
  opponents: byId("opponents"),
  start: byId("start-button"),
  again: byId("again-button"),
  status: byId("round-status"),
  result: byId("round-result"),
  history: byId("history"),
  banner: byId("winner-banner"),
  moves: [...document.querySelectorAll("#moves .move")],
};

/** Damage shown for a move: its value × 10 (1.5 → 15). */
const damage = (value) => Math.round(value * 10);
/** Health of a side: 100 − 10 × the other side's score, never below 0. */
const health = (otherScore) => Math.max(0, MAX_HEALTH - Math.round(otherScore * 10));

// Opponent cards.

function renderOpponents() {
  fill(
    ui.opponents,
    OPPONENTS.map((o) =>
      el(
        "label",
        { class: "opponent", dataset: { policy: o.policy } },
        el("input", {
          type: "radio",
          name: "policy",
          value: o.policy,
          checked: o.policy === state.policy,
          on: { change: () => selectOpponent(o.policy) },
        }),
        el("span", { class: "opp-emoji", "aria-hidden": "true", text: o.emoji }),
        el("span", { class: "opp-name", text: o.name }),
        el("span", { class: "opp-kind", text: o.kind }),
        el("span", { class: "opp-rate", dataset: { rate: o.policy }, text: "…" }),
        el("span", { class: "opp-games", dataset: { games: o.policy } }),
      ),
    ),
  );
}

function selectOpponent(policy) {
  state.policy = policy;
  saved.set("policy", policy);
}

async function refreshWinRates() {
  let rates;
  try {
    rates = await getJSON("/bot_win_rates?human_only=true");
  } catch {
    for (const node of document.querySelectorAll("[data-rate]")) node.textContent = "";
    return;
  }
  for (const node of document.querySelectorAll("[data-rate]")) {
    const policy = node.dataset.rate;
    const row = rates.policies ? rates.policies[policy] : null;
    const games = document.querySelector(`[data-games="${policy}"]`);
    if (!row || !row.games) {
      node.textContent = "No games yet";
      games.textContent = "";
    } else {
      node.textContent = `Beats players ${percent(row.bot_win_rate)}`;
      games.textContent = `of ${row.games} ${row.games === 1 ? "game" : "games"}`;
      games.title = node.title = "The bot's win rate in finished games against people";
    }
  }
}

// The arena.

function renderPills(points) {
  const ranked = points ? MOVES.slice().sort((a, b) => points[a] - points[b]) : [];
  const tiers = ["low", "mid", "high"];
  for (const pill of document.querySelectorAll("[data-pill]")) {
    const move = pill.dataset.pill;
    pill.classList.remove("low", "mid", "high");
    if (!points) {
      pill.textContent = "–";
      pill.removeAttribute("title");
      continue;
    }
    pill.classList.add(tiers[ranked.indexOf(move)]);
    pill.textContent = `${damage(points[move])} dmg`;
    pill.title = `${MOVE_NAMES[move]} is worth ${number(points[move], 1)} points this round`;
  }
}

function setHealth(side, otherScore, score) {
  const hp = health(otherScore);
  const meter = byId(`${side}-health`);
  meter.setAttribute("aria-valuenow", String(hp));
  const bar = byId(`${side}-health-fill`);
  bar.style.width = `${hp}%`;
  bar.classList.toggle("hurt", hp <= 50 && hp > 25);
  bar.classList.toggle("critical", hp <= 25);
  byId(`${side}-hp`).textContent = String(hp);
  byId(`${side}-score`).textContent = number(score, 1);
}

function renderScores() {
  const game = state.game;
  const user = game ? game.userScore : 0;
  const bot = game ? game.botScore : 0;
  setHealth("user", bot, user);
  setHealth("bot", user, bot);
}

function setMovesEnabled(enabled) {
  for (const button of ui.moves) button.disabled = !enabled;
}

/** The status line (an aria-live region); ``tone`` is "", "notice" (why the game changed under
 * this page) or "error". Extra nodes (a button) follow the text. */
function setStatus(text, tone = "", ...extra) {
  fill(ui.status, text, ...extra);
  ui.status.classList.toggle("error", tone === "error");
  ui.status.classList.toggle("notice", tone === "notice");
}

function promptForMove() {
  const game = state.game;
  setStatus(`Round ${game.round} — your move.`);
}

function outcomeText(answer, opponent) {
  if (answer.result === "win") return ["win", "You win the round"];
  if (answer.result === "lose") return ["lose", `${opponent.name} wins the round`];
  return ["draw", "Draw"];
}

function damageText(answer, opponent) {
  if (answer.result === "win") return `You deal ${damage(answer.user_delta)} damage`;
  if (answer.result === "lose") return `${opponent.name} deals ${damage(answer.bot_delta)} damage`;
  return `Both take ${damage(answer.user_delta)} damage`;
}

function moveLabel(move) {
  return `${MOVE_ICONS[move]} ${MOVE_NAMES[move]}`;
}

function renderResult(answer) {
  const opponent = state.game.opponent;
  const [kind, headline] = outcomeText(answer, opponent);
  fill(
    ui.result,
    el(
      "div",
      { class: "result-head" },
      el("span", { class: `badge ${kind}`, text: headline }),
      el("span", { class: "muted", text: `Round ${answer.round}` }),
    ),
    el(
      "div",
      { class: "result-moves" },
      el("span", { text: `You ${moveLabel(answer.user_move)}` }),
      el("span", { class: "muted", text: " vs " }),
      el("span", { text: `${opponent.name} ${moveLabel(answer.bot_move)}` }),
    ),
    el("div", { class: "result-damage", text: damageText(answer, opponent) }),
  );
}

function renderHistory() {
  const rows = state.game ? state.game.rounds.slice(-HISTORY_ROWS).reverse() : [];
  const opponent = state.game ? state.game.opponent : null;
  if (!rows.length) {
    fill(ui.history, el("li", { class: "history-empty muted", text: "No rounds yet." }));
    return;
  }
  fill(
    ui.history,
    rows.map((r) => {
      const summary =
        r.result === "win"
          ? `you hit ${damage(r.user_delta)}`
          : r.result === "lose"
            ? `${opponent.name} hit ${damage(r.bot_delta)}`
            : `${damage(r.user_delta)} each`;
      return el(
        "li",
        { class: `history-row ${r.result}` },
        el("span", { class: "h-round", text: `#${r.round}` }),
        el("span", {
          class: "h-moves",
          text: `${MOVE_ICONS[r.user_move]} vs ${MOVE_ICONS[r.bot_move]}`,
          title: `You ${MOVE_NAMES[r.user_move]}, ${opponent.name} ${MOVE_NAMES[r.bot_move]}`,
        }),
        el("span", { class: "h-outcome", text: { win: "Win", lose: "Loss", draw: "Draw" }[r.result] }),
        el("span", { class: "h-damage", text: summary }),
      );
    }),
  );
}

function showBanner(answer) {
  const game = state.game;
  const titles = {
    user: "🏆 You win!",
    bot: `${game.opponent.emoji} ${game.opponent.name} wins`,
    tie: "🤝 It's a tie",
  };
  byId("banner-title").textContent = titles[answer.winner] || "Game over";
  byId("banner-score").textContent =
    `${number(answer.user_score, 1)} – ${number(answer.bot_score, 1)} after ${answer.round} rounds`;
  ui.banner.className = `banner ${answer.winner}`;
  ui.banner.hidden = false;
  ui.again.focus({ preventScroll: true });
}

function resetArena() {
  ui.banner.hidden = true;
  fill(ui.result, el("span", { class: "result-placeholder", text: "Round results appear here." }));
  renderHistory();
  renderScores();
  if (debugMode) resetDebug();
}

// Game flow.

/** Run ``task`` with the moves locked; afterwards they are playable again unless the game has
 * ended, whatever happened. One task at a time: nothing is ever sent twice. */
async function exclusive(task) {
  if (state.busy) return;
  state.busy = true;
  setMovesEnabled(false);
  try {
    await task();
  } finally {
    state.busy = false;
    setMovesEnabled(Boolean(state.game && !state.game.finished));
  }
}

function showFighters(playerName, opponent) {
  byId("user-name").textContent = playerName;
  byId("bot-name").textContent = `${opponent.emoji} ${opponent.name}`;
  ui.start.firstChild.textContent = "New game ";
}

async function startGame() {
  if (state.busy) return;
  state.busy = true;
  setMovesEnabled(false);
  ui.start.disabled = true;
  const body = { policy: state.policy };
  const name = ui.name.value.trim();
  if (name) body.player_name = name;
  if (state.sessionId) body.session_id = state.sessionId;
  setStatus("Starting a game…");
  try {
    const started = await postJSON("/start_game", body);
    const opponent = opponentByPolicy(started.policy);
    state.sessionId = started.session_id;
    saved.set("session_id", started.session_id);
    saved.set("player_name", name);
    rememberGame(started.game_id);
    state.game = {
      id: started.game_id,
      opponent,
      round: 1,
      userScore: 0,
      botScore: 0,
      points: started.round_points,
      finished: false,
      rounds: [],
    };
    showFighters(started.player_name, opponent);
    resetArena();
    renderPills(state.game.points);
    promptForMove();
    setMovesEnabled(true);
    refreshStats();
  } catch (error) {
    setStatus(`Could not start a game: ${error.message}`, "error");
  } finally {
    state.busy = false;
    ui.start.disabled = false;
  }
}

function play(move) {
  const game = state.game;
  if (!game || game.finished) return;
  return exclusive(async () => {
    setStatus(`${game.opponent.name} is choosing…`);
    let answer;
    try {
      answer = await postJSON("/play", { game_id: game.id, user_move: move, round: game.round });
    } catch (error) {
      // 409: the server's game is not the one shown here (a round played in another tab or
      // window, or the game closed); 404: the server no longer has it. Take the server's word.
      if (error instanceof ApiError && (error.status === 409 || error.status === 404)) {
        await resync(game, error.message);
      } else {
        setStatus(`That move did not count: ${error.message}`, "error");
      }
      return;
    }
    game.rounds.push(answer);
    game.userScore = answer.user_score;
    game.botScore = answer.bot_score;
    game.finished = answer.finished;
    game.round = answer.round + 1;
    game.points = answer.next_round_points;
    renderScores();
    renderResult(answer);
    renderHistory();
    renderPills(game.finished ? null : game.points);
    if (debugMode) renderDebug(answer);
    if (game.finished) {
      forgetGame(game.id);
      setStatus(`Game over after ${answer.round} rounds.`);
      showBanner(answer);
      refreshStats();
      refreshLeaderboards();
      refreshWinRates();
    } else {
      promptForMove();
      refreshStatsSoon();
    }
  });
}

// Taking a game as the server has it: after a refused move, and when a reload or another tab
// picks up the remembered game.

/** This page's game from ``GET /games/{id}``: its rounds have the fields of /play's answers. */
function gameFromServer(remote) {
  const rounds = remote.rounds || [];
  return {
    id: remote.game_id,
    opponent: opponentByPolicy(remote.policy),
    round: rounds.length + 1,
    userScore: remote.user_score,
    botScore: remote.bot_score,
    points: remote.next_round_points,
    finished: remote.status === "finished" || Boolean(remote.winner),
    rounds,
  };
}

/** Draw ``state.game`` as if this page had played every one of its rounds. */
function drawGame(playerName) {
  const game = state.game;
  showFighters(playerName, game.opponent);
  resetArena();
  const last = game.rounds[game.rounds.length - 1];
  if (last) renderResult(last);
  renderPills(game.finished ? null : game.points);
  refreshStats();
}

/** "35 minutes", "3 hours", "2 days"; null when the times do not make sense. */
function span(fromIso, toIso) {
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  if (!Number.isFinite(ms) || ms < 0) return null;
  const minutes = Math.round(ms / 60000);
  if (minutes < 120) return plural(minutes, "minute");
  const hours = Math.round(minutes / 60);
  return hours < 48 ? plural(hours, "hour") : plural(Math.round(hours / 24), "day");
}

/** Why a game this page was still playing has ended, from the server's record of it. */
function endedText(remote) {
  if (remote.finished_reason === "abandoned") {
    const rounds = remote.rounds || [];
    const lastMove = rounds.length ? rounds[rounds.length - 1].created_at : remote.created_at;
    const quiet = span(lastMove, remote.finished_at);
    return (
      "This game has ended: it was closed as abandoned after " +
      `${quiet || "a long time"} without a move.`
    );
  }
  return "This game has ended: it was finished in another tab or window.";
}

/** What the page says after taking the server's game in place of ``before`` (this page's). */
function resyncText(remote, before, refusal) {
  const game = state.game;
  if (game.finished) return endedText(remote);
  if (game.round > before.round) {
    return `This game moved on in another tab or window: you are now at round ${game.round}.`;
  }
  if (game.round < before.round) {
    return `This game is behind what this page showed: you are now at round ${game.round}.`;
  }
  const why = refusal ? `That move did not count (${refusal}). ` : "";
  return `${why}Round ${game.round} — your move.`;
}

/** Fetch the game from the server and show it in place of this page's copy, saying why. Moves
 * must already be locked (see exclusive); never throws. */
async function resync(game, refusal) {
  const fetching = "Fetching the game from the server…";
  setStatus(refusal ? `That move did not count. ${fetching}` : fetching, "notice");
  let remote;
  try {
    remote = await getJSON(`/games/${encodeURIComponent(game.id)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      forgetGame(game.id);
      state.game = null;
      resetArena();
      renderPills(null);
      setStatus("This game is no longer on the server. Start a new game.", "notice");
      return;
    }
    const reload = el("button", {
      type: "button",
      class: "status-action",
      id: "resync-button",
      text: "Reload the game",
      on: { click: () => exclusive(() => resync(game, null)) },
    });
    setStatus(
      `${refusal ? "That move did not count, and the" : "The"} game could not be fetched ` +
        `from the server: ${error.message}. `,
      "error",
      reload,
    );
    return;
  }
  state.game = gameFromServer(remote);
  drawGame(remote.player_name);
  setStatus(resyncText(remote, game, refusal), "notice");
  if (state.game.finished) {
    forgetGame(remote.game_id);
    showBanner({
      winner: remote.winner,
      user_score: remote.user_score,
      bot_score: remote.bot_score,
      round: remote.rounds.length,
    });
    refreshLeaderboards();
    refreshWinRates();
  }
}

/** Pick up the game this tab (or else this browser) was playing, if it is still open. */
async function resumeGame() {
  const gameId = thisTab.get("game_id") || saved.get("game_id");
  if (!gameId) return;
  await exclusive(async () => {
    let remote;
    try {
      remote = await getJSON(`/games/${encodeURIComponent(gameId)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) forgetGame(gameId);
      return; // the page starts empty, as without a remembered game
    }
    if (remote.status === "finished" || remote.winner) {
      forgetGame(gameId);
      return;
    }
    thisTab.set("game_id", gameId);
    state.game = gameFromServer(remote);
    drawGame(remote.player_name);
    const { opponent, round } = state.game;
    setStatus(`Your game against ${opponent.name} goes on: round ${round} — your move.`);
  });
}

// Session stats and leaderboards.

function stat(label, value) {
  return el("div", { class: "stat" }, el("dt", { text: label }), el("dd", { text: value }));
}

let statsTicket = 0;
let statsTimer = null;
let statsAskedAt = -Infinity;
// Session stats are a rate-limited read on the server (RATE_LIMIT_READ_PER_MIN): between
// rounds they are asked for at most every few seconds, however fast the player is.
const STATS_GAP_MS = 4000;

/** Refresh the session stats now, or a little later if they were just asked for. */
function refreshStatsSoon() {
  if (statsTimer !== null) return;
  const wait = statsAskedAt + STATS_GAP_MS - performance.now();
  if (wait <= 0) refreshStats();
  else statsTimer = setTimeout(refreshStats, wait);
}

async function refreshStats() {
  // An answer overtaken by a later request is dropped.
  clearTimeout(statsTimer);
  statsTimer = null;
  statsAskedAt = performance.now();
  const ticket = ++statsTicket;
  const node = byId("session-stats");
  const show = (s) =>
    fill(
      node,
      stat("Games", String(s.games)),
      stat("Win rate", s.games ? percent(s.win_rate) : "—"),
      stat("Wins", String(s.wins)),
      stat("Losses", String(s.losses)),
      stat("Ties", String(s.ties)),
      stat("Rounds", String(s.rounds_played)),
      stat("Best streak", String(s.best_streak)),
      stat("Current streak", String(s.current_streak)),
    );
  const none = { games: 0, win_rate: null, wins: 0, losses: 0, ties: 0, rounds_played: 0 };
  if (!state.sessionId) {
    show({ ...none, best_streak: 0, current_streak: 0 });
    return;
  }
  try {
    const stats = await getJSON(`/stats?session_id=${encodeURIComponent(state.sessionId)}`);
    if (ticket === statsTicket) show(stats);
  } catch (error) {
    if (ticket !== statsTicket) return;
    fill(node, el("p", { class: "muted", text: `Stats unavailable: ${error.message}` }));
  }
}

function boardRow(entry, value, detail) {
  const mine = state.game && entry.player_name === byId("user-name").textContent;
  return el(
    "li",
    { class: mine ? "board-row mine" : "board-row" },
    el("span", { class: "b-rank", text: String(entry.rank) }),
    el("span", { class: "b-name", text: entry.player_name }),
    el("span", { class: "b-value", text: value }),
    el("span", { class: "b-detail muted", text: detail }),
  );
}

function plural(count, noun) {
  return `${count} ${count === 1 ? noun : `${noun}s`}`;
}

function emptyBoard(text) {
  return el("li", { class: "board-empty muted", text });
}

async function refreshLeaderboards() {
  const streaks = byId("streak-board");
  const rates = byId("rate-board");
  const [streakData, rateData] = await Promise.allSettled([
    getJSON("/win_streaks?limit=10"),
    getJSON("/leaderboard?limit=10"),
  ]);
  if (streakData.status === "fulfilled") {
    const entries = streakData.value.entries || [];
    fill(
      streaks,
      entries.length
        ? entries.map((e) => boardRow(e, `${e.best_streak} in a row`, plural(e.games, "game")))
        : emptyBoard("No streaks yet — win a game to get on the board."),
    );
  } else {
    fill(streaks, emptyBoard(`Unavailable: ${streakData.reason.message}`));
  }
  if (rateData.status === "fulfilled") {
    const data = rateData.value;
    const entries = data.entries || [];
    fill(
      rates,
      entries.length
        ? entries.map((e) => boardRow(e, percent(e.win_rate), `${e.wins} of ${plural(e.games, "game")} won`))
        : emptyBoard("Nobody qualifies yet."),
    );
    byId("rate-board-note").textContent =
      `Players need at least ${data.min_games} finished games to appear here.`;
  } else {
    fill(rates, emptyBoard(`Unavailable: ${rateData.reason.message}`));
  }
}

function setUpTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (chosen) => {
    for (const tab of tabs) {
      const selected = tab === chosen;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      byId(tab.getAttribute("aria-controls")).hidden = !selected;
    }
  };
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const step = event.key === "ArrowRight" ? 1 : -1;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      select(next);
      next.focus();
    });
  });
  select(tabs[0]);
}

// Input.

function typingInto(target) {
  return (
    (target instanceof HTMLInputElement && target.type === "text") ||
    target instanceof HTMLTextAreaElement ||
    (target instanceof HTMLElement && target.isContentEditable)
  );
}

const MOVE_KEYS = { r: "rock", p: "paper", s: "scissors" };

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  if (typingInto(event.target)) return;
  const key = event.key.toLowerCase();
  if (MOVE_KEYS[key]) {
    event.preventDefault();
    play(MOVE_KEYS[key]);
  } else if (key === "n" && (!state.game || state.game.finished)) {
    event.preventDefault();
    startGame();
  }
}

function init() {
  markNavigation(debugMode ? "debug" : "play");
  byId("debug-panel").hidden = !debugMode;
  ui.name.value = saved.get("player_name") || "";
  renderOpponents();
  renderPills(null);
  resetArena();
  setUpTabs();
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    startGame();
  });
  ui.again.addEventListener("click", () => startGame());
  for (const button of ui.moves) {
    button.addEventListener("click", () => play(button.dataset.move));
  }
  document.addEventListener("keydown", onKey);
  refreshWinRates();
  refreshStats();
  refreshLeaderboards();
  resumeGame().finally(() => {
    document.body.dataset.ready = "true";
  });
}

init();

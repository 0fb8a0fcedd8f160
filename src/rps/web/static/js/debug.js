// The model internals panel of /ui-lite-debug: what the bot's model saw and predicted each round.

import { byId, el, fill, number, percent } from "./dom.js";
import { MOVE_ICONS, MOVE_NAMES, MOVES } from "./opponents.js";

const SOURCE_NOTES = {
  opening: "Rounds 1–3 play the game's opening; the model decides from round 4.",
  fallback: "No model answered, so the family's fallback persona played this round.",
  persona: "A scripted persona played this round.",
};

function featureNames() {
  try {
    return JSON.parse(byId("feature-names").textContent);
  } catch {
    return [];
  }
}

const NAMES = featureNames();

export function resetDebug() {
  byId("debug-empty").hidden = false;
  byId("debug-body").hidden = true;
}

function fact(label, value, extra) {
  const shown = value === null || value === undefined || value === "" ? "—" : value;
  return el("div", {}, el("dt", { text: label }), el("dd", extra || {}, shown));
}

function note(source, reason) {
  const text = SOURCE_NOTES[source] || "No prediction this round.";
  return el("p", { class: "muted small", text: reason ? `${text} (${reason})` : text });
}

function renderProbabilities(answer) {
  const node = byId("debug-probabilities");
  const probabilities = answer.debug.probabilities;
  if (!probabilities) {
    fill(node, note(answer.model_info.probability_source, answer.model_info.fallback_reason));
    return;
  }
  const likeliest = MOVES.reduce((a, b) => (probabilities[b] > probabilities[a] ? b : a));
  fill(
    node,
    MOVES.map((move) => {
      const bar = el("span", { class: "bar-fill" });
      bar.style.width = `${Math.max(0, Math.min(1, probabilities[move])) * 100}%`;
      return el(
        "div",
        { class: move === likeliest ? "bar-row top" : "bar-row", dataset: { move } },
        el("span", { class: "bar-label", text: `${MOVE_ICONS[move]} ${MOVE_NAMES[move]}` }),
        el("span", { class: "bar-track" }, bar),
        el("span", { class: "bar-value", text: percent(probabilities[move], 1) }),
      );
    }),
  );
}

function renderExpectedValues(answer) {
  const node = byId("debug-ev");
  const values = answer.debug.expected_values;
  const chosen = answer.bot_move;
  if (!values) {
    fill(
      node,
      note(answer.model_info.probability_source, answer.model_info.fallback_reason),
      el("p", { class: "chosen-line", text: `Bot played ${MOVE_ICONS[chosen]} ${MOVE_NAMES[chosen]}` }),
    );
    return;
  }
  const scale = Math.max(...MOVES.map((m) => Math.abs(values[m])), 1e-9);
  fill(
    node,
    MOVES.map((move) => {
      const bar = el("span", { class: values[move] < 0 ? "ev-fill negative" : "ev-fill" });
      bar.style.width = `${(Math.abs(values[move]) / scale) * 50}%`;
      const isChosen = move === chosen;
      return el(
        "div",
        { class: isChosen ? "ev-row chosen" : "ev-row", dataset: { move } },
        el("span", { class: "bar-label", text: `${MOVE_ICONS[move]} ${MOVE_NAMES[move]}` }),
        el("span", { class: "ev-track" }, bar),
        el("span", { class: "bar-value", text: `${values[move] >= 0 ? "+" : ""}${number(values[move], 3)}` }),
        el("span", { class: "chosen-mark", text: isChosen ? "✓ chosen" : "" }),
      );
    }),
  );
}

function renderFeatures(answer) {
  const node = byId("debug-features");
  const features = answer.debug.features;
  byId("feature-count").textContent = String(features ? features.length : 0);
  if (!features) {
    fill(node, el("p", { class: "muted small", text: "No features: the opening needs none." }));
    return;
  }
  fill(
    node,
    features.map((value, index) =>
      el(
        "div",
        { class: value ? "feature nonzero" : "feature" },
        el("span", { class: "feature-name", text: NAMES[index] || `f${index}` }),
        el("span", { class: "feature-value", text: number(value, 3) }),
      ),
    ),
  );
}

/** Show one /play answer's model internals. */
export function renderDebug(answer) {
  const info = answer.model_info;
  byId("debug-empty").hidden = true;
  byId("debug-body").hidden = false;
  fill(
    byId("model-facts"),
    fact("Round", String(answer.round)),
    fact("Model type", info.model_type),
    fact("Alias", info.model_alias),
    fact("Version", info.model_version),
    fact("Run id", info.model_run_id, { class: "mono" }),
    fact("Probability source", info.probability_source, { class: `source ${info.probability_source}` }),
    fact("Fallback reason", info.fallback_reason),
    fact("Bot played", `${MOVE_ICONS[answer.bot_move]} ${MOVE_NAMES[answer.bot_move]}`, {
      id: "debug-bot-move",
    }),
  );
  renderProbabilities(answer);
  renderExpectedValues(answer);
  renderFeatures(answer);
}

// The model internals panel of /ui-lite-debug: what the bot's model saw and predicted each round,
// and what the decision layer made of it (SPEC §4): the blend, each expert's weight and which P
// chose the move.

import { byId, el, fill, number, percent } from "./dom.js";
import { MOVE_ICONS, MOVE_NAMES, MOVES } from "./opponents.js";

const SOURCE_NOTES = {
  opening: "Rounds 1–3 play the game's opening; the model decides from round 4.",
  fallback: "No model answered, so the family's fallback persona played this round.",
  persona: "A scripted persona played this round.",
};
// With a blend, a fallback round was played by the decision layer without its model expert.
const LAYER_FALLBACK_NOTE = "No model answered, so the decision layer played without its model.";
const ACTED_NAMES = { blend: "the blend", "in-game": "the in-game experts", greedy: "value-greedy" };

function actedNote(belief) {
  const withModel = belief.model_weight !== null && belief.model_weight !== undefined;
  switch (belief.acted) {
    case "blend":
      return withModel
        ? "The blend acted: the model's record in this game has earned it the say."
        : "The blend of the in-game experts acted.";
    case "in-game":
      return withModel
        ? "The in-game experts acted: the model's record in this game has not earned the blend the say yet."
        : "The in-game experts acted.";
    case "greedy":
      return "Value-greedy acted (uniform P): no expert has earned the say in this game yet.";
    default:
      return "The blend acted.";
  }
}

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

function note(answer) {
  const { probability_source: source, fallback_reason: reason } = answer.model_info;
  const text =
    source === "fallback" && answer.debug.belief
      ? LAYER_FALLBACK_NOTE
      : SOURCE_NOTES[source] || "No prediction this round.";
  return el("p", { class: "muted small", text: reason ? `${text} (${reason})` : text });
}

function bar(share) {
  const fillNode = el("span", { class: "bar-fill" });
  fillNode.style.width = `${Math.max(0, Math.min(1, share)) * 100}%`;
  return el("span", { class: "bar-track" }, fillNode);
}

function moveBars(probabilities) {
  const likeliest = MOVES.reduce((a, b) => (probabilities[b] > probabilities[a] ? b : a));
  return MOVES.map((move) =>
    el(
      "div",
      { class: move === likeliest ? "bar-row top" : "bar-row", dataset: { move } },
      el("span", { class: "bar-label", text: `${MOVE_ICONS[move]} ${MOVE_NAMES[move]}` }),
      bar(probabilities[move]),
      el("span", { class: "bar-value", text: percent(probabilities[move], 1) }),
    ),
  );
}

function renderProbabilities(answer) {
  const probabilities = answer.debug.probabilities;
  fill(byId("debug-probabilities"), probabilities ? moveBars(probabilities) : note(answer));
}

function renderBlend(answer) {
  const belief = answer.debug.belief;
  if (!belief) {
    fill(byId("debug-blend"), note(answer));
    fill(byId("debug-weights"), el("p", { class: "muted small", text: "No blend this round." }));
    return;
  }
  fill(byId("debug-blend"), moveBars(belief.probabilities));
  // The model first (its share is what the layer learns about it), then the rest by weight.
  const weights = Object.entries(belief.weights || {});
  weights.sort(([a, wa], [b, wb]) => (a === "model" ? -1 : b === "model" ? 1 : wb - wa));
  fill(
    byId("debug-weights"),
    weights.map(([expert, weight]) =>
      el(
        "div",
        { class: expert === "model" ? "bar-row weight-row model" : "bar-row weight-row", dataset: { expert } },
        el("span", { class: "bar-label mono", title: expert, text: expert }),
        bar(weight),
        el("span", { class: "bar-value", text: percent(weight, 1) }),
      ),
    ),
  );
}

function renderActed(answer) {
  const node = byId("debug-acted");
  const belief = answer.debug.belief;
  if (!belief) {
    fill(node);
    delete node.dataset.acted;
    node.hidden = true;
    return;
  }
  node.hidden = false;
  const acting = belief.acting_probabilities;
  const under =
    acting && belief.acted !== "blend"
      ? ` Its P: ${MOVES.map((m) => `${MOVE_NAMES[m]} ${percent(acting[m], 1)}`).join(" · ")}.`
      : "";
  fill(node, `${actedNote(belief)}${under}`);
  node.dataset.acted = belief.acted || "";
}

function renderExpectedValues(answer) {
  const node = byId("debug-ev");
  const values = answer.debug.expected_values;
  const chosen = answer.bot_move;
  if (!values) {
    fill(
      node,
      note(answer),
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
  const belief = answer.debug.belief;
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
    fact("Model weight", belief ? percent(belief.model_weight, 1) : null, { id: "debug-model-weight" }),
    fact("P that acted", belief ? ACTED_NAMES[belief.acted] || belief.acted : null, { id: "debug-acted-by" }),
    fact("Decision layer", belief ? belief.params : null, { class: "mono" }),
    fact("Bot played", `${MOVE_ICONS[answer.bot_move]} ${MOVE_NAMES[answer.bot_move]}`, {
      id: "debug-bot-move",
    }),
  );
  renderProbabilities(answer);
  renderBlend(answer);
  renderActed(answer);
  renderExpectedValues(answer);
  renderFeatures(answer);
}

// The ops page (/ops): the model lifecycle at a glance, all from GET /ops/summary.

import { getJSON } from "./api.js";
import { rateChart } from "./chart.js";
import { byId, el, fill, markNavigation, number, percent, when } from "./dom.js";
import { opponentByFamily, opponentByPolicy } from "./opponents.js";

const ALIASES = ["Production", "B", "shadow1", "shadow2"];
const SWATCHES = { Production: "s0", B: "s1", shadow1: "s2", shadow2: "s3" };
const DECISIONS = {
  swap_production_b: "Swap Production ↔ B",
  retain_production: "Retain Production",
  insufficient_data: "Insufficient data",
  alias_reorder: "Alias reorder",
  alias_set: "Alias set by hand",
  test_exhausted: "Test exhausted (retain)",
  challenger_to_b: "Challenger to B",
  rollback: "Rollback",
};

const SHADOWS = new Set(["shadow1", "shadow2"]);

const swatchOf = (alias) => SWATCHES[alias] || "s3";

/** "1 game", "3 games". */
const plural = (n, word) => `${n} ${n === 1 ? word : `${word}s`}`;

/** Points with their sign: 0.214 → "+0.21" (null → "—"). */
function signed(value, digits = 2) {
  if (value === null || value === undefined) return "—";
  return `${value >= 0 ? "+" : ""}${number(value, digits)}`;
}

function table(headers, rows, emptyText) {
  const head = el(
    "thead",
    {},
    el("tr", {}, headers.map(([label, cls]) => el("th", { class: cls || null, scope: "col", text: label }))),
  );
  const body = el("tbody", {});
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { class: "empty-row", colspan: headers.length, text: emptyText })));
  } else {
    body.append(...rows);
  }
  return el("table", {}, head, body);
}

function cell(value, cls) {
  return el("td", { class: cls || null }, value === null || value === undefined ? "—" : value);
}

// Families.

function abSplit(split) {
  if (!split || !split.enabled) {
    return el("div", { class: "ab-split" }, "A/B test off: every game plays Production.");
  }
  const shownB = split.observed_b ?? split.configured_b;
  const a = el("span", { class: "split-a" });
  const b = el("span", { class: "split-b" });
  a.style.width = `${(1 - shownB) * 100}%`;
  b.style.width = `${shownB * 100}%`;
  const observed =
    split.observed_b === null || split.observed_b === undefined
      ? "no games yet"
      : `observed ${percent(split.observed_b)} of ${split.games} ${split.games === 1 ? "game" : "games"}`;
  const srm =
    split.srm_p_value === null || split.srm_p_value === undefined
      ? ""
      : ` · sample-ratio check p = ${number(split.srm_p_value, 3)}`;
  return el(
    "div",
    { class: "ab-split" },
    el("span", {}, `A/B split: B gets ${percent(split.configured_b)} of games (${observed})${srm}`),
    el("div", { class: "split-bar", title: `Production ${percent(1 - shownB)} · B ${percent(shownB)}` }, a, b),
  );
}

// Production and B play games; shadows only predict, so theirs is what their own decisions
// would have won round by round (scored by the app's current decision layer).
function liveCell(row) {
  if (!SHADOWS.has(row.alias)) {
    return el(
      "td",
      { class: "num live-rate" },
      el("div", { text: percent(row.win_rate, 1) }),
      el("div", { class: "sub", text: `${row.bot_wins} of ${plural(row.games, "game")}` }),
    );
  }
  const counterfactual = row.counterfactual || {};
  return el(
    "td",
    { class: "num counterfactual-rate" },
    el("div", { text: percent(counterfactual.win_rate, 1) }),
    el("div", { class: "sub", text: `counterfactual, ${plural(counterfactual.model_rounds || 0, "round")}` }),
    el("div", { class: "sub counterfactual-margin", text: `${signed(counterfactual.mean_margin)} pts per round` }),
  );
}

// The version's offline strength against the opponent gym's holdout part, beside the two
// baselines on the same games (SPEC §4.1); red when value-greedy would have done better.
function gymCell(gym) {
  if (!gym) {
    return el("td", { class: "num gym", title: "No gym figures for this version (rps evaluate --persist)" }, "—");
  }
  const rate = gym.holdout_win_rate;
  const greedy = gym.greedy_holdout_win_rate;
  const weak = rate !== null && rate !== undefined && greedy !== null && greedy !== undefined && rate < greedy;
  const title = [
    `Holdout ${percent(rate, 1)} (margin ${signed(gym.holdout_margin)} pts per round), training part ${percent(gym.training_win_rate, 1)}`,
    `Value-greedy ${percent(greedy, 1)}, decision layer without a model ${percent(gym.layer_holdout_win_rate, 1)}`,
    `${gym.games_per_opponent} games per opponent · ${gym.source} · ${when(gym.evaluated_at)}`,
    gym.gate_reason ? `Gate: ${gym.gate_reason}` : null,
  ]
    .filter(Boolean)
    .join("\n");
  return el(
    "td",
    { class: "num gym", title },
    el("div", { class: weak ? "gym-rate gym-weak" : "gym-rate", text: percent(rate, 1) }),
    el("div", { class: "sub gym-greedy", text: `greedy ${percent(greedy, 1)}` }),
    el("div", { class: "sub gym-layer", text: `layer ${percent(gym.layer_holdout_win_rate, 1)}` }),
  );
}

function aliasRow(row) {
  const version = row.version === null || row.version === undefined ? "—" : `v${row.version}`;
  const versionCell = el("td", {}, el("div", { text: version }));
  if (row.run_id) versionCell.append(el("div", { class: "muted mono small", text: row.run_id.slice(0, 8) }));
  if (row.source === "fallback") {
    versionCell.append(
      el("div", { class: "fallback-note", text: `fallback${row.fallback_reason ? `: ${row.fallback_reason}` : ""}` }),
    );
  }
  const belowGate = Boolean(row.gym && row.gym.below_gate);
  if (belowGate) {
    // Registered only because its family had no Production: it failed the strength gate.
    versionCell.append(
      el("div", {}, el("span", { class: "badge below_gate", title: row.gym.gate_reason || null, text: "below gate" })),
    );
  }
  if (row.assigned_at) versionCell.append(el("div", { class: "sub since", text: `since ${when(row.assigned_at)}` }));
  return el(
    "tr",
    { dataset: belowGate ? { alias: row.alias, belowGate: "true" } : { alias: row.alias } },
    el("td", {}, el("span", { class: "alias-name" }, el("i", { class: `swatch ${swatchOf(row.alias)}` }), row.alias)),
    versionCell,
    el(
      "td",
      { class: "num" },
      el("div", { text: percent(row.accuracy, 1) }),
      el("div", { class: "sub", text: `of ${plural(row.predictions, "prediction")}` }),
    ),
    liveCell(row),
    gymCell(row.gym),
  );
}

function seriesFor(daily, field, countField) {
  const aliases = [...new Set([...ALIASES, ...daily.map((d) => d.alias)])];
  return aliases
    .map((alias) => ({
      label: alias,
      swatch: swatchOf(alias),
      points: daily
        .filter((d) => d.alias === alias)
        .map((d) => ({ date: d.date, value: d[field], n: d[countField] })),
    }))
    .filter((s) => s.points.length);
}

// What the next promotion run would decide, with the running test's figures and the
// challengers as a concluded test would rank them (SPEC §7).
function armText(arm) {
  if (!arm) return "B empty";
  const rate = arm.games ? percent(arm.bot_wins / arm.games, 1) : "—";
  return `v${arm.version}: ${arm.bot_wins}/${plural(arm.games, "game")} won (${rate})`;
}

function challengerText(c) {
  const where = c.alias ? `${c.alias} ` : "";
  if (c.ranked_on === "live") {
    return `${where}v${c.version} — margin ${signed(c.margin)} pts over ${plural(c.scored_rounds, "round")}`;
  }
  if (c.ranked_on === "gym") {
    return `${where}v${c.version} — gym ${percent(c.gym_holdout_win_rate, 1)} (${plural(c.scored_rounds, "scored round")})`;
  }
  return `${where}v${c.version} — no strength figures yet`;
}

function promotionBlock(preview) {
  if (!preview) {
    return el("div", { class: "promotion-preview muted small" }, "No Production served: nothing to test.");
  }
  const pValue =
    preview.rule === "sequential"
      ? `sequential p = ${preview.always_valid_p === null ? "—" : number(preview.always_valid_p, 3)}`
      : `z-test p = ${preview.p_value === null ? "—" : number(preview.p_value, 3)}`;
  const budget = preview.b && preview.max_games ? ` · B at ${preview.b.games} of ${preview.max_games} games` : "";
  const label = DECISIONS[preview.next_decision] || preview.next_decision;
  return el(
    "div",
    { class: "promotion-preview", dataset: { decision: preview.next_decision } },
    el(
      "div",
      {},
      el("strong", { text: "Next promotion run: " }),
      el("span", { class: `badge decision ${preview.next_decision}`, title: preview.reason, text: label }),
    ),
    el(
      "div",
      { class: "small test-figures" },
      `${preview.rule} test, alpha ${number(preview.alpha, 2)}: Production ${armText(preview.production)} · ` +
        `B ${armText(preview.b)} · ${pValue}${budget}`,
    ),
    el(
      "ol",
      { class: "small challenger-ranking", title: "Live counterfactual margin first, then gym strength" },
      preview.challengers.length
        ? preview.challengers.map((c) => el("li", { dataset: { version: c.version }, text: challengerText(c) }))
        : [el("li", { class: "muted", text: "No challengers" })],
    ),
  );
}

function familyCard(family) {
  const opponent = opponentByFamily(family.model_type) || opponentByPolicy(family.policy);
  const aliases = (family.aliases || [])
    .slice()
    .sort((a, b) => ALIASES.indexOf(a.alias) - ALIASES.indexOf(b.alias));
  const daily = family.daily || [];
  return el(
    "article",
    { class: "card family", dataset: { family: family.model_type } },
    el(
      "div",
      { class: "family-head" },
      el("span", { class: "family-title", text: `${opponent.emoji} ${opponent.name}` }),
      el("span", { class: "family-type mono", text: family.model_type }),
    ),
    el(
      "div",
      { class: "family-body" },
      el(
        "div",
        { class: "family-main" },
        abSplit(family.ab_split),
        el(
          "div",
          { class: "table-wrap" },
          table(
            [["Alias"], ["Version"], ["Accuracy", "num"], ["Bot win rate", "num"], ["Gym (holdout)", "num"]],
            aliases.map(aliasRow),
            "No aliases",
          ),
        ),
        promotionBlock(family.promotion),
        el(
          "p",
          { class: "muted small table-note" },
          "Gym: the version's win rate against the opponent gym's holdout part, beside value-greedy's and the " +
            "model-free decision layer's on the same games. Shadows: the rounds their own decisions would have " +
            "won and the points per round they would have gained.",
        ),
      ),
      el(
        "div",
        { class: "charts" },
      rateChart({
        title: "Accuracy",
        series: seriesFor(daily, "accuracy", "predictions"),
        reference: 1 / 3,
        unit: " predictions",
      }),
      rateChart({
        title: "Bot win rate",
        series: seriesFor(daily, "win_rate", "games"),
        reference: 0.5,
        unit: " games",
      }),
      ),
    ),
  );
}

// Ledger and training runs.

function assignments(mapping) {
  const entries = Object.entries(mapping || {});
  entries.sort(([a], [b]) => ALIASES.indexOf(a) - ALIASES.indexOf(b));
  return entries.map(([alias, version]) => `${alias} v${version ?? "—"}`).join(", ") || "—";
}

function ledgerRow(event) {
  const decision = el("td", {}, el("span", { class: `badge ${event.decision}`, text: DECISIONS[event.decision] || event.decision }));
  if (event.reorder_applied && event.decision !== "alias_reorder") {
    decision.append(" ", el("span", { class: "badge alias_reorder", text: "+ reorder" }));
  }
  return el(
    "tr",
    {},
    cell(when(event.created_at), "when"),
    cell(event.model_type, "mono"),
    decision,
    cell(number(event.z, 2), "num"),
    cell(number(event.p_value, 3), "num"),
    cell(event.reason, "wrap"),
    el(
      "td",
      {},
      el("div", { class: "assignments", text: assignments(event.assignments_before) }),
      el("div", { class: "assignments", text: `→ ${assignments(event.assignments_after)}` }),
    ),
    cell(event.source),
  );
}

function duration(started, finished) {
  if (!started || !finished) return "—";
  const seconds = (Date.parse(finished) - Date.parse(started)) / 1000;
  if (!Number.isFinite(seconds) || seconds < 0) return "—";
  return seconds < 90 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} min`;
}

function runRow(run) {
  return el(
    "tr",
    {},
    cell(`#${run.id}`),
    cell(when(run.started_at), "when"),
    cell(duration(run.started_at, run.finished_at), "num"),
    el("td", {}, el("span", { class: `badge ${run.status}`, text: run.status })),
    cell(run.trigger),
    cell(run.rows_used === null ? "—" : String(run.rows_used), "num"),
    cell(String(run.models_trained), "num"),
    cell(String(run.models_registered), "num"),
  );
}

function render(summary) {
  const layer = summary.scoring_version ? ` · decision layer ${summary.scoring_version}` : "";
  byId("generated-at").textContent = `As of ${when(summary.generated_at)}${layer}`;
  const families = summary.families || [];
  fill(
    byId("families"),
    families.length ? families.map(familyCard) : el("p", { class: "muted", text: "No model families reported." }),
  );
  fill(
    byId("ledger"),
    table(
      [["When"], ["Family"], ["Decision"], ["z", "num"], ["p", "num"], ["Reason"], ["Aliases before → after"], ["Source"]],
      (summary.ledger || []).map(ledgerRow),
      "No promotion decisions yet.",
    ),
  );
  fill(
    byId("training-runs"),
    table(
      [["Run"], ["Started"], ["Took", "num"], ["Status"], ["Trigger"], ["Rows", "num"], ["Trained", "num"],
        ["Registered", "num"]],
      (summary.training_runs || []).map(runRow),
      "No training runs yet.",
    ),
  );
}

async function load() {
  const button = byId("refresh-button");
  button.disabled = true;
  try {
    render(await getJSON("/ops/summary"));
    document.body.dataset.ready = "true";
  } catch (error) {
    byId("generated-at").textContent = "Could not load the summary.";
    fill(byId("families"), el("div", { class: "error-box", text: `GET /ops/summary failed: ${error.message}` }));
  } finally {
    button.disabled = false;
  }
}

markNavigation("ops");
byId("refresh-button").addEventListener("click", load);
load();

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
};

const swatchOf = (alias) => SWATCHES[alias] || "s3";

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

function aliasRow(row) {
  const version = row.version === null || row.version === undefined ? "—" : `v${row.version}`;
  const versionCell = el("td", {}, el("div", { text: version }));
  if (row.run_id) versionCell.append(el("div", { class: "muted mono small", text: row.run_id.slice(0, 8) }));
  if (row.source === "fallback") {
    versionCell.append(
      el("div", { class: "fallback-note", text: `fallback${row.fallback_reason ? `: ${row.fallback_reason}` : ""}` }),
    );
  }
  return el(
    "tr",
    { dataset: { alias: row.alias } },
    el("td", {}, el("span", { class: "alias-name" }, el("i", { class: `swatch ${swatchOf(row.alias)}` }), row.alias)),
    versionCell,
    cell(percent(row.accuracy, 1), "num"),
    cell(percent(row.win_rate, 1), "num"),
    cell(`${row.bot_wins}/${row.games}`, "num"),
    cell(String(row.predictions), "num"),
    cell(when(row.assigned_at), "when"),
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
            [["Alias"], ["Version"], ["Accuracy", "num"], ["Bot win rate", "num"],
              ["Bot won", "num"], ["Predictions", "num"], ["Assigned"]],
            aliases.map(aliasRow),
            "No aliases",
          ),
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
  byId("generated-at").textContent = `As of ${when(summary.generated_at)}`;
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

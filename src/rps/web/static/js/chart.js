// Small inline-SVG line charts for rates over time (accuracy, win rate), drawn with no library.

import { el, percent, svg } from "./dom.js";

const WIDTH = 300;
const HEIGHT = 150;
const PAD = { left: 36, right: 12, top: 8, bottom: 22 };
const DAY_MS = 86400000;

function dayOf(date) {
  return Date.parse(`${date}T00:00:00Z`);
}

function shortDate(ms) {
  return new Date(ms).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

/**
 * A line chart of rates in [0, 1] by day.
 *
 * series: [{label, swatch: "s0".."s3", points: [{date: "YYYY-MM-DD", value: 0.61 | null, n: 120}]}]
 * reference: an optional dashed horizontal line (e.g. 1/3, chance for a three-way guess).
 * Returns an element to insert; an empty state when no series has a value.
 */
export function rateChart({ title, series, reference = null, unit = "" }) {
  const drawn = series
    .map((s) => ({ ...s, points: s.points.filter((p) => p.value !== null && p.value !== undefined) }))
    .filter((s) => s.points.length > 0);
  const wrapper = el("figure", { class: "chart" }, el("h3", { text: title }));
  if (!drawn.length) {
    wrapper.append(el("div", { class: "chart-empty", text: "No data yet" }));
    return wrapper;
  }
  const days = drawn.flatMap((s) => s.points.map((p) => dayOf(p.date)));
  let first = Math.min(...days);
  let last = Math.max(...days);
  if (first === last) {
    first -= DAY_MS;
    last += DAY_MS;
  }
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (ms) => PAD.left + ((ms - first) / (last - first)) * plotW;
  const y = (value) => PAD.top + (1 - Math.max(0, Math.min(1, value))) * plotH;

  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": `${title} by day`,
  });
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(
      svg("line", { class: "grid-line", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(tick), y2: y(tick) }),
      svg("text", { class: "axis-label", x: PAD.left - 6, y: y(tick) + 3, "text-anchor": "end" }, percent(tick)),
    );
  }
  if (reference !== null) {
    chart.append(
      svg("line", { class: "ref-line", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(reference), y2: y(reference) }),
    );
  }
  const labelDays = [...new Set([Math.min(...days), Math.max(...days)])];
  for (const ms of labelDays) {
    chart.append(
      svg("text", { class: "axis-label", x: x(ms), y: HEIGHT - 6, "text-anchor": "middle" }, shortDate(ms)),
    );
  }
  for (const s of drawn) {
    const points = s.points.slice().sort((a, b) => dayOf(a.date) - dayOf(b.date));
    if (points.length > 1) {
      const path = points
        .map((p, i) => `${i ? "L" : "M"}${x(dayOf(p.date)).toFixed(1)},${y(p.value).toFixed(1)}`)
        .join(" ");
      chart.append(svg("path", { class: `series ${s.swatch}`, d: path }));
    }
    for (const p of points) {
      const count = p.n === undefined ? "" : ` (n = ${p.n}${unit})`;
      chart.append(
        svg(
          "circle",
          { class: `dot ${s.swatch}`, cx: x(dayOf(p.date)), cy: y(p.value), r: 3 },
          svg("title", {}, `${s.label} · ${p.date}: ${percent(p.value, 1)}${count}`),
        ),
      );
    }
  }
  wrapper.append(chart);
  wrapper.append(
    el(
      "div",
      { class: "legend" },
      drawn.map((s) => el("span", {}, el("i", { class: `swatch ${s.swatch}` }), s.label)),
    ),
  );
  return wrapper;
}

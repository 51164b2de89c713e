// Small hand-written SVG line charts (no library, nothing from a CDN) for a kiosk's health history.
// A bucket without samples is a gap in the line, so a kiosk that was off is not drawn as steady.
// Each chart says what it shows in data-series / data-points (tests and screen readers read it).
import { el, svg } from "./dom.js";

const W = 560;
const H = 150;
const PAD = { left: 48, right: 12, top: 12, bottom: 24 };

function fmt(value, digits) {
  return Number(value).toFixed(digits);
}

/** Runs of consecutive points that have a value (each run becomes one polyline). */
function runs(points, key) {
  const out = [];
  let current = [];
  points.forEach((p, i) => {
    if (p[key] === null || p[key] === undefined) {
      if (current.length) out.push(current);
      current = [];
    } else current.push([i, Number(p[key])]);
  });
  if (current.length) out.push(current);
  return out;
}

/**
 * A line chart of ``points[*][key]`` (oldest first) with its title, unit and range.
 * ``label(point)`` names a bucket (its time) for the axis ends.
 */
export function lineChart(points, { key, title, unit = "", digits = 1, label = (p) => p.start }) {
  const values = points.map((p) => p[key]).filter((v) => v !== null && v !== undefined).map(Number);
  const figure = el("figure", { class: "chart", data: { series: key, points: values.length } });
  const caption = el("figcaption", {}, title,
    values.length ? el("span", { class: "small muted" },
      ` — ${fmt(values[values.length - 1], digits)}${unit} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)}${unit})`) : null);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart-svg" });
  const lo = values.length ? Math.min(0, ...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  const span = hi - lo || 1;
  const x = (i) => PAD.left + (i / Math.max(1, points.length - 1)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - ((v - lo) / span) * (H - PAD.top - PAD.bottom);
  chart.append(svg("line", { x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom, class: "chart-axis" }),
    svg("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: H - PAD.bottom, class: "chart-axis" }));
  for (const [v, at] of [[hi, y(hi)], [lo, y(lo)]]) {
    const text = svg("text", { x: PAD.left - 4, y: at + 4, "text-anchor": "end", class: "chart-label" });
    text.textContent = `${fmt(v, digits)}${unit}`;
    chart.append(text);
  }
  if (points.length) {
    for (const [i, anchor] of [[0, "start"], [points.length - 1, "end"]]) {
      const text = svg("text", { x: x(i), y: H - 6, "text-anchor": anchor, class: "chart-label" });
      text.textContent = label(points[i]);
      chart.append(text);
    }
  }
  for (const run of runs(points, key)) {
    if (run.length === 1) {
      const [i, v] = run[0];
      chart.append(svg("circle", { cx: x(i), cy: y(v), r: 2.5, class: "chart-line-dot" }));
    } else {
      chart.append(svg("polyline", { points: run.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
        class: "chart-line" }));
    }
  }
  if (!values.length) {
    const text = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-label" });
    text.textContent = "—";
    chart.append(text);
  }
  figure.append(caption, chart);
  return figure;
}

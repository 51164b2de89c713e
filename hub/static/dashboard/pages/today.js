// Today: each unit's employees by status, as stacked bars (inline SVG, no library) and a table.
import { api, query } from "../lib/api.js";
import { $, el, fillTable, link, svg } from "../lib/dom.js";
import { count, isDate } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { register } from "../lib/router.js";
import { state } from "../lib/session.js";
import { EXCEPTIONS, STATUSES, exceptionLabel, onSubmit, statusLabel } from "./common.js";
import { emptyState } from "../lib/empty.js";

/** Stacked horizontal bars, one per unit: employees by status. */
function drawChart(holder, unitDays) {
  if (!unitDays.length) return holder.replaceChildren();
  const labelW = 200, barW = 460, countW = 50, rowH = 30, top = 8;
  const width = labelW + barW + countW, height = top * 2 + rowH * unitDays.length;
  const most = Math.max(1, ...unitDays.map((u) => u.employees));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", class: "bars",
    "aria-label": t("dashboard.today.chart_label") });
  unitDays.forEach((u, i) => {
    const y = top + i * rowH;
    const name = svg("text", { x: labelW - 8, y: y + rowH / 2, "text-anchor": "end", "dominant-baseline": "middle", class: "bar-label" });
    name.textContent = u.name.length > 28 ? `${u.name.slice(0, 27)}…` : u.name;
    chart.append(name);
    chart.append(svg("rect", { x: labelW, y: y + 4, width: barW * (u.employees / most), height: rowH - 8, fill: "#eceff1" }));
    let x = labelW;
    for (const [key, colour] of STATUSES) {
      const n = u.statuses[key] || 0;
      if (!n) continue;
      const w = barW * (n / most);
      const seg = svg("rect", { x, y: y + 4, width: w, height: rowH - 8, fill: colour, "data-status": key });
      const tip = svg("title");
      tip.textContent = `${u.name}: ${n} ${statusLabel(key).toLowerCase()}`;
      seg.append(tip);
      chart.append(seg);
      x += w;
    }
    const total = svg("text", { x: labelW + barW * (u.employees / most) + 6, y: y + rowH / 2, "dominant-baseline": "middle", class: "bar-count" });
    total.textContent = String(u.employees);
    chart.append(total);
  });
  holder.replaceChildren(chart);
}

async function render(params, live) {
  const day = isDate(params.get("date")) ? params.get("date") : state.clock.date;
  $("today-date").value = day;
  const data = await api(`/dashboard/today?${query({ date: day })}`);
  if (!live()) return;
  $("today-day").textContent = data.date;
  const tot = data.totals;
  $("today-totals").textContent = tot.employees
    ? `${count(tot.employees, "dashboard.count.employee")}: ${STATUSES.filter(([k]) => tot.statuses[k]).map(([k]) => `${tot.statuses[k]} ${statusLabel(k).toLowerCase()}`).join(", ")}`
      + `; ${t("dashboard.today.exceptions")}: ${EXCEPTIONS.map((k) => `${tot.exceptions[k]} ${exceptionLabel(k).toLowerCase()}`).join(", ")}.`
    : "";
  drawChart($("today-chart"), data.units);
  $("today-legend").replaceChildren(...STATUSES.map(([key, colour]) => {
    const swatch = svg("svg", { width: 12, height: 12, "aria-hidden": "true" });
    swatch.append(svg("rect", { width: 12, height: 12, rx: 2, fill: colour }));
    return el("span", { class: "key" }, swatch, statusLabel(key));
  }));
  const columns = [
    { label: t("dashboard.col.unit"), cls: "nowrap", value: (u) => (u.unit_id && u.unit_id !== "*" ? link(`#/daily?${query({ unit_id: u.unit_id, date: data.date })}`, u.name) : u.name) },
    { label: t("dashboard.col.employees"), cls: "num", value: (u) => u.employees },
    ...STATUSES.map(([key]) => ({ label: statusLabel(key), cls: "num", value: (u) => u.statuses[key] })),
    ...EXCEPTIONS.filter((k) => k !== "late").map((key) => ({ label: exceptionLabel(key), cls: "num", value: (u) => u.exceptions[key] })),
  ];
  const empty = state.me.role === "admin"
    ? emptyState(t("dashboard.today.empty_admin"), { href: "#/staff", label: t("dashboard.today.empty_action") })
    : emptyState(t("dashboard.today.empty"));
  fillTable($("today-table"), columns, [...data.units, ...(data.units.length > 1 ? [tot] : [])], (u) => ({ unit: u.unit_id }), empty);
}

onSubmit("form-today", "today", () => ({ date: $("today-date").value }));
register({ name: "today", nav: "dashboard.nav.today", roles: ["admin", "unit_officer"], render,
  clear: () => $("today-chart").replaceChildren() });

// One kiosk (#/device?id=...): its state, a day or a week of health as charts (temperature,
// backlog, clock skew, camera fps), its remote commands with their results, and what it sent
// that the hub refused. Commands are queued at the hub and sent when the kiosk is online, so a
// command to an offline kiosk shows "queued" until it comes back (hub/devices/commands.py).
import { api } from "../lib/api.js";
import { lineChart } from "../lib/chart.js";
import { $, badge, el, fillTable } from "../lib/dom.js";
import { emptyState } from "../lib/empty.js";
import { clearErrors, field, formFooter, showErrors, values } from "../lib/form.js";
import { ago, when } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { go, register } from "../lib/router.js";
import { state } from "../lib/session.js";
import { deviceStateLabel } from "./common.js";

const STATE_KIND = { online: "ok", offline: "bad", stale: "warn", "never seen": "muted" };
const COMMAND_KIND = { queued: "muted", sent: "warn", ok: "ok", failed: "bad", expired: "bad" };
const CHARTS = [
  ["cpu_temp_c", "dashboard.device.chart_temp", " °C", 1],
  ["outbox_depth", "dashboard.device.chart_backlog", "", 0],
  ["clock_skew_s", "dashboard.device.chart_skew", " s", 1],
  ["camera_fps", "dashboard.device.chart_fps", "", 1],
];
const POLL_MS = 2000;
let current = { id: null, live: () => false };

function mount(section) {
  const enrol = el("form", { id: "device-enrol", class: "inline-form", novalidate: "" },
    field("device-enrol", { name: "employee_id", label: t("dashboard.device.enrol_person"), hint: t("dashboard.device.enrol_hint") }),
    ...formFooter(t("dashboard.device.enrol")));
  enrol.addEventListener("submit", (event) => { event.preventDefault(); send("enrol", enrol); });
  section.append(
    el("h2", { id: "device-title" }),
    el("p", { id: "device-summary", class: "summary" }),
    el("div", { class: "filters" },
      el("button", { type: "button", id: "device-window-day", text: t("dashboard.device.window_day") }),
      el("button", { type: "button", id: "device-window-week", text: t("dashboard.device.window_week") })),
    el("div", { id: "device-charts", class: "charts" }),
    el("h3", { text: t("dashboard.device.commands") }),
    el("div", { class: "filters" },
      ...["resync", "reboot", "logs"].map((name) => el("button", { type: "button", id: `device-cmd-${name}`,
        data: { command: name }, text: t(`dashboard.device.cmd_${name}`) }))),
    el("p", { id: "device-cmd-error", class: "error", role: "alert", hidden: "" }),
    enrol,
    el("table", { id: "device-commands", class: "data" }),
    el("h3", { text: t("dashboard.device.rejected") }),
    el("table", { id: "device-rejected", class: "data" }));
  for (const name of ["resync", "reboot", "logs"]) {
    $(`device-cmd-${name}`).addEventListener("click", () => {
      if (name === "reboot" && !window.confirm(t("dashboard.device.confirm_reboot", { id: current.id }))) return;
      send(name, null);
    });
  }
  for (const w of ["day", "week"]) {
    $(`device-window-${w}`).addEventListener("click", () => go("device", { id: current.id, window: w }));
  }
}

async function send(name, form) {
  const box = $("device-cmd-error");
  box.hidden = true;
  const body = { name, ...(form ? values(form) : {}) };
  if (form) clearErrors(form);
  try {
    await api(`/devices/${encodeURIComponent(current.id)}/commands`, { method: "POST", body });
  } catch (err) {
    if (form) showErrors(form, err);
    else { box.textContent = err.message; box.hidden = false; }
    return;
  }
  if (form) form.reset();
  await commands(current.live);
}

function commandDetail(c) {
  const parts = [c.detail || null];
  if (c.name === "enrol" && c.state === "ok") parts.push(t("dashboard.device.templates_added", { n: c.templates_added }));
  const text = parts.filter(Boolean).join(" · ");
  const logs = c.output ? el("details", {}, el("summary", { text: t("dashboard.device.show_logs") }),
    el("pre", { class: "logs", text: c.output })) : null;
  return text || logs ? el("div", {}, text, logs) : null;
}

async function commands(live) {
  const data = await api(`/devices/${encodeURIComponent(current.id)}/commands?limit=20`);
  if (!live()) return;
  fillTable($("device-commands"), [
    { label: t("dashboard.col.time"), cls: "nowrap", value: (c) => when(c.created_at) },
    { label: t("dashboard.col.command"), value: (c) => (c.employee_id ? `${c.name} ${c.employee_id}` : c.name) },
    { label: t("dashboard.col.by"), value: (c) => c.created_by },
    { label: t("dashboard.col.state"), value: (c) => badge(COMMAND_KIND[c.state] || "muted", t(`dashboard.device.state_${c.state}`)) },
    { label: t("dashboard.col.detail"), value: commandDetail },
  ], data.items, (c) => ({ command: c.id, name: c.name, state: c.state }), emptyState(t("dashboard.device.no_commands")));
  if (data.items.some((c) => c.state === "queued" || c.state === "sent")) {
    window.setTimeout(() => { if (live()) commands(live).catch(() => {}); }, POLL_MS);
  }
}

async function render(params, live) {
  const id = params.get("id") || "";
  const span = params.get("window") === "week" ? "week" : "day";
  current = { id, live };
  const [list, series, rejected] = await Promise.all([
    api("/devices"), api(`/devices/${encodeURIComponent(id)}/health/series?window=${span}`),
    api(`/rejected?device_id=${encodeURIComponent(id)}&limit=50`)]);
  if (!live()) return;
  const device = list.items.find((d) => d.device_id === id);
  $("device-title").replaceChildren(t("dashboard.device.title", { id }), " ",
    device ? badge(STATE_KIND[device.state] || "muted", deviceStateLabel(device.state)) : null);
  $("device-summary").textContent = device ? t("dashboard.device.summary", {
    site: device.site_id, seen: device.last_seen ? ago(device.last_seen, state.clock.now) : t("dashboard.device.never"),
    version: device.sw_version || "—" }) : "";
  for (const w of ["day", "week"]) $(`device-window-${w}`).classList.toggle("active", w === span);
  const label = (p) => (span === "day" ? p.start.slice(11, 16) : p.start.slice(5, 10));
  $("device-charts").replaceChildren(...CHARTS.map(([key, title, unit, digits]) =>
    lineChart(series.points, { key, title: t(title), unit, digits, label })));
  $("device-charts").dataset.window = span;
  fillTable($("device-rejected"), [
    { label: t("dashboard.col.time"), cls: "nowrap", value: (r) => when(r.received_at) },
    { label: t("dashboard.col.reason"), value: (r) => r.reason },
    { label: t("dashboard.col.punch_id"), cls: "small", value: (r) => r.punch_id },
  ], rejected.items, (r) => ({ reason: r.reason }), emptyState(t("dashboard.device.no_rejected")));
  await commands(live);
}

register({ name: "device", nav: null, roles: ["admin"], render, mount });

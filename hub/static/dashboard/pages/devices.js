// Device health: one row per kiosk with its state, alarms, last message, clock skew, gallery and
// the telemetry fields its health messages carry (DESIGN.md), whatever the device list names them.
import { api } from "../lib/api.js";
import { $, badge, el, fillTable, link } from "../lib/dom.js";
import { ago, count, when } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { pageOfList } from "../lib/list.js";
import { go, register } from "../lib/router.js";
import { emptyState } from "../lib/empty.js";
import { deviceStateLabel } from "./common.js";

const TELEMETRY = [
  ["cpu_temp_c", "dashboard.devices.cpu_temp", (v) => Number(v).toFixed(1)], ["load1", "dashboard.devices.load", (v) => Number(v).toFixed(2)],
  ["camera_fps", "dashboard.devices.camera_fps", (v) => Number(v).toFixed(1)], ["outbox_depth", "dashboard.devices.backlog", String],
  ["oldest_unacked_s", "dashboard.devices.oldest_unacked", (v) => `${Math.round(v)} s`], ["disk_free_mb", "dashboard.devices.disk_free", (v) => `${Math.round(v)} MB`],
  ["mem_free_mb", "dashboard.devices.memory_free", (v) => `${Math.round(v)} MB`], ["uptime_s", "dashboard.devices.uptime", (v) => `${(v / 3600).toFixed(1)} h`],
  ["sw_version", "dashboard.devices.software", String],
];
const SHOWN = new Set(["device_id", "site_id", "site_name", "state", "status", "last_seen", "last_seen_at", "last_health_at",
  "clock_skew_s", "skew_s", "clock_suspect", "gallery_version", "site_gallery_version", "gallery_behind", "retired_at",
  "telemetry", "health", "last_health", "public_key", "gallery_confirmed_at", "created_at", "status_at",
  "received_at", "ts", "health_error", "health_error_at", "alarms", "heal", ...TELEMETRY.map(([k]) => k)]);

function deviceView(d) {
  const tel = d.telemetry || d.health || d.last_health || {};
  const pick = (...keys) => {
    for (const key of keys) {
      if (d[key] !== undefined && d[key] !== null) return d[key];
      if (tel[key] !== undefined && tel[key] !== null) return tel[key];
    }
    return null;
  };
  const stateName = d.retired_at ? "retired" : pick("state", "status");
  return { d, tel, pick, state: typeof stateName === "string" ? stateName : null };
}

function otherFields(v) {
  const parts = [];
  for (const source of [v.d, v.tel]) {
    for (const [key, value] of Object.entries(source)) {
      if (SHOWN.has(key) || value === null || value === undefined || value === "") continue;
      parts.push(`${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`);
    }
  }
  return parts.length ? el("span", { class: "small" }, parts.join(" · ")) : null;
}

// What the kiosk did by itself about a fault (Health.heal, kiosk/selfheal.py): cured, or still failing.
function healed(v) {
  const actions = v.tel.heal || [];
  return actions.length ? el("span", { class: "alarms" }, ...actions.map((h) => el("div", { title: `${when(h.at)}: ${h.detail}` },
    badge(h.recovered ? "ok" : "warn", h.fault),
    el("span", { class: "small" }, ` ${h.action} ×${h.count}, ${t(h.recovered ? "dashboard.devices.heal_cured" : "dashboard.devices.heal_open")}`)))) : null;
}

function summary(views) {
  const counts = {};
  views.forEach((v) => { counts[v.state || "unknown"] = (counts[v.state || "unknown"] || 0) + 1; });
  const behind = views.filter((v) => v.d.gallery_behind && !v.d.retired_at).length;
  const alarmed = views.filter((v) => (v.d.alarms || []).length && !v.d.retired_at).length;
  return `${count(views.length, "dashboard.count.device")}: `
    + Object.entries(counts).map(([k, n]) => `${n} ${deviceStateLabel(k)}`).join(", ")
    + (behind ? `; ${t("dashboard.devices.behind_count", { n: behind })}` : "")
    + (alarmed ? `; ${t("dashboard.devices.alarmed_count", { n: alarmed })}` : "") + ".";
}

// The latest software rollout (hub/devices/rollout.py): its state and, ring by ring, how many kiosks run the
// new version, how many failed and how many got worse on it; each kiosk's version is in the Software column,
// its state in this rollout and why in the Update column.
function rolloutLine(r) {
  if (!r) return null;
  const kind = { running: "warn", halted: "bad", done: "ok" }[r.state] || "muted";
  const rings = r.rings.filter((ring) => ring.total).map((ring) => t("dashboard.devices.rollout_ring",
    { ring: ring.ring + 1, installed: ring.installed, total: ring.total, failed: ring.failed })
    + (ring.degraded ? `, ${t("dashboard.devices.rollout_worse", { n: ring.degraded })}` : ""));
  return el("span", {}, t("dashboard.devices.rollout", { version: r.version }), " ", badge(kind, t(`dashboard.devices.rollout_state.${r.state}`)), " ",
    rings.join(" · "), r.detail ? el("span", { class: "small" }, ` ${r.detail}`) : null);
}

const UPDATE_KIND = { installed: "ok", failed: "bad", degraded: "bad", sent: "warn", pending: "muted", skipped: "muted" };

// A kiosk's state in the latest rollout, with the hub's word on it (why it failed, what got worse).
function updateCell(target) {
  if (!target) return null;
  return el("span", {}, badge(UPDATE_KIND[target.state] || "muted", t(`dashboard.devices.update_state.${target.state}`)),
    target.detail && target.state !== "installed" ? el("div", { class: "small" }, target.detail) : null);
}

async function render(params) {
  const [data, clock, rollouts] = await Promise.all([api("/devices"), api("/dashboard/clock"), api("/rollouts")]);
  const latest = rollouts.items[0];
  const targets = new Map(latest ? (await api(`/rollouts/${latest.id}`)).targets.map((x) => [x.device_id, x]) : []);
  const views = data.items.map(deviceView);
  $("devices-summary").textContent = views.length ? summary(views) : "";
  $("devices-rollout").replaceChildren(...[rolloutLine(rollouts.items[0])].filter(Boolean));
  const stateKind = { online: "ok", offline: "bad", stale: "warn", retired: "muted", "never seen": "muted" };
  const columns = [
    { label: t("dashboard.col.device"), value: (v) => link(`#/device?id=${encodeURIComponent(v.d.device_id)}`, v.d.device_id) },
    { label: t("dashboard.col.site"), value: (v) => (v.d.site_name ? `${v.d.site_name} (${v.d.site_id})` : v.d.site_id) },
    { label: t("dashboard.col.state"), value: (v) => {
      const problem = v.d.health_error
        ? el("div", { class: "small error-text", title: v.d.health_error_at ? when(v.d.health_error_at) : null },
          t("dashboard.devices.refused", { detail: v.d.health_error })) : null;
      return v.state || problem ? el("span", {}, v.state ? badge(stateKind[v.state] || "muted", deviceStateLabel(v.state)) : null, problem) : null;
    } },
    { label: t("dashboard.col.alarms"), value: (v) => {
      const alarms = v.d.alarms || [];
      return alarms.length ? el("span", { class: "alarms" }, ...alarms.map((a) => el("div", { title: when(a.since) },
        badge("bad", a.kind), a.detail ? el("span", { class: "small" }, a.detail) : null))) : null;
    } },
    ...(views.some((v) => (v.tel.heal || []).length) ? [{ label: t("dashboard.col.healed"), value: healed }] : []),
    ...(targets.size ? [{ label: t("dashboard.col.update"), value: (v) => updateCell(targets.get(v.d.device_id)) }] : []),
    { label: t("dashboard.col.last_seen"), value: (v) => {
      const seen = v.pick("last_seen", "last_seen_at", "last_health_at");
      return seen ? el("span", { title: when(seen) }, ago(seen, clock.now) || when(seen)) : null;
    } },
    { label: t("dashboard.col.clock_skew"), cls: "num", value: (v) => {
      const skew = v.pick("clock_skew_s", "skew_s");
      if (skew === null || skew === undefined || !Number.isFinite(Number(skew))) return null;
      const text = `${Number(skew) > 0 ? "+" : ""}${Number(skew).toFixed(1)} s`;
      return v.pick("clock_suspect") ? badge("bad", text) : text;
    } },
    { label: t("dashboard.col.gallery"), title: t("dashboard.devices.gallery_title"), value: (v) => {
      const confirmed = v.d.gallery_version;
      const held = v.tel.gallery_version;
      const site = v.d.site_gallery_version;
      const text = `${confirmed ?? t("dashboard.devices.unconfirmed")}${site !== undefined && site !== null ? ` / ${site}` : ""}`;
      return el("span", {}, text, v.d.gallery_behind ? " " : null, v.d.gallery_behind ? badge("warn", t("dashboard.devices.behind")) : null,
        held !== undefined && held !== null && held !== confirmed ? el("span", { class: "small muted" }, ` ${t("dashboard.devices.holds", { n: held })}`) : null);
    } },
    ...TELEMETRY.filter(([key]) => views.some((v) => v.pick(key) !== null))
      .map(([key, label, fmt]) => ({ label: t(label), cls: "num", value: (v) => (v.pick(key) === null ? null : fmt(v.pick(key))) })),
  ];
  if (views.some((v) => otherFields(v) !== null)) columns.push({ label: t("dashboard.col.other"), value: otherFields });
  const shown = pageOfList({ id: "devices", table: $("devices-table"), params, items: views,
    text: (v) => `${v.d.device_id} ${v.d.site_id || ""} ${v.d.site_name || ""} ${v.state || ""}`,
    onRoute: (where) => go("devices", where) });
  fillTable($("devices-table"), columns, shown, (v) => ({ device: v.d.device_id, state: v.state || "" }),
    params.get("q") ? emptyState(t("dashboard.list.no_match", { q: params.get("q") })) : emptyState(t("dashboard.devices.empty")));
}

register({ name: "devices", nav: "dashboard.nav.devices", roles: ["admin"], render });

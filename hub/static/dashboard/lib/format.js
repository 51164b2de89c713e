// Dates, times and durations as the pages show them; the hub sends site-local ISO times.
import { t } from "./i18n.js";

export function addDays(iso, days) {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export const isDate = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || "");
export const isMonth = (s) => /^\d{4}-\d{2}$/.test(s || "");

/** "09:40" from "2026-04-07T09:40:00+05:30": the site's local time, as the hub sends it. */
export const hhmm = (iso) => { const m = /T(\d{2}:\d{2})/.exec(iso || ""); return m ? m[1] : ""; };

export const minutes = (n) => (n === null || n === undefined ? ""
  : t("dashboard.format.hours_minutes", { h: Math.floor(n / 60), m: String(n % 60).padStart(2, "0") }));

/** "30 s ago" style, measured against the hub's clock (not the browser's). */
export function ago(iso, nowIso) {
  const seconds = (Date.parse(nowIso) - Date.parse(iso)) / 1000;
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 0) return t("dashboard.format.in_future");
  if (seconds < 90) return t("dashboard.format.seconds_ago", { n: Math.round(seconds) });
  if (seconds < 5400) return t("dashboard.format.minutes_ago", { n: Math.round(seconds / 60) });
  if (seconds < 172800) return t("dashboard.format.hours_ago", { n: Math.round(seconds / 3600) });
  return t("dashboard.format.days_ago", { n: Math.round(seconds / 86400) });
}

export function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { hour12: false });
}

/** "3 employees" / "1 employee" through the catalogue's ``.one`` / ``.many`` pair of ``key``. */
export const count = (n, key) => t(`${key}.${n === 1 ? "one" : "many"}`, { n });

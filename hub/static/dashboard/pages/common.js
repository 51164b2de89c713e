// What several report pages share: day statuses and exception kinds (of hub/attendance/rules.py)
// with their colours and catalogue keys, the day columns, month totals and CSV links.
import { query } from "../lib/api.js";
import { $, badge, el, link } from "../lib/dom.js";
import { hhmm, minutes } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { go } from "../lib/router.js";

// day statuses in chart order, with their colours
export const STATUSES = [
  ["present", "#2e7d32"], ["regularised", "#81c784"], ["late", "#f9a825"], ["half_day", "#1e88e5"],
  ["absent", "#c62828"], ["not_yet", "#9e9e9e"], ["non_working", "#cfd8dc"],
  ["on_leave", "#8e24aa"], ["not_employed", "#eceff1"],
];
export const EXCEPTIONS = ["late", "missing", "early", "off_site", "flagged"];
export const statusLabel = (key) => t(`dashboard.status.${key}`);
export const exceptionLabel = (key) => t(`dashboard.exception.${key}`);
// A kiosk's state as the hub names it (online, offline, stale, never seen, retired), in the reader's language.
export const deviceStateLabel = (state) => t(`dashboard.devices.state.${state.replace(" ", "_")}`);

export function setCsv(id, href) {
  const a = $(id);
  a.setAttribute("href", href);
  a.hidden = false;
}

/** Submitting a filter form goes to the page's route with the form's values. */
export function onSubmit(formId, page, read) {
  $(formId).addEventListener("submit", (event) => {
    event.preventDefault();
    go(page, read());
  });
}

export const employeeCell = (employee, day) => link(`#/history?${query({ employee_id: employee.employee_id, from: day, to: day })}`,
  employee.employee_id);

export const dayColumns = (dayOf) => [
  { label: t("dashboard.col.status"), value: (r) => badge(dayOf(r).status, statusLabel(dayOf(r).status)) },
  { label: t("dashboard.col.in"), value: (r) => hhmm(dayOf(r).in_at) },
  { label: t("dashboard.col.out"), value: (r) => hhmm(dayOf(r).out_at) },
  { label: t("dashboard.col.worked"), value: (r) => minutes(dayOf(r).worked_min) },
  { label: t("dashboard.col.exceptions"), value: (r) => (dayOf(r).exceptions.length
    ? el("span", {}, dayOf(r).exceptions.map((k) => badge(k, exceptionLabel(k)))) : null) },
  { label: t("dashboard.col.sites"), value: (r) => dayOf(r).sites.join(", ") },
  { label: t("dashboard.col.notes"), value: (r) => {
    const day = dayOf(r);
    const notes = [
      ...day.off_site.map((p) => `${p.site_id} ${hhmm(p.at)}${p.reason ? `: ${p.reason}` : ""}`),
      ...day.flagged.map((p) => `${p.site_id} ${hhmm(p.at)} ${t("dashboard.exception.flagged_note", { flags: p.flags.join(", ") })}`),
    ];
    return notes.length ? el("span", { class: "small" }, notes.join("; ")) : null;
  } },
];

export const totalColumns = () => [
  { label: t("dashboard.col.working_days"), cls: "num", value: (r) => r.totals.working_days },
  { label: t("dashboard.code.present"), title: statusLabel("present"), cls: "num", value: (r) => r.totals.present },
  { label: t("dashboard.code.late"), title: statusLabel("late"), cls: "num", value: (r) => r.totals.late },
  { label: t("dashboard.code.half_day"), title: statusLabel("half_day"), cls: "num", value: (r) => r.totals.half_day },
  { label: t("dashboard.code.absent"), title: statusLabel("absent"), cls: "num", value: (r) => r.totals.absent },
  { label: t("dashboard.col.other_codes"), value: (r) => otherCodes(r.totals.by_code) },
  { label: t("dashboard.col.present_days"), cls: "num strong", value: (r) => r.totals.present_days },
];

// Days of the codes beyond P, L, HD and A (holidays, weekly offs, leave and duty), e.g. "CL 2 · WO 4"; the
// exception counts that come with them (hub/attendance/daycode.py COUNT_LEGEND) in words.
const SHOWN = new Set(["P", "L", "HD", "A"]);
const COUNTS = new Set(["late", "missed_cutoff", "early_leaving"]);
const otherCodes = (byCode) => Object.entries(byCode || {}).filter(([code]) => !SHOWN.has(code))
  .map(([code, n]) => (COUNTS.has(code) ? `${t(`dashboard.count.${code}`)} ${n}` : `${code} ${n}`)).join(" · ");

/** A sentence like "2 present, 1 late" from {status: n}. */
export const statusCounts = (counts) => Object.entries(counts).map(([k, n]) => `${n} ${statusLabel(k).toLowerCase()}`).join(", ");

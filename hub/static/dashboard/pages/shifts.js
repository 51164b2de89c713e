// Shifts and rosters: every site's shifts (start, grace, end, cut-off; one that ends at or before its start crosses
// midnight and is ONE working day, dated by its start) and the roster lines that say who works which shift, for
// one week or every week, with which weekly offs (hub/attendance/calendar.py). Officers read; admins add, edit
// and delete. The hub checks every field (hub/attendance/fields.py, store.py) and names the one it refuses; the
// forms show its message beside that field, as the leave page does.
import { api, ApiError } from "../lib/api.js";
import { $, badge, el, fillTable } from "../lib/dom.js";
import { clearErrors, field, formFooter, showErrors, values } from "../lib/form.js";
import { addDays, isDate } from "../lib/format.js";
import { currentLanguage, t } from "../lib/i18n.js";
import { go, register } from "../lib/router.js";
import { fillSelect, sites, state, unitChoices, units } from "../lib/session.js";

const MAX_WEEKS = 53;  // one roster entry covers at most a year of weeks
let shifts = [];

/** True when a shift from ``start`` to ``end`` ("HH:MM") runs past midnight, as the hub decides it. */
export const crossesMidnight = (start, end) => Boolean(start && end) && end.slice(0, 5) <= start.slice(0, 5);

/** Every Monday from ``first`` to ``last`` (ISO dates, both Mondays), one roster line each. */
export function mondays(first, last) {
  const out = [];
  for (let day = first; day <= last && out.length <= MAX_WEEKS; day = addDays(day, 7)) out.push(day);
  return out;
}

/** A weekday's short name in the page's language (Monday = 0, as the hub counts). */
const weekdayName = (n) => new Date(Date.UTC(2024, 0, 1 + n))
  .toLocaleDateString(currentLanguage(), { weekday: "short", timeZone: "UTC" });

const hm = (time) => (time || "").slice(0, 5);

function mount(section) {
  const shiftForm = el("form", { id: "shift-form", novalidate: "", hidden: "" },
    el("h3", { id: "shift-form-title", text: t("dashboard.shifts.add") }),
    field("shift-form", { name: "shift_id", label: t("dashboard.shifts.shift_id"), maxlength: 64 }),
    field("shift-form", { name: "site_id", label: t("dashboard.col.site"), type: "select" }),
    field("shift-form", { name: "name", label: t("dashboard.col.name"), maxlength: 200 }),
    field("shift-form", { name: "start", label: t("dashboard.shifts.start"), type: "time" }),
    field("shift-form", { name: "end", label: t("dashboard.shifts.end"), type: "time" }),
    el("p", { id: "shift-form-night", class: "hint", role: "status", hidden: "", text: t("dashboard.shifts.night_hint") }),
    field("shift-form", { name: "grace_min", label: t("dashboard.shifts.grace"), type: "number", min: 0, max: 240,
      value: 0, hint: t("dashboard.shifts.grace_hint") }),
    field("shift-form", { name: "cutoff", label: t("dashboard.shifts.cutoff"), type: "time",
      hint: t("dashboard.shifts.cutoff_hint") }),
    field("shift-form", { name: "min_gap_min", label: t("dashboard.shifts.min_gap"), type: "number", min: 1, max: 600,
      value: 30 }),
    field("shift-form", { name: "half_day_hours", label: t("dashboard.shifts.half_day_hours"), type: "number",
      step: 0.5, min: 0.5, max: 24, value: 4 }),
    ...formFooter(t("dashboard.leave.add_button")),
    el("button", { type: "button", id: "shift-form-new", text: t("dashboard.shifts.new") }));
  shiftForm.addEventListener("submit", (event) => { event.preventDefault(); saveShift(shiftForm); });
  shiftForm.addEventListener("input", showNight);
  shiftForm.querySelector("#shift-form-new").addEventListener("click", () => editShift(null));

  const rosterForm = el("form", { id: "roster-form", novalidate: "", hidden: "" },
    el("h3", { text: t("dashboard.shifts.assign") }),
    field("roster-form", { name: "employee_id", label: t("dashboard.col.staff_no"), maxlength: 64,
      hint: t("dashboard.shifts.who_hint") }),
    field("roster-form", { name: "unit_id", label: t("dashboard.col.unit"), type: "select" }),
    field("roster-form", { name: "shift_id", label: t("dashboard.shifts.shift"), type: "select" }),
    field("roster-form", { name: "week_start", label: t("dashboard.shifts.week_start"), type: "date",
      hint: t("dashboard.shifts.week_start_hint") }),
    field("roster-form", { name: "week_last", label: t("dashboard.shifts.week_last"), type: "date",
      hint: t("dashboard.shifts.week_last_hint") }),
    field("roster-form", { name: "weekly_off", label: t("dashboard.shifts.weekly_off"), type: "select",
      multiple: true, hint: t("dashboard.shifts.weekly_off_hint") }),
    ...formFooter(t("dashboard.shifts.assign_button")));
  rosterForm.addEventListener("submit", (event) => { event.preventDefault(); addRoster(rosterForm); });

  section.append(
    el("h2", { text: t("dashboard.shifts.title") }),
    el("p", { id: "shifts-error", class: "error", role: "alert", hidden: "" }),
    el("h3", { text: t("dashboard.shifts.shifts") }), el("table", { id: "shifts-table", class: "data" }), shiftForm,
    el("h3", { text: t("dashboard.shifts.rosters") }), el("table", { id: "rosters-table", class: "data" }), rosterForm);
}

function showNight() {
  $("shift-form-night").hidden = !crossesMidnight($("shift-form-start").value, $("shift-form-end").value);
}

/** Fill the shift form with ``shift`` to edit it (its id then fixed), or empty it for a new one. */
function editShift(shift) {
  const form = $("shift-form");
  clearErrors(form);
  form.reset();
  $("shift-form-shift_id").readOnly = Boolean(shift);
  $("shift-form-title").textContent = shift ? t("dashboard.shifts.edit_title", { id: shift.shift_id })
    : t("dashboard.shifts.add");
  if (shift) {
    for (const name of ["shift_id", "site_id", "name", "grace_min", "min_gap_min", "half_day_hours"]) $(`shift-form-${name}`).value = shift[name];
    for (const name of ["start", "end", "cutoff"]) $(`shift-form-${name}`).value = hm(shift[name]);
    form.scrollIntoView({ block: "nearest" });
  }
  showNight();
}

async function saveShift(form) {
  clearErrors(form);
  const body = values(form);
  for (const name of ["grace_min", "min_gap_min", "half_day_hours"]) if (body[name] !== null) body[name] = Number(body[name]);
  // an empty id still goes to the hub ("_" in the path), so its refusal is shown beside the field
  try {
    await api(`/shifts/${encodeURIComponent(body.shift_id || "_")}`, { method: "PUT", body });
  } catch (err) {
    showErrors(form, err);
    return;
  }
  editShift(null);
  go("shifts", { saved: Date.now() });
}

/** Delete a shift or a roster line after asking; the hub's refusal (a rostered shift) is shown on top. */
async function remove(path, question) {
  if (!window.confirm(question)) return;
  const box = $("shifts-error");
  box.hidden = true;
  try {
    await api(path, { method: "DELETE" });
  } catch (err) {
    box.textContent = err.message;
    box.hidden = false;
    return;
  }
  go("shifts", { removed: Date.now() });
}

/** A refusal the page makes itself, shown beside ``name`` like the hub's. */
const refuse = (name, message) => new ApiError(0, message, { [name]: message });

/** The roster lines the form asks for: one line (standing, or for week_start's week), or one per week from
 * week_start to week_last (the hub stores a roster by week). */
function rosterLines(body) {
  const { week_last: last, ...line } = body;
  if (!Array.isArray(line.weekly_off) || !line.weekly_off.length) line.weekly_off = null;
  else line.weekly_off = line.weekly_off.map(Number);
  if (!last) return [line];
  if (!line.week_start) throw refuse("week_last", t("dashboard.shifts.week_last_needs_start"));
  if (!isDate(last) || last < line.week_start) throw refuse("week_last", t("dashboard.shifts.week_last_before"));
  const weeks = mondays(line.week_start, last);
  if (weeks.length > MAX_WEEKS) throw refuse("week_last", t("dashboard.shifts.week_last_too_far", { n: MAX_WEEKS }));
  return weeks.map((week_start) => ({ ...line, week_start }));
}

async function addRoster(form) {
  clearErrors(form);
  let saved = 0;
  try {
    for (const line of rosterLines(values(form))) {
      await api("/rosters", { method: "POST", body: line });  // in order: a refusal stops at its week
      saved += 1;
    }
  } catch (err) {
    showErrors(form, err);
    if (saved) go("shifts", { saved: Date.now() });
    return;
  }
  form.reset();
  go("shifts", { saved: Date.now() });
}

const shiftLabel = (id) => {
  const s = shifts.find((x) => x.shift_id === id);
  return s ? `${s.name} (${hm(s.start)}–${hm(s.end)})` : id;
};

function fillShiftTable(admin) {
  fillTable($("shifts-table"), [
    { label: t("dashboard.shifts.shift_id"), cls: "nowrap", value: (s) => s.shift_id },
    { label: t("dashboard.col.name"), value: (s) => s.name },
    { label: t("dashboard.col.site"), cls: "nowrap", value: (s) => s.site_id },
    { label: t("dashboard.shifts.hours"), cls: "nowrap", value: (s) => el("span", {}, `${hm(s.start)}–${hm(s.end)} `,
      s.crosses_midnight ? badge("night", t("dashboard.shifts.crosses_midnight")) : null) },
    { label: t("dashboard.shifts.grace"), cls: "nowrap", value: (s) => t("dashboard.shifts.minutes", { n: s.grace_min }) },
    { label: t("dashboard.shifts.cutoff"), cls: "nowrap", value: (s) => hm(s.cutoff) },
    { label: t("dashboard.shifts.min_gap"), cls: "num", value: (s) => s.min_gap_min },
    { label: t("dashboard.shifts.half_day_hours"), cls: "num", value: (s) => s.half_day_hours },
    { label: "", blank: true, value: (s) => (admin ? el("span", {},
      button("edit", t("dashboard.shifts.edit"), () => editShift(s)), " ",
      button("delete", t("dashboard.leave.delete"), () => remove(`/shifts/${encodeURIComponent(s.shift_id)}`,
        t("dashboard.shifts.confirm_delete_shift", { name: s.name })))) : null) },
  ], shifts, (s) => ({ shift: s.shift_id }), t("dashboard.shifts.no_shifts"));
}

function fillRosterTable(admin, lines) {
  fillTable($("rosters-table"), [
    { label: t("dashboard.shifts.who"), cls: "nowrap", value: (r) => r.employee_id
      || t("dashboard.shifts.unit_and_below", { unit: r.unit_id }) },
    { label: t("dashboard.shifts.week_start"), cls: "nowrap", value: (r) => r.week_start || t("dashboard.shifts.every_week") },
    { label: t("dashboard.shifts.shift"), value: (r) => (r.shift_id ? shiftLabel(r.shift_id) : t("dashboard.shifts.default_shift")) },
    { label: t("dashboard.shifts.weekly_off"), value: (r) => (r.weekly_off === null ? t("dashboard.shifts.usual_off")
      : r.weekly_off.length ? r.weekly_off.map(weekdayName).join(", ") : t("dashboard.shifts.no_off")) },
    { label: "", blank: true, value: (r) => (admin ? button("delete", t("dashboard.leave.delete"),
      () => remove(`/rosters/${r.id}`, t("dashboard.shifts.confirm_delete_roster", { who: r.employee_id || r.unit_id })))
      : null) },
  ], lines, (r) => ({ roster: r.id, who: r.employee_id || r.unit_id }), t("dashboard.shifts.no_rosters"));
}

function button(action, text, onClick) {
  const b = el("button", { type: "button", data: { action }, text });
  b.addEventListener("click", onClick);
  return b;
}

async function render(params, live) {
  const [shiftList, rosterList] = await Promise.all([api("/shifts"), api("/rosters")]);
  if (!live()) return;
  shifts = shiftList.items;
  const admin = state.me.role === "admin";
  fillShiftTable(admin);
  fillRosterTable(admin, rosterList.items);
  $("shift-form").hidden = !admin;
  $("roster-form").hidden = !admin;
  if (!admin) return;
  const [siteList, unitList] = await Promise.all([sites(), units()]);
  if (!live()) return;
  fillSelect($("shift-form-site_id"), siteList.map((s) => [s.site_id, `${s.name} (${s.site_id})`]),
    $("shift-form-site_id").value);
  fillSelect($("roster-form-unit_id"), unitChoices(unitList), $("roster-form-unit_id").value, t("dashboard.shifts.no_unit"));
  fillSelect($("roster-form-shift_id"), shifts.map((s) => [s.shift_id, `${s.shift_id}: ${shiftLabel(s.shift_id)}`]),
    $("roster-form-shift_id").value, t("dashboard.shifts.default_shift"));
  const days = $("roster-form-weekly_off");
  const off = new Set([...days.selectedOptions].map((o) => o.value));
  days.replaceChildren(...[0, 1, 2, 3, 4, 5, 6].map((n) => el("option", { value: n, text: weekdayName(n) })));
  for (const option of days.options) option.selected = off.has(option.value);  // kept, yet not what reset() restores
}

register({ name: "shifts", nav: "dashboard.nav.shifts", roles: ["admin", "unit_officer"], render, mount });

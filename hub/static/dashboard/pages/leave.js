// Leave and duty (CL, EL, ML, comp-off, OD/tour, training, half days and the department's own codes)
// of one month in the officer's units: the month's holidays, the entries with a delete button, and a
// form to enter one. The hub checks every field (hub/attendance/fields.py) and names the one it
// refuses; the form shows the message beside that field. Entries made here are marked "dashboard".
// Admins also add holidays here (national; or state / local on a unit, inherited by the units below).
import { api, query } from "../lib/api.js";
import { $, el, fillTable } from "../lib/dom.js";
import { clearErrors, field, formFooter, showErrors, values } from "../lib/form.js";
import { isMonth } from "../lib/format.js";
import { currentLanguage, t } from "../lib/i18n.js";
import { go, register } from "../lib/router.js";
import { state, unitChoices, units } from "../lib/session.js";

let codes = [];

function lastDay(month) {
  const [y, m] = month.split("-").map(Number);
  return `${month}-${String(new Date(Date.UTC(y, m, 0)).getUTCDate()).padStart(2, "0")}`;
}

function mount(section) {
  const filter = el("form", { id: "leave-filter", class: "filters" },
    el("label", {}, el("span", { text: t("dashboard.filter.month") }), " ",
      el("input", { id: "leave-month", name: "month", type: "month", required: "" })),
    el("button", { type: "submit", text: t("dashboard.filter.show") }));
  filter.addEventListener("submit", (event) => { event.preventDefault(); go("leave", { month: $("leave-month").value }); });
  const form = el("form", { id: "leave-form", novalidate: "" },
    el("h3", { text: t("dashboard.leave.add") }),
    field("leave-form", { name: "employee_id", label: t("dashboard.col.staff_no") }),
    field("leave-form", { name: "code", label: t("dashboard.leave.code"), type: "select" }),
    field("leave-form", { name: "first", label: t("dashboard.filter.from"), type: "date" }),
    field("leave-form", { name: "last", label: t("dashboard.filter.to"), type: "date" }),
    field("leave-form", { name: "half_day", label: t("dashboard.leave.half_day"), type: "checkbox" }),
    field("leave-form", { name: "note", label: t("dashboard.leave.note"), maxlength: 500 }),
    ...formFooter(t("dashboard.leave.add_button")));
  form.addEventListener("submit", (event) => { event.preventDefault(); add(form); });
  const holidayForm = el("form", { id: "holiday-form", novalidate: "", hidden: "" },
    el("h3", { text: t("dashboard.leave.add_holiday") }),
    field("holiday-form", { name: "day", label: t("dashboard.col.date"), type: "date" }),
    field("holiday-form", { name: "name", label: t("dashboard.col.name"), maxlength: 200 }),
    field("holiday-form", { name: "level", label: t("dashboard.leave.level"), type: "select",
      options: ["national", "state", "local"].map((l) => [l, t(`dashboard.leave.level_${l}`)]) }),
    field("holiday-form", { name: "unit_id", label: t("dashboard.col.unit"), type: "select" }),
    ...formFooter(t("dashboard.leave.add_button")));
  holidayForm.addEventListener("submit", (event) => { event.preventDefault(); addHoliday(holidayForm); });
  section.append(
    el("h2", { text: t("dashboard.leave.title") }), filter,
    el("h3", { text: t("dashboard.leave.holidays") }), el("table", { id: "leave-holidays", class: "data" }), holidayForm,
    el("h3", { text: t("dashboard.leave.entries") }),
    el("p", { id: "leave-error", class: "error", role: "alert", hidden: "" }),
    el("table", { id: "leave-table", class: "data" }), form);
}

const meaning = (code) => {
  const c = codes.find((x) => x.code === code);
  return c ? (currentLanguage() === "hi" ? c.hi : c.en) : "";
};

async function add(form) {
  clearErrors(form);
  const body = values(form);
  body.half_day = Boolean(body.half_day);
  if (body.half_day && body.first && !body.last) body.last = body.first;
  try {
    await api("/leave?source=dashboard", { method: "POST", body });
  } catch (err) {
    showErrors(form, err);
    return;
  }
  form.reset();
  go("leave", { month: $("leave-month").value, added: Date.now() });
}

async function addHoliday(form) {
  clearErrors(form);
  try {
    await api("/holidays", { method: "POST", body: values(form) });
  } catch (err) {
    showErrors(form, err);
    return;
  }
  form.reset();
  go("leave", { month: $("leave-month").value, added: Date.now() });
}

async function remove(entry) {
  if (!window.confirm(t("dashboard.leave.confirm_delete", { code: entry.code, employee: entry.employee_id }))) return;
  const box = $("leave-error");
  box.hidden = true;
  try {
    await api(`/leave/${entry.id}`, { method: "DELETE" });
  } catch (err) {
    box.textContent = err.message;
    box.hidden = false;
    return;
  }
  go("leave", { month: $("leave-month").value, removed: entry.id });
}

async function render(params, live) {
  const month = isMonth(params.get("month")) ? params.get("month") : state.clock.date.slice(0, 7);
  $("leave-month").value = month;
  const range = { from: `${month}-01`, to: lastDay(month) };
  const [codeList, holidays, entries] = await Promise.all([
    api("/leave/codes"), api(`/holidays?${query(range)}`), api(`/leave?${query(range)}`)]);
  if (!live()) return;
  codes = codeList.items;
  const admin = state.me.role === "admin";
  $("holiday-form").hidden = !admin;
  if (admin) {
    const unitList = await units();
    if (!live()) return;
    $("holiday-form-unit_id").replaceChildren(el("option", { value: "", text: t("dashboard.leave.everyone") }),
      ...unitChoices(unitList).map(([value, label]) => el("option", { value, text: label })));
  }
  $("leave-form-code").replaceChildren(...codes.map((c) => el("option", { value: c.code, text: `${c.code}: ${meaning(c.code)}` })));
  fillTable($("leave-holidays"), [
    { label: t("dashboard.col.date"), cls: "nowrap", value: (h) => h.day },
    { label: t("dashboard.col.name"), value: (h) => h.name },
    { label: t("dashboard.leave.level"), value: (h) => t(`dashboard.leave.level_${h.level}`) },
    { label: t("dashboard.col.unit"), value: (h) => h.unit_id || t("dashboard.leave.everyone") },
  ], holidays.items, (h) => ({ holiday: h.id }), t("dashboard.leave.no_holidays"));
  fillTable($("leave-table"), [
    { label: t("dashboard.col.staff_no"), cls: "nowrap", value: (e) => e.employee_id },
    { label: t("dashboard.leave.code"), value: (e) => `${e.code}${e.half_day ? "/2" : ""}` },
    { label: t("dashboard.leave.meaning"), value: (e) => meaning(e.code) },
    { label: t("dashboard.filter.from"), cls: "nowrap", value: (e) => e.first },
    { label: t("dashboard.filter.to"), cls: "nowrap", value: (e) => e.last },
    { label: t("dashboard.leave.source"), value: (e) => e.source },
    { label: t("dashboard.leave.note"), value: (e) => e.note },
    { label: "", blank: true, value: (e) => {
      const b = el("button", { type: "button", data: { action: "delete" }, text: t("dashboard.leave.delete") });
      b.addEventListener("click", () => remove(e));
      return b;
    } },
  ], entries.items, (e) => ({ entry: e.id, employee: e.employee_id }), t("dashboard.leave.none"));
}

register({ name: "leave", nav: "dashboard.nav.leave", roles: ["admin", "unit_officer"], render, mount });

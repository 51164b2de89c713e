// Exceptions over a date range (late, missing, off-site, flagged), searchable and paged: a week
// for 50 people is hundreds of rows, so the page shows 50 at a time; the CSV link has them all.
import { api, csvHref, query } from "../lib/api.js";
import { $, badge, fillTable } from "../lib/dom.js";
import { addDays, count, isDate } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { pager, slicePage } from "../lib/list.js";
import { go, register } from "../lib/router.js";
import { fillSelect, state, unitChoices, units } from "../lib/session.js";
import { employeeCell, exceptionLabel, onSubmit, setCsv } from "./common.js";

async function render(params, live) {
  const last = isDate(params.get("to")) ? params.get("to") : state.clock.date;
  const first = isDate(params.get("from")) ? params.get("from") : addDays(last, -6);
  $("exc-from").value = first;
  $("exc-to").value = last;
  const search = params.get("q") || "";
  $("exc-q").value = search;
  const unit = fillSelect($("exc-unit"), unitChoices(await units()), params.get("unit_id"), t("dashboard.filter.all_my_units"));
  if (!live()) return;
  const args = { from: first, to: last, unit_id: unit };
  const data = await api(`/reports/exceptions?${query(args)}`);
  if (!live()) return;
  setCsv("exc-csv", csvHref("/reports/exceptions", args));
  const byKind = {};
  data.items.forEach((e) => { byKind[e.kind] = (byKind[e.kind] || 0) + 1; });
  $("exc-summary").textContent = `${t("dashboard.exceptions.summary", { n: count(data.items.length, "dashboard.count.exception"), first: data.first, last: data.last })}`
    + (data.items.length ? `: ${Object.entries(byKind).map(([k, n]) => `${n} ${exceptionLabel(k).toLowerCase()}`).join(", ")}.` : ".");
  const page = slicePage(data.items, { offset: Number(params.get("offset")) || 0, search,
    text: (e) => `${e.employee.employee_id} ${e.employee.name} ${e.employee.unit_id || ""} ${e.kind} ${exceptionLabel(e.kind)} ${e.detail || ""}` });
  fillTable($("exc-table"), [
    { label: t("dashboard.col.date"), cls: "nowrap", value: (e) => e.date },
    { label: t("dashboard.col.staff_no"), cls: "nowrap", value: (e) => employeeCell(e.employee, e.date) },
    { label: t("dashboard.col.name"), value: (e) => e.employee.name },
    { label: t("dashboard.col.unit"), cls: "nowrap", value: (e) => e.employee.unit_id },
    { label: t("dashboard.col.exception"), value: (e) => badge(e.kind, exceptionLabel(e.kind)) },
    { label: t("dashboard.col.detail"), value: (e) => e.detail },
  ], page.items, (e) => ({ employee: e.employee.employee_id, kind: e.kind }),
  search ? t("dashboard.list.no_match", { q: search }) : t("dashboard.exceptions.none"));
  pager($("exc-pager"), { offset: page.offset, shown: page.items.length, total: page.total,
    onPage: (offset) => go("exceptions", { ...args, q: search, offset }) });
}

onSubmit("form-exceptions", "exceptions", () => ({ from: $("exc-from").value, to: $("exc-to").value, unit_id: $("exc-unit").value, q: $("exc-q").value.trim() }));
register({ name: "exceptions", nav: "dashboard.nav.exceptions", roles: ["admin", "unit_officer"], render,
  clear: () => { $("exc-pager").hidden = true; } });

// The daily register of one unit: everyone's status, in/out, hours and exceptions on one day.
import { api, csvHref, query } from "../lib/api.js";
import { $, fillTable } from "../lib/dom.js";
import { count, isDate } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { pager, slicePage } from "../lib/list.js";
import { go, register } from "../lib/router.js";
import { fillSelect, state, unitChoices, units } from "../lib/session.js";
import { emptyState, showEmpty } from "../lib/empty.js";
import { dayColumns, employeeCell, onSubmit, setCsv, statusCounts } from "./common.js";

/** No unit to choose: say why and, for an admin, where units are made. */
export function noUnits(holder) {
  const admin = state.me.role === "admin";
  showEmpty(holder, admin ? t("dashboard.empty.no_units_admin") : t("dashboard.empty.no_units_officer"),
    admin ? { href: "#/org", label: t("dashboard.empty.no_units_action") } : null);
}

async function render(params, live) {
  const day = isDate(params.get("date")) ? params.get("date") : state.clock.date;
  $("daily-date").value = day;
  const search = params.get("q") || "";
  $("daily-q").value = search;
  const unit = fillSelect($("daily-unit"), unitChoices(await units()), params.get("unit_id"));
  if (!live()) return;
  showEmpty($("daily-empty"), null);
  if (!unit) {
    $("daily-summary").textContent = "";
    $("daily-pager").hidden = true;
    noUnits($("daily-empty"));
    return $("daily-table").replaceChildren();
  }
  const args = { unit_id: unit, date: day };
  const data = await api(`/reports/daily?${query(args)}`);
  if (!live()) return;
  setCsv("daily-csv", csvHref("/reports/daily", args));
  const counts = {};
  data.items.forEach((r) => { counts[r.day.status] = (counts[r.day.status] || 0) + 1; });
  $("daily-summary").textContent = t("dashboard.daily.summary", { n: count(data.items.length, "dashboard.count.employee"), date: data.date })
    + (data.items.length ? `: ${statusCounts(counts)}.` : ".");
  const page = slicePage(data.items, { offset: Number(params.get("offset")) || 0, search,
    text: (r) => `${r.employee.employee_id} ${r.employee.name} ${r.employee.unit_id || ""}` });
  fillTable($("daily-table"), [
    { label: t("dashboard.col.staff_no"), cls: "nowrap", value: (r) => employeeCell(r.employee, data.date) },
    { label: t("dashboard.col.name"), value: (r) => r.employee.name },
    { label: t("dashboard.col.unit"), cls: "nowrap", value: (r) => r.employee.unit_id },
    ...dayColumns((r) => r.day),
  ], page.items, (r) => ({ employee: r.employee.employee_id, status: r.day.status }),
  search ? t("dashboard.list.no_match", { q: search })
    : emptyState(t("dashboard.daily.none"), state.me.role === "admin" ? { href: "#/staff", label: t("dashboard.empty.add_staff") } : null));
  pager($("daily-pager"), { offset: page.offset, shown: page.items.length, total: page.total,
    onPage: (offset) => go("daily", { ...args, q: search, offset }) });
}

onSubmit("form-daily", "daily", () => ({ unit_id: $("daily-unit").value, date: $("daily-date").value, q: $("daily-q").value.trim() }));
register({ name: "daily", nav: "dashboard.nav.daily", roles: ["admin", "unit_officer"], render,
  clear: () => { $("daily-pager").hidden = true; } });

// The monthly muster roll of one unit: a day code per person per day, with the month's totals.
import { api, csvHref, query } from "../lib/api.js";
import { $, fillTable } from "../lib/dom.js";
import { isMonth } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { pager, slicePage } from "../lib/list.js";
import { go, register } from "../lib/router.js";
import { fillSelect, state, unitChoices, units } from "../lib/session.js";
import { showEmpty } from "../lib/empty.js";
import { onSubmit, setCsv, totalColumns } from "./common.js";
import { noUnits } from "./daily.js";

export const monthOf = (params) => (isMonth(params.get("month")) ? params.get("month") : state.clock.date.slice(0, 7));

async function render(params, live) {
  const month = monthOf(params);
  $("muster-month").value = month;
  const search = params.get("q") || "";
  $("muster-q").value = search;
  const unit = fillSelect($("muster-unit"), unitChoices(await units()), params.get("unit_id"));
  if (!live()) return;
  showEmpty($("muster-empty"), null);
  if (!unit) {
    $("muster-pager").hidden = true;
    $("muster-table").replaceChildren();
    return noUnits($("muster-empty"));
  }
  const args = { unit_id: unit, month };
  const data = await api(`/reports/muster?${query(args)}`);
  if (!live()) return;
  setCsv("muster-csv", csvHref("/reports/muster", args));
  const page = slicePage(data.items, { offset: Number(params.get("offset")) || 0, search,
    text: (r) => `${r.employee.employee_id} ${r.employee.name}` });
  fillTable($("muster-table"), [
    { label: t("dashboard.col.staff_no"), cls: "nowrap", value: (r) => r.employee.employee_id },
    { label: t("dashboard.col.name"), value: (r) => r.employee.name },
    ...data.days.map((d, i) => ({ label: String(Number(d.slice(8))), title: d, cls: "code", blank: true, value: (r) => r.codes[i] })),
    ...totalColumns(),
  ], page.items, (r) => ({ employee: r.employee.employee_id }),
  search ? t("dashboard.list.no_match", { q: search }) : t("dashboard.daily.none"));
  pager($("muster-pager"), { offset: page.offset, shown: page.items.length, total: page.total,
    onPage: (offset) => go("muster", { ...args, q: search, offset }) });
}

onSubmit("form-muster", "muster", () => ({ unit_id: $("muster-unit").value, month: $("muster-month").value, q: $("muster-q").value.trim() }));
register({ name: "muster", nav: "dashboard.nav.muster", roles: ["admin", "unit_officer"], render,
  clear: () => { $("muster-pager").hidden = true; } });

// Payroll days per pay officer (DDO) for a month: what the pay bill is drawn from.
import { api, csvHref, query } from "../lib/api.js";
import { $, fillTable } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { pager, slicePage } from "../lib/list.js";
import { go, register } from "../lib/router.js";
import { ddos, fillSelect, state } from "../lib/session.js";
import { showEmpty } from "../lib/empty.js";
import { onSubmit, setCsv, totalColumns } from "./common.js";
import { monthOf } from "./muster.js";

async function render(params, live) {
  const month = monthOf(params);
  $("payroll-month").value = month;
  const search = params.get("q") || "";
  $("payroll-q").value = search;
  const choices = (await ddos()).map((d) => [d.ddo_id, `${d.name} (${d.ddo_id})`]);
  const ddo = fillSelect($("payroll-ddo"), choices, params.get("ddo_id"));
  if (!live()) return;
  showEmpty($("payroll-empty"), null);
  if (!ddo) {
    $("payroll-pager").hidden = true;
    $("payroll-table").replaceChildren();
    const admin = state.me.role === "admin";
    return showEmpty($("payroll-empty"), t(admin ? "dashboard.empty.no_ddos_admin" : "dashboard.empty.no_ddos_officer"),
      admin ? { href: "#/org?tab=ddos", label: t("dashboard.empty.no_ddos_action") } : null);
  }
  const args = { ddo_id: ddo, month };
  const data = await api(`/reports/payroll?${query(args)}`);
  if (!live()) return;
  setCsv("payroll-csv", csvHref("/reports/payroll", args));
  const page = slicePage(data.items, { offset: Number(params.get("offset")) || 0, search,
    text: (r) => `${r.employee.employee_id} ${r.employee.name} ${r.employee.unit_id || ""} ${r.employee.category || ""}` });
  fillTable($("payroll-table"), [
    { label: t("dashboard.col.staff_no"), cls: "nowrap", value: (r) => r.employee.employee_id },
    { label: t("dashboard.col.name"), value: (r) => r.employee.name },
    { label: t("dashboard.col.unit"), cls: "nowrap", value: (r) => r.employee.unit_id },
    { label: t("dashboard.col.category"), value: (r) => r.employee.category },
    ...totalColumns(),
  ], page.items, (r) => ({ employee: r.employee.employee_id }),
  search ? t("dashboard.list.no_match", { q: search }) : t("dashboard.payroll.none"));
  pager($("payroll-pager"), { offset: page.offset, shown: page.items.length, total: page.total,
    onPage: (offset) => go("payroll", { ...args, q: search, offset }) });
}

onSubmit("form-payroll", "payroll", () => ({ ddo_id: $("payroll-ddo").value, month: $("payroll-month").value, q: $("payroll-q").value.trim() }));
register({ name: "payroll", nav: "dashboard.nav.payroll", roles: ["admin", "unit_officer"], render,
  clear: () => { $("payroll-pager").hidden = true; } });

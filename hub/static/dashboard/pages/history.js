// One person's attendance day by day (an employee sees only their own; the API enforces it).
import { api, csvHref, query } from "../lib/api.js";
import { $, fillTable } from "../lib/dom.js";
import { addDays, count, isDate } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { register } from "../lib/router.js";
import { state } from "../lib/session.js";
import { dayColumns, onSubmit, setCsv } from "./common.js";

const ATTENDED = ["present", "late", "half_day", "regularised"];

async function render(params, live) {
  const own = state.me.role === "employee";
  const employee = own ? state.me.employee_id : (params.get("employee_id") || "").trim();
  const last = isDate(params.get("to")) ? params.get("to") : state.clock.date;
  const first = isDate(params.get("from")) ? params.get("from") : addDays(last, -29);
  const input = $("history-employee");
  input.value = employee || "";
  input.readOnly = own;
  $("history-from").value = first;
  $("history-to").value = last;
  if (!employee) {
    $("history-summary").textContent = own ? t("dashboard.history.not_linked") : t("dashboard.history.enter_staff_no");
    $("history-csv").hidden = true;
    return $("history-table").replaceChildren();
  }
  const path = `/reports/employees/${encodeURIComponent(employee)}/history`;
  const data = await api(`${path}?${query({ from: first, to: last })}`);
  if (!live()) return;
  setCsv("history-csv", csvHref(path, { from: first, to: last }));
  const worked = data.items.filter((d) => ATTENDED.includes(d.status)).length;
  $("history-summary").textContent = t("dashboard.history.summary",
    { employee: data.employee_id, days: count(worked, "dashboard.count.day"), first: data.first, last: data.last });
  fillTable($("history-table"), [{ label: t("dashboard.col.date"), cls: "nowrap", value: (d) => d.date }, ...dayColumns((d) => d)],
    [...data.items].reverse(), (d) => ({ date: d.date, status: d.status }));
}

onSubmit("form-history", "history", () => ({ employee_id: $("history-employee").value.trim(), from: $("history-from").value, to: $("history-to").value }));
register({ name: "history", nav: "dashboard.nav.history", roles: ["admin", "unit_officer", "employee"], render });

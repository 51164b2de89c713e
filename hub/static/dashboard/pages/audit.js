// The audit log (admins): who did what, when, with the record before and after. Filters: who
// (user name), what (an action, or "user.*" for every user action), when (from / to dates, the
// browser's day). Newest first, 50 a page; older pages follow the hub's next_before_id.
import { api, query } from "../lib/api.js";
import { $, el, fillTable } from "../lib/dom.js";
import { emptyState } from "../lib/empty.js";
import { clearErrors, field, showErrors } from "../lib/form.js";
import { isDate, when } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { pager, PAGE_SIZE } from "../lib/list.js";
import { go, register } from "../lib/router.js";

const FILTERS = ["actor", "action", "from", "to"];

function mount(section) {
  const form = el("form", { id: "audit-form", class: "filters", novalidate: "" },
    field("audit-form", { name: "actor", label: t("dashboard.audit.who") }),
    field("audit-form", { name: "action", label: t("dashboard.audit.what"), hint: t("dashboard.audit.what_hint") }),
    field("audit-form", { name: "from", label: t("dashboard.audit.from"), type: "date" }),
    field("audit-form", { name: "to", label: t("dashboard.audit.to"), type: "date" }),
    el("p", { class: "form-error error", role: "alert", hidden: "" }),
    el("button", { type: "submit", class: "primary", text: t("dashboard.audit.filter") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = {};
    for (const name of FILTERS) {
      const value = $(`audit-form-${name}`).value.trim();
      if (value) params[name] = value;
    }
    go("audit", params);
  });
  section.append(el("h2", { text: t("dashboard.audit.title") }), form,
    el("p", { id: "audit-summary", class: "summary" }),
    el("table", { id: "audit-table", class: "data" }),
    el("div", { id: "audit-pager", class: "pager" }));
}

/** Local midnight of an ISO date, with the browser's offset (the hub wants an offset). */
function startOf(iso) {
  return new Date(`${iso}T00:00:00`).toISOString();
}

function change(entry) {
  const show = (label, value) => (value === null || value === undefined ? null
    : el("details", {}, el("summary", { text: label }), el("pre", { class: "small", text: JSON.stringify(value, null, 1) })));
  const parts = [show(t("dashboard.audit.before"), entry.before), show(t("dashboard.audit.after"), entry.after)];
  return parts.some(Boolean) ? el("div", {}, ...parts) : null;
}

async function render(params, live, section) {
  const form = $("audit-form");
  clearErrors(form);
  for (const name of FILTERS) $(`audit-form-${name}`).value = params.get(name) || "";
  const args = { limit: PAGE_SIZE, actor: params.get("actor"), action: params.get("action") };
  if (isDate(params.get("from"))) args.since = startOf(params.get("from"));
  if (isDate(params.get("to"))) {
    const next = new Date(`${params.get("to")}T00:00:00`);
    next.setDate(next.getDate() + 1);
    args.until = next.toISOString();
  }
  const before = params.get("before_id");
  if (before) args.before_id = before;
  let data;
  try {
    data = await api(`/audit?${query(args)}`);
  } catch (err) {
    if (err.status !== 422) throw err;
    showErrors(form, err, { since: "from", until: "to" });
    return;
  }
  if (!live()) return;
  const offset = Number(params.get("offset")) || 0;
  $("audit-summary").textContent = t("dashboard.audit.summary", { n: data.items.length });
  fillTable($("audit-table"), [
    { label: t("dashboard.col.time"), cls: "nowrap", value: (e) => when(e.at) },
    { label: t("dashboard.audit.who"), value: (e) => e.actor },
    { label: t("dashboard.audit.what"), value: (e) => e.action },
    { label: t("dashboard.audit.target"), value: (e) => e.target },
    { label: t("dashboard.audit.source"), cls: "small", value: (e) => e.source },
    { label: t("dashboard.audit.change"), value: change },
  ], data.items, (e) => ({ action: e.action, actor: e.actor }), emptyState(t("dashboard.audit.none")));
  const keep = Object.fromEntries(FILTERS.map((n) => [n, params.get(n)]).filter(([, v]) => v));
  pager($("audit-pager"), { offset, shown: data.items.length, hasMore: data.next_before_id !== null,
    onPage: () => window.history.back(),
    onNext: () => go("audit", { ...keep, before_id: data.next_before_id, offset: offset + PAGE_SIZE }) });
  section.dataset.count = String(data.items.length);
}

register({ name: "audit", nav: "dashboard.nav.audit", roles: ["admin"], render, mount });

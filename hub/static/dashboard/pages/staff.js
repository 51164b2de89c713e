// Staff: search and page through everyone the caller may see (the API searches and pages, so
// 100,000 people cost the browser 50 rows), and open a person's page: master data, allowed sites,
// then enrolment photos with verdicts, recent punches and phone (person-detail.js).
import { api, query } from "../lib/api.js";
import { $, badge, el, fillTable, link } from "../lib/dom.js";
import { emptyState } from "../lib/empty.js";
import { t } from "../lib/i18n.js";
import { PAGE_SIZE, pager, searchBox } from "../lib/list.js";
import { go, register } from "../lib/router.js";
import { state } from "../lib/session.js";
import { personDetails } from "./person-detail.js";

function mount(section) {
  section.append(
    el("h2", { text: t("dashboard.staff.title") }),
    searchBox({ id: "staff-q", placeholder: t("dashboard.staff.search_hint"), onSearch: (q) => go("staff", { q }) }),
    state.me.role === "admin" ? el("p", {}, el("a", { class: "button", id: "staff-new", href: "#/person", text: t("dashboard.person.new") }),
      " ", el("a", { href: "#/import", text: t("dashboard.import.title") })) : null,
    el("p", { id: "staff-summary", class: "summary" }),
    el("div", { class: "scroll" }, el("table", { id: "staff-table" })),
    el("div", { id: "staff-pager", class: "pager", hidden: "" }),
    el("div", { id: "staff-person", class: "panel", hidden: "" }),
  );
}

function personPanel(p) {
  const row = (key, value) => el("tr", {}, el("th", { scope: "row", text: t(key) }), el("td", {}, value ?? "—"));
  return [
    el("h3", { text: `${p.name} (${p.employee_id})` }),
    el("table", { class: "facts" }, el("tbody", {},
      row("dashboard.staff.category", p.category), row("dashboard.col.unit", p.unit_id),
      row("dashboard.filter.ddo", p.ddo_id), row("dashboard.staff.home_site", p.home_site_id),
      row("dashboard.staff.allowed_sites", p.allowed_site_ids.join(", ") || null),
      row("dashboard.staff.mobile", p.mobile),
      row("dashboard.staff.enrolment", p.templates ? t("dashboard.staff.photos", { n: p.templates }) : t("dashboard.staff.not_enrolled")),
      row("dashboard.staff.galleries", p.gallery_sites.join(", ") || null))),
    el("p", {}, link(`#/history?${query({ employee_id: p.employee_id })}`, t("dashboard.staff.history")), " · ",
      link(`#/photos?${query({ employee_id: p.employee_id })}`, t("dashboard.nav.photos")),
      state.me.role === "admin" ? [" · ", link(`#/person?${query({ id: p.employee_id })}`, t("dashboard.org.edit"))] : null),
  ];
}

async function render(params, live) {
  const q = params.get("q") || "";
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  $("staff-q").value = q;
  const data = await api(`/employees?${query({ q, offset, limit: PAGE_SIZE, count: "true" })}`);
  if (!live()) return;
  $("staff-summary").textContent = q ? t("dashboard.staff.found", { n: data.total, q }) : t("dashboard.staff.total", { n: data.total });
  const admin = state.me.role === "admin";
  const empty = q ? emptyState(t("dashboard.list.no_match", { q }))
    : emptyState(t(admin ? "dashboard.staff.empty_admin" : "dashboard.staff.empty"),
      admin ? { href: "#/org?tab=units", label: t("dashboard.staff.empty_action") } : null);
  fillTable($("staff-table"), [
    { label: t("dashboard.col.staff_no"), cls: "nowrap", value: (e) => link(`#/staff?${query({ q, offset, id: e.employee_id })}`, e.employee_id) },
    { label: t("dashboard.col.name"), value: (e) => e.name },
    { label: t("dashboard.col.unit"), value: (e) => e.unit_id },
    { label: t("dashboard.staff.home_site"), value: (e) => e.home_site_id },
    { label: t("dashboard.staff.category"), value: (e) => e.category },
    { label: t("dashboard.col.state"), value: (e) => (e.active ? null : badge("muted", t("dashboard.staff.left"))) },
  ], data.items, (e) => ({ employee: e.employee_id }), empty);
  pager($("staff-pager"), { offset, shown: data.items.length, total: data.total,
    onPage: (next) => go("staff", { q, offset: next }) });
  const person = $("staff-person");
  person.hidden = !params.get("id");
  if (params.get("id")) {
    const [p, details] = await Promise.all([api(`/employees/${encodeURIComponent(params.get("id"))}`),
      personDetails(params.get("id"))]);
    if (live()) person.replaceChildren(...personPanel(p), ...details);
  }
}

register({ name: "staff", nav: "dashboard.nav.staff", roles: ["admin", "unit_officer"], mount, render });

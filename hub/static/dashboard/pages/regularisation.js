// Regularisation (officers): employees' requests to correct a day, from the phone page. The officer
// sees those of their units (the hub decides who sees what), downloads an attachment, and approves or
// rejects each pending one with a remark (a rejection needs one). An approved day shows as R in the
// muster roll and counts as present. Every decision is in the audit log.
import { api, API, query } from "../lib/api.js";
import { $, badge, el, fillTable, link } from "../lib/dom.js";
import { emptyState } from "../lib/empty.js";
import { when } from "../lib/format.js";
import { currentLanguage, t } from "../lib/i18n.js";
import { go, register, render as rerender } from "../lib/router.js";

const STATES = ["pending", "approved", "rejected", "all"];
const stateLabel = (s) => t(`dashboard.regularisation.state_${s}`);

function mount(section) {
  const select = el("select", { id: "reg-state", name: "state" },
    STATES.map((s) => el("option", { value: s, text: stateLabel(s) })));
  const form = el("form", { id: "reg-form", class: "filters" },
    el("label", {}, el("span", { text: t("dashboard.regularisation.state") }), " ", select),
    el("button", { type: "submit", class: "primary", text: t("dashboard.regularisation.filter") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go("regularisation", { state: select.value });
  });
  section.append(el("h2", { text: t("dashboard.regularisation.title") }), form,
    el("p", { id: "reg-done", class: "notice notice-ok", role: "status", hidden: "" }),
    el("p", { id: "reg-summary", class: "summary" }),
    el("div", { class: "scroll" }, el("table", { id: "reg-table", class: "data" })));
}

async function decide(item, decision, remark) {
  const done = $("reg-done");
  done.hidden = true;
  const answer = await api(`/regularisations/${item.id}/decision`, { method: "POST", body: { decision, remark } });
  done.textContent = t(`dashboard.regularisation.done_${answer.state}`, { name: answer.name, day: answer.day });
  done.hidden = false;
}

function decisionCell(item) {
  if (item.state !== "pending") {
    const who = t("dashboard.regularisation.decided", { state: stateLabel(item.state), who: item.decided_by || "" });
    return el("span", {}, who, item.remark ? `: ${item.remark}` : "");
  }
  const remark = el("input", { class: "reg-remark", name: "remark", maxlength: 500,
    "aria-label": t("dashboard.regularisation.remark"), placeholder: t("dashboard.regularisation.remark") });
  const error = el("span", { class: "error small", role: "alert", hidden: "" });
  const button = (decision) => {
    const b = el("button", { type: "button", class: decision === "approve" ? "primary" : "",
      data: { decision }, text: t(`dashboard.regularisation.${decision}`) });
    b.addEventListener("click", async () => {
      error.hidden = true;
      try {
        await decide(item, decision, remark.value.trim() || null);
        await rerender();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    });
    return b;
  };
  return el("span", { class: "reg-decide" }, remark, button("approve"), button("reject"), error);
}

async function render(params, live) {
  const state = STATES.includes(params.get("state")) ? params.get("state") : "pending";
  $("reg-state").value = state;
  const data = await api(`/regularisations?${query({ state })}`);
  if (!live()) return;
  const lang = currentLanguage();
  $("reg-summary").textContent = t("dashboard.regularisation.summary", { n: data.items.length });
  fillTable($("reg-table"), [
    { label: t("dashboard.regularisation.col_day"), cls: "nowrap", value: (r) => r.day },
    { label: t("dashboard.col.staff_no"), cls: "nowrap", value: (r) => r.employee_id },
    { label: t("dashboard.col.name"), value: (r) => r.name },
    { label: t("dashboard.col.unit"), cls: "nowrap", value: (r) => r.unit_id },
    { label: t("dashboard.regularisation.col_reason"), value: (r) => r.kind_label[lang] || r.kind_label.en },
    { label: t("dashboard.regularisation.col_words"), value: (r) => r.reason },
    { label: t("dashboard.regularisation.col_attachment"), value: (r) => (r.attachment_type
      ? link(`${API}/regularisations/${r.id}/attachment`, t("dashboard.regularisation.download")) : null) },
    { label: t("dashboard.regularisation.col_asked"), cls: "nowrap", value: (r) => when(r.requested_at) },
    { label: t("dashboard.regularisation.col_state"), value: (r) => badge(r.state, stateLabel(r.state)) },
    { label: t("dashboard.regularisation.col_decision"), value: decisionCell },
  ], data.items, (r) => ({ id: r.id, employee: r.employee_id, day: r.day, state: r.state }),
  emptyState(t("dashboard.regularisation.none")));
}

register({ name: "regularisation", nav: "dashboard.nav.regularisation", roles: ["admin", "unit_officer"], render, mount });

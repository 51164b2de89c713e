// Notice and consent (DPDP Act 2023) for one person: the notice in the language the person reads
// (English or Hindi, whatever language the dashboard itself is in), the consent on record, the
// button that records it and, on the person page, withdrawal (which erases their face data).
// API: GET/POST /employees/{id}/consent, POST /employees/{id}/consent/withdraw (hub/api/routes/consent.py).
import { api } from "./api.js";
import { el } from "./dom.js";
import { when } from "./format.js";
import { t } from "./i18n.js";

const NOTICE_KEYS = ["common.notice.what", "common.notice.why", "common.notice.how_long", "common.notice.who",
  "common.notice.rights"];
const NOTICE_LANGUAGES = [["en", "English"], ["hi", "हिन्दी"]];  // each named in itself
const catalogues = {};

async function words(lang) {
  if (!catalogues[lang]) {
    const response = await fetch(`/i18n/${encodeURIComponent(lang)}.json`, { credentials: "same-origin" });
    catalogues[lang] = response.ok ? await response.json() : {};
  }
  return catalogues[lang];
}

const fill = (template, params) => (template || "").replace(/\{(\w+)\}/g,
  (whole, name) => (name in params ? String(params[name]) : whole));

/** The notice in ``lang`` (its lang attribute set, so it is read out in that language). */
async function notice(prefix, lang, state) {
  const catalogue = await words(lang);
  const params = { version: state.current_notice_version, photo_days: state.photo_retention_days };
  return el("div", { class: "notice notice-info", id: `${prefix}-notice`, lang, data: { lang } },
    el("h4", { text: fill(catalogue["common.notice.title"], params) }),
    NOTICE_KEYS.map((key) => el("p", { text: fill(catalogue[key], params) })));
}

function onRecord(record) {
  return t("dashboard.consent.given", { when: when(record.given_at), channel: record.channel,
    version: record.notice_version, language: record.language, by: record.recorded_by });
}

/**
 * Fill ``box`` with ``employeeId``'s consent: what is on record, or the notice and the button that records
 * it. ``onChange(state)`` runs after each load and change (the photo page enables its upload with it).
 * Element ids start with ``box.id`` (both pages stay in the document): e.g. photos-consent-status.
 */
export async function showConsent(box, employeeId, { onChange = () => {}, withdraw = false } = {}) {
  const path = `/employees/${encodeURIComponent(employeeId)}/consent`;
  const state = await api(path);
  const prefix = box.id;
  const status = el("p", { id: `${prefix}-status`, role: "status", data: { state: state.active ? "given" : "missing" } });
  const parts = [el("h3", { text: t("dashboard.consent.title") }), status];
  if (state.active) {
    status.textContent = onRecord(state.active);
    if (withdraw) parts.push(withdrawForm(box, employeeId, path, onChange, status));
  } else {
    const last = state.history[0];
    status.textContent = last && last.withdrawn_at
      ? `${t("dashboard.consent.withdrawn", { when: when(last.withdrawn_at) })} ${t("dashboard.consent.missing")}`
      : t("dashboard.consent.missing");
    const choose = el("select", { id: `${prefix}-language` },
      NOTICE_LANGUAGES.map(([code, name]) => el("option", { value: code, text: name })));
    const holder = el("div", {}, await notice(prefix, "en", state));
    choose.addEventListener("change", async () => holder.replaceChildren(await notice(prefix, choose.value, state)));
    const record = el("button", { type: "button", id: `${prefix}-record`, class: "primary", text: t("dashboard.consent.record") });
    record.addEventListener("click", async () => {
      record.disabled = true;
      try {
        await api(path, { method: "POST", body: { language: choose.value } });
        await showConsent(box, employeeId, { onChange, withdraw });
      } catch (err) {
        status.textContent = err.message;
        record.disabled = false;
      }
    });
    parts.push(el("div", { class: "field" }, el("label", { for: `${prefix}-language`, text: t("dashboard.consent.language") }), choose),
      holder, record);
  }
  box.replaceChildren(...parts);
  onChange(state);
  return state;
}

function withdrawForm(box, employeeId, path, onChange, status) {
  const reason = el("input", { id: `${box.id}-reason`, maxlength: 500, autocomplete: "off" });
  const button = el("button", { type: "submit", id: `${box.id}-withdraw`, class: "danger", text: t("dashboard.consent.withdraw") });
  const form = el("form", {},
    el("div", { class: "field" }, el("label", { for: `${box.id}-reason`, text: t("dashboard.consent.withdraw_reason") }), reason),
    button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!reason.value.trim()) { reason.setAttribute("aria-invalid", "true"); reason.focus(); return; }
    button.disabled = true;
    try {
      await api(`${path}/withdraw`, { method: "POST", body: { reason: reason.value.trim() } });
      await showConsent(box, employeeId, { onChange, withdraw: true });
    } catch (err) {
      status.textContent = err.message;
      button.disabled = false;
    }
  });
  return form;
}

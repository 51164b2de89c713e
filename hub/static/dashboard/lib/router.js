// Hash routes (#/daily?unit_id=...&date=...), so a view can be bookmarked and shared. Each page
// module registers {name, nav, roles, render(params, live, section), mount(section)}; the router
// shows one page at a time and records what is on screen in data-page / data-state / data-route.
import { query } from "./api.js";
import { $, el } from "./dom.js";
import { t } from "./i18n.js";
import { state } from "./session.js";

const PAGES = new Map();
const DEFAULT_PAGE = { admin: "today", unit_officer: "today", employee: "history" };
let seq = 0;
let onSessionEnd = () => {};

export function register(page) {
  PAGES.set(page.name, page);
}

export const pages = () => [...PAGES.values()];

export function whenSessionEnds(callback) {
  onSessionEnd = callback;
}

export function route() {
  const [name, q] = location.hash.replace(/^#\/?/, "").split("?", 2);
  return { name: name || DEFAULT_PAGE[state.me.role], params: new URLSearchParams(q || "") };
}

/** Go to page ``name`` with ``params`` (re-rendering when already there). */
export function go(name, params = {}) {
  const q = query(params);
  const hash = `#/${name}${q ? `?${q}` : ""}`;
  if (location.hash === hash) render();
  else location.hash = hash;
}

/** The page's section, made and mounted on first use for pages that build their own markup. */
function sectionOf(page) {
  let section = $(`page-${page.name}`);
  if (!section) {
    section = el("section", { id: `page-${page.name}`, class: "page", hidden: "" });
    $("screen-app").append(section);
  }
  if (page.mount && !section.dataset.mounted) {
    page.mount(section);
    section.dataset.mounted = "1";
  }
  return section;
}

/** A refused filter (a 422 naming its fields): each message beside its control in the page's form. */
function markFields(section, fields) {
  for (const [name, message] of Object.entries(fields || {})) {
    const control = section.querySelector(`form.filters [name="${CSS.escape(name)}"]`);
    if (!control) continue;
    control.setAttribute("aria-invalid", "true");
    (control.closest("label") || control).after(el("p", { class: "field-error", role: "alert", data: { for: name }, text: message }));
  }
}

function clearMarks(section) {
  for (const p of section.querySelectorAll("p.field-error[data-for]")) p.remove();
  for (const c of section.querySelectorAll("form.filters [aria-invalid]")) c.removeAttribute("aria-invalid");
}

function errorText(err) {
  const key = { 403: "dashboard.error.not_allowed", 404: "dashboard.error.not_found", 422: "dashboard.error.check_form" }[err.status];
  return key ? t(key, { detail: err.message })
    : t("dashboard.error.other", { status: err.status || t("dashboard.error.no_status"), detail: err.message });
}

export async function render() {
  if (!state.me || state.me.must_change_password || $("screen-app").hidden) return;
  let { name, params } = route();
  if (!PAGES.has(name)) name = DEFAULT_PAGE[state.me.role];
  const page = PAGES.get(name);
  const section = sectionOf(page);
  for (const other of document.querySelectorAll(".page")) other.hidden = other !== section;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
  const app = $("screen-app");
  const errorBox = $("page-error");
  errorBox.hidden = true;
  delete errorBox.dataset.status;
  const mine = ++seq;
  const live = () => mine === seq;
  app.dataset.route = location.hash;
  app.dataset.page = name;
  app.dataset.state = section.dataset.state = "loading";
  clearMarks(section);
  try {
    await page.render(params, live, section);
    if (live()) app.dataset.state = section.dataset.state = "ready";
  } catch (err) {
    if (!live()) return;
    if (err.status === 401) return onSessionEnd(t("dashboard.login.session_ended"));
    app.dataset.state = section.dataset.state = "error";
    errorBox.dataset.status = String(err.status);
    errorBox.textContent = errorText(err);
    errorBox.hidden = false;
    if (err.status === 422) markFields(section, err.fields);
    for (const table of section.querySelectorAll("table")) table.replaceChildren();
    for (const p of section.querySelectorAll(".summary")) p.textContent = "";
    for (const a of section.querySelectorAll("a.csv")) a.hidden = true;
    if (page.clear) page.clear(section);
  }
}

/** Rebuild the navigation for ``role`` from the registered pages. */
export function buildNav(role) {
  const nav = $("nav");
  nav.replaceChildren(...pages().filter((p) => p.nav && p.roles.includes(role)).map((p) =>
    el("a", { href: `#/${p.name}`, data: { page: p.name, i18n: p.nav }, text: t(p.nav) })));
}

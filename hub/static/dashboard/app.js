// Hub dashboard start-up: language, login (with the forced change of a one-time password), the
// menu, and handing each hash route to its page module (pages/*.js, listed in pages/index.js).
//
// - The session is the HttpOnly cookie set by /api/v1/auth/login; this script never sees the token.
// - Every value from the hub reaches the page as a text node or a plain attribute: no innerHTML.
// - The API decides who sees what; a 403 is shown as such, in words, and the page stays usable.
import { ApiError, api } from "./lib/api.js";
import { $, el } from "./lib/dom.js";
import { currentLanguage, languages, preferredLanguage, t, useLanguage } from "./lib/i18n.js";
import { buildNav, render, whenSessionEnds } from "./lib/router.js";
import { forget, state } from "./lib/session.js";
import "./pages/index.js";

const ROLE_KEYS = { admin: "dashboard.role.admin", unit_officer: "dashboard.role.unit_officer", employee: "dashboard.role.employee" };

function showScreen(name) {
  for (const id of ["screen-loading", "screen-login", "screen-password", "screen-app"]) {
    $(id).hidden = id !== `screen-${name}`;
  }
  document.body.dataset.screen = name;
}

function notice(text, kind = "info") {
  const box = $("notice");
  box.textContent = text || "";
  box.className = `notice notice-${kind}`;
  box.hidden = !text;
}

function showError(box, err) {
  box.textContent = err.message;
  box.hidden = false;
}

/** Drop the pages that built their own markup, so the next user or language gets them afresh. */
function unmountPages() {
  for (const section of document.querySelectorAll(".page[data-mounted]")) {
    section.replaceChildren();
    delete section.dataset.mounted;
  }
}

function showLogin(message) {
  state.me = null;
  forget();
  unmountPages();
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("login-password").value = "";
  notice(message || "");
  showScreen("login");
  $("login-user").focus();
}
whenSessionEnds(showLogin);

function showPassword() {
  const known = state.oneTime !== null;
  $("pw-current-row").hidden = known;
  $("pw-current").value = known ? state.oneTime : "";
  $("pw-new").value = $("pw-repeat").value = "";
  $("password-error").hidden = true;
  $("who").textContent = state.me.username;
  $("logout").hidden = false;
  showScreen("password");
  (known ? $("pw-new") : $("pw-current")).focus();
}

function showWho() {
  if (!state.me) return;
  const role = state.me.role;
  $("who").textContent = `${state.me.username} (${ROLE_KEYS[role] ? t(ROLE_KEYS[role]) : role})`;
}

async function enterApp() {
  state.clock = await api("/dashboard/clock");
  showWho();
  $("logout").hidden = false;
  buildNav(state.me.role);
  $("nav").hidden = false;
  showScreen("app");
  await render();
}

async function afterLogin() {
  if (state.me.must_change_password) showPassword();
  else await enterApp();
}

async function startLanguage() {
  const available = await languages();
  const select = $("lang");
  // each language named in itself ("हिन्दी", "English"), as people look for their own
  const name = (code) => { try { return new Intl.DisplayNames([code], { type: "language" }).of(code); } catch (err) { return code; } };
  select.replaceChildren(...available.map((code) => el("option", { value: code, text: name(code) })));
  try {
    await useLanguage(preferredLanguage(available));
  } catch (err) {
    await useLanguage("en");
  }
  select.value = currentLanguage();
  select.addEventListener("change", async () => {
    await useLanguage(select.value);
    document.body.dataset.lang = currentLanguage();
    if (state.me && !$("screen-app").hidden) {
      showWho();
      buildNav(state.me.role);
      unmountPages();
      await render();
    }
  });
  document.body.dataset.lang = currentLanguage();
}

async function boot() {
  await startLanguage();
  try {
    state.me = await api("/auth/me");
  } catch (err) {
    if (err.status === 401) return showLogin();
    notice(t("dashboard.error.unexpected", { detail: err.message }), "error");
    return showScreen("login");
  }
  try {
    await afterLogin();
  } catch (err) {
    if (err.status === 401) return showLogin(t("dashboard.login.session_ended"));
    notice(err.message, "error");
  }
}

$("form-login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const box = $("login-error");
  box.hidden = true;
  const username = $("login-user").value.trim();
  const password = $("login-password").value;
  $("login-btn").disabled = true;
  try {
    await api("/auth/login", { method: "POST", body: { username, password } });
    try {
      state.me = await api("/auth/me");
    } catch (err) {
      if (err.status !== 401) throw err;
      throw new ApiError(0, t("dashboard.login.no_cookie"));
    }
    state.oneTime = state.me.must_change_password ? password : null;
    notice("");
    await afterLogin();
  } catch (err) {
    if (err.status === 401) err.message = t("dashboard.login.wrong");
    else if (err.status === 429) err.message = t("dashboard.login.too_many", { detail: err.message });
    showError(box, err);
  } finally {
    $("login-btn").disabled = false;
  }
});

$("form-password").addEventListener("submit", async (event) => {
  event.preventDefault();
  const box = $("password-error");
  box.hidden = true;
  const fresh = $("pw-new").value;
  if (fresh !== $("pw-repeat").value) return showError(box, new Error(t("dashboard.password.differ")));
  $("pw-btn").disabled = true;
  try {
    await api("/auth/password", { method: "POST", body: { current_password: $("pw-current").value, new_password: fresh } });
    state.oneTime = null;
    state.me = await api("/auth/me");
    notice(t("dashboard.password.changed"), "ok");
    await enterApp();
  } catch (err) {
    if (err.status === 401) return showLogin(t("dashboard.login.session_ended"));
    if (err.status === 403 && state.oneTime !== null) $("pw-current-row").hidden = false;
    showError(box, err);
  } finally {
    $("pw-btn").disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await api("/auth/logout", { method: "POST" });
  } catch (err) {
    if (err.status !== 401) return notice(t("dashboard.logout.failed", { detail: err.message }), "error");
  }
  state.oneTime = null;
  history.replaceState(null, "", location.pathname);
  showLogin(t("dashboard.logout.done"));
});

window.addEventListener("hashchange", () => {
  notice("");
  render();
});

boot();

/* The shared translation helper of the phone page and the dashboard.
 * Messages come from the hub's one catalogue (GET /i18n/<lang>.json, built from
 * the i18n package), so a page never carries its own copy of the strings.
 *   await I18n.load("hi");  I18n.t("common.not_found", {what: "x"});
 *   I18n.apply(document)   // fills every element with data-i18n="key" */
"use strict";

const I18n = (() => {
  let messages = {};
  let lang = "en";

  async function load(wanted) {
    const response = await fetch(`/i18n/${encodeURIComponent(wanted)}.json`, { credentials: "same-origin" });
    if (!response.ok && wanted !== "en") return load("en");
    if (!response.ok) throw new Error(`no catalogue: HTTP ${response.status}`);
    messages = await response.json();
    lang = wanted;
    document.documentElement.lang = lang;
    return lang;
  }

  function t(key, params = {}) {
    const template = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  function apply(root) {
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  }

  return { load, t, apply, get lang() { return lang; } };
})();

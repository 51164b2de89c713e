// The dashboard's words come from the hub's one catalogue (/static/common/i18n.js loads
// /i18n/<lang>.json); this module adds the language switch and remembers the choice.
/* global I18n */

const STORE = "hub-dashboard-language";

/** The message ``key`` (always a full "dashboard.…" or "common.…" key, so it can be grepped). */
export const t = (key, params) => I18n.t(key, params);

export const currentLanguage = () => I18n.lang;

/** The language to start in: the last one chosen here, else the browser's if the hub has it, else English. */
export function preferredLanguage(available) {
  let saved = null;
  try { saved = localStorage.getItem(STORE); } catch (err) { saved = null; }
  if (saved && available.includes(saved)) return saved;
  const browser = (navigator.language || "en").slice(0, 2);
  return available.includes(browser) ? browser : "en";
}

/** Load ``lang`` and fill every data-i18n element of the page. */
export async function useLanguage(lang) {
  const loaded = await I18n.load(lang);
  try { localStorage.setItem(STORE, loaded); } catch (err) { /* private mode: not remembered */ }
  I18n.apply(document);
  document.title = t("dashboard.title");
  return loaded;
}

/** The languages the hub has a catalogue for (["en"] when it cannot say). */
export async function languages() {
  try {
    const response = await fetch("/i18n/languages.json", { credentials: "same-origin" });
    return response.ok ? await response.json() : ["en"];
  } catch (err) {
    return ["en"];
  }
}

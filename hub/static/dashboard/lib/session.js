// What the dashboard knows about the logged-in user and the master data its forms offer as
// choices; cached per session and dropped (``forget``) whenever a page changes master data.
import { api } from "./api.js";
import { el } from "./dom.js";

export const state = { me: null, clock: null, oneTime: null };
const cache = {};

async function cached(key, path) {
  if (!(key in cache)) cache[key] = (await api(path)).items;
  return cache[key];
}

export const units = () => cached("units", "/org-units");
export const ddos = () => cached("ddos", "/ddos");
export const sites = () => cached("sites", "/sites");

/** Forget cached choices (after a create/edit, or a log-out). */
export function forget(...keys) {
  for (const key of keys.length ? keys : Object.keys(cache)) delete cache[key];
}

/** Units as (id, label) with their depth shown, departments first, each followed by its offices. */
export function unitChoices(list) {
  const ids = new Set(list.map((u) => u.unit_id));
  const children = {};
  for (const u of list) {
    const parent = ids.has(u.parent_id) ? u.parent_id : "";
    (children[parent] = children[parent] || []).push(u);
  }
  const out = [];
  const walk = (parent, depth) => (children[parent] || []).forEach((u) => {
    out.push([u.unit_id, `${"\u2003".repeat(depth)}${u.name} (${u.unit_id})`]);
    walk(u.unit_id, depth + 1);
  });
  walk("", 0);
  return out;
}

/** Fill a select; a wanted value that is not among the choices is added, so the API can answer for it. */
export function fillSelect(select, choices, wanted, blank) {
  const options = blank !== undefined && blank !== null ? [el("option", { value: "", text: blank })] : [];
  for (const [value, label] of choices) options.push(el("option", { value, text: label }));
  if (wanted && !choices.some(([value]) => value === wanted)) options.push(el("option", { value: wanted, text: wanted }));
  select.replaceChildren(...options);
  select.value = wanted || (options.length && options[0].value === "" ? "" : choices.length ? choices[0][0] : "");
  return select.value;
}

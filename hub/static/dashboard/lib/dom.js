// Building the page from data, safely: every value from the hub becomes a text node or a plain
// attribute (no innerHTML anywhere), so a staff name made of HTML is shown, never run.
import { t } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

export const $ = (id) => document.getElementById(id);

/** An element with text children only; attrs: class, text, data (object), and plain attributes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "data") Object.entries(value).forEach(([k, v]) => { node.dataset[k] = String(v); });
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An SVG element with the given attributes (charts and the geofence drawing). */
export function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

export const dash = () => el("span", { class: "muted", text: "—" });
export const badge = (kind, text) => el("span", { class: `badge badge-${kind}`, text });
export const link = (href, text) => el("a", { href, text });

/**
 * Fill ``table`` with a header and one row per item; a column is {label, value(item), cls, title, blank}.
 * ``empty`` (a node) is shown in a single row when there are no items.
 */
export function fillTable(table, columns, items, rowData, empty) {
  const head = el("tr", {}, columns.map((c) => el("th", { class: c.cls, scope: "col", title: c.title, text: c.label })));
  const rows = items.map((item) => el("tr", { data: rowData ? rowData(item) : null },
    columns.map((c) => {
      const value = c.value(item);
      const blank = value === null || value === undefined || value === "";
      return el("td", { class: c.cls }, blank ? (c.blank ? "" : dash()) : value);
    })));
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, rows));
  if (!items.length) {
    table.tBodies[0].append(el("tr", { class: "empty-row" },
      el("td", { colspan: columns.length, class: "muted" }, empty || t("dashboard.common.nothing_to_show"))));
  }
}

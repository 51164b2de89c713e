// Long lists: a search box and a pager. ``pager`` draws "Previous · 1–50 of 1,234 · Next" for a
// list whose page the caller fetched (server-side) or sliced (``slicePage``, client-side for
// reports that the API answers whole because the CSV needs them whole).
import { el } from "./dom.js";
import { t } from "./i18n.js";

export const PAGE_SIZE = 50;

/** Items ``offset``..``offset+size`` of ``items`` matching ``search`` (case-insensitive, on ``text(item)``). */
export function slicePage(items, { offset = 0, size = PAGE_SIZE, search = "", text = (x) => JSON.stringify(x) }) {
  const needle = search.trim().toLowerCase();
  const found = needle ? items.filter((item) => text(item).toLowerCase().includes(needle)) : items;
  const start = Math.max(0, Math.min(offset, Math.max(0, found.length - 1)));
  return { items: found.slice(start, start + size), total: found.length, offset: start };
}

/**
 * Draw the pager into ``holder``: ``total`` known (offset paging) or ``hasMore`` (keyset paging).
 * ``onPage(offset)`` is called with the new first row when a button is pressed.
 */
export function pager(holder, { offset, shown, total = null, hasMore = null, size = PAGE_SIZE, onPage, onNext }) {
  const more = total !== null ? offset + shown < total : Boolean(hasMore);
  const label = shown === 0 ? t("dashboard.list.none")
    : total !== null ? t("dashboard.list.range_of", { first: offset + 1, last: offset + shown, total })
      : t("dashboard.list.range", { first: offset + 1, last: offset + shown });
  const prev = el("button", { type: "button", class: "pager-prev", text: t("common.previous_page") });
  const next = el("button", { type: "button", class: "pager-next", text: t("common.next_page") });
  prev.disabled = offset <= 0;
  next.disabled = !more;
  prev.addEventListener("click", () => onPage(Math.max(0, offset - size)));
  next.addEventListener("click", () => (onNext ? onNext() : onPage(offset + size)));
  holder.replaceChildren(prev, el("span", { class: "pager-range", text: label }), next);
  holder.hidden = shown === 0 && offset === 0;
}

/** A search form: label, input (name ``q``), button; ``onSearch(text)`` on submit. */
export function searchBox({ id, value = "", placeholder = "", onSearch }) {
  const input = el("input", { id, name: "q", type: "search", value, placeholder, maxlength: 100, autocomplete: "off" });
  const form = el("form", { class: "filters search", role: "search" },
    el("label", {}, t("common.search"), input), el("button", { type: "submit", text: t("common.search") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onSearch(input.value.trim());
  });
  return form;
}

/**
 * A client-side list with a search box before ``table`` and a pager after it (made on first use,
 * ids ``<id>-q`` and ``<id>-pager``): returns the items of the page the route's ``q`` and ``offset``
 * select. ``onRoute({q, offset})`` goes to the new page (the route keeps what is on screen).
 */
export function pageOfList({ id, table, params, items, text, onRoute }) {
  const q = params.get("q") || "";
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  const around = table.closest(".scroll") || table;
  if (!document.getElementById(`${id}-q`)) {
    around.before(searchBox({ id: `${id}-q`, onSearch: (value) => onRoute({ q: value }) }));
    around.after(el("div", { id: `${id}-pager`, class: "pager", hidden: "" }));
  }
  document.getElementById(`${id}-q`).value = q;
  const page = slicePage(items, { offset, search: q, text });
  pager(document.getElementById(`${id}-pager`), { offset: page.offset, shown: page.items.length, total: page.total,
    onPage: (next) => onRoute({ q, offset: next }) });
  return page.items;
}

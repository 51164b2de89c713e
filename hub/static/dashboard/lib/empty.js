// Empty states that say what to do next: a sentence and, when the user can fix it, a link to the
// page that does (never a dead end such as "You have no units.").
import { el } from "./dom.js";

/** A node for an empty list: ``text`` plus an optional action {href, label}. */
export function emptyState(text, action) {
  return el("div", { class: "empty-state" }, el("p", { text }),
    action ? el("a", { class: "button", href: action.href, text: action.label }) : null);
}

/** Put an empty state into ``holder`` (or clear it with ``text`` null). */
export function showEmpty(holder, text, action) {
  holder.replaceChildren(...(text ? [emptyState(text, action)] : []));
  holder.hidden = !text;
}

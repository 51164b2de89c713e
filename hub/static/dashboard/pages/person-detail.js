// The rest of a person's page under their master data (staff.js): enrolment with a thumbnail and
// verdict per photo, their recent punches, their phone. Each comes from the documented JSON API:
// GET /employees/{id}/photos (+ .../thumbnail), GET /punches?employee_id=, GET /phone/bindings/{id}.
import { API, api, query } from "../lib/api.js";
import { badge, el, fillTable } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { state } from "../lib/session.js";

const RECENT_PUNCHES = 10;

function enrolment(id, photos) {
  const items = [
    ...photos.templates.map((p) => el("li", { data: { file: p.source, verdict: "accepted" } },
      p.photo_kept ? el("img", { src: `${API}/employees/${encodeURIComponent(id)}/photos/${p.template_id}/thumbnail`,
        alt: p.source, width: 80, class: "thumb" }) : el("span", { class: "thumb muted", text: t("dashboard.person.photo_purged") }),
      badge("ok", t("dashboard.photos.accepted")), ` ${p.source}`, el("span", { class: "small" }, ` — ${when(p.created_at)}`))),
    ...photos.refused.map((r) => el("li", { data: { file: r.file, verdict: "refused" } },
      badge("bad", t("dashboard.photos.refused")), ` ${r.file}`, el("span", { class: "small" }, ` — ${r.reason} (${when(r.at)})`))),
  ];
  return [el("h4", { text: t("dashboard.staff.enrolment") }),
    items.length ? el("ul", { id: "person-photos", class: "verdicts" }, items)
      : el("p", { id: "person-photos", class: "muted", text: t("dashboard.staff.not_enrolled") })];
}

function punches(list) {
  const table = el("table", { id: "person-punches" });
  fillTable(table, [
    { label: t("dashboard.col.time"), cls: "nowrap", value: (p) => when(p.ts) },
    { label: t("dashboard.col.site"), value: (p) => p.site_id },
    { label: t("dashboard.col.device"), value: (p) => p.device_id },
    { label: t("dashboard.person.method"), value: (p) => p.method },
  ], list.items, (p) => ({ punch: p.id }), t("dashboard.person.no_punches"));
  return [el("h4", { text: t("dashboard.person.recent_punches") }), el("div", { class: "scroll" }, table)];
}

function phone(binding) {
  const text = binding.bound ? t("dashboard.person.phone_bound", { label: binding.label || "?", at: when(binding.bound_at) })
    : t("dashboard.person.phone_none");
  return [el("h4", { text: t("dashboard.person.phone") }),
    el("p", { id: "person-phone", data: { bound: binding.bound } }, badge(binding.bound ? "ok" : "muted", text),
      binding.revoked ? el("span", { class: "small" }, ` ${t("dashboard.person.phone_replaced", { n: binding.revoked })}`) : null)];
}

/** The sections for person ``id``; admins also see enrolment photos and the phone. */
export async function personDetails(id) {
  const admin = state.me.role === "admin";
  const key = encodeURIComponent(id);
  const [photos, recent, binding] = await Promise.all([
    admin ? api(`/employees/${key}/photos`) : null,
    api(`/punches?${query({ employee_id: id, limit: RECENT_PUNCHES })}`),
    admin ? api(`/phone/bindings/${key}`) : null]);
  return [...(photos ? enrolment(id, photos) : []), ...punches(recent), ...(binding ? phone(binding) : [])];
}

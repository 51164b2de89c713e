// Set up the organisation: units (department → office), pay officers (DDOs) and duty sites with
// their geofence, shift start, cut-off and phone policy. Lists come from the API; every form is
// checked by the hub (hub/masterdata/fields.py, the rules the CLI and CSV import use) and its
// refusals are shown beside the fields. Pressing "Edit" on a row fills the form to change it.
import { api } from "../lib/api.js";
import { $, el, fillTable, link } from "../lib/dom.js";
import { emptyState } from "../lib/empty.js";
import { clearErrors, field, formFooter, showErrors, values } from "../lib/form.js";
import { geofenceDrawing } from "../lib/geofence.js";
import { t } from "../lib/i18n.js";
import { pageOfList } from "../lib/list.js";
import { go, register } from "../lib/router.js";
import { forget, sites, unitChoices, units } from "../lib/session.js";

const TABS = ["units", "ddos", "sites"];
const PATHS = { units: "/org-units", ddos: "/ddos", sites: "/sites" };
const ID = { units: "unit_id", ddos: "ddo_id", sites: "site_id" };
const CACHE = { units: "units", ddos: "ddos", sites: "sites" };

function specs(tab, unitOptions) {
  const none = [["", t("dashboard.org.none")]];
  if (tab === "units") {
    return [
      { name: "unit_id", label: t("dashboard.org.unit_id") },
      { name: "name", label: t("dashboard.org.name") },
      { name: "kind", label: t("dashboard.org.kind"), type: "select",
        options: [["office", t("dashboard.org.kind_office")], ["department", t("dashboard.org.kind_department")]] },
      { name: "parent_id", label: t("dashboard.org.parent"), type: "select", options: [...none, ...unitOptions] },
    ];
  }
  if (tab === "ddos") {
    return [
      { name: "ddo_id", label: t("dashboard.org.ddo_id") },
      { name: "name", label: t("dashboard.org.name") },
      { name: "unit_id", label: t("dashboard.org.unit"), type: "select", options: [...none, ...unitOptions] },
    ];
  }
  return [
    { name: "site_id", label: t("dashboard.org.site_id") },
    { name: "name", label: t("dashboard.org.name") },
    { name: "unit_id", label: t("dashboard.org.unit"), type: "select", options: [...none, ...unitOptions] },
    { name: "lat", label: t("dashboard.org.lat"), type: "number", step: "any", hint: t("dashboard.org.lat_hint") },
    { name: "lon", label: t("dashboard.org.lon"), type: "number", step: "any" },
    { name: "radius_m", label: t("dashboard.org.radius"), type: "number", step: "any" },
    { name: "timezone", label: t("dashboard.org.timezone"), value: "Asia/Kolkata" },
    { name: "shift_start", label: t("dashboard.org.shift_start"), type: "time", hint: t("dashboard.org.shift_start_hint") },
    { name: "cutoff", label: t("dashboard.org.cutoff"), type: "time", hint: t("dashboard.org.cutoff_hint") },
    { name: "min_gap_min", label: t("dashboard.org.min_gap"), type: "number" },
    { name: "half_day_hours", label: t("dashboard.org.half_day"), type: "number", step: "any" },
    { name: "phone_policy", label: t("dashboard.org.phone_policy"), type: "select",
      options: [["", t("dashboard.org.default")], ["always", t("dashboard.org.phone_always")],
        ["kiosk_down", t("dashboard.org.phone_kiosk_down")], ["never", t("dashboard.org.phone_never")]] },
    { name: "phone_networks", label: t("dashboard.org.phone_networks"), hint: t("dashboard.org.phone_networks_hint") },
  ];
}

/* The office networks typed as "10.20.0.0/16, 203.0.113.0/28" become the list the hub checks; emptied
 * while editing a site that had some, they are cleared ([]). */
function officeNetworks(body, editing) {
  const typed = (body.phone_networks || "").split(/[\s,]+/).filter(Boolean);
  if (typed.length) body.phone_networks = typed;
  else if (editing && editing.phone_networks && editing.phone_networks.length) body.phone_networks = [];
  else delete body.phone_networks;
}

function columns(tab, edit) {
  const editCell = (row) => {
    const button = el("button", { type: "button", class: "link edit", text: t("dashboard.org.edit") });
    button.addEventListener("click", () => edit(row));
    return button;
  };
  const base = [{ label: t("dashboard.org.id"), cls: "nowrap", value: (r) => r[ID[tab]] },
    { label: t("dashboard.org.name"), value: (r) => r.name }];
  const more = {
    units: [{ label: t("dashboard.org.kind"), value: (r) => t(`dashboard.org.kind_${r.kind}`) },
      { label: t("dashboard.org.parent"), value: (r) => r.parent_id }],
    ddos: [{ label: t("dashboard.org.unit"), value: (r) => r.unit_id }],
    sites: [{ label: t("dashboard.org.unit"), value: (r) => r.unit_id },
      { label: t("dashboard.org.geofence"), value: (r) => (r.lat === null ? null : `${r.lat}, ${r.lon} · ${r.radius_m ?? "—"} m`) },
      { label: t("dashboard.org.shift_start"), value: (r) => r.shift_start.slice(0, 5) },
      { label: t("dashboard.org.cutoff"), value: (r) => r.cutoff.slice(0, 5) },
      { label: t("dashboard.org.phone_policy"), value: (r) => r.phone_policy }],
  };
  return [...base, ...more[tab], { label: "", value: editCell }];
}

function mount(section) {
  section.append(
    el("h2", { text: t("dashboard.org.title") }),
    el("nav", { class: "tabs", id: "org-tabs" }, TABS.map((tab) =>
      link(`#/org?tab=${tab}`, t(`dashboard.org.tab_${tab}`)))),
    el("div", { class: "scroll" }, el("table", { id: "org-table" })),
    el("div", { class: "org-edit" },
      el("form", { id: "org-form", class: "panel", novalidate: "" }),
      el("figure", { id: "org-map", class: "panel", hidden: "" })),
  );
}

async function render(params, live) {
  const tab = TABS.includes(params.get("tab")) ? params.get("tab") : "units";
  for (const a of $("org-tabs").querySelectorAll("a")) a.classList.toggle("active", a.getAttribute("href").endsWith(`=${tab}`));
  const [rows, unitList, siteList] = await Promise.all([api(PATHS[tab]).then((d) => d.items), units(), sites()]);
  if (!live()) return;
  const form = $("org-form");
  const map = $("org-map");
  let editing = null;
  const drawMap = () => {
    if (tab !== "sites") { map.hidden = true; return; }
    const v = values(form);
    const site = { site_id: v.site_id || "?", lat: v.lat === null ? null : Number(v.lat), lon: v.lon === null ? null : Number(v.lon),
      radius_m: v.radius_m === null ? null : Number(v.radius_m) };
    map.hidden = !(Number.isFinite(site.lat) && Number.isFinite(site.lon) && v.lat !== null && v.lon !== null);
    map.replaceChildren(geofenceDrawing(site, siteList), el("figcaption", { class: "hint", text: t("dashboard.org.map_caption") }));
  };
  const fill = (row) => {
    editing = row;
    for (const control of form.querySelectorAll("[name]")) {
      const value = row ? row[control.name] : null;
      if (Array.isArray(value)) control.value = value.join(", ");
      else if (value !== null && value !== undefined) control.value = typeof value === "string" && control.type === "time" ? value.slice(0, 5) : value;
      else if (row) control.value = "";
    }
    form.querySelector(`[name="${ID[tab]}"]`).readOnly = Boolean(row);
    form.querySelector("h3").textContent = row ? t("dashboard.org.editing", { id: row[ID[tab]] }) : t(`dashboard.org.new_${tab}`);
    clearErrors(form);
    drawMap();
  };
  form.replaceChildren(el("h3", { text: t(`dashboard.org.new_${tab}`) }),
    el("div", { class: "form-grid" }, specs(tab, unitChoices(unitList)).map((s) => field("org", s))),
    ...formFooter(t("common.save")));
  form.dataset.tab = tab;
  form.oninput = drawMap;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const body = Object.fromEntries(Object.entries(values(form)).filter(([, v]) => v !== null));
    if (tab === "sites") officeNetworks(body, editing);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      if (editing) {
        delete body[ID[tab]];
        await api(`${PATHS[tab]}/${encodeURIComponent(editing[ID[tab]])}`, { method: "PATCH", body });
      } else {
        await api(PATHS[tab], { method: "POST", body });
      }
      forget(CACHE[tab]);
      form.dataset.saved = String(Number(form.dataset.saved || 0) + 1);
      go("org", { tab, saved: body[ID[tab]] || editing[ID[tab]] });
    } catch (err) {
      showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  };
  fill(null);
  const empty = params.get("q") ? emptyState(t("dashboard.list.no_match", { q: params.get("q") }))
    : emptyState(t(`dashboard.org.empty_${tab}`));
  const shown = pageOfList({ id: "org", table: $("org-table"), params, items: rows,
    text: (r) => Object.values(r).filter((v) => typeof v === "string").join(" "), onRoute: (where) => go("org", { tab, ...where }) });
  fillTable($("org-table"), columns(tab, fill), shown, (r) => ({ id: r[ID[tab]] }), empty);
  if (params.get("saved")) $("org-table").querySelector(`tr[data-id="${CSS.escape(params.get("saved"))}"]`)?.classList.add("saved");
}

register({ name: "org", nav: "dashboard.nav.org", roles: ["admin"], mount, render });

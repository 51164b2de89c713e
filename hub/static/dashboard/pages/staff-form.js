// Create or change one person: choices drawn from the master data (units, DDOs, sites and the
// categories the hub knows), checked by the hub with the same EmployeeIn rules as the CLI and the
// CSV import; refusals appear beside the field and nothing is written. A known person's page also
// shows their notice-and-consent record, and withdrawal (which erases their face data: lib/consent.js).
import { api, query } from "../lib/api.js";
import { showConsent } from "../lib/consent.js";
import { $, el } from "../lib/dom.js";
import { field, formFooter, showErrors, values } from "../lib/form.js";
import { t } from "../lib/i18n.js";
import { go, register } from "../lib/router.js";
import { ddos, forget, sites, unitChoices, units } from "../lib/session.js";

const CATEGORIES = ["permanent", "contract", "outsourced", "security"];  // hub/masterdata/fields.py CATEGORIES

function mount(section) {
  section.append(el("h2", { id: "person-title" }), el("form", { id: "person-form", class: "panel", novalidate: "" }),
    el("section", { id: "person-consent", class: "panel", hidden: "" }));
}

async function render(params, live) {
  const id = params.get("id");
  const [unitList, ddoList, siteList, person] = await Promise.all([units(), ddos(), sites(),
    id ? api(`/employees/${encodeURIComponent(id)}`) : null]);
  if (!live()) return;
  const none = [["", t("dashboard.org.none")]];
  const siteChoices = siteList.map((s) => [s.site_id, `${s.name} (${s.site_id})`]);
  $("person-title").textContent = person ? t("dashboard.org.editing", { id }) : t("dashboard.person.new");
  const form = $("person-form");
  form.replaceChildren(el("div", { class: "form-grid" },
    field("person", { name: "employee_id", label: t("dashboard.filter.staff_no") }),
    field("person", { name: "name", label: t("dashboard.org.name") }),
    field("person", { name: "category", label: t("dashboard.staff.category"), type: "select",
      options: CATEGORIES.map((c) => [c, t(`dashboard.person.category_${c}`)]) }),
    field("person", { name: "home_site_id", label: t("dashboard.staff.home_site"), type: "select", options: [...none, ...siteChoices] }),
    field("person", { name: "allowed_site_ids", label: t("dashboard.staff.allowed_sites"), type: "select", multiple: true, options: siteChoices }),
    field("person", { name: "unit_id", label: t("dashboard.col.unit"), type: "select", options: [...none, ...unitChoices(unitList)] }),
    field("person", { name: "ddo_id", label: t("dashboard.filter.ddo"), type: "select",
      options: [...none, ...ddoList.map((d) => [d.ddo_id, `${d.name} (${d.ddo_id})`])] }),
    field("person", { name: "mobile", label: t("dashboard.staff.mobile"), hint: t("dashboard.person.mobile_hint") }),
    field("person", { name: "joined_on", label: t("dashboard.person.joined_on"), type: "date" }),
    field("person", { name: "left_on", label: t("dashboard.person.left_on"), type: "date", hint: t("dashboard.person.left_on_hint") })),
  ...formFooter(t("common.save")));
  if (person) {
    for (const control of form.querySelectorAll("[name]")) {
      const value = person[control.name];
      if (control.multiple) for (const o of control.options) o.selected = (value || []).includes(o.value);
      else if (value !== null && value !== undefined) control.value = value;
    }
    form.querySelector('[name="employee_id"]').readOnly = true;
  }
  const consentBox = $("person-consent");
  consentBox.hidden = !person;
  consentBox.replaceChildren();
  if (person) await showConsent(consentBox, id, { withdraw: true });
  form.onsubmit = async (event) => {
    event.preventDefault();
    const body = Object.fromEntries(Object.entries(values(form)).filter(([, v]) => v !== null));
    try {
      if (person) {
        delete body.employee_id;
        await api(`/employees/${encodeURIComponent(id)}`, { method: "PATCH", body });
      } else {
        await api("/employees", { method: "POST", body });
      }
      forget();
      go("staff", { q: body.employee_id || id, id: body.employee_id || id });
    } catch (err) {
      showErrors(form, err);
    }
  };
}

register({ name: "person", nav: null, roles: ["admin"], mount, render });

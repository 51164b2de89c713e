// Forms whose errors come from the hub: the hub validates (with the same rules as the CLI and
// the CSV import) and names each refused field; this shows each message beside its field and a
// summary on top. The browser never decides validity on its own beyond the HTML basics.
import { el } from "./dom.js";
import { t } from "./i18n.js";

/**
 * A field: label + control + (empty) error line. ``spec``: {name, label, type, options:[[v,l]],
 * required, value, hint, step, min, max, maxlength}. Returns the wrapping element.
 */
export function field(formId, spec) {
  const id = `${formId}-${spec.name}`;
  let control;
  if (spec.type === "select") {
    control = el("select", { id, name: spec.name },
      (spec.options || []).map(([value, label]) => el("option", { value, text: label })));
  } else if (spec.type === "textarea") {
    control = el("textarea", { id, name: spec.name, rows: spec.rows || 3 });
  } else {
    control = el("input", { id, name: spec.name, type: spec.type || "text", step: spec.step, min: spec.min,
      max: spec.max, maxlength: spec.maxlength, autocomplete: "off" });
  }
  if (spec.value !== undefined && spec.value !== null) control.value = spec.value;
  if (spec.multiple) control.multiple = true;
  const error = el("p", { id: `${id}-error`, class: "field-error", role: "alert", hidden: "" });
  control.setAttribute("aria-describedby", error.id);
  return el("div", { class: "field", data: { field: spec.name } },
    el("label", { for: id, text: spec.label }), control,
    spec.hint ? el("p", { class: "hint", text: spec.hint }) : null, error);
}

/** Clear every field error and the form's summary box. */
export function clearErrors(form) {
  for (const p of form.querySelectorAll(".field-error")) { p.textContent = ""; p.hidden = true; }
  for (const c of form.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
  const box = form.querySelector(".form-error");
  if (box) { box.textContent = ""; box.hidden = true; }
}

/**
 * Show an ApiError on ``form``: each named field's message beside it, anything else in the
 * summary. Field names the hub uses but the form lacks (``aliases`` maps them) go to the summary.
 */
export function showErrors(form, err, aliases = {}) {
  clearErrors(form);
  const leftOver = [];
  for (const [name, message] of Object.entries(err.fields || {})) {
    const target = form.querySelector(`.field[data-field="${CSS.escape(aliases[name] || name)}"]`);
    if (!target) { leftOver.push(`${name}: ${message}`); continue; }
    const p = target.querySelector(".field-error");
    p.textContent = message;
    p.hidden = false;
    const control = target.querySelector("input, select, textarea");
    if (control) control.setAttribute("aria-invalid", "true");
  }
  const box = form.querySelector(".form-error");
  if (box) {
    const named = Object.keys(err.fields || {}).length - leftOver.length;
    box.textContent = named && !leftOver.length ? t("dashboard.form.fix_marked")
      : leftOver.length ? leftOver.join("; ") : err.message;
    box.hidden = false;
  }
}

/** The form's values by field name; empty strings become null, so optional fields are left out. */
export function values(form) {
  const out = {};
  for (const control of form.querySelectorAll("input[name], select[name], textarea[name]")) {
    if (control.type === "file") continue;
    if (control.multiple) out[control.name] = [...control.selectedOptions].map((o) => o.value);
    else if (control.type === "checkbox") out[control.name] = control.checked;
    else out[control.name] = control.value.trim() === "" ? null : control.value.trim();
  }
  return out;
}

/** A summary box and a submit button for the end of a form. */
export function formFooter(label) {
  return [el("p", { class: "form-error error", role: "alert", hidden: "" }),
    el("button", { type: "submit", class: "primary", text: label })];
}

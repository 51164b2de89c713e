// Enrolment from photos: choose a person and one or many photos; each photo is sent on its own
// (POST /employees/{id}/photos), so the bar moves photo by photo and each gets the hub's verdict
// from the kiosk's own quality rules (hub/enrolment/enrol.py, photo_quality.py). Before any photo the
// person must have consented: the notice is shown in their language and the upload stays off until
// their consent is on record (lib/consent.js; the hub refuses the upload too). Or send a ZIP of
// staff_number/photo.jpg for many people: the hub checks the archive at once (a refusal appears
// beside the field) and judges the photos in a job this page follows (lib/jobs.js); a person
// without consent on record gets that as their photos' verdict.
import { upload } from "../lib/api.js";
import { showConsent } from "../lib/consent.js";
import { $, badge, el } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { followJob } from "../lib/jobs.js";
import { register } from "../lib/router.js";

function mount(section) {
  const form = el("form", { id: "photos-form", class: "panel" },
    el("p", { class: "hint", text: t("dashboard.photos.hint") }),
    el("div", { class: "field", data: { field: "employee_id" } },
      el("label", { for: "photos-employee", text: t("dashboard.filter.staff_no") }),
      el("input", { id: "photos-employee", name: "employee_id", maxlength: 64, autocomplete: "off" }),
      el("p", { id: "photos-employee-error", class: "field-error", role: "alert", hidden: "" })),
    el("section", { id: "photos-consent", "aria-live": "polite" }),
    el("div", { class: "field" },
      el("label", { for: "photos-files", text: t("dashboard.photos.files") }),
      el("input", { id: "photos-files", type: "file", multiple: "", accept: ".jpg,.jpeg,.png,image/jpeg,image/png" })),
    el("button", { type: "submit", class: "primary", id: "photos-send", text: t("dashboard.photos.send") }),
    el("progress", { id: "photos-progress", max: 1, value: 0, hidden: "" }),
    el("p", { id: "photos-status", class: "summary", role: "status" }));
  form.addEventListener("submit", (event) => { event.preventDefault(); send(); });
  const employee = form.querySelector("#photos-employee");  // not in the document yet
  employee.addEventListener("change", () => consentOf(employee.value.trim()));
  const zip = el("form", { id: "zip-form", class: "panel", novalidate: "" },
    el("h3", { text: t("dashboard.photos.zip_title") }),
    el("p", { class: "hint", text: t("dashboard.photos.zip_hint") }),
    el("div", { class: "field", data: { field: "file" } },
      el("label", { for: "zip-file", text: t("dashboard.photos.zip_file") }),
      el("input", { id: "zip-file", name: "file", type: "file", accept: ".zip,application/zip", "aria-describedby": "zip-file-error" }),
      el("p", { id: "zip-file-error", class: "field-error", role: "alert", hidden: "" })),
    el("button", { type: "submit", class: "primary", id: "zip-send", text: t("dashboard.photos.send") }),
    el("progress", { id: "zip-progress", max: 1, value: 0, hidden: "" }),
    el("p", { id: "zip-status", class: "summary", role: "status" }));
  zip.addEventListener("submit", (event) => { event.preventDefault(); sendZip(); });
  section.append(el("h2", { text: t("dashboard.photos.title") }), form, el("ul", { id: "photos-results", class: "verdicts" }),
    zip, el("ul", { id: "zip-results", class: "verdicts" }));
}

/** Show the person's consent (or the notice to give it); the upload is enabled only with consent on record. */
async function consentOf(employee) {
  const box = $("photos-consent");
  const error = $("photos-employee-error");
  error.hidden = true;
  $("photos-employee").removeAttribute("aria-invalid");
  $("photos-send").disabled = true;
  box.replaceChildren();
  if (!employee) return;
  try {
    await showConsent(box, employee, { onChange: (state) => { $("photos-send").disabled = !state.active; } });
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
    $("photos-employee").setAttribute("aria-invalid", "true");
  }
}

function verdict(file, ok, note) {
  return el("li", { data: { file, verdict: ok ? "accepted" : "refused" } },
    badge(ok ? "ok" : "bad", ok ? t("dashboard.photos.accepted") : t("dashboard.photos.refused")), ` ${file}`,
    note ? el("span", { class: "small" }, ` — ${note}`) : null);
}

async function send() {
  const employee = $("photos-employee").value.trim();
  const files = [...$("photos-files").files];
  const error = $("photos-employee-error");
  error.hidden = true;
  $("photos-employee").removeAttribute("aria-invalid");
  if (!employee || !files.length) {
    $("photos-status").textContent = t("dashboard.photos.choose");
    return;
  }
  const bar = $("photos-progress");
  const results = $("photos-results");
  results.replaceChildren();
  bar.hidden = false;
  bar.max = files.length;
  bar.value = 0;
  $("photos-send").disabled = true;
  let accepted = 0;
  try {
    for (const [i, file] of files.entries()) {
      $("photos-status").textContent = t("dashboard.photos.progress", { n: i + 1, total: files.length });
      const data = new FormData();
      data.append("files", file);
      try {
        const answer = await upload(`/employees/${encodeURIComponent(employee)}/photos`, data,
          (sent, total) => { bar.value = i + (total ? sent / total : 0) * 0.5; });
        for (const p of answer.accepted) results.append(verdict(p.file, true, p.note));
        for (const p of answer.refused) results.append(verdict(p.file, false, p.note));
        accepted += answer.accepted.length;
      } catch (err) {
        if (err.status === 404 || err.status === 409) {  // the person (unknown, no consent): beside the field, nothing more sent
          error.textContent = err.message;
          error.hidden = false;
          $("photos-employee").setAttribute("aria-invalid", "true");
          $("photos-status").textContent = "";
          return;
        }
        results.append(verdict(file.name, false, err.message));
      }
      bar.value = i + 1;
    }
    $("photos-status").textContent = t("dashboard.photos.done", { accepted, total: files.length });
  } finally {
    $("photos-send").disabled = false;
  }
}

function zipRefused(message) {
  const error = $("zip-file-error");
  error.textContent = message;
  error.hidden = false;
  $("zip-file").setAttribute("aria-invalid", "true");
}

async function sendZip() {
  const chosen = $("zip-file").files[0];
  $("zip-file-error").textContent = "";
  $("zip-file-error").hidden = true;
  $("zip-file").removeAttribute("aria-invalid");
  $("zip-results").replaceChildren();
  $("zip-status").textContent = "";
  if (!chosen) return zipRefused(t("dashboard.photos.zip_choose"));
  const bar = $("zip-progress");
  bar.hidden = false;
  bar.max = 1;
  bar.value = 0;
  $("zip-send").disabled = true;
  try {
    const data = new FormData();
    data.append("file", chosen);
    $("zip-status").textContent = t("dashboard.import.uploading");
    const started = await upload("/enrolment/zip", data, (sent, total) => { bar.value = total ? (0.1 * sent) / total : 0; });
    const job = await followJob(started.job_id, (now, items) => {
      for (const i of items) $("zip-results").append(verdict(i.file, i.verdict === "accepted", i.note));
      if (now.total) {
        bar.max = now.total;
        bar.value = now.done;
        $("zip-status").textContent = t("dashboard.photos.progress", { n: Math.min(now.done + 1, now.total), total: now.total });
      }
    });
    if (job.state === "failed") {
      $("zip-status").textContent = job.error;
      return;
    }
    bar.value = bar.max;
    $("zip-status").textContent = t("dashboard.photos.zip_done", { accepted: job.result.accepted,
      refused: job.result.refused, people: job.result.enrolled.length });
  } catch (err) {
    $("zip-status").textContent = "";
    bar.hidden = true;
    zipRefused(err.message);
  } finally {
    $("zip-send").disabled = false;
  }
}

async function render(params) {
  if (params.get("employee_id")) $("photos-employee").value = params.get("employee_id");
  await consentOf($("photos-employee").value.trim());
}

register({ name: "photos", nav: "dashboard.nav.photos", roles: ["admin"], mount, render });

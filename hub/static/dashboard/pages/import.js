// Import a staff list: upload a CSV, read every bad row with its line and reasons (nothing is
// written yet), fix the file and upload again, then accept. The hub checks each row with the same
// rules as the CLI (hub/masterdata/importer.py); this page only shows what it says. Checking and
// accepting run as hub jobs (the /background twins): the bar shows the upload, then rows checked
// or written of the total as the hub counts them (lib/jobs.js), so 10,000 rows never look frozen.
import { api, upload } from "../lib/api.js";
import { $, el, fillTable } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { followJob } from "../lib/jobs.js";
import { pager, slicePage } from "../lib/list.js";
import { register } from "../lib/router.js";
import { forget } from "../lib/session.js";

let report = null;

function mount(section) {
  const file = el("input", { id: "import-file", type: "file", accept: ".csv,text/csv", name: "file" });
  const form = el("form", { id: "import-form", class: "panel" },
    el("p", { class: "hint", text: t("dashboard.import.columns") }),
    el("label", { for: "import-file", text: t("dashboard.import.file") }), file,
    el("button", { type: "submit", class: "primary", id: "import-upload", text: t("dashboard.import.check") }),
    el("progress", { id: "import-progress", max: 100, value: 0, hidden: "" }),
    el("p", { id: "import-status", class: "summary", role: "status" }),
    el("p", { id: "import-error", class: "error", role: "alert", hidden: "" }));
  form.addEventListener("submit", (event) => { event.preventDefault(); send(); });
  const accept = el("button", { type: "button", class: "primary", id: "import-accept", hidden: "" });
  accept.addEventListener("click", acceptReport);
  section.append(el("h2", { text: t("dashboard.import.title") }), form,
    el("p", { id: "import-summary", class: "summary" }),
    el("ul", { id: "import-file-problems", class: "error-text" }),
    el("div", { class: "scroll" }, el("table", { id: "import-problems" })),
    el("div", { id: "import-pager", class: "pager", hidden: "" }), accept,
    el("p", { id: "import-done", class: "notice notice-ok", hidden: "" }));
}

function showError(err) {
  $("import-error").textContent = err.message;
  $("import-error").hidden = false;
}

/** Follow a job on the bar (upload is the first 10%) and the status line; its result, or throws its error. */
async function followOnBar(jobId) {
  const bar = $("import-progress");
  const job = await followJob(jobId, (now) => {
    if (!now.total) return;
    bar.value = 10 + Math.round((90 * now.done) / now.total);
    $("import-status").textContent = t(now.stage === "writing" ? "dashboard.import.writing" : "dashboard.import.checked",
      { n: now.done, total: now.total });
  });
  if (job.state === "failed") throw new Error(job.error);
  bar.value = 100;
  return job.result;
}

async function send() {
  const chosen = $("import-file").files[0];
  $("import-error").hidden = true;
  $("import-done").hidden = true;
  if (!chosen) return showError(new Error(t("dashboard.import.choose")));
  const bar = $("import-progress");
  bar.hidden = false;
  bar.value = 0;
  $("import-upload").disabled = true;
  $("import-status").textContent = t("dashboard.import.uploading");
  const data = new FormData();
  data.append("file", chosen);
  try {
    const started = await upload("/imports/employees/background", data, (sent, total) => {
      bar.value = total ? Math.round((10 * sent) / total) : 0;
      if (total && sent >= total) $("import-status").textContent = t("dashboard.import.checking");
    });
    report = await followOnBar(started.job_id);
    $("import-status").textContent = "";
    showReport(0);
  } catch (err) {
    $("import-status").textContent = "";
    showError(err);
  } finally {
    $("import-upload").disabled = false;
  }
}

function showReport(offset) {
  const r = report;
  $("import-summary").textContent = t("dashboard.import.summary", { total: r.rows_total, valid: r.valid_rows,
    bad: r.problems.length, new: r.new, updated: r.updated, unchanged: r.unchanged });
  $("import-file-problems").replaceChildren(...r.file_problems.map((p) => el("li", { text: p })));
  const page = slicePage(r.problems, { offset });
  fillTable($("import-problems"), [
    { label: t("dashboard.import.line"), cls: "num", value: (p) => p.line },
    { label: t("dashboard.col.staff_no"), value: (p) => p.staff_number },
    { label: t("dashboard.import.reasons"), value: (p) => el("ul", { class: "reasons" }, p.reasons.map((x) => el("li", { text: x }))) },
  ], page.items, (p) => ({ line: p.line }), t("dashboard.import.no_problems"));
  pager($("import-pager"), { offset: page.offset, shown: page.items.length, total: page.total, onPage: showReport });
  const accept = $("import-accept");
  const usable = r.status === "pending" && !r.file_problems.length && r.valid_rows > 0;
  accept.hidden = !usable;
  accept.textContent = r.problems.length ? t("dashboard.import.accept_some", { n: r.valid_rows, bad: r.problems.length })
    : t("dashboard.import.accept", { n: r.valid_rows });
}

async function acceptReport() {
  const accept = $("import-accept");
  accept.disabled = true;
  $("import-error").hidden = true;
  $("import-progress").value = 0;
  try {
    const started = await api(`/imports/employees/${report.import_id}/accept/background`, { method: "POST" });
    const done = await followOnBar(started.job_id);
    $("import-status").textContent = "";
    forget();
    report = done;
    showReport(0);
    $("import-accept").hidden = true;
    $("import-done").textContent = t("dashboard.import.done", { created: done.created, updated: done.updated });
    $("import-done").hidden = false;
  } catch (err) {
    showError(err);
  } finally {
    accept.disabled = false;
  }
}

async function render() {}

register({ name: "import", nav: "dashboard.nav.import", roles: ["admin"], mount, render });

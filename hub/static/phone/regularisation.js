/* The phone page's "correct a day" part: the employee asks to regularise a day (forgot to punch,
 * kiosk down, on duty elsewhere) with a reason and an optional attachment, and sees the state of
 * their requests. The hub checks everything (GET/POST /phone/api/regularisations); refusals come with
 * English and Hindi text like the punch's. Loaded after app.js, whose helpers (api, t, $, state,
 * refusalMessage, messageText, handleAuthLoss) it uses; app.js calls regLoad() when the punch screen
 * opens and regRender() when the language changes (both run after this file, once I18n has loaded). */
"use strict";

const reg = { info: null, result: null };

function regOption(value, text) {
  const option = document.createElement("option");
  option.value = value;
  option.textContent = text;
  return option;
}

function showRegResult(m) {
  reg.result = m;
  const box = $("reg-result");
  box.hidden = !m;
  box.textContent = m ? messageText(m) : "";
  box.dataset.state = m ? (m.kind === "ok" ? "accepted" : "refused") : "";
  box.dataset.reason = m && m.reason ? m.reason : "";
}

function regRender() {
  if (!reg.info) return;
  const select = $("reg-kind");
  const chosen = select.value;
  select.replaceChildren(...reg.info.reasons.map((r) => regOption(r.code, r[state.lang] || r.en)));
  if (chosen) select.value = chosen;
  $("reg-day").max = reg.info.today;
  $("reg-day").min = reg.info.earliest;
  $("reg-limit").textContent = t("reg_limit", { n: reg.info.max_per_month });
  const list = $("reg-list");
  list.replaceChildren();
  if (!reg.info.items.length) {
    const li = document.createElement("li");
    li.textContent = t("reg_none");
    list.append(li);
  }
  for (const item of reg.info.items) {
    const li = document.createElement("li");
    li.dataset.day = item.day;
    li.dataset.state = item.state;
    const what = document.createElement("span");
    what.textContent = `${item.day} · ${item.kind_label[state.lang] || item.kind_label.en}`;
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = t(`reg_state_${item.state}`) + (item.remark ? `: ${item.remark}` : "");
    li.append(what, tag);
    list.append(li);
  }
  showRegResult(reg.result);
}

async function regLoad() {
  try {
    reg.info = await api("/regularisations");
    regRender();
  } catch (err) { if (!handleAuthLoss(err)) showRegResult(refusalMessage(err)); }
}

$("form-reg").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData();
  form.append("day", $("reg-day").value);
  form.append("kind", $("reg-kind").value);
  form.append("reason", $("reg-text").value);
  const file = $("reg-file").files[0];
  if (file) form.append("attachment", file, file.name);
  $("reg-send").disabled = true;
  try {
    const made = await api("/regularisations", { method: "POST", form });
    $("reg-text").value = "";
    $("reg-file").value = "";
    showRegResult({ kind: "ok", key: "reg_sent", values: { day: made.day } });
    await regLoad();
  } catch (err) {
    if (!handleAuthLoss(err)) showRegResult(refusalMessage(err));
  } finally {
    $("reg-send").disabled = false;
  }
});

// User accounts (admins): create one with a role and, for a unit officer, the units they look
// after; reset a password; lock or unlock. A new account and a reset get a one-time password,
// shown here once, which the person must change at their first login (hub/accounts/users.py).
// The hub checks every field and names the one it refuses; the form shows it beside that field.
import { api } from "../lib/api.js";
import { $, badge, el, fillTable } from "../lib/dom.js";
import { clearErrors, field, formFooter, showErrors, values } from "../lib/form.js";
import { when } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { pageOfList } from "../lib/list.js";
import { go, register } from "../lib/router.js";
import { unitChoices, units } from "../lib/session.js";

const ROLES = ["admin", "unit_officer", "employee"];

function mount(section) {
  const form = el("form", { id: "user-form", novalidate: "" },
    el("h3", { text: t("dashboard.users.create") }),
    field("user-form", { name: "username", label: t("dashboard.users.username"), hint: t("dashboard.users.username_hint") }),
    field("user-form", { name: "role", label: t("dashboard.users.role"), type: "select",
      options: ROLES.map((r) => [r, t(`dashboard.role.${r}`)]) }),
    field("user-form", { name: "unit_ids", label: t("dashboard.users.units"), type: "select", multiple: true,
      hint: t("dashboard.users.units_hint") }),
    field("user-form", { name: "employee_id", label: t("dashboard.users.employee"), hint: t("dashboard.users.employee_hint") }),
    ...formFooter(t("dashboard.users.create_button")));
  form.addEventListener("submit", (event) => { event.preventDefault(); create(form); });
  section.append(
    el("h2", { text: t("dashboard.users.title") }),
    el("div", { id: "user-password", class: "notice notice-ok", role: "status", hidden: "" }),
    el("p", { id: "user-error", class: "error", role: "alert", hidden: "" }),
    el("table", { id: "users-table", class: "data" }),
    form);
}

function showPassword(result) {
  const box = $("user-password");
  box.replaceChildren(t("dashboard.users.one_time", { user: result.user.username }), " ",
    el("code", { id: "user-one-time", text: result.one_time_password }));
  box.hidden = false;
}

async function create(form) {
  clearErrors(form);
  $("user-password").hidden = true;
  const body = values(form);
  if (!body.unit_ids || !body.unit_ids.length) body.unit_ids = [];
  try {
    showPassword(await api("/users", { method: "POST", body }));
  } catch (err) {
    showErrors(form, err);
    return;
  }
  form.reset();
  await list();
}

async function act(user, action) {
  const box = $("user-error");
  box.hidden = true;
  $("user-password").hidden = true;
  const path = `/users/${encodeURIComponent(user.username)}`;
  try {
    if (action === "reset") {
      if (!window.confirm(t("dashboard.users.confirm_reset", { user: user.username }))) return;
      showPassword(await api(`${path}/reset-password`, { method: "POST" }));
    } else {
      await api(path, { method: "PATCH", body: { active: action === "unlock" } });
    }
  } catch (err) {
    box.textContent = err.message;
    box.hidden = false;
    return;
  }
  await list();
}

function actions(user) {
  const button = (action) => {
    const b = el("button", { type: "button", data: { action }, text: t(`dashboard.users.${action}`) });
    b.addEventListener("click", () => act(user, action));
    return b;
  };
  return el("span", { class: "actions" }, button("reset"), button(user.active ? "lock" : "unlock"));
}

let shownParams = new URLSearchParams();

async function list() {
  const data = await api("/users");
  const items = pageOfList({ id: "users", table: $("users-table"), params: shownParams, items: data.items,
    text: (u) => `${u.username} ${u.role} ${u.unit_ids.join(" ")} ${u.employee_id || ""}`, onRoute: (where) => go("users", where) });
  fillTable($("users-table"), [
    { label: t("dashboard.users.username"), value: (u) => u.username },
    { label: t("dashboard.users.role"), value: (u) => t(`dashboard.role.${u.role}`) },
    { label: t("dashboard.users.units"), value: (u) => u.unit_ids.join(", ") },
    { label: t("dashboard.users.employee"), value: (u) => u.employee_id },
    { label: t("dashboard.col.state"), value: (u) => el("span", {},
      u.active ? badge("ok", t("dashboard.users.active")) : badge("bad", t("dashboard.users.locked")),
      u.must_change_password ? el("span", { class: "small muted", text: ` ${t("dashboard.users.must_change")}` }) : null) },
    { label: t("dashboard.users.created"), cls: "nowrap", value: (u) => when(u.created_at) },
    { label: "", value: actions, blank: true },
  ], items, (u) => ({ user: u.username, active: u.active }));
}

async function render(params, live) {
  shownParams = params;
  const unitList = await units();
  if (!live()) return;
  const select = $("user-form-unit_ids");
  select.replaceChildren(...unitChoices(unitList).map(([value, label]) => el("option", { value, text: label })));
  await list();
}

register({ name: "users", nav: "dashboard.nav.users", roles: ["admin"], render, mount });

// Hub dashboard: login (with the forced change of a one-time password), device health, today's
// attendance per unit, exceptions, and the reports with CSV downloads.
//
// - The session is the HttpOnly cookie set by /api/v1/auth/login; this script never sees the token.
// - Every value from the hub reaches the page as a text node or a checked attribute: no innerHTML.
// - The API decides who sees what; a 403 is shown as such, in words, and the page stays usable.
// - Pages are hash routes (#/daily?unit_id=...&date=...), so a view can be bookmarked and shared.
"use strict";

(() => {
  const API = "/api/v1";
  const SVG = "http://www.w3.org/2000/svg";
  const ROLE_NAMES = { admin: "admin", unit_officer: "unit officer", employee: "employee" };
  const DEFAULT_PAGE = { admin: "today", unit_officer: "today", employee: "history" };
  // day statuses of hub/rules.py, in chart order, with their colours and labels
  const STATUSES = [
    ["present", "Present", "#2e7d32"], ["late", "Late", "#f9a825"], ["half_day", "Half day", "#1e88e5"],
    ["absent", "Absent", "#c62828"], ["not_yet", "Not yet", "#9e9e9e"], ["non_working", "Off day", "#cfd8dc"],
  ];
  const STATUS_LABEL = Object.fromEntries(STATUSES.map(([key, label]) => [key, label]));
  const EXCEPTION_LABEL = { late: "Late", missing: "Missing", off_site: "Off-site", flagged: "Flagged" };

  const state = { me: null, clock: null, units: null, ddos: null, oneTime: null, seq: 0 };
  const $ = (id) => document.getElementById(id);

  // ---- building the page from data, safely ---------------------------------------------------

  /** An element with text children only; attrs: class, text, data-*, and plain attributes. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key === "data") Object.entries(value).forEach(([k, v]) => { node.dataset[k] = String(v); });
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs = {}) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  }

  const dash = () => el("span", { class: "muted", text: "—" });
  const badge = (kind, text) => el("span", { class: `badge badge-${kind}`, text });
  const link = (href, text) => el("a", { href, text });
  const count = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

  /** Fill ``table`` with a header and one row per item; a column is {label, value(item), cls}. */
  function fillTable(table, columns, items, rowData) {
    const head = el("tr", {}, columns.map((c) => el("th", { class: c.cls, scope: "col", title: c.title, text: c.label })));
    const rows = items.map((item) => el("tr", { data: rowData ? rowData(item) : null },
      columns.map((c) => {
        const value = c.value(item);
        const empty = value === null || value === undefined || value === "";
        return el("td", { class: c.cls }, empty ? (c.blank ? "" : dash()) : value);
      })));
    table.replaceChildren(el("thead", {}, head), el("tbody", {}, rows));
    if (!items.length) {
      table.tBodies[0].append(el("tr", {}, el("td", { colspan: columns.length, class: "muted", text: "Nothing to show." })));
    }
  }

  // ---- talking to the hub --------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  function detailOf(body) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((e) => `${(e.loc || []).slice(1).join(".") || "input"}: ${e.msg}`).join("; ");
    }
    return "";
  }

  async function api(path, { method = "GET", body } = {}) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API + path, options);
    } catch (err) {
      throw new ApiError(0, "the hub does not answer; check the network and try again");
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, detailOf(data) || response.statusText);
    return data;
  }

  const query = (params) => {
    const q = new URLSearchParams();
    Object.entries(params).forEach(([k, v]) => { if (v !== null && v !== undefined && v !== "") q.set(k, v); });
    return q.toString();
  };
  const csvHref = (path, params) => `${API}${path}?${query({ ...params, format: "csv" })}`;

  // ---- dates and numbers ---------------------------------------------------------------------

  function addDays(iso, days) {
    const d = new Date(`${iso}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }
  const isDate = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || "");
  const isMonth = (s) => /^\d{4}-\d{2}$/.test(s || "");
  /** "09:40" from "2026-04-07T09:40:00+05:30": the site's local time, as the hub sends it. */
  const hhmm = (iso) => { const m = /T(\d{2}:\d{2})/.exec(iso || ""); return m ? m[1] : ""; };
  const minutes = (n) => (n === null || n === undefined ? "" : `${Math.floor(n / 60)} h ${String(n % 60).padStart(2, "0")} min`);

  function ago(iso, nowIso) {
    const seconds = (Date.parse(nowIso) - Date.parse(iso)) / 1000;
    if (!Number.isFinite(seconds)) return "";
    if (seconds < 0) return "in the future";
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} days ago`;
  }

  function when(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { hour12: false });
  }

  // ---- screens -------------------------------------------------------------------------------

  function showScreen(name) {
    for (const id of ["screen-loading", "screen-login", "screen-password", "screen-app"]) {
      $(id).hidden = id !== `screen-${name}`;
    }
    document.body.dataset.screen = name;
  }

  function notice(text, kind = "info") {
    const box = $("notice");
    box.textContent = text || "";
    box.className = `notice notice-${kind}`;
    box.hidden = !text;
  }

  function showError(box, err) {
    box.textContent = err.message;
    box.hidden = false;
  }

  function showLogin(message) {
    state.me = null;
    state.units = state.ddos = null;
    $("nav").hidden = true;
    $("logout").hidden = true;
    $("who").textContent = "";
    $("login-password").value = "";
    notice(message || "");
    showScreen("login");
    $("login-user").focus();
  }

  function showPassword() {
    const known = state.oneTime !== null;
    $("pw-current-row").hidden = known;
    $("pw-current").value = known ? state.oneTime : "";
    $("pw-new").value = $("pw-repeat").value = "";
    $("password-error").hidden = true;
    $("who").textContent = state.me.username;
    $("logout").hidden = false;
    showScreen("password");
    (known ? $("pw-new") : $("pw-current")).focus();
  }

  async function enterApp() {
    state.clock = await api("/dashboard/clock");
    const role = state.me.role;
    $("who").textContent = `${state.me.username} (${ROLE_NAMES[role] || role})`;
    $("logout").hidden = false;
    for (const a of document.querySelectorAll("#nav a")) a.hidden = !a.dataset.roles.split(" ").includes(role);
    $("nav").hidden = false;
    showScreen("app");
    await render();
  }

  async function afterLogin() {
    if (state.me.must_change_password) showPassword();
    else await enterApp();
  }

  async function boot() {
    try {
      state.me = await api("/auth/me");
    } catch (err) {
      if (err.status === 401) return showLogin();
      notice(`The hub did not answer as expected: ${err.message}`, "error");
      return showScreen("login");
    }
    try {
      await afterLogin();
    } catch (err) {
      if (err.status === 401) return showLogin("Your session has ended. Please log in again.");
      notice(err.message, "error");
    }
  }

  $("form-login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("login-error");
    box.hidden = true;
    const username = $("login-user").value.trim();
    const password = $("login-password").value;
    $("login-btn").disabled = true;
    try {
      await api("/auth/login", { method: "POST", body: { username, password } });
      try {
        state.me = await api("/auth/me");
      } catch (err) {
        if (err.status !== 401) throw err;
        throw new ApiError(0, "Logged in, but the browser did not keep the session cookie: open the dashboard "
          + "over HTTPS (or, for a plain-HTTP demo only, set auth.cookie_secure: false).");
      }
      state.oneTime = state.me.must_change_password ? password : null;
      notice("");
      await afterLogin();
    } catch (err) {
      if (err.status === 401) err.message = "Wrong user name or password.";
      else if (err.status === 429) err.message = `Too many failed attempts. ${err.message}`;
      showError(box, err);
    } finally {
      $("login-btn").disabled = false;
    }
  });

  $("form-password").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("password-error");
    box.hidden = true;
    const fresh = $("pw-new").value;
    if (fresh !== $("pw-repeat").value) return showError(box, new Error("The two new passwords differ."));
    $("pw-btn").disabled = true;
    try {
      await api("/auth/password", { method: "POST", body: { current_password: $("pw-current").value, new_password: fresh } });
      state.oneTime = null;
      state.me = await api("/auth/me");
      notice("Your password is changed.", "ok");
      await enterApp();
    } catch (err) {
      if (err.status === 401) return showLogin("Your session has ended. Please log in again.");
      if (err.status === 403 && state.oneTime !== null) $("pw-current-row").hidden = false;
      showError(box, err);
    } finally {
      $("pw-btn").disabled = false;
    }
  });

  $("logout").addEventListener("click", async () => {
    try {
      await api("/auth/logout", { method: "POST" });
    } catch (err) {
      if (err.status !== 401) return notice(`Could not log out: ${err.message}`, "error");
    }
    state.oneTime = null;
    history.replaceState(null, "", location.pathname);
    showLogin("You are logged out.");
  });

  // ---- routing -------------------------------------------------------------------------------

  function route() {
    const [name, q] = location.hash.replace(/^#\/?/, "").split("?", 2);
    return { name: name || DEFAULT_PAGE[state.me.role], params: new URLSearchParams(q || "") };
  }

  function go(name, params) {
    const hash = `#/${name}${Object.keys(params).length ? `?${query(params)}` : ""}`;
    if (location.hash === hash) render();
    else location.hash = hash;
  }

  async function render() {
    if (!state.me || state.me.must_change_password || $("screen-app").hidden) return;
    let { name, params } = route();
    if (!PAGES[name]) name = DEFAULT_PAGE[state.me.role];
    for (const section of document.querySelectorAll(".page")) section.hidden = section.id !== `page-${name}`;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
    const section = $(`page-${name}`);
    const app = $("screen-app");
    const errorBox = $("page-error");
    errorBox.hidden = true;
    delete errorBox.dataset.status;
    const seq = ++state.seq;
    const live = () => seq === state.seq;
    // what is on screen, for people with screen readers and for the browser tests
    app.dataset.route = location.hash;
    app.dataset.page = name;
    app.dataset.state = section.dataset.state = "loading";
    try {
      await PAGES[name](params, live);
      if (live()) app.dataset.state = section.dataset.state = "ready";
    } catch (err) {
      if (!live()) return;
      if (err.status === 401) return showLogin("Your session has ended. Please log in again.");
      app.dataset.state = section.dataset.state = "error";
      errorBox.dataset.status = String(err.status);
      errorBox.textContent = err.status === 403 ? `Not allowed: ${err.message}`
        : err.status === 404 ? `Not found: ${err.message}`
          : err.status === 422 ? `Please check the form: ${err.message}`
            : `Something went wrong (${err.status || "no answer"}): ${err.message}`;
      errorBox.hidden = false;
      for (const table of section.querySelectorAll("table")) table.replaceChildren();
      for (const p of section.querySelectorAll(".summary")) p.textContent = "";
      if (name === "today") $("today-chart").replaceChildren();
      for (const a of section.querySelectorAll("a.csv")) a.hidden = true;
    }
  }

  window.addEventListener("hashchange", () => {
    notice("");
    render();
  });

  function onSubmit(formId, page, read) {
    $(formId).addEventListener("submit", (event) => {
      event.preventDefault();
      go(page, read());
    });
  }
  onSubmit("form-today", "today", () => ({ date: $("today-date").value }));
  onSubmit("form-exceptions", "exceptions", () => ({ from: $("exc-from").value, to: $("exc-to").value, unit_id: $("exc-unit").value }));
  onSubmit("form-daily", "daily", () => ({ unit_id: $("daily-unit").value, date: $("daily-date").value }));
  onSubmit("form-muster", "muster", () => ({ unit_id: $("muster-unit").value, month: $("muster-month").value }));
  onSubmit("form-payroll", "payroll", () => ({ ddo_id: $("payroll-ddo").value, month: $("payroll-month").value }));
  onSubmit("form-history", "history", () => ({ employee_id: $("history-employee").value.trim(), from: $("history-from").value, to: $("history-to").value }));

  // ---- choices for the forms -----------------------------------------------------------------

  async function units() {
    if (state.units === null) state.units = (await api("/org-units")).items;
    return state.units;
  }

  async function ddos() {
    if (state.ddos === null) state.ddos = (await api("/ddos")).items;
    return state.ddos;
  }

  /** Units as (id, label) with their depth shown, departments first, each followed by its offices. */
  function unitChoices(list) {
    const ids = new Set(list.map((u) => u.unit_id));
    const children = {};
    for (const u of list) {
      const parent = ids.has(u.parent_id) ? u.parent_id : "";
      (children[parent] = children[parent] || []).push(u);
    }
    const out = [];
    const walk = (parent, depth) => (children[parent] || []).forEach((u) => {
      out.push([u.unit_id, `${"\u2003".repeat(depth)}${u.name} (${u.unit_id})`]);
      walk(u.unit_id, depth + 1);
    });
    walk("", 0);
    return out;
  }

  /** Fill a select; a wanted value that is not among the choices is added, so the API can answer for it. */
  function fillSelect(select, choices, wanted, blank) {
    const options = blank ? [el("option", { value: "", text: blank })] : [];
    for (const [value, label] of choices) options.push(el("option", { value, text: label }));
    if (wanted && !choices.some(([value]) => value === wanted)) options.push(el("option", { value: wanted, text: wanted }));
    select.replaceChildren(...options);
    select.value = wanted || (blank ? "" : choices.length ? choices[0][0] : "");
    return select.value;
  }

  function setCsv(id, href) {
    const a = $(id);
    a.setAttribute("href", href);
    a.hidden = false;
  }

  // ---- pages ---------------------------------------------------------------------------------

  const employeeCell = (employee, day) => link(`#/history?${query({ employee_id: employee.employee_id, from: day, to: day })}`,
    employee.employee_id);

  async function pageToday(params, live) {
    const day = isDate(params.get("date")) ? params.get("date") : state.clock.date;
    $("today-date").value = day;
    const data = await api(`/dashboard/today?${query({ date: day })}`);
    if (!live()) return;
    $("today-day").textContent = data.date;
    const t = data.totals;
    $("today-totals").textContent = t.employees
      ? `${count(t.employees, "employee")}: ${STATUSES.filter(([k]) => t.statuses[k]).map(([k, label]) => `${t.statuses[k]} ${label.toLowerCase()}`).join(", ")}`
        + `; exceptions: ${Object.entries(EXCEPTION_LABEL).map(([k, label]) => `${t.exceptions[k]} ${label.toLowerCase()}`).join(", ")}.`
      : "No employees in your units.";
    drawChart($("today-chart"), data.units);
    $("today-legend").replaceChildren(...STATUSES.map(([, label, colour]) => {
      const swatch = svg("svg", { width: 12, height: 12, "aria-hidden": "true" });
      swatch.append(svg("rect", { width: 12, height: 12, rx: 2, fill: colour }));
      return el("span", { class: "key" }, swatch, label);
    }));
    const columns = [
      { label: "Unit", cls: "nowrap", value: (u) => (u.unit_id && u.unit_id !== "*" ? link(`#/daily?${query({ unit_id: u.unit_id, date: data.date })}`, u.name) : u.name) },
      { label: "Employees", cls: "num", value: (u) => u.employees },
      ...STATUSES.map(([key, label]) => ({ label, cls: "num", value: (u) => u.statuses[key] })),
      ...Object.entries(EXCEPTION_LABEL).filter(([k]) => k !== "late").map(([key, label]) => ({ label, cls: "num", value: (u) => u.exceptions[key] })),
    ];
    fillTable($("today-table"), columns, [...data.units, ...(data.units.length > 1 ? [t] : [])], (u) => ({ unit: u.unit_id }));
  }

  /** Stacked horizontal bars, one per unit: employees by status (inline SVG, no library). */
  function drawChart(holder, unitDays) {
    if (!unitDays.length) return holder.replaceChildren();
    const labelW = 200, barW = 460, countW = 50, rowH = 30, top = 8;
    const width = labelW + barW + countW, height = top * 2 + rowH * unitDays.length;
    const most = Math.max(1, ...unitDays.map((u) => u.employees));
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", class: "bars",
      "aria-label": "Employees of each unit by status" });
    unitDays.forEach((u, i) => {
      const y = top + i * rowH;
      const name = svg("text", { x: labelW - 8, y: y + rowH / 2, "text-anchor": "end", "dominant-baseline": "middle", class: "bar-label" });
      name.textContent = u.name.length > 28 ? `${u.name.slice(0, 27)}…` : u.name;
      chart.append(name);
      chart.append(svg("rect", { x: labelW, y: y + 4, width: barW * (u.employees / most), height: rowH - 8, fill: "#eceff1" }));
      let x = labelW;
      for (const [key, label, colour] of STATUSES) {
        const n = u.statuses[key] || 0;
        if (!n) continue;
        const w = barW * (n / most);
        const seg = svg("rect", { x, y: y + 4, width: w, height: rowH - 8, fill: colour, "data-status": key });
        const tip = svg("title");
        tip.textContent = `${u.name}: ${n} ${label.toLowerCase()}`;
        seg.append(tip);
        chart.append(seg);
        x += w;
      }
      const total = svg("text", { x: labelW + barW * (u.employees / most) + 6, y: y + rowH / 2, "dominant-baseline": "middle", class: "bar-count" });
      total.textContent = String(u.employees);
      chart.append(total);
    });
    holder.replaceChildren(chart);
  }

  // the health fields a kiosk sends (DESIGN.md), wherever the device list puts them
  const TELEMETRY = [
    ["cpu_temp_c", "CPU °C", (v) => Number(v).toFixed(1)], ["load1", "Load", (v) => Number(v).toFixed(2)],
    ["camera_fps", "Camera fps", (v) => Number(v).toFixed(1)], ["outbox_depth", "Backlog", String],
    ["oldest_unacked_s", "Oldest unacked", (v) => `${Math.round(v)} s`], ["disk_free_mb", "Disk free", (v) => `${Math.round(v)} MB`],
    ["mem_free_mb", "Memory free", (v) => `${Math.round(v)} MB`], ["uptime_s", "Up", (v) => `${(v / 3600).toFixed(1)} h`],
    ["sw_version", "Software", String],
  ];
  const SHOWN = new Set(["device_id", "site_id", "site_name", "state", "status", "last_seen", "last_seen_at", "last_health_at",
    "clock_skew_s", "skew_s", "clock_suspect", "gallery_version", "site_gallery_version", "gallery_behind", "retired_at",
    "telemetry", "health", "last_health", "public_key", "gallery_confirmed_at", "created_at", "status_at",
    "received_at", "ts", "health_error", "health_error_at", "alarms", ...TELEMETRY.map(([k]) => k)]);

  function deviceView(d) {
    const tel = d.telemetry || d.health || d.last_health || {};
    const pick = (...keys) => {
      for (const key of keys) {
        if (d[key] !== undefined && d[key] !== null) return d[key];
        if (tel[key] !== undefined && tel[key] !== null) return tel[key];
      }
      return null;
    };
    const stateName = d.retired_at ? "retired" : pick("state", "status");
    return { d, tel, pick, state: typeof stateName === "string" ? stateName : null };
  }

  function otherFields(v) {
    const parts = [];
    for (const source of [v.d, v.tel]) {
      for (const [key, value] of Object.entries(source)) {
        if (SHOWN.has(key) || value === null || value === undefined || value === "") continue;
        parts.push(`${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`);
      }
    }
    return parts.length ? el("span", { class: "small" }, parts.join(" · ")) : null;
  }

  async function pageDevices(params, live) {
    const [data, clock] = await Promise.all([api("/devices"), api("/dashboard/clock")]);
    if (!live()) return;
    const views = data.items.map(deviceView);
    const counts = {};
    views.forEach((v) => { counts[v.state || "unknown"] = (counts[v.state || "unknown"] || 0) + 1; });
    const behind = views.filter((v) => v.d.gallery_behind && !v.d.retired_at).length;
    const alarmed = views.filter((v) => (v.d.alarms || []).length && !v.d.retired_at).length;
    $("devices-summary").textContent = `${count(views.length, "device")}: `
      + Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ") + (behind ? `; ${behind} behind on the gallery` : "")
      + (alarmed ? `; ${alarmed} with alarms` : "") + ".";
    const stateKind = { online: "ok", offline: "bad", stale: "warn", retired: "muted", "never seen": "muted" };
    const columns = [
      { label: "Device", value: (v) => v.d.device_id },
      { label: "Site", value: (v) => (v.d.site_name ? `${v.d.site_name} (${v.d.site_id})` : v.d.site_id) },
      { label: "State", value: (v) => {
        const problem = v.d.health_error
          ? el("div", { class: "small error-text", title: v.d.health_error_at ? when(v.d.health_error_at) : null },
            `last message refused: ${v.d.health_error}`) : null;
        return v.state || problem ? el("span", {}, v.state ? badge(stateKind[v.state] || "muted", v.state) : null, problem) : null;
      } },
      { label: "Alarms", value: (v) => {  // what the kiosk says needs a person, from its latest health
        const alarms = v.d.alarms || [];
        return alarms.length ? el("span", { class: "alarms" }, ...alarms.map((a) => el("div", { title: `since ${when(a.since)}` },
          badge("bad", a.kind), a.detail ? el("span", { class: "small" }, a.detail) : null))) : null;
      } },
      { label: "Last seen", value: (v) => {
        const seen = v.pick("last_seen", "last_seen_at", "last_health_at");
        return seen ? el("span", { title: when(seen) }, ago(seen, clock.now) || when(seen)) : null;
      } },
      { label: "Clock skew", cls: "num", value: (v) => {
        const skew = v.pick("clock_skew_s", "skew_s");
        if (skew === null || skew === undefined || !Number.isFinite(Number(skew))) return null;
        const text = `${Number(skew) > 0 ? "+" : ""}${Number(skew).toFixed(1)} s`;
        return v.pick("clock_suspect") ? badge("bad", text) : text;
      } },
      { label: "Gallery", title: "version the kiosk confirmed / its site's version", value: (v) => {
        const confirmed = v.d.gallery_version;
        const held = v.tel.gallery_version;  // what its last health message says it holds
        const site = v.d.site_gallery_version;
        const text = `${confirmed ?? "unconfirmed"}${site !== undefined && site !== null ? ` / ${site}` : ""}`;
        return el("span", {}, text, v.d.gallery_behind ? " " : null, v.d.gallery_behind ? badge("warn", "behind") : null,
          held !== undefined && held !== null && held !== confirmed ? el("span", { class: "small muted" }, ` holds ${held}`) : null);
      } },
      ...TELEMETRY.filter(([key]) => views.some((v) => v.pick(key) !== null))
        .map(([key, label, fmt]) => ({ label, cls: "num", value: (v) => (v.pick(key) === null ? null : fmt(v.pick(key))) })),
    ];
    if (views.some((v) => otherFields(v) !== null)) columns.push({ label: "Other", value: otherFields });
    fillTable($("devices-table"), columns, views, (v) => ({ device: v.d.device_id, state: v.state || "" }));
  }

  async function pageExceptions(params, live) {
    const last = isDate(params.get("to")) ? params.get("to") : state.clock.date;
    const first = isDate(params.get("from")) ? params.get("from") : addDays(last, -6);
    $("exc-from").value = first;
    $("exc-to").value = last;
    const unit = fillSelect($("exc-unit"), unitChoices(await units()), params.get("unit_id"), "All my units");
    if (!live()) return;
    const args = { from: first, to: last, unit_id: unit };
    const data = await api(`/reports/exceptions?${query(args)}`);
    if (!live()) return;
    setCsv("exc-csv", csvHref("/reports/exceptions", args));
    const byKind = {};
    data.items.forEach((e) => { byKind[e.kind] = (byKind[e.kind] || 0) + 1; });
    $("exc-summary").textContent = `${count(data.items.length, "exception")} from ${data.first} to ${data.last}`
      + (data.items.length ? `: ${Object.entries(byKind).map(([k, n]) => `${n} ${(EXCEPTION_LABEL[k] || k).toLowerCase()}`).join(", ")}.` : ".");
    fillTable($("exc-table"), [
      { label: "Date", cls: "nowrap", value: (e) => e.date },
      { label: "Staff no.", cls: "nowrap", value: (e) => employeeCell(e.employee, e.date) },
      { label: "Name", value: (e) => e.employee.name },
      { label: "Unit", cls: "nowrap", value: (e) => e.employee.unit_id },
      { label: "Exception", value: (e) => badge(e.kind, EXCEPTION_LABEL[e.kind] || e.kind) },
      { label: "Detail", value: (e) => e.detail },
    ], data.items, (e) => ({ employee: e.employee.employee_id, kind: e.kind }));
  }

  const dayColumns = (dayOf) => [
    { label: "Status", value: (r) => badge(dayOf(r).status, STATUS_LABEL[dayOf(r).status] || dayOf(r).status) },
    { label: "In", value: (r) => hhmm(dayOf(r).in_at) },
    { label: "Out", value: (r) => hhmm(dayOf(r).out_at) },
    { label: "Worked", value: (r) => minutes(dayOf(r).worked_min) },
    { label: "Exceptions", value: (r) => (dayOf(r).exceptions.length
      ? el("span", {}, dayOf(r).exceptions.map((k) => badge(k, EXCEPTION_LABEL[k] || k))) : null) },
    { label: "Sites", value: (r) => dayOf(r).sites.join(", ") },
    { label: "Notes", value: (r) => {
      const day = dayOf(r);
      const notes = [
        ...day.off_site.map((p) => `${p.site_id} ${hhmm(p.at)}${p.reason ? `: ${p.reason}` : ""}`),
        ...day.flagged.map((p) => `${p.site_id} ${hhmm(p.at)} flagged: ${p.flags.join(", ")}`),
      ];
      return notes.length ? el("span", { class: "small" }, notes.join("; ")) : null;
    } },
  ];

  async function pageDaily(params, live) {
    const day = isDate(params.get("date")) ? params.get("date") : state.clock.date;
    $("daily-date").value = day;
    const unit = fillSelect($("daily-unit"), unitChoices(await units()), params.get("unit_id"));
    if (!live()) return;
    if (!unit) {
      $("daily-summary").textContent = "You have no units.";
      return $("daily-table").replaceChildren();
    }
    const args = { unit_id: unit, date: day };
    const data = await api(`/reports/daily?${query(args)}`);
    if (!live()) return;
    setCsv("daily-csv", csvHref("/reports/daily", args));
    const counts = {};
    data.items.forEach((r) => { counts[r.day.status] = (counts[r.day.status] || 0) + 1; });
    $("daily-summary").textContent = `${count(data.items.length, "employee")} on ${data.date}`
      + (data.items.length ? `: ${Object.entries(counts).map(([k, n]) => `${n} ${(STATUS_LABEL[k] || k).toLowerCase()}`).join(", ")}.` : ".");
    fillTable($("daily-table"), [
      { label: "Staff no.", cls: "nowrap", value: (r) => employeeCell(r.employee, data.date) },
      { label: "Name", value: (r) => r.employee.name },
      { label: "Unit", cls: "nowrap", value: (r) => r.employee.unit_id },
      ...dayColumns((r) => r.day),
    ], data.items, (r) => ({ employee: r.employee.employee_id, status: r.day.status }));
  }

  const monthOf = (params) => (isMonth(params.get("month")) ? params.get("month") : state.clock.date.slice(0, 7));
  const totalColumns = [
    { label: "Working days", cls: "num", value: (r) => r.totals.working_days },
    { label: "P", title: "present", cls: "num", value: (r) => r.totals.present },
    { label: "L", title: "late", cls: "num", value: (r) => r.totals.late },
    { label: "H", title: "half day", cls: "num", value: (r) => r.totals.half_day },
    { label: "A", title: "absent", cls: "num", value: (r) => r.totals.absent },
    { label: "Present days", cls: "num strong", value: (r) => r.totals.present_days },
  ];

  async function pageMuster(params, live) {
    const month = monthOf(params);
    $("muster-month").value = month;
    const unit = fillSelect($("muster-unit"), unitChoices(await units()), params.get("unit_id"));
    if (!live() || !unit) return;
    const args = { unit_id: unit, month };
    const data = await api(`/reports/muster?${query(args)}`);
    if (!live()) return;
    setCsv("muster-csv", csvHref("/reports/muster", args));
    fillTable($("muster-table"), [
      { label: "Staff no.", cls: "nowrap", value: (r) => r.employee.employee_id },
      { label: "Name", value: (r) => r.employee.name },
      ...data.days.map((d, i) => ({ label: String(Number(d.slice(8))), title: d, cls: "code", blank: true, value: (r) => r.codes[i] })),
      ...totalColumns,
    ], data.items, (r) => ({ employee: r.employee.employee_id }));
  }

  async function pagePayroll(params, live) {
    const month = monthOf(params);
    $("payroll-month").value = month;
    const choices = (await ddos()).map((d) => [d.ddo_id, `${d.name} (${d.ddo_id})`]);
    const ddo = fillSelect($("payroll-ddo"), choices, params.get("ddo_id"));
    if (!live() || !ddo) return;
    const args = { ddo_id: ddo, month };
    const data = await api(`/reports/payroll?${query(args)}`);
    if (!live()) return;
    setCsv("payroll-csv", csvHref("/reports/payroll", args));
    fillTable($("payroll-table"), [
      { label: "Staff no.", cls: "nowrap", value: (r) => r.employee.employee_id },
      { label: "Name", value: (r) => r.employee.name },
      { label: "Unit", cls: "nowrap", value: (r) => r.employee.unit_id },
      { label: "Category", value: (r) => r.employee.category },
      ...totalColumns,
    ], data.items, (r) => ({ employee: r.employee.employee_id }));
  }

  async function pageHistory(params, live) {
    const own = state.me.role === "employee";
    const employee = own ? state.me.employee_id : (params.get("employee_id") || "").trim();
    const last = isDate(params.get("to")) ? params.get("to") : state.clock.date;
    const first = isDate(params.get("from")) ? params.get("from") : addDays(last, -29);
    const input = $("history-employee");
    input.value = employee || "";
    input.readOnly = own;
    $("history-from").value = first;
    $("history-to").value = last;
    if (!employee) {
      $("history-summary").textContent = own ? "Your account is not linked to a staff number." : "Enter a staff number.";
      $("history-csv").hidden = true;
      return $("history-table").replaceChildren();
    }
    const path = `/reports/employees/${encodeURIComponent(employee)}/history`;
    const data = await api(`${path}?${query({ from: first, to: last })}`);
    if (!live()) return;
    setCsv("history-csv", csvHref(path, { from: first, to: last }));
    const worked = data.items.filter((d) => ["present", "late", "half_day"].includes(d.status)).length;
    $("history-summary").textContent = `${data.employee_id}: ${count(worked, "day")} attended from ${data.first} to ${data.last}.`;
    fillTable($("history-table"), [{ label: "Date", cls: "nowrap", value: (d) => d.date }, ...dayColumns((d) => d)],
      [...data.items].reverse(), (d) => ({ date: d.date, status: d.status }));
  }

  const PAGES = {
    today: pageToday, devices: pageDevices, exceptions: pageExceptions, daily: pageDaily,
    muster: pageMuster, payroll: pagePayroll, history: pageHistory,
  };

  boot();
})();

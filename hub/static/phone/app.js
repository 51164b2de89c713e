/* The phone punch page: activation, login, punch with position and selfie.
 * The hub decides everything; this page only gathers position, a selfie and
 * a reason, and shows the answer (refusals come with English and Hindi text).
 * The device token that binds this phone lives in localStorage; the session
 * token in sessionStorage. */
"use strict";

const API = "/phone/api";
const KEYS = { device: "att.device", staff: "att.staff", lang: "att.lang", session: "att.session" };

const TEXT = {
  en: {
    title: "Attendance", activate_title: "Activate this phone", staff_number: "Staff number",
    send_code: "Send code", code_label: "Code from SMS", code_sent: "If this staff number has a registered mobile, a code was sent to it. No SMS in a few minutes? Contact your office.",
    verify: "Verify", new_password: "New password", repeat_password: "Repeat password",
    password_rules: "At least 10 characters with letters and digits; not your staff or mobile number.",
    set_password: "Set password", passwords_differ: "The two passwords differ.", login_title: "Log in",
    password: "Password", login: "Log in", reactivate: "New phone or forgot password? Activate again",
    sites_title: "Your sites", home: "home", inside: "inside", away: "{d} away", no_fence: "no location set",
    no_position: "Waiting for location…", position: "Your location (±{acc} m)",
    reason_label: "Reason for punching at another site", punch: "Punch", checking: "Checking…",
    logout: "Log out", camera_unavailable: "The camera is not available. Allow camera access.",
    location_unavailable: "Location is not available. Turn on location and allow access.",
    network_error: "No connection to the server. Try again.", request_invalid: "The request was not valid.",
    activated: "This phone is activated.", phone_blocked: "no phone punch", who: "{name} ({id})",
  },
  hi: {
    title: "उपस्थिति", activate_title: "यह फ़ोन सक्रिय करें", staff_number: "कर्मचारी नंबर",
    send_code: "कोड भेजें", code_label: "SMS में आया कोड", code_sent: "यदि इस कर्मचारी नंबर का मोबाइल पंजीकृत है, तो उस पर कोड भेजा गया है। कुछ मिनट में SMS न आए तो अपने कार्यालय से संपर्क करें।",
    verify: "पुष्टि करें", new_password: "नया पासवर्ड", repeat_password: "पासवर्ड दोबारा लिखें",
    password_rules: "कम से कम 10 अक्षर, अक्षर और अंक दोनों; आपका कर्मचारी या मोबाइल नंबर नहीं।",
    set_password: "पासवर्ड सेट करें", passwords_differ: "दोनों पासवर्ड अलग हैं।", login_title: "लॉग इन",
    password: "पासवर्ड", login: "लॉग इन करें", reactivate: "नया फ़ोन या पासवर्ड भूल गए? फिर से सक्रिय करें",
    sites_title: "आपकी साइटें", home: "मूल", inside: "अंदर", away: "{d} दूर", no_fence: "स्थान तय नहीं",
    no_position: "स्थान की प्रतीक्षा…", position: "आपका स्थान (±{acc} मी)",
    reason_label: "दूसरी साइट पर पंच करने का कारण", punch: "पंच करें", checking: "जाँच हो रही है…",
    logout: "लॉग आउट", camera_unavailable: "कैमरा उपलब्ध नहीं है। कैमरे की अनुमति दें।",
    location_unavailable: "स्थान उपलब्ध नहीं है। लोकेशन चालू करें और अनुमति दें।",
    network_error: "सर्वर से संपर्क नहीं हो पाया। फिर से प्रयास करें।", request_invalid: "अनुरोध मान्य नहीं था।",
    activated: "यह फ़ोन सक्रिय हो गया है।", phone_blocked: "फ़ोन पंच नहीं", who: "{name} ({id})",
  },
};

const $ = (id) => document.getElementById(id);
const state = { lang: localStorage.getItem(KEYS.lang) || "en", activation: null, setup: null, fix: null,
                sites: null, sitesSeq: 0, stream: null, watch: null, status: null, result: null };

function t(key, values = {}) {
  const text = (TEXT[state.lang] || TEXT.en)[key] || TEXT.en[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? values[name] : "?"));
}

/* --- language ------------------------------------------------------------ */

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = state.lang === "en" ? "हिंदी" : "English";
  if (state.status) showStatus(state.status);
  if (state.result) showResult(state.result);
  if (state.fix) showPosition();
  if (state.sites) renderSites(state.sites);
}

$("lang").addEventListener("click", () => {
  state.lang = state.lang === "en" ? "hi" : "en";
  localStorage.setItem(KEYS.lang, state.lang);
  applyLanguage();
});

/* --- talking to the hub ----------------------------------------------------- */

class Refusal extends Error {
  constructor(body, status) {
    super(body.reason || "request_invalid");
    this.reason = body.reason || "request_invalid";
    this.message_ = body.message || null;
    this.status = status;
  }
}

async function api(path, { method = "GET", json, form, auth = true } = {}) {
  const headers = {};
  const device = localStorage.getItem(KEYS.device);
  const session = sessionStorage.getItem(KEYS.session);
  if (device) headers["X-Phone-Device"] = device;
  if (auth && session) headers["Authorization"] = "Bearer " + session;
  let body;
  if (json) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form) body = form;
  let response;
  try {
    response = await fetch(API + path, { method, headers, body, cache: "no-store", credentials: "omit" });
  } catch (err) {
    throw new Refusal({ reason: "network_error" }, 0);
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Refusal(data, response.status);
  return data;
}

/* An answer to show: {kind: "ok"|"bad"|"info", key?, message?: {en, hi}, reason?} */
function messageText(m) {
  if (m.message) return m.message[state.lang] || m.message.en;
  return t(m.key || m.reason || "request_invalid", m.values || {});
}

function showStatus(m) {
  state.status = m;
  $("status").textContent = m ? messageText(m) : "";
  $("status").dataset.reason = m && m.reason ? m.reason : "";
}

function refusalMessage(err) {
  return { kind: "bad", reason: err.reason, message: err.message_, key: err.message_ ? null : err.reason };
}

function show(screen) {
  for (const id of ["screen-activate", "screen-login", "screen-punch"]) $(id).hidden = id !== screen;
  if (screen !== "screen-punch") stopDevices();
}

/* --- activation ---------------------------------------------------------------- */

function startActivation() {
  state.activation = state.setup = null;
  $("form-staff").hidden = false;
  $("form-code").hidden = $("form-password").hidden = true;
  $("staff").value = localStorage.getItem(KEYS.staff) || "";
  show("screen-activate");
}

$("form-staff").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const staff = $("staff").value.trim();
  try {
    const sent = await api("/activation", { method: "POST", json: { staff_number: staff }, auth: false });
    localStorage.setItem(KEYS.staff, staff);
    state.activation = sent.activation_id;
    $("code-sent").textContent = t("code_sent");
    $("form-code").hidden = false;
    showStatus(null);
    $("code").focus();
  } catch (err) { showStatus(refusalMessage(err)); }
});

$("form-code").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const ok = await api("/activation/verify", { method: "POST", auth: false,
      json: { activation_id: state.activation, code: $("code").value.trim() } });
    state.setup = ok.setup_token;
    $("form-staff").hidden = $("form-code").hidden = true;
    $("form-password").hidden = false;
    showStatus(null);
  } catch (err) { showStatus(refusalMessage(err)); }
});

$("form-password").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if ($("password").value !== $("password2").value) { showStatus({ kind: "bad", key: "passwords_differ" }); return; }
  try {
    const done = await api("/activation/complete", { method: "POST", auth: false,
      json: { activation_id: state.activation, setup_token: state.setup, password: $("password").value } });
    localStorage.setItem(KEYS.device, done.device_token);
    sessionStorage.setItem(KEYS.session, done.session_token);
    $("password").value = $("password2").value = "";
    showStatus({ kind: "ok", key: "activated" });
    await openPunch();
  } catch (err) { showStatus(refusalMessage(err)); }
});

/* --- login ------------------------------------------------------------------------ */

function startLogin() {
  $("login-staff").value = localStorage.getItem(KEYS.staff) || "";
  $("login-password").value = "";
  show("screen-login");
}

$("form-login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const staff = $("login-staff").value.trim();
  try {
    const done = await api("/login", { method: "POST", auth: false,
      json: { staff_number: staff, password: $("login-password").value } });
    localStorage.setItem(KEYS.staff, staff);
    sessionStorage.setItem(KEYS.session, done.session_token);
    $("login-password").value = "";
    showStatus(null);
    await openPunch();
  } catch (err) {
    showStatus(refusalMessage(err));
    if (err.reason === "phone_not_bound") startActivation();
  }
});

$("reactivate").addEventListener("click", () => { showStatus(null); startActivation(); });

$("logout").addEventListener("click", async () => {
  try { await api("/logout", { method: "POST" }); } catch (err) { /* the session ends here anyway */ }
  sessionStorage.removeItem(KEYS.session);
  showStatus(null);
  showResult(null);
  startLogin();
});

/* When a call says the login is gone, go back to the right screen. */
function handleAuthLoss(err) {
  if (!["session_missing", "session_invalid", "session_expired", "phone_not_bound"].includes(err.reason)) return false;
  sessionStorage.removeItem(KEYS.session);
  showStatus(refusalMessage(err));
  if (err.reason === "phone_not_bound") { localStorage.removeItem(KEYS.device); startActivation(); } else startLogin();
  return true;
}

/* --- punch screen: position, sites, camera ----------------------------------------- */

async function openPunch() {
  const me = await api("/me");
  $("who").textContent = t("who", { name: me.name, id: me.employee_id });
  showResult(null);
  show("screen-punch");
  startCamera();
  if (navigator.geolocation && state.watch === null) {
    state.watch = navigator.geolocation.watchPosition(onPosition, () => showStatus({ kind: "bad", key: "location_unavailable" }),
      { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
  }
  await refreshSites();
}

function stopDevices() {
  if (state.watch !== null) { navigator.geolocation.clearWatch(state.watch); state.watch = null; }
  if (state.stream) { state.stream.getTracks().forEach((track) => track.stop()); state.stream = null; }
}

async function startCamera() {
  if (state.stream) return;
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ audio: false,
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } } });
    $("video").srcObject = state.stream;
  } catch (err) { showStatus({ kind: "bad", key: "camera_unavailable" }); }
}

/* Keep the newest fix; true when it moved (so the site list is worth fetching again). */
function setFix(pos) {
  const moved = !state.fix || Math.abs(state.fix.lat - pos.coords.latitude) > 1e-5
    || Math.abs(state.fix.lon - pos.coords.longitude) > 1e-5;
  state.fix = { lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy: pos.coords.accuracy };
  showPosition();
  return moved;
}

function onPosition(pos) { if (setFix(pos)) refreshSites(); }

function showPosition() { $("position").textContent = t("position", { acc: Math.round(state.fix.accuracy) }); }

/* A fix at most 10 s old: the high-accuracy watch keeps one fresh while the phone moves. */
function currentPosition() {
  return new Promise((resolve, reject) => navigator.geolocation.getCurrentPosition(resolve, reject,
    { enableHighAccuracy: true, maximumAge: 10000, timeout: 20000 }));
}

/* Fetch the site list for the newest fix; an older answer arriving late is dropped. */
async function refreshSites() {
  const q = state.fix ? `?lat=${state.fix.lat}&lon=${state.fix.lon}&accuracy=${state.fix.accuracy}` : "";
  const seq = ++state.sitesSeq;
  try {
    const data = await api("/sites" + q);
    if (seq === state.sitesSeq) renderSites(data);
  } catch (err) { if (!handleAuthLoss(err)) showStatus(refusalMessage(err)); }
}

function distanceText(m) { return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`; }

function renderSites(data) {
  state.sites = data;
  const list = $("sites");
  list.replaceChildren();
  for (const site of data.items) {
    const li = document.createElement("li");
    li.dataset.siteId = site.site_id;
    li.classList.toggle("inside", site.inside);
    li.classList.toggle("blocked", site.phone !== null);
    const name = document.createElement("span");
    name.textContent = site.name + (site.home ? ` · ${t("home")}` : "");
    const where = document.createElement("span");
    where.className = "tag";
    where.textContent = !site.has_fence ? t("no_fence") : site.distance_m === null ? ""
      : site.inside ? t("inside") : t("away", { d: distanceText(site.distance_m) });
    if (site.phone !== null) where.textContent += ` · ${t("phone_blocked")}`;
    li.append(name, where);
    list.append(li);
  }
  $("reason-row").hidden = !data.needs_reason;
}

/* --- the punch ------------------------------------------------------------------------ */

function captureSelfie() {
  const video = $("video");
  if (!state.stream || video.readyState < 2 || !video.videoWidth) return Promise.resolve(null);
  const scale = Math.min(1, 640 / Math.max(video.videoWidth, video.videoHeight));
  const canvas = $("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
}

function showResult(m) {
  state.result = m;
  const box = $("result");
  box.hidden = !m;
  if (!m) { box.removeAttribute("data-state"); box.removeAttribute("data-reason"); return; }
  box.textContent = messageText(m);
  box.dataset.state = m.kind === "ok" ? "accepted" : m.kind === "busy" ? "busy" : "refused";
  box.dataset.reason = m.reason || "";
}

$("punch-btn").addEventListener("click", async () => {
  const button = $("punch-btn");
  button.disabled = true;
  showResult({ kind: "busy", key: "checking" });
  try {
    let pos;
    try { pos = await currentPosition(); } catch (err) { showResult({ kind: "bad", reason: "location_unavailable" }); return; }
    setFix(pos);
    await refreshSites();
    const selfie = await captureSelfie();
    if (!selfie) { showResult({ kind: "bad", reason: "camera_unavailable" }); return; }
    const { nonce } = await api("/nonce", { method: "POST" });
    const form = new FormData();
    form.append("lat", String(state.fix.lat));
    form.append("lon", String(state.fix.lon));
    form.append("accuracy", String(state.fix.accuracy));
    form.append("nonce", nonce);
    if (!$("reason-row").hidden) form.append("reason", $("reason").value);
    form.append("selfie", selfie, "selfie.jpg");
    const done = await api("/punch", { method: "POST", form });
    showResult({ kind: "ok", message: done.message, reason: "" });
    $("reason").value = "";
  } catch (err) {
    if (!handleAuthLoss(err)) showResult(refusalMessage(err));
  } finally {
    button.disabled = false;
  }
});

/* --- start ------------------------------------------------------------------------------ */

async function start() {
  applyLanguage();
  if (!localStorage.getItem(KEYS.device)) { startActivation(); return; }
  if (!sessionStorage.getItem(KEYS.session)) { startLogin(); return; }
  try { await openPunch(); } catch (err) { if (!handleAuthLoss(err)) { showStatus(refusalMessage(err)); startLogin(); } }
}

start();

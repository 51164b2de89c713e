/* The phone punch page: activation, login, punch with position and a live check.
 * The hub decides everything; this page only gathers position, a short burst of
 * frames while it shows the challenge the hub drew with the nonce (blink, or turn
 * the head left or right; a single selfie when the hub's challenge is off) and
 * a reason, and shows the answer (refusals come with English and Hindi text).
 * Its words are the phone.* keys of the shared catalogue, loaded by /static/common/i18n.js.
 * The device token that binds this phone lives in localStorage; the session
 * token in sessionStorage. */
"use strict";

const API = "/phone/api";
const KEYS = { device: "att.device", staff: "att.staff", lang: "att.lang", session: "att.session",
               notice: "att.notice" };  // the notice version this phone has shown and the person agreed to

const $ = (id) => document.getElementById(id);
const CAMERA_TIMEOUT_S = 15;
const LOCATION_TIMEOUT_S = 30;

/* The phone's own language until the user picks one: Hindi when it prefers Hindi to English. */
function phoneLanguage() {
  const preferred = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  for (const tag of preferred) {
    const primary = String(tag).toLowerCase().split("-")[0];
    if (primary === "hi" || primary === "en") return primary;
  }
  return "en";
}

const state = { lang: localStorage.getItem(KEYS.lang) || phoneLanguage(), activation: null, setup: null, fix: null,
                sites: null, sitesSeq: 0, stream: null, watch: null, status: null, result: null,
                camera: "off", cameraNote: null, locationNote: null, locationTimer: null, busy: false, notice: null };

/* The page's words come from the hub's one catalogue (phone.* keys, /static/common/i18n.js); a reason the
 * catalogue does not know (a new hub refusal) is shown as the hub named it. */
function t(key, values = {}) {
  const full = `phone.${key}`;
  const text = I18n.t(full, values);
  return text === full ? key : text.replace(/\{(\w+)\}/g, "?");
}

/* --- language ------------------------------------------------------------ */

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = state.lang === "en" ? "हिंदी" : "English";
  if (state.status) showStatus(state.status);
  if (state.result) showResult(state.result);
  if (state.fix) showPosition();
  if (state.locationNote) showLocationNote(state.locationNote);
  if (state.sites) renderSites(state.sites);
  if (state.notice) renderNotice(state.notice);
  showCameraNote(state.cameraNote);
  renderPunchButton();
  if (typeof regRender === "function") regRender();  // regularisation.js, loaded after this script
}

$("lang").addEventListener("click", async () => {
  const wanted = state.lang === "en" ? "hi" : "en";
  try { await I18n.load(wanted); } catch (err) { return; }   // no catalogue: stay in the language shown
  state.lang = wanted;
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
  for (const id of ["screen-activate", "screen-login", "screen-notice", "screen-punch"]) $(id).hidden = id !== screen;
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

/* --- first use: the notice (what is kept, why, how long, who sees it) and the person's consent --------- */

const NOTICE_KEYS = ["what", "why", "how_long", "who", "rights"];

function renderNotice(info) {
  const values = { version: info.notice_version, photo_days: info.photo_retention_days };
  $("notice-title").textContent = I18n.t("common.notice.title", values);
  $("notice-text").replaceChildren(...NOTICE_KEYS.map((key) => {
    const p = document.createElement("p");
    p.textContent = I18n.t(`common.notice.${key}`, values);
    return p;
  }));
  $("notice-agree").textContent = I18n.t("common.notice.agree");
}

/* True when the notice must be shown first: no consent on record, or this phone has not shown this version. */
async function needsNotice() {
  const info = await api("/consent");
  if (info.given && localStorage.getItem(KEYS.notice) === info.notice_version) return false;
  state.notice = info;
  renderNotice(info);
  show("screen-notice");
  return true;
}

/* The hub refused a punch for want of consent (withdrawn since, or this phone's record is stale): say so
 * above the notice, and show the notice again. */
async function showNoticeAgain(err) {
  localStorage.removeItem(KEYS.notice);
  showStatus(refusalMessage(err));
  try { await needsNotice(); } catch (e) { if (!handleAuthLoss(e)) showStatus(refusalMessage(e)); }
}

$("notice-agree").addEventListener("click", async () => {
  $("notice-agree").disabled = true;
  try {
    const info = await api("/consent", { method: "POST", json: { language: state.lang } });
    localStorage.setItem(KEYS.notice, info.notice_version);
    state.notice = null;
    showStatus(null);
    await openPunch();
  } catch (err) {
    if (!handleAuthLoss(err)) showStatus(refusalMessage(err));
  } finally {
    $("notice-agree").disabled = false;
  }
});

async function openPunch() {
  if (await needsNotice()) return;
  const me = await api("/me");
  $("who").textContent = t("who", { name: me.name, id: me.employee_id });
  showResult(null);
  show("screen-punch");
  startCamera();
  startLocation();
  await refreshSites();
  if (typeof regLoad === "function") await regLoad();
}

function stopDevices() {
  if (state.watch !== null) { navigator.geolocation.clearWatch(state.watch); state.watch = null; }
  clearTimeout(state.locationTimer);
  if (state.stream) { state.stream.getTracks().forEach((track) => track.stop()); state.stream = null; }
  state.camera = "off";
  renderPunchButton();
}

/* Punch is offered only once the video plays: before that there is no selfie to take. */
function renderPunchButton() {
  const button = $("punch-btn");
  const key = state.camera === "ready" ? "punch" : state.camera === "failed" ? "camera_off" : "camera_starting";
  button.dataset.i18n = key;
  button.textContent = t(key);
  button.disabled = state.busy || state.camera !== "ready";
}

function showCameraNote(m) {
  state.cameraNote = m;
  $("camera-note").hidden = !m;
  $("camera-note").textContent = m ? messageText(m) : "";
  $("camera-note").dataset.reason = m ? m.key : "";
}

function cameraFailed(key, values) {
  if (state.camera === "ready") return;
  state.camera = "failed";
  showCameraNote({ kind: "bad", key, values });
  renderPunchButton();
}

function withTimeout(promise, seconds, onTimeout) {
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(onTimeout()), seconds * 1000); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function startCamera() {
  if (state.stream || state.camera === "starting") return;
  state.camera = "starting";
  showCameraNote(null);
  renderPunchButton();
  const video = $("video");
  try {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error("no camera API");
    const timedOut = () => Object.assign(new Error("timeout"), { name: "TimeoutError" });
    const request = navigator.mediaDevices.getUserMedia({ audio: false,
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } } });
    request.then((late) => { if (state.camera !== "starting" && late !== state.stream) late.getTracks().forEach((tr) => tr.stop()); },
      () => {});
    state.stream = await withTimeout(request, CAMERA_TIMEOUT_S, timedOut);
    video.srcObject = state.stream;
    await withTimeout(new Promise((resolve) => {
      if (video.readyState >= 2 && video.videoWidth && !video.paused) resolve();
      else video.addEventListener("playing", resolve, { once: true });
      video.play().catch(() => {});
    }), CAMERA_TIMEOUT_S, timedOut);
    if (!state.stream) return;  // left the punch screen meanwhile
    state.camera = "ready";
    renderPunchButton();
  } catch (err) {
    if (err.name === "NotAllowedError" || err.name === "SecurityError") cameraFailed("camera_denied");
    else if (err.name === "TimeoutError") cameraFailed("camera_timeout", { s: CAMERA_TIMEOUT_S });
    else cameraFailed("camera_unavailable");
  }
}

/* --- position -------------------------------------------------------------------------- */

function locationError(err) {
  if (err && err.code === 1) return "location_denied";
  if (err && err.code === 3) return "location_timeout";
  return "location_unavailable";
}

function showLocationNote(m) {
  state.locationNote = m;
  const where = $("position");
  if (m) {
    where.textContent = messageText(m);
    where.dataset.state = "error";
    where.dataset.reason = m.key;
  } else {
    where.dataset.state = state.fix ? "fix" : "waiting";
    where.dataset.reason = "";
  }
}

function startLocation() {
  if (!navigator.geolocation) { showLocationNote({ kind: "bad", key: "location_unavailable" }); return; }
  if (state.watch !== null) return;
  clearTimeout(state.locationTimer);
  state.locationNote = null;  // a note from an earlier visit of this screen is stale now
  if (state.fix) showPosition(); else { $("position").textContent = t("no_position"); showLocationNote(null); }
  // The browser's own timeout does not count the time a permission prompt stays open: ours does.
  state.locationTimer = setTimeout(() => {
    if (!state.fix) showLocationNote({ kind: "bad", key: "location_timeout", values: { s: LOCATION_TIMEOUT_S } });
  }, LOCATION_TIMEOUT_S * 1000);
  state.watch = navigator.geolocation.watchPosition(onPosition, (err) => {
    if (!state.fix || err.code === 1) {
      const key = locationError(err);
      showLocationNote({ kind: "bad", key, values: { s: LOCATION_TIMEOUT_S } });
    }
  }, { enableHighAccuracy: true, maximumAge: 10000, timeout: LOCATION_TIMEOUT_S * 1000 });
}

/* Keep the newest fix; true when it moved (so the site list is worth fetching again). */
function setFix(pos) {
  const moved = !state.fix || Math.abs(state.fix.lat - pos.coords.latitude) > 1e-5
    || Math.abs(state.fix.lon - pos.coords.longitude) > 1e-5 || state.fix.accuracy !== pos.coords.accuracy;
  state.fix = { lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy: pos.coords.accuracy };
  clearTimeout(state.locationTimer);
  state.locationNote = null;
  showPosition();
  return moved;
}

function onPosition(pos) { if (setFix(pos)) refreshSites(); }

function showPosition() {
  if (state.locationNote) return;
  $("position").textContent = t("position", { acc: Math.round(state.fix.accuracy) });
  showLocationNote(null);
}

/* A fix at most 10 s old: the high-accuracy watch keeps one fresh while the phone moves. */
function currentPosition() {
  const ask = new Promise((resolve, reject) => navigator.geolocation.getCurrentPosition(resolve, reject,
    { enableHighAccuracy: true, maximumAge: 10000, timeout: 20000 }));
  return withTimeout(ask, 25, () => ({ code: 3 }));
}

/* Fetch the site list for the newest fix; an older answer arriving late is dropped. */
async function refreshSites() {
  const fix = state.fix;
  const q = fix ? `?lat=${fix.lat}&lon=${fix.lon}&accuracy=${fix.accuracy}` : "";
  const seq = ++state.sitesSeq;
  try {
    const data = await api("/sites" + q);
    if (seq === state.sitesSeq) renderSites({ ...data, fix });
  } catch (err) { if (!handleAuthLoss(err)) showStatus(refusalMessage(err)); }
}

function distanceText(m) { return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`; }

/* Where a punch would stand, before it is tried: "ok", "poor_accuracy", "no_site" or "" (no fix yet). */
function placeOf(data) {
  if (!data.fix || !data.items.some((site) => site.distance_m !== null)) return { state: "" };
  if (data.fix.accuracy > data.max_accuracy_m) {
    return { state: "poor_accuracy", key: "poor_accuracy",
             values: { acc: Math.round(data.fix.accuracy), max: Math.round(data.max_accuracy_m) } };
  }
  if (data.punch_site_id === null) {
    const nearest = data.items.find((site) => site.site_id === data.nearest_site_id);
    return nearest ? { state: "no_site", key: "no_site", values: { name: nearest.name, d: distanceText(nearest.distance_m) } }
      : { state: "no_site", key: "no_site_anywhere" };
  }
  const site = data.items.find((s) => s.site_id === data.punch_site_id);
  return { state: "ok", key: "at_site", values: { name: site ? site.name : data.punch_site_id } };
}

function renderSites(data) {
  state.sites = data;
  const place = placeOf(data);
  const rough = place.state === "poor_accuracy";
  const list = $("sites");
  list.replaceChildren();
  for (const site of data.items) {
    const li = document.createElement("li");
    li.dataset.siteId = site.site_id;
    li.classList.toggle("inside", site.inside && !rough);  // a rough fix proves no one is inside
    li.classList.toggle("blocked", site.phone !== null);
    const name = document.createElement("span");
    name.textContent = site.name + (site.home ? ` · ${t("home")}` : "");
    const where = document.createElement("span");
    where.className = "tag";
    const d = site.distance_m === null ? "" : distanceText(site.distance_m);
    where.textContent = !site.has_fence ? t("no_fence") : site.distance_m === null ? ""
      : rough ? t("near", { d }) : site.inside ? t("inside") : t("away", { d });
    if (site.phone !== null) where.textContent += ` · ${t("phone_blocked")}`;
    li.append(name, where);
    list.append(li);
  }
  const note = $("where");
  note.hidden = !place.state;
  note.dataset.state = place.state;
  note.textContent = place.state ? t(place.key, place.values) : "";
  $("reason-row").hidden = !(data.needs_reason && place.state === "ok");
}

/* --- the punch ------------------------------------------------------------------------ */

/* One video frame as a JPEG blob, at most maxSide pixels on its longer side (null without a playing camera). */
function captureFrame(maxSide = 640, quality = 0.9) {
  const video = $("video");
  if (!state.stream || video.readyState < 2 || !video.videoWidth) return Promise.resolve(null);
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/* Resolves on the camera's next new frame (at most 250 ms later, or at once where the browser cannot tell). */
function nextVideoFrame() {
  const video = $("video");
  if (!video.requestVideoFrameCallback) return Promise.resolve();
  return Promise.race([new Promise((resolve) => video.requestVideoFrameCallback(() => resolve())), sleep(250)]);
}

/* The challenge on screen while `burst.frames` frames are taken `burst.interval_ms` apart: [{blob, ms}]. */
async function recordBurst(challenge, burst) {
  const prompt = $("challenge");
  prompt.textContent = t(`challenge_${challenge}`);
  prompt.dataset.challenge = challenge;
  prompt.hidden = false;
  prompt.scrollIntoView({ block: "nearest" });
  const frames = [];
  const first = performance.now();
  try {
    for (let i = 0; i < burst.frames; i++) {
      const due = first + i * burst.interval_ms;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      await nextVideoFrame();  // a frame the camera has not shown before: never the same picture twice
      const at = performance.now();
      const blob = await captureFrame(burst.max_side, 0.85);
      if (!blob) return null;
      frames.push({ blob, ms: Math.round(at - first) });
    }
  } finally {
    prompt.hidden = true;
  }
  return frames;
}

function showResult(m) {
  state.result = m;
  const box = $("result");
  box.hidden = !m;
  if (!m) { box.removeAttribute("data-state"); box.removeAttribute("data-reason"); return; }
  box.textContent = messageText(m);
  box.dataset.state = m.kind === "ok" ? "accepted" : m.kind === "busy" ? "busy" : "refused";
  box.dataset.reason = m.reason || "";
  if (!$("screen-punch").hidden) box.scrollIntoView({ block: "nearest" });
}

$("punch-btn").addEventListener("click", async () => {
  if (state.busy || state.camera !== "ready") return;
  state.busy = true;
  renderPunchButton();
  showResult({ kind: "busy", key: "checking" });
  try {
    let pos;
    try { pos = await currentPosition(); } catch (err) {
      showResult({ kind: "bad", reason: locationError(err), values: { s: LOCATION_TIMEOUT_S } });
      return;
    }
    setFix(pos);
    await refreshSites();
    const { nonce, challenge, burst } = await api("/nonce", { method: "POST" });
    let frames = null;
    let selfie = null;
    if (challenge) frames = await recordBurst(challenge, burst);
    else selfie = await captureFrame();
    if (!frames && !selfie) { showResult({ kind: "bad", reason: "camera_unavailable" }); return; }
    showResult({ kind: "busy", key: "checking" });
    const form = new FormData();
    form.append("lat", String(state.fix.lat));
    form.append("lon", String(state.fix.lon));
    form.append("accuracy", String(state.fix.accuracy));
    form.append("nonce", nonce);
    if (!$("reason-row").hidden) form.append("reason", $("reason").value);
    if (frames) {
      frames.forEach((f, i) => form.append("frame", f.blob, `frame-${i}.jpg`));
      form.append("frame_ms", frames.map((f) => f.ms).join(","));
    } else {
      form.append("selfie", selfie, "selfie.jpg");
    }
    const done = await api("/punch", { method: "POST", form });
    showResult({ kind: "ok", message: done.message, reason: "" });
    $("reason").value = "";
  } catch (err) {
    if (handleAuthLoss(err)) return;
    showResult(refusalMessage(err));
    if (err.reason === "consent_missing") await showNoticeAgain(err);
  } finally {
    state.busy = false;
    renderPunchButton();
  }
});

/* --- start ------------------------------------------------------------------------------ */

async function start() {
  try { state.lang = await I18n.load(state.lang); } catch (err) { /* the English in the page stays */ }
  applyLanguage();
  if (!localStorage.getItem(KEYS.device)) { startActivation(); return; }
  if (!sessionStorage.getItem(KEYS.session)) { startLogin(); return; }
  try { await openPunch(); } catch (err) { if (!handleAuthLoss(err)) { showStatus(refusalMessage(err)); startLogin(); } }
}

start();

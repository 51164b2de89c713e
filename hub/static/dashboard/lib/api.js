// Talking to the hub: every page reads and writes through the documented JSON API (/api/v1),
// and every failure becomes an ApiError carrying the HTTP status and, for 422s, which field.
import { t } from "./i18n.js";

export const API = "/api/v1";

export class ApiError extends Error {
  /** ``fields``: {field name: message} when the hub named the fields it refused. */
  constructor(status, detail, fields = {}) {
    super(detail);
    this.status = status;
    this.fields = fields;
  }
}

/** The field a 422 detail item is about: its last location part ("body", "name" -> "name"). */
function fieldOf(item) {
  const loc = (item.loc || []).filter((part) => part !== "body" && part !== "query");
  return loc.length ? String(loc[loc.length - 1]) : "";
}

function cleanMessage(msg) {
  return String(msg || "").replace(/^Value error, /, "");
}

/** (text, {field: message}) from a FastAPI error body: a string, a validation list or {message, fields}. */
export function detailOf(body) {
  const detail = body && body.detail;
  if (typeof detail === "string") return [detail, {}];
  if (Array.isArray(detail)) {
    const fields = {};
    for (const item of detail) {
      const name = fieldOf(item);
      if (name && !(name in fields)) fields[name] = cleanMessage(item.msg);
    }
    return [detail.map((e) => `${fieldOf(e) || "input"}: ${cleanMessage(e.msg)}`).join("; "), fields];
  }
  if (detail && typeof detail === "object") return [String(detail.message || ""), detail.fields || {}];
  return ["", {}];
}

async function answer(response) {
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const [text, fields] = detailOf(data);
    throw new ApiError(response.status, text || response.statusText, fields);
  }
  return data;
}

/** JSON in, JSON out; ``path`` is under /api/v1. */
export async function api(path, { method = "GET", body } = {}) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, options);
  } catch (err) {
    throw new ApiError(0, t("dashboard.error.no_answer"));
  }
  return answer(response);
}

/**
 * POST a multipart form (file uploads) with upload progress: ``onProgress(sent, total)``.
 * XMLHttpRequest rather than fetch, because only it reports how much of a large file has gone.
 */
export function upload(path, formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", API + path);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    if (onProgress) xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.total || 0));
    xhr.addEventListener("error", () => reject(new ApiError(0, t("dashboard.error.no_answer"))));
    xhr.addEventListener("load", () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (err) { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(data);
      const [text, fields] = detailOf(data);
      return reject(new ApiError(xhr.status, text || xhr.statusText, fields));
    });
    xhr.send(formData);
  });
}

/** A query string of the non-empty ``params``. */
export function query(params) {
  const q = new URLSearchParams();
  Object.entries(params).forEach(([k, v]) => { if (v !== null && v !== undefined && v !== "") q.set(k, v); });
  return q.toString();
}

export const csvHref = (path, params) => `${API}${path}?${query({ ...params, format: "csv" })}`;

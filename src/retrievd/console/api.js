// The public API, as the SDK calls it: JSON requests with a bearer key, multipart uploads, SSE streams.

const BASE = new URL("v1/", document.baseURI);
const KEY = "retrievd.apiKey";

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  signIn(key) {
    sessionStorage.setItem(KEY, key);
  },
  signOut() {
    sessionStorage.clear(); // the key, and the conversation this tab was in
  },
};

// An API failure, with a title and message meant for people rather than programs.
export class ApiError extends Error {
  constructor(status, title, message, code = null) {
    super(message);
    this.status = status;
    this.title = title;
    this.code = code;
  }
}

const TITLES = {
  400: "The request was not accepted.",
  401: "Your API key was not accepted.",
  403: "Your API key is not allowed to do this.",
  404: "Not found: it may have been deleted.",
  409: "This conflicts with the current state.",
  413: "Too large.",
  429: "Too many requests right now.",
};

function apiError(status, body, retryAfter) {
  const err = (body && body.error) || {};
  let message = err.message || "";
  if (status === 401) message = `${message} Check the key, or ask your administrator for a new one.`.trim();
  if (status === 429 && retryAfter) message = `Wait ${retryAfter} seconds and try again. ${message}`;
  if (status >= 500) message = `Try again in a moment; if it keeps happening, tell your administrator. ${message}`;
  const title = TITLES[status] || (status >= 500 ? "The server had a problem." : `The server answered ${status}.`);
  return new ApiError(status, title, message, err.code || null);
}

const unreachable = () =>
  new ApiError(0, "Cannot reach the retrievd server.", "Check that it is running and that this computer can reach it.");

function url(path, query) {
  const u = new URL(path.replace(/^\//, ""), BASE);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) u.searchParams.append(name, v);
  }
  return u;
}

function headers(json) {
  return { Authorization: `Bearer ${session.key}`, ...(json ? { "Content-Type": "application/json" } : {}) };
}

async function send(method, path, body, query) {
  let res;
  try {
    res = await fetch(url(path, query), { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw unreachable();
  }
  if (!res.ok) {
    const parsed = await res.json().catch(() => null);
    throw apiError(res.status, parsed, res.headers.get("retry-after"));
  }
  return res;
}

export async function api(method, path, body, query) {
  return (await send(method, path, body, query)).json();
}

export const get = (path, query) => api("GET", path, undefined, query);
export const post = (path, body = {}, query) => api("POST", path, body, query);
export const del = (path) => api("DELETE", path);

// A file the API serves (a plot, a results table) as a Blob: <img src> cannot send the key.
export async function blob(path) {
  return (await send("GET", path)).blob();
}

// Every page of a list endpoint (`after` cursors).
export async function all(path, query = {}) {
  const items = [];
  let after;
  for (;;) {
    const page = await get(path, { limit: 100, ...query, after });
    items.push(...page.data);
    if (!page.has_more || !page.data.length) return items;
    after = page.last_id;
  }
}

// Upload one file to /files; `onProgress(fraction)` follows the bytes sent.
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url("files"));
    xhr.setRequestHeader("Authorization", `Bearer ${session.key}`);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(unreachable());
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(apiError(xhr.status, xhr.response, xhr.getResponseHeader("retry-after")));
    };
    const form = new FormData();
    form.append("purpose", "assistants");
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

// POST with `stream: true` and call `onEvent(name, data)` for each server-sent event, in order.
export async function stream(path, body, onEvent) {
  const res = await send("POST", path, { ...body, stream: true });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length && data.join("\n") !== "[DONE]") onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

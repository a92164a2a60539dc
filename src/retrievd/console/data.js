// Look-ups several pages share, cached for the session: file names and sizes, a store file's chunks.

import { all, get } from "./api.js";

const files = new Map();
const chunks = new Map();

export function forget() {
  files.clear();
  chunks.clear();
}

// The file object (name, bytes); a file deleted since shows its id.
export function fileInfo(fileId) {
  if (!files.has(fileId)) {
    files.set(fileId, get(`files/${fileId}`).catch(() => ({ id: fileId, filename: fileId, bytes: null })));
  }
  return files.get(fileId);
}

// A completed store file's parsed chunks: [{type, text, page}], in order.
export function fileChunks(storeId, fileId) {
  const key = `${storeId}/${fileId}`;
  if (!chunks.has(key)) {
    const request = get(`vector_stores/${storeId}/files/${fileId}/content`).then((page) => page.data);
    request.catch(() => chunks.delete(key));
    chunks.set(key, request);
  }
  return chunks.get(key);
}

// Where a passage (a search result's or a citation's text) sits: its store, chunk number and page.
export async function locate(storeIds, fileId, text) {
  for (const storeId of storeIds) {
    const items = await fileChunks(storeId, fileId).catch(() => null);
    const index = items ? items.findIndex((c) => c.text === text) : -1;
    if (index !== -1) return { storeId, index, page: items[index].page ?? null };
  }
  return null;
}

// An attribute value as typed: numbers and true/false are kept as such, so "greater than" filters work.
export function attributeValue(text) {
  const value = text.trim();
  if (value === "true" || value === "false") return value === "true";
  if (value !== "" && !Number.isNaN(Number(value))) return Number(value);
  return value;
}

export const listStores = () => all("vector_stores");

export function storeLink(storeId) {
  return `#/stores/${encodeURIComponent(storeId)}`;
}

export function fileLink(storeId, fileId, chunk) {
  const base = `${storeLink(storeId)}/files/${encodeURIComponent(fileId)}`;
  return chunk === undefined ? base : `${base}?chunk=${chunk + 1}`;
}

// A store file's failure, in words: what went wrong in general, then the parser's own sentence.
const FAILURES = {
  unsupported_file: "This kind of file cannot be read.",
  invalid_file: "This file could not be read.",
  server_error: "The server failed while reading this file.",
};

export function failureText(lastError) {
  if (!lastError) return "";
  return `${FAILURES[lastError.code] || "Reading this file failed."} ${lastError.message || ""}`.trim();
}

export const STATUS_WORDS = {
  in_progress: "Reading…",
  completed: "Ready",
  failed: "Failed",
  cancelled: "Cancelled",
};

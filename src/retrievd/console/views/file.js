// One document in a store: its status, attributes (editable) and the chunks it was parsed into.

import { del, get, post } from "../api.js";
import { STATUS_WORDS, attributeValue, failureText, fileChunks, fileInfo, storeLink } from "../data.js";
import { bytes, clear, date, errorBox, h, highlighted, newId, notify, terms } from "../dom.js";
import { heading } from "./page.js";

export async function filePage(ctx, storeId, fileId) {
  const { view, params } = ctx;
  const [store, file, info] = await Promise.all([
    get(`vector_stores/${storeId}`),
    get(`vector_stores/${storeId}/files/${fileId}`),
    fileInfo(fileId),
  ]);
  view.append(
    h(
      "nav",
      { "aria-label": "Breadcrumb", class: "crumbs" },
      h("a", { href: "#/stores" }, "Vector stores"),
      " › ",
      h("a", { href: storeLink(storeId) }, store.name || store.id),
      " › ",
    ),
  );
  heading(view, info.filename);
  const items = file.status === "completed" ? await fileChunks(storeId, fileId) : [];
  const status = [h("span", { class: `badge ${file.status}` }, STATUS_WORDS[file.status] || file.status)];
  if (file.status === "failed") status.push(" ", failureText(file.last_error));
  if (file.status === "in_progress") {
    status.push(" The document is still being read; this page updates by itself.");
    const timer = setTimeout(() => ctx.reload(), 1500);
    ctx.onLeave(() => clearTimeout(timer));
  }
  view.append(
    h(
      "dl",
      { class: "summary" },
      [
        ["Status", status],
        ["File size", bytes(info.bytes)],
        ["Stored size", bytes(file.usage_bytes)],
        ["Chunks", file.status === "completed" ? String(items.length) : "—"],
        ["Added", date(file.created_at)],
        ["ID", h("code", {}, file.id)],
      ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    ),
  );
  view.append(attributesEditor(storeId, file), removeButton(storeId, file, info.filename));
  if (file.status === "completed") view.append(chunkList(items, params));
}

function attributesEditor(storeId, file) {
  const rows = h("div", { class: "attr-rows" });
  const addRow = (key = "", value = "") => {
    const k = h("input", { type: "text", value: key, maxlength: 64, id: newId("k") });
    const v = h("input", { type: "text", value: String(value), maxlength: 512, id: newId("v") });
    const row = h(
      "div",
      { class: "attr-row" },
      h("label", { for: k.id, class: "visually-hidden" }, "Attribute name"),
      k,
      h("label", { for: v.id, class: "visually-hidden" }, "Attribute value"),
      v,
      h("button", { type: "button", class: "secondary", "aria-label": `Remove attribute ${key}`.trim(), onclick: () => row.remove() }, "Remove"),
    );
    rows.append(row);
    return k;
  };
  for (const [k, v] of Object.entries(file.attributes || {})) addRow(k, v);
  const problem = h("div");
  const form = h(
    "form",
    {},
    h(
      "fieldset",
      {},
      h("legend", {}, "Attributes"),
      h("p", { class: "hint" }, "Labels you can filter searches by, e.g. author = Jane or year = 2024. Numbers and true/false are kept as such."),
      h("div", { class: "attr-row head", "aria-hidden": "true" }, h("span", {}, "Name"), h("span", {}, "Value")),
      rows,
      h("button", { type: "button", class: "secondary", onclick: () => addRow().focus() }, "Add attribute"),
    ),
    h("button", { type: "submit" }, "Save attributes"),
    problem,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(problem);
    const attributes = {};
    for (const row of rows.children) {
      const [k, v] = row.querySelectorAll("input");
      if (k.value.trim()) attributes[k.value.trim()] = attributeValue(v.value);
    }
    try {
      await post(`vector_stores/${storeId}/files/${file.id}`, { attributes });
      notify("Attributes saved.");
    } catch (err) {
      problem.append(errorBox(err));
    }
  });
  return h("section", { "aria-label": "Attributes" }, form);
}

function removeButton(storeId, file, filename) {
  const button = h("button", { type: "button", class: "danger" }, "Remove from this store");
  button.addEventListener("click", async () => {
    if (!confirm(`Remove “${filename}” from this store? The file itself stays in your files.`)) return;
    try {
      await del(`vector_stores/${storeId}/files/${file.id}`);
      notify(`Removed “${filename}”.`);
      location.hash = storeLink(storeId);
    } catch (err) {
      button.after(errorBox(err));
    }
  });
  return h("div", { class: "danger-zone" }, button);
}

function chunkList(items, params) {
  const words = terms(params.get("q") || "");
  const target = Number(params.get("chunk") || 0);
  const list = h(
    "ol",
    { class: "chunks" },
    items.map((item, i) =>
      h(
        "li",
        { id: `chunk-${i + 1}`, class: i + 1 === target ? "target" : null, tabindex: i + 1 === target ? -1 : null },
        h("h3", {}, `Chunk ${i + 1}`, item.page ? h("span", { class: "page" }, ` · page ${item.page}`) : null),
        h("p", { class: "chunk-text" }, highlighted(item.text, words)),
      ),
    ),
  );
  if (target) {
    requestAnimationFrame(() => {
      const el = list.querySelector(".target");
      el?.scrollIntoView({ block: "start" });
      el?.focus({ preventScroll: true });
    });
  }
  return h(
    "section",
    { "aria-labelledby": "chunks-h" },
    h("h2", { id: "chunks-h" }, `Parsed text: ${items.length} ${items.length === 1 ? "chunk" : "chunks"}`),
    h("p", { class: "hint" }, "What search sees: the document split into passages, with the page each starts on where the format has pages."),
    list,
  );
}

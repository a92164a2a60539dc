// Vector stores: the list, one store (settings, uploads with live status, its files).

import { del, get, post, upload } from "../api.js";
import { STATUS_WORDS, failureText, fileChunks, fileInfo, fileLink, listStores, storeLink } from "../data.js";
import { bytes, clear, date, errorBox, field, h, notify, table } from "../dom.js";
import { heading } from "./page.js";

const UPLOADS_AT_ONCE = 3;
const POLL_MS = 1500;
const FILES_SHOWN = 50;

// --- the list -------------------------------------------------------------------------------------

export async function storesPage(ctx) {
  const { view } = ctx;
  heading(view, "Vector stores");
  view.append(
    h(
      "p",
      { class: "lead" },
      "A vector store holds documents an assistant can search. Create one, then open it to add documents.",
    ),
  );
  const name = h("input", { type: "text", required: true, maxlength: 256, autocomplete: "off" });
  const problem = h("div");
  const form = h(
    "form",
    { class: "inline-form", "aria-label": "Create a vector store" },
    field("New store name", name),
    h("button", { type: "submit" }, "Create store"),
    problem,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(problem);
    try {
      const store = await post("vector_stores", { name: name.value.trim() });
      notify(`Created “${store.name}”.`);
      location.hash = storeLink(store.id);
    } catch (err) {
      problem.append(errorBox(err));
    }
  });
  view.append(form);

  const stores = await listStores();
  if (!stores.length) {
    view.append(h("p", { class: "empty" }, "No stores yet. Create one above, then add documents to it."));
    return;
  }
  view.append(
    table({
      caption: `${stores.length} ${stores.length === 1 ? "store" : "stores"}`,
      columns: ["Name", "Documents", "Size", "Last used", "Deleted automatically"],
      rows: stores.map((s) => [
        h("a", { href: storeLink(s.id) }, s.name || s.id),
        countsText(s.file_counts),
        bytes(s.usage_bytes),
        date(s.last_active_at),
        expiryText(s),
      ]),
    }),
  );
}

function countsText(c) {
  const parts = [`${c.completed} ready`];
  if (c.in_progress) parts.push(`${c.in_progress} being read`);
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
  return parts.join(", ");
}

function expiryText(store) {
  if (store.status === "expired") return "Expired";
  if (!store.expires_after) return "Never";
  return `After ${store.expires_after.days} days unused (${date(store.expires_at)})`;
}

// --- one store ------------------------------------------------------------------------------------

export async function storePage(ctx, storeId) {
  const { view } = ctx;
  let store = await get(`vector_stores/${storeId}`);
  const crumbs = h("nav", { "aria-label": "Breadcrumb", class: "crumbs" }, h("a", { href: "#/stores" }, "Vector stores"), " › ");
  view.append(crumbs);
  const title = heading(view, store.name || store.id);
  const summary = h("dl", { class: "summary" });
  view.append(summary, h("p", {}, h("a", { href: `#/search?store=${encodeURIComponent(storeId)}` }, "Search this store")));

  const uploads = uploadSection(storeId, () => refresh());
  const filesSection = h("section", { "aria-labelledby": "files-h" }, h("h2", { id: "files-h" }, "Documents in this store"));
  const filesBody = h("div");
  filesSection.append(filesBody);
  view.append(uploads.section, filesSection, settingsSection(() => store, (updated) => {
    store = updated;
    title.textContent = store.name || store.id;
    document.title = `${title.textContent} · retrievd`;
    showSummary();
  }));

  const showSummary = () => {
    clear(summary).append(
      ...pairs([
        ["Documents", countsText(store.file_counts)],
        ["Stored size", bytes(store.usage_bytes)],
        ["Created", date(store.created_at)],
        ["Last used", date(store.last_active_at)],
        ["Deleted automatically", expiryText(store)],
        ["ID", h("code", {}, store.id)],
      ]),
    );
  };
  showSummary();

  let shown = FILES_SHOWN;
  let signature = "";
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    if (!ctx.alive()) return;
    try {
      store = await get(`vector_stores/${storeId}`);
      const files = await firstFiles(storeId, shown);
      await uploads.settle(files);
      showSummary();
      const next = JSON.stringify([files, shown, store.file_counts.total]);
      if (next !== signature) {
        signature = next;
        clear(filesBody).append(filesTable(storeId, files, store.file_counts.total, () => {
          shown += FILES_SHOWN;
          refresh();
        }));
      }
    } catch (err) {
      clear(filesBody).append(errorBox(err));
    }
    if (ctx.alive() && (store.file_counts.in_progress || uploads.busy())) timer = setTimeout(refresh, POLL_MS);
  }
  ctx.onLeave(() => clearTimeout(timer));
  await refresh();
}

function pairs(entries) {
  return entries.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]);
}

async function firstFiles(storeId, n) {
  const files = [];
  let after;
  while (files.length < n) {
    const page = await get(`vector_stores/${storeId}/files`, { limit: Math.min(100, n - files.length), after });
    files.push(...page.data);
    if (!page.has_more) break;
    after = page.last_id;
  }
  return files;
}

function statusCell(file) {
  const badge = h("span", { class: `badge ${file.status}` }, STATUS_WORDS[file.status] || file.status);
  return file.status === "failed" ? [badge, h("span", { class: "reason" }, failureText(file.last_error))] : [badge];
}

function filesTable(storeId, files, total, showMore) {
  if (!files.length) return h("p", { class: "empty" }, "No documents yet. Add some above.");
  const rows = files.map((f) => {
    const name = h("a", { href: fileLink(storeId, f.id) }, f.id);
    const size = h("td", {}, "…");
    const chunks = h("td", {}, f.status === "completed" ? "…" : "—");
    fileInfo(f.id).then((info) => {
      name.textContent = info.filename;
      size.textContent = bytes(info.bytes);
    });
    if (f.status === "completed") {
      fileChunks(storeId, f.id).then(
        (items) => (chunks.textContent = String(items.length)),
        () => (chunks.textContent = "—"),
      );
    }
    return [name, statusCell(f), size, chunks, attributeList(f.attributes), date(f.created_at)];
  });
  return h(
    "div",
    {},
    table({ caption: `Showing ${files.length} of ${total}`, columns: ["Document", "Status", "Size", "Chunks", "Attributes", "Added"], rows }),
    files.length < total ? h("button", { type: "button", class: "secondary", onclick: showMore }, "Show more") : null,
  );
}

export function attributeList(attributes) {
  const entries = Object.entries(attributes || {});
  if (!entries.length) return "—";
  return h("ul", { class: "chips" }, entries.map(([k, v]) => h("li", {}, `${k}: ${v}`)));
}

// --- uploads --------------------------------------------------------------------------------------

function uploadSection(storeId, onAdded) {
  const input = h("input", { type: "file", multiple: true, class: "visually-hidden", id: "upload-input" });
  const zone = h(
    "div",
    { class: "dropzone" },
    h("p", {}, "Drop documents here, or"),
    h("label", { for: "upload-input", class: "button" }, "Choose documents…"),
    input,
    h("p", { class: "hint" }, "PDF, Word, PowerPoint, Excel, text, Markdown, HTML, e-mail and more. Many at once is fine."),
  );
  const list = h("ul", { class: "uploads", "aria-label": "Uploads", "aria-live": "polite" });
  const rows = new Map(); // file id -> row, while the server is still reading it
  const queue = [];
  let running = 0;

  const start = (files) => {
    for (const file of files) queue.push(uploadRow(file, list));
    pump();
  };
  const pump = () => {
    while (running < UPLOADS_AT_ONCE && queue.length) {
      const row = queue.shift();
      running += 1;
      send(row).finally(() => {
        running -= 1;
        pump();
      });
    }
  };
  const send = async (row) => {
    try {
      const file = await upload(row.file, (fraction) => row.progress(fraction));
      row.set("in_progress", "Uploaded; reading the document…");
      await post(`vector_stores/${storeId}/files`, { file_id: file.id });
      rows.set(file.id, row);
      onAdded();
    } catch (err) {
      row.set("failed", `${err.title} ${err.message}`);
    }
  };

  input.addEventListener("change", () => {
    start([...input.files]);
    input.value = "";
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    start([...e.dataTransfer.files]);
  });

  return {
    section: h("section", { "aria-labelledby": "add-h" }, h("h2", { id: "add-h" }, "Add documents"), zone, list),
    busy: () => running > 0 || queue.length > 0 || rows.size > 0,
    // Rows whose file the server has finished reading get its final status.
    async settle(files) {
      const known = new Map(files.map((f) => [f.id, f]));
      for (const [fileId, row] of rows) {
        const f = known.get(fileId) || (await get(`vector_stores/${storeId}/files/${fileId}`).catch(() => null));
        if (!f || f.status === "in_progress") continue;
        rows.delete(fileId);
        if (f.status === "completed") {
          const items = await fileChunks(storeId, fileId).catch(() => []);
          row.set("completed", `Ready to search: ${items.length} ${items.length === 1 ? "chunk" : "chunks"}.`);
        } else row.set(f.status, f.status === "failed" ? failureText(f.last_error) : STATUS_WORDS[f.status]);
      }
    },
  };
}

function uploadRow(file, list) {
  const progress = h("progress", { max: 1, value: 0, "aria-label": `Upload of ${file.name}` });
  const badge = h("span", { class: "badge queued" }, "Waiting");
  const text = h("span", { class: "reason" }, bytes(file.size));
  list.append(h("li", {}, h("span", { class: "name" }, file.name), progress, badge, text));
  return {
    file,
    progress(fraction) {
      progress.value = fraction;
      badge.className = "badge uploading";
      badge.textContent = `Uploading ${Math.round(fraction * 100)}%`;
    },
    set(status, message) {
      progress.value = 1;
      badge.className = `badge ${status}`;
      badge.textContent = STATUS_WORDS[status] || status;
      text.textContent = message;
    },
  };
}

// --- settings -------------------------------------------------------------------------------------

function settingsSection(current, onSaved) {
  const store = current();
  const problem = h("div");
  const save = (body, message) => async (e) => {
    e.preventDefault();
    clear(problem);
    try {
      onSaved(await post(`vector_stores/${store.id}`, body()));
      notify(message);
    } catch (err) {
      problem.append(errorBox(err));
    }
  };

  const name = h("input", { type: "text", value: store.name || "", required: true, maxlength: 256 });
  const rename = h("form", { class: "inline-form" }, field("Name", name), h("button", { type: "submit" }, "Rename"));
  rename.addEventListener("submit", save(() => ({ name: name.value.trim() }), "Renamed."));

  const never = h("input", { type: "radio", name: "expiry", value: "never", id: "expiry-never", checked: !store.expires_after });
  const after = h("input", { type: "radio", name: "expiry", value: "days", id: "expiry-days", checked: !!store.expires_after });
  const days = h("input", { type: "number", min: 1, max: 365, value: store.expires_after?.days || 30, id: "expiry-n", class: "narrow" });
  days.addEventListener("input", () => (after.checked = true));
  const expiry = h(
    "form",
    {},
    h(
      "fieldset",
      {},
      h("legend", {}, "Delete this store automatically"),
      h("div", { class: "choice" }, never, h("label", { for: "expiry-never" }, "Never")),
      h(
        "div",
        { class: "choice" },
        after,
        h("label", { for: "expiry-days" }, "When it has not been used for"),
        h("label", { for: "expiry-n", class: "visually-hidden" }, "Number of days"),
        days,
        h("span", { "aria-hidden": "true" }, "days"),
      ),
    ),
    h("button", { type: "submit" }, "Save expiration"),
  );
  expiry.addEventListener(
    "submit",
    save(() => ({ expires_after: after.checked ? { anchor: "last_active_at", days: Number(days.value) } : null }), "Expiration saved."),
  );

  const remove = h("button", { type: "button", class: "danger" }, "Delete this store");
  remove.addEventListener("click", async () => {
    const { name: storeName } = current();
    const sure = confirm(`Delete the store “${storeName}” and its search index? The uploaded documents stay in your files.`);
    if (!sure) return;
    try {
      await del(`vector_stores/${store.id}`);
      notify(`Deleted “${storeName}”.`);
      location.hash = "#/stores";
    } catch (err) {
      problem.append(errorBox(err));
    }
  });

  return h(
    "section",
    { "aria-labelledby": "settings-h" },
    h("h2", { id: "settings-h" }, "Settings"),
    rename,
    expiry,
    h("div", { class: "danger-zone" }, remove),
    problem,
  );
}


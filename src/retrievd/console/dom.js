// Small DOM helpers. Text always goes in as text nodes, never as HTML, so no server string can inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// A table whose first column names each row; at phone width each row becomes a card of labelled cells.
export function table({ caption, columns, rows }) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "cards" },
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        rows.map(([first, ...rest]) => h("tr", {}, h("th", { scope: "row" }, first), rest.map((c, i) => cell(c, columns[i + 1])))),
      ),
    ),
  );
}

function cell(content, label) {
  const td = content instanceof HTMLTableCellElement ? content : h("td", {}, content);
  td.dataset.label = label;
  return td;
}

let uid = 0;
export function newId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}

// A labelled form control: the label is always visible and tied to the control.
export function field(label, control, hint) {
  control.id ||= newId("f");
  const hintEl = hint ? h("span", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${n} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function date(seconds) {
  if (!seconds) return "—";
  return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function day(seconds) {
  return new Date(seconds * 1000).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

// Query words worth highlighting: letters and digits, two characters or more.
export function terms(query) {
  const words = (query.toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) || []).filter((w) => !STOPWORDS.has(w));
  return [...new Set(words)];
}

const STOPWORDS = new Set(
  "an and are as at be by for from has have in is it of on or that the this to was were what when where which who why with how does did do".split(" "),
);

// Words starting with one of `words`, anywhere in a text.
export function termPattern(words) {
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join("|")})[\\p{L}\\p{N}]*`, "giu");
}

// Text with every word starting with one of `words` wrapped in <mark>.
export function highlighted(text, words) {
  if (!words.length) return [text];
  const pattern = termPattern(words);
  const out = [];
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    out.push(text.slice(last, m.index), h("mark", {}, m[0]));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

// A polite announcement for screen readers and a visible note at the bottom of the page.
export function notify(message, kind = "info") {
  const region = document.getElementById("toasts");
  const note = h("p", { class: `toast ${kind}` }, message);
  region.append(note);
  setTimeout(() => note.remove(), kind === "error" ? 10000 : 4000);
}

export function errorBox(error) {
  return h("div", { class: "error", role: "alert" }, h("strong", {}, error.title || "Something went wrong."), " ", error.message);
}

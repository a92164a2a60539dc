// Eval: the results of past `retrievd eval run`s (tables and plots), read through /v1/retrievd/eval_runs.

import { blob, get } from "../api.js";
import { date, errorBox, h } from "../dom.js";
import { heading } from "./page.js";

export async function evalPage(ctx) {
  const { view } = ctx;
  heading(view, "Retrieval quality");
  view.append(h("p", { class: "lead" }, "How well search finds the right passages on test collections, from past runs of ", h("code", {}, "retrievd eval run"), "."));
  const runs = (await get("retrievd/eval_runs")).data;
  if (!runs.length) {
    view.append(
      h(
        "p",
        { class: "empty" },
        "No results yet. Run ",
        h("code", {}, "retrievd eval run"),
        " with its output folder under the server's eval directory (",
        h("code", {}, "RETRIEVD_EVAL_DIR"),
        ", by default the data directory's ",
        h("code", {}, "eval"),
        " folder).",
      ),
    );
    return;
  }
  const urls = [];
  ctx.onLeave(() => urls.forEach((u) => URL.revokeObjectURL(u)));
  const fetchFile = (run, name) => blob(`retrievd/eval_runs/${run.id.split("/").map(encodeURIComponent).join("/")}/files/${encodeURIComponent(name)}`);
  const fileUrl = async (run, name) => {
    const u = URL.createObjectURL(await fetchFile(run, name));
    urls.push(u);
    return u;
  };
  view.append(h("nav", { "aria-label": "Runs", class: "toc" }, h("ul", {}, runs.map((r, i) => h("li", {}, h("a", { href: `#/eval?run=${i + 1}` }, r.id))))));
  for (const [i, run] of runs.entries()) {
    const section = h("section", { class: "eval-run", id: `run-${i + 1}`, "aria-labelledby": `run-${i + 1}-h` });
    section.append(h("h2", { id: `run-${i + 1}-h` }, run.id), h("p", { class: "hint" }, `Written ${date(run.created_at)}`));
    view.append(section);
    try {
      const summary = run.files.find((n) => n.toLowerCase() === "results.md");
      if (summary) {
        const text = await (await fetchFile(run, summary)).text();
        section.append(h("div", { class: "markdown" }, markdown(text)));
      }
      for (const name of run.files.filter((n) => n.endsWith(".png"))) {
        section.append(h("figure", { class: "plot-image" }, h("img", { src: await fileUrl(run, name), alt: `Plot ${name} of ${run.id}` }), h("figcaption", {}, name)));
      }
      const downloads = run.files.filter((n) => !n.endsWith(".png"));
      const links = await Promise.all(downloads.map(async (n) => h("li", {}, h("a", { href: await fileUrl(run, n), download: n }, n))));
      section.append(h("p", {}, "Files:"), h("ul", { class: "files" }, links));
    } catch (err) {
      section.append(errorBox(err));
    }
  }
  const wanted = ctx.params.get("run");
  if (wanted) document.getElementById(`run-${wanted}`)?.scrollIntoView();
}

// The Markdown eval runs write: headings, pipe tables, paragraphs, with `code` and **bold** inline.
function markdown(text) {
  const out = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const head = line.match(/^(#{1,4})\s+(.*)$/);
    if (head) {
      out.push(h(`h${Math.min(6, head[1].length + 2)}`, {}, inline(head[2])));
    } else if (line.startsWith("|")) {
      const rows = [];
      while (i < lines.length && lines[i].startsWith("|")) rows.push(lines[i++]);
      i -= 1;
      out.push(table(rows));
    } else if (line.trim()) {
      out.push(h("p", {}, inline(line)));
    }
  }
  return out;
}

function cells(row) {
  return row.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

function table(rows) {
  const [head, separator, ...body] = rows;
  const hasHead = separator && /^\|?\s*:?-{2,}/.test(separator);
  const bodyRows = hasHead ? body : rows.slice(1);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, cells(head).map((c) => h("th", { scope: "col" }, inline(c))))),
      h("tbody", {}, bodyRows.map((r) => h("tr", {}, cells(r).map((c) => h("td", {}, inline(c)))))),
    ),
  );
}

function inline(text) {
  return text.split(/(`[^`]+`|\*\*[^*]+\*\*)/).map((part) => {
    if (part.startsWith("`") && part.endsWith("`") && part.length > 1) return h("code", {}, part.slice(1, -1));
    if (part.startsWith("**") && part.endsWith("**") && part.length > 3) return h("strong", {}, part.slice(2, -2));
    return part;
  });
}

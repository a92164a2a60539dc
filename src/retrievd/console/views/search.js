// Search playground: the store search endpoint with its filters and ranking options.

import { post } from "../api.js";
import { attributeValue, fileLink, listStores, locate } from "../data.js";
import { clear, errorBox, field, h, highlighted, newId, termPattern, terms } from "../dom.js";
import { heading } from "./page.js";
import { attributeList } from "./stores.js";

const OPERATORS = [
  ["eq", "is"],
  ["ne", "is not"],
  ["gt", "is more than"],
  ["gte", "is at least"],
  ["lt", "is less than"],
  ["lte", "is at most"],
  ["in", "is one of (comma-separated)"],
  ["nin", "is none of (comma-separated)"],
];

export async function searchPage(ctx) {
  const { view, params } = ctx;
  heading(view, "Search");
  view.append(h("p", { class: "lead" }, "Try the questions people will ask and see which passages an assistant would read."));
  const stores = await listStores();
  if (!stores.length) {
    view.append(h("p", { class: "empty" }, "There is no store to search yet. ", h("a", { href: "#/stores" }, "Create one and add documents"), "."));
    return;
  }

  const store = h("select", {}, stores.map((s) => h("option", { value: s.id, selected: s.id === params.get("store") }, s.name || s.id)));
  const query = h("input", { type: "search", required: true, value: params.get("q") || "", autocomplete: "off" });
  const count = h("input", { type: "number", min: 1, max: 50, value: 10, class: "narrow" });
  const ranker = h("select", {}, h("option", { value: "auto" }, "Best order (re-ranked)"), h("option", { value: "none" }, "As retrieved (no re-ranking)"));
  const threshold = h("input", { type: "number", min: 0, max: 1, step: 0.05, value: 0, class: "narrow" });
  const balanceOn = h("input", { type: "checkbox", id: newId("bal") });
  const balance = h("input", { type: "range", min: 0, max: 1, step: 0.1, value: 0.5, disabled: true, "aria-describedby": "balance-hint" });
  balanceOn.addEventListener("change", () => (balance.disabled = !balanceOn.checked));
  const filters = filterBuilder();
  const results = h("div", { "aria-live": "polite" });

  const form = h(
    "form",
    { class: "search-form", role: "search" },
    h("div", { class: "row" }, field("Store", store), field("Question or keywords", query)),
    h(
      "details",
      {},
      h("summary", {}, "Options: number of results, ranking, filters"),
      h("div", { class: "row" }, field("Number of results", count, "1 to 50"), field("Order", ranker), field("Minimum score", threshold, "0 to 1; lower-scored passages are left out")),
      h(
        "div",
        { class: "field" },
        h("div", { class: "choice" }, balanceOn, h("label", { for: balanceOn.id }, "Set the balance between meaning and exact words")),
        field("Meaning ← → exact words", balance),
        h("span", { class: "hint", id: "balance-hint" }, "Left: passages that mean the same thing. Right: passages with the same words."),
      ),
      filters.element,
    ),
    h("button", { type: "submit" }, "Search"),
  );
  view.append(form, results);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const ranking = { ranker: ranker.value, score_threshold: Number(threshold.value) };
    if (balanceOn.checked) ranking.hybrid_search = { embedding_weight: 1 - Number(balance.value), text_weight: Number(balance.value) };
    const body = { query: query.value, max_num_results: Number(count.value), ranking_options: ranking };
    const filter = filters.value();
    if (filter) body.filters = filter;
    clear(results).append(h("p", { class: "busy" }, "Searching…"));
    try {
      const page = await post(`vector_stores/${store.value}/search`, body);
      showResults(results, store.value, query.value, page.data);
    } catch (err) {
      clear(results).append(errorBox(err));
    }
  });
  if (query.value) form.requestSubmit();
}

function filterBuilder() {
  const rows = h("div", { class: "filter-rows" });
  const mode = h("select", { class: "narrow" }, h("option", { value: "and" }, "all of these"), h("option", { value: "or" }, "any of these"));
  const add = () => {
    const key = h("input", { type: "text", id: newId("fk") });
    const op = h("select", { id: newId("fo") }, OPERATORS.map(([v, label]) => h("option", { value: v }, label)));
    const value = h("input", { type: "text", id: newId("fv") });
    const row = h(
      "div",
      { class: "filter-row" },
      h("label", { for: key.id }, "Attribute"),
      key,
      h("label", { for: op.id, class: "visually-hidden" }, "Comparison"),
      op,
      h("label", { for: value.id }, "Value"),
      value,
      h("button", { type: "button", class: "secondary", onclick: () => row.remove() }, "Remove"),
    );
    rows.append(row);
    key.focus();
  };
  const element = h(
    "fieldset",
    {},
    h("legend", {}, "Filters on attributes"),
    field("Passages must match", mode),
    rows,
    h("button", { type: "button", class: "secondary", onclick: add }, "Add filter"),
  );
  const value = () => {
    const comparisons = [...rows.children]
      .map((row) => {
        const [key, value] = row.querySelectorAll("input");
        const type = row.querySelector("select").value;
        if (!key.value.trim()) return null;
        const v = type === "in" || type === "nin" ? value.value.split(",").map(attributeValue) : attributeValue(value.value);
        return { type, key: key.value.trim(), value: v };
      })
      .filter(Boolean);
    if (comparisons.length < 2) return comparisons[0] || null;
    return { type: mode.value, filters: comparisons };
  };
  return { element, value };
}

const EXCERPT_CHARS = 600;

// A long passage shows the part around its first matching word, with a button for the whole of it.
function passage(text, words) {
  const body = h("p", { class: "chunk-text" });
  if (text.length <= EXCERPT_CHARS) {
    body.append(...highlighted(text, words));
    return body;
  }
  const first = words.length ? text.search(termPattern(words)) : 0;
  const from = Math.max(0, text.lastIndexOf("\n", Math.max(0, first - 120)) + 1);
  const short = `${from ? "… " : ""}${text.slice(from, from + EXCERPT_CHARS).trimEnd()} …`;
  const toggle = h("button", { type: "button", class: "link", "aria-expanded": "false" }, "Show the whole passage");
  const show = (whole) => {
    clear(body).append(...highlighted(whole ? text : short, words), " ", toggle);
    toggle.textContent = whole ? "Show less" : "Show the whole passage";
    toggle.setAttribute("aria-expanded", String(whole));
  };
  toggle.addEventListener("click", () => show(toggle.getAttribute("aria-expanded") !== "true"));
  show(false);
  return body;
}

function showResults(results, storeId, query, data) {
  clear(results);
  results.append(h("h2", {}, `${data.length} ${data.length === 1 ? "passage" : "passages"} for “${query}”`));
  if (!data.length) {
    results.append(h("p", { class: "empty" }, "Nothing matched. Try other words, a lower minimum score, or fewer filters."));
    return;
  }
  const words = terms(query);
  results.append(
    h(
      "ol",
      { class: "results" },
      data.map((r) => {
        const text = r.content.map((c) => c.text).join("\n");
        const where = h("span", { class: "page" });
        const link = h("a", { href: fileLink(storeId, r.file_id) }, r.filename);
        locate([storeId], r.file_id, text).then((found) => {
          if (!found) return;
          where.textContent = found.page ? `page ${found.page}` : `chunk ${found.index + 1}`;
          link.href = `${fileLink(storeId, r.file_id, found.index)}&q=${encodeURIComponent(query)}`;
        });
        return h(
          "li",
          { class: "result" },
          h(
            "div",
            { class: "result-head" },
            link,
            where,
            h("span", { class: "score" }, h("meter", { min: 0, max: 1, value: r.score, "aria-label": "Score" }), ` score ${r.score.toFixed(3)}`),
          ),
          passage(text, words),
          Object.keys(r.attributes || {}).length ? attributeList(r.attributes) : null,
        );
      }),
    ),
  );
}

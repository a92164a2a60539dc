// Usage: what the stores hold now, and (with an admin key) bytes, cost and searches per day.

import { get } from "../api.js";
import { barList, timeChart } from "../chart.js";
import { listStores } from "../data.js";
import { bytes, clear, errorBox, field, h } from "../dom.js";
import { heading } from "./page.js";

const DAY = 86400;

export async function usagePage(ctx) {
  const { view } = ctx;
  heading(view, "Usage");
  view.append(h("p", { class: "lead" }, "How much your stores hold, and what that storage costs day by day."));
  const stores = await listStores();
  view.append(
    h("section", { "aria-labelledby": "now-h" }, h("h2", { id: "now-h" }, "Stored now"), stores.length
      ? barList({ title: "Stored size per store (this project)", items: stores.map((s) => ({ label: s.name || s.id, value: s.usage_bytes })), format: bytes })
      : h("p", { class: "empty" }, "No stores yet.")),
  );

  const history = h("section", { "aria-labelledby": "history-h" }, h("h2", { id: "history-h" }, "Day by day"));
  view.append(history);
  const days = h("select", { class: "narrow" }, [7, 14, 31].map((n) => h("option", { value: n }, `Last ${n} days`)));
  const charts = h("div");
  const show = async () => {
    try {
      clear(charts).append(...(await historyCharts(Number(days.value), stores)));
    } catch (err) {
      clear(charts).append(errorBox(err));
    }
  };
  days.addEventListener("change", show);
  try {
    clear(charts).append(...(await historyCharts(7, stores)));
    history.append(field("Period", days), charts);
  } catch (err) {
    if (err.status !== 403) throw err;
    history.append(
      h(
        "div",
        { class: "notice" },
        h("p", {}, h("strong", {}, "Usage over time is shown to administrators."), " Your key belongs to a project, so this page shows what your stores hold now (above)."),
        h("p", {}, "To see bytes and cost per day, sign in with an admin key, or ask your administrator for a report (", h("code", {}, "retrievd usage report"), ")."),
      ),
    );
  }
}

// The organization Usage and Costs APIs (admin keys only: others get 403) as three charts.
async function historyCharts(days, stores) {
  const start = (Math.floor(Date.now() / 1000 / DAY) - days + 1) * DAY;
  const query = { start_time: start, bucket_width: "1d", limit: days };
  const [usage, perStore, costs, searches, projects] = await Promise.all([
    get("organization/usage/vector_stores", { ...query, group_by: ["project_id"] }),
    get("organization/usage/vector_stores", { ...query, group_by: ["vector_store_id"] }),
    get("organization/costs", { ...query, group_by: ["project_id"] }),
    get("organization/usage/file_search_calls", { ...query, group_by: ["vector_store_id"] }),
    get("organization/projects", { limit: 100 }).then((p) => p.data, () => []),
  ]);
  const projectName = new Map(projects.map((p) => [p.id, p.name]));
  const storeName = new Map(stores.map((s) => [s.id, s.name || s.id]));
  const currency = costs.data.flatMap((b) => b.results)[0]?.amount.currency || "usd";
  const money = new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase(), maximumSignificantDigits: 3 });
  return [
    timeChart({
      title: "Stored per day, per store",
      note: "(the day's average)",
      buckets: perStore.data.map((b) => b.start_time),
      series: series(perStore.data, "vector_store_id", (r) => r.usage_bytes, (id) => storeName.get(id) || id),
      format: bytes,
    }),
    timeChart({
      title: "Stored per day, per project",
      note: "(the day's average: a store added late in a day counts for part of it)",
      buckets: usage.data.map((b) => b.start_time),
      series: series(usage.data, "project_id", (r) => r.usage_bytes, (id) => projectName.get(id) || id),
      format: bytes,
    }),
    timeChart({
      title: "Storage cost per day, per project",
      kind: "bar",
      buckets: costs.data.map((b) => b.start_time),
      series: series(costs.data, "project_id", (r) => r.amount.value, (id) => projectName.get(id) || id),
      format: (v) => money.format(v),
    }),
    timeChart({
      title: "File searches per day, per store",
      kind: "bar",
      buckets: searches.data.map((b) => b.start_time),
      series: series(searches.data, "vector_store_id", (r) => r.num_requests, (id) => storeName.get(id) || id),
      format: (v) => String(Math.round(v)),
      integers: true,
    }),
  ];
}

// Buckets of grouped results -> one series per group, a value (0 when absent) per bucket.
function series(buckets, key, value, name) {
  const groups = [...new Set(buckets.flatMap((b) => b.results.map((r) => r[key])).filter(Boolean))];
  if (!groups.length) return [{ name: "All", values: buckets.map(() => 0) }];
  return groups.map((group) => ({
    name: name(group),
    values: buckets.map((b) => b.results.filter((r) => r[key] === group).reduce((sum, r) => sum + value(r), 0)),
  }));
}

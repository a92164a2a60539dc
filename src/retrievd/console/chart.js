// Charts drawn as SVG at the width they get (redrawn on resize), each with its numbers as a table.

import { day, h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]; // Okabe-Ito

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

const TICKS = 4;

// The top of the axis: TICKS round steps (1, 2 or 5 times a power of ten; whole numbers for counts).
function axisTop(value, integers) {
  const raw = value / TICKS;
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * power).find((v) => v >= raw);
  return TICKS * (integers ? Math.max(1, Math.ceil(step)) : step);
}

function allZero(values) {
  return values.every((v) => !v);
}

function figure(title, note, svg, legend, table) {
  return h(
    "figure",
    { class: "chart" },
    h("figcaption", {}, title, note ? h("span", { class: "hint" }, ` ${note}`) : null),
    svg,
    legend,
    h("details", {}, h("summary", {}, "Show the numbers"), h("div", { class: "table-wrap" }, table)),
  );
}

function legendOf(series) {
  if (series.length < 2) return null;
  return h(
    "ul",
    { class: "legend" },
    series.map((x, i) => {
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.background = COLORS[i % COLORS.length];
      return h("li", {}, swatch, x.name);
    }),
  );
}

function drawWhenSized(svg, draw) {
  const observer = new ResizeObserver(() => {
    const width = Math.max(280, Math.floor(svg.parentElement?.clientWidth || 0));
    if (Number(svg.getAttribute("width")) !== width) draw(width);
  });
  queueMicrotask(() => svg.parentElement && observer.observe(svg.parentElement));
}

// Values over time buckets: `buckets` are bucket start times (Unix seconds); each series has one value per bucket.
export function timeChart({ title, note, kind = "line", buckets, series, format = String, integers = false }) {
  const height = 240;
  const pad = { left: 72, right: 16, top: 12, bottom: 32 };
  const values = series.flatMap((x) => x.values);
  const top = axisTop(Math.max(0, ...values), integers);
  const label = `${title}. ${series.map((x) => `${x.name}: ${x.values.map(format).join(", ")}`).join("; ")}`;
  const svg = s("svg", { role: "img", "aria-label": label, height, class: "plot" });

  const draw = (width) => {
    svg.replaceChildren();
    svg.setAttribute("width", width);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const slot = plotW / Math.max(1, buckets.length);
    const x = (i) => pad.left + slot * (i + 0.5);
    const y = (v) => pad.top + plotH * (1 - v / top);
    for (let k = 0; k <= TICKS; k++) {
      const v = (top * k) / TICKS;
      svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }));
      svg.append(s("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, format(v)));
    }
    const every = Math.ceil(buckets.length / Math.max(1, Math.floor(plotW / 64)));
    buckets.forEach((t, i) => {
      if (i % every === 0) svg.append(s("text", { x: x(i), y: height - 10, "text-anchor": "middle", class: "tick" }, day(t)));
    });
    series.forEach((line, n) => {
      const color = COLORS[n % COLORS.length];
      if (kind === "bar") {
        const barW = (slot * 0.7) / series.length;
        line.values.forEach((v, i) => {
          const bar = s("rect", { x: x(i) - slot * 0.35 + n * barW, y: y(v), width: Math.max(1, barW - 1), height: y(0) - y(v), fill: color });
          bar.append(s("title", {}, `${line.name}, ${day(buckets[i])}: ${format(v)}`));
          svg.append(bar);
        });
      } else {
        svg.append(s("polyline", { points: line.values.map((v, i) => `${x(i)},${y(v)}`).join(" "), fill: "none", stroke: color, "stroke-width": 2 }));
        line.values.forEach((v, i) => {
          const dot = s("circle", { cx: x(i), cy: y(v), r: 3.5, fill: color });
          dot.append(s("title", {}, `${line.name}, ${day(buckets[i])}: ${format(v)}`));
          svg.append(dot);
        });
      }
    });
    svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0), class: "axis" }));
  };
  draw(640);
  drawWhenSized(svg, draw);

  const table = h(
    "table",
    {},
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day (UTC)"), series.map((x) => h("th", { scope: "col" }, x.name)))),
    h("tbody", {}, buckets.map((t, i) => h("tr", {}, h("th", { scope: "row" }, day(t)), series.map((x) => h("td", {}, format(x.values[i])))))),
  );
  return figure(title, allZero(values) ? "(none in this period)" : note, svg, legendOf(series), table);
}

// One value per named item, as horizontal bars.
export function barList({ title, items, format = String }) {
  const row = 30;
  const height = row * items.length + 8;
  const top = axisTop(Math.max(0, ...items.map((i) => i.value)), false);
  const label = `${title}. ${items.map((i) => `${i.label}: ${format(i.value)}`).join("; ")}`;
  const svg = s("svg", { role: "img", "aria-label": label, height, class: "plot" });
  const draw = (width) => {
    svg.replaceChildren();
    svg.setAttribute("width", width);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const labelW = Math.min(220, width * 0.38);
    const valueW = 84;
    const barMax = width - labelW - valueW;
    items.forEach((item, i) => {
      const y = 4 + i * row;
      const name = item.label.length > 28 ? `${item.label.slice(0, 27)}…` : item.label;
      svg.append(s("text", { x: labelW - 8, y: y + 19, "text-anchor": "end", class: "tick" }, name));
      svg.append(s("rect", { x: labelW, y: y + 5, width: Math.max(1, (barMax * item.value) / top), height: row - 10, fill: COLORS[0] }));
      svg.append(s("text", { x: labelW + 6 + (barMax * item.value) / top, y: y + 19, class: "tick" }, format(item.value)));
    });
  };
  draw(640);
  drawWhenSized(svg, draw);
  const table = h(
    "table",
    {},
    h("tbody", {}, items.map((i) => h("tr", {}, h("th", { scope: "row" }, i.label), h("td", {}, format(i.value))))),
  );
  return figure(title, null, svg, null, table);
}

// What every page starts with: its heading, which also names the browser tab.

import { h } from "../dom.js";

export function heading(view, text) {
  const title = h("h1", { tabindex: -1 }, text);
  view.append(title);
  document.title = `${text} · retrievd`;
  return title;
}

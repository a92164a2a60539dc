// The console shell: sign-in, navigation and the hash router (#/stores, #/search, ...).

import { get, session } from "./api.js";
import { forget } from "./data.js";
import { clear, errorBox, field, h } from "./dom.js";
import { chatPage } from "./views/chat.js";
import { evalPage } from "./views/eval.js";
import { filePage } from "./views/file.js";
import { heading } from "./views/page.js";
import { searchPage } from "./views/search.js";
import { storePage, storesPage } from "./views/stores.js";
import { usagePage } from "./views/usage.js";

const ROUTES = [
  [/^\/stores$/, storesPage, "stores"],
  [/^\/stores\/([^/]+)$/, storePage, "stores"],
  [/^\/stores\/([^/]+)\/files\/([^/]+)$/, filePage, "stores"],
  [/^\/search$/, searchPage, "search"],
  [/^\/chat$/, chatPage, "chat"],
  [/^\/usage$/, usagePage, "usage"],
  [/^\/eval$/, evalPage, "eval"],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOutButton = document.getElementById("sign-out");
let leaving = [];

function signInPage(problem) {
  const view = h("div", { class: "view sign-in" });
  clear(main).append(view);
  heading(view, "Sign in");
  const key = h("input", { type: "password", required: true, autocomplete: "off", spellcheck: "false" });
  const form = h(
    "form",
    {},
    field("API key", key, "Kept in this browser tab only, and forgotten when you close it."),
    h("button", { type: "submit" }, "Sign in"),
  );
  const errors = h("div");
  if (problem) errors.append(errorBox(problem));
  view.append(
    h("p", { class: "lead" }, "Give an assistant your documents: upload them, check how they were read, search them and ask questions."),
    form,
    errors,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(errors);
    session.signIn(key.value.trim());
    try {
      await get("vector_stores", { limit: 1 });
    } catch (err) {
      session.signOut();
      errors.append(errorBox(err));
      key.focus();
      return;
    }
    if (!location.hash.startsWith("#/")) location.hash = "#/stores";
    else route();
  });
  key.focus();
}

// `quiet`: the same page refreshed in place (its status changed), so focus stays where it is.
async function route({ quiet = false } = {}) {
  leaving.forEach((fn) => fn());
  leaving = [];
  const signedIn = Boolean(session.key);
  nav.hidden = !signedIn;
  signOutButton.hidden = !signedIn;
  if (!signedIn) return signInPage();

  const [path, query] = (location.hash.slice(1) || "/stores").split("?");
  const found = ROUTES.map(([pattern, page, section]) => [path.match(pattern), page, section]).find(([m]) => m);
  for (const link of nav.querySelectorAll("a")) {
    if (found && link.dataset.section === found[2]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = h("div", { class: "view" });
  clear(main).append(view);
  if (!found) {
    heading(view, "Page not found");
    view.append(h("p", {}, h("a", { href: "#/stores" }, "Go to your vector stores")));
    return;
  }
  const [match, page] = found;
  const ctx = {
    view,
    params: new URLSearchParams(query || ""),
    alive: () => view.isConnected,
    onLeave: (fn) => leaving.push(fn),
    reload: () => view.isConnected && route({ quiet: true }),
  };
  try {
    await page(ctx, ...match.slice(1).map(decodeURIComponent));
  } catch (err) {
    if (err.status === 401) {
      session.signOut();
      nav.hidden = signOutButton.hidden = true;
      return signInPage(err);
    }
    if (!view.querySelector("h1")) heading(view, "Something went wrong");
    view.append(errorBox(err));
  }
  if (!quiet && view.isConnected && !view.contains(document.activeElement)) view.querySelector("h1")?.focus({ preventScroll: true });
}

signOutButton.addEventListener("click", () => {
  session.signOut();
  forget();
  location.hash = "";
  route();
});
document.getElementById("skip").addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", () => route());
route();

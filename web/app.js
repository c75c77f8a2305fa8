// Tracegate's web UI: one page, routed on location.pathname at Jaeger UI's
// paths (/search, /trace/{id}, /trace/{a}...{b}, /dependencies) plus /compare.

import { saveToken, savedToken } from "./api.js";
import { clear, h, markReady, message, normalizeTraceID } from "./dom.js";
import { renderSearch } from "./search.js";
import { renderTrace } from "./trace.js";
import { renderCompare } from "./compare.js";
import { renderDependencies } from "./deps.js";

const main = document.getElementById("main");

/** Goes to a path of the UI without reloading the page. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

// Each render gets a number; a page whose fetches finish after the user moved
// on checks `isCurrent()` and draws nothing.
let generation = 0;

function route() {
  const current = ++generation;
  const ctx = {
    isCurrent: () => current === generation,
    params: new URLSearchParams(location.search),
    navigate,
  };
  const path = location.pathname.replace(/\/+$/, "") || "/";
  clear(main);
  delete document.body.dataset.ready;
  markNav(path);
  let page;
  let name = "notfound";
  let m;
  if (path === "/" || path === "/search") {
    page = renderSearch(main, ctx);
    name = "search";
  } else if ((m = /^\/trace\/([^/]+)\.\.\.([^/]+)$/.exec(path))) {
    page = renderCompare(main, ctx, decodeURIComponent(m[1]), decodeURIComponent(m[2]));
    name = "compare";
  } else if ((m = /^\/trace\/([^/]+)$/.exec(path))) {
    // Marks itself ready once the waterfall is drawn, before the state comes;
    // marked again (the same) when everything, the state too, is in.
    page = renderTrace(main, ctx, decodeURIComponent(m[1]));
    name = "trace";
  } else if (path === "/compare") {
    page = renderCompare(main, ctx, ctx.params.get("a") || "", ctx.params.get("b") || "");
    name = "compare";
  } else if (path === "/dependencies") {
    page = renderDependencies(main, ctx);
    name = "dependencies";
  } else {
    document.title = "Not found · Tracegate";
    main.appendChild(h("h1", null, "Page not found"));
    main.appendChild(message(`Tracegate has no page at ${location.pathname}.`));
  }
  Promise.resolve(page).catch((e) => {
    if (!ctx.isCurrent()) return;
    main.appendChild(message(e && e.message ? e.message : String(e)));
  }).finally(() => {
    markReady(name, ctx.isCurrent);
  });
}

function markNav(path) {
  const section = path.startsWith("/trace/") && path.includes("...") ? "compare"
    : path.startsWith("/trace/") ? "" : path === "/" ? "search" : path.slice(1);
  for (const a of document.querySelectorAll("nav.site a")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function setUpTraceIDBox() {
  const form = document.getElementById("trace-id-form");
  const input = document.getElementById("trace-id-input");
  const error = document.getElementById("trace-id-error");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = normalizeTraceID(input.value);
    if (!id) {
      error.textContent = "A trace id is 32 hex digits (or 16).";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    input.value = "";
    navigate(`/trace/${id}`);
  });
  input.addEventListener("input", () => {
    error.textContent = "";
    input.removeAttribute("aria-invalid");
  });
}

// Links inside the UI change the page without a reload; the API, static
// files, other origins, new tabs and downloads are left to the browser.
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const target = event.target instanceof Element ? event.target : null;
  const a = target && target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.getAttribute("href") || a.getAttribute("xlink:href"), location.href);
  if (url.origin !== location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/static/")) return;
  event.preventDefault();
  if (url.pathname + url.search === location.pathname + location.search) return;
  navigate(url.pathname + url.search + url.hash);
});

// The API answered 401: ask for the bearer token above the page, once.
window.addEventListener("tracegate:unauthorized", () => {
  if (document.getElementById("token-form")) return;
  const input = h("input", { id: "token-input", type: "password", autocomplete: "off", spellcheck: "false" });
  const form = h("form", { id: "token-form", class: "token-form message warning", "aria-label": "Bearer token" },
    h("label", { for: "token-input" },
      savedToken() ? "The server refused this token. Bearer token:" : "This server's API needs a bearer token:"),
    input,
    h("button", { type: "submit", class: "primary" }, "Use token"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveToken(input.value.trim());
    form.remove();
    route();
  });
  document.body.insertBefore(form, main);
  input.focus();
});

window.addEventListener("popstate", route);
setUpTraceIDBox();
route();

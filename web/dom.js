// DOM building and formatting shared by every page.
//
// Everything the UI shows comes from spans, which any client can write, so
// text only ever reaches the page through text nodes and attribute setters:
// nothing here (or anywhere in web/) assigns innerHTML or evaluates strings.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(parent, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(parent, c);
  } else if (child instanceof Node) {
    parent.appendChild(child);
  } else {
    parent.appendChild(document.createTextNode(String(child)));
  }
}

function setAttributes(node, attrs) {
  if (!attrs) return;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
    } else if (key === "style") {
      // CSSOM, not a style attribute: the Content-Security-Policy allows it.
      for (const [k, v] of Object.entries(value)) {
        if (k.startsWith("--")) node.style.setProperty(k, String(v));
        else node.style[k] = v;
      }
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
}

/** An HTML element: h("a", {href: "/x", class: "c"}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  append(node, children);
  return node;
}

/** An SVG element, as h() does for HTML. */
export function s(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  append(node, children);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// ----------------------------------------------------------------- formatting

/** Microseconds as people read them: 850µs, 12.3ms, 1.25s, 2m 5s. */
export function fmtDuration(us) {
  if (!Number.isFinite(us)) return "–";
  if (us === 0) return "0";
  const sign = us < 0 ? "−" : "";
  const a = Math.abs(us);
  if (a < 1000) return `${sign}${Math.round(a)}µs`;
  if (a < 1e6) return `${sign}${trim(a / 1000)}ms`;
  if (a < 60e6) return `${sign}${trim(a / 1e6)}s`;
  if (a < 3600e6) {
    const m = Math.floor(a / 60e6);
    return `${sign}${m}m ${Math.round((a - m * 60e6) / 1e6)}s`;
  }
  const hrs = Math.floor(a / 3600e6);
  return `${sign}${hrs}h ${Math.round((a - hrs * 3600e6) / 60e6)}m`;
}

function trim(x) {
  // Three significant digits: 1.23, 12.3, 123.
  const digits = x >= 100 ? 0 : x >= 10 ? 1 : 2;
  return String(Number(x.toFixed(digits)));
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

/** Microseconds since the epoch as local date and time, to the millisecond. */
export function fmtTime(us) {
  if (!Number.isFinite(us)) return "–";
  const d = new Date(us / 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "3 minutes ago", for microseconds since the epoch. */
export function fmtAgo(us, nowMs = Date.now()) {
  const sec = Math.round((nowMs - us / 1000) / 1000);
  if (sec < 0) return "in the future";
  if (sec < 60) return sec <= 1 ? "just now" : `${sec} seconds ago`;
  const min = Math.round(sec / 60);
  if (min < 60) return min === 1 ? "a minute ago" : `${min} minutes ago`;
  const hrs = Math.round(min / 60);
  if (hrs < 48) return hrs === 1 ? "an hour ago" : `${hrs} hours ago`;
  return `${Math.round(hrs / 24)} days ago`;
}

export function plural(n, word, many = word + "s") {
  return `${n} ${n === 1 ? word : many}`;
}

/** A key-value's value as text; binary stays base64 as the API sends it. */
export function fmtValue(kv) {
  const v = kv.value;
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

// --------------------------------------------------------------------- colour

// Twelve colours that stay apart from each other and from the error red,
// dark enough for white text and light enough to see a black outline on.
const PALETTE = [
  "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
  "#9c755f", "#ff9da7", "#8cd17d", "#499894", "#86bcb6", "#a0cbe8",
];

/** The colour of a service: the same name always gets the same colour. */
export function serviceColor(name) {
  // FNV-1a over UTF-16 code units.
  let hash = 0x811c9dc5;
  const text = String(name ?? "");
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return PALETTE[hash % PALETTE.length];
}

/** A small coloured chip with a service name (and an optional count). */
export function serviceChip(name, count) {
  return h("span", { class: "chip", title: name },
    h("span", { class: "swatch", style: { backgroundColor: serviceColor(name) }, "aria-hidden": "true" }),
    h("span", { class: "chip-name" }, name),
    count === undefined ? null : h("span", { class: "chip-count" }, String(count)));
}

/**
 * Marks the page as drawn: `<body data-ready="trace">` once the frame with
 * the page's content has been produced (the next animation frame, then the
 * task after it). Benchmarks and tests wait for it; the router clears it.
 */
export function markReady(page, isCurrent) {
  requestAnimationFrame(() => setTimeout(() => {
    if (isCurrent()) document.body.dataset.ready = page;
  }));
}

/** A message box for an error or an empty result. */
export function message(text, kind = "error") {
  return h("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

// ---------------------------------------------------------------- durations

const UNIT_US = { us: 1, "µs": 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };

/** "100ms", "1.5s" → microseconds; null when it is not a duration. */
export function parseDuration(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)\s*$/.exec(String(text));
  if (!m) return null;
  return Number(m[1]) * UNIT_US[m[2]];
}

/** 32 hex digits, lower case; 16 are left-padded (a 64-bit id); null otherwise. */
export function normalizeTraceID(text) {
  const t = String(text).trim().toLowerCase();
  if (/^[0-9a-f]{32}$/.test(t)) return t;
  if (/^[0-9a-f]{16}$/.test(t)) return t.padStart(32, "0");
  return null;
}

// The search page: a form whose state lives in the URL's query string (as
// Jaeger UI's does, so its links work here), a scatter plot of duration over
// start time, and the list of traces with checkboxes to compare two.

import { fetchOperations, fetchServices, getData } from "./api.js";
import {
  clear, fmtAgo, fmtDuration, fmtTime, h, message, parseDuration, plural, s, serviceChip, serviceColor,
} from "./dom.js";
import { summarize } from "./model.js";

export const LOOKBACKS = [
  ["1h", "Last hour", 3600e6],
  ["2h", "Last 2 hours", 7200e6],
  ["6h", "Last 6 hours", 21600e6],
  ["12h", "Last 12 hours", 43200e6],
  ["1d", "Last day", 86400e6],
  ["2d", "Last 2 days", 172800e6],
  ["7d", "Last 7 days", 604800e6],
];
const LOOKBACK_ALIASES = { "24h": "1d", "48h": "2d", "168h": "7d" };

export function lookbackMicros(value) {
  const key = LOOKBACK_ALIASES[value] || value;
  const found = LOOKBACKS.find(([k]) => k === key);
  return found ? found[2] : null;
}

// -------------------------------------------------------------------- tags

/** Jaeger's logfmt tag syntax (`error=true http.route="/a b"`) → object;
 *  throws an Error naming the bad token. */
export function parseLogfmt(text) {
  const tags = {};
  let i = 0;
  const src = String(text);
  const isSpace = (c) => c === " " || c === "\t" || c === "\n";
  while (i < src.length) {
    while (i < src.length && isSpace(src[i])) i++;
    if (i >= src.length) break;
    const keyStart = i;
    while (i < src.length && src[i] !== "=" && !isSpace(src[i])) i++;
    const key = src.slice(keyStart, i);
    if (src[i] !== "=" || key === "") {
      throw new Error(`"${key || src.slice(keyStart, keyStart + 20)}" is not key=value`);
    }
    i++; // "="
    let value = "";
    if (src[i] === '"') {
      i++;
      let closed = false;
      while (i < src.length) {
        const c = src[i];
        if (c === "\\" && i + 1 < src.length) { value += src[i + 1]; i += 2; continue; }
        if (c === '"') { closed = true; i++; break; }
        value += c;
        i++;
      }
      if (!closed) throw new Error(`the value of "${key}" has no closing quote`);
    } else {
      const valueStart = i;
      while (i < src.length && !isSpace(src[i])) i++;
      value = src.slice(valueStart, i);
    }
    tags[key] = value;
  }
  return tags;
}

/** The object back as logfmt, quoting what needs it. */
export function toLogfmt(tags) {
  return Object.entries(tags).map(([k, v]) => {
    const value = String(v);
    return /^[^\s"=\\]+$/.test(value) ? `${k}=${value}` : `${k}="${value.replace(/[\\"]/g, "\\$&")}"`;
  }).join(" ");
}

/** The `tags` URL parameter: Jaeger UI writes JSON; logfmt is accepted too. */
function tagsFromParam(param) {
  if (!param) return {};
  try {
    const parsed = JSON.parse(param);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      const out = {};
      for (const [k, v] of Object.entries(parsed)) out[k] = String(v);
      return out;
    }
  } catch {
    // not JSON: logfmt below
  }
  try {
    return parseLogfmt(param);
  } catch {
    return {};
  }
}

// -------------------------------------------------------------------- page

export async function renderSearch(main, ctx) {
  document.title = "Search · Tracegate";
  const p = ctx.params;
  const tags = tagsFromParam(p.get("tags"));
  const errorsOnly = tags.error === "true";
  if (errorsOnly) delete tags.error;

  // Jaeger's API (and so Tracegate's) searches within one service.
  const serviceSelect = h("select", { id: "search-service", name: "service", required: true },
    h("option", { value: "" }, "Choose a service"));
  const operationSelect = h("select", { id: "search-operation", name: "operation" },
    h("option", { value: "" }, "All operations"));
  const tagsInput = h("input", {
    id: "search-tags", name: "tags", type: "text", autocomplete: "off", spellcheck: "false",
    placeholder: "http.status_code=500 http.route=/cart",
  });
  tagsInput.value = toLogfmt(tags);
  const errorsBox = h("input", { id: "search-errors", type: "checkbox", name: "errors" });
  errorsBox.checked = errorsOnly;
  const lookbackSelect = h("select", { id: "search-lookback", name: "lookback" },
    LOOKBACKS.map(([value, label]) => h("option", { value }, label)));
  lookbackSelect.value = LOOKBACK_ALIASES[p.get("lookback")] || (lookbackMicros(p.get("lookback")) ? p.get("lookback") : "1h");
  const minInput = h("input", { id: "search-min", name: "minDuration", type: "text", placeholder: "e.g. 100ms", autocomplete: "off" });
  minInput.value = p.get("minDuration") || "";
  const maxInput = h("input", { id: "search-max", name: "maxDuration", type: "text", placeholder: "e.g. 1.5s", autocomplete: "off" });
  maxInput.value = p.get("maxDuration") || "";
  const limitInput = h("input", { id: "search-limit", name: "limit", type: "number", min: "1", max: "1500", step: "1" });
  limitInput.value = p.get("limit") || "20";
  const formError = h("p", { class: "form-error", id: "search-form-error", role: "alert" });

  const field = (label, control, hint) => h("div", { class: "field" },
    h("label", { for: control.id }, label), control, hint ? h("small", { class: "hint" }, hint) : null);

  const form = h("form", { class: "search-form", id: "search-form", "aria-label": "Find traces" },
    field("Service", serviceSelect),
    field("Operation", operationSelect),
    field("Tags", tagsInput, "logfmt: key=value, space separated"),
    h("div", { class: "field-row" },
      field("Min duration", minInput),
      field("Max duration", maxInput)),
    h("div", { class: "field-row" },
      field("Lookback", lookbackSelect),
      field("Limit", limitInput)),
    h("div", { class: "field checkbox" }, errorsBox, h("label", { for: "search-errors" }, "Only traces with errors")),
    formError,
    h("button", { type: "submit", class: "primary", id: "search-submit" }, "Find traces"));

  const results = h("section", { class: "results", id: "search-results", "aria-live": "polite", "aria-label": "Search results" });
  // On a phone the form sits above the results: once there are results it
  // folds away (one tap opens it) so they are on the first screen.
  const folded = [...p.keys()].length > 0 && window.matchMedia("(max-width: 900px)").matches;
  const summaryText = [p.get("service"), p.get("operation"), p.get("lookback")].filter(Boolean).join(" · ");
  const side = h("details", { class: "search-side", open: !folded },
    h("summary", { class: "side-title" }, h("h1", null, "Search"), h("span", { class: "side-summary muted" }, summaryText)),
    form);
  main.appendChild(h("div", { class: "search-layout" }, side, results));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = formToQuery();
    if (!q) return;
    try { localStorage.setItem("tracegate.service", serviceSelect.value); } catch { /* storage off */ }
    ctx.navigate(`/search?${q}`);
  });

  function formToQuery() {
    formError.textContent = "";
    if (!serviceSelect.value) {
      formError.textContent = "Choose a service.";
      serviceSelect.focus();
      return null;
    }
    let tagObj;
    try {
      tagObj = parseLogfmt(tagsInput.value);
    } catch (e) {
      formError.textContent = `Tags: ${e.message}.`;
      tagsInput.focus();
      return null;
    }
    if (errorsBox.checked) tagObj.error = "true";
    for (const [input, label] of [[minInput, "Min duration"], [maxInput, "Max duration"]]) {
      if (input.value.trim() && parseDuration(input.value) === null) {
        formError.textContent = `${label}: "${input.value.trim()}" is not a duration like 100ms, 1.5s, 2m.`;
        input.focus();
        return null;
      }
    }
    const min = parseDuration(minInput.value);
    const max = parseDuration(maxInput.value);
    if (min !== null && max !== null && min > max) {
      formError.textContent = "Min duration is longer than max duration.";
      minInput.focus();
      return null;
    }
    const limit = Number(limitInput.value || "20");
    if (!Number.isInteger(limit) || limit < 1) {
      formError.textContent = "Limit must be a whole number of at least 1.";
      limitInput.focus();
      return null;
    }
    const end = Date.now() * 1000;
    const q = new URLSearchParams();
    if (serviceSelect.value) q.set("service", serviceSelect.value);
    if (operationSelect.value) q.set("operation", operationSelect.value);
    if (Object.keys(tagObj).length) q.set("tags", JSON.stringify(tagObj));
    q.set("lookback", lookbackSelect.value);
    q.set("start", String(end - lookbackMicros(lookbackSelect.value)));
    q.set("end", String(end));
    if (minInput.value.trim()) q.set("minDuration", minInput.value.trim());
    if (maxInput.value.trim()) q.set("maxDuration", maxInput.value.trim());
    q.set("limit", String(limit));
    return q.toString();
  }

  // Services first: the form is usable as soon as they are in.
  const wantedService = p.get("service") || "";
  const wantedOperation = p.get("operation") || "";
  try {
    const services = (await fetchServices()) || [];
    if (!ctx.isCurrent()) return;
    for (const name of services) serviceSelect.appendChild(h("option", { value: name }, name));
    if (wantedService && !services.includes(wantedService)) {
      serviceSelect.appendChild(h("option", { value: wantedService }, wantedService));
    }
    // No service asked for: the one searched last (as Jaeger UI does), else the first.
    let remembered = "";
    try { remembered = localStorage.getItem("tracegate.service") || ""; } catch { /* storage off */ }
    serviceSelect.value = wantedService || (services.includes(remembered) ? remembered : services[0] || "");
    if (!services.length && !wantedService) {
      results.appendChild(message("No services yet: send spans to the gateway, then search.", "info"));
    }
  } catch (e) {
    if (!ctx.isCurrent()) return;
    results.appendChild(message(`Could not load services: ${e.message}`));
  }

  async function loadOperations(service, wanted) {
    clear(operationSelect).appendChild(h("option", { value: "" }, "All operations"));
    if (!service) return;
    try {
      const ops = (await fetchOperations(service)) || [];
      if (!ctx.isCurrent() || serviceSelect.value !== service) return;
      for (const name of ops) operationSelect.appendChild(h("option", { value: name }, name));
      if (wanted && !ops.includes(wanted)) operationSelect.appendChild(h("option", { value: wanted }, wanted));
      operationSelect.value = wanted || "";
    } catch (e) {
      if (!ctx.isCurrent()) return;
      formError.textContent = `Could not load operations: ${e.message}`;
    }
  }
  serviceSelect.addEventListener("change", () => loadOperations(serviceSelect.value, ""));
  await loadOperations(serviceSelect.value, wantedOperation);
  if (!ctx.isCurrent()) return;

  if (!p.get("service") && !p.getAll("traceID").length) {
    results.appendChild(h("div", { class: "empty-state" },
      h("h2", null, "Find traces"),
      h("p", null, "Pick a service, narrow by operation, tags or duration, and press Find traces.")));
    return;
  }
  await runSearch(p, results, ctx);
}

function apiQuery(p) {
  const q = new URLSearchParams();
  for (const key of ["service", "operation", "minDuration", "maxDuration", "limit"]) {
    const v = p.get(key);
    if (v) q.set(key, v);
  }
  for (const id of p.getAll("traceID")) q.append("traceID", id);
  const tags = tagsFromParam(p.get("tags"));
  if (Object.keys(tags).length) q.set("tags", JSON.stringify(tags));
  const lookback = LOOKBACK_ALIASES[p.get("lookback")] || p.get("lookback") || "1h";
  let end = Number(p.get("end"));
  let start = Number(p.get("start"));
  if (!Number.isFinite(end) || end <= 0) end = Date.now() * 1000;
  if (!Number.isFinite(start) || start <= 0) start = end - (lookbackMicros(lookback) || 3600e6);
  q.set("start", String(Math.floor(start)));
  q.set("end", String(Math.floor(end)));
  q.set("lookback", lookback);
  if (!q.has("limit")) q.set("limit", "20");
  return q.toString();
}

const SORTS = [
  ["recent", "Most recent", (a, b) => b.start - a.start],
  ["longest", "Longest first", (a, b) => b.duration - a.duration],
  ["shortest", "Shortest first", (a, b) => a.duration - b.duration],
  ["spans", "Most spans", (a, b) => b.spanCount - a.spanCount],
  ["errors", "Most errors", (a, b) => b.errors - a.errors],
];

async function runSearch(p, results, ctx) {
  const loading = h("p", { class: "loading" }, "Searching…");
  results.appendChild(loading);
  let traces;
  try {
    traces = (await getData(`/api/traces?${apiQuery(p)}`)) || [];
  } catch (e) {
    if (!ctx.isCurrent()) return;
    loading.remove();
    results.appendChild(message(`Search failed: ${e.message}`));
    return;
  }
  if (!ctx.isCurrent()) return;
  loading.remove();
  const summaries = traces.map(summarize);
  if (summaries.length === 0) {
    results.appendChild(message("No traces match. Widen the lookback, or remove a filter.", "info"));
    return;
  }

  const selected = new Set();
  const compareButton = h("button", { type: "button", id: "compare-selected", disabled: true }, "Compare 0/2");
  const updateCompare = () => {
    compareButton.textContent = `Compare ${selected.size}/2`;
    compareButton.disabled = selected.size !== 2;
  };
  compareButton.addEventListener("click", () => {
    const [a, b] = [...selected];
    if (a && b) ctx.navigate(`/trace/${a}...${b}`);
  });

  const sortSelect = h("select", { id: "search-sort", "aria-label": "Sort results" },
    SORTS.map(([value, label]) => h("option", { value }, label)));
  const list = h("ol", { class: "trace-list", id: "trace-list" });
  const maxDuration = Math.max(1, ...summaries.map((t) => t.duration));
  const drawList = () => {
    const order = SORTS.find(([v]) => v === sortSelect.value)[2];
    clear(list);
    for (const t of [...summaries].sort(order)) list.appendChild(traceItem(t, maxDuration, selected, updateCompare));
  };
  sortSelect.addEventListener("change", drawList);

  results.appendChild(h("div", { class: "results-head" },
    h("h2", null, plural(summaries.length, "trace")),
    h("div", { class: "results-tools" }, sortSelect, compareButton)));
  results.appendChild(scatterPlot(summaries, results.clientWidth));
  results.appendChild(list);
  drawList();
}

function traceItem(t, maxDuration, selected, onSelect) {
  const box = h("input", { type: "checkbox", class: "pick", "aria-label": `Pick ${t.name} (${t.traceID}) for comparison` });
  box.checked = selected.has(t.traceID);
  box.addEventListener("change", () => {
    if (box.checked) {
      if (selected.size >= 2) {
        // Keep the newest pick and the one before it.
        const first = selected.values().next().value;
        selected.delete(first);
        for (const other of document.querySelectorAll("input.pick")) {
          if (other.dataset.traceId === first) other.checked = false;
        }
      }
      selected.add(t.traceID);
    } else {
      selected.delete(t.traceID);
    }
    onSelect();
  });
  box.dataset.traceId = t.traceID;
  const bar = h("span", { class: "dur-bar", "aria-hidden": "true" });
  bar.style.width = `${Math.max(1, (t.duration / maxDuration) * 100)}%`;
  return h("li", { class: "trace-item", dataset: { traceId: t.traceID } },
    h("div", { class: "trace-item-head" },
      box,
      h("a", { class: "trace-name", href: `/trace/${t.traceID}` }, t.name),
      h("span", { class: "trace-id mono" }, t.traceID.slice(0, 7)),
      h("span", { class: "trace-duration" }, fmtDuration(t.duration))),
    h("div", { class: "dur-track" }, bar),
    h("div", { class: "trace-item-body" },
      h("span", { class: "badge" }, plural(t.spanCount, "span")),
      t.errors ? h("span", { class: "badge error" }, plural(t.errors, "error")) : null,
      h("span", { class: "services" }, t.services.map(([name, n]) => serviceChip(name, n))),
      h("span", { class: "trace-start", title: fmtTime(t.start) }, `${fmtTime(t.start)} · ${fmtAgo(t.start)}`)));
}

// ------------------------------------------------------------- scatter plot

function niceTicks(min, max, count) {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) ticks.push(v);
  return ticks;
}

function timeLabel(us, spanUs) {
  const d = new Date(us / 1000);
  const hh = String(d.getHours()).padStart(2, "0");
  const mm = String(d.getMinutes()).padStart(2, "0");
  const ss = String(d.getSeconds()).padStart(2, "0");
  if (spanUs > 2 * 86400e6) return `${d.getMonth() + 1}/${d.getDate()} ${hh}:${mm}`;
  return spanUs < 120e6 ? `${hh}:${mm}:${ss}` : `${hh}:${mm}`;
}

function scatterPlot(summaries, width) {
  // Drawn at the width it gets (not scaled), so text stays readable on a phone.
  const W = Math.max(280, Math.min(1400, width || 800));
  const H = W < 500 ? 160 : 200;
  const pad = { l: 64, r: 16, t: 12, b: 28 };
  const starts = summaries.map((t) => t.start);
  let x0 = Math.min(...starts);
  let x1 = Math.max(...starts);
  if (x1 - x0 < 1000) { x0 -= 500e3; x1 += 500e3; }
  const spread = (x1 - x0) * 0.03;
  x0 -= spread;
  x1 += spread;
  const yMax = Math.max(1, ...summaries.map((t) => t.duration)) * 1.1;
  const px = (us) => pad.l + ((us - x0) / (x1 - x0)) * (W - pad.l - pad.r);
  const py = (us) => H - pad.b - (us / yMax) * (H - pad.t - pad.b);
  const maxSpans = Math.max(1, ...summaries.map((t) => t.spanCount));

  const grid = [];
  for (const v of niceTicks(0, yMax, 4)) {
    grid.push(s("line", { class: "grid", x1: pad.l, x2: W - pad.r, y1: py(v), y2: py(v) }));
    grid.push(s("text", { class: "tick", x: pad.l - 6, y: py(v) + 4, "text-anchor": "end" }, fmtDuration(v)));
  }
  for (const v of niceTicks(x0, x1, W < 500 ? 3 : 6)) {
    grid.push(s("text", { class: "tick", x: px(v), y: H - 8, "text-anchor": "middle" }, timeLabel(v, x1 - x0)));
  }
  const points = [...summaries].sort((a, b) => b.spanCount - a.spanCount).map((t) => {
    const r = 4 + 6 * Math.sqrt(t.spanCount / maxSpans);
    const color = t.errors ? "#d62728" : serviceColor(t.model.root ? t.model.root.service : "");
    return s("a", { href: `/trace/${t.traceID}`, class: "point", "aria-label": `${t.name}, ${fmtDuration(t.duration)}` },
      s("title", null, `${t.name}\n${fmtDuration(t.duration)} · ${plural(t.spanCount, "span")}\n${fmtTime(t.start)}`),
      s("circle", { cx: px(t.start), cy: py(t.duration), r, fill: color, class: t.errors ? "has-error" : null }));
  });
  return h("figure", { class: "scatter" },
    s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Trace duration over start time", class: "scatter-svg", width: W, height: H },
      s("line", { class: "axis", x1: pad.l, x2: pad.l, y1: pad.t, y2: H - pad.b }),
      s("line", { class: "axis", x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b }),
      grid, points),
    h("figcaption", { class: "visually-hidden" }, "Each point is a trace: its start time across, its duration up."));
}

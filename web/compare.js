// Comparison of two traces (/trace/{a}...{b}, Jaeger's path, or
// /compare?a=&b=): per span name (service and operation), how many spans
// each trace has and how long they took, spans only in one trace first.

import { ApiError, fetchTrace } from "./api.js";
import { fmtDuration, fmtTime, h, message, normalizeTraceID, plural, serviceChip } from "./dom.js";
import { buildTrace } from "./model.js";

export async function renderCompare(main, ctx, rawA, rawB) {
  document.title = "Compare · Tracegate";
  const inputA = h("input", { id: "compare-a", name: "a", type: "text", class: "mono", autocomplete: "off", spellcheck: "false", placeholder: "trace id A" });
  const inputB = h("input", { id: "compare-b", name: "b", type: "text", class: "mono", autocomplete: "off", spellcheck: "false", placeholder: "trace id B" });
  inputA.value = rawA;
  inputB.value = rawB;
  const formError = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "compare-form", id: "compare-form", "aria-label": "Traces to compare" },
    h("div", { class: "field" }, h("label", { for: "compare-a" }, "Trace A"), inputA),
    h("div", { class: "field" }, h("label", { for: "compare-b" }, "Trace B"), inputB),
    h("button", { type: "submit", class: "primary" }, "Compare"),
    formError);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const a = normalizeTraceID(inputA.value);
    const b = normalizeTraceID(inputB.value);
    if (!a || !b) {
      formError.textContent = `Trace ${!a ? "A" : "B"}: a trace id is 32 hex digits (or 16).`;
      (!a ? inputA : inputB).focus();
      return;
    }
    ctx.navigate(`/trace/${a}...${b}`);
  });
  main.appendChild(h("h1", null, "Compare traces"));
  main.appendChild(form);

  if (!rawA && !rawB) {
    main.appendChild(h("p", { class: "muted" }, "Paste two trace ids, or pick two traces in the search results."));
    return;
  }
  const a = normalizeTraceID(rawA);
  const b = normalizeTraceID(rawB);
  if (!a || !b) {
    main.appendChild(message(`Trace ${!a ? "A" : "B"} ("${!a ? rawA : rawB}") is not a trace id: 32 hex digits (or 16).`));
    return;
  }
  const out = h("div", { class: "compare-out", id: "compare-out" }, h("p", { class: "loading" }, "Loading both traces…"));
  main.appendChild(out);
  const results = await Promise.allSettled([fetchTrace(a), fetchTrace(b)]);
  if (!ctx.isCurrent()) return;
  out.replaceChildren();
  const failed = results.map((r, i) => [r, i === 0 ? "A" : "B", i === 0 ? a : b]).filter(([r]) => r.status === "rejected");
  if (failed.length) {
    for (const [r, label, id] of failed) {
      const e = r.reason;
      out.appendChild(message(`Trace ${label} (${id}): ${e instanceof ApiError && e.status === 404 ? "not found" : "could not be loaded"}: ${e.message}`));
    }
    return;
  }
  const [ma, mb] = results.map((r) => buildTrace(r.value));
  document.title = `${ma.name} vs ${mb.name} · Tracegate`;
  out.appendChild(h("div", { class: "compare-heads" }, traceCard("A", ma, a), traceCard("B", mb, b)));
  out.appendChild(compareTable(ma, mb));
}

function traceCard(label, model, id) {
  return h("div", { class: `compare-card card-${label.toLowerCase()}` },
    h("div", { class: "card-label" }, `Trace ${label}`),
    h("a", { href: `/trace/${id}`, class: "trace-name" }, model.name),
    h("div", { class: "mono small" }, id),
    h("div", { class: "muted" }, `${fmtDuration(model.duration)} · ${plural(model.nodes.length, "span")} · ${plural(model.errors, "error")} · ${fmtTime(model.start)}`));
}

/** Per (service, operation): [count, total duration] in each trace. */
export function groupSpans(model) {
  const groups = new Map();
  for (const node of model.nodes) {
    const key = JSON.stringify([node.service, node.name]);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { service: node.service, name: node.name, count: 0, total: 0, errors: 0 }));
    g.count++;
    g.total += node.duration;
    if (node.error) g.errors++;
  }
  return groups;
}

function compareTable(ma, mb) {
  const ga = groupSpans(ma);
  const gb = groupSpans(mb);
  const keys = new Set([...ga.keys(), ...gb.keys()]);
  const rows = [...keys].map((key) => {
    const x = ga.get(key);
    const y = gb.get(key);
    const g = x || y;
    const countA = x ? x.count : 0;
    const countB = y ? y.count : 0;
    const totalA = x ? x.total : 0;
    const totalB = y ? y.total : 0;
    return {
      key, service: g.service, name: g.name, countA, countB, totalA, totalB,
      meanA: countA ? totalA / countA : null,
      meanB: countB ? totalB / countB : null,
      only: countA === 0 ? "B" : countB === 0 ? "A" : null,
    };
  });
  const onlyA = rows.filter((r) => r.only === "A").length;
  const onlyB = rows.filter((r) => r.only === "B").length;
  // Spans in one trace only first, then the largest change in total time.
  rows.sort((p, q) => Number(q.only !== null) - Number(p.only !== null) ||
    Math.abs(q.totalB - q.totalA) - Math.abs(p.totalB - p.totalA) ||
    (p.key < q.key ? -1 : 1));

  const signed = (us) => (us > 0 ? `+${fmtDuration(us)}` : us < 0 ? fmtDuration(us) : "0");
  const signedCount = (n) => (n > 0 ? `+${n}` : String(n));
  const pct = (a, b) => (a > 0 ? ` (${b >= a ? "+" : "−"}${Math.round(Math.abs(b - a) / a * 100)}%)` : "");
  const cls = (d) => (d > 0 ? "worse" : d < 0 ? "better" : "same");

  const summary = h("p", { class: "compare-summary", id: "compare-summary" },
    `${plural(rows.length, "span name")}: ${onlyA} only in A, ${onlyB} only in B. ` +
    `Duration ${fmtDuration(ma.duration)} → ${fmtDuration(mb.duration)} (${signed(mb.duration - ma.duration)}).`);
  const table = h("table", { class: "compare-table", id: "compare-table" },
    h("thead", null, h("tr", null,
      h("th", { scope: "col" }, "Span (service: operation)"),
      h("th", { scope: "col", class: "num count-a" }, "Count A"),
      h("th", { scope: "col", class: "num count-b" }, "Count B"),
      h("th", { scope: "col", class: "num delta-count" }, "Δ count"),
      h("th", { scope: "col", class: "num total-a" }, "Total A"),
      h("th", { scope: "col", class: "num total-b" }, "Total B"),
      h("th", { scope: "col", class: "num mean-a" }, "Mean A"),
      h("th", { scope: "col", class: "num mean-b" }, "Mean B"),
      h("th", { scope: "col", class: "num delta-total" }, "Δ total"))),
    h("tbody", null, rows.map((r) => h("tr", {
      class: r.only ? `only-${r.only.toLowerCase()}` : "",
      dataset: { service: r.service, operation: r.name },
    },
    h("th", { scope: "row" }, h("div", { class: "span-cell" },
      serviceChip(r.service), h("span", { class: "op" }, r.name),
      r.only ? h("span", { class: `badge only only-${r.only.toLowerCase()}` }, `only in ${r.only}`) : null)),
    h("td", { class: "num count-a" }, String(r.countA)),
    h("td", { class: "num count-b" }, String(r.countB)),
    h("td", { class: `num delta-count ${cls(r.countB - r.countA)}` }, signedCount(r.countB - r.countA)),
    h("td", { class: "num total-a" }, r.countA ? fmtDuration(r.totalA) : "—"),
    h("td", { class: "num total-b" }, r.countB ? fmtDuration(r.totalB) : "—"),
    h("td", { class: "num mean-a" }, r.meanA === null ? "—" : fmtDuration(r.meanA)),
    h("td", { class: "num mean-b" }, r.meanB === null ? "—" : fmtDuration(r.meanB)),
    h("td", { class: `num delta-total ${cls(r.totalB - r.totalA)}` },
      signed(r.totalB - r.totalA), r.countA && r.countB && r.totalA !== r.totalB ? pct(r.totalA, r.totalB) : "")))));
  return h("div", null, summary, h("div", { class: "table-wrap" }, table));
}

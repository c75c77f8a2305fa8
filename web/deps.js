// The service dependency graph for a time window: services laid out in
// layers (callers left of callees), edges labelled with calls and error
// rate, and the same numbers in a table.

import { getData } from "./api.js";
import { h, message, plural, s, serviceColor } from "./dom.js";
import { LOOKBACKS, lookbackMicros } from "./search.js";

export async function renderDependencies(main, ctx) {
  document.title = "Dependencies · Tracegate";
  const p = ctx.params;
  const lookback = lookbackMicros(p.get("lookback")) ? p.get("lookback") : "1d";
  const select = h("select", { id: "deps-lookback", name: "lookback" },
    LOOKBACKS.map(([value, label]) => h("option", { value }, label)));
  select.value = lookback;
  const form = h("form", { class: "deps-form", id: "deps-form", "aria-label": "Time window" },
    h("label", { for: "deps-lookback" }, "Window"), select,
    h("button", { type: "submit", class: "primary" }, "Show"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    ctx.navigate(`/dependencies?lookback=${encodeURIComponent(select.value)}`);
  });
  select.addEventListener("change", () => form.requestSubmit());
  main.appendChild(h("div", { class: "page-head" }, h("h1", null, "Service dependencies"), form));
  const out = h("div", { id: "deps-out" }, h("p", { class: "loading" }, "Loading dependencies…"));
  main.appendChild(out);

  const endMs = Date.now();
  const lookbackMs = Math.round(lookbackMicros(lookback) / 1000);
  let links;
  try {
    links = (await getData(`/api/dependencies?endTs=${endMs}&lookback=${lookbackMs}`)) || [];
  } catch (e) {
    if (!ctx.isCurrent()) return;
    out.replaceChildren(message(`Could not load dependencies: ${e.message}`));
    return;
  }
  if (!ctx.isCurrent()) return;
  out.replaceChildren();
  const edges = links.map((l) => ({
    parent: String(l.parent ?? ""),
    child: String(l.child ?? ""),
    calls: Number(l.callCount) || 0,
    errors: Number(l.errorCount) || 0,
  }));
  if (!edges.length) {
    out.appendChild(message("No calls between services in this window.", "info"));
    return;
  }
  out.appendChild(graph(edges, out.clientWidth));
  out.appendChild(table(edges));
}

function errorRate(e) {
  return e.calls ? e.errors / e.calls : 0;
}

function fmtRate(r) {
  if (r === 0) return "0%";
  const pct = r * 100;
  return `${pct < 1 ? pct.toFixed(2) : pct < 10 ? pct.toFixed(1) : Math.round(pct)}%`;
}

/** Layers by longest path from the callers nobody calls; a cycle is cut at the
 *  edge that closes it (depth-first), so every service gets a layer. */
function layers(nodes, edges) {
  const out = new Map(nodes.map((n) => [n, []]));
  const indeg = new Map(nodes.map((n) => [n, 0]));
  for (const e of edges) {
    if (e.parent === e.child) continue;
    out.get(e.parent).push(e.child);
    indeg.set(e.child, indeg.get(e.child) + 1);
  }
  // Back edges by an iterative depth-first search from sources, then the rest.
  const state = new Map(); // 1 on stack, 2 done
  const back = new Set();
  const starts = [...nodes.filter((n) => indeg.get(n) === 0), ...nodes];
  for (const start of starts) {
    if (state.has(start)) continue;
    const stack = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [node, i] = top;
      const next = out.get(node)[i];
      if (next === undefined) {
        state.set(node, 2);
        stack.pop();
        continue;
      }
      top[1]++;
      if (state.get(next) === 1) back.add(`${node}\u0000${next}`);
      else if (!state.has(next)) {
        state.set(next, 1);
        stack.push([next, 0]);
      }
    }
  }
  const layer = new Map(nodes.map((n) => [n, 0]));
  // Longest path over the acyclic rest (Bellman-Ford style, at most n rounds).
  for (let round = 0; round < nodes.length; round++) {
    let changed = false;
    for (const e of edges) {
      if (e.parent === e.child || back.has(`${e.parent}\u0000${e.child}`)) continue;
      if (layer.get(e.child) < layer.get(e.parent) + 1) {
        layer.set(e.child, layer.get(e.parent) + 1);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return layer;
}

function graph(edges, width) {
  const names = [...new Set(edges.flatMap((e) => [e.parent, e.child]))].sort();
  const layer = layers(names, edges);
  const columns = [];
  for (const n of names) {
    const l = layer.get(n);
    (columns[l] ||= []).push(n);
  }
  // Within a column, order by the mean row of callers, so edges cross less.
  const row = new Map();
  columns.forEach((col, ci) => {
    if (ci > 0) {
      const key = (n) => {
        const callers = edges.filter((e) => e.child === n && row.has(e.parent)).map((e) => row.get(e.parent));
        return callers.length ? callers.reduce((a, b) => a + b, 0) / callers.length : Infinity;
      };
      col.sort((a, b) => key(a) - key(b) || (a < b ? -1 : 1));
    }
    col.forEach((n, i) => row.set(n, i));
  });

  // Wide: callers left of callees. Narrow (a phone): callers above callees,
  // so the graph grows down the page instead of off its side.
  const narrow = width > 0 && width < 600;
  const nodeW = narrow ? 132 : 170;
  const nodeH = 36;
  const layerGap = narrow ? 64 : 150; // between layers
  const sideGap = narrow ? 20 : 54; // between services of one layer
  const padX = 16;
  const hasLoops = edges.some((e) => e.parent === e.child);
  const hasBackEdges = edges.some((e) => e.parent !== e.child && layer.get(e.child) <= layer.get(e.parent));
  // A service that calls itself gets a loop above its box; calls back to an
  // earlier layer go around the side (below when wide, right when narrow).
  const padY = hasLoops ? 56 : 24;
  const extra = hasBackEdges ? 44 : 0;
  const widest = Math.max(...columns.map((c) => (c ? c.length : 0)));
  const layerSpan = (n) => n * (narrow ? nodeW : nodeH) + (n - 1) * sideGap;
  const W = narrow
    ? padX * 2 + layerSpan(widest) + extra
    : padX * 2 + columns.length * nodeW + (columns.length - 1) * layerGap;
  const H = narrow
    ? padY * 2 + columns.length * nodeH + (columns.length - 1) * layerGap
    : padY * 2 + layerSpan(widest) + extra;
  const pos = new Map();
  columns.forEach((col, ci) => {
    const offset = (layerSpan(widest) - layerSpan(col.length)) / 2;
    col.forEach((n, i) => pos.set(n, narrow
      ? { x: padX + offset + i * (nodeW + sideGap), y: padY + ci * (nodeH + layerGap) }
      : { x: padX + ci * (nodeW + layerGap), y: padY + offset + i * (nodeH + sideGap) }));
  });
  const maxCalls = Math.max(1, ...edges.map((e) => e.calls));

  const defs = s("defs", null,
    s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "9", markerHeight: "9", markerUnits: "userSpaceOnUse", orient: "auto" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-ok" })),
    s("marker", { id: "arrow-err", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "9", markerHeight: "9", markerUnits: "userSpaceOnUse", orient: "auto" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-err" })));

  const edgeEls = [];
  const labelEls = [];
  for (const e of edges) {
    const a = pos.get(e.parent);
    const b = pos.get(e.child);
    const forward = layer.get(e.child) > layer.get(e.parent);
    let d;
    let lx;
    let ly;
    if (e.parent === e.child) {
      const x = a.x + nodeW - 24;
      d = `M${x},${a.y} C${x - 10},${a.y - 40} ${x + 40},${a.y - 40} ${x + 24},${a.y + 4}`;
      lx = x + 16;
      ly = a.y - 32;
    } else if (forward && !narrow) {
      const x1 = a.x + nodeW;
      const y1 = a.y + nodeH / 2;
      const x2 = b.x;
      const y2 = b.y + nodeH / 2;
      const dx = (x2 - x1) / 2;
      d = `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = (y1 + y2) / 2 - 6;
    } else if (forward) {
      const x1 = a.x + nodeW / 2;
      const y1 = a.y + nodeH;
      const x2 = b.x + nodeW / 2;
      const y2 = b.y;
      const dy = (y2 - y1) / 2;
      d = `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = (y1 + y2) / 2 + 4;
    } else if (!narrow) {
      // A call back to an earlier (or the same) layer: around underneath.
      const x1 = a.x + nodeW / 2;
      const y1 = a.y + nodeH;
      const x2 = b.x + nodeW / 2;
      const y2 = b.y + nodeH;
      const low = Math.max(y1, y2) + 40;
      d = `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = low - 4;
    } else {
      // The same, around the right-hand side.
      const x1 = a.x + nodeW;
      const y1 = a.y + nodeH / 2;
      const x2 = b.x + nodeW;
      const y2 = b.y + nodeH / 2;
      const right = Math.max(x1, x2) + 40;
      d = `M${x1},${y1} C${right},${y1} ${right},${y2} ${x2},${y2}`;
      lx = right - 8;
      ly = (y1 + y2) / 2;
    }
    const hasErrors = e.errors > 0;
    const stroke = 1.5 + 3 * Math.sqrt(e.calls / maxCalls);
    const label = !hasErrors ? plural(e.calls, "call")
      : narrow ? `${e.calls} · ${fmtRate(errorRate(e))} err` : `${plural(e.calls, "call")} · ${fmtRate(errorRate(e))} errors`;
    edgeEls.push(s("path", {
      d, class: `edge${hasErrors ? " has-errors" : ""}`, "stroke-width": stroke.toFixed(1),
      "marker-end": hasErrors ? "url(#arrow-err)" : "url(#arrow)",
      dataset: { parent: e.parent, child: e.child },
    }, s("title", null, `${e.parent} → ${e.child}: ${label}`)));
    labelEls.push(s("text", { x: lx, y: ly, class: `edge-label${hasErrors ? " has-errors" : ""}`, "text-anchor": "middle" },
      label));
  }
  const nodeEls = names.map((n) => {
    const { x, y } = pos.get(n);
    const maxChars = narrow ? 14 : 20;
    const shown = n.length > maxChars ? `${n.slice(0, maxChars - 1)}…` : n;
    return s("g", { class: "node", dataset: { service: n } },
      s("title", null, n),
      s("rect", { x, y, width: nodeW, height: nodeH, rx: 6, class: "node-box" }),
      s("rect", { x, y, width: 6, height: nodeH, rx: 2, fill: serviceColor(n) }),
      s("text", { x: x + 14, y: y + nodeH / 2 + 5, class: "node-label" }, shown));
  });
  return h("figure", { class: "deps-graph" },
    h("div", { class: "graph-scroll" },
      s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "Service dependency graph", id: "deps-svg" },
        defs, edgeEls, nodeEls, labelEls)),
    h("figcaption", { class: "muted" }, `${plural(names.length, "service")}, ${plural(edges.length, "edge")}.${edges.some((e) => e.errors) ? " Red edges had errors." : ""}`));
}

function table(edges) {
  const sorted = [...edges].sort((a, b) => b.calls - a.calls || (a.parent < b.parent ? -1 : 1));
  return h("div", { class: "table-wrap" },
    h("table", { class: "deps-table", id: "deps-table" },
      h("thead", null, h("tr", null,
        h("th", { scope: "col" }, "Caller"),
        h("th", { scope: "col" }, "Callee"),
        h("th", { scope: "col", class: "num" }, "Calls"),
        h("th", { scope: "col", class: "num" }, "Errors"),
        h("th", { scope: "col", class: "num" }, "Error rate"))),
      h("tbody", null, sorted.map((e) => h("tr", { dataset: { parent: e.parent, child: e.child }, class: e.errors ? "has-errors" : "" },
        h("td", null, e.parent),
        h("td", null, e.child),
        h("td", { class: "num calls" }, String(e.calls)),
        h("td", { class: "num errors" }, String(e.errors)),
        h("td", { class: "num rate" }, fmtRate(errorRate(e))))))));
}

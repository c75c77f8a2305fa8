// The trace page: header with the trace's numbers and conclusion state, a
// collapsible waterfall on a time axis with the critical path, and a detail
// pane for the selected span.

import { ApiError, fetchOTLPTrace, fetchTrace, fetchTraceState } from "./api.js";
import {
  clear, fmtAgo, fmtDuration, fmtTime, fmtValue, h, markReady, message, normalizeTraceID, plural, serviceChip,
  serviceColor,
} from "./dom.js";
import { buildTrace, criticalPath, selfTime, tagValue } from "./model.js";

export async function renderTrace(main, ctx, rawID) {
  const traceID = normalizeTraceID(rawID);
  document.title = "Trace · Tracegate";
  if (!traceID) {
    main.appendChild(h("h1", null, "Not a trace id"));
    main.appendChild(message(`"${rawID}" is not a trace id: a trace id is 32 hex digits (or 16).`));
    return;
  }
  const loading = h("p", { class: "loading" }, `Loading trace ${traceID}…`);
  main.appendChild(loading);
  const statePromise = fetchTraceState(traceID).then((data) => ({ data }), (error) => ({ error }));
  let trace;
  try {
    trace = await fetchTrace(traceID);
  } catch (e) {
    if (!ctx.isCurrent()) return;
    loading.remove();
    main.appendChild(h("h1", null, "Trace ", h("span", { class: "mono" }, traceID)));
    main.appendChild(message(e instanceof ApiError && e.status === 404
      ? `Trace ${traceID} was not found: ${e.message}` : `Could not load trace ${traceID}: ${e.message}`));
    return;
  }
  if (!ctx.isCurrent()) return;
  loading.remove();
  const model = buildTrace(trace);
  document.title = `${model.name} · Tracegate`;
  const stateBox = h("div", { class: "state", id: "trace-state" }, h("span", { class: "muted" }, "Conclusion state: loading…"));
  main.appendChild(traceHeader(model, traceID, stateBox));
  if (model.warnings.length) {
    main.appendChild(message(`Warnings: ${model.warnings.map(String).join("; ")}`, "warning"));
  }
  if (model.nodes.length === 0) {
    main.appendChild(message("This trace has no spans.", "info"));
  } else {
    main.appendChild(new TraceView(model, traceID, ctx).element);
  }
  markReady("trace", ctx.isCurrent);
  const state = await statePromise;
  if (!ctx.isCurrent()) return;
  fillState(stateBox, state);
}

function traceHeader(model, traceID, stateBox) {
  const fact = (label, ...value) => h("div", { class: "fact" }, h("dt", null, label), h("dd", null, ...value));
  return h("header", { class: "trace-header" },
    h("div", { class: "trace-title" },
      h("h1", { id: "trace-name" }, model.name),
      h("div", { class: "trace-links" },
        h("span", { class: "mono trace-full-id", title: "Trace ID" }, traceID),
        h("a", { href: `/api/traces/${traceID}`, class: "json-link", id: "trace-json" }, "JSON"),
        h("a", { href: `/api/v3/traces/${traceID}`, class: "json-link" }, "OTLP JSON"),
        h("a", { href: `/compare?a=${traceID}`, class: "json-link" }, "Compare…"))),
    h("dl", { class: "facts" },
      fact("Start", h("span", { title: fmtAgo(model.start) }, fmtTime(model.start))),
      fact("Duration", fmtDuration(model.duration)),
      fact("Spans", h("span", { id: "trace-span-count" }, String(model.nodes.length))),
      fact("Errors", h("span", { class: model.errors ? "error-text" : "" }, String(model.errors))),
      fact("Depth", String(model.depth)),
      fact("Services", String(model.services.length))),
    h("div", { class: "trace-services" }, model.services.map(([name, n]) => serviceChip(name, n))),
    stateBox);
}

function fillState(box, result) {
  clear(box);
  if (result.error) {
    const e = result.error;
    box.appendChild(h("span", { class: "muted" }, e instanceof ApiError && e.status === 404
      ? "Conclusion state: not tracked for this trace."
      : `Conclusion state unavailable: ${e.message}`));
    return;
  }
  const st = result.data || {};
  box.appendChild(h("span", { class: "state-label" }, "Conclusion state:"));
  if (st.state === "concluded") {
    box.appendChild(h("span", { class: "badge ok", id: "state-badge" }, "Concluded"));
    if (st.concludedAt !== null && st.concludedAt !== undefined) {
      box.appendChild(h("span", null, `at ${fmtTime(Number(st.concludedAt))}`));
    }
  } else {
    box.appendChild(h("span", { class: "badge open", id: "state-badge" }, st.state === "open" ? "Open" : String(st.state ?? "unknown")));
    if (st.lastActivityAt) box.appendChild(h("span", null, `last span arrived ${fmtAgo(Number(st.lastActivityAt))}`));
  }
  if (st.complete) {
    box.appendChild(h("span", { class: "badge ok", id: "complete-badge" }, "Complete"));
  } else {
    const n = Number(st.missingParentCount ?? (st.missingParents || []).length);
    const missing = Array.isArray(st.missingParents) ? st.missingParents : [];
    box.appendChild(h("span", { class: "badge warning", id: "complete-badge" }, `${plural(n, "missing parent")}`));
    if (missing.length) {
      box.appendChild(h("details", { class: "missing" },
        h("summary", null, "Which"),
        h("ul", null, missing.map((id) => h("li", { class: "mono" }, String(id))))));
    }
  }
}

// ------------------------------------------------------------------ waterfall

const TICKS = [0, 0.25, 0.5, 0.75, 1];
const ALL_ROWS = 1500; // up to this many rows are all in the document
const ROW_HEIGHT = 30; // px: .wf-row's height in app.css
const OVERSCAN = 30; // rows drawn beyond each edge of the viewport

// The parts of a waterfall row that are the same in every row.
const ROW_TEMPLATE = h("div", { class: "wf-row", role: "listitem" },
  h("div", { class: "wf-label" },
    h("button", { type: "button", class: "span-btn", "aria-controls": "span-detail", "aria-pressed": "false" },
      h("span", { class: "swatch", "aria-hidden": "true" }),
      h("span", { class: "svc" }),
      h("span", { class: "op" }))),
  h("div", { class: "wf-timeline" },
    h("div", { class: "bar" }),
    h("span", { class: "bar-label" })));
const TOGGLE_TEMPLATE = h("button", { type: "button", class: "toggle", "aria-expanded": "true" });
const SPACER_TEMPLATE = h("span", { class: "toggle-spacer", "aria-hidden": "true" });
const ERROR_ICON_TEMPLATE = h("span", { class: "err-icon", title: "Error", "aria-label": "error" }, "!");

class TraceView {
  constructor(model, traceID, ctx) {
    this.model = model;
    this.traceID = traceID;
    this.ctx = ctx;
    this.critical = criticalPath(model);
    this.collapsed = new Set();
    this.rows = new Map(); // node → {row, toggle, button, closed}, made when first shown
    this.visible = model.nodes; // the rows not folded away, in display order
    this.shown = []; // the rows in the document now
    this.range = [0, 0];
    this.selected = null;
    this.otlpLinks = null; // Promise of Map, fetched when a span with links is opened

    this.detail = h("aside", { class: "detail", id: "span-detail", "aria-label": "Span details", hidden: true, tabindex: "-1" });
    this.detail.addEventListener("keydown", (e) => { if (e.key === "Escape") this.closeDetail(); });
    this.topPad = h("div", { class: "wf-pad", "aria-hidden": "true" });
    this.bottomPad = h("div", { class: "wf-pad", "aria-hidden": "true" });
    this.rowsBox = h("div", { class: "wf-rows", id: "waterfall-rows", role: "list" }, this.topPad, this.bottomPad);
    this.rowsBox.addEventListener("keydown", (e) => this.onKey(e));
    this.rowsBox.addEventListener("click", (e) => this.onClick(e));
    this.nodeOfRow = new Map(); // row element → node

    const expandAll = h("button", { type: "button", class: "small" }, "Expand all");
    expandAll.addEventListener("click", () => { this.collapsed.clear(); this.applyVisibility(); });
    const collapseAll = h("button", { type: "button", class: "small" }, "Collapse all");
    collapseAll.addEventListener("click", () => {
      for (const n of this.model.nodes) if (n.children.length && n.depth >= 0) this.collapsed.add(n);
      this.applyVisibility();
    });
    const cpTotal = [...this.critical.values()].flat().reduce((sum, seg) => sum + seg.end - seg.start, 0);
    const toolbar = h("div", { class: "wf-toolbar" },
      expandAll, collapseAll,
      h("span", { class: "legend" },
        h("span", { class: "legend-cp", "aria-hidden": "true" }), `Critical path (${fmtDuration(cpTotal)})`),
      h("span", { class: "legend" },
        h("span", { class: "legend-error", "aria-hidden": "true" }, "!"), "Error"));

    const axis = h("div", { class: "wf-axis", "aria-hidden": "true" },
      TICKS.map((f) => h("span", { class: `tick-label${f === 1 ? " last" : f === 0 ? " first" : ""}`, style: { left: `${f * 100}%` } },
        fmtDuration(f * model.duration))));
    const head = h("div", { class: "wf-head" }, h("div", { class: "wf-label-head" }, "Service · operation"), axis);

    this.renderRows(true);
    // Windowed rows follow the page's scrolling; the listeners go with the page.
    let queued = false;
    const onScroll = () => {
      if (!ctx.isCurrent()) {
        window.removeEventListener("scroll", onScroll);
        window.removeEventListener("resize", onScroll);
        return;
      }
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; this.renderRows(false); });
    };
    window.addEventListener("scroll", onScroll, { passive: true });
    window.addEventListener("resize", onScroll);

    this.element = h("div", { class: "trace-body" },
      h("section", { class: "waterfall", "aria-label": "Waterfall" }, toolbar, head, this.rowsBox),
      this.detail);

    const wanted = ctx.params.get("span") || ctx.params.get("uiFind");
    const node = wanted && model.byID.get(wanted);
    // Once on the page (the caller appends this.element right away).
    queueMicrotask(() => {
      if (node) this.select(node, { focus: false, reveal: "center" });
      else this.renderRows(false);
    });
  }

  pct(us) {
    const total = this.model.duration || 1;
    return ((us - this.model.start) / total) * 100;
  }

  /**
   * One waterfall row, cloned from a template and filled in with direct DOM
   * calls: for a 10,000-span trace, building rows through h() took 1.4 s of
   * the page's 2.3 s on this machine. Clicks are handled once, on the rows'
   * container (see onClick), not by listeners on each row.
   */
  makeRow(node) {
    const row = ROW_TEMPLATE.cloneNode(true);
    const label = row.firstChild;
    const button = label.lastChild;
    const [, svc, op] = button.childNodes;
    const timeline = row.lastChild;
    const durLabel = timeline.lastChild;
    if (node.error) row.classList.add("error");
    if (this.critical.has(node)) row.classList.add("on-cp");
    row.dataset.spanId = node.id;
    row.dataset.depth = String(node.depth);

    let toggle = null;
    if (node.children.length) {
      toggle = TOGGLE_TEMPLATE.cloneNode(true);
      toggle.setAttribute("aria-label", `Collapse the ${plural(node.children.length, "child span")} of ${node.name}`);
    }
    label.insertBefore(toggle || SPACER_TEMPLATE.cloneNode(true), button);
    button.title = `${node.service}: ${node.name}`;
    svc.textContent = node.service;
    op.textContent = node.name;
    if (node.error) button.appendChild(ERROR_ICON_TEMPLATE.cloneNode(true));
    if (node.missingParent) {
      button.appendChild(h("span", { class: "orphan", title: `Parent ${node.parentID} is not in this trace` }, "orphan"));
    }

    // One CSSOM write per row: the stylesheet places the bar, its label and
    // the indentation from these custom properties (ten writes per row cost
    // a third of a second for 10,000 spans).
    const left = this.pct(node.start);
    const width = Math.max(0, this.pct(node.end) - left);
    row.style.cssText = `--depth:${Math.min(node.depth, 40)};--left:${left.toFixed(3)};--width:${width.toFixed(3)};` +
      `--color:${serviceColor(node.service)}`;
    for (const seg of this.critical.get(node) || []) {
      const sl = this.pct(seg.start);
      const cp = document.createElement("div");
      cp.className = "cp";
      cp.style.left = `${sl}%`;
      cp.style.width = `${Math.max(0, this.pct(seg.end) - sl)}%`;
      timeline.insertBefore(cp, durLabel);
    }
    // Right of the bar where there is room, else left of it, else (a bar
    // across nearly the whole trace) inside it: never past the timeline, so
    // it neither covers the names nor widens a phone's page.
    durLabel.textContent = fmtDuration(node.duration);
    durLabel.classList.add(left + width <= 85 ? "after" : left >= 15 ? "before" : "inside");
    this.rows.set(node, { row, toggle, button, closed: false });
    this.nodeOfRow.set(row, node);
    return row;
  }

  onClick(event) {
    const target = event.target instanceof Element ? event.target : null;
    const rowEl = target && target.closest(".wf-row");
    const node = rowEl && this.nodeOfRow.get(rowEl);
    if (!node) return;
    if (target.closest("button.toggle")) this.toggle(node);
    else this.select(node, { focus: false, scroll: true });
  }

  toggle(node) {
    if (this.collapsed.has(node)) this.collapsed.delete(node);
    else this.collapsed.add(node);
    this.applyVisibility();
  }

  /** Recomputes which rows are not folded away and redraws the window. */
  applyVisibility() {
    const visible = [];
    let hideBelow = null;
    for (const node of this.model.nodes) {
      if (hideBelow !== null && node.depth > hideBelow) continue;
      hideBelow = this.collapsed.has(node) ? node.depth : null;
      visible.push(node);
    }
    this.visible = visible;
    this.renderRows(true);
  }

  visibleNodes() {
    return this.visible;
  }

  rowOf(node) {
    let r = this.rows.get(node);
    if (!r) {
      this.makeRow(node);
      r = this.rows.get(node);
    }
    return r;
  }

  /**
   * Puts the rows in view into the document. Up to ALL_ROWS rows are all
   * there (find-in-page sees them); a bigger trace gets the rows around the
   * viewport only, between two spacers as tall as the rows left out, so a
   * 10,000-span trace draws as fast as a small one (building all its rows
   * took 1.3 s here, most of the page's time). Rows have a fixed height.
   */
  renderRows(force) {
    const n = this.visible.length;
    let first = 0;
    let last = n;
    if (n > ALL_ROWS) {
      const top = this.rowsBox.isConnected ? this.rowsBox.getBoundingClientRect().top : 0;
      first = Math.max(0, Math.min(n, Math.floor(-top / ROW_HEIGHT)) - OVERSCAN);
      last = Math.min(n, Math.max(first, Math.ceil((window.innerHeight - top) / ROW_HEIGHT)) + OVERSCAN);
    }
    if (!force && first === this.range[0] && last === this.range[1]) return;
    this.range = [first, last];
    const keepFocus = document.activeElement;
    for (const row of this.shown) row.remove();
    const frag = document.createDocumentFragment();
    this.shown = [];
    for (let i = first; i < last; i++) {
      const node = this.visible[i];
      const r = this.rowOf(node);
      this.syncRow(node, r);
      frag.appendChild(r.row);
      this.shown.push(r.row);
    }
    this.rowsBox.insertBefore(frag, this.bottomPad);
    this.topPad.style.height = `${first * ROW_HEIGHT}px`;
    this.bottomPad.style.height = `${(n - last) * ROW_HEIGHT}px`;
    if (keepFocus instanceof HTMLElement && keepFocus.isConnected && document.activeElement !== keepFocus) {
      keepFocus.focus({ preventScroll: true });
    }
  }

  /** A row's folded and selected state as it is now. */
  syncRow(node, r) {
    if (r.toggle) {
      const closed = this.collapsed.has(node);
      if (r.closed !== closed) {
        r.closed = closed;
        r.toggle.setAttribute("aria-expanded", closed ? "false" : "true");
        r.toggle.setAttribute("aria-label",
          `${closed ? "Expand" : "Collapse"} the ${plural(node.children.length, "child span")} of ${node.name}`);
        r.row.classList.toggle("collapsed", closed);
      }
    }
    const selected = node === this.selected;
    if (r.row.classList.contains("selected") !== selected) {
      r.row.classList.toggle("selected", selected);
      r.button.setAttribute("aria-pressed", selected ? "true" : "false");
    }
  }

  /** Scrolls a visible row into the window (and the viewport) when it is not there. */
  reveal(node, block = "nearest") {
    const i = this.visible.indexOf(node);
    if (i < 0) return null;
    if (i < this.range[0] || i >= this.range[1]) {
      const boxTop = this.rowsBox.getBoundingClientRect().top + window.scrollY;
      window.scrollTo(0, Math.max(0, boxTop + i * ROW_HEIGHT - window.innerHeight / 2));
      this.renderRows(true);
    }
    const r = this.rowOf(node);
    if (r.row.isConnected) r.row.scrollIntoView({ block });
    return r;
  }

  onKey(event) {
    const target = event.target;
    if (!(target instanceof HTMLElement)) return;
    const rowEl = target.closest(".wf-row");
    if (!rowEl) return;
    const node = this.nodeOfRow.get(rowEl);
    if (!node) return;
    const visible = this.visibleNodes();
    const i = visible.indexOf(node);
    let next = null;
    switch (event.key) {
      case "ArrowDown": next = visible[i + 1]; break;
      case "ArrowUp": next = visible[i - 1]; break;
      case "Home": next = visible[0]; break;
      case "End": next = visible[visible.length - 1]; break;
      case "ArrowRight":
        if (node.children.length && this.collapsed.has(node)) this.toggle(node);
        else next = node.children[0] || null;
        break;
      case "ArrowLeft":
        if (node.children.length && !this.collapsed.has(node)) this.toggle(node);
        else next = node.parent;
        break;
      default:
        return;
    }
    event.preventDefault();
    if (next) {
      const r = this.reveal(next);
      if (r) r.button.focus();
    }
  }

  select(node, { focus, scroll = false, reveal = null }) {
    const old = this.selected;
    this.selected = node;
    if (old && this.rows.has(old)) this.syncRow(old, this.rows.get(old));
    this.syncRow(node, this.rowOf(node));
    // Collapsed ancestors open so the selected row is visible.
    let changed = false;
    for (let p = node.parent; p; p = p.parent) if (this.collapsed.delete(p)) changed = true;
    if (changed) this.applyVisibility();
    if (reveal) this.reveal(node, reveal);
    const params = new URLSearchParams(location.search);
    params.set("span", node.id);
    history.replaceState(null, "", `${location.pathname}?${params}`);
    this.renderDetail(node);
    if (focus) this.detail.focus();
    // Below the waterfall (narrow screens) the pane would open out of sight.
    if (scroll && window.matchMedia("(max-width: 1100px)").matches) {
      this.detail.scrollIntoView({ block: "start" });
    }
  }

  closeDetail() {
    const node = this.selected;
    this.selected = null;
    if (node) {
      const r = this.rowOf(node);
      this.syncRow(node, r);
      if (r.row.isConnected) r.button.focus();
    }
    this.detail.hidden = true;
    this.element.classList.remove("with-detail");
    const params = new URLSearchParams(location.search);
    params.delete("span");
    const q = params.toString();
    history.replaceState(null, "", q ? `${location.pathname}?${q}` : location.pathname);
  }

  renderDetail(node) {
    const d = clear(this.detail);
    d.hidden = false;
    this.element.classList.add("with-detail");
    const span = node.span;
    const statusCode = tagValue(span, "otel.status_code");
    const statusMessage = tagValue(span, "otel.status_description");
    const scopeName = tagValue(span, "otel.scope.name") ?? tagValue(span, "otel.library.name");
    const scopeVersion = tagValue(span, "otel.scope.version") ?? tagValue(span, "otel.library.version");
    const self = selfTime(node);
    const cp = (this.critical.get(node) || []).reduce((sum, seg) => sum + seg.end - seg.start, 0);
    const close = h("button", { type: "button", class: "close", "aria-label": "Close span details" }, "×");
    close.addEventListener("click", () => this.closeDetail());

    const row = (label, ...value) => h("div", { class: "kv-row" }, h("dt", null, label), h("dd", null, ...value));
    let parentValue = "—";
    if (node.parentID !== null) {
      const parent = this.model.byID.get(node.parentID);
      if (parent) {
        parentValue = h("button", { type: "button", class: "link-button mono" }, node.parentID);
        parentValue.addEventListener("click", () => this.jumpTo(parent));
      } else {
        parentValue = h("span", null, h("span", { class: "mono" }, node.parentID), " (not in this trace)");
      }
    }
    d.appendChild(h("div", { class: "detail-head" },
      h("h2", { id: "detail-title" }, node.name),
      close));
    d.appendChild(h("div", { class: "detail-service" }, serviceChip(node.service),
      node.error ? h("span", { class: "badge error" }, "error") : null));
    d.appendChild(h("dl", { class: "kv-list", id: "detail-facts" },
      row("Span ID", h("span", { class: "mono" }, node.id)),
      row("Parent ID", parentValue),
      row("Kind", node.kind || "—"),
      row("Status", statusCode === undefined ? "unset" : String(statusCode),
        statusMessage ? h("span", { class: "status-msg" }, `: ${statusMessage}`) : null),
      row("Start", `+${fmtDuration(node.start - this.model.start)}`, h("span", { class: "muted" }, ` (${fmtTime(node.start)})`)),
      row("Duration", fmtDuration(node.duration)),
      row("Self time", h("span", { id: "detail-self-time" }, fmtDuration(self))),
      row("Critical path", cp ? fmtDuration(cp) : "—"),
      row("Scope", scopeName === undefined ? "—" : `${scopeName}${scopeVersion ? ` ${scopeVersion}` : ""}`)));

    d.appendChild(section("Attributes", "detail-attributes", kvTable(span.tags || [])));
    d.appendChild(section("Resource", "detail-resource", kvTable(node.process.tags || [])));
    d.appendChild(section("Events", "detail-events", this.eventsList(node)));
    d.appendChild(section("Links", "detail-links", this.linksList(node)));
  }

  jumpTo(node) {
    this.select(node, { focus: false, reveal: "nearest" });
    const r = this.rowOf(node);
    if (r.row.isConnected) r.button.focus();
  }

  eventsList(node) {
    const logs = Array.isArray(node.span.logs) ? node.span.logs : [];
    if (!logs.length) return h("p", { class: "muted" }, "No events.");
    return h("ol", { class: "events" }, logs.map((log) => {
      const fields = Array.isArray(log.fields) ? log.fields : [];
      const nameField = fields.find((f) => f && f.key === "event");
      const rest = fields.filter((f) => f !== nameField);
      return h("li", null,
        h("div", { class: "event-head" },
          h("span", { class: "event-time" }, `+${fmtDuration(Number(log.timestamp) - node.start)}`),
          h("span", { class: "event-name" }, nameField ? fmtValue(nameField) : "(unnamed event)")),
        rest.length ? kvTable(rest) : null);
    }));
  }

  linksList(node) {
    if (!node.links.length) return h("p", { class: "muted" }, "No links.");
    const list = h("ul", { class: "links" });
    for (const ref of node.links) {
      const refTrace = String(ref.traceID ?? "");
      const refSpan = String(ref.spanID ?? "");
      const inThisTrace = normalizeTraceID(refTrace) === this.traceID;
      const target = inThisTrace ? this.model.byID.get(refSpan) : null;
      let anchor;
      if (target) {
        anchor = h("button", { type: "button", class: "link-button" }, `${target.service}: ${target.name}`);
        anchor.addEventListener("click", () => this.jumpTo(target));
      } else if (normalizeTraceID(refTrace)) {
        anchor = h("a", { href: `/trace/${normalizeTraceID(refTrace)}?span=${encodeURIComponent(refSpan)}` }, "open trace");
      } else {
        anchor = h("span", null, "");
      }
      const attrs = h("div", { class: "link-attrs" });
      const item = h("li", null,
        h("div", null, h("span", { class: "badge" }, String(ref.refType ?? "")), " ",
          h("span", { class: "mono" }, `${refTrace} / ${refSpan}`), " ", anchor),
        attrs);
      list.appendChild(item);
      this.linkAttributes().then((map) => {
        const kvs = map.get(`${node.id}|${refTrace}|${refSpan}`);
        if (kvs && kvs.length && attrs.isConnected) attrs.appendChild(kvTable(kvs));
      });
    }
    return list;
  }

  /** Link attributes are not in Jaeger's model; the OTLP JSON of /api/v3 has them. */
  linkAttributes() {
    if (!this.otlpLinks) {
      this.otlpLinks = fetchOTLPTrace(this.traceID).then((body) => {
        const map = new Map();
        const result = body && (body.result || body.data || body);
        for (const rs of (result && result.resourceSpans) || []) {
          for (const ss of rs.scopeSpans || []) {
            for (const sp of ss.spans || []) {
              for (const link of sp.links || []) {
                map.set(`${String(sp.spanId).toLowerCase()}|${String(link.traceId).toLowerCase()}|${String(link.spanId).toLowerCase()}`,
                  (link.attributes || []).map(otlpToKV));
              }
            }
          }
        }
        return map;
      }, () => new Map());
    }
    return this.otlpLinks;
  }
}

function section(title, id, content) {
  return h("section", { class: "detail-section", id },
    h("h3", null, title), content);
}

function kvTable(kvs) {
  if (!kvs.length) return h("p", { class: "muted" }, "None.");
  const sorted = [...kvs].sort((a, b) => (String(a.key) < String(b.key) ? -1 : String(a.key) > String(b.key) ? 1 : 0));
  return h("table", { class: "kv" },
    h("tbody", null, sorted.map((kv) => h("tr", null,
      h("th", { scope: "row" }, breakable(String(kv.key ?? ""))),
      h("td", { class: `type-${String(kv.type ?? "string").replace(/[^a-z0-9]/gi, "")}` }, fmtValue(kv))))));
}

/** Attribute keys wrap after their dots (http.response.status_code) rather
 *  than inside a word. */
function breakable(text) {
  const parts = text.split(".");
  return parts.flatMap((part, i) => (i < parts.length - 1 ? [`${part}.`, h("wbr")] : [part]));
}

function otlpValue(v) {
  if (!v || typeof v !== "object") return "";
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("intValue" in v) return String(v.intValue);
  if ("doubleValue" in v) return v.doubleValue;
  if ("bytesValue" in v) return v.bytesValue;
  if ("arrayValue" in v) return ((v.arrayValue && v.arrayValue.values) || []).map(otlpValue);
  if ("kvlistValue" in v) {
    const out = {};
    for (const kv of (v.kvlistValue && v.kvlistValue.values) || []) out[kv.key] = otlpValue(kv.value);
    return out;
  }
  return "";
}

function otlpToKV(attr) {
  return { key: String(attr.key ?? ""), type: "string", value: otlpValue(attr.value) };
}

// A Jaeger trace (the JSON of /api/traces/{id}) turned into a span tree with
// the numbers the pages show: depth, services, errors, self time and the
// critical path. Pure functions, no DOM.

/** The value of tag `key` on a span (or undefined). */
export function tagValue(span, key) {
  for (const kv of span.tags || []) if (kv && kv.key === key) return kv.value;
  return undefined;
}

function isErrorSpan(span) {
  const error = tagValue(span, "error");
  if (error === true || error === "true") return true;
  const status = tagValue(span, "otel.status_code");
  return typeof status === "string" && status.toUpperCase() === "ERROR";
}

/**
 * The tree of a trace. Each node: {span, id, parentID, service, name, kind,
 * start, end, duration, depth, children, error, missingParent, links}. Spans
 * whose CHILD_OF parent is not in the trace are roots too (missingParent).
 */
export function buildTrace(trace) {
  const processes = trace.processes || {};
  const byID = new Map();
  const nodes = [];
  for (const span of trace.spans || []) {
    const refs = Array.isArray(span.references) ? span.references : [];
    const parentRef = refs.find((r) => r && r.refType === "CHILD_OF" && r.traceID === span.traceID) ||
      refs.find((r) => r && r.refType === "CHILD_OF");
    const process = processes[span.processID] || span.process || {};
    const start = Number(span.startTime) || 0;
    const duration = Math.max(0, Number(span.duration) || 0);
    const node = {
      span,
      id: String(span.spanID),
      parentID: parentRef ? String(parentRef.spanID) : null,
      service: String(process.serviceName ?? "unknown"),
      process,
      name: String(span.operationName ?? ""),
      kind: String(tagValue(span, "span.kind") ?? ""),
      start,
      duration,
      end: start + duration,
      depth: 0,
      children: [],
      parent: null,
      error: isErrorSpan(span),
      missingParent: false,
      links: refs.filter((r) => r && r.refType === "FOLLOWS_FROM"),
    };
    // A span id seen twice (a client that resent it) keeps the first.
    if (!byID.has(node.id)) byID.set(node.id, node);
    nodes.push(node);
  }
  const roots = [];
  for (const node of nodes) {
    const parent = node.parentID !== null ? byID.get(node.parentID) : undefined;
    if (parent && parent !== node) {
      node.parent = parent;
      parent.children.push(node);
    } else {
      node.missingParent = node.parentID !== null;
      roots.push(node);
    }
  }
  const byStart = (a, b) => a.start - b.start || a.end - b.end || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  roots.sort((a, b) => Number(a.missingParent) - Number(b.missingParent) || byStart(a, b));
  // Depth first, iteratively (a 10,000-span chain must not overflow the stack),
  // giving each node its depth and the list its display order. A parent loop
  // (a → b → a, which a client can send) never reaches a root; those spans are
  // appended as extra roots so every span is shown once.
  const order = [];
  const seen = new Set();
  const visit = (root) => {
    const stack = [[root, 0]];
    while (stack.length) {
      const [node, depth] = stack.pop();
      if (seen.has(node)) continue;
      seen.add(node);
      node.depth = depth;
      order.push(node);
      node.children.sort(byStart);
      for (let i = node.children.length - 1; i >= 0; i--) stack.push([node.children[i], depth + 1]);
    }
  };
  for (const root of roots) visit(root);
  for (const node of nodes) {
    if (!seen.has(node)) {
      node.missingParent = true;
      if (node.parent) node.parent.children = node.parent.children.filter((c) => c !== node);
      node.parent = null;
      roots.push(node);
      visit(node);
    }
  }

  let start = Infinity;
  let end = -Infinity;
  let maxDepth = 0;
  let errors = 0;
  const services = new Map();
  for (const node of order) {
    start = Math.min(start, node.start);
    end = Math.max(end, node.end);
    maxDepth = Math.max(maxDepth, node.depth);
    if (node.error) errors++;
    services.set(node.service, (services.get(node.service) || 0) + 1);
  }
  if (order.length === 0) { start = 0; end = 0; }
  const root = roots.find((r) => !r.missingParent) || roots[0] || null;
  return {
    traceID: String(trace.traceID ?? ""),
    nodes: order,
    byID,
    roots,
    root,
    start,
    end,
    duration: end - start,
    depth: order.length ? maxDepth + 1 : 0,
    errors,
    services: [...services.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)),
    name: root ? `${root.service}: ${root.name}` : "(empty trace)",
    warnings: Array.isArray(trace.warnings) ? trace.warnings : [],
  };
}

/** Self time of a node: its duration less the union of its children's
 *  intervals, each clipped to the node. */
export function selfTime(node) {
  const intervals = node.children
    .map((c) => [Math.max(c.start, node.start), Math.min(c.end, node.end)])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let covered = 0;
  let curStart = null;
  let curEnd = null;
  for (const [a, b] of intervals) {
    if (curEnd === null || a > curEnd) {
      if (curEnd !== null) covered += curEnd - curStart;
      curStart = a;
      curEnd = b;
    } else if (b > curEnd) {
      curEnd = b;
    }
  }
  if (curEnd !== null) covered += curEnd - curStart;
  return node.duration - covered;
}

/**
 * The critical path, as Jaeger computes it: from the root's end, walk back in
 * time; a stretch of a span's time belongs to the span itself when no child
 * covers it, otherwise to the last-finishing child that ends before the point
 * reached, recursively. Children are first clipped to their parent (a child
 * that outlives its parent counts only while the parent runs).
 *
 * Returns Map(node → [{start, end}]) of the segments on the path.
 */
export function criticalPath(model) {
  const segments = new Map();
  const root = model.root;
  if (!root) return segments;
  // Clipped bounds, parents before children (model.nodes is depth-first).
  const clip = new Map();
  clip.set(root, [root.start, root.end]);
  const kidsOf = new Map();
  const sortedKids = (node) => {
    let kids = kidsOf.get(node);
    if (kids) return kids;
    const [ps, pe] = clip.get(node);
    kids = [];
    for (const c of node.children) {
      const cs = Math.max(c.start, ps);
      const ce = Math.min(c.end, pe);
      if (ce > cs) {
        clip.set(c, [cs, ce]);
        kids.push(c);
      }
    }
    kids.sort((a, b) => clip.get(b)[1] - clip.get(a)[1] || clip.get(b)[0] - clip.get(a)[0]);
    kidsOf.set(node, kids);
    return kids;
  };
  const add = (node, start, end) => {
    if (end <= start) return;
    let list = segments.get(node);
    if (!list) segments.set(node, (list = []));
    list.push({ start, end });
  };
  // An explicit stack instead of recursion: traces can be 10,000 spans deep.
  // Each frame resumes its children list where it left off, so every span's
  // index only moves forward and the walk ends.
  const stack = [];
  let node = root;
  let bound = root.end;
  let index = 0;
  for (;;) {
    const kids = sortedKids(node);
    let chosen = -1;
    for (let i = index; i < kids.length; i++) {
      if (clip.get(kids[i])[1] <= bound) { chosen = i; break; }
    }
    if (chosen >= 0) {
      const kid = kids[chosen];
      const [ks, ke] = clip.get(kid);
      add(node, ke, bound);
      stack.push({ node, index: chosen + 1, bound: ks });
      node = kid;
      bound = ke;
      index = 0;
    } else {
      add(node, clip.get(node)[0], bound);
      const frame = stack.pop();
      if (!frame) break;
      ({ node, index, bound } = frame);
    }
  }
  for (const list of segments.values()) list.sort((a, b) => a.start - b.start);
  return segments;
}

/** The one-line summary of a trace that search results and comparison show. */
export function summarize(trace) {
  const model = buildTrace(trace);
  return {
    traceID: model.traceID,
    name: model.name,
    spanCount: model.nodes.length,
    errors: model.errors,
    services: model.services,
    start: model.start,
    duration: model.duration,
    model,
  };
}

// Timeline front end: draws the blocks the kernel sends for the visible window.
//
// Everything that decides what to draw or fetch is a small pure function exported
// here, so node's built-in test runner checks it without a browser
// (tests/unit/jupyter/widgets/js/). The default export is anywidget's render hook;
// the JupyterLab "View trace" tab calls the same hook with a model that speaks HTTP
// to the server extension instead of a kernel comm, so both draw alike.
//
// Mouse: wheel zooms, drag pans, a click shows the event's every column, a
// shift-drag selects a range and shows its kernel summary. Keys: + - zoom, arrows
// pan, 0 shows everything, Escape clears the selection.

export const GUTTER_PX = 170;
export const ROW_PX = 14;
export const GROUP_PX = 18;
export const AXIS_PX = 22;
export const MIN_SPAN_NS = 100;
const BUFFER_TYPES = [Float64Array, Float64Array, Int32Array, Uint32Array, Int32Array, Float64Array];
const BUFFER_NAMES = ["start", "end", "row", "count", "name", "busy"];

export function timeToX(t, view, widthPx) {
  return ((t - view.t0) / (view.t1 - view.t0)) * widthPx;
}

export function xToTime(x, view, widthPx) {
  return view.t0 + (x / widthPx) * (view.t1 - view.t0);
}

/** Keep a view inside the trace (with a tenth of a view of slack) and not narrower than MIN_SPAN_NS. */
export function clampView(view, spanNs) {
  let width = Math.max(view.t1 - view.t0, MIN_SPAN_NS);
  const slack = Math.max(spanNs, MIN_SPAN_NS) * 0.1;
  width = Math.min(width, spanNs + 2 * slack);
  let t0 = view.t0;
  t0 = Math.max(t0, -slack);
  t0 = Math.min(t0, spanNs + slack - width);
  return { t0, t1: t0 + width };
}

/** Zoom by ``factor`` (< 1 zooms in) keeping the time under the pointer where it is. */
export function zoomView(view, anchorT, factor, spanNs) {
  const t0 = anchorT - (anchorT - view.t0) * factor;
  const t1 = anchorT + (view.t1 - anchorT) * factor;
  return clampView({ t0, t1 }, spanNs);
}

/** Move the view right by ``dxPx`` pixels of drag (dragging right shows earlier times). */
export function panView(view, dxPx, widthPx, spanNs) {
  const dt = (dxPx / widthPx) * (view.t1 - view.t0);
  return clampView({ t0: view.t0 - dt, t1: view.t1 - dt }, spanNs);
}

/** The gap of the coarsest level that is at most one pixel: what the kernel will answer with. */
export function levelFor(nsPerPx, gaps) {
  let chosen = gaps.length ? gaps[0] : 0;
  for (let i = 1; i < gaps.length; i++) {
    if (gaps[i] <= nsPerPx) chosen = gaps[i];
    else break;
  }
  return chosen;
}

/** The window to ask for: the view plus one view width each side, so pans draw at once. */
export function requestFor(view, widthPx, spanNs) {
  const w = view.t1 - view.t0;
  const t0 = Math.max(view.t0 - w, Math.min(0, view.t0));
  const t1 = Math.min(view.t1 + w, Math.max(spanNs, view.t1));
  const width_px = Math.max(1, Math.round((widthPx * (t1 - t0)) / w));
  return { t0, t1, width_px };
}

/** Whether the cached blocks can draw ``view``: they must cover it at the level it needs. */
export function needsFetch(cache, view, widthPx, gaps) {
  if (!cache) return true;
  if (view.t0 < cache.t0 || view.t1 > cache.t1) return true;
  const want = levelFor((view.t1 - view.t0) / widthPx, gaps);
  return want !== cache.wantGap;
}

function typed(buffer, Ctor) {
  if (buffer instanceof ArrayBuffer) return new Ctor(buffer);
  if (ArrayBuffer.isView(buffer)) {
    if (buffer.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) {
      return new Ctor(buffer.buffer, buffer.byteOffset, buffer.byteLength / Ctor.BYTES_PER_ELEMENT);
    }
    const copy = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
    return new Ctor(copy);
  }
  throw new TypeError("tiles: buffer is neither an ArrayBuffer nor a view of one");
}

/** A "tiles" message and its six buffers as typed arrays; throws naming a bad buffer. */
export function decodeTiles(msg, buffers) {
  if (!msg || msg.type !== "tiles") throw new TypeError("not a tiles message");
  if (!buffers || buffers.length !== BUFFER_TYPES.length) {
    throw new TypeError(`tiles: expected ${BUFFER_TYPES.length} buffers, got ${buffers ? buffers.length : 0}`);
  }
  const out = { id: msg.id, t0: msg.t0, t1: msg.t1, gapNs: msg.gap_ns, n: msg.n };
  BUFFER_TYPES.forEach((Ctor, i) => {
    const arr = typed(buffers[i], Ctor);
    if (arr.length !== msg.n) {
      throw new TypeError(`tiles: buffer ${BUFFER_NAMES[i]} holds ${arr.length} values, expected ${msg.n}`);
    }
    out[BUFFER_NAMES[i]] = arr;
  });
  return out;
}

/** Vertical positions: a header line whenever the group changes, then one line per row. */
export function layoutRows(rows) {
  const y = new Float64Array(rows.length);
  const headers = [];
  let at = 0;
  let group = null;
  rows.forEach((row, i) => {
    if (row.group !== group) {
      group = row.group;
      headers.push({ group, y: at });
      at += GROUP_PX;
    }
    y[i] = at;
    at += ROW_PX;
  });
  return { y, headers, height: at };
}

/** The row under a vertical position, or -1. */
export function rowAt(layout, yPx) {
  const y = layout.y;
  let lo = 0;
  let hi = y.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (y[mid] <= yPx) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found < 0 || yPx >= y[found] + ROW_PX) return -1;
  return found;
}

/** Index of the block of ``row`` under time ``t`` (within ``tolNs``), or -1. Closest wins. */
export function hitTest(tiles, row, t, tolNs) {
  if (!tiles || row < 0) return -1;
  let best = -1;
  let bestDist = Infinity;
  for (let i = 0; i < tiles.n; i++) {
    if (tiles.row[i] !== row) continue;
    const s = tiles.start[i];
    const e = tiles.end[i];
    const dist = t < s ? s - t : t > e ? t - e : 0;
    if (dist <= tolNs && dist < bestDist) {
      best = i;
      bestDist = dist;
    }
  }
  return best;
}

export function formatNs(ns) {
  const a = Math.abs(ns);
  if (a >= 1e9) return `${(ns / 1e9).toFixed(a >= 1e10 ? 2 : 3)} s`;
  if (a >= 1e6) return `${(ns / 1e6).toFixed(a >= 1e7 ? 2 : 3)} ms`;
  if (a >= 1e3) return `${(ns / 1e3).toFixed(a >= 1e4 ? 2 : 3)} µs`;
  return `${Math.round(ns)} ns`;
}

/** A 1-2-5 step for axis ticks about ``targetPx`` pixels apart. */
export function tickStep(nsPerPx, targetPx = 110) {
  const raw = Math.max(nsPerPx * targetPx, 1);
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) {
    if (m * pow >= raw) return m * pow;
  }
  return 10 * pow;
}

/** A stable colour per name id, spread around the hue circle by the golden angle. */
export function colorFor(nameId, alpha = 1) {
  const hue = (nameId * 137.508) % 360;
  return `hsla(${hue.toFixed(1)}, 62%, 55%, ${alpha})`;
}

/** Drawing instructions for the blocks in view: one rectangle each, at least a pixel wide. */
export function rectsFor(tiles, view, widthPx, layout) {
  const rects = [];
  if (!tiles) return rects;
  for (let i = 0; i < tiles.n; i++) {
    const s = tiles.start[i];
    const e = tiles.end[i];
    if (e < view.t0 || s > view.t1) continue;
    const x0 = Math.max(timeToX(s, view, widthPx), 0);
    const x1 = Math.min(timeToX(e, view, widthPx), widthPx);
    const merged = tiles.count[i] > 1;
    const fill = merged ? Math.min(tiles.busy[i] / Math.max(e - s, 1), 1) : 1;
    rects.push({
      i,
      x: x0,
      y: layout.y[tiles.row[i]] + 1,
      w: Math.max(x1 - x0, 1),
      h: ROW_PX - 2,
      color: colorFor(tiles.name[i], merged ? 0.35 + 0.65 * fill : 1),
    });
  }
  return rects;
}

/** A press and release this close together (px) are a click, not a drag. */
export const CLICK_PX = 4;

export function isClick(down, up) {
  return Math.abs(up.x - down.x) <= CLICK_PX && Math.abs(up.y - down.y) <= CLICK_PX;
}

/** The time range between two pointer positions, in order, clamped to the plot. */
export function selectionFrom(x0, x1, view, widthPx) {
  const a = Math.min(Math.max(Math.min(x0, x1), 0), widthPx);
  const b = Math.min(Math.max(Math.max(x0, x1), 0), widthPx);
  return { t0: xToTime(a, view, widthPx), t1: xToTime(b, view, widthPx) };
}

/** What to ask when a block is clicked: one event's columns, or nothing (a merged block). */
export function clickRequest(tiles, i) {
  if (!tiles || i < 0 || tiles.count[i] !== 1) return null;
  return { type: "event", row: tiles.row[i], t: tiles.start[i], tolerance_ns: 0 };
}

/** Label/value pairs describing one event reply, most useful first, then every column. */
export function eventDetailRows(event) {
  if (!event) return [["", "No event there: zoom in and click a single box."]];
  const rows = [
    ["name", event.name],
    ["duration", formatNs(event.duration_ns)],
    ["start", formatNs(event.start)],
    ["where", event.where],
  ];
  if (event.report) rows.push(["report", event.report]);
  if (event.layer) rows.push(["table", `${event.layer} row ${event.index}`]);
  for (const [key, value] of Object.entries(event.columns || {})) {
    if (value === null || value === undefined || value === "") continue;
    rows.push([key, Array.isArray(value) ? value.join(" ← ") : String(value)]);
  }
  return rows;
}

const NS_COLUMNS = new Set(["Total Time (ns)", "Avg (ns)", "Med (ns)", "Min (ns)", "Max (ns)", "StdDev (ns)"]);

/** The kernel summary of a range as a header line and table rows (times made readable). */
export function summaryTable(summary) {
  const cols = summary.columns || [];
  const span = formatNs(summary.t1 - summary.t0);
  const heading = summary.kernels
    ? `${summary.kernels.toLocaleString()} kernels in ${span} (${summary.names} names${summary.rows.length < summary.names ? `, top ${summary.rows.length}` : ""})`
    : `No kernel lies wholly inside these ${span}.`;
  const header = cols.map((c) => c.replace(" (ns)", ""));
  const rows = (summary.rows || []).map((row) =>
    row.map((value, i) => {
      if (NS_COLUMNS.has(cols[i])) return formatNs(Number(value));
      if (cols[i] === "Time (%)") return `${Number(value).toFixed(1)}%`;
      return String(value);
    }),
  );
  return { heading, header, rows };
}

export function tooltipLines(tiles, i, names, rows) {
  const row = rows[tiles.row[i]] || { group: "?", label: "?" };
  const name = names[tiles.name[i]] ?? "?";
  const dur = tiles.end[i] - tiles.start[i];
  const lines = [];
  if (tiles.count[i] > 1) {
    const busy = Math.min(tiles.busy[i] / Math.max(dur, 1), 1);
    lines.push(`${tiles.count[i]} events, busiest: ${name}`);
    lines.push(`${formatNs(dur)} span, ${(busy * 100).toFixed(0)}% busy — zoom in for each event`);
  } else {
    lines.push(name);
    lines.push(`${formatNs(dur)} from ${formatNs(tiles.start[i])}`);
  }
  lines.push(`${row.group} · ${row.label}${row.depth ? ` · depth ${row.depth}` : ""}`);
  return lines;
}

/** A performance mark benchmarks and tests read (no-op where the API is missing). */
function mark(name, detail) {
  try {
    globalThis.performance?.mark?.(`nsl-timeline:${name}`, { detail });
  } catch {
    // marks are an aid, never a failure
  }
}

function cell(tag, text, className) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (className) el.className = className;
  return el;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "nsl-timeline";
  const header = document.createElement("div");
  header.className = "nsl-timeline-header";
  const axis = document.createElement("canvas");
  axis.className = "nsl-timeline-axis";
  const scroller = document.createElement("div");
  scroller.className = "nsl-timeline-scroll";
  const canvas = document.createElement("canvas");
  canvas.tabIndex = 0;
  canvas.setAttribute(
    "aria-label",
    "timeline: wheel or +/- to zoom, drag or arrows to pan, click for an event's details, shift-drag for the kernel summary of a range",
  );
  const tip = document.createElement("div");
  tip.className = "nsl-timeline-tip";
  tip.hidden = true;
  const details = document.createElement("div");
  details.className = "nsl-timeline-details";
  details.setAttribute("role", "region");
  details.setAttribute("aria-label", "Timeline details");
  details.setAttribute("aria-live", "polite");
  details.hidden = true;
  scroller.append(canvas);
  root.append(header, axis, scroller, tip, details);
  el.append(root);

  let view = { t0: model.get("view")[0], t1: model.get("view")[1] };
  let layout = layoutRows(model.get("rows"));
  let cache = null;
  let nextId = 1;
  let inflight = null;
  let frame = 0;
  let drag = null;
  let selection = null;
  let asked = { event: 0, summary: 0 };

  const plotWidth = () => Math.max(root.clientWidth - GUTTER_PX, 50);

  function sizeCanvas(c, w, h) {
    const dpr = globalThis.devicePixelRatio || 1;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }

  function updateHeader() {
    const err = model.get("error");
    const aligned = model.get("alignment");
    header.textContent = `${model.get("title")} · ${model.get("event_count").toLocaleString()} events · ${formatNs(view.t1 - view.t0)} in view${aligned ? ` · aligned by ${aligned}` : ""}${err ? ` · ${err}` : ""}`;
    header.classList.toggle("nsl-error", Boolean(err));
  }

  function showDetails(kind, heading, build) {
    details.replaceChildren(cell("div", heading, "nsl-timeline-details-heading"));
    details.dataset.kind = kind;
    if (build) details.append(build());
    details.hidden = false;
  }

  function pairsTable(pairs) {
    const table = document.createElement("table");
    table.className = "nsl-timeline-pairs";
    for (const [key, value] of pairs) {
      const tr = document.createElement("tr");
      tr.append(cell("th", key), cell("td", value));
      table.append(tr);
    }
    return table;
  }

  function draw() {
    frame = 0;
    const width = plotWidth();
    const rows = model.get("rows");
    scroller.style.maxHeight = `${model.get("height")}px`;
    const ctx = sizeCanvas(canvas, width + GUTTER_PX, Math.max(layout.height, ROW_PX));
    const style = getComputedStyle(root);
    const fg = style.getPropertyValue("--jp-ui-font-color1").trim() || "#333";
    const dim = style.getPropertyValue("--jp-border-color2").trim() || "#ddd";
    const accent = style.getPropertyValue("--jp-brand-color1").trim() || "#1976d2";
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "middle";
    ctx.save();
    ctx.translate(GUTTER_PX, 0);
    ctx.beginPath();
    ctx.rect(0, 0, width, layout.height);
    ctx.clip();
    const rects = rectsFor(cache, view, width, layout);
    for (const r of rects) {
      ctx.fillStyle = r.color;
      ctx.fillRect(r.x, r.y, r.w, r.h);
    }
    if (selection) {
      const x0 = timeToX(selection.t0, view, width);
      const x1 = timeToX(selection.t1, view, width);
      ctx.globalAlpha = 0.18;
      ctx.fillStyle = accent;
      ctx.fillRect(x0, 0, Math.max(x1 - x0, 1), layout.height);
      ctx.globalAlpha = 1;
      ctx.fillRect(x0, 0, 1, layout.height);
      ctx.fillRect(x1, 0, 1, layout.height);
    }
    ctx.restore();
    ctx.fillStyle = fg;
    for (const h of layout.headers) {
      ctx.fillStyle = dim;
      ctx.fillRect(0, h.y + GROUP_PX - 1, width + GUTTER_PX, 1);
      ctx.fillStyle = fg;
      ctx.font = "bold 11px sans-serif";
      ctx.fillText(h.group, 4, h.y + GROUP_PX / 2, width + GUTTER_PX - 8);
    }
    ctx.font = "11px sans-serif";
    rows.forEach((row, i) => {
      if (row.depth === 0) ctx.fillText(row.label, 12, layout.y[i] + ROW_PX / 2, GUTTER_PX - 16);
    });
    const actx = sizeCanvas(axis, width + GUTTER_PX, AXIS_PX);
    actx.font = "10px sans-serif";
    actx.fillStyle = fg;
    actx.textBaseline = "top";
    const step = tickStep((view.t1 - view.t0) / width);
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const x = GUTTER_PX + timeToX(t, view, width);
      actx.fillRect(x, AXIS_PX - 6, 1, 6);
      actx.fillText(formatNs(t), x + 2, 2);
    }
    updateHeader();
    root.dataset.blocks = String(rects.length);
    root.dataset.tiles = cache ? String(cache.id) : "";
    mark("drawn", { id: cache ? cache.id : 0, blocks: rects.length });
    maybeFetch();
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function maybeFetch() {
    const width = plotWidth();
    const gaps = model.get("gaps");
    if (!needsFetch(cache, view, width, gaps)) return;
    const req = requestFor(view, width, model.get("span_ns"));
    const wantGap = levelFor((view.t1 - view.t0) / width, gaps);
    if (inflight && inflight.t0 <= view.t0 && inflight.t1 >= view.t1 && inflight.wantGap === wantGap) return;
    const id = nextId++;
    inflight = { id, ...req, wantGap };
    mark("request", { id });
    model.send({ type: "view", id, ...req });
  }

  function ask(kind, message) {
    const id = nextId++;
    asked = { ...asked, [kind]: id };
    model.send({ ...message, id });
  }

  let saveTimer = 0;
  function setView(next) {
    view = next;
    schedule();
    clearTimeout(saveTimer);
    saveTimer = setTimeout(() => {
      model.set("view", [view.t0, view.t1]);
      model.save_changes();
    }, 150);
  }

  function onTiles(msg, buffers) {
    if (inflight && msg.id !== inflight.id) return; // a newer request is on its way
    try {
      const tiles = decodeTiles(msg, buffers);
      tiles.wantGap = inflight ? inflight.wantGap : tiles.gapNs;
      cache = tiles;
      mark("tiles", { id: msg.id, n: tiles.n });
    } catch (err) {
      header.textContent = String(err);
    }
    inflight = null;
    schedule();
  }

  function onEvent(msg) {
    if (msg.id !== asked.event) return;
    const event = msg.event;
    showDetails("event", event ? event.name : "No event", () => pairsTable(eventDetailRows(event)));
  }

  function onSummary(msg) {
    if (msg.id !== asked.summary) return;
    const { heading, header: cols, rows } = summaryTable(msg.summary);
    showDetails("summary", heading, () => {
      const wrap = document.createElement("div");
      const table = document.createElement("table");
      table.className = "nsl-timeline-summary";
      const head = document.createElement("tr");
      cols.forEach((c) => head.append(cell("th", c)));
      table.append(head);
      for (const row of rows) {
        const tr = document.createElement("tr");
        for (const value of row) {
          const td = cell("td", value);
          td.title = value; // long kernel names are cut; the full one shows on hover
          tr.append(td);
        }
        table.append(tr);
      }
      wrap.append(table);
      const per = (msg.summary.reports || []).filter((r) => r.kernels);
      if (per.length > 1) {
        wrap.append(cell("div", per.map((r) => `${r.label}: ${r.kernels} kernels, ${formatNs(r.total_ns)}`).join(" · "), "nsl-muted"));
      }
      return wrap;
    });
  }

  model.on("msg:custom", (msg, buffers) => {
    if (!msg) return;
    if (msg.type === "tiles") onTiles(msg, buffers);
    else if (msg.type === "event") onEvent(msg);
    else if (msg.type === "summary") onSummary(msg);
  });
  model.on("change:rows", () => {
    layout = layoutRows(model.get("rows"));
    cache = null;
    schedule();
  });
  model.on("change:view", () => {
    const v = model.get("view");
    if (v[0] !== view.t0 || v[1] !== view.t1) {
      view = { t0: v[0], t1: v[1] };
      schedule();
    }
  });
  for (const name of ["gaps", "error", "title", "height", "alignment"]) model.on(`change:${name}`, schedule);

  function clicked(offsetX, offsetY) {
    const width = plotWidth();
    const x = offsetX - GUTTER_PX;
    const row = rowAt(layout, offsetY);
    const nsPerPx = (view.t1 - view.t0) / width;
    const i = x >= 0 ? hitTest(cache, row, xToTime(x, view, width), 2 * nsPerPx) : -1;
    if (i < 0) {
      details.hidden = true;
      return;
    }
    const request = clickRequest(cache, i);
    if (request) {
      showDetails("loading", "Reading the event…");
      ask("event", request);
      return;
    }
    const lines = tooltipLines(cache, i, model.get("names"), model.get("rows"));
    showDetails("block", lines[0], () =>
      pairsTable([["span", lines[1]], ["where", lines[2]], ["", "Zoom in to pick one event, or shift-drag over it for the kernel summary."]]),
    );
  }

  canvas.addEventListener(
    "wheel",
    (ev) => {
      ev.preventDefault();
      mark("input", { kind: "wheel" });
      const x = ev.offsetX - GUTTER_PX;
      const width = plotWidth();
      const anchor = xToTime(Math.max(x, 0), view, width);
      setView(zoomView(view, anchor, Math.exp(ev.deltaY * 0.002), model.get("span_ns")));
    },
    { passive: false },
  );
  canvas.addEventListener("pointerdown", (ev) => {
    drag = { x: ev.clientX, y: ev.clientY, offsetX: ev.offsetX, offsetY: ev.offsetY, view, select: ev.shiftKey };
    canvas.setPointerCapture?.(ev.pointerId);
  });
  canvas.addEventListener("pointerup", (ev) => {
    const down = drag;
    drag = null;
    if (!down) return;
    if (isClick(down, { x: ev.clientX, y: ev.clientY })) {
      clicked(down.offsetX, down.offsetY);
      return;
    }
    if (down.select && selection && selection.t1 > selection.t0) {
      showDetails("loading", "Summarising the kernels of the range…");
      ask("summary", { type: "summary", t0: selection.t0, t1: selection.t1 });
    }
  });
  canvas.addEventListener("pointermove", (ev) => {
    const width = plotWidth();
    if (drag) {
      if (drag.select) {
        selection = selectionFrom(drag.offsetX - GUTTER_PX, ev.offsetX - GUTTER_PX, view, width);
        schedule();
      } else if (!isClick(drag, { x: ev.clientX, y: ev.clientY })) {
        setView(panView(drag.view, ev.clientX - drag.x, width, model.get("span_ns")));
      }
      tip.hidden = true;
      return;
    }
    const x = ev.offsetX - GUTTER_PX;
    const row = rowAt(layout, ev.offsetY);
    const nsPerPx = (view.t1 - view.t0) / width;
    const i = x >= 0 ? hitTest(cache, row, xToTime(x, view, width), 2 * nsPerPx) : -1;
    if (i < 0) {
      tip.hidden = true;
      return;
    }
    tip.textContent = tooltipLines(cache, i, model.get("names"), model.get("rows")).join("\n");
    tip.style.left = `${ev.offsetX + 12}px`;
    tip.style.top = `${ev.offsetY - scroller.scrollTop + AXIS_PX + 30}px`;
    tip.hidden = false;
  });
  canvas.addEventListener("pointerleave", () => {
    tip.hidden = true;
  });
  canvas.addEventListener("keydown", (ev) => {
    const width = plotWidth();
    const span = model.get("span_ns");
    const mid = (view.t0 + view.t1) / 2;
    if (ev.key === "Escape") {
      selection = null;
      details.hidden = true;
      schedule();
      return;
    }
    const moves = {
      "+": () => zoomView(view, mid, 0.7, span),
      "=": () => zoomView(view, mid, 0.7, span),
      "-": () => zoomView(view, mid, 1 / 0.7, span),
      ArrowLeft: () => panView(view, width / 5, width, span),
      ArrowRight: () => panView(view, -width / 5, width, span),
      "0": () => clampView({ t0: 0, t1: span }, span),
    };
    if (moves[ev.key]) {
      ev.preventDefault();
      mark("input", { kind: "key" });
      setView(moves[ev.key]());
    }
  });
  // For scripts and browser tests: where a (row, time) is drawn, and the current view.
  root.nslTimeline = {
    view: () => ({ ...view }),
    locate: (row, t) => ({ x: GUTTER_PX + timeToX(t, view, plotWidth()), y: layout.y[row] + ROW_PX / 2 }),
  };
  const resize = new ResizeObserver(schedule);
  resize.observe(root);
  schedule();
  return () => resize.disconnect();
}

export default { render };

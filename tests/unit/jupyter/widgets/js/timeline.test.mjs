// The timeline's pure drawing and level-of-detail logic, run with `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  clampView, clickRequest, decodeTiles, eventDetailRows, formatNs, hitTest, isClick, layoutRows,
  levelFor, needsFetch, panView, rectsFor, requestFor, rowAt, selectionFrom, summaryTable, tickStep,
  timeToX, tooltipLines, xToTime, zoomView, GROUP_PX, ROW_PX,
} from "../../../../../nsight_lab/jupyter/widgets/static/timeline.js";

function tilesMsg(rows) {
  // rows: [start, end, row, count, name, busy]
  const cols = [Float64Array, Float64Array, Int32Array, Uint32Array, Int32Array, Float64Array].map(
    (Ctor, c) => Ctor.from(rows.map((r) => r[c])).buffer,
  );
  return [{ type: "tiles", id: 1, t0: 0, t1: 1000, gap_ns: 0, n: rows.length }, cols.map((b) => new DataView(b))];
}

test("time and pixel conversions invert each other", () => {
  const view = { t0: 100, t1: 1100 };
  assert.equal(timeToX(600, view, 500), 250);
  assert.equal(xToTime(250, view, 500), 600);
});

test("zooming keeps the time under the pointer fixed", () => {
  const v = zoomView({ t0: 0, t1: 1000 }, 250, 0.5, 10_000);
  assert.deepEqual(v, { t0: 125, t1: 625 });
  assert.equal(xToTime(timeToX(250, v, 400), v, 400), 250);
});

test("views never get narrower than the minimum nor wander far off the trace", () => {
  assert.ok(zoomView({ t0: 0, t1: 200 }, 100, 1e-6, 1000).t1 - zoomView({ t0: 0, t1: 200 }, 100, 1e-6, 1000).t0 >= 100);
  const far = clampView({ t0: 5000, t1: 6000 }, 1000);
  assert.ok(far.t0 <= 1100 && far.t1 - far.t0 === 1000);
  const wide = clampView({ t0: -1e9, t1: 1e9 }, 1000);
  assert.ok(wide.t0 >= -100 && wide.t1 <= 1100);
});

test("dragging right shows earlier times", () => {
  assert.deepEqual(panView({ t0: 500, t1: 1500 }, 100, 1000, 10_000), { t0: 400, t1: 1400 });
});

test("the level chosen is the coarsest whose gaps are at most one pixel", () => {
  const gaps = [0, 1024, 4096, 65536];
  assert.equal(levelFor(10, gaps), 0);
  assert.equal(levelFor(5000, gaps), 4096);
  assert.equal(levelFor(1e9, gaps), 65536);
  assert.equal(levelFor(5000, []), 0);
});

test("a request covers one view width either side at the same resolution", () => {
  const r = requestFor({ t0: 1000, t1: 2000 }, 500, 10_000);
  assert.deepEqual(r, { t0: 0, t1: 3000, width_px: 1500 });
  const edge = requestFor({ t0: 0, t1: 1000 }, 500, 1000);
  assert.deepEqual(edge, { t0: 0, t1: 1000, width_px: 500 });
});

test("cached blocks are reused while they cover the view at the level it needs", () => {
  const gaps = [0, 1024, 4096];
  const cache = { t0: 0, t1: 3000_000, wantGap: 1024 };
  assert.equal(needsFetch(null, { t0: 0, t1: 1 }, 100, gaps), true);
  assert.equal(needsFetch(cache, { t0: 1000_000, t1: 2000_000 }, 500, gaps), false); // 2000 ns/px -> 1024
  assert.equal(needsFetch(cache, { t0: 1000_000, t1: 2000_000 }, 100, gaps), true); // 10000 ns/px -> 4096
  assert.equal(needsFetch(cache, { t0: 2500_000, t1: 3500_000 }, 500, gaps), true); // outside
});

test("tiles decode from DataViews into typed columns", () => {
  const [msg, buffers] = tilesMsg([[0, 10, 0, 1, 3, 10], [20, 90, 1, 5, 4, 35]]);
  const t = decodeTiles(msg, buffers);
  assert.equal(t.n, 2);
  assert.deepEqual(Array.from(t.end), [10, 90]);
  assert.deepEqual(Array.from(t.count), [1, 5]);
  assert.ok(t.row instanceof Int32Array && t.busy instanceof Float64Array);
});

test("malformed tiles are refused naming the buffer", () => {
  const [msg, buffers] = tilesMsg([[0, 10, 0, 1, 3, 10]]);
  assert.throws(() => decodeTiles(msg, buffers.slice(0, 5)), /expected 6 buffers, got 5/);
  assert.throws(() => decodeTiles({ ...msg, n: 2 }, buffers), /buffer start holds 1 values, expected 2/);
  assert.throws(() => decodeTiles({ type: "view" }, buffers), /not a tiles message/);
});

test("rows are laid out under one header per group and found again by position", () => {
  const rows = [
    { group: "GPU 0", label: "stream 7", depth: 0 },
    { group: "GPU 0", label: "stream 8", depth: 0 },
    { group: "process 1", label: "thread 1", depth: 0 },
  ];
  const layout = layoutRows(rows);
  assert.deepEqual(Array.from(layout.y), [GROUP_PX, GROUP_PX + ROW_PX, 2 * GROUP_PX + 2 * ROW_PX]);
  assert.equal(layout.headers.length, 2);
  assert.equal(rowAt(layout, GROUP_PX + ROW_PX + 1), 1);
  assert.equal(rowAt(layout, 1), -1); // the header line
  assert.equal(rowAt(layout, layout.height + 5), -1);
});

test("every block in view becomes one rectangle at least a pixel wide", () => {
  const [msg, buffers] = tilesMsg([[0, 1, 0, 1, 0, 1], [500, 1000, 1, 4, 1, 250], [5000, 6000, 0, 1, 2, 1000]]);
  const tiles = decodeTiles(msg, buffers);
  const layout = layoutRows([{ group: "g", label: "a" }, { group: "g", label: "b" }]);
  const rects = rectsFor(tiles, { t0: 0, t1: 1000 }, 100, layout);
  assert.equal(rects.length, 2); // the third starts after the view
  assert.equal(rects[0].w, 1);
  assert.deepEqual([rects[1].x, rects[1].w], [50, 50]);
  assert.match(rects[1].color, /, 0\.675\)$/); // merged, 50% busy: 0.35 + 0.65 * 0.5 opaque
});

test("hovering finds the nearest block of the row within the tolerance", () => {
  const [msg, buffers] = tilesMsg([[0, 10, 0, 1, 0, 10], [100, 110, 0, 1, 1, 10], [50, 60, 1, 1, 2, 10]]);
  const tiles = decodeTiles(msg, buffers);
  assert.equal(hitTest(tiles, 0, 105, 0), 1);
  assert.equal(hitTest(tiles, 0, 13, 5), 0);
  assert.equal(hitTest(tiles, 0, 55, 5), -1); // that time is only busy on row 1
  assert.equal(hitTest(null, 0, 5, 5), -1);
});

test("tooltips say what a block is, merged or not", () => {
  const [msg, buffers] = tilesMsg([[0, 2000, 0, 1, 0, 2000], [0, 1e6, 0, 9, 1, 5e5]]);
  const tiles = decodeTiles(msg, buffers);
  const rows = [{ group: "GPU 0", label: "stream 7", depth: 0 }];
  assert.deepEqual(tooltipLines(tiles, 0, ["gemm", "copy"], rows), ["gemm", "2.000 µs from 0 ns", "GPU 0 · stream 7"]);
  const merged = tooltipLines(tiles, 1, ["gemm", "copy"], rows);
  assert.equal(merged[0], "9 events, busiest: copy");
  assert.match(merged[1], /1\.000 ms span, 50% busy/);
});

test("durations and axis steps read naturally", () => {
  assert.equal(formatNs(999), "999 ns");
  assert.equal(formatNs(1500), "1.500 µs");
  assert.equal(formatNs(2.5e9), "2.500 s");
  assert.equal(tickStep(1000, 100), 100000);
  assert.equal(tickStep(3, 100), 500);
});

test("a press released in place is a click; moving further is a drag", () => {
  assert.equal(isClick({ x: 10, y: 10 }, { x: 13, y: 6 }), true);
  assert.equal(isClick({ x: 10, y: 10 }, { x: 15, y: 10 }), false);
});

test("a shift-drag selects the time between its ends, in order and inside the plot", () => {
  const view = { t0: 1000, t1: 2000 };
  assert.deepEqual(selectionFrom(75, 25, view, 100), { t0: 1250, t1: 1750 });
  assert.deepEqual(selectionFrom(-20, 150, view, 100), { t0: 1000, t1: 2000 });
});

test("a click asks for one event's columns, never for a merged block", () => {
  const [msg, buffers] = tilesMsg([[100, 110, 3, 1, 0, 10], [200, 900, 3, 7, 1, 400]]);
  const tiles = decodeTiles(msg, buffers);
  assert.deepEqual(clickRequest(tiles, 0), { type: "event", row: 3, t: 100, tolerance_ns: 0 });
  assert.equal(clickRequest(tiles, 1), null);
  assert.equal(clickRequest(tiles, -1), null);
});

test("an event's details lead with what it is, then list every non-empty column", () => {
  const rows = eventDetailRows({
    name: "gemm", duration_ns: 1500, start: 2e6, where: "rank 1 · GPU 0 · stream 7", report: "rank 1",
    layer: "kernels", index: 42, columns: { grid_x: 128, graph_node_id: null, stack: ["main", "step"] },
  });
  assert.deepEqual(rows.slice(0, 4), [["name", "gemm"], ["duration", "1.500 µs"], ["start", "2.000 ms"],
    ["where", "rank 1 · GPU 0 · stream 7"]]);
  assert.deepEqual(rows.slice(4), [["report", "rank 1"], ["table", "kernels row 42"], ["grid_x", "128"],
    ["stack", "main ← step"]]);
  assert.match(eventDetailRows(null)[0][1], /zoom in/);
});

test("a range summary reads in human units, and says so when no kernel fits", () => {
  const summary = {
    t0: 0, t1: 2e6, kernels: 3, names: 2,
    columns: ["Time (%)", "Total Time (ns)", "Instances", "Avg (ns)", "Med (ns)", "Min (ns)", "Max (ns)", "StdDev (ns)", "Name"],
    rows: [[75, 3000, 2, 1500, 1500, 1000, 2000, 707.1, "gemm"]],
  };
  const table = summaryTable(summary);
  assert.equal(table.heading, "3 kernels in 2.000 ms (2 names, top 1)");
  assert.deepEqual(table.header.slice(0, 3), ["Time (%)", "Total Time", "Instances"]);
  assert.deepEqual(table.rows[0], ["75.0%", "3.000 µs", "2", "1.500 µs", "1.500 µs", "1.000 µs", "2.000 µs", "707 ns", "gemm"]);
  assert.match(summaryTable({ ...summary, kernels: 0, rows: [] }).heading, /No kernel lies wholly inside/);
});

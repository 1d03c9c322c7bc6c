// SessionControl and JobMonitor front-end logic, run with `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { enabledActions, formatBytes } from "../../../../../nsight_lab/jupyter/widgets/static/session_control.js";
import { orderedOutputs, progressFraction } from "../../../../../nsight_lab/jupyter/widgets/static/job_monitor.js";

const online = [{ state: "ONLINE" }];

test("buttons follow what the coordinator accepts", () => {
  assert.deepEqual(enabledActions({}, online, false), { begin: true, start: true, stop: false, end: false });
  const recording = { state: "ACTIVE", collections: [{ state: "RUNNING" }] };
  assert.deepEqual(enabledActions(recording, online, false), { begin: false, start: false, stop: true, end: true });
  const idle = { state: "ACTIVE", collections: [{ state: "COMPLETED" }] };
  assert.deepEqual(enabledActions(idle, [{ state: "LOST" }], false), { begin: false, start: false, stop: false, end: true });
  assert.deepEqual(enabledActions(idle, online, true), { begin: false, start: false, stop: false, end: false });
});

test("sizes read in binary units", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(5 * 1024 ** 3), "5.0 GiB");
});

test("progress is a clamped fraction, full once finished", () => {
  assert.equal(progressFraction({ finished: false, done: 1, total: 4 }), 0.25);
  assert.equal(progressFraction({ finished: false, done: 0, total: 0 }), 0);
  assert.equal(progressFraction({ finished: true, done: 0, total: 3 }), 1);
});

test("the HTML report and the notebook are linked first", () => {
  const outs = [
    { name: "stats.parquet", kind: "Parquet" },
    { name: "stats.html", kind: "HTML" },
    { name: "x.nsys-analysis", kind: "Record" },
    { name: "stats.ipynb", kind: "Notebook" },
  ];
  assert.deepEqual(orderedOutputs(outs).map((o) => o.name), ["stats.html", "stats.ipynb", "stats.parquet", "x.nsys-analysis"]);
});

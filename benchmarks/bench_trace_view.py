"""'View trace' on a 10M-event report: first view, zoom latency and bytes, in a real browser.

    python benchmarks/bench_trace_view.py [--kernels 10000000] [--zooms 8] [--runs 3]

The input is the 10M-kernel nsys export of ``make_fixtures.py`` (the CloverLeaf
fixture's kernels replicated in time; cached, ``NSIGHT_LAB_BENCH_CACHE``). It goes up
through the coordinator's upload API into ``nsight-lab up``, whose analysis side
converts it once; then Chromium (Debian's, driven by Playwright) opens it from the
Nsight panel of a real JupyterLab, as a user does:

- **first view**: from the click on "View trace" to the first frame drawn with
  tiles (the Timeline's ``nsl-timeline:drawn`` performance mark), cold (the server
  extension lays the report out from its converted tables for the first time) and
  warm (a new page; the laid-out report is mapped from the local cache);
- **first view from the layout stored at ingest** (``--stored-runs``, each on a
  fresh Jupyter server with an empty cache): the server fetches the stored layout's
  head and coarse levels, answers, and fetches the finer levels in the background;
  then zooms at once, while they arrive (a zoom needing a level not there yet waits
  for it: the time is to the frame drawn at the requested resolution), and the time
  until the whole layout is in the cache. The cold open above runs with the stored
  layout switched off (``stored_layouts``): today's never-opened path, same run;
- **bytes**: everything the page received for that view (resource timing
  ``transferSize`` of the ``/nsight-lab/`` requests: the open call, the Timeline's
  script and stylesheet, the tiles);
- **zoom**: from the wheel event (``nsl-timeline:input``) to the frame drawn with
  the tiles at the new resolution, zooming in ``--zooms`` steps at the centre and
  out again, each step a factor e.

Beside the wall times (which move with the machine's load), the CPU seconds the
Jupyter server spent on the cold open are read from ``/proc``: the one-time layout's
cost on any machine. ``--data DIR`` keeps the stack's data (the uploaded, converted
report) for the next run, which then skips the upload and conversion.

The baseline, measured in the same run, is what a viewer that ships the trace to
the browser must move first: the converted ``kernels.parquet`` fetched whole by its
presigned URL (the smallest form of the trace there is), and its size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._measure import machine  # noqa: E402
from benchmarks.make_fixtures import make_nsys_sqlite  # noqa: E402
from tests.support.analysis_stack import (  # noqa: E402
    AnalysisStack,
    upload_reports,
    wait_converted,
)
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.ui.lab_server import JupyterLabServer, choose_tag, open_panel  # noqa: E402

TAG = "bench-view"

#: Resolves when the first frame drawn with tiles (blocks > 0) follows ``since``.
FIRST_DRAW_JS = """
async (since) => {
  for (;;) {
    const drawn = performance.getEntriesByName("nsl-timeline:drawn")
      .filter(m => m.startTime >= since && m.detail.blocks > 0);
    if (drawn.length) return drawn[0].startTime - since;
    await new Promise(r => setTimeout(r, 5));
  }
}
"""

#: After one wheel input: ms until the frame with the tiles at the new resolution
#: (or, when the cached tiles already cover it, the next frame), and whether it fetched.
ZOOM_JS = """
async (before) => {
  const after = () => performance.getEntriesByType("mark").slice(before);
  for (;;) {
    const marks = after();
    const input = marks.find(m => m.name === "nsl-timeline:input");
    if (input) {
      const later = marks.filter(m => m.startTime >= input.startTime);
      const firstDraw = later.find(m => m.name === "nsl-timeline:drawn");
      const requests = later.filter(m => m.name === "nsl-timeline:request");
      if (firstDraw && !requests.length && performance.now() - firstDraw.startTime > 30) {
        return { ms: firstDraw.startTime - input.startTime, fetched: false };
      }
      const last = requests[requests.length - 1];
      if (last) {
        const tiles = later.find(m => m.name === "nsl-timeline:tiles" && m.detail.id === last.detail.id);
        const drawn = tiles && later.find(m => m.name === "nsl-timeline:drawn" && m.startTime >= tiles.startTime);
        if (drawn) return { ms: drawn.startTime - input.startTime, fetched: true, blocks: drawn.detail.blocks };
      }
    }
    await new Promise(r => setTimeout(r, 2));
  }
}
"""

BYTES_JS = """
(since) => performance.getEntriesByType("resource")
  .filter(e => e.startTime >= since && e.name.includes("/nsight-lab/"))
  .reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0)
"""


def open_trace(page: Any, lab: JupyterLabServer) -> tuple[float, int, float]:
    """Click "View trace" in a fresh page: ms to the first drawn frame, bytes received,
    and the CPU seconds the Jupyter server spent from the click to that frame."""
    assert lab.proc is not None
    panel = open_panel(page, lab)
    choose_tag(panel, TAG)
    button = panel.locator(".jp-NsightLab-collection").first.get_by_role(
        "button", name="View trace", exact=True
    )
    button.wait_for()
    since = page.evaluate("performance.now()")
    cpu = cpu_seconds(lab.proc.pid)
    button.click()
    ms = float(page.evaluate(FIRST_DRAW_JS, since))
    cpu = cpu_seconds(lab.proc.pid) - cpu
    page.wait_for_timeout(300)  # let the resource entries of that view settle
    return ms, int(page.evaluate(BYTES_JS, since)), cpu


def zoom_steps(page: Any, steps: int) -> list[dict[str, Any]]:
    canvas = page.locator(".nsl-timeline canvas[tabindex]")
    box = canvas.bounding_box()
    assert box is not None
    x, y = box["x"] + 170 + (box["width"] - 170) / 2, box["y"] + 20
    page.mouse.move(x, y)
    results = []
    for delta in [-500] * steps + [500] * steps:
        before = page.evaluate('performance.getEntriesByType("mark").length')
        page.mouse.wheel(0, delta)
        results.append(page.evaluate(ZOOM_JS, before))
        page.wait_for_timeout(250)  # the view is saved 150 ms after input; keep steps apart
    return results


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lab_server(home: Path, stack: AnalysisStack, *, stored: bool) -> JupyterLabServer:
    config = {"NsightLabExtension": {"stored_layouts": stored}}
    return JupyterLabServer(home, stack.url, server_config=config).start()


def whole_layout_arrived(lab: JupyterLabServer, timeout: float = 600.0) -> float:
    """Seconds until the stored layout is complete in ``lab``'s cache (moved into place)."""
    began = time.perf_counter()
    cache = lab.home / "trace-cache"
    while time.perf_counter() - began < timeout:
        done = list(cache.glob("*/timeline-v*/layout.json"))
        if done and not list(cache.glob("*/timeline-v*.partial-*")):
            return time.perf_counter() - began
        time.sleep(0.05)
    raise SystemExit(f"the stored layout did not arrive in {lab.home} within {timeout:.0f} s")


def tiles_of(
    lab: JupyterLabServer, collection: str, windows: list[tuple[float, float, int]]
) -> list[bytes]:
    """The server's binary tile answers for ``windows`` (fractions of the span, width)."""
    auth = {"Authorization": f"token {lab.token}"}
    with httpx.Client(base_url=f"{lab.url}/nsight-lab/", headers=auth, timeout=600) as http:
        view = http.post("traces", json={"collection_id": collection}).raise_for_status().json()
        span = float(view["span_ns"])
        return [
            http.get(f"traces/{view['view_id']}/tiles",
                     params={"t0": a * span, "t1": b * span, "width_px": w}).raise_for_status().content
            for a, b, w in windows
        ]  # fmt: skip


#: Windows compared between the two ways of opening (fractions of the span, pixels).
CHECKED = [(0.0, 1.0, 1200), (0.5, 0.5 + 1e-3, 1200), (0.25, 0.25 + 1e-6, 1200), (0.0, 1.0, 300)]


def stored_open(
    home: Path,
    stack: AnalysisStack,
    browser: Any,
    zooms: int,
    collection: str,
    expected: list[bytes],
) -> dict[str, Any]:
    """One first open, from the stored layout, on a fresh server: first view, then zooms
    while the finer levels arrive, then the time until all of them did."""
    lab = lab_server(home, stack, stored=True)
    try:
        assert lab.proc is not None
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(600_000)
        began, before = time.perf_counter(), cpu_seconds(lab.proc.pid)
        ms, received, cpu = open_trace(page, lab)
        steps = zoom_steps(page, zooms)
        arrived = time.perf_counter() - began
        arrived += whole_layout_arrived(lab)
        context.close()
        arrival_cpu = cpu_seconds(lab.proc.pid) - before
        if tiles_of(lab, collection, CHECKED) != expected:
            raise SystemExit("the stored layout's tiles differ from the layout made here")
    finally:
        lab.stop()
    return {"ms": ms, "bytes": received, "cpu": cpu, "zooms": steps, "arrived_s": arrived,
            "arrival_cpu_s": arrival_cpu}  # fmt: skip


def stored_report(stack: AnalysisStack, report: Path) -> str:
    """The collection holding ``report`` (uploaded and converted once per ``--data``)."""
    files = httpx.get(stack.coordinator_url + "files", timeout=60).json()
    for f in files:
        if f["tag"] == TAG and f["size"] == report.stat().st_size and \
                f["conversion"]["state"] == "converted":  # fmt: skip
            return str(f["collection_id"])
    began = time.perf_counter()
    uploaded = upload_reports(stack.coordinator_url, [report], tag=TAG, timeout=1800)
    print(f"upload: {time.perf_counter() - began:.0f} s", flush=True)
    began = time.perf_counter()
    found = wait_converted(stack.coordinator_url, uploaded.collection_id,
                           settled=("converted", "failed"), timeout=3600)  # fmt: skip
    if found[0]["conversion"]["state"] != "converted":
        raise SystemExit(f"the analysis side could not convert it: {found[0]['conversion']}")
    print(f"conversion by the analysis side: {time.perf_counter() - began:.0f} s", flush=True)
    while httpx.get(stack.analysis_url + "ingest", timeout=60).json()["layouts_pending"]:
        time.sleep(1)  # its layout, queued after the conversion
    print(f"with its layout: {time.perf_counter() - began:.0f} s", flush=True)
    return uploaded.collection_id


def baseline_download(stack: AnalysisStack, sha256: str) -> tuple[float, int]:
    links = httpx.get(stack.analysis_url + f"traces/{sha256}", timeout=60).json()
    began = time.perf_counter()
    size = 0
    with httpx.stream("GET", links["urls"]["kernels.parquet"], timeout=600) as answer:
        for chunk in answer.iter_bytes(1 << 20):
            size += len(chunk)
    return time.perf_counter() - began, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kernels", type=int, default=10_000_000)
    parser.add_argument("--zooms", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3, help="warm opens (and zoom rounds)")
    parser.add_argument("--data", help="keep the stack's data here between runs")
    parser.add_argument("--stored-runs", type=int, default=3,
                        help="first opens from the layout stored at ingest (fresh servers)")  # fmt: skip
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    report = make_nsys_sqlite(args.kernels)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"input: {report} ({report.stat().st_size / 1e9:.2f} GB)")
    with tempfile.TemporaryDirectory(prefix="nsight-bench-view-") as tmp:
        home = Path(tmp)
        data = Path(args.data) if args.data else home / "up"
        with AnalysisStack(data, workers=1, warm=False) as stack:
            collection = stored_report(stack, report)
            files = httpx.get(stack.coordinator_url + "files",
                              params={"collection_id": collection}, timeout=60).json()  # fmt: skip
            base_s, base_bytes = baseline_download(stack, files[0]["sha256"])
            ingest = httpx.get(stack.analysis_url + "ingest", timeout=60).json()
            print(f"ingest: conversion {ingest['last_conversion']}, layout {ingest['last_layout']}")
            lab = lab_server(home / "lab", stack, stored=False)
            try:
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                 headless=True)  # fmt: skip
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = context.new_page()
                    page.set_default_timeout(600_000)
                    cold_ms, cold_bytes, cold_cpu = open_trace(page, lab)
                    status = page.locator('.jp-NsightLab-trace [role="status"]').inner_text()
                    print(f"opened: {status.split(' · wheel')[0]}")
                    print(f"first view, laid out here (today's never-opened path): "
                          f"{cold_ms / 1000:.2f} s, {cold_cpu:.1f} CPU-s", flush=True)  # fmt: skip
                    expected = tiles_of(lab, collection, CHECKED)
                    stored = []
                    for run in range(args.stored_runs):
                        stored.append(stored_open(home / f"lab-stored-{run}", stack, browser,
                                                  args.zooms, collection, expected))  # fmt: skip
                        print(f"stored layout, run {run}: {stored[-1]['ms'] / 1000:.2f} s, "
                              f"{stored[-1]['bytes'] / 1024:.0f} KiB, {stored[-1]['cpu']:.2f} CPU-s; "
                              f"all levels after {stored[-1]['arrived_s']:.1f} s "
                              f"({stored[-1]['arrival_cpu_s']:.1f} CPU-s); zooms "
                              f"{[round(z['ms']) for z in stored[-1]['zooms']]}", flush=True)  # fmt: skip
                    warm, zooms = [], []
                    for _ in range(args.runs):
                        page.close()
                        page = context.new_page()
                        page.set_default_timeout(120_000)
                        warm.append(open_trace(page, lab))
                        zooms += zoom_steps(page, args.zooms)
                    browser.close()
            finally:
                lab.stop()
    warm_ms = statistics.median(ms for ms, _, _ in warm)
    warm_bytes = statistics.median(b for _, b, _ in warm)
    warm_cpu = statistics.median(c for _, _, c in warm)
    fetched = [z["ms"] for z in zooms if z["fetched"]]
    cached = [z["ms"] for z in zooms if not z["fetched"]]
    every = [z["ms"] for z in zooms]
    arriving = [z["ms"] for run in stored for z in run["zooms"]]
    result_stored = {
        "stored_first_view_s_median": statistics.median(r["ms"] for r in stored) / 1000,
        "stored_first_view_s_all": [round(r["ms"] / 1000, 3) for r in stored],
        "stored_bytes_median": statistics.median(r["bytes"] for r in stored),
        "stored_server_cpu_s_median": statistics.median(r["cpu"] for r in stored),
        "stored_zoom_ms_median": statistics.median(arriving),
        "stored_zoom_ms_p90": sorted(arriving)[int(0.9 * (len(arriving) - 1))],
        "stored_zoom_ms_max": max(arriving),
        "stored_zoom_steps": len(arriving),
        "stored_all_levels_s_median": statistics.median(r["arrived_s"] for r in stored),
        # The server's CPU from the click until every level was in its cache (and checked).
        "stored_arrival_cpu_s_median": statistics.median(r["arrival_cpu_s"] for r in stored),
    } if stored else {}  # fmt: skip
    result = {
        **result_stored,
        "kernels": args.kernels,
        "cold_first_view_s": cold_ms / 1000,
        "cold_bytes": cold_bytes,
        "cold_server_cpu_s": cold_cpu,
        "warm_first_view_s_median": warm_ms / 1000,
        "warm_first_view_s_all": [round(ms / 1000, 3) for ms, _, _ in warm],
        "warm_server_cpu_s_median": warm_cpu,
        "warm_bytes_median": warm_bytes,
        "zoom_ms_median": statistics.median(every),
        "zoom_ms_p90": sorted(every)[int(0.9 * (len(every) - 1))],
        "zoom_ms_max": max(every),
        "zoom_fetching_ms_median": statistics.median(fetched) if fetched else None,
        "zoom_steps": len(every),
        "zoom_fetches": len(fetched),
        "zoom_cached_ms_median": statistics.median(cached) if cached else None,
        "baseline_download_s": base_s,
        "baseline_bytes": base_bytes,
    }
    if stored:
        print(f"first view from the layout stored at ingest (median of {len(stored)} fresh servers): "
              f"{result['stored_first_view_s_median']:.2f} s, {result['stored_bytes_median'] / 1024:.0f} KiB "
              f"received, {result['stored_server_cpu_s_median']:.2f} CPU-s; zooms meanwhile: median "
              f"{result['stored_zoom_ms_median']:.0f} ms, p90 {result['stored_zoom_ms_p90']:.0f} ms, "
              f"max {result['stored_zoom_ms_max']:.0f} ms; every level in the cache after "
              f"{result['stored_all_levels_s_median']:.1f} s")  # fmt: skip
    print(f"first view, cold (copy and lay out the converted tables): {cold_ms / 1000:.2f} s, "
          f"{cold_bytes / 1024:.0f} KiB received; the Jupyter server spent {cold_cpu:.1f} CPU-s")  # fmt: skip
    print(f"first view, warm (median of {args.runs}): {warm_ms / 1000:.2f} s, "
          f"{warm_bytes / 1024:.0f} KiB received; {warm_cpu:.2f} CPU-s on the server")  # fmt: skip
    print(f"zoom, {len(every)} steps ({len(fetched)} fetched tiles): median {result['zoom_ms_median']:.0f} ms, "
          f"p90 {result['zoom_ms_p90']:.0f} ms, max {result['zoom_ms_max']:.0f} ms")  # fmt: skip
    print(f"baseline, the converted kernels table fetched whole: {base_s:.2f} s, "
          f"{base_bytes / 1e6:.0f} MB ({base_bytes / max(warm_bytes, 1):.0f}x the first view's bytes)")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()

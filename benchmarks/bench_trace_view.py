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
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    report = make_nsys_sqlite(args.kernels)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"input: {report} ({report.stat().st_size / 1e9:.2f} GB)")
    with tempfile.TemporaryDirectory(prefix="nsight-bench-view-") as tmp:
        home = Path(tmp)
        data = Path(args.data) if args.data else home / "up"
        with AnalysisStack(data, workers=1, warm=False) as stack:
            collection = stored_report(stack, report)
            files = httpx.get(stack.coordinator_url + "files",
                              params={"collection_id": collection}, timeout=60).json()  # fmt: skip
            base_s, base_bytes = baseline_download(stack, files[0]["sha256"])
            lab = JupyterLabServer(home / "lab", stack.url).start()
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
    result = {
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

"""'View trace' and the Sessions view in a real JupyterLab, over a real ``nsight-lab up``.

Two ranks of a real PyTorch job (the HolisticTraceAnalysis fixtures) are uploaded as
one collection through the coordinator's upload API; the user opens the collection's
trace from the panel, zooms into a kernel, clicks it and reads its details, selects
a range and reads its kernel summary; then finds the session in the Sessions view.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from nsight_lab.trace import load_trace
from tests.support.analysis_stack import (
    KINETO_RANKS,
    AnalysisStack,
    Uploaded,
    upload_ranks,
)
from tests.ui.lab_server import JupyterLabServer, choose_tag, open_panel

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.timeout(300)]

TAG = "ranks"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalysisStack]:
    with AnalysisStack(tmp_path_factory.mktemp("up"), workers=1, warm=False) as up:
        yield up


@pytest.fixture(scope="module")
def two_ranks(stack: AnalysisStack, fixtures_dir: Path) -> Uploaded:
    return upload_ranks(stack, fixtures_dir, TAG)


def ranks_panel(page: Any, lab: JupyterLabServer) -> Any:
    panel = open_panel(page, lab)
    choose_tag(panel, TAG)
    return panel


def describe(lab: JupyterLabServer, collection_id: str) -> dict[str, Any]:
    """What the tab was told on opening (the same call, answered from the cache)."""
    request = urllib.request.Request(
        f"{lab.url}/nsight-lab/traces",
        data=json.dumps({"collection_id": collection_id}).encode(),
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        result: dict[str, Any] = json.load(answer)
        return result


def longest_kernel(path: Path) -> dict[str, Any]:
    kernels = load_trace(path).tables["kernels"]
    durations = pc.subtract(kernels["end"], kernels["start"])
    row: dict[str, Any] = kernels.slice(
        pc.index(durations, pc.max(durations)).as_py(), 1
    ).to_pylist()[0]
    return row


def blocks_drawn(page: Any) -> int:
    return int(page.locator(".nsl-timeline").get_attribute("data-blocks") or 0)


def test_a_collections_trace_opens_zooms_and_explains_an_event(
    browser_page: Any, lab: JupyterLabServer, two_ranks: Uploaded, fixtures_dir: Path,
    screenshots: Path,
) -> None:  # fmt: skip
    page = browser_page
    panel = ranks_panel(page, lab)
    collection = panel.locator(".jp-NsightLab-collection").first
    collection.get_by_text("COMPLETED").wait_for()
    collection.get_by_role("button", name="View trace", exact=True).click()

    status = page.locator('.jp-NsightLab-trace [role="status"][data-state="ready"]')
    status.wait_for(timeout=120_000)
    assert status.inner_text().startswith("2 reports · 7,127 events")
    timeline = page.locator(".nsl-timeline")
    timeline.wait_for()
    page.wait_for_function("Number(document.querySelector('.nsl-timeline')?.dataset.blocks) > 0")
    header = timeline.locator(".nsl-timeline-header")
    assert "aligned by wall-clock timestamps" in header.inner_text()
    assert "7,127 events" in header.inner_text()
    page.screenshot(path=str(screenshots / "5-trace-open.png"))

    # Zoom into rank 1's longest kernel with the wheel, the pointer resting on it.
    view = describe(lab, two_ranks.collection_id)
    rank1 = view["reports"][1]
    kernel = longest_kernel(fixtures_dir / KINETO_RANKS[1])
    group = f"rank 1 · GPU {kernel['device_id']}"
    row = next(i for i, r in enumerate(view["rows"]) if r["group"] == group
               and r["label"] == f"stream {kernel['stream_id']}")  # fmt: skip
    middle = (kernel["start"] + kernel["end"]) / 2 + rank1["shift_ns"]
    canvas = timeline.locator("canvas[tabindex]")
    box = canvas.bounding_box()
    assert box is not None

    def locate() -> tuple[float, float]:
        at = canvas.evaluate(
            "(c, [row, t]) => c.closest('.nsl-timeline').nslTimeline.locate(row, t)", [row, middle]
        )
        return box["x"] + at["x"], box["y"] + at["y"]

    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    first_tiles = timeline.get_attribute("data-tiles")
    span = canvas.evaluate(
        "c => { const v = c.closest('.nsl-timeline').nslTimeline.view(); return v.t1 - v.t0; }"
    )
    for _ in range(4):
        x, y = locate()
        page.mouse.move(x, y)
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(150)
    page.wait_for_function(
        "id => document.querySelector('.nsl-timeline').dataset.tiles !== id", arg=first_tiles
    )
    zoomed = canvas.evaluate(
        "c => { const v = c.closest('.nsl-timeline').nslTimeline.view(); return v.t1 - v.t0; }"
    )
    assert zoomed < span / 5, (zoomed, span)

    # A click on the kernel shows its every column, read from the converted report.
    x, y = locate()
    page.mouse.click(x, y)
    details = page.get_by_role("region", name="Timeline details")
    page.wait_for_function(
        "document.querySelector('.nsl-timeline-details').dataset.kind === 'event'"
    )
    text = details.inner_text()
    assert kernel["short_name"] in text or kernel["name"] in text
    assert "rank 1" in text
    correlation = details.locator("tr", has_text="correlation_id").inner_text()
    assert str(kernel["correlation_id"]) in correlation
    page.screenshot(path=str(screenshots / "6-trace-event.png"))

    # Back to the whole trace ("0"), then shift-drag over most of it: its kernel summary.
    canvas.focus()
    page.keyboard.press("0")
    x, y = locate()
    left, right = box["x"] + 175, box["x"] + box["width"] - 5
    page.keyboard.down("Shift")
    page.mouse.move(left, y)
    page.mouse.down()
    page.mouse.move(right, y, steps=8)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_function(
        "document.querySelector('.nsl-timeline-details').dataset.kind === 'summary'"
    )
    summary = details.inner_text()
    assert "kernels in" in summary and "Total Time" in summary
    page.screenshot(path=str(screenshots / "7-trace-summary.png"))


def test_the_sessions_view_lists_every_tag_and_opens_a_sessions_page(
    browser_page: Any, lab: JupyterLabServer, two_ranks: Uploaded, screenshots: Path
) -> None:
    page = browser_page
    panel = ranks_panel(page, lab)
    panel.get_by_role("button", name="All sessions").click()
    view = page.locator("#nsight-lab-sessions")
    table = view.get_by_role("table", name="Sessions")
    table.locator(f'tr[data-session="{two_ranks.session_id}"]').wait_for()
    view.get_by_label("Filter").fill("no such session")
    table.locator("tbody tr").first.wait_for(state="detached")
    view.get_by_label("Filter").fill("")
    view.get_by_label("Tag", exact=True).select_option(TAG)
    assert table.locator("tbody tr").count() == 1
    view.get_by_role("button", name="Tag").click()  # sort by tag
    assert view.locator('th[aria-sort="ascending"]').inner_text().startswith("Tag")
    table.locator(f'tr[data-session="{two_ranks.session_id}"] button').click()

    page_ = view.locator(".jp-NsightLab-session-page")
    files = page_.locator("tr[data-file]")
    files.first.wait_for()
    assert files.count() == 2
    first = files.first.inner_text()
    assert "probe" in first and "torch" in first and "KiB" in first
    assert ".json.gz" not in first  # names that fit: process, instance, collector, size
    page.screenshot(path=str(screenshots / "8-session-page.png"))

    # The sidebar's recipe form, scoped to this session.
    page_.get_by_role("button", name="Run a recipe…").click()
    panel.locator('[role="tab"][aria-selected="true"]', has_text="Analysis").wait_for()
    scope = panel.get_by_label("Reports of")
    page.wait_for_function(
        "([el, id]) => el.value === id", arg=[scope.element_handle(), two_ranks.session_id]
    )

    files.first.get_by_role("button", name="View trace", exact=True).click()
    status = page.locator('.jp-NsightLab-trace [role="status"][data-state="ready"]')
    status.wait_for(timeout=120_000)
    assert status.inner_text().startswith("1 report ·")

    # End the session from its page, then begin the tag's next one from the list.
    page.locator(".lm-TabBar-tab", has_text="Nsight sessions").click()
    page_.get_by_role("button", name="End session").click()
    page_.locator(".jp-NsightLab-badge", has_text="ENDED").wait_for()
    page_.get_by_role("button", name="← All sessions").click()
    view.get_by_label("Begin a session on tag").select_option(TAG)
    view.get_by_label("titled").fill("from the sessions view")
    view.get_by_role("button", name="Begin session").click()
    page_.get_by_role("heading", name="from the sessions view").wait_for()

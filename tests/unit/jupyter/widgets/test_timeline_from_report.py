"""``Timeline.from_report`` / ``from_collection``: stored reports in a notebook, via the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nsight_lab.client import CoordinatorClient
from nsight_lab.config import CliConfig
from nsight_lab.jupyter.widgets.timeline import Timeline
from tests.support.analysis_stack import (
    AnalysisStack,
    Uploaded,
    upload_ranks,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalysisStack]:
    with AnalysisStack(tmp_path_factory.mktemp("up"), workers=1, warm=False) as up:
        yield up


@pytest.fixture(scope="module")
def two_ranks(stack: AnalysisStack, fixtures_dir: Path) -> Uploaded:
    return upload_ranks(stack, fixtures_dir, "nb-view")


def test_a_collection_opens_in_a_notebook_and_a_click_reads_through_the_gateway(
    stack: AnalysisStack, two_ranks: Uploaded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NSIGHT_LAB_TRACE_CACHE", str(tmp_path / "cache"))
    config = CliConfig(gw=stack.url, tag="nb-view")
    widget = Timeline.from_collection(two_ranks.collection_id, config=config)
    assert widget.alignment == "wall-clock timestamps"
    assert {r["group"].split(" · ")[0] for r in widget.rows} == {"rank 0", "rank 1"}
    header, _ = widget.answer_view({"type": "view", "id": 1, "t0": 0, "t1": widget.span_ns,
                                    "width_px": 800})  # fmt: skip
    assert header["n"] > 0

    fetched: list[str] = []
    real = CoordinatorClient.download_url
    monkeypatch.setattr(CoordinatorClient, "download_url",
                        lambda self, url, target: fetched.append(target.name) or real(self, url, target))  # fmt: skip
    again = Timeline.from_collection(two_ranks.collection_id, config=config)
    assert fetched == [], "a second open maps the saved layout and reads no storage"

    view = again.trace_view
    assert view is not None
    part = view.parts[0]
    level = part.timeline.summary.levels[0]
    row, t = int(level.row[0]) + part.row_base, float(level.start[0]) + part.shift_ns
    reply, _ = again.answer_view({"type": "event", "id": 5, "row": row, "t": t, "tolerance_ns": 0})
    assert reply["type"] == "event" and reply["event"]["report"] == "rank 0"
    assert "pid" in reply["event"]["columns"]
    assert fetched == [], "the click read the local copy of the converted tables"
    summary, _ = again.answer_view({"type": "summary", "id": 6, "t0": 0, "t1": again.span_ns})
    assert summary["summary"]["kernels"] == 1154 + 1104


def test_a_report_id_that_does_not_exist_is_named(stack: AnalysisStack) -> None:
    with pytest.raises(ValueError, match="nosuchfile"):
        Timeline.from_report("nosuchfile", config=CliConfig(gw=stack.url))

"""'View trace' through the server extension: stored reports, fetched once, sent tile by tile."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nsight_lab.jupyter.server.handlers import traces
from nsight_lab.jupyter.trace_cache import VIEWED_FILES
from tests.support.analysis_stack import (
    AnalysisStack,
    Uploaded,
    upload_ranks,
    upload_reports,
)
from tests.unit.jupyter.server.fetching import fetch_json

RANKS = (
    "kineto/trace_filter__sampled_rank-0.json.gz",
    "kineto/trace_filter__sampled_rank-1.json.gz",
)


@pytest.fixture
def nsight_traitlets(tmp_path: Path) -> dict[str, Any]:
    # Reports laid out here, from their converted tables: the path of every report the
    # analysis side did not lay out (test_traces_from_stored_layouts.py: the others).
    return {"trace_cache_dir": str(tmp_path / "trace-cache"), "stored_layouts": False}


@pytest.fixture(scope="module")
def two_ranks(up_stack: AnalysisStack, fixtures_dir: Path) -> Uploaded:
    return upload_ranks(up_stack, fixtures_dir, "view")


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every report the server fetched from storage (the real fetch, counted)."""
    seen: list[str] = []
    real = traces.fetch_to

    async def counted(conn: Any, url: str, target: Path, timeout: float, client: Any = None) -> int:
        seen.append(target.name)
        return await real(conn, url, target, timeout, client)

    monkeypatch.setattr(traces, "fetch_to", counted)
    return seen


def decode(body: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    (length,) = struct.unpack_from("<I", body)
    header = json.loads(body[4 : 4 + length])
    n, at, columns = header["n"], 4 + length, {}
    for name, dtype in (("start", "<f8"), ("end", "<f8"), ("row", "<i4"), ("count", "<u4"),
                        ("name", "<i4"), ("busy", "<f8")):  # fmt: skip
        size = np.dtype(dtype).itemsize * n
        columns[name] = np.frombuffer(body[at : at + size], dtype)
        at += size
    assert at == len(body), "nothing may follow the six columns"
    return header, columns


async def open_view(jp_fetch: Any, body: Any) -> tuple[int, Any]:
    return await fetch_json(jp_fetch, "nsight-lab", "traces", method="POST", body=body)


async def test_a_collection_opens_from_its_converted_tables_as_one_axis(
    jp_fetch: Any, gateway: AnalysisStack, two_ranks: Uploaded, downloads: list[str],
    nsight_traitlets: dict[str, Any],
) -> None:  # fmt: skip
    code, view = await open_view(jp_fetch, {"collection_id": two_ranks.collection_id})
    assert code == 200, view
    assert [r["label"] for r in view["reports"]] == ["rank 0", "rank 1"]
    assert view["alignment"] == "wall-clock timestamps"
    assert {r["group"].split(" · ")[0] for r in view["rows"]} == {"rank 0", "rank 1"}
    # The analysis side converted both on registration: the reports themselves are
    # never downloaded, only the converted tables a timeline draws (not the API calls).
    assert sorted(downloads) == sorted(list(VIEWED_FILES) * 2)
    assert "api.parquet" not in downloads
    cache = Path(nsight_traitlets["trace_cache_dir"])
    assert len(list(cache.glob("*/trace/conversion.json"))) == 2

    downloads.clear()
    again_code, again = await open_view(jp_fetch, {"collection_id": two_ranks.collection_id})
    assert again_code == 200 and again["view_id"] == view["view_id"]
    assert downloads == [], "a second open maps the saved layout: storage is not read"

    response = await jp_fetch(
        "nsight-lab", "traces", view["view_id"], "tiles",
        params={"t0": 0, "t1": view["span_ns"], "width_px": 1200},
    )  # fmt: skip
    assert response.headers["Content-Type"] == "application/octet-stream"
    header, tiles = decode(response.body)
    assert 0 < header["n"] < view["event_count"] and header["width_px"] == 1200
    assert set(np.unique(tiles["row"])) <= set(range(len(view["rows"])))
    assert tiles["name"].max() < len(view["names"])


async def test_a_click_reads_the_event_and_a_range_its_kernel_summary(
    jp_fetch: Any, gateway: AnalysisStack, two_ranks: Uploaded, downloads: list[str]
) -> None:
    _, view = await open_view(jp_fetch, {"collection_id": two_ranks.collection_id})
    view_id, span = view["view_id"], view["span_ns"]
    response = await jp_fetch("nsight-lab", "traces", view_id, "tiles",
                              params={"t0": 0, "t1": span / 2000, "width_px": 1000})  # fmt: skip
    _, tiles = decode(response.body)
    single = int(np.flatnonzero(tiles["count"] == 1)[0])
    code, found = await fetch_json(
        jp_fetch, "nsight-lab", "traces", view_id, "event",
        params={"row": int(tiles["row"][single]), "t": float(tiles["start"][single]),
                "tolerance_ns": 0},
    )  # fmt: skip
    assert code == 200 and found["type"] == "event"
    event = found["event"]
    assert event["start"] == tiles["start"][single] and event["report"].startswith("rank ")
    assert event["columns"]["name"] == event["name"] or event["layer"] == "kernels"
    assert "pid" in event["columns"]

    code, answer = await fetch_json(jp_fetch, "nsight-lab", "traces", view_id, "summary",
                                    params={"t0": 0, "t1": span})  # fmt: skip
    summary = answer["summary"]
    assert code == 200 and summary["group_by"] == "name"
    assert summary["kernels"] == 1154 + 1104  # every kernel of both ranks lies inside
    assert [r["label"] for r in summary["reports"]] == ["rank 0", "rank 1"]
    assert summary["columns"][-1] == "Name" and len(summary["rows"]) <= 30


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, 'give either "file_ids"'),
        ({"file_ids": ["a"], "collection_id": "b"}, 400, "not both"),
        ({"file_ids": "abc"}, 400, "must be a list"),
        ({"file_ids": ["../../etc"]}, 400, "is not a valid id"),
        ({"collection_id": "../x"}, 400, "is not a valid id"),
        ({"file_ids": ["doesnotexist0000"]}, 404, "doesnotexist0000"),
        ({"collection_id": "nosuchcollection"}, 404, "no reports to show"),
        ("[1, 2", 400, "not JSON"),
    ],
)
async def test_opening_refuses_bad_requests_with_a_reason(
    jp_fetch: Any, gateway: AnalysisStack, body: Any, status: int, message: str
) -> None:
    code, answer = await open_view(jp_fetch, body)
    assert code == status, answer
    assert message in answer["detail"]


async def test_a_report_that_cannot_be_read_is_named_with_the_reason(
    jp_fetch: Any,
    gateway: AnalysisStack,
    fixtures_dir: Path,
    up_stack: AnalysisStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NSIGHT_LAB_NSYS", "/nonexistent/nsys")
    uploaded = upload_reports(up_stack.coordinator_url, [fixtures_dir / "nsys-rep/pdl_2p2c.nsys-rep"],
                              tag="view-bad")  # fmt: skip
    code, answer = await open_view(jp_fetch, {"collection_id": uploaded.collection_id})
    assert code == 422
    assert answer["detail"].startswith("cannot show ") and "nsys" in answer["detail"]


@pytest.mark.parametrize(
    ("what", "params", "message"),
    [
        ("tiles", {"t0": 5, "t1": 1, "width_px": 10}, "must be a number greater than t0"),
        ("tiles", {"t0": 0, "t1": 1, "width_px": 0}, "width_px must be in 1..100000"),
        ("tiles", {"t0": 0, "width_px": 10}, "missing query parameter 't1'"),
        ("event", {"row": "x", "t": 0, "tolerance_ns": 0}, "needs numeric"),
        ("event", {"row": 99999, "t": 0, "tolerance_ns": 0}, "not in this view"),
        ("summary", {"t0": 3, "t1": 3}, "empty range"),
    ],
)
async def test_bad_view_questions_are_refused_naming_the_field(
    jp_fetch: Any, gateway: AnalysisStack, two_ranks: Uploaded, what: str, params: dict[str, Any],
    message: str,
) -> None:  # fmt: skip
    _, view = await open_view(jp_fetch, {"collection_id": two_ranks.collection_id})
    code, answer = await fetch_json(jp_fetch, "nsight-lab", "traces", view["view_id"], what,
                                    params=params)  # fmt: skip
    assert code == 400 and message in answer["detail"]


async def test_a_view_this_server_does_not_hold_asks_to_be_opened_again(
    jp_fetch: Any, gateway: AnalysisStack
) -> None:
    code, answer = await fetch_json(jp_fetch, "nsight-lab", "traces", "0" * 20, "tiles",
                                    params={"t0": 0, "t1": 1, "width_px": 1})  # fmt: skip
    assert code == 410 and "open the trace again" in answer["detail"]


async def test_the_tab_loads_the_notebook_timelines_own_front_end(
    jp_fetch: Any, gateway: AnalysisStack
) -> None:
    from nsight_lab.jupyter.widgets._static import STATIC

    response = await jp_fetch("nsight-lab", "static", "timeline.js")
    assert response.body == (STATIC / "timeline.js").read_bytes()
    assert response.headers["Content-Type"].startswith("text/javascript")
    for name in ("session_control.js", "..%2Ftimeline.py", "nope.css"):
        missing = await jp_fetch("nsight-lab", "static", name, raise_error=False)
        assert missing.code == 404


async def test_without_the_analysis_sides_conversion_a_report_is_converted_here_once(
    jp_fetch: Any, fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    downloads: list[str],
) -> None:  # fmt: skip
    with AnalysisStack(tmp_path / "no-ingest", workers=1, warm=False,
                       env={"NSIGHT_LAB_ANALYSIS_INGEST": "false"}) as stack:  # fmt: skip
        monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(tmp_path / "absent.conf"))
        monkeypatch.setenv("NSIGHT_LAB_GW", stack.url)
        uploaded = upload_reports(stack.coordinator_url, [fixtures_dir / RANKS[0]], tag="local")
        code, view = await open_view(jp_fetch, {"collection_id": uploaded.collection_id})
        assert code == 200, view
        assert len(downloads) == 1 and view["event_count"] > 0
        again_code, _ = await open_view(jp_fetch, {"collection_id": uploaded.collection_id})
        assert again_code == 200 and len(downloads) == 1
        response = await jp_fetch("nsight-lab", "traces", view["view_id"], "tiles",
                                  params={"t0": 0, "t1": view["span_ns"], "width_px": 300})  # fmt: skip
        assert decode(response.body)[0]["n"] > 0


async def test_no_trace_route_answers_without_the_jupyter_token(
    jp_fetch: Any, gateway: AnalysisStack, two_ranks: Uploaded, http_server_client: Any,
    jp_base_url: str,
) -> None:  # fmt: skip
    _, view = await open_view(jp_fetch, {"collection_id": two_ranks.collection_id})
    base = f"{jp_base_url}nsight-lab/traces"
    attempts = [
        ("POST", base, json.dumps({"collection_id": two_ranks.collection_id})),
        ("GET", f"{base}/{view['view_id']}/tiles?t0=0&t1=1000&width_px=10", None),
        ("GET", f"{base}/{view['view_id']}/event?row=0&t=0&tolerance_ns=0", None),
        ("GET", f"{base}/{view['view_id']}/summary?t0=0&t1=1000", None),
        ("GET", f"{jp_base_url}nsight-lab/static/timeline.js", None),
    ]
    for method, url, body in attempts:
        response = await http_server_client.fetch(url, method=method, body=body, raise_error=False,
                                                  follow_redirects=False)  # fmt: skip
        assert response.code in (302, 403), (method, url, response.code)
        assert b"kernels" not in response.body and b"rank 0" not in response.body

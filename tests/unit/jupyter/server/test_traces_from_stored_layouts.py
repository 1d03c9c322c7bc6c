"""'View trace' of reports the analysis side laid out at ingest: coarse levels first, then the rest.

The stack is a real ``nsight-lab up`` (its ingest converts and lays out every report);
the Jupyter server is real; storage is read through the real presigned URLs. What the
server fetches is counted at its one download function, and the background fetch of
the finer levels is held back (only in these tests) so the first view's own fetches can
be counted exactly, then let go.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from nsight_lab.jupyter.server.handlers import traces
from nsight_lab.jupyter.server.handlers.traces import encode_tiles
from nsight_lab.jupyter.stored_traces import build_view, viewable_files
from nsight_lab.jupyter.trace_cache import VIEWED_FILES
from nsight_lab.jupyter.widgets import trace_view
from nsight_lab.jupyter.widgets.lanes import LAYERS
from nsight_lab.jupyter.widgets.stored_layout import HEAD_FILE, REFS_FILE, StoredHead
from nsight_lab.jupyter.widgets.trace_view import (
    ConvertedSource,
    ReportTimeline,
    TraceView,
    answer,
    layout_name,
)
from nsight_lab.models import FileInfo
from nsight_lab.trace.converted import ConvertedTrace, trace_prefix
from tests.support.analysis_stack import (
    AnalysisStack,
    Uploaded,
    upload_ranks,
    upload_reports,
    wait_converted,
)
from tests.support.reports import distinct_copy
from tests.support.stack import wait_until
from tests.unit.jupyter.server.test_traces import RANKS, decode, open_view


@pytest.fixture
def nsight_traitlets(tmp_path: Path) -> dict[str, Any]:
    return {"trace_cache_dir": str(tmp_path / "trace-cache")}


@pytest.fixture(scope="module")
def two_ranks(up_stack: AnalysisStack, fixtures_dir: Path) -> Uploaded:
    return upload_ranks(up_stack, fixtures_dir, "stored-layout")


@dataclass
class Fetches:
    """Every object the server fetched from storage (the real fetch), with its bytes.

    While ``held`` is not set, fetches of names outside ``first`` (the background's:
    finer levels, row refs) wait for it."""

    names: list[str] = field(default_factory=list)
    bytes: int = 0
    first: set[str] = field(default_factory=set)
    held: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.held.set()


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> Fetches:
    seen = Fetches()
    real = traces.fetch_to

    async def counted(conn: Any, url: str, target: Path, timeout: float, client: Any = None) -> int:
        if target.name not in seen.first and not seen.held.is_set():
            await seen.held.wait()
        size = await real(conn, url, target, timeout, client)
        seen.names.append(target.name)
        seen.bytes += size
        return size

    monkeypatch.setattr(traces, "fetch_to", counted)
    return seen


def storage_of(stack: AnalysisStack, sha256: str) -> Path:
    return stack.data_dir / "storage" / trace_prefix(sha256)


def head_of(stack: AnalysisStack, sha256: str) -> StoredHead:
    """The stored layout's head, once the ingest's layout thread (after the conversion)
    wrote it."""
    path = storage_of(stack, sha256) / layout_name(LAYERS) / HEAD_FILE
    wait_until(path.is_file, 120, f"the stored layout of {sha256[:12]}")
    head = StoredHead.parse(json.loads(path.read_text()))
    assert head is not None
    return head


def files_of(stack: AnalysisStack, collection_id: str) -> list[FileInfo]:
    listed = httpx.get(f"{stack.coordinator_url}files", params={"collection_id": collection_id})
    return viewable_files([FileInfo.model_validate(f) for f in listed.json()])


def laid_out_here(stack: AnalysisStack, files: list[FileInfo]) -> TraceView:
    """The same view laid out from the converted tables, as a server without stored layouts does."""
    folders = [storage_of(stack, f.sha256) for f in files]
    timelines = [ReportTimeline.from_folder(folder) for folder in folders]
    sources = [ConvertedSource(ConvertedTrace.from_folder(folder)) for folder in folders]
    return build_view(files, timelines, sources)


async def tiles(jp_fetch: Any, view_id: str, **params: Any) -> Any:
    return await jp_fetch("nsight-lab", "traces", view_id, "tiles", params=params,
                          raise_error=False)  # fmt: skip


def expected(view: TraceView, **params: Any) -> bytes:
    message = {"type": "view", "id": "0", **{k: str(v) for k, v in params.items()}}
    return encode_tiles(*answer(view, message))


async def arrived(cache: Path, count: int) -> None:
    """Wait (bounded) until ``count`` layouts are complete in the server's cache."""
    for _ in range(600):
        laid_out = [p for p in cache.glob(f"*/{layout_name(LAYERS)}") if ReportTimeline.load(p)]
        if len(laid_out) >= count and not any(cache.glob("*/*.partial-*")):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} layouts did not arrive in the cache within 30 s")


async def test_a_first_open_fetches_only_the_head_and_coarse_levels_then_the_rest(
    jp_fetch: Any, gateway: AnalysisStack, two_ranks: Uploaded, fetches: Fetches,
    nsight_traitlets: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    files = files_of(gateway, two_ranks.collection_id)
    heads = [head_of(gateway, f.sha256) for f in files]
    first = [n for h in heads for i in h.first_levels() for n in h.files(i)]
    fetches.first = set(first)
    code, view = await open_view(jp_fetch, {"collection_id": two_ranks.collection_id})
    assert code == 200, view
    # Only the first view's levels (the head came inline with the layout's URLs): not the
    # converted tables, not the finer levels, not the row refs.
    assert sorted(fetches.names) == sorted(first)
    assert fetches.bytes == sum(h.bytes_of([n for i in h.first_levels() for n in h.files(i)])
                                for h in heads)  # fmt: skip
    # (For these small reports a third of the layout; for 10M events 3.5 KB of 780 MB.)
    assert fetches.bytes < sum(sum(int(o["bytes"]) for o in h.data["objects"].values())
                               for h in heads) / 2  # fmt: skip
    local = laid_out_here(gateway, files)
    assert {k: v for k, v in view.items() if k != "view_id"} == local.describe()

    view_id, span = view["view_id"], view["span_ns"]
    for width in (300, 1200, 4096):
        answered = await tiles(jp_fetch, view_id, t0=0, t1=span, width_px=width)
        assert answered.code == 200
        assert answered.body == expected(local, t0=0, t1=span, width_px=width)

    # A zoom needing a level still held back is not answered coarser: it waits, and says so.
    monkeypatch.setattr(trace_view, "ARRIVAL_WAIT_S", 0.3)
    deep = {"t0": span / 2, "t1": span / 2 + span / 100_000, "width_px": 1000}
    waiting = await tiles(jp_fetch, view_id, **deep)
    assert waiting.code == 503
    assert "still arriving from storage" in json.loads(waiting.body)["detail"]

    monkeypatch.setattr(trace_view, "ARRIVAL_WAIT_S", 30.0)
    fetches.release()
    answered = await tiles(jp_fetch, view_id, **deep)  # waits for its level, then answers
    assert answered.code == 200 and answered.body == expected(local, **deep)
    cache = Path(nsight_traitlets["trace_cache_dir"])
    await arrived(cache, 2)
    # Every object once; the converted tables still never fetched.
    everything = [n for h in heads for n in h.data["objects"]]
    assert sorted(fetches.names) == sorted(everything)
    assert REFS_FILE in fetches.names and not [n for n in fetches.names if n in VIEWED_FILES]

    span_values = np.geomspace(span, span / 1_000_000, 7)
    for t1 in span_values:
        for width in (200, 1500):
            answered = await tiles(jp_fetch, view_id, t0=0, t1=t1, width_px=width)
            assert answered.body == expected(local, t0=0, t1=t1, width_px=width)
    _, blocks = decode(answered.body)
    single = int(np.flatnonzero(blocks["count"] == 1)[0])
    click = {"row": int(blocks["row"][single]), "t": float(blocks["start"][single]),
             "tolerance_ns": 0}  # fmt: skip
    code, found = await jp_fetch_json(jp_fetch, view_id, "event", click)
    assert code == 200
    assert found["event"] == answer(local, {"type": "event", "id": "0", **click})[0]["event"]

    # A later open on this server maps the layout from its cache: storage is not read.
    fetches.names.clear()
    again, again_view = await open_view(jp_fetch, {"collection_id": two_ranks.collection_id})
    assert again == 200 and fetches.names == [] and again_view["view_id"] == view_id


async def jp_fetch_json(jp_fetch: Any, view_id: str, kind: str, params: dict[str, Any]) -> Any:
    response = await jp_fetch("nsight-lab", "traces", view_id, kind, params=params,
                              raise_error=False)  # fmt: skip
    return response.code, json.loads(response.body)


def damage_coarse(folder: Path, head: StoredHead) -> None:
    name = head.files(head.first_levels()[-1])[0]
    data = bytearray((folder / name).read_bytes())
    data[-1] ^= 0xFF
    (folder / name).write_bytes(bytes(data))


def truncate_fine(folder: Path, head: StoredHead) -> None:
    name = head.files(0)[0]
    (folder / name).write_bytes((folder / name).read_bytes()[:100])


def other_version(folder: Path, head: StoredHead) -> None:
    data = json.loads((folder / HEAD_FILE).read_text())
    data["version"] += 1
    (folder / HEAD_FILE).write_text(json.dumps(data))


def no_layout(folder: Path, head: StoredHead) -> None:
    shutil.rmtree(folder)


@pytest.mark.parametrize(
    ("damage", "seed"),
    [(damage_coarse, 7100), (truncate_fine, 7200), (other_version, 7300), (no_layout, 7400)],
)
async def test_a_stored_layout_that_is_damaged_or_foreign_falls_back_to_laying_out_here(
    jp_fetch: Any, gateway: AnalysisStack, fixtures_dir: Path, tmp_path: Path,
    fetches: Fetches, nsight_traitlets: dict[str, Any], damage: Any, seed: int,
) -> None:  # fmt: skip
    report = distinct_copy(fixtures_dir / RANKS[0], tmp_path / f"r-{seed}.json.gz", seed)
    uploaded = upload_reports(gateway.coordinator_url, [report], tag=f"damaged-{seed}")
    wait_converted(gateway.coordinator_url, uploaded.collection_id)
    files = files_of(gateway, uploaded.collection_id)
    head = head_of(gateway, files[0].sha256)
    local = laid_out_here(gateway, files)  # before the damage: the right answers
    damage(storage_of(gateway, files[0].sha256) / layout_name(LAYERS), head)
    fetches.release()
    code, view = await open_view(jp_fetch, {"collection_id": uploaded.collection_id})
    assert code == 200, view
    view_id, span = view["view_id"], view["span_ns"]
    await arrived(Path(nsight_traitlets["trace_cache_dir"]), 1)
    assert set(VIEWED_FILES) <= set(fetches.names), "laid out here, from the converted tables"
    for t1 in (span, span / 1000, span / 1_000_000):
        answered = await tiles(jp_fetch, view_id, t0=0, t1=t1, width_px=1000)
        assert answered.code == 200
        assert answered.body == expected(local, t0=0, t1=t1, width_px=1000)

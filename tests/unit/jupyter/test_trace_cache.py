"""The local cache of viewed reports: converted once, laid out once, bad input named."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from nsight_lab.jupyter.stored_traces import labels_for, title_for, viewable_files
from nsight_lab.jupyter.trace_cache import ReportUnreadable, TraceCache
from nsight_lab.models import FileInfo


def info_for(path: Path, **fields: object) -> FileInfo:
    data = path.read_bytes()
    defaults: dict[str, object] = {
        "file_id": hashlib.sha1(path.name.encode()).hexdigest()[:16],
        "key": f"k/{path.name}",
        "session_id": "s1",
        "collection_id": "c1",
        "collection_index": 0,
        "agent_id": "a1",
        "tag": "t",
        "process_name": "trainer",
        "instance": "0",
        "filename": path.name,
        "kind": "report",
        "collector": "torch",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "created_at": datetime.now(timezone.utc),
    }
    defaults.update(fields)
    return FileInfo.model_validate(defaults)


def downloaded(cache: TraceCache, info: FileInfo, source: Path) -> Path:
    raw = cache.raw_path(info)
    shutil.copyfile(source, raw)
    return raw


def test_a_report_is_converted_and_laid_out_once_then_mapped(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    source = fixtures_dir / "kineto" / "trace_filter__sampled_rank-0.json.gz"
    cache = TraceCache(tmp_path / "cache")
    info = info_for(source)
    folder = cache.convert(info, downloaded(cache, info, source))
    assert cache.has_trace(info) and (folder / "kernels.parquet").is_file()
    assert not (cache.entry(info.sha256) / "raw").exists()  # the download is dropped
    first = cache.timeline(info)
    again = cache.timeline(info)
    assert isinstance(again.summary.levels[0].start, np.memmap)
    assert again.event_count == first.event_count > 0 and again.metadata.rank == 0


def test_a_corrupt_download_is_refused_and_leaves_nothing(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    source = fixtures_dir / "kineto" / "trace_filter__sampled_rank-0.json.gz"
    cache = TraceCache(tmp_path / "cache")
    info = info_for(source)
    raw = cache.raw_path(info)
    raw.write_bytes(source.read_bytes()[:-100])
    with pytest.raises(ReportUnreadable, match=r"the download has .* bytes"):
        cache.convert(info, raw)
    assert not cache.has_trace(info) and not raw.exists()


def test_a_report_no_importer_reads_is_named_with_the_reason(
    fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no nsys anywhere
    monkeypatch.delenv("NSIGHT_LAB_NSYS", raising=False)
    source = fixtures_dir / "nsys-rep" / "pdl_2p2c.nsys-rep"
    cache = TraceCache(tmp_path / "cache")
    info = info_for(source)
    with pytest.raises(ReportUnreadable, match=r"pdl_2p2c.nsys-rep: an .nsys-rep needs the nsys"):
        cache.convert(info, downloaded(cache, info, source))
    garbage = tmp_path / "broken.json"
    garbage.write_text('{"traceEvents": [')
    bad = info_for(garbage)
    with pytest.raises(ReportUnreadable, match=r"broken\.json"):
        cache.convert(bad, downloaded(cache, bad, garbage))
    assert not cache.has_trace(bad)
    with pytest.raises(ReportUnreadable, match="not been converted"):
        cache.timeline(bad)


def test_the_cache_evicts_the_least_recently_opened_reports(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    cache = TraceCache(tmp_path / "cache")
    infos = []
    for name in ("trace_filter__sampled_rank-0.json.gz", "trace_filter__sampled_rank-1.json.gz"):
        source = fixtures_dir / "kineto" / name
        info = info_for(source)
        cache.convert(info, downloaded(cache, info, source))
        cache.timeline(info)
        infos.append(info)
    old = cache.entry(infos[0].sha256) / ".opened"
    os.utime(old, (1, 1))
    cache.max_bytes = cache.size() - 1
    assert cache.prune() == [infos[0].sha256]
    assert not cache.has_trace(infos[0]) and cache.has_trace(infos[1])


def test_a_path_trick_in_a_sha256_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a sha256"):
        TraceCache(tmp_path).entry("../" + "0" * 61)


def test_a_collection_shows_one_readable_file_per_agent_labelled_by_rank(tmp_path: Path) -> None:
    report = tmp_path / "a.nsys-rep"
    report.write_bytes(b"x")
    sqlite = tmp_path / "a.sqlite"
    sqlite.write_bytes(b"y")
    log = tmp_path / "b.log"
    log.write_bytes(b"z")
    files = [
        info_for(report, agent_id="a1", process_name="p", instance="1", file_id="f" * 16),
        info_for(
            sqlite, agent_id="a1", process_name="p", instance="1", kind="sqlite", file_id="e" * 16
        ),
        info_for(report, agent_id="a2", process_name="p", instance="0", file_id="d" * 16),
        info_for(log, agent_id="a2", kind="log", file_id="c" * 16),
    ]
    chosen = viewable_files(files)
    assert [(f.agent_id, f.kind) for f in chosen] == [("a2", "report"), ("a1", "sqlite")]
    assert title_for(chosen) == "collection 0 · 2 reports" and title_for(chosen[:1]) == "a.nsys-rep"

    class Meta:
        def __init__(self, rank: int | None) -> None:
            self.rank = rank

    class Timeline:
        def __init__(self, rank: int | None) -> None:
            self.metadata = Meta(rank)

    assert labels_for(chosen, [Timeline(1), Timeline(0)]) == ["rank 1", "rank 0"]  # type: ignore[list-item]
    assert labels_for(chosen, [Timeline(None), Timeline(0)]) == ["p 0", "p 1"]  # type: ignore[list-item]

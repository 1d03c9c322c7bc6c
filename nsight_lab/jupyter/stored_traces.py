"""Stored reports as one Timeline: which files of a collection to show, and their labels.

A collection holds one or more files per agent (an nsys agent uploads its
``.nsys-rep`` and the SQLite export of it; the agent may add an annotation log).
Viewing the collection means one lane group per process, all on one axis; the
server extension and the notebook widgets choose the same files and name them the
same way, through this module. :func:`open_stored` is the notebook's (synchronous)
way to get there through the gateway; the server extension does the same steps
asynchronously.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nsight_lab.client import CoordinatorClient
from nsight_lab.jupyter.trace_cache import TraceCache
from nsight_lab.jupyter.widgets.lanes import LAYERS
from nsight_lab.jupyter.widgets.trace_view import (
    ParquetSource,
    Part,
    ReportTimeline,
    TraceView,
)
from nsight_lab.models import FileInfo

#: Only these files hold timeline events; others (logs, recipe outputs) are skipped.
VIEWABLE_KINDS = ("report", "sqlite", "ranges")


def viewable_files(files: Sequence[FileInfo]) -> list[FileInfo]:
    """The files worth drawing, one set per agent, in a stable order.

    An ``.nsys-rep`` is dropped when its agent also uploaded the SQLite export of
    it: both hold the same events, and only the export is readable without nsys.
    """
    exported = {(f.collection_id, f.agent_id) for f in files if f.kind == "sqlite"}
    chosen = [
        f
        for f in files
        if f.kind in VIEWABLE_KINDS
        and not (f.filename.endswith(".nsys-rep") and (f.collection_id, f.agent_id) in exported)
    ]
    return sorted(chosen, key=lambda f: (f.collection_index, f.process_name, f.instance, f.kind))


def labels_for(files: Sequence[FileInfo], timelines: Sequence[ReportTimeline]) -> list[str]:
    """``rank N`` when every report knows a distinct rank, else process and instance."""
    ranks = [t.metadata.rank for t in timelines]
    if all(r is not None for r in ranks) and len(set(ranks)) == len(ranks):
        return [f"rank {r}" for r in ranks]
    labels = [f"{f.process_name} {f.instance}" for f in files]
    if len(set(labels)) < len(labels):
        labels = [f"{label} ({f.kind})" for label, f in zip(labels, files, strict=True)]
    if len(set(labels)) < len(labels):
        labels = [f"{label} {f.file_id[:6]}" for label, f in zip(labels, files, strict=True)]
    return labels


def title_for(files: Sequence[FileInfo]) -> str:
    if len(files) == 1:
        return files[0].filename
    collections = {f.collection_index for f in files}
    where = f"collection {collections.pop()}" if len(collections) == 1 else "several collections"
    return f"{where} · {len(files)} reports"


def build_view(
    files: Sequence[FileInfo], timelines: Sequence[ReportTimeline], folders: Sequence[Path]
) -> TraceView:
    labels = labels_for(files, timelines)
    parts = [
        Part(timeline, ParquetSource(folder), label, info.file_id)
        for info, timeline, folder, label in zip(files, timelines, folders, labels, strict=True)
    ]
    return TraceView(parts, title=title_for(files))


def open_stored(
    client: CoordinatorClient,
    files: Sequence[FileInfo],
    cache: TraceCache | None = None,
    layers: Sequence[str] = LAYERS,
) -> TraceView:
    """Download (once), convert (once), lay out (once) and place ``files`` on one axis."""
    cache = cache or TraceCache()
    timelines, folders = [], []
    for info in files:
        if not cache.has_trace(info):
            raw = client.download_file(info, cache.raw_path(info))
            cache.convert(info, raw, verified=True)
        timelines.append(cache.timeline(info, layers))
        folders.append(cache.trace_folder(info))
    return build_view(files, timelines, folders)

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

import shutil
from collections.abc import Sequence

from nsight_lab.analysis_client import AnalysisClient
from nsight_lab.client import ApiError, CoordinatorClient
from nsight_lab.jupyter.trace_cache import VIEWED_FILES, ReportUnreadable, TraceCache
from nsight_lab.jupyter.widgets.lanes import LAYERS
from nsight_lab.jupyter.widgets.trace_view import (
    ConvertedSource,
    Part,
    ReportTimeline,
    TraceView,
)
from nsight_lab.models import ConversionState, FileInfo
from nsight_lab.trace.converted import ConvertedTrace

#: Only these files hold timeline events; others (logs, recipe outputs) are skipped.
VIEWABLE_KINDS = ("report", "sqlite", "ranges")


def viewable_files(files: Sequence[FileInfo]) -> list[FileInfo]:
    """The files worth drawing, one set per agent, in a stable order.

    An ``.nsys-rep`` is dropped when its agent also uploaded the SQLite export of
    it: both hold the same events, and only the export is readable without nsys.
    So is a file the analysis side skipped converting (not a report).
    """
    exported = {(f.collection_id, f.agent_id) for f in files if f.kind == "sqlite"}
    chosen = [
        f
        for f in files
        if f.kind in VIEWABLE_KINDS
        and f.conversion.state != ConversionState.SKIPPED
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
    files: Sequence[FileInfo],
    timelines: Sequence[ReportTimeline],
    sources: Sequence[ConvertedSource],
) -> TraceView:
    labels = labels_for(files, timelines)
    parts = [
        Part(timeline, source, label, info.file_id)
        for info, timeline, source, label in zip(files, timelines, sources, labels, strict=True)
    ]
    return TraceView(parts, title=title_for(files))


def failed_conversion(info: FileInfo) -> ReportUnreadable | None:
    """The analysis side's recorded reason why ``info`` cannot be read, if it has one."""
    if info.conversion.state == ConversionState.FAILED:
        return ReportUnreadable(f"{info.filename}: {info.conversion.error or 'conversion failed'}")
    return None


def converted_for(
    coordinator: CoordinatorClient, analysis: AnalysisClient, cache: TraceCache, info: FileInfo
) -> ConvertedTrace:
    """The report's converted tables, here: copied before, else copied now from the
    analysis side's conversion, else the report downloaded and converted here once."""
    local = cache.local(info)
    if local is not None:
        return local
    try:
        links = analysis.trace_links(info.sha256)
    except ApiError as exc:
        if exc.status != 404:
            raise
    else:
        partial = cache.partial(info)
        try:
            for name in VIEWED_FILES:
                coordinator.download_url(links.urls[name], partial / name)
        except Exception:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return cache.adopt(info, partial)
    failure = failed_conversion(info)
    if failure is not None:
        raise failure
    raw = coordinator.download_file(info, cache.raw_path(info))
    cache.convert(info, raw, verified=True)
    found = cache.local(info)
    if found is None:
        raise ReportUnreadable(f"{info.filename}: converted, but the result is gone")
    return found


def open_stored(
    coordinator: CoordinatorClient,
    analysis: AnalysisClient,
    files: Sequence[FileInfo],
    cache: TraceCache | None = None,
    layers: Sequence[str] = LAYERS,
) -> TraceView:
    """Place ``files`` on one axis, each laid out once; a report already laid out is
    opened from the cache without touching storage until an event is clicked."""
    cache = cache or TraceCache()
    timelines, sources = [], []
    for info in files:

        def factory(info: FileInfo = info) -> ConvertedTrace:
            return converted_for(coordinator, analysis, cache, info)

        source = ConvertedSource(factory=factory)
        timeline = cache.layout(info, layers)
        if timeline is None:
            timeline = cache.timeline(info, source.converted, layers)
        timelines.append(timeline)
        sources.append(source)
    return build_view(files, timelines, sources)

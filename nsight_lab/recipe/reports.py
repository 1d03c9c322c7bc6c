"""The reports a run maps, as a worker opens them: raw files or converted traces.

A :class:`ReportRef` is plain data (it crosses process and machine boundaries to
pool and Dask workers) naming one report and where its bytes are: a raw report file
(parsed by its importer), a converted trace folder, or a converted trace behind
presigned URLs (how the analysis service hands stored reports to workers that hold
no storage credentials). :func:`open_report` turns it into the :class:`Trace` a
recipe maps, reading only the tables and columns the recipe declared, and for a
converted trace only the row groups a ``--filter-time`` window can touch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nsight_lab.recipe.filters import NvtxFilter, TimeFilter
from nsight_lab.recipe.inputs import converted_name, is_converted, report_name
from nsight_lab.trace import Trace
from nsight_lab.trace.converted import ConvertedTrace, FolderFiles, TraceFiles
from nsight_lab.trace.schema import TIME_COLUMNS

Reads = dict[str, list[str] | None]
"""Table -> columns to read (None: all of them)."""

#: What ``--filter-nvtx`` reads of the ranges table to find each process's window.
NVTX_FILTER_COLUMNS = ("start", "end", "pid", "name", "domain", "kind")
#: What ``--filter-projected-nvtx`` reads besides: the range's thread, the calls
#: launched inside it, the GPU work they launched, and which ranges live on a GPU.
PROJECTED_FILTER_COLUMNS = {
    "ranges": ("tid", "device_id"),
    "api": ("start", "end", "pid", "tid", "correlation_id"),
    "kernels": ("start", "end", "pid", "correlation_id"),
    "memops": ("start", "end", "pid", "correlation_id"),
}


@dataclass(frozen=True)
class ReportRef:
    """One report of a run. Exactly one of ``path``, ``converted`` and ``urls`` is set."""

    #: How warnings and the run record name it: the path given, or a storage key.
    label: str
    #: Its display name (the file name without the report suffix).
    name: str
    #: A raw report file.
    path: str | None = None
    #: A converted trace folder (``conversion.json``, ``metadata.json``, Parquet).
    converted: str | None = None
    #: A converted trace behind presigned URLs: file name -> URL.
    urls: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.path, self.converted, self.urls)) != 1:
            raise ValueError("a ReportRef names exactly one of path, converted, urls")

    @property
    def is_raw(self) -> bool:
        return self.path is not None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportRef:
        return cls(
            **{k: data[k] for k in ("label", "name", "path", "converted", "urls") if k in data}
        )

    @classmethod
    def for_path(cls, path: Path) -> ReportRef:
        """A ref for what ``resolve_inputs`` found: a report file or a converted folder."""
        if is_converted(path):
            return cls(label=str(path), name=converted_name(path), converted=str(path))
        return cls(label=str(path), name=report_name(path), path=str(path))


def plan_reads(
    reads: Mapping[str, Sequence[str] | None], flt: TimeFilter | NvtxFilter | None
) -> Reads:
    """A recipe's declared reads plus what its filter needs to select rows."""
    out: Reads = {t: (list(c) if c is not None else None) for t, c in reads.items()}
    if flt is None:
        return out

    def need(table: str, columns: Sequence[str]) -> None:
        have = out.get(table, [])
        if have is not None:
            out[table] = [*have, *(c for c in columns if c not in have)]

    for table, cols in list(out.items()):
        if cols is not None and table in TIME_COLUMNS:
            need(table, sorted(set(TIME_COLUMNS[table])))
            if isinstance(flt, NvtxFilter):
                need(table, ["pid"])
    if isinstance(flt, NvtxFilter):
        need("ranges", NVTX_FILTER_COLUMNS)
    if isinstance(flt, NvtxFilter) and flt.projected:
        for table, columns in PROJECTED_FILTER_COLUMNS.items():
            need(table, columns)
    return out


def _files(ref: ReportRef) -> TraceFiles:
    if ref.urls is not None:
        from nsight_lab.storage.ranged import UrlFiles

        return UrlFiles(ref.urls)
    assert ref.converted is not None
    return FolderFiles(ref.converted)


def open_report(ref: ReportRef, reads: Reads, flt: TimeFilter | NvtxFilter | None = None) -> Trace:
    """The report's trace, holding only ``reads`` (other tables empty).

    Raises what the importer or reader raises: ``TraceFormatError`` for a bad raw
    report, ``FileNotFoundError`` / ``StorageError`` for a converted one that cannot
    be reached.
    """
    tables = list(reads)
    columns = {t: c for t, c in reads.items() if c is not None}
    if ref.path is not None:
        from nsight_lab.trace import load_trace

        return load_trace(ref.path, tables=tables, columns=columns)
    window = (flt.start, flt.end) if isinstance(flt, TimeFilter) else None
    return ConvertedTrace(_files(ref)).to_trace(tables, columns, window=window)

"""Normalized traces: load any supported report into the same Arrow tables.

from nsight_lab.trace import load_trace
trace = load_trace("run.sqlite")          # or .nsys-rep, Kineto .json(.gz), speedscope, ranges.jsonl
trace.table("kernels").to_pandas()
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection
from pathlib import Path

import pyarrow as pa

from nsight_lab.trace.errors import TraceFormatError
from nsight_lab.trace.importers import IMPORTERS, detect
from nsight_lab.trace.model import Trace, TraceMetadata
from nsight_lab.trace.schema import TABLES
from nsight_lab.trace.sink import MemorySink, ParquetSink, TableSink

__all__ = [
    "TABLES",
    "Trace",
    "TraceFormatError",
    "TraceMetadata",
    "convert_trace",
    "load_trace",
]


class _OnlySink:
    """Passes on the wanted tables only (for importers that cannot skip reading)."""

    def __init__(self, sink: TableSink, tables: Collection[str]) -> None:
        self.sink, self.tables = sink, set(tables)

    def add(self, name: str, rows: pa.Table | pa.RecordBatch) -> None:
        if name in self.tables:
            self.sink.add(name, rows)


def _import(
    path: Path,
    sink: TableSink,
    fmt: str | None,
    nsys_binary: str | None,
    tables: Collection[str] | None = None,
) -> TraceMetadata:
    if not path.is_file():
        raise TraceFormatError(path, "no such file")
    if tables is not None:
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise ValueError(f"not trace tables: {sorted(unknown)}; tables are {sorted(TABLES)}")
        sink = _OnlySink(sink, tables)
    fmt = fmt or detect(path)
    if fmt == "nsys-rep":
        from nsight_lab.trace.importers import nsys_rep, nsys_sqlite

        with tempfile.TemporaryDirectory(prefix="nsight-lab-export-") as tmp:
            sqlite_path = nsys_rep.export_sqlite(path, Path(tmp), nsys_binary=nsys_binary)
            meta = nsys_sqlite.read(sqlite_path, sink, tables=tables)
        meta.path = str(path)
        meta.extra["exported_from"] = "nsys-rep"
        return meta
    if fmt == "nsys-sqlite":
        from nsight_lab.trace.importers import nsys_sqlite

        return nsys_sqlite.read(path, sink, tables=tables)
    if fmt not in IMPORTERS:
        raise ValueError(f"unknown trace format {fmt!r}; known: nsys-rep, {', '.join(IMPORTERS)}")
    return IMPORTERS[fmt].read(path, sink)


def load_trace(
    path: str | Path,
    *,
    nsys_binary: str | None = None,
    format: str | None = None,
    tables: Collection[str] | None = None,
) -> Trace:
    """Import the report at ``path`` into memory; the format is detected unless given.

    ``tables`` limits the import to those tables (the others are present and empty);
    a recipe that needs only kernels then never pays for the CUDA API rows.

    Raises :class:`TraceFormatError` (naming the file and the problem) for input that
    is not a readable trace.
    """
    sink = MemorySink()
    meta = _import(Path(path), sink, format, nsys_binary, tables)
    return Trace(sink.tables(), meta)


def convert_trace(
    path: str | Path,
    folder: str | Path,
    *,
    nsys_binary: str | None = None,
    format: str | None = None,
    tables: Collection[str] | None = None,
) -> TraceMetadata:
    """Import ``path`` straight into ``folder`` as the files ``Trace.load`` reads.

    Rows go to Parquet batch by batch, so memory stays bounded whatever the size of
    the report: the way to import reports larger than RAM.
    """
    import json

    from nsight_lab.trace.model import METADATA_FILE

    sink = ParquetSink(folder)
    try:
        meta = _import(Path(path), sink, format, nsys_binary, tables)
    finally:
        sink.close()
    (Path(folder) / METADATA_FILE).write_text(json.dumps(meta.to_json(), indent=2))
    return meta

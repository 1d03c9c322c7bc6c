"""Normalized traces: load any supported report into the same Arrow tables.

from nsight_lab.trace import load_trace
trace = load_trace("run.sqlite")          # or .nsys-rep, Kineto .json(.gz), speedscope, ranges.jsonl
trace.table("kernels").to_pandas()
load_trace("run.sqlite", columns={"kernels": ["start", "end", "name"]})  # read only those
convert_trace("run.sqlite", "run.trace/")  # once; then ConvertedTrace (trace.converted) reads parts
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import pyarrow as pa

from nsight_lab.trace.errors import TraceFormatError
from nsight_lab.trace.importers import IMPORTERS, detect
from nsight_lab.trace.model import Trace, TraceMetadata
from nsight_lab.trace.schema import TABLES, table_schema
from nsight_lab.trace.sink import MemorySink, SortedParquetSink, TableSink

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
    columns: Mapping[str, Sequence[str]] | None = None,
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
            meta = nsys_sqlite.read(sqlite_path, sink, tables=tables, columns=columns)
        meta.path = str(path)
        meta.extra["exported_from"] = "nsys-rep"
        return meta
    if fmt == "nsys-sqlite":
        from nsight_lab.trace.importers import nsys_sqlite

        return nsys_sqlite.read(path, sink, tables=tables, columns=columns)
    if fmt not in IMPORTERS:
        raise ValueError(f"unknown trace format {fmt!r}; known: nsys-rep, {', '.join(IMPORTERS)}")
    return IMPORTERS[fmt].read(path, sink)


def load_trace(
    path: str | Path,
    *,
    nsys_binary: str | None = None,
    format: str | None = None,
    tables: Collection[str] | None = None,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> Trace:
    """Import the report at ``path`` into memory; the format is detected unless given.

    ``tables`` limits the import to those tables (the others are present and empty);
    a recipe that needs only kernels then never pays for the CUDA API rows.
    ``columns`` narrows tables further, per table, to the columns named: the nsys
    importer then selects only those in SQL (and joins kernels to their launching
    thread only when ``tid`` is asked for); the trace holds only those columns.

    Raises :class:`TraceFormatError` (naming the file and the problem) for input that
    is not a readable trace.
    """
    if columns:
        for name, cols in columns.items():
            table_schema(name, cols)  # unknown tables and columns fail here, by name
    sink = MemorySink(columns)
    meta = _import(Path(path), sink, format, nsys_binary, tables, columns)
    return Trace(sink.tables(), meta, columns=columns)


def convert_trace(
    path: str | Path,
    folder: str | Path,
    *,
    nsys_binary: str | None = None,
    format: str | None = None,
    tables: Collection[str] | None = None,
    sha256: str | None = None,
    source: Mapping[str, object] | None = None,
    row_group_rows: int | None = None,
) -> TraceMetadata:
    """Import ``path`` straight into ``folder`` as the files ``Trace.load`` reads.

    Rows go to Parquet a bounded window at a time, so memory stays bounded whatever
    the size of the report: the way to import reports larger than RAM. Timed tables
    are sorted by start time (see :class:`~nsight_lab.trace.sink.SortedParquetSink`)
    and ``conversion.json`` (:mod:`nsight_lab.trace.converted`) is written last, so
    the folder is a complete converted trace exactly when that file exists.
    """
    from nsight_lab.trace.converted import MANIFEST_FILE, write_manifest
    from nsight_lab.trace.model import METADATA_FILE

    began = time.perf_counter()
    out = Path(folder)
    (out / MANIFEST_FILE).unlink(missing_ok=True)
    sink = SortedParquetSink(out, **({"row_group_rows": row_group_rows} if row_group_rows else {}))
    try:
        meta = _import(Path(path), sink, format, nsys_binary, tables)
    except BaseException:
        sink.abort()
        raise
    sink.close()
    (out / METADATA_FILE).write_text(json.dumps(meta.to_json(), indent=2))
    info = {"filename": Path(path).name, "importer": meta.source, **(source or {})}
    write_manifest(out, sha256=sha256, source=info, seconds=time.perf_counter() - began)
    return meta

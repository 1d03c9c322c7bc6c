"""Where importers put their rows: in memory, or straight into Parquet files.

Importers emit record batches as they read, never whole tables, so the same importer
serves ``load_trace`` (batches gathered into a :class:`Trace`) and ``convert_trace``
(batches written to Parquet as they come, so memory stays bounded by the batch size
whatever the report size).
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from nsight_lab.trace.model import conform
from nsight_lab.trace.schema import TABLES


class TableSink(Protocol):
    def add(self, name: str, rows: pa.Table | pa.RecordBatch) -> None: ...


def _as_table(name: str, rows: pa.Table | pa.RecordBatch) -> pa.Table:
    table = pa.Table.from_batches([rows]) if isinstance(rows, pa.RecordBatch) else rows
    return conform(name, table)


def _same_dictionaries(table: pa.Table) -> bool:
    """True when every chunk of every dictionary column has the same dictionary.

    nsys batches all share StringIds, so the table can stay as it is: unifying
    would copy every index array for nothing (a GB for 10M kernels).
    """
    for column in table.columns:
        if pa.types.is_dictionary(column.type) and column.num_chunks > 1:
            first = column.chunk(0).dictionary
            if not all(c.dictionary.equals(first) for c in column.chunks[1:]):
                return False
    return True


class MemorySink:
    """Gathers batches; :meth:`tables` makes one (chunked) table of each, one dictionary per column."""

    def __init__(self) -> None:
        self._parts: dict[str, list[pa.Table]] = {name: [] for name in TABLES}

    def add(self, name: str, rows: pa.Table | pa.RecordBatch) -> None:
        if rows.num_rows:
            self._parts[name].append(_as_table(name, rows))

    def tables(self) -> dict[str, pa.Table]:
        out = {}
        for name, parts in self._parts.items():
            if not parts:
                out[name] = TABLES[name].empty_table()
            elif len(parts) == 1:
                out[name] = parts[0]
            else:
                table = pa.concat_tables(parts)
                out[name] = table if _same_dictionaries(table) else table.unify_dictionaries()
            parts.clear()
        return out


def _parquet_options(schema: pa.Schema) -> dict[str, object]:
    """Writer settings chosen for import speed at a small cost in file size.

    Dictionary encoding only where it pays (the string columns, already dictionaries
    in memory): tried on every column, Parquet spends its time building dictionaries
    of unique timestamps before falling back. LZ4 compresses about as well as the
    default snappy here and decodes faster.
    """
    return {
        "compression": "lz4",
        "use_dictionary": [f.name for f in schema if pa.types.is_dictionary(f.type)],
    }


class ParquetSink:
    """Writes ``<table>.parquet`` incrementally; every table file exists after :meth:`close`.

    Encoding and compressing happen on a writer thread (pyarrow releases the GIL
    while it writes), so on a 2-core machine the importer reads the next batch while
    the previous one is written. At most ``queue_batches`` batches wait, which bounds
    the memory held on the writer's behalf.
    """

    def __init__(self, folder: str | Path, *, queue_batches: int = 2) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._queue: queue.Queue[tuple[str, pa.Table] | None] = queue.Queue(queue_batches)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._write_loop, name="parquet-sink", daemon=True)
        self._thread.start()

    def add(self, name: str, rows: pa.Table | pa.RecordBatch) -> None:
        self._raise_if_failed()
        if not rows.num_rows:
            return
        self._queue.put((name, _as_table(name, rows)))

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # drain without writing: the importer learns of it on its next add
            name, table = item
            try:
                writer = self._writers.get(name)
                if writer is None:
                    schema = TABLES[name]
                    path = self.folder / f"{name}.parquet"
                    writer = pq.ParquetWriter(path, schema, **_parquet_options(schema))
                    self._writers[name] = writer
                writer.write_table(table)
            except BaseException as exc:  # re-raised in the importer's thread
                self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Finish writing; raises the writer's error, if it had one."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        written = set(self._writers)
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        self._raise_if_failed()
        for name, schema in TABLES.items():
            if name not in written:
                pq.write_table(schema.empty_table(), self.folder / f"{name}.parquet")

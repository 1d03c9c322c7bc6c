"""Where importers put their rows: in memory, or straight into Parquet files.

Importers emit record batches as they read, never whole tables, so the same importer
serves ``load_trace`` (batches gathered into a :class:`Trace`) and ``convert_trace``
(batches written to Parquet as they come, so memory stays bounded by the batch size
whatever the report size).
"""

from __future__ import annotations

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


class ParquetSink:
    """Writes ``<table>.parquet`` incrementally; every table file exists after :meth:`close`."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._writers: dict[str, pq.ParquetWriter] = {}

    def add(self, name: str, rows: pa.Table | pa.RecordBatch) -> None:
        if not rows.num_rows:
            return
        writer = self._writers.get(name)
        if writer is None:
            writer = pq.ParquetWriter(self.folder / f"{name}.parquet", TABLES[name])
            self._writers[name] = writer
        writer.write_table(_as_table(name, rows))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        for name, schema in TABLES.items():
            if name not in self._writers:
                pq.write_table(schema.empty_table(), self.folder / f"{name}.parquet")
        self._writers.clear()

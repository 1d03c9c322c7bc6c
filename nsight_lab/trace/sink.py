"""Where importers put their rows: in memory, or straight into Parquet files.

Importers emit record batches as they read, never whole tables, so the same importer
serves ``load_trace`` (batches gathered into a :class:`Trace`) and ``convert_trace``
(batches sorted by time a bounded window at a time and written to Parquet, so memory
stays bounded by that window whatever the report size).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nsight_lab.trace.model import conform
from nsight_lab.trace.schema import TABLES, TIME_COLUMNS, table_schema


class TableSink(Protocol):
    def add(self, name: str, rows: pa.Table | pa.RecordBatch) -> None: ...


def _as_table(
    name: str, rows: pa.Table | pa.RecordBatch, columns: Sequence[str] | None = None
) -> pa.Table:
    table = pa.Table.from_batches([rows]) if isinstance(rows, pa.RecordBatch) else rows
    return conform(name, table, columns)


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
    """Gathers batches; :meth:`tables` makes one (chunked) table of each, one dictionary per column.

    ``columns`` keeps only those columns of the tables it names (a projected load),
    so the columns nobody reads never take memory.
    """

    def __init__(self, columns: Mapping[str, Sequence[str]] | None = None) -> None:
        self._parts: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
        self._columns = dict(columns or {})

    def add(self, name: str, rows: pa.Table | pa.RecordBatch) -> None:
        if rows.num_rows:
            self._parts[name].append(_as_table(name, rows, self._columns.get(name)))

    def tables(self) -> dict[str, pa.Table]:
        out: dict[str, pa.Table] = {}
        for name, parts in self._parts.items():
            if not parts:
                out[name] = table_schema(name, self._columns.get(name)).empty_table()
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


class _WriterThread:
    """Encodes and writes Parquet on a thread of its own, at most ``depth`` jobs behind.

    pyarrow releases the GIL while it encodes and compresses, so on a 2-core machine
    the importer reads the next batch while the last one is written; the bounded
    queue bounds the memory held on the writer's behalf. An error on the thread is
    raised in the importer's thread at its next call.
    """

    def __init__(self, depth: int = 2) -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="parquet-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._error is not None:
                continue  # drain without writing: the importer learns of it on its next call
            try:
                job()
            except BaseException as exc:
                self._error = exc

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, job: Callable[[], None]) -> None:
        self.check()
        self._queue.put(job)

    def drain(self) -> None:
        """Wait for every job submitted; raise the first error one of them had."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self.check()


# --------------------------------------------------------------------------- sorted

#: Rows per row group of a converted table. A time-window read fetches whole row
#: groups, so they are small enough that a zoomed-in view reads little and large
#: enough that the footer stays small (10M kernels: 153 groups).
ROW_GROUP_ROWS = 65_536
#: Rows of one table held before they are sorted and spilled: the window that
#: bounds conversion memory, whatever the size of the trace.
RUN_ROWS = 1_048_576
_NO_TIME = np.iinfo(np.int64).min  # sorts rows without a time first


def _time_key(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(table.column(column).fill_null(_NO_TIME).to_numpy(), dtype=np.int64)


def _one_dictionary(table: pa.Table) -> pa.Table:
    return table if _same_dictionaries(table) else table.unify_dictionaries()


def _sort_by_time(table: pa.Table, column: str) -> tuple[pa.Table, np.ndarray]:
    """``table`` sorted by ``column`` (stable), and its sorted key."""
    key = _time_key(table, column)
    if len(key) < 2 or bool(np.all(key[1:] >= key[:-1])):
        return table, key  # already in order: the usual case for nsys tables
    order = np.argsort(key, kind="stable")
    return _one_dictionary(table).take(pa.array(order)), key[order]


class _Run:
    """One sorted stretch of a table, written to its own file while it grows."""

    def __init__(self, path: Path, schema: pa.Schema, row_group_rows: int) -> None:
        self.path = path
        self.writer = pq.ParquetWriter(path, schema, **_parquet_options(schema))
        self.row_group_rows = row_group_rows
        self.last = _NO_TIME

    def append(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=self.row_group_rows)

    def close(self) -> None:
        self.writer.close()


class _GroupWriter:
    """Writes rows in row groups of exactly ``size`` rows (the last one may be short)."""

    def __init__(self, writer: pq.ParquetWriter, size: int) -> None:
        self.writer = writer
        self.size = size
        self.held: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        self.held.append(table)
        self.rows += table.num_rows
        while self.rows >= self.size:
            joined = _one_dictionary(pa.concat_tables(self.held))
            self.writer.write_table(joined.slice(0, self.size), row_group_size=self.size)
            rest = joined.slice(self.size)
            self.held, self.rows = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self) -> None:
        if self.rows:
            joined = _one_dictionary(pa.concat_tables(self.held))
            self.writer.write_table(joined, row_group_size=self.size)
        self.held, self.rows = [], 0
        self.writer.close()


def _batches(path: Path, rows: int) -> Iterator[pa.Table]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        if batch.num_rows:
            yield pa.Table.from_batches([batch])


def merge_sorted_runs(
    runs: Sequence[Path], target: Path, name: str, row_group_rows: int = ROW_GROUP_ROWS
) -> None:
    """k-way merge of sorted run files of table ``name`` into ``target``.

    Holds at most one row group per run: each round emits every row up to the
    smallest of the runs' last held keys (no row still unread can sort before it),
    so the run that set that bound is drained and refilled next round.
    """
    schema = TABLES[name]
    column = TIME_COLUMNS[name][0]
    cursors = [_batches(p, row_group_rows) for p in runs]
    held: list[pa.Table | None] = [None] * len(runs)
    keys: list[np.ndarray] = [np.empty(0, np.int64)] * len(runs)
    out = _GroupWriter(pq.ParquetWriter(target, schema, **_parquet_options(schema)), row_group_rows)
    try:
        while True:
            for i, cursor in enumerate(cursors):
                if held[i] is None or len(keys[i]) == 0:
                    nxt = next(cursor, None)
                    held[i] = nxt
                    keys[i] = _time_key(nxt, column) if nxt is not None else np.empty(0, np.int64)
            live = [i for i in range(len(runs)) if held[i] is not None and len(keys[i])]
            if not live:
                break
            bound = min(int(keys[i][-1]) for i in live)
            parts = []
            for i in live:
                table = held[i]
                assert table is not None
                n = int(np.searchsorted(keys[i], bound, side="right"))
                parts.append(table.slice(0, n))
                held[i], keys[i] = table.slice(n), keys[i][n:]
            merged, _ = _sort_by_time(_one_dictionary(pa.concat_tables(parts)), column)
            out.add(merged)
    finally:
        out.close()


class SortedParquetSink:
    """Writes ``<table>.parquet`` with every timed table sorted by its start time.

    This is how reports are converted for storage: a reader wanting a time window
    skips the row groups outside it by their statistics, which only works when row
    groups follow each other in time. Memory stays bounded by :data:`RUN_ROWS` rows
    per table: a full buffer is sorted and appended to the table's open run when it
    starts no earlier than the run ends (nsys tables arrive in order, so they make
    one run and are never rewritten), else it starts a new run. At :meth:`close` a
    table of several runs is merged k-way into its file, one row group per run held
    at a time. Untimed tables (threads, processes, devices) are written as they come.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        run_rows: int = RUN_ROWS,
        row_group_rows: int = ROW_GROUP_ROWS,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.run_rows = run_rows
        self.row_group_rows = row_group_rows
        self._held: dict[str, list[pa.Table]] = {}
        self._held_rows: dict[str, int] = {}
        self._runs: dict[str, list[_Run]] = {}
        self._plain: dict[str, pq.ParquetWriter] = {}
        self._writer = _WriterThread(depth=1)
        self._closed = False
        #: Per table: rows written and, for timed tables, how many sorted runs they made.
        self.stats: dict[str, dict[str, int]] = {}

    def add(self, name: str, rows: pa.Table | pa.RecordBatch) -> None:
        if self._closed:
            raise RuntimeError("add() after close()")
        self._writer.check()
        if not rows.num_rows:
            return
        table = _as_table(name, rows)
        if name not in TIME_COLUMNS:
            writer = self._plain.get(name)
            if writer is None:
                schema = TABLES[name]
                writer = pq.ParquetWriter(
                    self.folder / f"{name}.parquet", schema, **_parquet_options(schema)
                )
                self._plain[name] = writer
            self._writer.submit(lambda: writer.write_table(table))
            self._count(name, table.num_rows)
            return
        self._held.setdefault(name, []).append(table)
        self._held_rows[name] = self._held_rows.get(name, 0) + table.num_rows
        if self._held_rows[name] >= self.run_rows:
            self._spill(name)

    def _count(self, name: str, rows: int) -> None:
        entry = self.stats.setdefault(name, {"rows": 0, "runs": 0})
        entry["rows"] += rows

    def _spill(self, name: str) -> None:
        parts = self._held.pop(name, [])
        self._held_rows.pop(name, None)
        if not parts:
            return
        table, key = _sort_by_time(_one_dictionary(pa.concat_tables(parts)), TIME_COLUMNS[name][0])
        del parts
        runs = self._runs.setdefault(name, [])
        if not runs or int(key[0]) < runs[-1].last:
            path = self.folder / f".{name}.run{len(runs)}.parquet"
            runs.append(_Run(path, TABLES[name], self.row_group_rows))
        run = runs[-1]
        run.last = int(key[-1])
        self._writer.submit(lambda: run.append(table))
        self._count(name, table.num_rows)
        self.stats[name]["runs"] = len(runs)

    def close(self) -> None:
        """Sort what is still held, merge runs, and make sure every table file exists."""
        if self._closed:
            return
        for name in list(self._held):
            self._spill(name)
        self._closed = True
        try:
            self._writer.drain()
        finally:
            for writer in self._plain.values():
                writer.close()
        for name, runs in self._runs.items():
            for run in runs:
                run.close()
            target = self.folder / f"{name}.parquet"
            if len(runs) == 1:
                runs[0].path.replace(target)
                continue
            try:
                merge_sorted_runs([r.path for r in runs], target, name, self.row_group_rows)
            finally:
                for run in runs:
                    run.path.unlink(missing_ok=True)
        for name, schema in TABLES.items():
            path = self.folder / f"{name}.parquet"
            if not path.exists():
                pq.write_table(schema.empty_table(), path)

    def abort(self) -> None:
        """Stop and remove the run files (after an importer failed)."""
        self._closed = True
        with contextlib.suppress(BaseException):
            self._writer.drain()
        for writer in self._plain.values():
            writer.close()
        for runs in self._runs.values():
            for run in runs:
                run.close()
                run.path.unlink(missing_ok=True)
        self._held.clear()

"""Nsight Systems SQLite exports (``nsys export --type sqlite``), every schema generation.

Speed and memory drive the shape of this module. Python's sqlite3 spends its time
building one Python object per value, so the big tables (kernels, CUDA API) are read
in rowid ranges straight into numpy arrays, with several small integer columns
packed into one in SQL (unpacked with numpy): no Python object per row survives a
batch. With the optional connectorx package the ranges are read into Arrow by Rust
on a background thread (several times faster); without it, by worker processes when
a table is large. Strings stay StringIds ids until
the very end, where they become the indices of Arrow dictionary arrays whose
dictionary is StringIds itself.

Tolerated differences between nsys releases: META_DATA_EXPORT (3.x) or
EXPORT_META_DATA (2.x) or neither; any table absent or empty; optional columns
absent; NVTX text inline (``text``) or by ``textId``; ENUM tables absent (built-in
labels are used then).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import sqlite3
import urllib.parse
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from nsight_lab.trace.errors import TraceFormatError
from nsight_lab.trace.model import TraceMetadata
from nsight_lab.trace.sink import TableSink

SQLITE_MAGIC = b"SQLite format 3\x00"
NULL = -(2**63)  # stands for SQL NULL inside int64 arrays; never a real time or id
_NULL_SQL = "(-9223372036854775807 - 1)"
BATCH_ROWS = 262_144
PARALLEL_MIN_ROWS = 2_000_000  # below this, starting worker processes costs more than it saves

# ENUM_CUDA_MEMCPY_OPER / ENUM_CUDA_MEM_KIND labels, for exports that lack the tables.
MEMCPY_KIND_LABELS = {
    0: "Unknown",
    1: "Host-to-Device",
    2: "Device-to-Host",
    3: "Host-to-Array",
    4: "Array-to-Host",
    5: "Array-to-Array",
    6: "Array-to-Device",
    7: "Device-to-Array",
    8: "Device-to-Device",
    9: "Host-to-Host",
    10: "Peer-to-Peer",
    11: "Unified Host-to-Device",
    12: "Unified Device-to-Host",
    13: "Unified Device-to-Device",
}
MEM_KIND_LABELS = {
    0: "Pageable",
    1: "Pinned",
    2: "Device",
    3: "Array",
    4: "Managed",
    5: "Device Static",
    6: "Managed Static",
    7: "Unknown",
}
NVTX_KINDS = {34: "mark", 59: "push_pop", 60: "start_end"}
OSRT_CALL_CLASS = 27  # ENUM_NSYS_EVENT_CLASS TRACE_PROCESS_EVENT_OS_RUNTIME
NVTX_DOMAIN_CREATE = 75


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Scan:
    """One SELECT over a table, every column an integer (NULL mapped to ``NULL``)."""

    table: str
    columns: tuple[str, ...]  # names of the output fields
    exprs: tuple[str, ...]  # SQL expression per field

    def sql(self) -> str:
        cols = ", ".join(self.exprs)
        return f'SELECT {cols} FROM "{self.table}" WHERE rowid >= ? AND rowid < ?'

    @property
    def dtype(self) -> np.dtype:
        return np.dtype([(c, np.int64) for c in self.columns])


class _Batch:
    """One range of rows: a contiguous int64 array per field (SQL NULL read as ``NULL``).

    Column arrays rather than one structured array: every later step (null masks,
    dictionary codes, Arrow arrays) runs over a field at a time, and a field of a
    structured array is a strided view that each of them would copy first.
    """

    __slots__ = ("columns", "n")

    def __init__(self, columns: dict[str, np.ndarray], n: int) -> None:
        self.columns = columns
        self.n = n

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __len__(self) -> int:
        return self.n

    @classmethod
    def from_records(cls, rows: np.ndarray) -> _Batch:
        names = rows.dtype.names or ()
        return cls({f: np.ascontiguousarray(rows[f]) for f in names}, len(rows))

    @classmethod
    def concat(cls, batches: Sequence[_Batch], names: Sequence[str]) -> _Batch:
        if not batches:
            return cls({f: np.empty(0, np.int64) for f in names}, 0)
        return cls(
            {f: np.concatenate([b[f] for b in batches]) for f in names},
            sum(len(b) for b in batches),
        )

    def take(self, order: np.ndarray) -> _Batch:
        return _Batch({f: v[order] for f, v in self.columns.items()}, len(order))


def _read_range(path: str, scan: _Scan, lo: int, hi: int) -> np.ndarray:
    """Rows with ``lo <= rowid < hi`` as a structured int64 array (runs in workers too)."""
    con = sqlite3.connect(_ro_uri(path), uri=True)
    try:
        cur = con.execute(scan.sql(), (lo, hi))
        return np.fromiter(cur, dtype=scan.dtype)
    finally:
        con.close()


def _connectorx() -> Any | None:
    """connectorx (optional) reads SQLite into Arrow in Rust, several times faster than
    Python's sqlite3, which builds a Python object per value; NSIGHT_LAB_NO_CONNECTORX=1
    forces the standard-library path."""
    if os.environ.get("NSIGHT_LAB_NO_CONNECTORX"):
        return None
    try:
        import connectorx
    except ImportError:
        return None
    return connectorx


def _read_range_cx(cx: Any, uri: str, scan: _Scan, lo: int, hi: int) -> _Batch:
    sql = scan.sql().replace("?", str(lo), 1).replace("?", str(hi), 1)
    table = cx.read_sql(uri, sql, return_type="arrow")
    n = table.num_rows
    out: dict[str, np.ndarray] = {}
    for name, column in zip(scan.columns, table.columns, strict=True):
        if not n:
            out[name] = np.empty(0, np.int64)
        elif pa.types.is_null(column.type):
            out[name] = np.full(n, NULL, np.int64)
        elif not pa.types.is_integer(column.type):
            raise TypeError(f"column {name} has type {column.type}")
        else:
            filled = column.fill_null(NULL) if column.null_count else column
            out[name] = np.asarray(filled.to_numpy(), dtype=np.int64)
    return _Batch(out, n)


def _int_expr(col: str, present: set[str], *, default: str = _NULL_SQL) -> str:
    if col not in present:
        return default
    return f'coalesce("{col}", {default})' if default != "NULL" else f'"{col}"'


class _Reader:
    def __init__(self, path: Path, workers: int | None) -> None:
        self.path = path
        self.con = _connect(path)
        self.columns = _table_columns(path, self.con)
        self.workers = workers if workers is not None else min(4, os.cpu_count() or 1)

    def has(self, table: str) -> bool:
        return table in self.columns

    def require(self, table: str, cols: Sequence[str]) -> set[str]:
        present = self.columns[table]
        missing = [c for c in cols if c not in present]
        if missing:
            raise TraceFormatError(
                self.path, f"table {table} lacks required column(s) {', '.join(missing)}"
            )
        return present

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        try:
            return self.con.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise TraceFormatError(self.path, f"query failed ({exc}): {sql}") from exc

    def scan(self, scan: _Scan) -> Iterator[_Batch]:
        """All rows of ``scan`` in rowid order, in batches of about BATCH_ROWS."""
        # Two queries: SQLite answers min(rowid) or max(rowid) from the b-tree's ends,
        # but both in one SELECT scan the whole table (4 s for 10M kernels).
        first = self.rows(f'SELECT min(rowid) FROM "{scan.table}"')[0][0]
        last = self.rows(f'SELECT max(rowid) FROM "{scan.table}"')[0][0]
        if first is None or last is None:
            return
        lo, hi = int(first), int(last) + 1
        bounds = [(a, min(a + BATCH_ROWS, hi)) for a in range(lo, hi, BATCH_ROWS)]
        cx = _connectorx()
        try:
            if cx is not None:
                yield from self._scan_cx(cx, scan, bounds)
            elif self.workers > 1 and hi - lo >= PARALLEL_MIN_ROWS:
                yield from self._scan_parallel(scan, bounds)
            else:
                for a, b in bounds:
                    yield _Batch.from_records(_read_range(str(self.path), scan, a, b))
        except (
            TypeError,
            ValueError,
            OverflowError,
            RuntimeError,
        ) as exc:  # RuntimeError: connectorx
            raise TraceFormatError(
                self.path,
                f"table {scan.table} holds non-integer values where integers belong ({exc})",
            ) from exc
        except sqlite3.Error as exc:
            raise TraceFormatError(self.path, f"reading table {scan.table} failed: {exc}") from exc

    def _scan_cx(self, cx: Any, scan: _Scan, bounds: list[tuple[int, int]]) -> Iterator[_Batch]:
        # connectorx releases the GIL: a thread reads the next range while we convert.
        uri = "sqlite://" + urllib.parse.quote(str(self.path.resolve()))
        with cf.ThreadPoolExecutor(max(1, self.workers)) as pool:
            pending: list[cf.Future[_Batch]] = []
            todo = iter(bounds)
            for a, b in todo:
                pending.append(pool.submit(_read_range_cx, cx, uri, scan, a, b))
                if len(pending) >= max(1, self.workers):
                    break
            while pending:
                result = pending.pop(0).result()
                nxt = next(todo, None)
                if nxt is not None:
                    pending.append(pool.submit(_read_range_cx, cx, uri, scan, *nxt))
                yield result

    def _scan_parallel(self, scan: _Scan, bounds: list[tuple[int, int]]) -> Iterator[_Batch]:
        # A bounded window of ranges in flight keeps memory flat while workers stay busy.
        # fork: workers need nothing but sqlite3 and numpy, and spawn would re-run the
        # caller's __main__ (impossible for stdin or notebooks that are not files).
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        window = 2 * self.workers
        with cf.ProcessPoolExecutor(self.workers, mp_context=ctx) as pool:
            pending: list[cf.Future[np.ndarray]] = []
            todo = iter(bounds)
            for a, b in todo:
                pending.append(pool.submit(_read_range, str(self.path), scan, a, b))
                if len(pending) >= window:
                    break
            while pending:
                result = pending.pop(0).result()
                nxt = next(todo, None)
                if nxt is not None:
                    pending.append(pool.submit(_read_range, str(self.path), scan, *nxt))
                yield _Batch.from_records(result)


def _ro_uri(path: str | Path) -> str:
    """A read-only SQLite URI; quoting matters: an unquoted '#' or '?' in the path
    would silently open (and create!) a different, empty database."""
    return "file:" + urllib.parse.quote(str(Path(path).resolve())) + "?mode=ro"


def _connect(path: Path) -> sqlite3.Connection:
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise TraceFormatError(path, f"cannot read file: {exc}") from exc
    if head != SQLITE_MAGIC:
        raise TraceFormatError(path, "not a SQLite database (no 'SQLite format 3' header)")
    try:
        con = sqlite3.connect(_ro_uri(path), uri=True)
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise TraceFormatError(path, f"unreadable SQLite database: {exc}") from exc
    return con


def _table_columns(path: Path, con: sqlite3.Connection) -> dict[str, set[str]]:
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: {r[1] for r in con.execute(f'PRAGMA table_info("{n}")')} for n in names}
    except sqlite3.Error as exc:
        raise TraceFormatError(path, f"unreadable SQLite database: {exc}") from exc


# --------------------------------------------------------------------------- strings


class _Strings:
    """StringIds as an Arrow dictionary; ids become dictionary indices with numpy."""

    def __init__(self, reader: _Reader) -> None:
        ids: list[int] = []
        values: list[str] = []
        if reader.has("StringIds"):
            reader.require("StringIds", ["id", "value"])
            for i, v in reader.rows("SELECT id, value FROM StringIds ORDER BY id"):
                if isinstance(i, int) and v is not None:
                    ids.append(i)
                    values.append(str(v))
        self.ids = np.asarray(ids, dtype=np.int64)
        self.dictionary = pa.array(values, type=pa.string())
        self._by_id = dict(zip(ids, values, strict=True))
        # Ids are small and dense (nsys numbers them from 0): id -> index by one gather,
        # several times faster than a binary search over 10M kernel names.
        self._index: np.ndarray | None = None
        if len(ids) and self.ids.min() >= 0 and self.ids.max() < 4 * len(ids) + 4096:
            self._index = np.full(int(self.ids.max()) + 1, -1, np.int32)
            self._index[self.ids] = np.arange(len(ids), dtype=np.int32)
        # Ids 0..n-1 in order (every nsys export seen): an id *is* its index, no gather.
        self._identity = bool(len(ids)) and bool(
            (self.ids == np.arange(len(ids), dtype=np.int64)).all()
        )

    def value(self, string_id: object) -> str | None:
        return self._by_id.get(string_id) if isinstance(string_id, int) else None

    def encode(self, string_ids: np.ndarray) -> pa.DictionaryArray:
        """Ids -> dictionary array over StringIds; unknown ids and NULL become nulls."""
        if len(self.ids) == 0:
            idx = np.zeros(len(string_ids), dtype=np.int32)
            return pa.DictionaryArray.from_arrays(
                pa.array(idx, mask=np.ones(len(idx), bool)), pa.array([""], pa.string())
            )
        if self._identity:
            missing = (string_ids < 0) | (string_ids >= len(self.ids))
            if missing.any():
                at = np.where(missing, 0, string_ids).astype(np.int32)
                indices = pa.array(at, mask=missing)
            else:
                indices = pa.array(string_ids.astype(np.int32))
            return pa.DictionaryArray.from_arrays(indices, self.dictionary)
        if self._index is not None:
            inside = (string_ids >= 0) & (string_ids < len(self._index))
            at = self._index[np.where(inside, string_ids, 0)]
            missing = ~inside | (at < 0)
            indices = pa.array(at, mask=missing if missing.any() else None)
            return pa.DictionaryArray.from_arrays(indices, self.dictionary)
        pos = np.searchsorted(self.ids, string_ids).clip(0, len(self.ids) - 1)
        missing = self.ids[pos] != string_ids
        indices = pa.array(pos.astype(np.int32), mask=missing)
        return pa.DictionaryArray.from_arrays(indices, self.dictionary)


def _dict_from_labels(codes: np.ndarray, labels: dict[int, str]) -> pa.DictionaryArray:
    keys = sorted(labels)
    lookup = np.asarray(keys, dtype=np.int64)
    if not keys:
        return pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(len(codes), np.int32), mask=np.ones(len(codes), bool)),
            pa.array([""]),
        )
    pos = np.searchsorted(lookup, codes).clip(0, len(keys) - 1)
    missing = lookup[pos] != codes
    return pa.DictionaryArray.from_arrays(
        pa.array(pos.astype(np.int32), mask=missing), pa.array([labels[k] for k in keys])
    )


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))


def _int(values: np.ndarray, dtype: type[np.integer] = np.int64) -> pa.Array:
    """int64 column with ``NULL`` sentinels -> Arrow array with real nulls."""
    nulls = values == NULL
    return pa.array(values.astype(dtype, copy=False), mask=nulls if nulls.any() else None)


def _pid(global_id: np.ndarray) -> np.ndarray:
    return np.where(global_id == NULL, NULL, (global_id >> 24) & 0xFFFFFF)


def _tid(global_tid: np.ndarray) -> np.ndarray:
    return np.where(global_tid == NULL, NULL, global_tid & 0xFFFFFF)


def _enum_labels(reader: _Reader, table: str, fallback: dict[int, str]) -> dict[int, str]:
    if not reader.has(table) or not {"id", "label"} <= reader.columns[table]:
        return fallback
    labels = {i: str(lbl) for i, lbl in reader.rows(f'SELECT id, label FROM "{table}"') if lbl}
    return labels or fallback


# --------------------------------------------------------------------------- tables


class _Launches:
    """(pid, correlationId) -> launching thread id, from the CUDA API rows.

    Held for every API row at once, so it must be lean: normally each row is ONE
    int64 ``pid code (7 bits) | correlationId (32 bits, CUPTI's width) | tid (24
    bits)`` sorted in place, whose order is (pid, correlation) order with the answer
    riding along. Exports outside those widths fall back to key and tid arrays.

    Faster still, and the usual case: one process whose correlation ids are dense
    (CUPTI counts them up from 1). Then ``tid`` is stored in an int32 table indexed
    by correlation id: no sort at all, 4 bytes per id instead of 8 per row, and a
    lookup is one gather. The table gives way to the packed rows as soon as a second
    process, a sparse or negative id, or one id launched from two threads appears,
    so answers never depend on which representation was used.
    """

    DENSE_MIN = 1 << 22  # a table this small is always fine (16 MB)

    def __init__(self) -> None:
        self._dense: np.ndarray | None = np.empty(0, np.int32)  # None: not (or no longer) dense
        self._dense_pid = NULL
        self._dense_rows = 0
        self._parts: list[np.ndarray] = []  # packed rows, or (key, tid) pairs after fallback
        self._tids: list[np.ndarray] = []
        self._codes: dict[int, int] = {}
        self.packed = True
        self.rows = np.empty(0, np.int64)
        self.tids = np.empty(0, np.int64)
        self._pid_keys = np.empty(0, np.int64)
        self._pid_codes = np.empty(0, np.int64)

    def add(self, pid: np.ndarray, tid: np.ndarray, corr: np.ndarray) -> None:
        ok = (corr != NULL) & (pid != NULL) & (tid != NULL)
        if not ok.all():
            pid, tid, corr = pid[ok], tid[ok], corr[ok]
        if len(pid) == 0:
            return
        if self._dense is not None and self._add_dense(pid, tid, corr):
            return
        if self.packed:
            single = pid[0] if (pid == pid[0]).all() else None  # the common case: one process
            for p in [int(single)] if single is not None else np.unique(pid).tolist():
                self._codes.setdefault(p, len(self._codes))
            fits = len(self._codes) < 128 and (
                len(corr) == 0 or (corr.min() >= 0 and corr.max() < 2**32)
            )
            if fits:
                self._parts.append(self._pack(pid, corr) | tid)
                return
            self._unpack_all()
        self._parts.append(self._wide_key(pid, corr))
        self._tids.append(tid)

    def _add_dense(self, pid: np.ndarray, tid: np.ndarray, corr: np.ndarray) -> bool:
        """Record the rows in the dense table; False (after handing the table's rows to
        the packed representation) when these rows do not fit it."""
        table = self._dense
        assert table is not None
        first = int(pid[0])
        if self._dense_pid == NULL:
            self._dense_pid = first
        fits = first == self._dense_pid and bool((pid == first).all())
        lo, hi = (int(corr.min()), int(corr.max())) if fits else (0, 0)
        fits = fits and lo >= 0 and hi < 2**31 - 1
        self._dense_rows += len(corr)
        if fits and hi >= len(table):
            size = max(hi + 1, len(table) + len(table) // 2)
            if size > max(self.DENSE_MIN, 2 * self._dense_rows):
                fits = False  # sparse ids: the packed rows are smaller
            else:
                grown = np.full(size, -1, np.int32)
                grown[: len(table)] = table
                self._dense = table = grown
        if fits:
            before = table[corr]
            fits = not bool(((before >= 0) & (before != tid)).any())
            if fits:
                table[corr] = tid
                fits = bool((table[corr] == tid).all())  # one id, two threads in this batch
        if fits:
            return True
        self._dense_to_packed()
        return False

    def _dense_to_packed(self) -> None:
        table, self._dense = self._dense, None
        assert table is not None
        corr = np.flatnonzero(table >= 0).astype(np.int64)
        if len(corr):
            pid = np.full(len(corr), self._dense_pid, np.int64)
            tid = table[corr].astype(np.int64)
            del table
            self.add(pid, tid, corr)

    def _refresh_codes(self) -> None:
        keys = np.asarray(sorted(self._codes), dtype=np.int64)
        self._pid_keys = keys
        self._pid_codes = np.asarray([self._codes[k] for k in keys.tolist()], dtype=np.int64)

    def _pack(self, pid: np.ndarray, corr: np.ndarray) -> np.ndarray:
        if len(self._codes) == 1:
            return (np.int64(next(iter(self._codes.values()))) << 56) | (corr << 24)
        self._refresh_codes()
        code = self._pid_codes[np.searchsorted(self._pid_keys, pid)]
        return (code << 56) | (corr << 24)

    @staticmethod
    def _wide_key(pid: np.ndarray, corr: np.ndarray) -> np.ndarray:
        return (pid << 40) | (corr & ((1 << 40) - 1))

    def _unpack_all(self) -> None:
        self.packed = False
        by_code = {c: p for p, c in self._codes.items()}
        parts, self._parts = self._parts, []
        for rows in parts:
            pid = np.asarray([by_code[c] for c in (rows >> 56).tolist()], dtype=np.int64)
            self._parts.append(self._wide_key(pid, (rows >> 24) & 0xFFFFFFFF))
            self._tids.append(rows & 0xFFFFFF)

    def freeze(self) -> None:
        if self.packed:
            self.rows = np.concatenate(self._parts) if self._parts else np.empty(0, np.int64)
            self._parts.clear()
            self.rows.sort()
            self._refresh_codes()
        elif self._parts:
            keys = np.concatenate(self._parts)
            tids = np.concatenate(self._tids)
            self._parts.clear()
            self._tids.clear()
            order = np.argsort(keys, kind="stable")
            self.rows, self.tids = keys[order], tids[order]

    def lookup(self, pid: np.ndarray, corr: np.ndarray) -> np.ndarray:
        n = len(pid)
        if self._dense is not None:
            table = self._dense
            ok = (pid == self._dense_pid) & (corr >= 0) & (corr < len(table))
            found = table[np.where(ok, corr, 0)] if len(table) else np.full(n, -1, np.int32)
            return np.where(ok & (found >= 0), found.astype(np.int64), np.int64(NULL))
        if len(self.rows) == 0:
            return np.full(n, NULL, np.int64)
        valid = (corr != NULL) & (pid != NULL)
        if self.packed:
            pos = np.searchsorted(self._pid_keys, pid).clip(0, len(self._pid_keys) - 1)
            known = valid & (self._pid_keys[pos] == pid) & (corr >= 0) & (corr < 2**32)
            query = (self._pid_codes[pos] << 56) | ((corr & 0xFFFFFFFF) << 24)
            at = np.searchsorted(self.rows, query).clip(0, len(self.rows) - 1)
            hit = self.rows[at]
            found = known & ((hit >> 24) == (query >> 24))
            return np.where(found, hit & 0xFFFFFF, NULL)
        key = self._wide_key(pid, corr)
        at = np.searchsorted(self.rows, key).clip(0, len(self.rows) - 1)
        found = valid & (self.rows[at] == key)
        return np.where(found, self.tids[at], NULL)


def _read_launches(reader: _Reader, launches: _Launches) -> None:
    """Only what the launch join needs, when the API table itself is not wanted."""
    table = "CUPTI_ACTIVITY_KIND_RUNTIME"
    if not reader.has(table):
        return
    cols = reader.require(table, ["globalTid", "correlationId"])
    scan = _Scan(
        table, ("gtid", "corr"), (_int_expr("globalTid", cols), _int_expr("correlationId", cols))
    )
    for rows in reader.scan(scan):
        launches.add(_pid(rows["gtid"]), _tid(rows["gtid"]), rows["corr"])


def _wants(wanted: set[str] | None, *columns: str) -> bool:
    return wanted is None or any(c in wanted for c in columns)


def _pick(
    fields: dict[str, str], needs: dict[str, tuple[str, ...]], wanted: set[str] | None
) -> _Scan:
    """A scan of only the fields that the wanted output columns are built from."""
    used = {f for col, fs in needs.items() if _wants(wanted, col) for f in fs}
    names = tuple(f for f in fields if f in used)
    if not names:  # nothing but the row count is wanted
        names = (next(iter(fields)),)
    return _Scan("", names, tuple(fields[f] for f in names))


def _read_api(
    reader: _Reader,
    strings: _Strings,
    sink: TableSink,
    launches: _Launches | None,
    wanted: set[str] | None = None,
) -> None:
    table = "CUPTI_ACTIVITY_KIND_RUNTIME"
    if not reader.has(table):
        return
    cols = reader.require(table, ["start", "end", "globalTid", "correlationId", "nameId"])
    event_class = _int_expr("eventClass", cols, default="0")
    fields = {
        "start": '"start"',
        "end": _int_expr("end", cols),
        "gtid": _int_expr("globalTid", cols),
        "corr": _int_expr("correlationId", cols),
        "name_class": f'coalesce("nameId", 2147483647) | ({event_class} << 32)',
        "ret": _int_expr("returnValue", cols),
    }
    needs: dict[str, tuple[str, ...]] = {
        "start": ("start",),
        "end": ("end",),
        "pid": ("gtid",),
        "tid": ("gtid",),
        "correlation_id": ("corr",),
        "name": ("name_class",),
        "api": ("name_class",),
        "return_value": ("ret",),
    }
    if launches is not None:  # the launch join needs both, whatever the caller reads
        needs["_launch"] = ("gtid", "corr")
        wanted = None if wanted is None else {*wanted, "_launch"}
    picked = _pick(fields, needs, wanted)
    scan = _Scan(table, picked.columns, picked.exprs)
    api_kind = {0: "runtime", 1: "driver"}
    for rows in reader.scan(scan):
        out: dict[str, pa.Array] = {}
        if "gtid" in rows.columns:
            pid, tid = _pid(rows["gtid"]), _tid(rows["gtid"])
            if launches is not None:
                launches.add(pid, tid, rows["corr"])
            if _wants(wanted, "pid"):
                out["pid"] = _int(pid)
            if _wants(wanted, "tid"):
                out["tid"] = _int(tid)
        if _wants(wanted, "start"):
            out["start"] = _int(rows["start"])
        if _wants(wanted, "end"):
            out["end"] = _int(rows["end"])
        if _wants(wanted, "correlation_id"):
            out["correlation_id"] = _int(rows["corr"])
        if _wants(wanted, "name"):
            out["name"] = strings.encode(rows["name_class"] & 0xFFFFFFFF)
        if _wants(wanted, "api"):
            out["api"] = _dict_from_labels(rows["name_class"] >> 32, api_kind)
        if _wants(wanted, "return_value"):
            out["return_value"] = _int(rows["ret"])
        sink.add("api", _rows_table(out, len(rows)))


def _rows_table(columns: dict[str, pa.Array], n: int) -> pa.Table:
    """The batch's columns as a table; with none wanted, still ``n`` rows long."""
    if columns:
        return pa.table(columns)
    return pa.table({"start": pa.nulls(n, pa.int64())})


def _read_kernels(
    reader: _Reader,
    strings: _Strings,
    sink: TableSink,
    launches: _Launches,
    wanted: set[str] | None = None,
) -> None:
    table = "CUPTI_ACTIVITY_KIND_KERNEL"
    if not reader.has(table):
        return
    cols = reader.require(table, ["start", "end", "deviceId", "streamId", "correlationId"])
    name_col = "demangledName" if "demangledName" in cols else "shortName"
    reader.require(table, [name_col])

    def small(col: str) -> str:  # packed columns: NULL reads as 0
        return f'coalesce("{col}", 0)' if col in cols else "0"

    def sid(col: str) -> str:
        return f'coalesce("{col}", 2147483647)' if col in cols else "2147483647"

    # Packing widths follow CUDA's limits: gridX < 2**31, gridY/Z <= 65535,
    # block dims <= 1024, registers <= 255, shared memory < 2**31 bytes.
    fields = {
        "start": '"start"',
        "end": _int_expr("end", cols),
        "corr": _int_expr("correlationId", cols),
        "gpid": _int_expr("globalPid", cols),
        "name_id": sid(name_col),
        "short_id": sid("shortName"),
        "dev_stream": f"{small('deviceId')} | ({small('streamId')} << 32)",
        "ctx": _int_expr("contextId", cols),
        "grid": f"{small('gridX')} | ({small('gridY')} << 31) | ({small('gridZ')} << 47)",
        "block": f"{small('blockX')} | ({small('blockY')} << 16) | ({small('blockZ')} << 32)"
        f" | ({small('registersPerThread')} << 48)",
        "smem": f"{small('staticSharedMemory')} | ({small('dynamicSharedMemory')} << 32)",
        "graph": _int_expr("graphNodeId", cols),
    }
    needs: dict[str, tuple[str, ...]] = {
        "start": ("start",),
        "end": ("end",),
        "device_id": ("dev_stream",),
        "context_id": ("ctx",),
        "stream_id": ("dev_stream",),
        "correlation_id": ("corr",),
        "pid": ("gpid",),
        "tid": ("gpid", "corr"),
        "name": ("name_id",),
        "short_name": ("short_id",),
        **{c: ("grid",) for c in ("grid_x", "grid_y", "grid_z")},
        **{c: ("block",) for c in ("block_x", "block_y", "block_z", "registers_per_thread")},
        **{c: ("smem",) for c in ("static_shared_memory", "dynamic_shared_memory")},
        "graph_node_id": ("graph",),
    }
    picked = _pick(fields, needs, wanted)
    scan = _Scan(table, picked.columns, picked.exprs)
    m16, m31, m32 = 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF
    i32 = np.int32

    def want(*columns: str) -> bool:
        return _wants(wanted, *columns)

    for rows in reader.scan(scan):
        out: dict[str, pa.Array] = {}
        if want("start"):
            out["start"] = _int(rows["start"])
        if want("end"):
            out["end"] = _int(rows["end"])
        if want("device_id", "stream_id"):
            ds = rows["dev_stream"]
            if want("device_id"):
                out["device_id"] = pa.array((ds & m32).astype(i32))
            if want("stream_id"):
                out["stream_id"] = pa.array(ds >> 32)
        if want("context_id"):
            out["context_id"] = _int(rows["ctx"])
        if want("correlation_id"):
            out["correlation_id"] = _int(rows["corr"])
        if want("pid", "tid"):
            pid = _pid(rows["gpid"])
            if want("pid"):
                out["pid"] = _int(pid)
            if want("tid"):
                out["tid"] = _int(launches.lookup(pid, rows["corr"]))
        if want("name"):
            out["name"] = strings.encode(rows["name_id"])
        if want("short_name"):
            out["short_name"] = strings.encode(rows["short_id"])
        if want("grid_x", "grid_y", "grid_z"):
            grid = rows["grid"]
            out["grid_x"] = pa.array((grid & m31).astype(i32))
            out["grid_y"] = pa.array(((grid >> 31) & m16).astype(i32))
            out["grid_z"] = pa.array(((grid >> 47) & m16).astype(i32))
        if want("block_x", "block_y", "block_z", "registers_per_thread"):
            block = rows["block"]
            out["block_x"] = pa.array((block & m16).astype(i32))
            out["block_y"] = pa.array(((block >> 16) & m16).astype(i32))
            out["block_z"] = pa.array(((block >> 32) & m16).astype(i32))
            out["registers_per_thread"] = pa.array(((block >> 48) & m16).astype(i32))
        if want("static_shared_memory", "dynamic_shared_memory"):
            smem = rows["smem"]
            out["static_shared_memory"] = pa.array((smem & m32).astype(i32))
            out["dynamic_shared_memory"] = pa.array((smem >> 32).astype(i32))
        if want("graph_node_id"):
            out["graph_node_id"] = _int(rows["graph"])
        sink.add("kernels", _rows_table(out, len(rows)))


def _read_memops(
    reader: _Reader, sink: TableSink, launches: _Launches, wanted: set[str] | None = None
) -> None:
    copy_labels = _enum_labels(reader, "ENUM_CUDA_MEMCPY_OPER", MEMCPY_KIND_LABELS)
    mem_labels = _enum_labels(reader, "ENUM_CUDA_MEM_KIND", MEM_KIND_LABELS)
    common = (
        "start",
        "end",
        "deviceId",
        "contextId",
        "streamId",
        "correlationId",
        "globalPid",
        "bytes",
    )
    for table, kind, extra in (
        ("CUPTI_ACTIVITY_KIND_MEMCPY", "memcpy", ("copyKind", "srcKind", "dstKind")),
        ("CUPTI_ACTIVITY_KIND_MEMSET", "memset", ("memKind", "value")),
    ):
        if not reader.has(table):
            continue
        cols = reader.require(table, ["start", "end"])
        names = common + extra
        scan = _Scan(table, names, tuple(_int_expr(c, cols) for c in names))
        for rows in reader.scan(scan):
            n = len(rows)
            pid = _pid(rows["globalPid"])
            if kind == "memcpy":
                copy = _dict_from_labels(rows["copyKind"], copy_labels)
                src = _dict_from_labels(rows["srcKind"], mem_labels)
                dst = _dict_from_labels(rows["dstKind"], mem_labels)
                value = pa.nulls(n, pa.int32())
            else:
                copy = pa.nulls(n, pa.dictionary(pa.int32(), pa.string()))
                src = pa.nulls(n, pa.dictionary(pa.int32(), pa.string()))
                dst = _dict_from_labels(rows["memKind"], mem_labels)
                value = _int(rows["value"], np.int32)
            tid = (
                _int(launches.lookup(pid, rows["correlationId"]))
                if _wants(wanted, "tid")
                else pa.nulls(n, pa.int64())
            )
            sink.add(
                "memops",
                pa.table(
                    {
                        "start": _int(rows["start"]),
                        "end": _int(rows["end"]),
                        "device_id": _int(rows["deviceId"], np.int32),
                        "context_id": _int(rows["contextId"]),
                        "stream_id": _int(rows["streamId"]),
                        "correlation_id": _int(rows["correlationId"]),
                        "pid": _int(pid),
                        "tid": tid,
                        "kind": _constant(kind, n),
                        "copy_kind": copy,
                        "bytes": _int(rows["bytes"]),
                        "src_kind": src,
                        "dst_kind": dst,
                        "value": value,
                    }
                ),
            )


def _read_nvtx(reader: _Reader, strings: _Strings, sink: TableSink) -> None:
    table = "NVTX_EVENTS"
    if not reader.has(table):
        return
    cols = reader.require(table, ["start", "eventType"])
    if "text" not in cols and "textId" not in cols:
        raise TraceFormatError(
            reader.path, "table NVTX_EVENTS has neither a text nor a textId column"
        )

    def col(c: str) -> str:
        return f'"{c}"' if c in cols else "NULL"

    sql = (
        f"SELECT start, {col('end')}, eventType, {col('text')}, {col('textId')}, {col('globalTid')},"
        f" {col('domainId')}, {col('category')}, {col('color')}, {col('rangeId')} FROM NVTX_EVENTS"
    )
    domains: dict[int, str] = {0: ""}
    for text, text_id, domain in reader.rows(
        f"SELECT {col('text')}, {col('textId')}, {col('domainId')} FROM NVTX_EVENTS"
        f" WHERE eventType = {NVTX_DOMAIN_CREATE}"
    ):
        if isinstance(domain, int):
            domains[domain] = text if text is not None else strings.value(text_id) or ""
    cur = reader.con.execute(sql)
    while True:
        try:
            batch = cur.fetchmany(BATCH_ROWS)
        except sqlite3.Error as exc:
            raise TraceFormatError(reader.path, f"reading NVTX_EVENTS failed: {exc}") from exc
        if not batch:
            break
        out: dict[str, list[object]] = {
            k: []
            for k in (
                "start",
                "end",
                "pid",
                "tid",
                "name",
                "domain",
                "kind",
                "category",
                "color",
                "range_id",
            )
        }
        for start, end, etype, text, text_id, gtid, dom, cat, color, rid in batch:
            kind = NVTX_KINDS.get(etype)
            if kind is None:
                continue
            if not isinstance(start, int):
                raise TraceFormatError(
                    reader.path, f"NVTX_EVENTS.start is not an integer: {start!r}"
                )
            out["start"].append(start)
            # Marks have no end: they last no time. A range with no end never ended
            # (the capture stopped first): its end stays null, so no recipe counts it.
            out["end"].append(end if isinstance(end, int) else (start if kind == "mark" else None))
            out["pid"].append((gtid >> 24) & 0xFFFFFF if isinstance(gtid, int) else None)
            out["tid"].append(gtid & 0xFFFFFF if isinstance(gtid, int) else None)
            out["name"].append(text if text is not None else strings.value(text_id))
            out["domain"].append(domains.get(dom, str(dom)) if dom is not None else "")
            out["kind"].append(kind)
            out["category"].append(cat)
            out["color"].append(color)
            out["range_id"].append(rid)
        if not out["start"]:
            continue
        n = len(out["start"])
        tbl = pa.table(
            {
                "start": pa.array(out["start"], pa.int64()),
                "end": pa.array(out["end"], pa.int64()),
                "pid": pa.array(out["pid"], pa.int64()),
                "tid": pa.array(out["tid"], pa.int64()),
                "name": pa.array(out["name"], pa.string()).dictionary_encode(),
                "domain": pa.array(out["domain"], pa.string()).dictionary_encode(),
                "kind": pa.array(out["kind"], pa.string()).dictionary_encode(),
                "source": _constant("nvtx", n),
                "category": pa.array(out["category"], pa.int32()),
                "color": pa.array(out["color"], pa.int64()),
                "range_id": pa.array(out["range_id"], pa.int64()),
            }
        )
        sink.add("ranges", tbl)


def _read_osrt(reader: _Reader, strings: _Strings, sink: TableSink) -> None:
    table = "OSRT_API"
    if not reader.has(table):
        return
    cols = reader.require(table, ["start", "end", "globalTid", "nameId"])
    names = ("start", "end", "globalTid", "nameId", "returnValue", "nestingLevel")
    exprs = tuple(_int_expr(c, cols) for c in names)
    # OSRT_API also holds nsys's "OS runtime libraries profiling started/finished"
    # markers (event classes 31 and 32); only class 27 rows are calls.
    event_class = _int_expr("eventClass", cols, default=str(OSRT_CALL_CLASS))
    scan = _Scan(table, (*names, "eventClass"), (*exprs, event_class))
    for rows in reader.scan(scan):
        rows = rows.take(np.flatnonzero(rows["eventClass"] == OSRT_CALL_CLASS))
        if len(rows) == 0:
            continue
        sink.add(
            "osrt",
            pa.table(
                {
                    "start": _int(rows["start"]),
                    "end": _int(rows["end"]),
                    "pid": _int(_pid(rows["globalTid"])),
                    "tid": _int(_tid(rows["globalTid"])),
                    "name": strings.encode(rows["nameId"]),
                    "return_value": _int(rows["returnValue"]),
                    "nesting_level": _int(rows["nestingLevel"], np.int32),
                }
            ),
        )


MPI_TABLES = (
    "MPI_P2P_EVENTS",
    "MPI_COLLECTIVES_EVENTS",
    "MPI_START_WAIT_EVENTS",
    "MPI_OTHER_EVENTS",
)
MPI_DOMAIN = "MPI"


def _read_mpi(reader: _Reader, strings: _Strings, sink: TableSink) -> None:
    """MPI calls (``nsys profile --trace=mpi``) as ranges of source ``mpi``, domain ``MPI``.

    They are CPU intervals on a thread with a name, like NVTX ranges (older nsys
    releases recorded them as NVTX ranges of an ``MPI`` domain), so they share the
    ranges table; recipes that want NVTX only select its sources.
    """
    for table in MPI_TABLES:
        if not reader.has(table):
            continue
        cols = reader.require(table, ["start", "end", "globalTid"])
        names = ("start", "end", "globalTid", "textId")
        scan = _Scan(table, names, tuple(_int_expr(c, cols) for c in names))
        for rows in reader.scan(scan):
            n = len(rows)
            sink.add(
                "ranges",
                pa.table(
                    {
                        "start": _int(rows["start"]),
                        "end": _int(rows["end"]),
                        "pid": _int(_pid(rows["globalTid"])),
                        "tid": _int(_tid(rows["globalTid"])),
                        "name": strings.encode(rows["textId"]),
                        "domain": _constant(MPI_DOMAIN, n),
                        "kind": _constant("push_pop", n),
                        "source": _constant("mpi", n),
                    }
                ),
            )


MEMORY_TABLE = "CUDA_GPU_MEMORY_USAGE_EVENTS"
MEMORY_OPERATIONS = {0: "alloc", 1: "free"}  # ENUM_CUDA_DEV_MEM_EVENT_OPER


def _read_memory(reader: _Reader, sink: TableSink) -> None:
    """CUDA allocations and frees (``nsys profile --cuda-memory-usage=true``)."""
    if not reader.has(MEMORY_TABLE):
        return
    cols = reader.require(MEMORY_TABLE, ["start", "bytes", "memoryOperationType"])
    names = ("start", "globalPid", "deviceId", "address", "bytes", "memKind", "memoryOperationType")
    scan = _Scan(MEMORY_TABLE, names, tuple(_int_expr(c, cols) for c in names))
    kinds = _enum_labels(reader, "ENUM_CUDA_MEM_KIND", MEM_KIND_LABELS)
    for rows in reader.scan(scan):
        n = len(rows)
        device = rows["deviceId"]
        sink.add(
            "memory",
            pa.table(
                {
                    "timestamp": _int(rows["start"]),
                    "pid": _int(_pid(rows["globalPid"])),
                    "device_id": _int(device, np.int32),
                    "device_type": _constant("cuda", n),
                    "kind": _dict_from_labels(rows["memoryOperationType"], MEMORY_OPERATIONS),
                    "bytes": _int(np.abs(np.where(rows["bytes"] == NULL, 0, rows["bytes"]))),
                    "address": _int(rows["address"]),
                    "memory_kind": _dict_from_labels(rows["memKind"], kinds),
                }
            ),
        )


def _read_samples(reader: _Reader, strings: _Strings, sink: TableSink) -> None:
    if not reader.has("COMPOSITE_EVENTS"):
        return
    cols = reader.require("COMPOSITE_EVENTS", ["id", "start", "globalTid"])
    ev_names = ("id", "start", "globalTid", "cpu")
    events = _Batch.concat(
        list(
            reader.scan(
                _Scan("COMPOSITE_EVENTS", ev_names, tuple(_int_expr(c, cols) for c in ev_names))
            )
        ),
        ev_names,
    )
    if len(events) == 0:
        return
    events = events.take(np.argsort(events["id"], kind="stable"))
    frame_ids = np.empty(0, np.int64)
    owners = np.empty(0, np.int64)
    frames = pa.array([], pa.string())
    if reader.has("SAMPLING_CALLCHAINS"):
        reader.require("SAMPLING_CALLCHAINS", ["id", "symbol", "stackDepth"])
        mod = "module" if "module" in reader.columns["SAMPLING_CALLCHAINS"] else "NULL"
        chain = np.asarray(
            reader.rows(
                f"SELECT id, symbol, coalesce({mod}, -1) FROM SAMPLING_CALLCHAINS"
                " ORDER BY id, stackDepth DESC"
            ),
            dtype=np.int64,
        ).reshape(-1, 3)
        owners = chain[:, 0]
        pairs, frame_ids = np.unique(chain[:, 1:], axis=0, return_inverse=True)
        frame_ids = frame_ids.reshape(-1)
        labels = []
        for sym, module in pairs:
            name = strings.value(int(sym)) or f"<{sym}>"
            where = strings.value(int(module))
            labels.append(f"{name} ({os.path.basename(where)})" if where else name)
        frames = pa.array(labels, pa.string())
    # Offsets: each event's frames are the contiguous run of chain rows with its id.
    starts = np.searchsorted(owners, events["id"], side="left")
    ends = np.searchsorted(owners, events["id"], side="right")
    take = np.concatenate(
        [np.arange(a, b) for a, b in zip(starts, ends, strict=True)] or [np.empty(0, np.int64)]
    )
    offsets = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int32)
    values = pa.DictionaryArray.from_arrays(pa.array(frame_ids[take].astype(np.int32)), frames)
    stacks = pa.ListArray.from_arrays(pa.array(offsets), values)
    gtid = events["globalTid"]
    sink.add(
        "samples",
        pa.table(
            {
                "timestamp": _int(events["start"]),
                "pid": _int(_pid(gtid)),
                "tid": _int(_tid(gtid)),
                "cpu": _int(events["cpu"], np.int32),
                "weight": _sample_weights(reader, len(events)),
                "stack": stacks,
            }
        ),
    )


def _sample_period_ns(reader: _Reader) -> int | None:
    """The CPU sampling period in ns, from what nsys recorded about its own capture.

    nsys samples every N cycles (META_DATA_CAPTURE ``LINUX_PERF_OPTIONS:SAMPLING_PERIOD``)
    of a CPU whose top frequency it notes (TARGET_INFO_SYSTEM_ENV ``CpuInfo``); without
    both, a sample's worth in time is unknown and stays null.
    """
    if not (reader.has("META_DATA_CAPTURE") and reader.has("TARGET_INFO_SYSTEM_ENV")):
        return None
    try:
        period = reader.rows(
            "SELECT value FROM META_DATA_CAPTURE WHERE name = 'LINUX_PERF_OPTIONS:SAMPLING_PERIOD'"
        )
        cpu = reader.rows("SELECT value FROM TARGET_INFO_SYSTEM_ENV WHERE name = 'CpuInfo'")
        cycles = int(period[0][0])
        freqs = [int(i["maxfreqhz"]) for i in json.loads(cpu[0][0])["items"] if i.get("maxfreqhz")]
    except (IndexError, KeyError, TypeError, ValueError, sqlite3.Error):
        return None
    if cycles <= 0 or not freqs:
        return None
    return round(cycles / max(freqs) * 1e9)


def _sample_weights(reader: _Reader, count: int) -> pa.Array:
    period = _sample_period_ns(reader)
    if period is None:
        return pa.nulls(count, pa.int64())
    return pa.array(np.full(count, period, np.int64))


def _read_threads_processes(reader: _Reader, strings: _Strings, sink: TableSink) -> None:
    if reader.has("ThreadNames"):
        reader.require("ThreadNames", ["nameId", "globalTid"])
        rows = reader.rows("SELECT globalTid, nameId FROM ThreadNames WHERE globalTid IS NOT NULL")
        sink.add(
            "threads",
            pa.table(
                {
                    "pid": pa.array([(g >> 24) & 0xFFFFFF for g, _ in rows], pa.int64()),
                    "tid": pa.array([g & 0xFFFFFF for g, _ in rows], pa.int64()),
                    "name": pa.array(
                        [strings.value(n) for _, n in rows], pa.string()
                    ).dictionary_encode(),
                }
            ),
        )
    if reader.has("PROCESSES"):
        cols = reader.require("PROCESSES", ["globalPid"])
        pid_expr = "pid" if "pid" in cols else "(globalPid >> 24) & 16777215"
        name = "name" if "name" in cols else "NULL"
        rows = reader.rows(f"SELECT {pid_expr}, {name} FROM PROCESSES")
        sink.add(
            "processes",
            pa.table(
                {
                    "pid": pa.array([p for p, _ in rows], pa.int64()),
                    "name": pa.array([n for _, n in rows], pa.string()).dictionary_encode(),
                }
            ),
        )


def _read_devices(reader: _Reader, sink: TableSink) -> None:
    if not reader.has("TARGET_INFO_GPU"):
        return
    cols = reader.require("TARGET_INFO_GPU", ["id"])

    def col(c: str) -> str:
        return f'"{c}"' if c in cols else "NULL"

    rows = reader.rows(
        f"SELECT id, {col('name')}, {col('chipName')}, {col('busLocation')}, {col('totalMemory')},"
        f" {col('smCount')}, {col('computeMajor')}, {col('computeMinor')} FROM TARGET_INFO_GPU ORDER BY id"
    )
    rows = list({r[0]: r for r in reversed(rows)}.values())[::-1]  # one row per device id

    def dict_col(i: int) -> pa.Array:
        return pa.array([r[i] for r in rows], pa.string()).dictionary_encode()

    sink.add(
        "devices",
        pa.table(
            {
                "device_id": pa.array([r[0] for r in rows], pa.int32()),
                "name": dict_col(1),
                "chip_name": dict_col(2),
                "bus_location": dict_col(3),
                "total_memory": pa.array([r[4] for r in rows], pa.int64()),
                "sm_count": pa.array([r[5] for r in rows], pa.int32()),
                "compute_capability": pa.array(
                    [f"{r[6]}.{r[7]}" if r[6] is not None else None for r in rows], pa.string()
                ).dictionary_encode(),
            }
        ),
    )


def _read_metadata(reader: _Reader, path: Path) -> TraceMetadata:
    meta = TraceMetadata(source="nsys-sqlite", path=str(path), tool="nsys")
    for table in ("META_DATA_EXPORT", "EXPORT_META_DATA"):
        if reader.has(table) and {"name", "value"} <= reader.columns[table]:
            values = dict(reader.rows(f'SELECT name, value FROM "{table}"'))
            meta.tool_version = str(values.get("EXPORT_PRODUCT_VERSION") or "")
            meta.schema_version = str(values.get("EXPORT_SCHEMA_VERSION") or "")
            meta.extra["export_metadata_table"] = table
            break
    if (
        reader.has("TARGET_INFO_SESSION_START_TIME")
        and "utcEpochNs" in reader.columns["TARGET_INFO_SESSION_START_TIME"]
    ):
        rows = reader.rows("SELECT utcEpochNs FROM TARGET_INFO_SESSION_START_TIME LIMIT 1")
        if rows and isinstance(rows[0][0], int):
            meta.epoch_ns = rows[0][0]
    if (
        reader.has("TARGET_INFO_SYSTEM_ENV")
        and {"name", "value"} <= reader.columns["TARGET_INFO_SYSTEM_ENV"]
    ):
        rows = reader.rows(
            "SELECT value FROM TARGET_INFO_SYSTEM_ENV WHERE name = 'Hostname' LIMIT 1"
        )
        if rows and rows[0][0]:
            meta.hostname = str(rows[0][0])
    if reader.has("MPI_RANKS") and "rank" in reader.columns["MPI_RANKS"]:
        ranks = sorted(
            {r for (r,) in reader.rows("SELECT DISTINCT rank FROM MPI_RANKS") if r is not None}
        )
        if len(ranks) == 1:
            meta.rank = int(ranks[0])
        elif ranks:
            meta.extra["mpi_ranks"] = ranks
    return meta


def read(
    path: Path,
    sink: TableSink,
    *,
    workers: int | None = None,
    tables: Collection[str] | None = None,
    columns: Mapping[str, Collection[str]] | None = None,
) -> TraceMetadata:
    """Stream the tables of the export at ``path`` into ``sink``; return its metadata.

    ``tables``: only these (default all); skipping the CUDA API table when only
    kernels are wanted saves most of the work, as it is the biggest table.
    ``columns``: per table, only these columns are selected and built (the others
    are left out of the batches). The CUDA API rows are read for the launch join
    only when kernels' or memops' ``tid`` is wanted.
    ``workers``: processes reading the large tables in parallel (default: up to 4,
    bounded by the CPU count; 1 reads in this process).
    """
    wanted = set(tables) if tables is not None else None
    narrowed = {name: set(cols) for name, cols in (columns or {}).items()}

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    def cols(name: str) -> set[str] | None:
        return narrowed.get(name)

    need_launch = (want("kernels") and _wants(cols("kernels"), "tid")) or (
        want("memops") and _wants(cols("memops"), "tid")
    )
    reader = _Reader(path, workers)
    try:
        meta = _read_metadata(reader, path)
        strings = _Strings(reader)
        launches = _Launches()
        if want("api"):
            _read_api(reader, strings, sink, launches if need_launch else None, cols("api"))
        elif need_launch:
            _read_launches(reader, launches)
        launches.freeze()
        if want("kernels"):
            _read_kernels(reader, strings, sink, launches, cols("kernels"))
        if want("memops"):
            _read_memops(reader, sink, launches, cols("memops"))
        del launches
        if want("ranges"):
            _read_nvtx(reader, strings, sink)
            _read_mpi(reader, strings, sink)
        if want("memory"):
            _read_memory(reader, sink)
        if want("osrt"):
            _read_osrt(reader, strings, sink)
        if want("samples"):
            _read_samples(reader, strings, sink)
        if want("threads") or want("processes"):
            _read_threads_processes(reader, strings, sink)
        if want("devices"):
            _read_devices(reader, sink)
        return meta
    finally:
        reader.con.close()

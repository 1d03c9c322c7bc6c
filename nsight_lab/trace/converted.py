"""Converted traces: where they are stored, and reading only the part a caller needs.

A report is parsed once, when it is registered, into the trace model (one Parquet
file per table, rows sorted by start time, in row groups of
:data:`~nsight_lab.trace.sink.ROW_GROUP_ROWS` rows) and stored under its SHA-256, so
identical reports convert once and every later reader (recipes, the Timeline,
notebooks) skips the raw format. The layout, in the same store as the reports::

    traces/<sha256>/conversion.json    the manifest; written last, so its presence
                                       means the conversion is complete
    traces/<sha256>/metadata.json      TraceMetadata (what Trace.load reads)
    traces/<sha256>/<table>.parquet    kernels, memops, api, ranges, osrt, samples,
                                       threads, processes, devices (always all nine)
    traces/<sha256>/failed.json        instead, when the report could not be converted:
                                       {"error": "...", "source": {...}, "failed_at": ...}

A local folder written by :func:`nsight_lab.trace.convert_trace` has the same files.

Reading goes through a :class:`TraceFiles` (how to open one of those files):
:class:`FolderFiles` for a local folder, :class:`StoreFiles` for any object store
(random access, so a Parquet footer and the wanted column chunks are all that is
fetched), and :class:`nsight_lab.storage.ranged.UrlFiles` for presigned URLs::

    trace = ConvertedTrace(StoreFiles(store, sha256))       # or FolderFiles(path)
    trace.metadata                                          # TraceMetadata
    trace.manifest.span                                     # (first start, last end) in ns
    trace.read("kernels", ["start", "end", "name"], start=t0, end=t1)
    trace.to_trace(columns={"kernels": ["start", "end", "name"]})   # a Trace for recipes

A time window selects whole row groups by their statistics, then rows exactly:
by default the rows that *overlap* ``[start, end]`` (what a timeline draws),
with ``inside=True`` the rows wholly inside it (what ``--filter-time`` keeps).
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nsight_lab.trace.model import METADATA_FILE, Trace, TraceMetadata, conform
from nsight_lab.trace.schema import TABLES, TIME_COLUMNS, table_schema

TRACES_ROOT = "traces"
MANIFEST_FILE = "conversion.json"
FAILED_FILE = "failed.json"
#: Manifest format; readers refuse a newer one rather than misread it.
FORMAT_VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------- layout


def trace_prefix(sha256: str) -> str:
    """``traces/<sha256>/``: the folder of one report's converted tables."""
    if not _SHA256.match(sha256):
        raise ValueError(f"not a SHA-256 in lowercase hex: {sha256!r}")
    return f"{TRACES_ROOT}/{sha256}/"


def table_file(table: str) -> str:
    if table not in TABLES:
        raise KeyError(f"no table {table!r}; tables are {sorted(TABLES)}")
    return f"{table}.parquet"


def trace_key(sha256: str, name: str) -> str:
    """The storage key of one file of a converted trace (``table_file(...)``, MANIFEST_FILE, ...)."""
    return trace_prefix(sha256) + name


def trace_files(tables: Iterable[str] | None = None) -> list[str]:
    """File names of a complete conversion (of only ``tables``' Parquet, when given)."""
    wanted = list(TABLES) if tables is None else list(tables)
    return [MANIFEST_FILE, METADATA_FILE, *(table_file(t) for t in wanted)]


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class TableInfo:
    rows: int
    row_groups: int
    #: Earliest begin and latest end time (ns) in the table; None when it has none.
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class Manifest:
    """What a conversion produced: per table its rows, row groups and time span."""

    tables: dict[str, TableInfo]
    format: int = FORMAT_VERSION
    sha256: str | None = None
    #: Where the report came from: ``key`` (storage), ``filename``, ``importer``.
    source: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    converted_at: float | None = None

    @property
    def span(self) -> tuple[int, int] | None:
        """(first start, last end) over every timed table; None for a trace without times."""
        starts = [t.start for t in self.tables.values() if t.start is not None]
        ends = [t.end for t in self.tables.values() if t.end is not None]
        return (min(starts), max(ends)) if starts and ends else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        version = int(data.get("format", 0))
        if version > FORMAT_VERSION:
            raise ValueError(
                f"converted trace format {version} is newer than this nsight-lab reads "
                f"({FORMAT_VERSION}); upgrade nsight-lab"
            )
        tables = {name: TableInfo(**info) for name, info in dict(data.get("tables", {})).items()}
        return cls(
            tables=tables,
            format=version,
            sha256=data.get("sha256"),
            source=dict(data.get("source") or {}),
            seconds=data.get("seconds"),
            converted_at=data.get("converted_at"),
        )


def _stat(stats: Any, which: str) -> int | None:
    if stats is None or not stats.has_min_max:
        return None
    value = getattr(stats, which)
    return int(value) if isinstance(value, int) else None


def table_info(parquet: pq.ParquetFile, table: str) -> TableInfo:
    """Rows, row groups and time span of one table file, from its footer alone."""
    meta = parquet.metadata
    start: int | None = None
    end: int | None = None
    if table in TIME_COLUMNS and meta.num_rows:
        begin_col, end_col = TIME_COLUMNS[table]
        names = parquet.schema_arrow.names
        bi, ei = names.index(begin_col), names.index(end_col)
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            lo = _stat(group.column(bi).statistics, "min")
            hi = _stat(group.column(ei).statistics, "max")
            if lo is not None:
                start = lo if start is None else min(start, lo)
            if hi is not None:
                end = hi if end is None else max(end, hi)
    return TableInfo(rows=meta.num_rows, row_groups=meta.num_row_groups, start=start, end=end)


def write_manifest(
    folder: Path,
    *,
    sha256: str | None = None,
    source: Mapping[str, Any] | None = None,
    seconds: float | None = None,
) -> Manifest:
    """Describe the table files in ``folder`` into ``conversion.json`` (the last file written)."""
    tables = {
        name: table_info(pq.ParquetFile(folder / table_file(name)), name)
        for name in TABLES
        if (folder / table_file(name)).is_file()
    }
    manifest = Manifest(
        tables=tables,
        sha256=sha256,
        source=dict(source or {}),
        seconds=seconds,
        converted_at=time.time(),
    )
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest.to_json(), indent=2))
    return manifest


# --------------------------------------------------------------------------- files


Source = str | IO[bytes] | io.RawIOBase
"""A local path, or a seekable binary file."""


class TraceFiles(Protocol):
    """How to reach the files of one converted trace (see the module docstring)."""

    def open(self, name: str) -> Source:
        """A local path, or a seekable binary file; raises FileNotFoundError."""
        ...

    def read_bytes(self, name: str) -> bytes:
        """The whole (small) file; raises FileNotFoundError."""
        ...


class FolderFiles:
    """A converted trace in a local folder (also the local-folder store's own layout)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def open(self, name: str) -> str:
        path = self.folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return str(path)

    def read_bytes(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def __repr__(self) -> str:
        return f"FolderFiles({str(self.folder)!r})"


class StoreFiles:
    """A converted trace in an object store, read with the store's own client.

    The local-folder store hands out its file paths (memory-mapped by Arrow); S3
    serves ranged GETs, so only footers and wanted column chunks travel.
    """

    def __init__(self, store: Any, sha256: str) -> None:
        self.store = store
        self.sha256 = sha256
        self.prefix = trace_prefix(sha256)

    def open(self, name: str) -> str | IO[bytes]:
        from nsight_lab.storage.base import ObjectNotFound

        key = self.prefix + name
        local = getattr(self.store, "local_path", None)
        if local is not None:
            path = local(key)
            if not path.is_file():
                raise FileNotFoundError(f"{key}: not in storage")
            return str(path)
        try:
            handle: IO[bytes] = self.store.open_ranged(key)
            return handle
        except ObjectNotFound as exc:
            raise FileNotFoundError(f"{key}: not in storage") from exc

    def read_bytes(self, name: str) -> bytes:
        from nsight_lab.storage.base import ObjectNotFound

        try:
            with self.store.open_read(self.prefix + name) as stream:
                data: bytes = stream.read()
                return data
        except ObjectNotFound as exc:
            raise FileNotFoundError(f"{self.prefix + name}: not in storage") from exc

    def __repr__(self) -> str:
        return f"StoreFiles({self.store.kind}, {self.sha256[:12]}...)"


# --------------------------------------------------------------------------- reading


class ConversionMissing(FileNotFoundError):
    """The trace has not been converted (or its conversion is incomplete)."""


def _overlapping(
    table: pa.Table, begin: str, end: str, start: int | None, stop: int | None, inside: bool
) -> pa.Table:
    mask: Any = None
    finish = pc.coalesce(table[end], table[begin])
    if start is not None:
        mask = pc.greater_equal(table[begin] if inside else finish, start)
    if stop is not None:
        upper = pc.less_equal(finish if inside else table[begin], stop)
        mask = upper if mask is None else pc.and_(mask, upper)
    return table if mask is None else table.filter(pc.fill_null(mask, False))


class ConvertedTrace:
    """One converted report, read lazily: only the tables, columns and windows asked for.

    Parquet footers are read once per table and kept, so repeated window reads (a
    timeline zooming) cost only the row groups they touch.
    """

    def __init__(self, files: TraceFiles) -> None:
        self.files = files
        self._manifest: Manifest | None = None
        self._metadata: TraceMetadata | None = None
        self._parquet: dict[str, pq.ParquetFile] = {}

    @classmethod
    def from_folder(cls, folder: str | Path) -> ConvertedTrace:
        return cls(FolderFiles(folder))

    def _json(self, name: str) -> Any:
        try:
            return json.loads(self.files.read_bytes(name))
        except FileNotFoundError as exc:
            raise ConversionMissing(
                f"{self.files!r}: no {name}; the trace is not converted"
            ) from exc

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = Manifest.from_json(self._json(MANIFEST_FILE))
        return self._manifest

    @property
    def metadata(self) -> TraceMetadata:
        if self._metadata is None:
            self._metadata = TraceMetadata.from_json(self._json(METADATA_FILE))
        return self._metadata

    def parquet(self, table: str) -> pq.ParquetFile:
        """The table's Parquet file (footer read, nothing else yet)."""
        found = self._parquet.get(table)
        if found is None:
            source = self.files.open(table_file(table))
            found = pq.ParquetFile(source, memory_map=isinstance(source, str))
            self._parquet[table] = found
        return found

    def row_groups(
        self, table: str, start: int | None = None, end: int | None = None, *, inside: bool = False
    ) -> list[int]:
        """Row groups that may hold rows of the window (all of them without one)."""
        meta = self.parquet(table).metadata
        groups = list(range(meta.num_row_groups))
        if table not in TIME_COLUMNS or (start is None and end is None):
            return groups
        names = self.parquet(table).schema_arrow.names
        begin_col, end_col = TIME_COLUMNS[table]
        bi, ei = names.index(begin_col), names.index(end_col)
        kept = []
        for g in groups:
            group = meta.row_group(g)
            b_stats, e_stats = group.column(bi).statistics, group.column(ei).statistics
            lo, hi = _stat(b_stats, "min"), _stat(b_stats, "max")
            last = _stat(e_stats, "max")
            # A row ends no earlier than it begins (a missing end reads as its begin).
            reach = hi if inside else max((v for v in (hi, last) if v is not None), default=None)
            if start is not None and reach is not None and reach < start:
                continue
            if end is not None and lo is not None and lo > end:
                continue
            kept.append(g)
        return kept

    def read(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        *,
        start: int | None = None,
        end: int | None = None,
        inside: bool = False,
    ) -> pa.Table:
        """Rows of ``table`` (only ``columns``) in the window, in start-time order.

        The window is ``[start, end]`` ns, either side open when None: rows that
        overlap it, or with ``inside`` rows wholly within it. The result conforms
        to the table's schema narrowed to ``columns``.
        """
        schema = table_schema(table, columns)
        windowed = table in TIME_COLUMNS and (start is not None or end is not None)
        wanted = list(schema.names)
        if windowed:
            wanted += [c for c in TIME_COLUMNS[table] if c not in wanted]
        groups = self.row_groups(table, start, end, inside=inside)
        if not groups:
            return schema.empty_table()
        pf = self.parquet(table)
        if len(groups) == pf.metadata.num_row_groups:
            data = pf.read(columns=wanted)
        else:
            data = pf.read_row_groups(groups, columns=wanted)
        if windowed:
            begin_col, end_col = TIME_COLUMNS[table]
            data = _overlapping(data, begin_col, end_col, start, end, inside)
        return conform(table, data, columns)

    def to_trace(
        self,
        tables: Iterable[str] | None = None,
        columns: Mapping[str, Sequence[str]] | None = None,
        *,
        window: tuple[int | None, int | None] | None = None,
        inside: bool = True,
    ) -> Trace:
        """A :class:`Trace` of ``tables`` (default all; the others empty), narrowed to
        ``columns`` per table, and to the rows wholly inside ``window`` when given."""
        columns = dict(columns or {})
        start, end = window if window is not None else (None, None)
        names = list(TABLES) if tables is None else list(tables)
        loaded = {
            name: self.read(name, columns.get(name), start=start, end=end, inside=inside)
            for name in names
        }
        return Trace(loaded, self.metadata, columns=columns)

    def __repr__(self) -> str:
        return f"ConvertedTrace({self.files!r})"

"""The in-memory trace: the normalized tables plus what we know about their origin.

Kept deliberately small: a :class:`Trace` is a dict of Arrow tables that always holds
every table of :mod:`nsight_lab.trace.schema` (empty when the source did not record
it) and a :class:`TraceMetadata`. Recipes only ever see this, never a source format.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from nsight_lab.trace.schema import TABLES, table_schema

Source = Literal["nsys-sqlite", "kineto", "speedscope", "annotations", "cupti"]
METADATA_FILE = "metadata.json"


@dataclass
class TraceMetadata:
    """Where a trace came from; ``epoch_ns`` is the UTC time of t=0 when the source says."""

    source: Source
    path: str
    tool: str = ""
    tool_version: str = ""
    schema_version: str = ""
    epoch_ns: int | None = None
    rank: int | None = None
    world_size: int | None = None
    hostname: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: Coordinator wall clock minus this report's host wall clock, from the agent's
    #: clock anchor; ``epoch_ns + t + clock_offset_ns`` puts t on the coordinator's axis.
    clock_offset_ns: int | None = None

    @property
    def aligned_epoch_ns(self) -> int | None:
        """UTC ns of t=0 on the coordinator's clock (reports of one collection line up)."""
        if self.epoch_ns is None:
            return None
        return self.epoch_ns + (self.clock_offset_ns or 0)

    def apply_agent_metadata(self, agent: Any) -> None:
        """Take what the nsight-lab agent wrote beside the report: anchor, steps, overhead."""
        if not isinstance(agent, dict):
            return
        self.extra["nsight_lab"] = agent
        clock = agent.get("clock") or agent.get("clock_registration")
        if isinstance(clock, dict) and isinstance(clock.get("offset_ns"), int):
            self.clock_offset_ns = clock["offset_ns"]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TraceMetadata:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def conform(name: str, table: pa.Table, columns: Sequence[str] | None = None) -> pa.Table:
    """``table`` with exactly the columns, order and types of schema ``name``.

    With ``columns``, of just those columns of it (a projected read: a recipe that
    declared the columns it reads gets a table without the others, so reading an
    undeclared one fails loudly instead of finding nulls).

    Missing columns become nulls, so importers only fill what their source has.
    Missing columns of one type share one (immutable) null array: each allocation is
    a zeroed buffer as long as the table, which for tens of millions of rows costs
    more than the recipe that reads a few columns.
    """
    schema = table_schema(name, columns)
    if table.schema.equals(schema):
        return table
    columns_out = []
    nulls: dict[pa.DataType, pa.Array] = {}
    for fld in schema:
        if fld.name in table.column_names:
            col = table.column(fld.name)
            columns_out.append(col if col.type == fld.type else col.cast(fld.type))
        else:
            if fld.type not in nulls:
                nulls[fld.type] = pa.nulls(table.num_rows, fld.type)
            columns_out.append(nulls[fld.type])
    return pa.Table.from_arrays(columns_out, schema=schema)


class Trace:
    """All normalized tables of one report, each conforming to its schema.

    ``columns`` narrows some tables to the named columns (see :func:`conform`);
    the others keep their full schema.
    """

    def __init__(
        self,
        tables: dict[str, pa.Table],
        metadata: TraceMetadata,
        *,
        columns: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise KeyError(f"not trace tables: {sorted(unknown)}")
        narrowed = dict(columns or {})
        self.tables = {
            name: conform(name, tables[name], narrowed.get(name))
            if name in tables
            else table_schema(name, narrowed.get(name)).empty_table()
            for name in TABLES
        }
        self.metadata = metadata

    def table(self, name: str) -> pa.Table:
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"no table {name!r}; tables are {sorted(TABLES)}") from None

    def __repr__(self) -> str:
        rows = ", ".join(f"{n}={t.num_rows}" for n, t in self.tables.items() if t.num_rows)
        return f"Trace({self.metadata.source} {self.metadata.path!r}: {rows or 'empty'})"

    def save(self, folder: str | Path) -> Path:
        """Write ``<table>.parquet`` for every table and ``metadata.json`` into ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for name, table in self.tables.items():
            pq.write_table(table, out / f"{name}.parquet")
        (out / METADATA_FILE).write_text(json.dumps(self.metadata.to_json(), indent=2))
        return out

    @classmethod
    def load(cls, folder: str | Path) -> Trace:
        src = Path(folder)
        meta_file = src / METADATA_FILE
        if not meta_file.is_file():
            raise FileNotFoundError(f"{src}: not a saved trace (no {METADATA_FILE})")
        metadata = TraceMetadata.from_json(json.loads(meta_file.read_text()))
        tables = {
            name: pq.read_table(src / f"{name}.parquet", schema=schema)
            for name, schema in TABLES.items()
            if (src / f"{name}.parquet").is_file()
        }
        return cls(tables, metadata)

    @classmethod
    def concat(cls, traces: Iterable[Trace], metadata: TraceMetadata | None = None) -> Trace:
        """One trace holding the rows of all ``traces`` (same timeline assumed).

        Metadata is the first trace's unless given: callers merging ranks usually
        want to keep each rank apart instead, so this is for pieces of one report.
        """
        items = list(traces)
        if not items:
            raise ValueError("Trace.concat needs at least one trace")
        tables = {
            name: pa.concat_tables([t.tables[name] for t in items]).unify_dictionaries()
            for name in TABLES
        }
        return cls(tables, metadata or items[0].metadata)

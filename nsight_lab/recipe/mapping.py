"""Mapping one report, wherever that happens: this process, a pool worker, a Dask worker.

Everything a map task receives is plain data: the recipe as :class:`RecipeCode` (its
folder, and for workers on other machines its Python source), a
:class:`~nsight_lab.recipe.reports.ReportRef`, the arguments and filter, and what to
read. A task never raises: whatever goes wrong with a report becomes the outcome's
``problem``, so one bad report never spoils the others. Tables come back as Arrow
IPC streams, the columnar bytes Arrow reads without a copy, rather than pickles.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from nsight_lab.recipe.errors import RecipeInputError
from nsight_lab.recipe.filters import NvtxFilter, TimeFilter, apply_filter
from nsight_lab.recipe.registry import RECIPE_FILE, Recipe, load_folder
from nsight_lab.recipe.reports import Reads, ReportRef, open_report
from nsight_lab.recipe.spec import ReportContext, ReportInfo

Filter = TimeFilter | NvtxFilter | None


@dataclass(frozen=True)
class RecipeCode:
    """A recipe as a worker can load it: by its folder, or from the source shipped along.

    Workers on this machine load the folder itself. A Dask worker elsewhere has no
    such folder (a user's recipe lives on the client's disk), so the folder's Python
    files travel with the task and are written once per worker, keyed by their hash.
    """

    name: str
    folder: str
    digest: str
    files: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, recipe: Recipe, *, ship: bool = False) -> RecipeCode:
        sources = {p.name: p.read_bytes() for p in sorted(recipe.folder.glob("*.py"))}
        digest = hashlib.sha256(
            b"".join(name.encode() + b"\0" + data for name, data in sources.items())
        ).hexdigest()
        return cls(recipe.name, str(recipe.folder), digest, sources if ship else {})

    def load(self) -> Recipe:
        folder = Path(self.folder)
        here = folder / RECIPE_FILE
        if here.is_file() and (not self.files or here.read_bytes() == self.files.get(RECIPE_FILE)):
            return load_folder(folder)
        if not self.files:
            raise FileNotFoundError(f"recipe {self.name}: no {here} on this machine")
        cache = Path(tempfile.gettempdir()) / "nsight-lab-recipes" / self.digest[:16] / self.name
        if not (cache / RECIPE_FILE).is_file():
            cache.mkdir(parents=True, exist_ok=True)
            for name, data in self.files.items():
                part = cache / f".{name}.partial"
                part.write_bytes(data)
                part.replace(cache / name)
        return load_folder(cache, require_notebook=False)


@dataclass(frozen=True)
class MapTask:
    """One report to map, with everything needed to map it anywhere."""

    code: RecipeCode
    ref: ReportRef
    index: int
    args: Mapping[str, Any]
    flt: Filter
    reads: Reads


@dataclass
class MapOutcome:
    info: ReportInfo
    #: The map's tables; as Arrow IPC bytes in ``ipc`` while crossing a process boundary.
    tables: dict[str, pa.Table] | None
    problem: str | None
    load_s: float
    map_s: float
    #: True when the report was parsed from its raw format (not a converted trace).
    parsed: bool = False
    ipc: dict[str, bytes] | None = None
    #: What the recipe noted about the report (``ReportContext.warn``).
    notes: tuple[str, ...] = ()

    def packed(self) -> MapOutcome:
        """This outcome with its tables as Arrow IPC streams, for the trip back."""
        if self.tables is None:
            return self
        ipc = {name: to_ipc(table) for name, table in self.tables.items()}
        return replace(self, tables=None, ipc=ipc)

    def unpacked(self) -> MapOutcome:
        if self.ipc is None:
            return self
        tables = {name: from_ipc(data) for name, data in self.ipc.items()}
        return replace(self, tables=tables, ipc=None)


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def lost(task: MapTask, problem: str) -> MapOutcome:
    """The outcome of a report whose worker died (twice) while mapping it."""
    info = ReportInfo(name=task.ref.name, path=task.ref.label, rank=None, index=task.index)
    return MapOutcome(info, None, problem, 0.0, 0.0)


def map_task(task: MapTask) -> MapOutcome:
    """Load, filter and map one report. Never raises: a failure becomes ``problem``."""
    from nsight_lab.trace.errors import TraceFormatError

    ref = task.ref
    info = ReportInfo(name=ref.name, path=ref.label, rank=None, index=task.index)
    began = time.perf_counter()

    def failed(problem: str, load_s: float, map_s: float = 0.0) -> MapOutcome:
        return MapOutcome(info, None, problem, load_s, map_s, ref.is_raw)

    try:
        trace = open_report(ref, task.reads, task.flt)
    except TraceFormatError as exc:
        return failed(exc.problem, time.perf_counter() - began)
    except Exception as exc:  # an importer or storage error must not sink the other reports
        what = "cannot be read" if ref.is_raw else "its converted trace cannot be read"
        return failed(f"{what}: {type(exc).__name__}: {exc}", time.perf_counter() - began)
    loaded = time.perf_counter()
    info = ReportInfo(name=info.name, path=info.path, rank=trace.metadata.rank, index=task.index)
    if task.flt is not None:
        from nsight_lab.trace import Trace

        columns = {t: c for t, c in task.reads.items() if c is not None}
        trace = Trace(apply_filter(trace.tables, task.flt), trace.metadata, columns=columns)
    ctx = ReportContext(trace=trace, report=info)
    try:
        recipe = task.code.load()
        tables = recipe.map_report(ctx, task.args)
    except RecipeInputError as exc:  # the report lacks what the recipe needs: say just that
        return MapOutcome(
            info, None, str(exc), loaded - began, time.perf_counter() - loaded, ref.is_raw
        )
    except Exception as exc:
        tb = traceback.format_exc(limit=-3)
        problem = (
            f"recipe {task.code.name} failed on this report: {type(exc).__name__}: {exc}\n{tb}"
        )
        return MapOutcome(
            info, None, problem, loaded - began, time.perf_counter() - loaded, ref.is_raw
        )
    return MapOutcome(
        info,
        tables,
        None,
        loaded - began,
        time.perf_counter() - loaded,
        ref.is_raw,
        notes=tuple(ctx.notes),
    )


def map_task_packed(task: MapTask) -> MapOutcome:
    """:func:`map_task` for workers in other processes: tables travel as Arrow IPC."""
    return map_task(task).packed()

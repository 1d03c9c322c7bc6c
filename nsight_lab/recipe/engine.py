"""Running a recipe: resolve inputs, map each report, reduce, write, execute the notebook.

:func:`run_recipe` is the one path every front end takes (CLI, analysis service,
notebooks), so outputs and run records never differ by how a run was started.

Reports are mapped where ``mode`` says: in this process (``none``), in a pool of
worker processes (``concurrent``), or on a Dask cluster (``dask-futures``, see
:mod:`nsight_lab.recipe.distributed`). Workers receive plain data only
(:class:`~nsight_lab.recipe.mapping.MapTask`) and load the recipe themselves, and
each reads only the tables and columns the recipe declares. A report that cannot be
read, or on which the recipe's map fails, is skipped and recorded as a warning; so
is one whose worker process died twice (it is retried once, alone); the run fails
only when no report is usable.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nsight_lab.recipe.errors import (
    RecipeInputError,
    RecipeOutputError,
    RecipeRunError,
)
from nsight_lab.recipe.filters import Filter, parse_filters
from nsight_lab.recipe.inputs import resolve_inputs
from nsight_lab.recipe.mapping import (
    MapOutcome,
    MapTask,
    RecipeCode,
    lost,
    map_task,
    map_task_packed,
)
from nsight_lab.recipe.notebook import execute_notebook, notebook_to_html, prepend_summary
from nsight_lab.recipe.record import build_record, write_record
from nsight_lab.recipe.registry import Recipe, get_recipe, unavailable_message
from nsight_lab.recipe.reports import ReportRef, plan_reads
from nsight_lab.recipe.spec import ReportInfo, normalize_mode, validate_args
from nsight_lab.recipe.summary import default_summary

Progress = Callable[[int, int, str], None]
"""progress(done, total, report_name) after each report is mapped."""

FILES_TABLE = "files"


@dataclass(frozen=True)
class ReportWarning:
    """A report that was skipped (``skipped``), or something a recipe noted about one."""

    file: str
    problem: str
    skipped: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "problem": self.problem, "skipped": self.skipped}


@dataclass
class RunResult:
    output: Path
    tables: dict[str, pa.Table]
    warnings: list[ReportWarning]
    timings: dict[str, float]
    reports: list[ReportInfo]
    record: dict[str, Any]
    files: list[str] = field(default_factory=list)
    notebook: Path | None = None
    html: Path | None = None
    summary: str = ""
    #: How many reports were parsed from their raw format, and how many read converted.
    sources: dict[str, int] = field(default_factory=dict)


def _default_output(name: str, cwd: Path) -> Path:
    n = 1
    while (cwd / f"{name}-{n}").exists():
        n += 1
    return cwd / f"{name}-{n}"


def _prepare_output(output: str | Path | None, name: str, force: bool) -> Path:
    out = Path(output) if output is not None else _default_output(name, Path.cwd())
    if out.exists():
        if not out.is_dir():
            raise RecipeOutputError(f"output {out} exists and is not a folder")
        if any(out.iterdir()):
            if not force:
                raise RecipeOutputError(
                    f"output folder {out} exists and is not empty: "
                    "choose another --output or pass --force-overwrite"
                )
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _map_all(
    recipe: Recipe,
    refs: Sequence[ReportRef],
    args: Mapping[str, Any],
    flt: Filter | None,
    mode: str,
    progress: Progress | None,
    scheduler: str | None,
) -> list[MapOutcome]:
    reads = plan_reads(recipe.spec.reads(), flt)
    code = RecipeCode.of(recipe, ship=mode == "dask-futures")
    tasks = [MapTask(code, ref, i, dict(args), flt, reads) for i, ref in enumerate(refs)]
    total = len(tasks)
    outcomes: list[MapOutcome] = []

    def done(outcome: MapOutcome) -> None:
        outcomes.append(outcome)
        if progress is not None:
            progress(len(outcomes), total, outcome.info.name)

    if not tasks:
        return []
    if mode == "none" or (mode == "concurrent" and total == 1):
        for task in tasks:
            done(map_task(task))
    elif mode == "concurrent":
        _map_processes(tasks, max(1, min(total, os.cpu_count() or 1)), done)
    else:
        from nsight_lab.recipe.distributed import map_on_dask

        map_on_dask(tasks, done, scheduler=scheduler)
    return sorted(outcomes, key=lambda o: o.info.index)


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers)


def _map_processes(
    tasks: Sequence[MapTask], workers: int, done: Callable[[MapOutcome], None]
) -> None:
    """Map in a pool of processes, at most ``workers`` reports in flight.

    When a worker dies (killed, out of memory) the pool breaks and every report in
    flight is suspect: each is retried once alone in a fresh process, so only the
    report that kills its worker again is named in the warnings; the queue then
    goes on in a new pool.
    """
    queue = deque(tasks)
    while queue:
        suspects: list[MapTask] = []
        with _pool(workers) as pool:
            running: dict[Future[MapOutcome], MapTask] = {}
            while queue or running:
                broken = False
                while queue and len(running) < workers:
                    task = queue.popleft()
                    try:
                        running[pool.submit(map_task_packed, task)] = task
                    except BrokenProcessPool:
                        # A worker died since the last wait: this task never ran, so it
                        # goes back to the queue; the ones in flight are the suspects.
                        queue.appendleft(task)
                        broken = True
                        break
                if broken:
                    suspects.extend(running.values())
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = running.pop(future)
                    try:
                        done(future.result().unpacked())
                    except BrokenProcessPool:
                        suspects.append(task)
                        broken = True
                if broken:
                    suspects.extend(running.values())
                    break
        for task in sorted(suspects, key=lambda t: t.index):
            with _pool(1) as alone:
                try:
                    done(alone.submit(map_task_packed, task).result().unpacked())
                except BrokenProcessPool:
                    done(
                        lost(
                            task,
                            "its worker process died twice while mapping it (killed, or out of"
                            " memory); the other reports were mapped",
                        )
                    )


def _check_tables(recipe: Recipe, tables: Any) -> dict[str, pa.Table]:
    if not isinstance(tables, dict) or not all(
        isinstance(k, str) and isinstance(v, pa.Table) for k, v in tables.items()
    ):
        raise RecipeRunError(f"recipe {recipe.name}: reduce() must return dict[str, pyarrow.Table]")
    if FILES_TABLE in tables:
        raise RecipeRunError(
            f"recipe {recipe.name}: table name {FILES_TABLE!r} is reserved for the engine"
        )
    return tables


def _writable(table: pa.Table) -> pa.Table:
    """CSV cannot hold dictionary columns; decode them to plain strings."""
    cols = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    return pa.Table.from_arrays(cols, names=table.column_names)


def _write_tables(out: Path, tables: Mapping[str, pa.Table], csv: bool) -> list[str]:
    written: list[str] = []
    for name, table in tables.items():
        if csv:
            fname = f"{name}.csv"
            pacsv.write_csv(_writable(table), out / fname)
        else:
            fname = f"{name}.parquet"
            pq.write_table(table, out / fname)
        written.append(fname)
    return written


def _refs(inputs: Sequence[str | Path | ReportRef], *, allow_none: bool = False) -> list[ReportRef]:
    """Refs given stay as they are; paths are resolved (files, folders, DIR:N) in order."""
    out: list[ReportRef] = []
    paths: list[str | Path] = []

    def flush() -> None:
        if paths:
            out.extend(ReportRef.for_path(p) for p in resolve_inputs(paths))
            paths.clear()

    for item in inputs:
        if isinstance(item, ReportRef):
            flush()
            out.append(item)
        else:
            paths.append(item)
    flush()
    if not out and not allow_none:
        resolve_inputs([])  # raises the "no input given" error
    return out


def run_recipe(
    name: str,
    inputs: Sequence[str | Path | ReportRef],
    output: str | Path | None = None,
    *,
    args: Mapping[str, Any] | None = None,
    mode: str = "none",
    csv: bool = False,
    force: bool = False,
    filter_time: str | None = None,
    filter_nvtx: str | None = None,
    notebook: bool = True,
    progress: Progress | None = None,
    filter_projected_nvtx: str | None = None,
    scheduler: str | None = None,
    warnings: Sequence[ReportWarning] = (),
) -> RunResult:
    """Run recipe ``name`` over ``inputs`` into ``output`` and return what it produced.

    ``inputs`` are paths (report files, folders, ``DIR:N``, converted trace folders)
    or :class:`ReportRef` s already resolved (the analysis service's stored reports).
    ``scheduler``: the Dask scheduler for ``dask-futures`` (default
    ``$NSIGHT_LAB_DASK_SCHEDULER``, else a local cluster). ``warnings``: reports the
    caller already had to leave out, recorded with the run's own.

    Raises a :class:`~nsight_lab.recipe.errors.RecipeError` subclass for every
    failure the caller can act on (unknown recipe, bad argument, unreadable inputs,
    occupied output folder, failing recipe or notebook).
    """
    started = datetime.now()
    t0 = time.perf_counter()
    mode = normalize_mode(mode)
    recipe = get_recipe(name)
    spec = recipe.spec
    name = spec.name  # an alias runs, and records, the recipe it stands for
    if not spec.runnable:
        raise RecipeInputError(unavailable_message(spec))
    values = validate_args(spec, args)
    flt = parse_filters(filter_time, filter_nvtx, filter_projected_nvtx)
    refs = _refs(inputs, allow_none=bool(warnings))
    given = len(refs) + len(warnings)  # reports the caller could not hand over count too
    if given < spec.min_reports:
        raise RecipeInputError(
            f"recipe {name} needs at least {spec.min_reports} reports, got {given}"
        )
    if spec.max_reports is not None and given > spec.max_reports:
        raise RecipeInputError(
            f"recipe {name} takes at most {spec.max_reports} reports, got {given}"
        )
    out = _prepare_output(output, name, force)
    timings: dict[str, float] = {"setup": time.perf_counter() - t0}

    t = time.perf_counter()
    outcomes = _map_all(recipe, refs, values, flt, mode, progress, scheduler)
    wall_map = time.perf_counter() - t
    # Import and map overlap in worker modes; report summed CPU-side times for both.
    timings["import"] = sum(o.load_s for o in outcomes)
    timings["map"] = sum(o.map_s for o in outcomes)
    timings["map_wall"] = wall_map

    warnings = [
        *warnings,
        *(ReportWarning(o.info.path, o.problem) for o in outcomes if o.problem is not None),
        *(ReportWarning(o.info.path, n, skipped=False) for o in outcomes for n in o.notes),
    ]
    sources = {
        "raw": sum(o.parsed for o in outcomes),
        "converted": sum(not o.parsed for o in outcomes if o.problem is None),
    }
    parts = [(o.info, o.tables) for o in outcomes if o.tables is not None]
    if len(parts) < max(spec.min_reports, 1):
        detail = "; ".join(f"{w.file}: {w.problem}" for w in warnings if w.skipped)
        if not any(out.iterdir()):
            out.rmdir()  # created by this run and still empty: leave no trace of it
        raise RecipeInputError(f"no usable report among {given} input(s): {detail}")

    t = time.perf_counter()
    try:
        reduced = _check_tables(recipe, recipe.reduce(parts, values))
    except RecipeRunError:
        raise
    except Exception as exc:
        raise RecipeRunError(f"recipe {name}: reduce failed: {type(exc).__name__}: {exc}") from exc
    timings["reduce"] = time.perf_counter() - t
    try:
        summary = (recipe.summarize or default_summary)(reduced, values)
    except Exception as exc:  # a summary is a courtesy: it must never sink the run
        summary = ""
        warnings.append(
            ReportWarning("", f"summary failed: {type(exc).__name__}: {exc}", skipped=False)
        )

    t = time.perf_counter()
    files_table = pa.table(
        {
            "Rank": pa.array([info.index for info, _ in parts], pa.int64()),
            "File": pa.array([info.path for info, _ in parts], pa.string()),
            "ReportRank": pa.array([info.rank for info, _ in parts], pa.int64()),
        }
    )
    written = _write_tables(out, {**reduced, FILES_TABLE: files_table}, csv)
    timings["write"] = time.perf_counter() - t

    nb_path: Path | None = None
    html_path: Path | None = None
    if notebook:
        nb_path = out / spec.notebook
        params = {"output_dir": str(out), "data_format": "csv" if csv else "parquet", **values}
        timings["notebook"] = execute_notebook(recipe.notebook_path, nb_path, params)
        prepend_summary(nb_path, summary)
        html_path = nb_path.with_suffix(".html")
        timings["html"] = notebook_to_html(nb_path, html_path)
        written += [nb_path.name, html_path.name]

    record_name = f"{name}.nsys-analysis"
    timings["total"] = time.perf_counter() - t0
    record = build_record(
        recipe=name,
        display_name=spec.display_name,
        mode=mode,
        started=started,
        ended=datetime.now(),
        inputs=[ref.label for ref in refs],
        outputs=[*written, record_name],
        warnings=[w.to_json() for w in warnings],
        args=values,
        timings=timings,
        filters={
            "filter_time": filter_time,
            "filter_nvtx": filter_nvtx,
            "filter_projected_nvtx": filter_projected_nvtx,
        },
        reports_used=[info.path for info, _ in parts],
        summary=summary,
        sources=sources,
    )
    write_record(out / record_name, record)
    return RunResult(
        output=out,
        tables=reduced,
        warnings=warnings,
        timings=timings,
        reports=[info for info, _ in parts],
        record=record,
        files=[*written, record_name],
        notebook=nb_path,
        html=html_path,
        summary=summary,
        sources=sources,
    )

"""Running a recipe: resolve inputs, map each report, reduce, write, execute the notebook.

:func:`run_recipe` is the one path every front end takes (CLI, analysis service,
notebooks), so outputs and run records never differ by how a run was started.

Reports are mapped where ``mode`` says: in this process (``none``), in a pool of
worker processes (``concurrent``), or on Dask (``dask``). Workers receive only paths
and plain values and load the recipe by path themselves, so nothing unpicklable
crosses a process boundary. A report that cannot be read, or on which the recipe's
map fails, is skipped and recorded as a warning; the run fails only when no report
is usable.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nsight_lab.recipe.errors import (
    MissingExtraError,
    RecipeArgError,
    RecipeInputError,
    RecipeOutputError,
    RecipeRunError,
)
from nsight_lab.recipe.filters import Filter, apply_filter, parse_filters
from nsight_lab.recipe.inputs import report_name, resolve_inputs
from nsight_lab.recipe.notebook import execute_notebook, notebook_to_html, prepend_summary
from nsight_lab.recipe.record import build_record, write_record
from nsight_lab.recipe.registry import Recipe, get_recipe, load_folder, unavailable_message
from nsight_lab.recipe.spec import MODES, ReportContext, ReportInfo, normalise_mode, validate_args
from nsight_lab.recipe.summary import default_summary

Progress = Callable[[int, int, str], None]
"""progress(done, total, report_name) after each report is mapped."""

DASK_ENV = "NSIGHT_LAB_DASK_SCHEDULER"
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


@dataclass(frozen=True)
class _MapOutcome:
    info: ReportInfo
    tables: dict[str, pa.Table] | None
    problem: str | None
    load_s: float
    map_s: float
    notes: tuple[str, ...] = ()


def map_one(
    folder: str,
    path: str,
    index: int,
    args: Mapping[str, Any],
    flt: Filter | None,
) -> _MapOutcome:
    """Load, filter and map one report. Never raises: a failure becomes ``problem``.

    A module-level function taking only plain values, so process pools and Dask can
    ship it to workers.
    """
    from nsight_lab.trace import Trace, load_trace
    from nsight_lab.trace.errors import TraceFormatError

    info = ReportInfo(name=report_name(Path(path)), path=path, rank=None, index=index)
    began = time.perf_counter()
    try:
        trace = load_trace(path)
    except TraceFormatError as exc:
        return _MapOutcome(info, None, exc.problem, time.perf_counter() - began, 0.0)
    except Exception as exc:  # an importer bug must not sink the other reports
        return _MapOutcome(
            info,
            None,
            f"cannot be read: {type(exc).__name__}: {exc}",
            time.perf_counter() - began,
            0.0,
        )
    loaded = time.perf_counter()
    info = ReportInfo(name=info.name, path=path, rank=trace.metadata.rank, index=index)
    if flt is not None:
        trace = Trace(apply_filter(trace.tables, flt), trace.metadata)
    recipe = load_folder(Path(folder))
    ctx = ReportContext(trace=trace, report=info)
    try:
        tables = recipe.map_report(ctx, args)
    except RecipeInputError as exc:  # the report lacks what the recipe needs: say only that
        return _MapOutcome(info, None, str(exc), loaded - began, time.perf_counter() - loaded)
    except Exception as exc:
        tb = traceback.format_exc(limit=-3)
        problem = f"recipe {recipe.name} failed on this report: {type(exc).__name__}: {exc}\n{tb}"
        return _MapOutcome(info, None, problem, loaded - began, time.perf_counter() - loaded)
    return _MapOutcome(
        info, tables, None, loaded - began, time.perf_counter() - loaded, tuple(ctx.notes)
    )


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
    paths: Sequence[Path],
    args: Mapping[str, Any],
    flt: Filter | None,
    mode: str,
    progress: Progress | None,
) -> list[_MapOutcome]:
    folder = str(recipe.folder)
    jobs = [(folder, str(p), i, dict(args), flt) for i, p in enumerate(paths)]
    total = len(jobs)
    outcomes: list[_MapOutcome] = []

    def done(outcome: _MapOutcome) -> None:
        outcomes.append(outcome)
        if progress is not None:
            progress(len(outcomes), total, outcome.info.name)

    if mode == "none" or (mode == "concurrent" and total == 1):
        for job in jobs:
            done(map_one(*job))
    elif mode == "concurrent":
        workers = max(1, min(total, os.cpu_count() or 1))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(map_one, *job) for job in jobs]
            for fut in as_completed(futures):
                done(fut.result())
    elif mode == "dask":
        for outcome in _map_dask(jobs):
            done(outcome)
    else:
        raise RecipeArgError("mode", f"--mode {mode!r}: must be one of {', '.join(MODES)}")
    return sorted(outcomes, key=lambda o: o.info.index)


def _map_dask(jobs: list[tuple[Any, ...]]) -> list[_MapOutcome]:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError as exc:
        raise MissingExtraError(
            "--mode dask needs Dask: pip install 'nsight-lab[dask]' (or use --mode concurrent)"
        ) from exc
    address = os.environ.get(DASK_ENV)
    cluster = None
    if address:
        client = Client(address)
    else:
        cluster = LocalCluster(processes=True, n_workers=min(len(jobs), os.cpu_count() or 1))
        client = Client(cluster)
    try:
        futures = [client.submit(map_one, *job, pure=False) for job in jobs]
        return [fut.result() for fut in dask_completed(futures)]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


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


def run_recipe(
    name: str,
    inputs: Sequence[str | Path],
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
) -> RunResult:
    """Run recipe ``name`` over ``inputs`` into ``output`` and return what it produced.

    Raises a :class:`~nsight_lab.recipe.errors.RecipeError` subclass for every
    failure the caller can act on (unknown recipe, bad argument, unreadable inputs,
    occupied output folder, failing recipe or notebook).
    """
    started = datetime.now()
    t0 = time.perf_counter()
    mode = normalise_mode(mode)
    if mode not in MODES:
        raise RecipeArgError("mode", f"--mode {mode!r}: must be one of {', '.join(MODES)}")
    recipe = get_recipe(name)
    spec = recipe.spec
    name = spec.name  # an alias runs, and records, the recipe it stands for
    if not spec.runnable:
        raise RecipeInputError(unavailable_message(spec))
    values = validate_args(spec, args)
    flt = parse_filters(filter_time, filter_nvtx, filter_projected_nvtx)
    paths = resolve_inputs(inputs)
    if len(paths) < spec.min_reports:
        raise RecipeInputError(
            f"recipe {name} needs at least {spec.min_reports} reports, got {len(paths)}"
        )
    if spec.max_reports is not None and len(paths) > spec.max_reports:
        raise RecipeInputError(
            f"recipe {name} takes at most {spec.max_reports} reports, got {len(paths)}"
        )
    out = _prepare_output(output, name, force)
    timings: dict[str, float] = {"setup": time.perf_counter() - t0}

    t = time.perf_counter()
    outcomes = _map_all(recipe, paths, values, flt, mode, progress)
    wall_map = time.perf_counter() - t
    # Import and map overlap in worker modes; report summed CPU-side times for both.
    timings["import"] = sum(o.load_s for o in outcomes)
    timings["map"] = sum(o.map_s for o in outcomes)
    timings["map_wall"] = wall_map

    warnings = [ReportWarning(o.info.path, o.problem) for o in outcomes if o.problem is not None]
    warnings += [ReportWarning(o.info.path, n, skipped=False) for o in outcomes for n in o.notes]
    parts = [(o.info, o.tables) for o in outcomes if o.tables is not None]
    if len(parts) < max(spec.min_reports, 1):
        detail = "; ".join(f"{w.file}: {w.problem}" for w in warnings if w.skipped)
        if not any(out.iterdir()):
            out.rmdir()  # created by this run and still empty: leave no trace of it
        raise RecipeInputError(f"no usable report among {len(paths)} input(s): {detail}")

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
        inputs=[str(p) for p in paths],
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
    )

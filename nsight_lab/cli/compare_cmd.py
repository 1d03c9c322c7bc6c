"""``nsight-lab compare BASE CANDIDATE``: did a change make the workload faster or slower?

Each side is a report file, a folder of reports (``DIR:N`` for the first N), or what
the coordinator holds: ``session:ID`` or ``collection:ID`` (downloaded, checked, and
kept under ``~/.cache/nsight-lab/compare``, or ``$NSIGHT_LAB_COMPARE_CACHE``). The comparison is the ``diff`` recipe
over both sides, so the output folder holds its tables, notebook with plots, HTML and
run record. ``--fail-on-regression PCT`` turns it into a CI gate: the exit status is 1
when something got slower by at least PCT percent with an interval that excludes zero.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nsight_lab.cli.context import CliContext
from nsight_lab.recipe.errors import (
    RecipeArgError,
    RecipeError,
    RecipeInputError,
    RecipeOutputError,
)

EXIT_REGRESSION = 1
CACHE_ENV = "NSIGHT_LAB_COMPARE_CACHE"


def cache_dir() -> Path:
    """Where stored reports are downloaded to (``$NSIGHT_LAB_COMPARE_CACHE`` overrides)."""
    return Path(os.environ.get(CACHE_ENV, "~/.cache/nsight-lab/compare")).expanduser()


STORED = ("session:", "collection:")

_console = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def resolve_side(spec: str, cli: CliContext | None, *, quiet: bool) -> list[Path]:
    """Report paths for one side: local inputs as recipes take them, or stored ones fetched."""
    from nsight_lab.recipe.inputs import resolve_inputs

    if not spec.startswith(STORED):
        return resolve_inputs([spec])
    if cli is None:
        raise click.UsageError(
            f"{spec}: stored reports need the coordinator (nsight-lab configure)"
        )
    from nsight_lab.downloads import download_session
    from nsight_lab.naming import safe_component

    kind, _, ident = spec.partition(":")
    client = cli.client
    if kind == "collection":
        collection = client.collection(ident)
        session = client.session(collection.session_id)
        target = cache_dir() / safe_component(f"collection-{ident}", fallback="collection")
        paths = download_session(
            client, session, target, flat=True, show_progress=not quiet,
            collection_id=collection.collection_id,
        )  # fmt: skip
    else:
        session = client.session(ident)
        target = cache_dir() / safe_component(f"session-{ident}", fallback="session")
        paths = download_session(client, session, target, flat=True, show_progress=not quiet)
    if not paths:
        raise click.ClickException(f"{spec} holds no reports")
    return resolve_inputs([str(target)])


def _short(text: str, width: int = 34) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _pct(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{value:+.1f}"


def _table(df: pd.DataFrame, limit: int) -> Table:
    """Verdicts first, then the largest movers; fits an 80-column terminal."""
    view = Table(
        box=box.SIMPLE_HEAD,
        header_style="bold",
        title=f"comparison (first {min(limit, len(df))} of {len(df)}; changes in %)",
        pad_edge=False,
    )
    for col in ("Kind", "Name", "Verdict"):
        view.add_column(col, no_wrap=True)
    for col in ("Median", "95% CI", "Total"):
        view.add_column(col, justify="right", no_wrap=True)
    styles = {"slower": "red", "faster": "green"}
    for _, row in df.head(limit).iterrows():
        ci = (
            f"{_pct(row['Med CI Low (%)'])}..{_pct(row['Med CI High (%)'])}"
            if not pd.isna(row["Med CI Low (%)"])
            else ""
        )
        verdict = row["Verdict"]
        view.add_row(
            row["Kind"],
            escape(_short(str(row["Name"]), 26)),
            f"[{styles[verdict]}]{verdict}[/]" if verdict in styles else verdict,
            _pct(row["Med Change (%)"]),
            ci,
            _pct(row["Total Change (%)"]),
        )
    return view


def _jsonable(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records"))


@click.command("compare", context_settings={"max_content_width": 100})
@click.argument("base")
@click.argument("candidate")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: compare-N, the next free N).")  # fmt: skip
@click.option("--force-overwrite", is_flag=True, help="Replace an existing report folder.")
@click.option("--fail-on-regression", "fail_pct", type=click.FloatRange(min=0), default=None,
              metavar="PCT", help="Exit 1 when something is slower by PCT% or more.")  # fmt: skip
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
              help="Confidence of the bootstrap intervals.")  # fmt: skip
@click.option("--min-change", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Smallest change of a median, in %, that gets a verdict.")  # fmt: skip
@click.option("--min-instances", type=click.IntRange(min=1), default=5, show_default=True,
              help="Fewer instances than this on a side: no verdict.")  # fmt: skip
@click.option("--resamples", type=click.IntRange(100, 100_000), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the resampling.")
@click.option("--base-names", is_flag=True, help="Compare kernels by short (base) name.")
@click.option("--no-notebook", is_flag=True, help="Tables and record only (faster in CI).")
@click.option("--rows", type=click.IntRange(min=1), default=15, show_default=True,
              help="Rows of the table printed.")  # fmt: skip
@click.option("--output", "fmt", type=click.Choice(["table", "json"]), default=None,
              help="table for people, json for scripts (default: the global --output).")  # fmt: skip
@click.pass_context
def compare_cmd(
    ctx: click.Context,
    base: str,
    candidate: str,
    report_dir: Path | None,
    force_overwrite: bool,
    fail_pct: float | None,
    confidence: float,
    min_change: float,
    min_instances: int,
    resamples: int,
    seed: int,
    base_names: bool,
    no_notebook: bool,
    rows: int,
    fmt: str | None,
) -> None:
    """Compare CANDIDATE against BASE per kernel, NVTX range and step.

    \b
    Each side: a report, a folder of reports (DIR:N: its first N), session:ID or
    collection:ID. Changes come with bootstrap confidence intervals; a kernel,
    range or step is "slower" or "faster" only when its interval excludes zero and
    the change is at least --min-change.

    \b
    Examples:
      nsight-lab compare main.nsys-rep branch.nsys-rep
      nsight-lab compare runs/main/ runs/pr-42/ --fail-on-regression 5 --no-notebook
      nsight-lab --output json compare session:3f2a session:9c1d
    """
    from nsight_lab.recipe.engine import run_recipe
    from nsight_lab.recipe.reports import ReportRef

    root = ctx.find_root().obj
    cli = root if isinstance(root, CliContext) else None
    as_json = (fmt or getattr(cli, "output", "table")) == "json"
    try:
        base_paths = resolve_side(base, cli, quiet=as_json)
        cand_paths = resolve_side(candidate, cli, quiet=as_json)
    except RecipeInputError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        # Refs, not paths: a report may stand on both sides (comparing a run with itself).
        result = run_recipe(
            "diff",
            [ReportRef.for_path(p) for p in (*base_paths, *cand_paths)],
            report_dir if report_dir is not None else _next_free(Path.cwd()),
            args={
                "base": base_names,
                "base_reports": len(base_paths),
                "confidence": confidence,
                "resamples": resamples,
                "seed": seed,
                "min_instances": min_instances,
                "min_change": min_change,
            },
            force=force_overwrite,
            notebook=not no_notebook,
        )
    except (RecipeArgError, RecipeOutputError) as exc:
        raise click.UsageError(str(exc)) from None
    except RecipeError as exc:
        raise click.ClickException(str(exc)) from None
    table = result.tables["comparison"].to_pandas()
    from nsight_lab.recipe.analysis.comparison import regressions

    failed = regressions(table, fail_pct) if fail_pct is not None else table.iloc[0:0]
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "base": [str(p) for p in base_paths],
                    "candidate": [str(p) for p in cand_paths],
                    "output": str(result.output),
                    "summary": result.summary,
                    "verdicts": table["Verdict"].value_counts().to_dict(),
                    "fail_on_regression": fail_pct,
                    "regressions": _jsonable(failed),
                    "passed": failed.empty,
                    "rows": _jsonable(table),
                },
                indent=2,
            )
            + "\n"
        )
    else:
        _console.print(_table(table, rows))
        _console.print(result.summary.replace("**", "").replace("`", ""), markup=False)
        _console.print(f"[green]wrote[/] {escape(str(result.output))}")
    if not failed.empty:
        worst = failed.iloc[0]
        _err.print(
            f"[red]regression:[/] {len(failed)} slower by {fail_pct:g}% or more; worst: "
            f"{worst['Kind']} {escape(_short(str(worst['Name']), 60))} "
            f"{_pct(worst['Med Change (%)'])}%"
        )
        ctx.exit(EXIT_REGRESSION)


def _next_free(cwd: Path) -> Path:
    n = 1
    while (cwd / f"compare-{n}").exists():
        n += 1
    return cwd / f"compare-{n}"

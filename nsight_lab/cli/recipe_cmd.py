"""``nsight-lab recipe list|info|run``: the recipe engine, offline, from a shell.

The options follow ``nsys recipe``: common options first, then the recipe's own
options, which are parsed against the recipe's declared arguments so that
``--bins 0`` fails with a message naming ``bins``. Tables for people, ``--output
json`` (on list/info, or the global ``nsight-lab --output json``) for scripts.
Exit codes: 0 ok, 1 the run failed, 2 usage error.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nsight_lab.recipe.errors import (
    MissingExtraError,
    RecipeArgError,
    RecipeError,
    RecipeNotFoundError,
    RecipeOutputError,
)
from nsight_lab.recipe.spec import MODE_ALIASES, MODES, RecipeSpec

_console = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def _want_json(ctx: click.Context, output: str | None) -> bool:
    if output is not None:
        return output == "json"
    parent = ctx.find_root().obj
    return getattr(parent, "output", None) == "json"


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _spec_json(spec: RecipeSpec, folder: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "display_name": spec.display_name,
        "description": spec.description,
        "tables": list(spec.tables),
        "columns": {t: list(c) for t, c in spec.columns.items()},
        "notebook": spec.notebook,
        "folder": folder,
        "min_reports": spec.min_reports,
        "max_reports": spec.max_reports,
        "question": spec.question,
        "sources": list(spec.sources),
        "counterpart": spec.counterpart,
        "aliases": list(spec.aliases),
        "runnable": spec.runnable,
        "unavailable": spec.unavailable,
        "args": [
            {
                "name": a.name,
                "flag": a.flag,
                "type": a.kind,
                "default": a.default,
                "required": a.required,
                "help": a.help,
                "choices": list(a.choices) if a.choices is not None else None,
                "minimum": a.minimum,
                "maximum": a.maximum,
            }
            for a in spec.args
        ],
        "schema": spec.json_schema(),
    }


_OUTPUT_FMT = click.option(
    "--output",
    "output",
    type=click.Choice(["table", "json"]),
    default=None,
    help="table for people, json for scripts (default: the global --output).",
)


@click.group("recipe")
def recipe_group() -> None:
    """Analyse reports with nsys-style recipes (offline: no services needed)."""


@recipe_group.command("list")
@_OUTPUT_FMT
@click.pass_context
def list_cmd(ctx: click.Context, output: str | None) -> None:
    """List the recipes found in the built-in folder and NSIGHT_LAB_RECIPE_PATH."""
    from nsight_lab.recipe.registry import list_recipes

    good, bad = list_recipes()
    if _want_json(ctx, output):
        _print_json(
            {
                "recipes": [
                    {
                        "name": r.name,
                        "display_name": r.spec.display_name,
                        "folder": str(r.folder),
                        "runnable": r.spec.runnable,
                        "aliases": list(r.spec.aliases),
                    }
                    for r in good
                ],
                "errors": [{"folder": e.folder, "problem": e.problem} for e in bad],
            }
        )
        return
    table = Table(title="Recipes", header_style="bold")
    table.add_column("Name", style="cyan", no_wrap=True)
    table.add_column("Description")
    for r in good:
        note = "" if r.spec.runnable else " [dim](no source here: see info)[/]"
        table.add_row(escape(r.name), escape(r.spec.display_name) + note)
    _console.print(table)
    for e in bad:
        _err.print(f"[yellow]warning:[/] {escape(str(e))}")


@recipe_group.command("info")
@click.argument("name")
@_OUTPUT_FMT
@click.pass_context
def info_cmd(ctx: click.Context, name: str, output: str | None) -> None:
    """Show what recipe NAME does and the arguments it takes."""
    from nsight_lab.recipe.registry import get_recipe

    try:
        recipe = get_recipe(name)
    except RecipeNotFoundError as exc:
        raise click.UsageError(str(exc)) from None
    except RecipeError as exc:
        raise click.ClickException(str(exc)) from None
    spec = recipe.spec
    if _want_json(ctx, output):
        _print_json(_spec_json(spec, str(recipe.folder)))
        return
    _console.print(f"[bold]{escape(spec.name)}[/]: {escape(spec.display_name)}")
    if spec.question:
        _console.print(f"Answers: {spec.question}", markup=False)
    _console.print(spec.description, markup=False)
    if not spec.runnable:
        _console.print(
            f"[yellow]Not runnable here:[/] its input is recorded by {escape(spec.unavailable or '')}"
        )
        return
    reads = [f"{t} ({', '.join(spec.columns[t])})" if t in spec.columns else t for t in spec.tables]
    _console.print(f"Reads: {'; '.join(reads) or 'every table'}", markup=False)
    _console.print(f"Notebook: {spec.notebook}", markup=False)
    details = [
        f"sources: {', '.join(spec.sources)}" if spec.sources else "",
        f"counterpart: {spec.counterpart}" if spec.counterpart else "",
        f"aliases: {', '.join(spec.aliases)}" if spec.aliases else "",
    ]
    if any(details):
        _console.print("; ".join(d for d in details if d), markup=False)
    table = Table(title="Recipe arguments", header_style="bold")
    for col in ("Option", "Type", "Default", "Help"):
        table.add_column(col)
    for a in spec.args:
        kind = a.kind if a.choices is None else "choice: " + "|".join(a.choices)
        bounds = "".join(
            [
                f" >= {a.minimum:g}" if a.minimum is not None else "",
                f" <= {a.maximum:g}" if a.maximum is not None else "",
            ]
        )
        default = "(required)" if a.required else repr(a.default)
        table.add_row(a.flag, escape(kind + bounds), escape(default), escape(a.help))
    if spec.args:
        _console.print(table)
    else:
        _console.print("No recipe arguments.")
    _console.print(
        "Common options: --input PATH... --output DIR --force-overwrite --csv "
        f"--mode {'|'.join(MODES)} --filter-time START/END | --filter-nvtx NAME[@DOMAIN][/INDEX] "
        "| --filter-projected-nvtx NAME[@DOMAIN][/INDEX] --no-notebook",
        markup=False,
    )


def parse_recipe_args(spec: RecipeSpec, tokens: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Split leftover command-line tokens into extra inputs and the recipe's own options.

    Bare words before the first option are more ``--input`` paths (``--input a b``
    works as in nsys). Booleans take ``--flag`` / ``--no-flag`` or an explicit value;
    list arguments may repeat or use commas. Values are checked later by the spec.
    """
    by_flag = {a.flag: a for a in spec.args}
    extra_inputs: list[str] = []
    values: dict[str, Any] = {}
    i = 0
    toks = list(tokens)
    while i < len(toks) and not toks[i].startswith("--"):
        extra_inputs.append(toks[i])
        i += 1
    while i < len(toks):
        tok = toks[i]
        if not tok.startswith("--"):
            raise click.UsageError(
                f"unexpected argument {tok!r}: recipe options take the form --name VALUE"
            )
        flag, eq, inline = tok.partition("=")
        negated = flag.startswith("--no-") and flag not in by_flag and "--" + flag[5:] in by_flag
        arg = by_flag.get("--" + flag[5:] if negated else flag)
        if arg is None:
            known = sorted(by_flag)
            close = difflib.get_close_matches(flag, known, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise click.UsageError(
                f"recipe {spec.name} has no option {flag}.{hint} "
                f"Its options: {', '.join(known) or 'none'} (see 'nsight-lab recipe info {spec.name}')."
            )
        i += 1
        if arg.kind == "boolean":
            if negated:
                values[arg.name] = False
            elif eq:
                values[arg.name] = inline
            elif i < len(toks) and toks[i].lower() in (
                "true",
                "false",
                "yes",
                "no",
                "1",
                "0",
                "on",
                "off",
            ):
                values[arg.name] = toks[i]
                i += 1
            else:
                values[arg.name] = True
            continue
        if eq:
            value = inline
        elif i < len(toks) and not toks[i].startswith("--"):
            value = toks[i]
            i += 1
        else:
            raise click.UsageError(f"recipe option {flag} ({arg.name}) needs a value")
        if arg.kind == "array":
            values.setdefault(arg.name, []).extend(v for v in value.split(",") if v)
        else:
            values[arg.name] = value
    return extra_inputs, values


@recipe_group.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("name")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    help="Report file, folder, or DIR:N (repeatable; more paths may follow).",
)
@click.option(
    "--output", "output", default=None, help="Output folder (default: <recipe>-N, the next free N)."
)
@click.option(
    "--force-overwrite", is_flag=True, help="Replace an existing, non-empty output folder."
)
@click.option("--csv", "csv", is_flag=True, help="Write CSV instead of Parquet.")
@click.option(
    "--mode",
    type=click.Choice([*MODES, *MODE_ALIASES]),
    default="none",
    show_default=True,
    help="Where reports are mapped: none (this process), concurrent (a process per core),"
    " dask-futures (a Dask cluster: $NSIGHT_LAB_DASK_SCHEDULER, else a local one;"
    " 'dask' is an alias).",
)
@click.option(
    "--filter-time", default=None, metavar="START/END", help="Keep events within START/END ns."
)
@click.option(
    "--filter-nvtx",
    default=None,
    metavar="NAME[@DOMAIN][/INDEX]",
    help="Keep events within one NVTX range per process.",
)
@click.option(
    "--filter-projected-nvtx",
    default=None,
    metavar="NAME[@DOMAIN][/INDEX]",
    help="As --filter-nvtx, but GPU work within the range's projection onto the GPU.",
)
@click.option("--no-notebook", is_flag=True, help="Skip notebook execution and HTML (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print the run result as JSON.")
@click.pass_context
def run_cmd(
    ctx: click.Context,
    name: str,
    inputs: tuple[str, ...],
    output: str | None,
    force_overwrite: bool,
    csv: bool,
    mode: str,
    filter_time: str | None,
    filter_nvtx: str | None,
    filter_projected_nvtx: str | None,
    no_notebook: bool,
    as_json: bool,
) -> None:
    """Run recipe NAME over reports; recipe options (see 'recipe info NAME') follow."""
    from nsight_lab.recipe.engine import run_recipe
    from nsight_lab.recipe.registry import get_recipe

    as_json = as_json or _want_json(ctx, None)
    try:
        recipe = get_recipe(name)
    except RecipeNotFoundError as exc:
        raise click.UsageError(str(exc)) from None
    except RecipeError as exc:
        raise click.ClickException(str(exc)) from None
    extra_inputs, raw_args = parse_recipe_args(recipe.spec, ctx.args)
    all_inputs = [*inputs, *extra_inputs]
    if not all_inputs:
        raise click.UsageError("no input: pass --input with a report file, a folder, or DIR:N")

    progress_bar: Progress | None = None
    task: Any = None

    def on_progress(done: int, total: int, report: str) -> None:
        if progress_bar is not None:
            progress_bar.update(task, completed=done, total=total, description=f"mapped {report}")

    show_progress = not as_json and len(all_inputs) > 0 and _err.is_terminal
    try:
        if show_progress:
            progress_bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=_err,
                transient=True,
            )
            progress_bar.start()
            task = progress_bar.add_task("mapping reports", total=None)
        result = run_recipe(
            name,
            all_inputs,
            output,
            args=raw_args,
            mode=mode,
            csv=csv,
            force=force_overwrite,
            filter_time=filter_time,
            filter_nvtx=filter_nvtx,
            filter_projected_nvtx=filter_projected_nvtx,
            notebook=not no_notebook,
            progress=on_progress,
        )
    except (RecipeArgError, RecipeOutputError) as exc:
        raise click.UsageError(str(exc)) from None
    except MissingExtraError as exc:
        raise click.ClickException(str(exc)) from None
    except RecipeError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if progress_bar is not None:
            progress_bar.stop()

    for w in result.warnings:
        what = "skipped " if w.skipped else ""
        _err.print(f"[yellow]warning:[/] {what}{escape(w.file)}: {escape(w.problem)}")
    if as_json:
        _print_json(
            {
                "output": str(result.output),
                "files": result.files,
                "reports": [r.path for r in result.reports],
                "warnings": [w.to_json() for w in result.warnings],
                "timings": result.timings,
                "tables": {k: t.num_rows for k, t in result.tables.items()},
                "summary": result.summary,
            }
        )
        return
    first = next(iter(result.tables.values()), None)
    if first is not None and first.num_rows:
        _print_table(next(iter(result.tables)), first)
    if result.summary:
        _console.print(result.summary.replace("**", "").replace("`", ""), markup=False)
    times = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items() if k not in ("map_wall",))
    _console.print(
        f"[green]wrote[/] {escape(str(result.output))} ({escape(', '.join(result.files))})"
    )
    _console.print(f"[dim]{times}[/]")


def _print_table(title: str, table: Any, limit: int = 15) -> None:
    view = Table(
        title=f"{title} (first {min(limit, table.num_rows)} of {table.num_rows} rows)",
        header_style="bold",
    )
    for col in table.column_names:
        view.add_column(
            col, overflow="fold", max_width=60 if col in ("Name", "Range", "Operation") else None
        )
    for row in table.slice(0, limit).to_pylist():
        view.add_row(*(escape(_fmt(v)) for v in row.values()))
    _console.print(view)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)

"""``nsight-lab analysis``: run recipes as jobs on the analysis service and handle their reports.

\b
  analysis list | info NAME | run NAME [--ARG VALUE ...] [--session ID] [--collection ID] [--wait]
  analysis ui
  analysis reports list [--status S] | info ID | logs ID [-f] | download ID [-o DIR]
                   open ID | cancel ID | delete ID

Recipe arguments go after the name as ``--name value`` (``--flag`` / ``--no-flag``
for booleans); the service checks them against the recipe's schema and names the
argument at fault.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import webbrowser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import click

from nsight_lab.analysis_client import AnalysisClient
from nsight_lab.analysis_models import JobCreate, JobInfo, JobOutput, JobState
from nsight_lab.cli.context import CliContext, common_options, pass_cli
from nsight_lab.cli.output import EXIT_USAGE, CliFailure, fmt_size, fmt_time, handle_errors
from nsight_lab.naming import contained_path
from nsight_lab.recipe.spec import MODE_ALIASES, MODES

WAIT_POLL_S = 0.5


def _client(cli: CliContext) -> AnalysisClient:
    client = AnalysisClient(cli.config)
    click.get_current_context().call_on_close(client.close)
    return client


def parse_recipe_args(tokens: list[str]) -> dict[str, Any]:
    """``--top 3 --base --no-plot --names a,b`` -> ``{"top": "3", "base": True, "plot": False, ...}``.

    Values stay strings; the service coerces them with the recipe's own types, so the
    CLI never needs the schema to pass arguments through.
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or token == "--":
            raise CliFailure(
                f"unexpected argument {token!r}: recipe arguments are written --name value",
                EXIT_USAGE,
            )
        name, eq, value = token[2:].partition("=")
        key = name.replace("-", "_")
        if eq:
            out[key] = value
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            out[key] = tokens[i + 1]
            i += 1
        elif key.startswith("no_"):
            out[key[3:]] = False
        else:
            out[key] = True
        i += 1
    return out


@click.group("analysis", help=__doc__)
def analysis_group() -> None:
    pass


# --- catalogue ----------------------------------------------------------------------


@analysis_group.command("list")
@common_options
@pass_cli
@handle_errors
def list_cmd(cli: CliContext) -> None:
    """Recipes the analysis service can run."""
    catalogue = _client(cli).recipes()
    printer = cli.printer

    def human() -> None:
        printer.table(
            "Recipes",
            ["Name", "Title", "Reports"],
            [
                [r.name, r.display_name, f"{r.min_reports}..{r.max_reports or 'n'}"]
                for r in catalogue.recipes
            ],
        )
        for bad in catalogue.unavailable:
            printer.info(f"[yellow]unavailable:[/yellow] {bad.folder}: {bad.problem}")

    printer.emit(catalogue, human)


@analysis_group.command("info")
@click.argument("name")
@common_options
@pass_cli
@handle_errors
def info_cmd(cli: CliContext, name: str) -> None:
    """A recipe's description and arguments."""
    detail = _client(cli).recipe(name)
    printer = cli.printer

    def human() -> None:
        printer.console.print(
            f"[bold]{detail.display_name}[/bold] ({detail.name})\n{detail.description}\n"
        )
        props = detail.arg_schema.get("properties", {})
        rows = []
        for arg, schema in props.items():
            if schema.get("x-common"):
                continue
            kind = schema.get("type", "")
            if "enum" in schema:
                kind = "|".join(str(v) for v in schema["enum"])
            rows.append(
                [
                    "--" + arg.replace("_", "-"),
                    kind,
                    schema.get("default", ""),
                    schema.get("description", ""),
                ]
            )
        printer.table("Arguments", ["Option", "Type", "Default", "Help"], rows)

    printer.emit(detail.model_dump(mode="json", by_alias=True), human)


# --- running ------------------------------------------------------------------------


@analysis_group.command(
    "run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.argument("name")
@click.option(
    "--collection", "collection_id", default=None, help="One collection instead of a whole session."
)
@click.option("--wait/--no-wait", default=False, help="Wait for the job to end, showing progress.")
@click.option(
    "--no-notebook", is_flag=True, help="Only the data files: skip the notebook and HTML."
)
@click.option("--csv", is_flag=True, help="CSV instead of Parquet.")
@click.option("--filter-time", default=None, help="START/END in ns.")
@click.option("--filter-nvtx", default=None, help="NAME[@DOMAIN][/INDEX].")
@click.option(
    "--filter-projected-nvtx",
    default=None,
    help="NAME[@DOMAIN][/INDEX]; GPU work within the range's projection onto the GPU.",
)
@click.option(
    "--mode",
    type=click.Choice([*MODES, *MODE_ALIASES]),
    default="none",
    show_default=True,
    help="Where the service maps the reports (dask-futures: its Dask cluster).",
)
@common_options
@click.pass_context
@handle_errors
def run_cmd(
    ctx: click.Context,
    name: str,
    collection_id: str | None,
    wait: bool,
    no_notebook: bool,
    csv: bool,
    filter_time: str | None,
    filter_nvtx: str | None,
    filter_projected_nvtx: str | None,
    mode: str,
) -> None:
    """Queue recipe NAME over a session (default: the tag's active, else latest) or a collection."""
    cli = ctx.find_object(CliContext)
    assert cli is not None
    client = _client(cli)
    request = JobCreate(
        recipe=name,
        args=parse_recipe_args(list(ctx.args)),
        tag=cli.effective_tag,
        session_id=cli.session,
        collection_id=collection_id,
        notebook=not no_notebook,
        csv=csv,
        filter_time=filter_time,
        filter_nvtx=filter_nvtx,
        filter_projected_nvtx=filter_projected_nvtx,
        mode=mode,
    )
    job = client.create_job(request)
    printer = cli.printer
    printer.info(f"queued job {job.job_id}: {job.recipe} over {len(job.reports)} report file(s)")
    if wait:
        job = wait_for(client, job, printer.json_mode)
    printer.emit(job, lambda: _show_job(cli, job))
    if wait and job.state != JobState.SUCCEEDED:
        raise CliFailure(f"job {job.job_id} {job.state.value}: {job.error}")


def wait_for(
    client: AnalysisClient, job: JobInfo, quiet: bool, timeout: float | None = None
) -> JobInfo:
    """Poll until the job ends, drawing a progress bar on stderr unless ``quiet``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    deadline = None if timeout is None else time.monotonic() + timeout
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} reports"),
        TimeElapsedColumn(),
        disable=quiet,
        transient=True,
        console=None,
    ) as bar:
        task = bar.add_task(job.state.value, total=max(job.progress.total, 1))
        while not job.state.finished:
            if deadline is not None and time.monotonic() > deadline:
                raise CliFailure(
                    f"job {job.job_id} is still {job.state.value}; follow it with `nsight-lab analysis reports logs {job.job_id} -f`"
                )
            time.sleep(WAIT_POLL_S)
            job = client.job(job.job_id)
            bar.update(
                task,
                description=f"{job.state.value}: {job.progress.phase}",
                completed=job.progress.done,
                total=max(job.progress.total, 1),
            )
    return job


def _show_job(cli: CliContext, job: JobInfo) -> None:
    printer = cli.printer
    scope = f"collection {job.collection_id}" if job.collection_id else f"session {job.session_id}"
    rows = [
        ["job", job.job_id],
        ["recipe", job.recipe],
        ["state", job.state.value],
        ["scope", scope],
        ["progress", f"{job.progress.done}/{job.progress.total} ({job.progress.phase})"],
        ["created", fmt_time(job.created_at)],
        ["finished", fmt_time(job.finished_at)],
        ["outputs", job.output_prefix],
        ["args", json.dumps(job.args)],
    ]
    if job.error:
        rows.append(["error", job.error])
    rows.extend(["warning", f"{w.file}: {w.problem}"] for w in job.warnings)
    printer.table(None, ["", ""], rows)


@analysis_group.command("ui")
@common_options
@pass_cli
@handle_errors
def ui_cmd(cli: CliContext) -> None:
    """Open the analysis API's docs page (or the session's jobs with --session) in a browser."""
    client = AnalysisClient(cli.config)
    url = client.docs_url
    if cli.session:
        url = urljoin(client.base_url, f"jobs?session_id={quote(cli.session, safe='')}")
    if cli.printer.json_mode:
        cli.printer.json({"url": url})
        return
    webbrowser.open(url)
    cli.printer.console.print(url)


# --- reports (finished and running jobs) --------------------------------------------


@analysis_group.group("reports")
def reports_group() -> None:
    """Analysis jobs and their outputs."""


@reports_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobState]), default=None)
@common_options
@pass_cli
@handle_errors
def reports_list(cli: CliContext, status: str | None) -> None:
    """Jobs, newest first."""
    jobs = _client(cli).jobs(state=JobState(status) if status else None, session_id=cli.session)
    cli.printer.emit(
        jobs,
        lambda: cli.printer.table(
            "Analysis jobs",
            ["Job", "Recipe", "State", "Progress", "Session", "Created"],
            [
                [
                    j.job_id,
                    j.recipe,
                    j.state.value,
                    f"{j.progress.done}/{j.progress.total}",
                    j.session_id,
                    fmt_time(j.created_at),
                ]
                for j in jobs
            ],
        ),
    )


@reports_group.command("info")
@click.argument("job_id")
@common_options
@pass_cli
@handle_errors
def reports_info(cli: CliContext, job_id: str) -> None:
    """One job: state, progress, warnings, outputs."""
    client = _client(cli)
    job = client.job(job_id)
    outputs = client.outputs(job_id) if job.state.finished else []

    def human() -> None:
        _show_job(cli, job)
        if outputs:
            cli.printer.table(
                "Outputs",
                ["Name", "Kind", "Size"],
                [[o.name, o.kind, fmt_size(o.size)] for o in outputs],
            )

    cli.printer.emit(
        {**job.model_dump(mode="json"), "outputs": [o.model_dump(mode="json") for o in outputs]},
        human,
    )


@reports_group.command("logs")
@click.argument("job_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the job ends.")
@click.option("--tail", type=int, default=None, help="Only the last N lines.")
@common_options
@pass_cli
@handle_errors
def reports_logs(cli: CliContext, job_id: str, follow: bool, tail: int | None) -> None:
    """A job's log (the worker's output and the service's notes)."""
    client = _client(cli)
    if cli.printer.json_mode:
        if follow:
            "".join(client.follow_logs(job_id, tail=tail))
        cli.printer.json({"job_id": job_id, "log": client.logs(job_id, tail=tail)})
        return
    if follow:
        for text in client.follow_logs(job_id, tail=tail):
            sys.stdout.write(text)
            sys.stdout.flush()
    else:
        sys.stdout.write(client.logs(job_id, tail=tail))


@reports_group.command("download")
@click.argument("job_id")
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write into (default: ./<recipe>-<job id>).",
)
@common_options
@pass_cli
@handle_errors
def reports_download(cli: CliContext, job_id: str, output_dir: Path | None) -> None:
    """Every output of a job: tables, notebook, HTML, run record, log."""
    client = _client(cli)
    job = client.job(job_id)
    target = output_dir or Path(f"{job.recipe}-{job.job_id}")
    written = [str(p) for p in download_job(client, job, target)]
    cli.printer.emit(
        {"job_id": job_id, "folder": str(target), "files": written},
        lambda: cli.printer.console.print(f"{len(written)} file(s) in {target}"),
    )


def download_job(client: AnalysisClient, job: JobInfo, target: Path) -> list[Path]:
    """Fetch every output of ``job`` into ``target``; names never escape it."""
    outputs = client.outputs(job.job_id)
    if not outputs:
        raise CliFailure(f"job {job.job_id} ({job.state.value}) has no outputs yet")
    written = []
    for out in outputs:
        path = contained_path(target, *out.name.split("/"))
        client.download_output(out, path)
        written.append(path)
    return written


@reports_group.command("open")
@click.argument("job_id")
@common_options
@pass_cli
@handle_errors
def reports_open(cli: CliContext, job_id: str) -> None:
    """The executed notebook in a running JupyterLab, else the HTML in a browser."""
    client = _client(cli)
    outputs = client.outputs(job_id)
    notebook = next((o for o in outputs if o.kind == "Notebook"), None)
    html = next((o for o in outputs if o.kind == "HTML"), None)
    if notebook is None and html is None:
        raise CliFailure(
            f"job {job_id} has no notebook or HTML (was it run with --no-notebook, or has it not finished?)"
        )
    server = running_jupyter_server()
    if notebook is not None and server is not None:
        url = _open_in_lab(client, server, job_id, notebook)
        how = "jupyterlab"
    else:
        assert html is not None or notebook is not None
        url = (html or notebook).url  # type: ignore[union-attr]
        how = "browser"
    if cli.printer.json_mode:
        cli.printer.json({"job_id": job_id, "how": how, "url": url})
        return
    webbrowser.open(url)
    cli.printer.console.print(url)


def running_jupyter_server() -> dict[str, Any] | None:
    """The first server ``jupyter server list --json`` reports, or None."""
    exe = shutil.which("jupyter")
    if exe is None:
        return None
    try:
        result = subprocess.run(
            [exe, "server", "list", "--json"], capture_output=True, text=True, timeout=15
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in result.stdout.splitlines():
        try:
            info = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(info, dict) and info.get("url") and info.get("root_dir"):
            return info
    return None


def _open_in_lab(
    client: AnalysisClient, server: dict[str, Any], job_id: str, notebook: JobOutput
) -> str:
    """Copy the notebook under the server's root and return its JupyterLab URL."""
    root = Path(server["root_dir"])
    relative = Path("nsight-lab-analysis") / job_id / Path(notebook.name).name
    client.download_output(notebook, root / relative)
    url = urljoin(server["url"], f"lab/tree/{quote(relative.as_posix())}")
    if server.get("token"):
        url += f"?token={server['token']}"
    return url


@reports_group.command("cancel")
@click.argument("job_id")
@common_options
@pass_cli
@handle_errors
def reports_cancel(cli: CliContext, job_id: str) -> None:
    """Stop a queued or running job (its worker is killed)."""
    job = _client(cli).cancel(job_id)
    cli.printer.emit(job, lambda: cli.printer.console.print(f"job {job.job_id}: {job.state.value}"))


@reports_group.command("delete")
@click.argument("job_id")
@common_options
@pass_cli
@handle_errors
def reports_delete(cli: CliContext, job_id: str) -> None:
    """Delete a job and its outputs from storage (a running job is cancelled first)."""
    _client(cli).delete(job_id)
    cli.printer.emit(
        {"job_id": job_id, "deleted": True},
        lambda: cli.printer.console.print(f"deleted job {job_id}"),
    )

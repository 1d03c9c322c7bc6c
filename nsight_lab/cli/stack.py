"""``up`` serves the stack on one machine; ``demo`` walks the whole journey on it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from nsight_lab.cli.context import CliContext, pass_cli
from nsight_lab.cli.output import CliFailure, Printer, handle_errors
from nsight_lab.client import CoordinatorClient
from nsight_lab.config import CliConfig
from nsight_lab.downloads import download_session
from nsight_lab.models import AgentState, CollectionState


@click.command()
@click.option("--port", type=int, default=8888, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path.home() / ".local/share/nsight-lab",
    show_default=True,
    help="State database and (local storage) reports.",
)
@click.option(
    "--storage-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="storage-config.yaml for S3/MinIO instead of the local folder.",
)
@handle_errors
def up(port: int, host: str, data_dir: Path, storage_config: Path | None) -> None:
    """Run the services in one process, under the gateway's route prefixes.

    \b
    Then, in another shell:
      nsight-lab configure --gw http://127.0.0.1:8888
      nsight-lab run -- python train.py
    """
    from nsight_lab.embedded.stack import StackConfig, serve_forever

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"warning: binding {host} exposes an unauthenticated API to your network", err=True
        )
    serve_forever(
        StackConfig(data_dir=data_dir, host=host, port=port, storage_config=storage_config)
    )


@dataclass
class DemoResult:
    gateway: str
    session_id: str
    collections: list[dict[str, object]]
    downloads: list[str]
    analyses: list[dict[str, object]] = field(default_factory=list)
    output_dir: str = ""


def _wait_for_agents(client: CoordinatorClient, tag: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        online = [a for a in client.agents(tag) if a.state == AgentState.ONLINE]
        if len(online) >= count:
            return
        time.sleep(0.2)
    raise CliFailure(f"only {len(online)} of {count} demo agents joined within {timeout:.0f} s")


def _launch_workloads(
    coordinator_url: str, tag: str, count: int, seconds: float
) -> list[subprocess.Popen[bytes]]:
    from nsight_lab.agent.launcher import build_run_environment

    procs = []
    for i in range(count):
        env = build_run_environment(
            dict(os.environ),
            coordinator_url=coordinator_url,
            tag=tag,
            instance=f"worker-{i}",
            process_name="trainer",
            collector="pyspy",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "nsight_lab.demo.workload", "--seconds", str(seconds)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


#: What the demo asks the analysis service for: where the hot Python code is, and
#: how long each annotated phase took.
DEMO_RECIPES = ("python_sampling_sum", "nvtx_sum")


def _analyse(
    config: CliConfig, session_id: str, output_dir: Path, printer: Printer
) -> list[dict[str, object]]:
    """Queue the demo's recipes as jobs over the session and fetch their outputs."""
    from nsight_lab.analysis_client import AnalysisClient
    from nsight_lab.analysis_models import JobCreate, JobState
    from nsight_lab.cli.analysis_cmd import download_job, wait_for

    analyses: list[dict[str, object]] = []
    with AnalysisClient(config) as client:
        jobs = [
            client.create_job(JobCreate(recipe=name, tag=config.tag, session_id=session_id))
            for name in DEMO_RECIPES
        ]
        for job in jobs:
            printer.info(f"analysis job {job.job_id}: {job.recipe} over the session…")
            job = wait_for(client, job, printer.json_mode, timeout=300)
            if job.state != JobState.SUCCEEDED:
                raise CliFailure(
                    f"analysis job {job.job_id} ({job.recipe}) {job.state.value}: {job.error}"
                )
            files = download_job(client, job, output_dir / "analysis" / job.recipe)
            analyses.append(
                {
                    "recipe": job.recipe,
                    "job_id": job.job_id,
                    "output_dir": str(output_dir / "analysis" / job.recipe),
                    "notebook": next((str(p) for p in files if p.suffix == ".ipynb"), None),
                    "html": next((str(p) for p in files if p.suffix == ".html"), None),
                    "warnings": [f"{w.file}: {w.problem}" for w in job.warnings],
                }
            )
    return analyses


@click.command()
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("nsight-lab-demo"),
    show_default=True,
    help="Where the downloaded reports and the analysis go.",
)
@click.option("--workers", type=int, default=2, show_default=True, help="Workload processes.")
@click.option("--collections", type=int, default=2, show_default=True, help="Collections to run.")
@click.option(
    "--seconds", type=float, default=2.0, show_default=True, help="Length of each collection."
)
@click.option("--no-analysis", is_flag=True, help="Skip the recipe run at the end.")
@pass_cli
@handle_errors
def demo(
    cli: CliContext,
    output_dir: Path,
    workers: int,
    collections: int,
    seconds: float,
    no_analysis: bool,
) -> None:
    """The whole journey on this machine, end to end.

    Starts the services, runs a bundled Python workload with annotated phases in
    WORKERS processes under the agent, begins a titled session, runs COLLECTIONS
    collections, ends the session, downloads every report into OUTPUT_DIR in the
    session tree, and runs recipe jobs on the analysis service whose tables,
    notebook and HTML land in OUTPUT_DIR/analysis/.
    """
    from nsight_lab.embedded.stack import BackgroundServer, StackConfig, build_app, free_port

    printer = cli.printer
    tag = cli.tag or "demo"
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nsight-lab-demo-") as data_dir:
        port = free_port()
        server = BackgroundServer(
            build_app(StackConfig(Path(data_dir), port=port)), "127.0.0.1", port
        )
        server.start()
        printer.info(f"services up at {server.url}")
        config = CliConfig(gw=server.url, tag=tag)
        procs = _launch_workloads(config.coordinator_url, tag, workers, seconds * collections + 60)
        try:
            with CoordinatorClient(config) as client:
                _wait_for_agents(client, tag, workers, timeout=60)
                printer.info(f"{workers} workload processes joined tag {tag!r}")
                session = client.begin_session(tag, "demo-baseline")
                summary = []
                for index in range(collections):
                    started = client.start(tag, session.session_id)
                    printer.info(f"collection {started.index}: recording {seconds:.1f} s…")
                    time.sleep(seconds)
                    client.stop(tag, session.session_id)
                    done = client.wait_for_collection(started, 60)
                    if done.state != CollectionState.COMPLETED:
                        raise CliFailure(
                            f"collection {index + 1} ended {done.state.value}: "
                            + "; ".join(
                                f"{p.instance}: {p.message or p.state.value}"
                                for p in done.participants
                            )
                        )
                    summary.append({"index": done.index, "state": done.state.value})
                client.end_session(session.session_id)
                session = client.session(session.session_id)
                paths = download_session(
                    client, session, output_dir, show_progress=not printer.json_mode
                )
            analyses = (
                [] if no_analysis else _analyse(config, session.session_id, output_dir, printer)
            )
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            server.stop()
    result = DemoResult(
        gateway=server.url,
        session_id=session.session_id,
        collections=summary,
        downloads=[str(p) for p in paths],
        output_dir=str(output_dir),
        analyses=analyses,
    )

    def human() -> None:
        printer.console.print(
            f"[bold green]Demo complete.[/bold green] Session {session.session_id}: "
            f"{len(summary)} collections, {len(paths)} reports in {output_dir}/"
        )
        for path in paths:
            printer.console.print(f"  {path}")
        for analysis in result.analyses:
            printer.console.print(
                f"  {analysis['recipe']}: notebook {analysis['notebook']}, HTML {analysis['html']}"
            )

    printer.emit(result.__dict__, human)

"""``up`` serves the stack on one machine; ``demo`` walks the whole journey on it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from nsight_lab.cli.context import CliContext, pass_cli
from nsight_lab.cli.output import CliFailure, Printer, handle_errors
from nsight_lab.client import CoordinatorClient
from nsight_lab.config import CliConfig
from nsight_lab.downloads import download_session
from nsight_lab.models import AgentState, CollectionState


def _auth_options(func: Any) -> Any:
    """``up``'s gateway flags (kept together so ``up --help`` reads as one section)."""
    options = [
        click.option(
            "--auth",
            "auth",
            multiple=True,
            type=click.Choice(["none", "apikey", "jwt", "oauth2"]),
            help="Put the Envoy gateway in front: none, apikey, jwt, oauth2 (jwt and "
            "oauth2 may be given together). Needs the gateway extra.",
        ),
        click.option(
            "--apikey-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="API keys, one per line: CLIENT KEY [TAG,TAG] (tags limit the key).",
        ),
        click.option(
            "--jwks-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="JWKS that signs accepted JWTs.",
        ),
        click.option("--jwks-uri", default=None, help="Or a JWKS URL Envoy fetches and refreshes."),
        click.option(
            "--issuer", default=None, help="Accepted token issuer (jwt), or the IdP (oauth2)."
        ),
        click.option("--audience", "audiences", multiple=True, help="Accepted audience (repeat)."),
        click.option("--client-id", default=None, help="OAuth2 client id at the IdP."),
        click.option(
            "--client-secret-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="OAuth2 client secret, in a file.",
        ),
        click.option(
            "--hmac-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Key that signs the OAuth2 session cookies (openssl rand -base64 32).",
        ),
        click.option(
            "--tls-cert",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Serve HTTPS with this certificate (PEM)...",
        ),
        click.option(
            "--tls-key",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="...and this private key.",
        ),
        click.option(
            "--tenant-claim",
            default="nsight_tags",
            show_default=True,
            help="Token claim listing the tags a caller may use.",
        ),
        click.option(
            "--identity-claim",
            default="sub",
            show_default=True,
            help="Token claim that names the caller.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
@_auth_options
@handle_errors
def up(
    port: int,
    host: str,
    data_dir: Path,
    storage_config: Path | None,
    auth: tuple[str, ...],
    **gateway_flags: Any,
) -> None:
    """Run the services in one process, under the gateway's route prefixes.

    \b
    Then, in another shell:
      nsight-lab configure --gw http://127.0.0.1:8888
      nsight-lab run -- python train.py
    \b
    With a gateway (Envoy) that checks every request:
      nsight-lab up --auth apikey --apikey-file keys.txt
      nsight-lab up --host 0.0.0.0 --auth jwt --issuer https://idp \\
          --audience nsight-lab --jwks-file jwks.json
      nsight-lab up --auth oauth2 --issuer https://idp --client-id nsight \\
          --client-secret-file secret --hmac-file hmac --tls-cert c.pem --tls-key k.pem
    """
    from nsight_lab.embedded.stack import StackConfig, serve_forever

    config = StackConfig(data_dir=data_dir, host=host, port=port, storage_config=storage_config)
    if not auth:
        if host not in LOOPBACK:
            raise CliFailure(
                f"refusing to serve an unauthenticated API on {host}: anyone who can reach it "
                "could start profiling and download every report. Add --auth apikey|jwt|"
                "oauth2, or --auth none to accept that risk."
            )
        serve_forever(config)
        return
    _serve_behind_gateway(config, auth, gateway_flags)


def _serve_behind_gateway(config: Any, auth: tuple[str, ...], flags: dict[str, Any]) -> None:
    from nsight_lab.gateway.envoy import EnvoyError, envoy_binary

    try:
        envoy_binary()
    except EnvoyError as exc:
        raise CliFailure(f"--auth: {exc}") from exc
    from nsight_lab.embedded.gateway import GatewayOptions, is_loopback, serve_with_gateway
    from nsight_lab.gateway.render import RenderError

    if auth == ("none",) and not is_loopback(config.host):
        click.secho(
            "\n  WARNING: --auth none on "
            f"{config.host}: NO AUTHENTICATION.\n  Anyone who can reach port {config.port} can "
            "start and stop profiling and download every report.\n  Use --auth apikey, jwt "
            "or oauth2 for anything but a trusted network.\n",
            fg="red",
            bold=True,
            err=True,
        )
    options = GatewayOptions(
        modes=auth,
        apikey_file=flags["apikey_file"],
        jwks_file=flags["jwks_file"],
        jwks_uri=flags["jwks_uri"],
        issuer=flags["issuer"],
        audiences=tuple(flags["audiences"]),
        client_id=flags["client_id"],
        client_secret_file=flags["client_secret_file"],
        hmac_file=flags["hmac_file"],
        tls_cert=flags["tls_cert"],
        tls_key=flags["tls_key"],
        tenant_claim=flags["tenant_claim"],
        identity_claim=flags["identity_claim"],
    )

    def announce(stack: Any) -> None:
        click.echo(
            f"nsight-lab gateway ({'+'.join(auth)}) at {stack.url}\n"
            f"  services (reachable only through the gateway): {stack.services_url}\n"
            f"  Envoy stats: {stack.admin_url}/stats/prometheus\n"
            f"  Envoy log: {config.data_dir / 'gateway' / 'envoy.log'}",
            err=True,
        )

    try:
        serve_with_gateway(config, options, announce)
    except (RenderError, EnvoyError) as exc:
        raise CliFailure(str(exc)) from exc


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

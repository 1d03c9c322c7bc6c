"""The profiling verbs users know: configure, sessions, start/stop, ls, download, status."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from nsight_lab.cli.context import CliContext, common_options, pass_cli
from nsight_lab.cli.output import CliFailure, fmt_size, fmt_time, handle_errors
from nsight_lab.client import CoordinatorClient
from nsight_lab.config import AuthSettings, load_config, save_config
from nsight_lab.models import CollectionInfo, FileInfo, SessionInfo
from nsight_lab.naming import collection_folder, contained_path, safe_component, session_folder


@click.command()
@click.option("--gw", required=True, help="Gateway URL, e.g. http://localhost:8888")
@click.option("--apikey", default=None, help="API key (prefer the NSIGHT_API_KEY variable).")
@click.option("--issuer", default=None, help="OIDC issuer URL for OAuth2.")
@click.option("--clientid", default=None, help="OAuth2 client id (with --issuer).")
@click.option(
    "--oauth-flow-type",
    type=click.Choice(["authorization_code", "device_code"]),
    default=None,
    help="OAuth2 flow the CLI uses to log in.",
)
@click.option("--authorization-endpoint", default=None, help="Override the discovered endpoint.")
@click.option("--token-endpoint", default=None, help="Override the discovered endpoint.")
@click.option("--ca-cert", default=None, type=click.Path(dir_okay=False), help="CA bundle for TLS.")
@common_options
@pass_cli
@handle_errors
def configure(
    cli: CliContext,
    gw: str,
    apikey: str | None,
    issuer: str | None,
    clientid: str | None,
    oauth_flow_type: str | None,
    authorization_endpoint: str | None,
    token_endpoint: str | None,
    ca_cert: str | None,
) -> None:
    """Store the gateway URL and credentials in ~/.nsight-cloud.conf (mode 0600).

    \b
    Examples:
      nsight-lab configure --gw http://localhost:8888
      nsight-lab configure --gw https://gw.example:8888 --apikey "$NSIGHT_API_KEY"
    """
    if not gw.startswith(("http://", "https://")):
        raise CliFailure(f"--gw must be an http:// or https:// URL, got {gw!r}", 2)
    if (issuer is None) != (clientid is None):
        raise CliFailure("--issuer and --clientid must be given together", 2)
    config = load_config()
    tag = cli.tag or config.tag
    new = config.model_copy(
        update={
            "gw": gw.rstrip("/"),
            "tag": tag,
            "ca_cert": ca_cert,
            "auth": AuthSettings(
                apikey=apikey,
                issuer=issuer,
                clientid=clientid,
                oauth_flow_type=oauth_flow_type,
                authorization_endpoint=authorization_endpoint,
                token_endpoint=token_endpoint,
            ),
        }
    )
    path = save_config(new)
    cli.printer.emit(
        {"config": str(path), "gw": new.gw, "tag": new.tag},
        lambda: cli.printer.console.print(f"Saved {path} (gateway {new.gw}, tag {new.tag})"),
    )


def _print_session(cli: CliContext, session: SessionInfo, verb: str) -> None:
    def human() -> None:
        title = f" {session.title!r}" if session.title else ""
        cli.printer.console.print(
            f"{verb} session {session.session_id}{title} on tag {session.tag} ({session.state.value})"
        )

    cli.printer.emit(session, human)


def _print_collection(cli: CliContext, collection: CollectionInfo, verb: str) -> None:
    def human() -> None:
        cli.printer.console.print(
            f"{verb} collection {collection.index} ({collection.collection_id}) of session "
            f"{collection.session_id}: {collection.state.value}, "
            f"{len(collection.participants)} agent(s)"
        )
        if collection.participants:
            cli.printer.table(
                None,
                ["agent", "process", "instance", "state", "message"],
                [
                    (p.agent_id[:8], p.process_name, p.instance, p.state.value, p.message)
                    for p in collection.participants
                ],
            )

    cli.printer.emit(collection, human)


@click.command("session-begin")
@click.option(
    "--title", "-t", default=None, help="Human-readable title; names the download folder."
)
@common_options
@pass_cli
@handle_errors
def session_begin(cli: CliContext, title: str | None) -> None:
    """Open a profiling session on the tag (optional: profiler-start opens one)."""
    _print_session(cli, cli.client.begin_session(cli.effective_tag, title), "Began")


@click.command("profiler-start")
@click.option(
    "--duration", type=float, default=None, help="Stop by itself after this many seconds."
)
@click.option("--delay", type=float, default=None, help="Wait this many seconds before recording.")
@common_options
@pass_cli
@handle_errors
def profiler_start(cli: CliContext, duration: float | None, delay: float | None) -> None:
    """Start collecting on every agent of the tag at once."""
    collection = cli.client.start(cli.effective_tag, cli.session, duration, delay)
    _print_collection(cli, collection, "Started")


@click.command("profiler-stop")
@click.option("--wait/--no-wait", default=True, help="Wait until every agent has uploaded.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait.")
@common_options
@pass_cli
@handle_errors
def profiler_stop(cli: CliContext, wait: bool, timeout: float) -> None:
    """Stop the running collection; the session stays open."""
    collection = cli.client.stop(cli.effective_tag, cli.session)
    if wait:
        collection = wait_for_collection(cli.client, collection, timeout, cli)
    _print_collection(cli, collection, "Stopped")


def wait_for_collection(
    client: CoordinatorClient, collection: CollectionInfo, timeout: float, cli: CliContext | None
) -> CollectionInfo:
    """Poll until the collection leaves STOPPING (every agent uploaded, failed or lost)."""
    import time

    from nsight_lab.models import CollectionState

    deadline = time.monotonic() + timeout
    while collection.state in (CollectionState.STOPPING, CollectionState.RUNNING):
        if time.monotonic() > deadline:
            if cli:
                cli.printer.info(
                    f"[yellow]still waiting for uploads after {timeout:.0f} s; "
                    "check later with `nsight-lab ls`[/yellow]"
                )
            break
        time.sleep(0.2)
        collection = client.collection(collection.collection_id)
    return collection


@click.command("session-end")
@common_options
@pass_cli
@handle_errors
def session_end(cli: CliContext) -> None:
    """End the session (stopping a running collection first)."""
    session = cli.client.resolve_session(cli.effective_tag, cli.session)
    _print_session(cli, cli.client.end_session(session.session_id), "Ended")


@click.command("sessions")
@click.option("--all-tags", is_flag=True, help="Sessions of every tag, not just this one.")
@common_options
@pass_cli
@handle_errors
def sessions(cli: CliContext, all_tags: bool) -> None:
    """List sessions, newest first, with their collections."""
    found = cli.client.sessions(tag=None if all_tags else cli.effective_tag)

    def human() -> None:
        cli.printer.table(
            None,
            ["session", "tag", "title", "state", "collections", "created", "ended"],
            [
                (
                    s.session_id,
                    s.tag,
                    s.title or "",
                    s.state.value,
                    len(s.collections),
                    fmt_time(s.created_at),
                    fmt_time(s.ended_at),
                )
                for s in found
            ],
        )

    cli.printer.emit(found, human)


@click.command("ls")
@common_options
@pass_cli
@handle_errors
def ls(cli: CliContext) -> None:
    """List the reports of a session."""
    session = cli.client.resolve_session(cli.effective_tag, cli.session)
    files = cli.client.files(session_id=session.session_id)

    def human() -> None:
        cli.printer.table(
            f"session {session.session_id} {session.title or ''} ({session.state.value})",
            ["collection", "file", "process", "instance", "collector", "size", "sha256"],
            [
                (
                    f.collection_index,
                    f.filename,
                    f.process_name,
                    f.instance,
                    f.collector,
                    fmt_size(f.size),
                    f.sha256[:12],
                )
                for f in files
            ],
        )

    cli.printer.emit(files, human)


def _already_there(path: Path, info: FileInfo) -> bool:
    if not path.is_file() or path.stat().st_size != info.size:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest() == info.sha256


def download_session(
    client: CoordinatorClient,
    session: SessionInfo,
    output_dir: Path,
    *,
    flat: bool = False,
    show_progress: bool = True,
) -> list[Path]:
    """Download every report of ``session`` under ``output_dir``; never writes outside it."""
    files = client.files(session_id=session.session_id)
    root = (
        output_dir
        if flat
        else contained_path(
            output_dir, session_folder(session.created_at, session.title, session.session_id)
        )
    )
    plan: list[tuple[FileInfo, Path]] = []
    for info in files:
        name = safe_component(info.filename, fallback=info.file_id)
        parts = [name] if flat else [collection_folder(info.collection_index), name]
        plan.append((info, contained_path(output_dir if flat else root, *parts)))
    written: list[Path] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task("downloading", total=sum(i.size for i, _ in plan))
        for info, path in plan:
            if _already_there(path, info):
                progress.advance(task, info.size)
            else:
                client.download_file(info, path, on_bytes=lambda n: progress.advance(task, n))
            written.append(path)
    return written


@click.command()
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to download into.",
)
@click.option("--flat", is_flag=True, help="All files in one folder instead of the session tree.")
@common_options
@pass_cli
@handle_errors
def download(cli: CliContext, output_dir: Path, flat: bool) -> None:
    """Download a session's reports, checked against their sha256.

    \b
    Layout: <YYYYMMDDHHMMSS>-<title>/collection-<N>/<process>_<tag>_<instance>_<stub>.<ext>
    Files already present with the right checksum are not fetched again.
    """
    session = cli.client.resolve_session(cli.effective_tag, cli.session)
    paths = download_session(
        cli.client, session, output_dir, flat=flat, show_progress=not cli.printer.json_mode
    )
    cli.printer.emit(
        {"session_id": session.session_id, "files": [str(p) for p in paths]},
        lambda: cli.printer.console.print(
            f"Downloaded {len(paths)} file(s) of session {session.session_id} into {output_dir}"
        ),
    )


@click.command()
@common_options
@pass_cli
@handle_errors
def status(cli: CliContext) -> None:
    """Show the tag's agents and its active session."""
    tag_status = cli.client.status(cli.effective_tag)

    def human() -> None:
        cli.printer.console.print(f"Gateway {cli.config.gw}, tag [bold]{tag_status.tag}[/bold]")
        cli.printer.table(
            f"{len(tag_status.agents)} agent(s)",
            ["agent", "process", "instance", "host", "pid", "collector", "state", "last seen"],
            [
                (
                    a.agent_id[:8],
                    a.process_name,
                    a.instance,
                    a.host,
                    a.pid,
                    a.collector,
                    a.state.value,
                    fmt_time(a.last_seen),
                )
                for a in tag_status.agents
            ],
        )
        session = tag_status.active_session
        if session is None:
            cli.printer.console.print("No active session.")
        else:
            running = [c for c in session.collections if c.state.value == "RUNNING"]
            cli.printer.console.print(
                f"Active session {session.session_id} {session.title or ''}: "
                f"{len(session.collections)} collection(s)"
                + (f", collection {running[0].index} recording" if running else "")
            )

    cli.printer.emit(tag_status, human)


COMMANDS = [
    configure,
    session_begin,
    profiler_start,
    profiler_stop,
    session_end,
    sessions,
    ls,
    download,
    status,
]

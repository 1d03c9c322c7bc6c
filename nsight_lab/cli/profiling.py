"""The profiling verbs users know: configure, sessions, start/stop, ls, download, status."""

from __future__ import annotations

from pathlib import Path

import click

from nsight_lab.cli.context import CliContext, common_options, pass_cli
from nsight_lab.cli.output import CliFailure, Column, fmt_ago, fmt_size, fmt_time, handle_errors
from nsight_lab.config import AuthSettings, load_config, save_config
from nsight_lab.downloads import download_session
from nsight_lab.models import CollectionInfo, CollectionState, SessionInfo


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
        collection = cli.client.wait_for_collection(collection, timeout)
        if collection.state in (CollectionState.RUNNING, CollectionState.STOPPING):
            cli.printer.info(
                f"[yellow]still waiting for uploads after {timeout:.0f} s; "
                "check later with `nsight-lab ls`[/yellow]"
            )
    _print_collection(cli, collection, "Stopped")


@click.command("session-end")
@common_options
@pass_cli
@handle_errors
def session_end(cli: CliContext) -> None:
    """End the session (stopping a running collection first)."""
    session = cli.client.resolve_session(cli.effective_tag, cli.session)
    _print_session(cli, cli.client.end_session(session.session_id), "Ended")


def _ended(session: SessionInfo) -> str:
    """When the session ended: the time alone when it ended the day it began."""
    began, ended = fmt_time(session.created_at), fmt_time(session.ended_at)
    return ended[11:16] if ended[:10] == began[:10] else ended[:16]


@click.command("sessions")
@click.option("--all-tags", is_flag=True, help="Sessions of every tag, not just this one.")
@common_options
@pass_cli
@handle_errors
def sessions(cli: CliContext, all_tags: bool) -> None:
    """List sessions, newest first, with their collections."""
    found = cli.client.sessions(tag=None if all_tags else cli.effective_tag)

    def human() -> None:
        if not found:
            cli.printer.console.print("No sessions yet; begin one with `nsight-lab session-begin`.")
            return
        cli.printer.fitted_table(
            [
                Column("session", "keep"),
                Column("tag"),
                Column("title"),
                Column("state", "keep"),
                Column("colls", "keep", "right"),
                Column("created", "keep"),
                Column("ended", "keep"),
            ],
            [
                [s.session_id, s.tag, s.title or "", s.state.value, len(s.collections),
                 fmt_time(s.created_at)[:16], _ended(s)]
                for s in found
            ],
        )  # fmt: skip

    cli.printer.emit(found, human)


#: How ``ls`` names a file's conversion for the Timeline and recipes.
TRACE_STATE = {"converted": "ready", "pending": "pending", "failed": "FAILED", "skipped": "skipped"}


@click.command("ls")
@click.option("--long", "-l", "long_", is_flag=True, help="Add file names, sha256 and times.")
@common_options
@pass_cli
@handle_errors
def ls(cli: CliContext, long_: bool) -> None:
    """List the reports of a session (the tag's active or latest one, or --session).

    \b
    One line per file: collection, file id (what `View trace`, `%nsight view` and
    the REST API take), process, instance, collector, kind, size, and whether its
    converted trace is ready. --long adds the download name, sha256 and upload
    time; --output json has every field.
    """
    session = cli.client.resolve_session(cli.effective_tag, cli.session)
    files = cli.client.files(session_id=session.session_id)

    def human() -> None:
        total = sum(f.size for f in files)
        title = f" {session.title!r}" if session.title else ""
        cli.printer.console.print(
            f"Session {session.session_id}{title} ({session.state.value}), tag "
            f"{session.tag}: {len(files)} file(s), {fmt_size(total)}"
        )
        if not files:
            return
        columns = [
            Column("#", "keep", "right"),
            Column("file id", "keep"),
            Column("process"),
            Column("instance"),
            Column("collector", "keep"),
            Column("kind", "keep"),
            Column("size", "keep", "right"),
            Column("trace", "keep"),
        ]
        rows: list[list[object]] = [
            [f.collection_index, f.file_id, f.process_name, f.instance, f.collector, f.kind,
             fmt_size(f.size), TRACE_STATE.get(f.conversion.state.value, f.conversion.state.value)]
            for f in files
        ]  # fmt: skip
        if long_:
            columns += [
                Column("file", min_width=12),
                Column("sha256", "keep"),
                Column("uploaded", "keep"),
            ]
            for row, f in zip(rows, files, strict=True):
                row += [f.filename, f.sha256, fmt_time(f.created_at)]
        cli.printer.fitted_table(columns, rows)
        for f in files:
            if f.conversion.state.value == "failed":
                cli.printer.console.print(
                    f"{f.file_id}: cannot be converted: {f.conversion.error or 'no reason given'}",
                    style="red",
                )

    cli.printer.emit(files, human)


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
@click.option("--long", "-l", "long_", is_flag=True, help="Add hosts, full agent ids and times.")
@common_options
@pass_cli
@handle_errors
def status(cli: CliContext, long_: bool) -> None:
    """Show the tag's agents and its active session."""
    tag_status = cli.client.status(cli.effective_tag)

    def human() -> None:
        online = sum(a.state.value == "ONLINE" for a in tag_status.agents)
        cli.printer.console.print(
            f"Gateway {cli.config.gw}, tag [bold]{tag_status.tag}[/bold]: "
            f"{online} of {len(tag_status.agents)} agent(s) online"
        )
        if tag_status.agents:
            columns = [
                Column("agent", "keep"),
                Column("process"),
                Column("instance"),
                Column("host"),
                Column("pid", "keep", "right"),
                Column("collector", "keep"),
                Column("state", "keep"),
                Column("seen", "keep"),
            ]
            rows: list[list[object]] = [
                [a.agent_id if long_ else a.agent_id[:8], a.process_name, a.instance, a.host,
                 a.pid, a.collector, a.state.value, fmt_ago(a.last_seen)]
                for a in tag_status.agents
            ]  # fmt: skip
            if long_:
                columns += [Column("registered", "keep"), Column("last seen", "keep")]
                for row, a in zip(rows, tag_status.agents, strict=True):
                    row += [fmt_time(a.registered_at), fmt_time(a.last_seen)]
            cli.printer.fitted_table(columns, rows)
        session = tag_status.active_session
        if session is None:
            cli.printer.console.print("No active session.")
        else:
            running = [c for c in session.collections if c.state.value == "RUNNING"]
            title = f" {session.title!r}" if session.title else ""
            cli.printer.console.print(
                f"Active session {session.session_id}{title}: "
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

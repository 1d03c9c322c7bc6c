"""The profiling verbs users know: sessions, start/stop, ls, download, status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from nsight_lab.cli.capture import capture_from, capture_options
from nsight_lab.cli.context import CliContext, common_options, pass_cli
from nsight_lab.cli.output import (
    CliFailure,
    Column,
    describe_capture,
    fmt_ago,
    fmt_overhead,
    fmt_size,
    fmt_steps,
    fmt_time,
    handle_errors,
)
from nsight_lab.downloads import download_session
from nsight_lab.models import CollectionInfo, CollectionState, SessionInfo


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
        capture = describe_capture(collection)
        if capture:
            cli.printer.console.print(capture)
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
@click.option("--preset", default=None, help="Use a stored preset (nsight-lab preset list).")
@click.option("--no-preset", is_flag=True, help="Ignore the tag's default preset.")
@click.option(
    "--wait/--no-wait",
    default=None,
    help="Wait until the collection ends (default: with --steps, which ends by itself).",
)
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait.")
@capture_options
@common_options
@pass_cli
@handle_errors
def profiler_start(
    cli: CliContext,
    duration: float | None,
    delay: float | None,
    preset: str | None,
    no_preset: bool,
    wait: bool | None,
    timeout: float,
    **flags: Any,
) -> None:
    """Start collecting on every agent of the tag at once.

    \b
    Examples:
      nsight-lab profiler-start
      nsight-lab profiler-start --steps 3 --skip 10      # the same 3 steps on every rank
      nsight-lab profiler-start --record-shapes --with-stack --max-overhead 10%
      nsight-lab profiler-start --rate 250 --native      # py-spy agents
      nsight-lab profiler-start -O sample=none           # nsys start --sample=none
    """
    capture = capture_from(flags)
    if no_preset:
        if preset:
            raise CliFailure("--preset and --no-preset contradict each other", 2)
        capture["preset"] = ""
    elif preset:
        capture["preset"] = preset
    collection = cli.client.start(cli.effective_tag, cli.session, duration, delay, **capture)
    if wait if wait is not None else collection.steps is not None:
        cli.printer.info(
            f"waiting for collection {collection.index} to end (up to {timeout:.0f} s)..."
        )
        collection = _wait(cli, collection, timeout, "stop it with `nsight-lab profiler-stop`")
        _print_collection(cli, collection, "Collected")
        return
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
        collection = _wait(cli, collection, timeout, "check later with `nsight-lab ls`")
    _print_collection(cli, collection, "Stopped")


def _wait(cli: CliContext, collection: CollectionInfo, timeout: float, hint: str) -> CollectionInfo:
    """Wait for the collection to settle; say what to do if it has not by ``timeout``."""
    collection = cli.client.wait_for_collection(collection, timeout)
    if collection.state in (CollectionState.RUNNING, CollectionState.STOPPING):
        cli.printer.info(f"[yellow]still waiting after {timeout:.0f} s; {hint}[/yellow]")
    return collection


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
    converted trace is ready ("in pod" for a report its agent keeps in the Pod,
    storage_type pod: `download` relays it from there). --long adds the download
    name, sha256 and upload time; --output json has every field.
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
        # Reports of a step-aligned capture say which steps they hold and what the
        # profiler cost; the columns appear only when some report has them.
        # A file kept in its Pod (storage_type pod) has no trace by design: its trace
        # cell says where it lives instead, which keeps the table within 80 columns.
        held = [f for f in files if f.location == "agent"]
        for row, f in zip(rows, files, strict=True):
            if f.location == "agent":
                row[7] = "in pod"
        if any(fmt_steps(f.metadata) or fmt_overhead(f.metadata) for f in files):
            columns += [Column("steps", "keep"), Column("overhead", "keep", "right")]
            for row, f in zip(rows, files, strict=True):
                row += [fmt_steps(f.metadata), fmt_overhead(f.metadata)]
        if long_:
            columns += [
                Column("file", min_width=12),
                Column("sha256", "keep"),
                Column("uploaded", "keep"),
            ]
            for row, f in zip(rows, files, strict=True):
                row += [f.filename, f.sha256, fmt_time(f.created_at)]
        cli.printer.fitted_table(columns, rows)
        if held:
            cli.printer.console.print(
                f"{len(held)} file(s) in pod: kept in its Pod by the agent that recorded it,\n"
                "not in storage; `download` relays it from there while that agent runs"
            )
        for f in files:
            # A file kept in its Pod is not converted by design; the line above says why.
            if f.conversion.state.value == "failed" and f.location != "agent":
                cli.printer.console.print(
                    f"{f.file_id}: cannot be converted: {f.conversion.error or 'no reason given'}",
                    style="red",
                )
            for warning in f.metadata.get("warnings") or []:
                cli.printer.console.print(f"{f.file_id}: {warning}", style="yellow")

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
                columns += [
                    Column("records", min_width=8),
                    Column("registered", "keep"),
                    Column("last seen", "keep"),
                ]
                for row, a in zip(rows, tag_status.agents, strict=True):
                    row += [
                        ",".join(a.capabilities),
                        fmt_time(a.registered_at),
                        fmt_time(a.last_seen),
                    ]
            cli.printer.fitted_table(columns, rows)
        for a in tag_status.agents:
            if a.collector_note:
                cli.printer.console.print(
                    f"  {a.instance}: {a.collector}, because {a.collector_note}"
                )
            for finding in a.preflight:
                cli.printer.console.print(f"  {a.instance}: nsys pre-flight: {finding}")
            check = a.readiness.get(a.collector)
            if isinstance(check, dict) and not check.get("ok", True):
                cli.printer.console.print(
                    f"[yellow]  {a.instance}: {a.collector} cannot record: "
                    f"{'; '.join(check.get('missing') or [])}.[/yellow] Fix: {check.get('fix')}"
                )
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
    session_begin,
    profiler_start,
    profiler_stop,
    session_end,
    sessions,
    ls,
    download,
    status,
]

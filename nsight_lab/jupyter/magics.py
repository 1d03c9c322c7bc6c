"""``%nsight`` and ``%%nsight_profile``: the CLI's verbs inside a notebook, plus in-kernel profiling.

``%load_ext nsight_lab`` registers them. Every ``%nsight`` subcommand mirrors the CLI
command of the same name and uses the same client and configuration; failures are
raised as ``UsageError`` so the notebook shows one line that says what to do, not a
traceback::

    %nsight [--tag T] status | begin [--title T] | start | stop | end | ls
    %nsight start [--steps K [--skip N]] [--record-shapes ...] [--preset P] [-O NAME=VALUE]
    %nsight download [-o DIR] [--flat]
    %nsight view REPORT_ID [REPORT_ID ...] | %nsight view --collection ID
    %nsight configure --gw URL [--tag T]
    df = %nsight recipe NAME [--input PATH ...] [--table T] [--ARG VALUE ...]

    %%nsight_profile [--rate N] [--top N] [--no-timeline]
"""

from __future__ import annotations

import argparse
import shlex
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from nsight_lab.agent.collectors.options import CATALOG
from nsight_lab.cli.capture import FLAGGED, capture_from
from nsight_lab.cli.output import CliFailure
from nsight_lab.client import CoordinatorClient
from nsight_lab.config import CliConfig
from nsight_lab.jupyter.widgets._connection import explain, resolve_config
from nsight_lab.models import CollectionState, SessionState

STOP_WAIT_S = 60.0
DOWNLOAD_DIR = Path("nsight-downloads")


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as ``UsageError`` instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or self.format_usage())


def add_capture_arguments(parser: argparse.ArgumentParser) -> None:
    """The capture flags of ``profiler-start``, from the same option catalog."""
    for collector in FLAGGED:
        for spec in CATALOG[collector].values():
            if spec.type is bool:
                parser.add_argument(spec.flag, dest=f"opt_{spec.name}", action="store_true",
                                    default=None)  # fmt: skip
            else:
                parser.add_argument(spec.flag, dest=f"opt_{spec.name}", type=spec.type)
    parser.add_argument("-O", "--option", dest="raw_options", action="append", default=[])
    parser.add_argument("--steps", type=int)
    parser.add_argument("--skip", type=int)
    parser.add_argument("--step-timeout", dest="step_timeout", type=float)
    parser.add_argument("--max-overhead", dest="max_overhead")
    parser.add_argument("--preset")
    parser.add_argument("--no-preset", action="store_true")
    parser.add_argument("--timeout", type=float, default=300.0)


def _line_parser() -> _Parser:
    parser = _Parser(prog="%nsight", add_help=False)
    parser.add_argument("--tag", help="tag of the agents to act on (default: configured tag)")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    commands.required = True

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, add_help=False)
        sub.add_argument("--tag", default=argparse.SUPPRESS)
        return sub

    command("status", "agents and active session of the tag")
    command("begin", "begin a session").add_argument("--title")
    start = command("start", "start a collection on every agent of the tag")
    start.add_argument("--duration", type=float)
    start.add_argument("--delay", type=float)
    add_capture_arguments(start)
    stop = command("stop", "stop the running collection and wait for uploads")
    stop.add_argument("--timeout", type=float, default=STOP_WAIT_S)
    command("end", "end the active session")
    command("ls", "the session's files, as a DataFrame")
    download = command("download", "download the session's reports")
    download.add_argument("-o", "--output-dir", type=Path, default=DOWNLOAD_DIR)
    download.add_argument("--flat", action="store_true")
    view = command("view", "stored reports as a Timeline (several: one axis)")
    view.add_argument("reports", nargs="*", metavar="REPORT_ID")
    view.add_argument("--collection", help="every report of this collection")
    configure = command("configure", "point this kernel at a gateway")
    configure.add_argument("--gw")
    recipe = command("recipe", "run a recipe locally; returns its main table")
    recipe.add_argument("name")
    recipe.add_argument("--input", action="append", nargs="+", default=None)
    recipe.add_argument("--output", type=Path)
    recipe.add_argument("--table")
    return parser


@magics_class
class NsightMagics(Magics):
    """State kept per kernel: the gateway and tag chosen with ``%nsight configure``."""

    def __init__(self, shell: InteractiveShell) -> None:
        super().__init__(shell)
        self.gw: str | None = None
        self.tag: str | None = None
        #: The last ``%nsight recipe`` run (all tables: ``.tables``) and ``%%nsight_profile``.
        self.last_recipe: Any = None
        self.last_profile: Any = None

    # --- plumbing -----------------------------------------------------------------------

    def settings(self) -> CliConfig:
        try:
            config = resolve_config(None, self.gw)
        except Exception as exc:
            raise UsageError(explain(exc, self.gw or "?")) from None
        return config.model_copy(update={"tag": self.tag}) if self.tag else config

    def _fail(self, exc: Exception, config: CliConfig) -> NoReturn:
        raise UsageError(explain(exc, config.gw)) from None

    # --- %nsight ------------------------------------------------------------------------

    @line_magic
    def nsight(self, line: str) -> Any:
        """A CLI verb in the notebook: ``%nsight status|begin|start|stop|end|ls|download|view|recipe``."""
        try:
            tokens = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%nsight: {exc}") from None
        args, extra = _line_parser().parse_known_args(tokens)
        if extra and args.command != "recipe":
            raise UsageError(f"%nsight {args.command}: unexpected argument(s) {' '.join(extra)}")
        if args.command == "configure":
            return self._configure(args)
        config = self.settings()
        tag = args.tag or config.tag
        if args.command == "recipe":
            return self._recipe(args, extra, config, tag)
        if args.command == "view":
            return self._view(args, config)
        with CoordinatorClient(config) as client:
            try:
                return getattr(self, f"_{args.command}")(client, tag, args)
            except UsageError:
                raise
            except Exception as exc:
                self._fail(exc, config)

    def _configure(self, args: argparse.Namespace) -> None:
        if args.gw:
            self.gw = args.gw
        if args.tag:
            self.tag = args.tag
        config = self.settings()
        print(f"nsight-lab: gateway {config.gw}, tag {config.tag} (this kernel only)")

    def _status(self, client: CoordinatorClient, tag: str, _args: argparse.Namespace) -> None:
        status = client.status(tag)
        online = [a for a in status.agents if a.state.value == "ONLINE"]
        print(f"tag {tag}: {len(online)} agent(s) online of {len(status.agents)}")
        for agent in status.agents:
            print(
                f"  {agent.process_name} {agent.instance} pid {agent.pid} "
                f"[{agent.collector}] {agent.state.value}"
            )
        session = status.active_session
        if session is None:
            print("no active session")
        else:
            running = [c for c in session.collections if c.state == CollectionState.RUNNING]
            print(
                f"active session {session.title or '(untitled)'} ({session.session_id}), "
                f"{len(session.collections)} collection(s)" + (", recording" if running else "")
            )

    def _view(self, args: argparse.Namespace, config: CliConfig) -> Any:
        """``%nsight view``: file ids from ``%nsight ls``, or ``--collection``."""
        from nsight_lab.jupyter.trace_cache import ReportUnreadable
        from nsight_lab.jupyter.widgets.timeline import Timeline

        if bool(args.reports) == bool(args.collection):
            raise UsageError(
                "%nsight view: give REPORT_ID(s) (the file_id column of %nsight ls) "
                "or --collection ID, not both"
            )
        try:
            if args.collection:
                return Timeline.from_collection(args.collection, config=config)
            return Timeline.from_report(args.reports, config=config)
        except (ReportUnreadable, ValueError) as exc:
            raise UsageError(f"%nsight view: {exc}") from None

    def _begin(self, client: CoordinatorClient, tag: str, args: argparse.Namespace) -> None:
        session = client.begin_session(tag, args.title)
        print(f"began session {session.title or '(untitled)'} ({session.session_id}) on tag {tag}")

    def _start(self, client: CoordinatorClient, tag: str, args: argparse.Namespace) -> None:
        """``%nsight start [--steps K --skip N] [--record-shapes ...] [--preset P]``: the
        capture flags of ``nsight-lab profiler-start``; a step capture waits until it ends."""
        try:
            capture = capture_from(dict(vars(args)))
        except CliFailure as exc:
            raise UsageError(f"%nsight start: {exc.message}") from None
        if args.no_preset:
            capture["preset"] = ""
        elif args.preset:
            capture["preset"] = args.preset
        collection = client.start(tag, duration_s=args.duration, delay_s=args.delay, **capture)
        print(f"started collection {collection.index} on {len(collection.participants)} agent(s)")
        if collection.steps is not None:
            collection = client.wait_for_collection(collection, args.timeout)
            parts = ", ".join(
                f"{p.process_name}/{p.instance}: {p.state.value}"
                + (f" ({p.message})" if p.state.value == "FAILED" else "")
                for p in collection.participants
            )
            print(f"collection {collection.index} {collection.state.value} ({parts})")

    def _stop(self, client: CoordinatorClient, tag: str, args: argparse.Namespace) -> None:

        collection = client.wait_for_collection(client.stop(tag), args.timeout)
        parts = ", ".join(
            f"{p.process_name}/{p.instance}: {p.state.value}" for p in collection.participants
        )
        print(f"collection {collection.index} {collection.state.value} ({parts})")

    def _end(self, client: CoordinatorClient, tag: str, _args: argparse.Namespace) -> None:
        session = client.resolve_session(tag, None)
        if session.state != SessionState.ACTIVE:
            raise UsageError(f"tag {tag!r} has no active session; begin one with %nsight begin")
        ended = client.end_session(session.session_id)
        print(f"ended session {ended.title or '(untitled)'} ({ended.session_id})")

    def _ls(self, client: CoordinatorClient, tag: str, _args: argparse.Namespace) -> pd.DataFrame:
        session = client.resolve_session(tag, None)
        files = client.files(session_id=session.session_id)
        return pd.DataFrame(
            {
                "collection": [f.collection_index for f in files],
                "file": [f.filename for f in files],
                "kind": [f.kind for f in files],
                "size": [f.size for f in files],
                "created": [f.created_at for f in files],
                "file_id": [f.file_id for f in files],
            }
        )

    def _download(self, client: CoordinatorClient, tag: str, args: argparse.Namespace) -> Path:
        from nsight_lab.downloads import download_session

        session = client.resolve_session(tag, None)
        written = download_session(
            client, session, args.output_dir, flat=args.flat, show_progress=False
        )
        root = args.output_dir if args.flat or not written else written[0].parent.parent
        print(f"{len(written)} file(s) of session {session.title or session.session_id} in {root}")
        return root

    def _recipe(
        self, args: argparse.Namespace, extra: list[str], config: CliConfig, tag: str
    ) -> pd.DataFrame:
        from nsight_lab.cli.analysis_cmd import parse_recipe_args
        from nsight_lab.recipe import RecipeError, run_recipe
        from nsight_lab.recipe.inputs import is_report

        try:
            recipe_args = parse_recipe_args(extra)
        except Exception as exc:
            raise UsageError(f"%nsight recipe: {exc}") from None
        if args.input:
            inputs: list[str | Path] = [p for group in args.input for p in group]
        else:
            with CoordinatorClient(config) as client:
                try:
                    root = self._download(client, tag, _download_args())
                except UsageError:
                    raise
                except Exception as exc:
                    self._fail(exc, config)
            inputs = sorted(p for p in Path(root).rglob("*") if is_report(p))
            if not inputs:
                raise UsageError(f"the session downloaded to {root} holds no reports yet")
        output = args.output or Path(tempfile.mkdtemp(prefix=f"nsight-{args.name}-"))
        try:
            result = run_recipe(
                args.name, inputs, output, args=recipe_args, notebook=False, force=True
            )
        except RecipeError as exc:
            raise UsageError(f"%nsight recipe {args.name}: {exc}") from None
        self.last_recipe = result
        for warning in result.warnings:
            print(f"skipped {warning.file}: {warning.problem.splitlines()[0]}")
        if not result.tables:
            return pd.DataFrame()
        name = args.table or next(iter(result.tables))
        if name not in result.tables:
            raise UsageError(
                f"%nsight recipe {args.name}: no table {name!r}; it produced "
                f"{', '.join(result.tables)}"
            )
        return result.tables[name].to_pandas()

    # --- %%nsight_profile -----------------------------------------------------------------

    @cell_magic
    def nsight_profile(self, line: str, cell: str) -> None:
        """Sample this kernel with py-spy while the cell runs; show hot functions and a timeline."""
        from nsight_lab.agent.collectors.base import CollectorError
        from nsight_lab.jupyter.profile_cell import profile_call

        parser = _Parser(prog="%%nsight_profile", add_help=False)
        parser.add_argument("--rate", type=int, default=200, help="samples per second")
        parser.add_argument("--top", type=int, default=10, help="hottest functions shown")
        parser.add_argument("--no-timeline", action="store_true")
        args = parser.parse_args(shlex.split(line))
        if not 1 <= args.rate <= 10_000:
            raise UsageError(f"%%nsight_profile: --rate must be in 1..10000, got {args.rate}")
        shell = self.shell
        if shell is None:
            raise UsageError("%%nsight_profile needs an IPython shell")

        def run() -> None:
            shell.run_cell(cell, store_history=False)

        try:
            profile, _ = profile_call(run, rate=args.rate)
        except CollectorError as exc:
            raise UsageError(f"%%nsight_profile: cannot profile this kernel: {exc}") from None
        self.last_profile = profile
        shell.user_ns["_nsight_profile"] = profile
        print(profile.summary())
        display(profile.hottest.head(args.top))
        if not args.no_timeline and profile.trace.tables["samples"].num_rows:
            from nsight_lab.jupyter.widgets.timeline import Timeline

            display(Timeline.from_trace(profile.trace, title="%%nsight_profile"))


def _download_args() -> argparse.Namespace:
    return argparse.Namespace(output_dir=DOWNLOAD_DIR, flat=False)


def load_ipython_extension(ip: InteractiveShell) -> None:
    """``%load_ext nsight_lab`` (through the package's shim) or ``%load_ext nsight_lab.jupyter.magics``."""
    ip.register_magics(NsightMagics)

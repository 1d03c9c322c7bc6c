"""nsight-lab: profile GPU and Python workloads across many processes, then analyse.

\b
Connect:    configure, login, logout
Profiling:  session-begin, profiler-start, profiler-stop, session-end,
            sessions, ls, download, status
Workloads:  run -- CMD..., attach PID
Presets:    preset list|show|save|delete (named capture options, a default per tag)
Analysis:   analysis list|info|run|reports ... (jobs on the services)
            recipe list|info|run (offline, on files you have)
            compare BASE CANDIDATE (faster or slower? a CI regression gate)
Local:      up (the services in one process), demo (the whole journey)
"""

from __future__ import annotations

import sys

import click

from nsight_lab import __version__
from nsight_lab.cli.analysis_cmd import analysis_group
from nsight_lab.cli.auth_cmd import COMMANDS as AUTH_COMMANDS
from nsight_lab.cli.compare_cmd import compare_cmd
from nsight_lab.cli.context import CliContext
from nsight_lab.cli.output import CliFailure
from nsight_lab.cli.presets import preset_group
from nsight_lab.cli.profiling import COMMANDS as PROFILING_COMMANDS
from nsight_lab.cli.stack import demo, up
from nsight_lab.cli.workload import attach, run


@click.group(
    help=__doc__,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--tag", default=None, help="Tag to control (default: the configured one, else 'default')."
)
@click.option("--session", default=None, help="Session id for commands that take one.")
@click.option(
    "--output",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts.",
)
@click.option("-v", "--verbose", count=True, help="More detail on stderr (repeat for more).")
@click.version_option(__version__, prog_name="nsight-lab")
@click.pass_context
def cli(
    ctx: click.Context, tag: str | None, session: str | None, output_format: str, verbose: int
) -> None:
    obj = CliContext(tag=tag, session=session, output=output_format, verbose=verbose)
    ctx.obj = obj
    ctx.call_on_close(obj.close)


for command in [*AUTH_COMMANDS, *PROFILING_COMMANDS]:
    cli.add_command(command)
cli.add_command(up)
cli.add_command(demo)
cli.add_command(run)
cli.add_command(attach)
cli.add_command(analysis_group, "analysis")
cli.add_command(compare_cmd)
cli.add_command(preset_group, "preset")


def _register_recipe_group() -> None:
    try:
        from nsight_lab.cli.recipe_cmd import recipe_group
    except ImportError as exc:  # pragma: no cover - only while the engine is missing
        missing = str(exc)

        @cli.command("recipe", context_settings={"ignore_unknown_options": True})
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        def recipe_unavailable(args: tuple[str, ...]) -> None:
            """Recipes (unavailable in this installation)."""
            raise CliFailure(f"the recipe engine cannot be loaded: {missing}")

        return
    cli.add_command(recipe_group, "recipe")


_register_recipe_group()


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="nsight-lab", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()

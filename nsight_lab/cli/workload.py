"""Put an agent into a workload: ``run`` starts a new process, ``attach`` joins one."""

from __future__ import annotations

import os

import click

from nsight_lab.auth.credentials import TOKEN_FILE_ENV
from nsight_lab.auth.handoff import AGENT_API_KEY_ENV, agent_credentials
from nsight_lab.cli.context import CliContext, pass_cli
from nsight_lab.cli.output import CliFailure, handle_errors

COLLECTORS = ["auto", "torch", "cupti", "nsys", "pyspy", "annotations"]


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--tag", default=None, help="Tag the agent joins (default: the configured tag).")
@click.option(
    "--collector",
    type=click.Choice(COLLECTORS),
    default="auto",
    show_default=True,
    help=(
        "What records. auto: torch once the process imports it, else cupti (CUDA device and "
        "cupti-python present), else nsys under `nsys launch`, else py-spy, else annotations."
    ),
)
@click.option("--instance", default=None, help="Instance name (default: <host>-<pid>).")
@click.option("--process-name", default=None, help="Process name in reports (default: the script).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_cli
@handle_errors
def run(
    cli: CliContext,
    tag: str | None,
    collector: str,
    instance: str | None,
    process_name: str | None,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND with an agent inside it; its exit code becomes ours.

    \b
    Examples:
      nsight-lab run -- python train.py --epochs 3
      nsight-lab run --collector torch -- torchrun --nproc-per-node 2 train.py
      nsight-lab run --tag trainers --collector pyspy -- python -m mypkg.train
    """
    from nsight_lab.agent.launcher import LaunchError, build_run_environment, run_command

    try:
        with agent_credentials(cli.config) as credential_env:
            env = build_run_environment(
                {**os.environ, **credential_env},
                coordinator_url=cli.config.coordinator_url,
                tag=tag or cli.effective_tag,
                instance=instance,
                process_name=process_name,
                collector=collector,
            )
            code = run_command(list(command), env)
    except LaunchError as exc:
        raise CliFailure(str(exc), 127) from exc
    except FileNotFoundError as exc:
        raise CliFailure(f"cannot run {command[0]!r}: {exc}", 127) from exc
    raise SystemExit(code)


@click.command()
@click.argument("pid", type=int)
@click.option("--tag", default=None, help="Tag the agent joins (default: the configured tag).")
@click.option("--instance", default=None, help="Instance name (default: <host>-<pid>).")
@click.option("--process-name", default=None, help="Process name in reports.")
@pass_cli
@handle_errors
def attach(
    cli: CliContext, pid: int, tag: str | None, instance: str | None, process_name: str | None
) -> None:
    """Profile an already running Python process PID with py-spy, from beside it.

    The agent runs in this command until PID exits or you press Ctrl-C.
    """
    from nsight_lab.agent.launcher import LaunchError
    from nsight_lab.agent.launcher import attach as attach_agent

    if not os.path.exists(f"/proc/{pid}"):
        raise CliFailure(f"no process with pid {pid}", 2)
    cli.printer.info(
        f"attached to pid {pid}; profiling under tag {tag or cli.effective_tag} (Ctrl-C to detach)"
    )
    try:
        with agent_credentials(cli.config) as credential_env:
            attach_agent(
                pid,
                coordinator_url=cli.config.coordinator_url,
                tag=tag or cli.effective_tag,
                instance=instance,
                process_name=process_name,
                api_key=credential_env.get(AGENT_API_KEY_ENV),
                token_file=credential_env.get(TOKEN_FILE_ENV),
            )
    except LaunchError as exc:
        raise CliFailure(str(exc)) from exc

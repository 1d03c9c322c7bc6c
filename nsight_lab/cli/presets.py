"""``preset``: named captures the coordinator stores, so a team profiles the same way.

nsight-lab preset save shapes --record-shapes --steps 5 --skip 10 --default-for trainers
nsight-lab profiler-start --preset shapes       # or just profiler-start on tag trainers
nsight-lab preset list | show NAME | delete NAME
"""

from __future__ import annotations

from typing import Any

import click

from nsight_lab.cli.capture import capture_from, capture_options
from nsight_lab.cli.context import CliContext, common_options, pass_cli
from nsight_lab.cli.output import fmt_time, handle_errors
from nsight_lab.models import ProfilePreset


def _summary(preset: ProfilePreset) -> str:
    parts = [f"{k}={v}" for k, v in preset.options.items()]
    if preset.steps is not None:
        parts.append(f"steps={preset.steps}" + (f" skip={preset.skip}" if preset.skip else ""))
    for key in ("max_overhead_pct", "step_timeout_s", "duration_s", "delay_s"):
        value = getattr(preset, key)
        if value is not None:
            parts.append(f"{key}={value:g}")
    return " ".join(parts)


@click.group("preset")
def preset_group() -> None:
    """Named capture presets stored by the coordinator (a default per tag)."""


@preset_group.command("list")
@common_options
@pass_cli
@handle_errors
def list_presets(cli: CliContext) -> None:
    """Every preset with what it sets and the tags it is the default for."""
    presets = cli.client.presets()
    cli.printer.emit(
        presets,
        lambda: cli.printer.table(
            f"{len(presets)} preset(s)",
            ["preset", "capture", "default for", "updated"],
            [
                (p.name, _summary(p), ", ".join(p.default_for_tags), fmt_time(p.updated_at))
                for p in presets
            ],
        ),
    )


@preset_group.command("show")
@click.argument("name")
@common_options
@pass_cli
@handle_errors
def show_preset(cli: CliContext, name: str) -> None:
    preset = cli.client.preset(name)
    cli.printer.emit(
        preset,
        lambda: cli.printer.console.print(
            f"{preset.name}: {_summary(preset) or '(defaults)'}"
            + (f"\n  {preset.description}" if preset.description else "")
            + (
                f"\n  default for: {', '.join(preset.default_for_tags)}"
                if preset.default_for_tags
                else ""
            )
        ),
    )


@preset_group.command("save")
@click.argument("name")
@click.option("--description", default="", help="What the preset is for.")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@click.option("--delay", type=float, default=None, help="Wait this many seconds first.")
@click.option(
    "--default-for",
    "default_for",
    multiple=True,
    metavar="TAG",
    help="Tags that use it by default.",
)
@capture_options
@common_options
@pass_cli
@handle_errors
def save_preset(
    cli: CliContext,
    name: str,
    description: str,
    duration: float | None,
    delay: float | None,
    default_for: tuple[str, ...],
    **flags: Any,
) -> None:
    """Create or replace preset NAME from the same flags profiler-start takes."""
    preset = ProfilePreset(
        name=name,
        description=description,
        duration_s=duration,
        delay_s=delay,
        default_for_tags=list(default_for),
        **capture_from(flags),
    )
    saved = cli.client.save_preset(preset)
    cli.printer.emit(
        saved, lambda: cli.printer.console.print(f"Saved preset {saved.name}: {_summary(saved)}")
    )


@preset_group.command("delete")
@click.argument("name")
@common_options
@pass_cli
@handle_errors
def delete_preset(cli: CliContext, name: str) -> None:
    cli.client.delete_preset(name)
    cli.printer.emit({"deleted": name}, lambda: cli.printer.console.print(f"Deleted preset {name}"))

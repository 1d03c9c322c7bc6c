"""Capture flags shared by ``profiler-start`` and ``preset save``, made from one catalog.

Each collector option of ``nsight_lab.agent.collectors.options`` becomes a flag
(``--record-shapes``, ``--rate 250``); ``--option NAME=VALUE`` reaches every option,
the ``nsys start`` switches included. Whether the tag's collectors can apply them is
decided by the coordinator, which names the agent, its collector and the option.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from nsight_lab.agent.collectors.options import CATALOG
from nsight_lab.cli.output import CliFailure

F = TypeVar("F", bound=Callable[..., Any])

#: Collectors whose options get a flag of their own (nsys's go through --option).
FLAGGED = ("pyspy", "torch", "cupti")


_FLAGGED_NAMES = {name for collector in FLAGGED for name in CATALOG[collector]}


def _param(name: str) -> str:
    return f"opt_{name}"


def parse_percent(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip().rstrip("%").strip()
    try:
        number = float(text)
    except ValueError:
        raise CliFailure(
            f"--max-overhead takes a percentage like 5 or 5%, got {value!r}", 2
        ) from None
    if number <= 0:
        raise CliFailure(f"--max-overhead must be above 0%, got {value!r}", 2)
    return number


def capture_options(func: F) -> F:
    """Add the step, overhead and collector flags; read them back with :func:`capture_from`."""
    for collector in reversed(FLAGGED):
        for spec in reversed(list(CATALOG[collector].values())):
            help_text = f"{collector}: {spec.help}."
            if spec.type is bool:
                func = click.option(spec.flag, _param(spec.name), is_flag=True, default=None,
                                    help=help_text)(func)  # fmt: skip
            else:
                func = click.option(spec.flag, _param(spec.name), type=spec.type, default=None,
                                    help=help_text)(func)  # fmt: skip
    func = click.option(
        "--option",
        "-O",
        "raw_options",
        multiple=True,
        metavar="NAME=VALUE",
        help="Any collector option, e.g. -O sample=none for `nsys start --sample=none`.",
    )(func)
    func = click.option(
        "--max-overhead",
        default=None,
        metavar="P%",
        help="Stop early when the median step gets P% slower than before the capture.",
    )(func)
    func = click.option(
        "--step-timeout",
        type=float,
        default=None,
        help="Seconds an agent waits for its first step before failing (default 60).",
    )(func)
    func = click.option(
        "--skip", type=click.IntRange(min=0), default=None, help="Steps to let pass first."
    )(func)
    func = click.option(
        "--steps",
        type=click.IntRange(min=1),
        default=None,
        help="Record exactly K steps (annotate('step')) on every agent, the same ones.",
    )(func)
    return func


def capture_from(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The capture fields of a ProfilerStart/ProfilePreset from the parsed flags.

    Consumes the flags from ``kwargs`` so the command sees only its own parameters.
    """
    options: dict[str, Any] = {}
    for collector in FLAGGED:
        for name in CATALOG[collector]:
            value = kwargs.pop(_param(name), None)
            if value is not None:
                options[name] = value
    for item in kwargs.pop("raw_options", ()) or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CliFailure(f"--option takes NAME=VALUE, got {item!r}", 2)
        key = name.strip().lstrip("-")
        # Flagged options are spelled with underscores, nsys switches with dashes.
        if key.replace("-", "_") in _FLAGGED_NAMES:
            key = key.replace("-", "_")
        options[key] = value
    capture: dict[str, Any] = {"options": options}
    for key, field in (("steps", "steps"), ("skip", "skip"), ("step_timeout", "step_timeout_s")):
        value = kwargs.pop(key, None)
        if value is not None:
            capture[field] = value
    overhead = parse_percent(kwargs.pop("max_overhead", None))
    if overhead is not None:
        capture["max_overhead_pct"] = overhead
    return capture

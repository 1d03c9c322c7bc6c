"""How commands speak: tables for people, JSON for scripts, errors that say what to do.

Every command renders through :class:`Printer` and lets exceptions bubble to
:func:`handle_errors`, so exit codes and error wording are uniform across the CLI.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, ParamSpec, TypeVar

import click
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from nsight_lab.auth.credentials import NotLoggedIn
from nsight_lab.auth.oidc import OAuthError
from nsight_lab.client import ApiError, AuthRequired, ConnectionFailed, DownloadCorrupted
from nsight_lab.config import ConfigError
from nsight_lab.naming import UnsafePathError

P = ParamSpec("P")
R = TypeVar("R")

#: Exit codes scripts can rely on.
EXIT_USAGE = 2
EXIT_API = 3
EXIT_UNREACHABLE = 4
#: The gateway or the identity provider refused our credentials, or there are none.
EXIT_AUTH = 5
EXIT_FAILED = 1


class CliFailure(click.ClickException):
    """A failure the user can act on; printed without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        # Click 8.5 declares ``exit_code`` a ClassVar, yet its ``main`` reads it from the
        # instance: one failure class carries the code scripts branch on, so it is set
        # on the instance without tripping the type checker.
        vars(self)["exit_code"] = exit_code


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Column:
    """One column of :meth:`Printer.fitted_table` and how it gives way to a narrow terminal."""

    header: str
    #: ``keep``: never shortened; ``cut``: an ellipsis when too long.
    fit: Literal["keep", "cut"] = "cut"
    justify: Literal["left", "right"] = "left"
    #: Narrowest a ``cut`` column gets (it still ends in an ellipsis).
    min_width: int = 6


def fit_widths(columns: Sequence[Column], cells: Sequence[Sequence[str]], width: int) -> list[int]:
    """Column widths for ``width`` characters (two spaces between columns).

    ``keep`` columns get their widest value; the others share what is left, each no
    narrower than its ``min_width`` (so a very narrow terminal still gets every
    column, and the line runs long rather than dropping one).
    """
    widest = [max([len(c.header), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    fixed = sum(w for w, c in zip(widest, columns, strict=True) if c.fit == "keep")
    flexible = [i for i, c in enumerate(columns) if c.fit != "keep"]
    room = width - fixed - 2 * (len(columns) - 1)
    widths = list(widest)
    wanted = sum(widest[i] for i in flexible)
    if flexible and wanted > room:
        # Shrink the widest flexible columns first, down to their minimum.
        for i in flexible:
            widths[i] = min(widest[i], max(columns[i].min_width, len(columns[i].header)))
        spare = room - sum(widths[i] for i in flexible)
        while spare > 0:
            growable = [i for i in flexible if widths[i] < widest[i]]
            if not growable:
                break
            for i in growable:
                if spare <= 0:
                    break
                widths[i] += 1
                spare -= 1
    return widths


def _cell(value: str, width: int, justify: str) -> str:
    if len(value) > width:
        value = value[: max(width - 1, 0)] + "…"
    return value.rjust(width) if justify == "right" else value.ljust(width)


class Printer:
    def __init__(self, fmt: str = "table", verbose: int = 0) -> None:
        self.fmt = fmt
        self.verbose = verbose
        self.console = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    @property
    def json_mode(self) -> bool:
        return self.fmt == "json"

    def json(self, value: Any) -> None:
        sys.stdout.write(json.dumps(to_jsonable(value), indent=2) + "\n")

    def emit(self, value: Any, human: Callable[[], None]) -> None:
        """JSON when asked for, else the human rendering."""
        if self.json_mode:
            self.json(value)
        else:
            human()

    def table(
        self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        table = Table(title=title, show_lines=False, header_style="bold")
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        self.console.print(table)

    def fitted_table(self, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> None:
        """A borderless table that fits the terminal: ``keep`` columns (ids, sizes,
        states) are never shortened, ``cut`` ones end in an ellipsis, ``wrap`` ones
        take what is left; one line per row, so nothing folds over several lines."""
        cells = [["" if v is None else str(v) for v in row] for row in rows]
        widths = fit_widths(columns, cells, self.console.width)
        header = "  ".join(
            _cell(c.header, w, c.justify) for c, w in zip(columns, widths, strict=True)
        )
        self.console.print(Text(header.rstrip(), style="bold"), soft_wrap=True)
        self.console.print(
            Text("─" * min(self.console.width, len(header.rstrip()))), soft_wrap=True
        )
        for row in cells:
            line = "  ".join(
                _cell(v, w, c.justify) for v, c, w in zip(row, columns, widths, strict=True)
            )
            self.console.print(Text(line.rstrip()), soft_wrap=True)

    def info(self, message: str) -> None:
        """Progress and hints go to stderr so stdout stays parseable."""
        if not self.json_mode or self.verbose:
            self.err.print(message)

    def debug(self, message: str) -> None:
        if self.verbose:
            self.err.print(f"[dim]{message}[/dim]")


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Map known failures to one-line messages and stable exit codes."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except AuthRequired as exc:
            raise CliFailure(exc.detail, EXIT_AUTH) from exc
        except (NotLoggedIn, OAuthError) as exc:
            raise CliFailure(str(exc), EXIT_AUTH) from exc
        except ApiError as exc:
            raise CliFailure(exc.detail, EXIT_API) from exc
        except ConnectionFailed as exc:
            raise CliFailure(str(exc), EXIT_UNREACHABLE) from exc
        except (ConfigError, DownloadCorrupted, UnsafePathError) as exc:
            raise CliFailure(str(exc)) from exc
        except ValidationError as exc:  # a request the CLI built from bad flags
            raise CliFailure(validation_message(exc), EXIT_USAGE) from exc

    return wrapper


def validation_message(exc: ValidationError) -> str:
    """Pydantic's errors as sentences: ``steps: ...; options: unknown collector option``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def fmt_time(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def fmt_ago(value: datetime | None, now: datetime | None = None) -> str:
    """``12 s ago``, ``5 min ago``, ``3 h ago``; older than a day: the date and time."""
    if value is None:
        return ""
    moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    seconds = ((now or datetime.now(timezone.utc)) - moment).total_seconds()
    if seconds < 1:
        return "now"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86_400:
        return f"{seconds // 3600:.0f} h ago"
    return fmt_time(value)


def fmt_size(size: int) -> str:
    step = 1024.0
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < step:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= step
    return f"{value:.1f} TiB"


def fmt_steps(metadata: dict[str, Any]) -> str:
    """``12-14`` for a report that holds steps 12..14."""
    steps = metadata.get("steps")
    if not isinstance(steps, dict) or not isinstance(steps.get("first"), int):
        return ""
    first, count = steps["first"], int(steps.get("count") or 0)
    return f"{first}-{first + count - 1}" if count > 1 else str(first)


def fmt_overhead(metadata: dict[str, Any]) -> str:
    """The measured overhead, ``+3.1%``; empty when the report has no steps to time."""
    value = metadata.get("overhead_pct")
    return f"{value:+.1f}%" if isinstance(value, (int, float)) else ""


def describe_capture(collection: Any) -> str:
    """One line saying how a collection records, when it is more than start/stop."""
    parts = []
    if collection.preset:
        parts.append(f"preset {collection.preset}")
    if collection.steps is not None:
        where = f"from step {collection.from_step}" if collection.from_step is not None else ""
        skip = f", skipping {collection.skip}" if collection.skip else ""
        parts.append(f"{collection.steps} step(s) {where}{skip}".strip())
    if collection.max_overhead_pct is not None:
        parts.append(f"max overhead {collection.max_overhead_pct:g}%")
    if collection.options:
        parts.append(", ".join(f"{k}={v}" for k, v in collection.options.items()))
    return ("Capture: " + "; ".join(parts)) if parts else ""

"""Turning ``--input`` values into an ordered list of report files.

Accepts what ``nsys recipe`` accepts (files, folders, ``DIR:N`` for the first N
files of a folder) and every format ``load_trace`` reads. Resolution happens before
any report is opened, so a typo in a path fails fast with the path in the message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from nsight_lab.recipe.errors import RecipeInputError

REPORT_SUFFIXES = (
    ".nsys-rep",
    ".sqlite",
    ".speedscope.json",
    ".ranges.jsonl",
    ".json.gz",
    ".json",
)
_DIR_N = re.compile(r"^(?P<dir>.+):(?P<n>\d+)$")


def is_report(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(REPORT_SUFFIXES)


def _report_stem(path: Path) -> str:
    low = path.name.lower()
    for suffix in REPORT_SUFFIXES:
        if low.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def reports_in(folder: Path) -> list[Path]:
    """Report files directly in ``folder``, sorted by name.

    When a folder holds both ``x.nsys-rep`` and its export ``x.sqlite`` only the
    SQLite is taken: it is the same report and needs no nsys binary to read.
    """
    files = sorted(p for p in folder.iterdir() if is_report(p))
    exported = {_report_stem(p) for p in files if p.name.lower().endswith(".sqlite")}
    return [
        p
        for p in files
        if not (p.name.lower().endswith(".nsys-rep") and _report_stem(p) in exported)
    ]


def resolve_inputs(items: Sequence[str | Path]) -> list[Path]:
    """Expand files, folders and ``DIR:N`` into report paths, in the order given, without duplicates."""
    if not items:
        raise RecipeInputError(
            "no input given: pass --input with a report file or a folder of reports"
        )
    out: list[Path] = []
    for item in items:
        text = str(item)
        path = Path(text).expanduser()
        limit: int | None = None
        match = _DIR_N.match(text)
        if not path.exists() and match and Path(match["dir"]).expanduser().is_dir():
            path, limit = Path(match["dir"]).expanduser(), int(match["n"])
            if limit < 1:
                raise RecipeInputError(f"input {text!r}: N in DIR:N must be at least 1")
        if path.is_dir():
            found = reports_in(path)
            if not found:
                raise RecipeInputError(
                    f"input folder {path} holds no reports (looked for: {', '.join(REPORT_SUFFIXES)})"
                )
            out.extend(found[:limit] if limit is not None else found)
        elif path.is_file():
            out.append(path)
        else:
            raise RecipeInputError(f"input {text!r} does not exist")
    seen: set[Path] = set()
    unique: list[Path] = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(key)
    return unique


def report_name(path: Path) -> str:
    """A report's display name: its file name without the report suffix."""
    return _report_stem(path)

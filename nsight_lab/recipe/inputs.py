"""Turning ``--input`` values into an ordered list of report files.

Accepts what ``nsys recipe`` accepts (files, folders, ``DIR:N`` for the first N
files of a folder) and every format ``load_trace`` reads, plus converted traces
(folders written by ``convert_trace``, which hold ``conversion.json``): one such
folder is one report, and a folder of them is a folder of reports. Resolution
happens before any report is opened, so a typo in a path fails fast with the path
in the message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from nsight_lab.recipe.errors import RecipeInputError
from nsight_lab.trace.converted import MANIFEST_FILE

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


def is_converted(path: Path) -> bool:
    """A folder written by ``convert_trace`` (its manifest is the last file written)."""
    return path.is_dir() and (path / MANIFEST_FILE).is_file()


def converted_name(folder: Path) -> str:
    """The report's own name, from the manifest when it recorded one."""
    try:
        source = json.loads((folder / MANIFEST_FILE).read_text()).get("source") or {}
    except (OSError, ValueError, AttributeError):
        source = {}
    filename = source.get("filename") if isinstance(source, dict) else None
    return report_name(Path(filename)) if isinstance(filename, str) and filename else folder.name


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
    files = sorted(p for p in folder.iterdir() if is_report(p) or is_converted(p))
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
        if is_converted(path):
            out.append(path)
        elif path.is_dir():
            found = reports_in(path)
            if not found:
                raise RecipeInputError(
                    f"input folder {path} holds no reports (looked for: {', '.join(REPORT_SUFFIXES)},"
                    f" or converted trace folders with {MANIFEST_FILE})"
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

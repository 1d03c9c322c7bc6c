"""The ``<recipe>.nsys-analysis`` run record.

Tools that read nsys recipe output (and people used to it) look for this JSON file
with nsys's keys; we write the same keys with the same shapes, then add our own
(``Warnings``, ``Args``, ``Timings``, ...) after them. Readers that know only nsys's
keys ignore the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

RECIPE_JSON_VERSION = "1.2.0"
NSYS_KEYS = (
    "RecipeJsonVersion",
    "RecipeRuntimeVersion",
    "RecipeName",
    "DisplayName",
    "Mode",
    "StartTime",
    "EndTime",
    "InputFiles",
    "Outputs",
)

_KIND_BY_SUFFIX = {
    ".ipynb": "Notebook",
    ".html": "HTML",
    ".parquet": "Parquet",
    ".csv": "CSV",
    ".nsys-analysis": "Record",
}


def runtime_version() -> str:
    try:
        from importlib.metadata import version

        return version("nsight-lab")
    except Exception:
        return "0.1.0"


def timestamp(moment: datetime) -> str:
    """nsys writes local time as ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def output_kind(name: str) -> str:
    for suffix, kind in _KIND_BY_SUFFIX.items():
        if name.endswith(suffix):
            return kind
    return "File"


def build_record(
    *,
    recipe: str,
    display_name: str,
    mode: str,
    started: datetime,
    ended: datetime,
    inputs: Sequence[str],
    outputs: Sequence[str],
    warnings: Sequence[Mapping[str, Any]],
    args: Mapping[str, Any],
    timings: Mapping[str, float],
    filters: Mapping[str, str | None],
    reports_used: Sequence[str],
    summary: str = "",
    sources: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    record = {
        "RecipeJsonVersion": RECIPE_JSON_VERSION,
        "RecipeRuntimeVersion": runtime_version(),
        "RecipeName": recipe,
        "DisplayName": display_name,
        "Mode": mode,
        "StartTime": timestamp(started),
        "EndTime": timestamp(ended),
        "InputFiles": list(inputs),
        "Outputs": {name: output_kind(name) for name in outputs},
        "Tool": "nsight-lab",
        "ReportsUsed": list(reports_used),
        "Summary": summary,
        "Warnings": [dict(w) for w in warnings],
        "Args": dict(args),
        "Filters": dict(filters),
        "Timings": {k: round(v, 6) for k, v in timings.items()},
    }
    if sources is not None:
        # How many reports were parsed from their raw files and how many read from
        # their converted traces: the check that stored reports are ingested once.
        record["Sources"] = dict(sources)
    return record


def write_record(path: Path, record: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=4, default=str) + "\n", encoding="utf-8")


def read_record(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data

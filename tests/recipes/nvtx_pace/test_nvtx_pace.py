"""nvtx_pace: every instance of one range, gaps from the previous end, as SQL and JSON say."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from nsight_lab.recipe import run_recipe
from tests.recipes.conftest import ALEXNET
from tests.recipes.expect import stats_of
from tests.recipes.rich_export import STEP, Rich


def check_pace(pace: list[dict], spans: list[tuple[int, int]], stats: list[dict]) -> None:
    assert [(r["Start (ns)"], r["End (ns)"]) for r in pace] == spans
    gaps = [s - e for (s, _), (_, e) in zip(spans[1:], spans[:-1], strict=True)]
    assert pace[0]["Delta (ns)"] is None and [r["Delta (ns)"] for r in pace[1:]] == gaps
    metrics = {r["Metric"]: r for r in stats}
    for metric, values in (("Duration", [e - s for s, e in spans]), ("Delta", gaps)):
        want = stats_of(values)
        assert metrics[metric]["Instances"] == want["count"]
        assert metrics[metric]["Med (ns)"] == pytest.approx(want["median"])
        assert metrics[metric]["StdDev (ns)"] == pytest.approx(want["stdev"])


def test_steps_of_an_nsys_export_match_sql(rich: Rich, tmp_path: Path) -> None:
    with sqlite3.connect(f"file:{rich.path}?mode=ro", uri=True) as con:
        spans = con.execute(
            "SELECT start, end FROM NVTX_EVENTS WHERE text = ? AND end IS NOT NULL ORDER BY start",
            (STEP,),
        ).fetchall()
    result = run_recipe(
        "nvtx_pace", [rich.path], tmp_path / "o", args={"name": STEP}, notebook=False
    )
    check_pace(result.tables["pace"].to_pylist(), spans, result.tables["stats"].to_pylist())
    assert len(spans) == 8 and result.summary.startswith("**8 instances** of range `step`")


def test_annotation_of_a_kineto_trace_matches_the_json(fixtures_dir: Path, tmp_path: Path) -> None:
    name = "[param|pytorch.model.alex_net|0|0|0|measure|forward]"
    with gzip.open(fixtures_dir / ALEXNET) as fh:
        events = json.load(fh)["traceEvents"]
    spans = sorted(
        (round(e["ts"] * 1000), round(e["ts"] * 1000) + round(e["dur"] * 1000))
        for e in events
        if e.get("ph") == "X" and e.get("name") == name
    )
    result = run_recipe(
        "nvtx_pace", [fixtures_dir / ALEXNET], tmp_path / "o", args={"name": name}, notebook=False
    )
    check_pace(result.tables["pace"].to_pylist(), spans, result.tables["stats"].to_pylist())

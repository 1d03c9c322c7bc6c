"""diff and compare: the planted slowdown is found and nothing else; the same workload twice: nothing.

The two AlexNet traces are two real runs of one benchmark. A copy of the second with
one kernel's durations made 10% longer is the "slower candidate"; the statistics
each row reports are recomputed here from the raw durations.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import statistics
from pathlib import Path

import pytest

from nsight_lab.recipe import RecipeInputError, run_recipe
from tests.recipes.conftest import ALEXNET, CLOVERLEAF, SIMPLE_ADD
from tests.recipes.kineto_scan import events, ns_span

SLOWED = "ampere_sgemm_32x32_sliced1x4_tn"


def planted(src: Path, dst: Path, kernel: str = SLOWED, factor: float = 1.1) -> Path:
    with gzip.open(src) as fh:
        doc = json.load(fh)
    for ev in doc["traceEvents"]:
        if ev.get("cat") == "kernel" and ev["name"] == kernel:
            ev["dur"] = ev["dur"] * factor
    with gzip.open(dst, "wt") as fh:
        json.dump(doc, fh)
    return dst


@pytest.fixture(scope="module")
def slower(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return planted(fixtures_dir / SIMPLE_ADD, tmp_path_factory.mktemp("planted") / "slower.json.gz")


def test_a_planted_10_percent_slowdown_is_found_and_nothing_else(
    fixtures_dir: Path, slower: Path, tmp_path: Path
) -> None:
    result = run_recipe("diff", [fixtures_dir / ALEXNET, slower], tmp_path / "o", notebook=False)
    table = result.tables["comparison"].to_pylist()
    flagged = [r for r in table if r["Verdict"] in ("slower", "faster")]
    assert [(r["Kind"], r["Name"], r["Verdict"]) for r in flagged] == [("kernel", SLOWED, "slower")]
    (row,) = flagged
    assert 0 < row["Med CI Low (%)"] < 10 < row["Med CI High (%)"]
    base = [
        ns_span(e)[1] - ns_span(e)[0] for e in events(fixtures_dir / ALEXNET) if e["name"] == SLOWED
    ]
    cand = [ns_span(e)[1] - ns_span(e)[0] for e in events(slower) if e["name"] == SLOWED]
    assert (row["Base Instances"], row["Candidate Instances"]) == (len(base), len(cand)) == (6, 6)
    assert row["Base Med (ns)"] == statistics.median(base)
    assert row["Candidate Med (ns)"] == statistics.median(cand)
    assert row["Med Change (%)"] == pytest.approx(
        100 * (statistics.median(cand) - statistics.median(base)) / statistics.median(base)
    )
    assert row["Total Change (%)"] == pytest.approx(100 * (sum(cand) - sum(base)) / sum(base))
    assert result.summary.startswith("**1 slower, 0 faster**")


def test_two_runs_of_the_same_workload_flag_nothing(fixtures_dir: Path, tmp_path: Path) -> None:
    result = run_recipe(
        "diff", [fixtures_dir / ALEXNET, fixtures_dir / SIMPLE_ADD], tmp_path / "o", notebook=False
    )
    table = result.tables["comparison"].to_pylist()
    assert {r["Verdict"] for r in table} == {"unchanged"}
    assert sum(1 for r in table if r["Med CI Low (%)"] is not None) >= 5  # intervals were computed
    assert result.summary.startswith("No significant change")


def test_intervals_are_repeatable_with_a_seed(
    fixtures_dir: Path, slower: Path, tmp_path: Path
) -> None:
    def ci(out: str, seed: int) -> list[float]:
        r = run_recipe(
            "diff", [fixtures_dir / ALEXNET, slower], tmp_path / out, args={"seed": seed},
            notebook=False,
        )  # fmt: skip
        return [x for x in r.tables["comparison"]["Med CI Low (%)"].to_pylist() if x is not None]

    assert ci("a", 7) == ci("b", 7)


def test_kernels_thinned_on_an_nsys_export_move_the_total_only(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    """Run B drops every other launch of the busiest kernel: its total halves, its median stays."""
    a = fixtures_dir / CLOVERLEAF
    b = tmp_path / "b.sqlite"
    shutil.copy(a, b)
    b.chmod(0o644)
    with sqlite3.connect(b) as con:
        (name_id,) = con.execute(
            "SELECT demangledName FROM CUPTI_ACTIVITY_KIND_KERNEL GROUP BY 1 ORDER BY SUM(end - start) DESC"
        ).fetchone()
        (name,) = con.execute("SELECT value FROM StringIds WHERE id = ?", (name_id,)).fetchone()
        total_a = con.execute(
            "SELECT SUM(end - start) FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE demangledName = ?",
            (name_id,),
        ).fetchone()[0]
        con.execute(
            "DELETE FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE demangledName = ? AND rowid % 2 = 0",
            (name_id,),
        )
        total_b = con.execute(
            "SELECT SUM(end - start) FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE demangledName = ?",
            (name_id,),
        ).fetchone()[0]
    result = run_recipe("diff", [a, b], tmp_path / "o")
    rows = {(r["Kind"], r["Name"]): r for r in result.tables["comparison"].to_pylist()}
    row = rows[("kernel", name)]
    assert (row["Base Total (ns)"], row["Candidate Total (ns)"]) == (total_a, total_b)
    assert row["Total Change (%)"] == pytest.approx(100 * (total_b - total_a) / total_a)
    others = [r for k, r in rows.items() if k != ("kernel", name)]
    assert all(r["Total Change (%)"] == 0 for r in others)
    assert result.html is not None and "Change of the median" in result.html.read_text()


def test_diff_needs_two_reports(fixtures_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RecipeInputError, match="at least 2"):
        run_recipe("diff", [fixtures_dir / ALEXNET], tmp_path / "out", notebook=False)

"""mpi_sum: MPI functions with their kind; the kind nsys files each call under is the truth."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nsight_lab.recipe import RecipeInputError, run_recipe
from tests.recipes.conftest import CLOVERLEAF
from tests.recipes.expect import assert_summary
from tests.recipes.rich_export import MPI, Rich

SOURCE_OF_TABLE = {
    "MPI_P2P_EVENTS": "p2p",
    "MPI_COLLECTIVES_EVENTS": "collectives",
    "MPI_START_WAIT_EVENTS": "start-wait",
    "MPI_OTHER_EVENTS": "other",
}


def test_functions_and_kinds_match_the_nsys_tables(rich: Rich, tmp_path: Path) -> None:
    groups: dict[str, list[int]] = {}
    kinds: dict[str, str] = {}
    with sqlite3.connect(f"file:{rich.path}?mode=ro", uri=True) as con:
        for table in MPI:
            for name, dur in con.execute(
                f"SELECT s.value, e.end - e.start FROM {table} e JOIN StringIds s ON s.id = e.textId"
            ):
                groups.setdefault(name, []).append(dur)
                kinds[name] = SOURCE_OF_TABLE[table]
    result = run_recipe("mpi_sum", [rich.path], tmp_path / "o", notebook=False)
    stats = result.tables["stats"]
    assert stats.column_names[-2:] == ["Source", "Name"]
    rows = assert_summary(stats, groups)
    assert {name: row["Source"] for name, row in rows.items()} == kinds
    assert result.summary.startswith("**6 MPI functions**")


def test_report_without_mpi_says_how_to_record_it(fixtures_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RecipeInputError, match="--trace=mpi"):
        run_recipe("mpi_sum", [fixtures_dir / CLOVERLEAF], tmp_path / "o", notebook=False)

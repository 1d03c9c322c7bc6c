"""Projected imports: only the columns asked for are read, and values do not change."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from nsight_lab.trace import TraceFormatError, load_trace
from tests.unit.trace.conftest import KINETO_DIR, NSYS_FIXTURE

KERNEL_COLUMNS = ["start", "end", "name", "short_name"]


@pytest.mark.parametrize(
    "report", [NSYS_FIXTURE, KINETO_DIR / "nccl_parser_config__nccl_data.json.gz"], ids=str
)
def test_a_projected_load_holds_exactly_the_columns_and_the_same_values(
    fixtures_dir: Path, report: Path
) -> None:
    full = load_trace(fixtures_dir / report)
    narrow = load_trace(
        fixtures_dir / report,
        tables=["kernels", "api"],
        columns={"kernels": KERNEL_COLUMNS, "api": ["start", "name", "tid"]},
    )
    assert narrow.table("kernels").column_names == KERNEL_COLUMNS
    assert narrow.table("api").column_names == ["start", "tid", "name"]
    assert (
        narrow.table("kernels").to_pylist()
        == full.table("kernels").select(KERNEL_COLUMNS).to_pylist()
    )
    assert (
        narrow.table("api").to_pylist()
        == full.table("api").select(["start", "tid", "name"]).to_pylist()
    )
    assert narrow.table("memops").num_rows == 0  # not asked for: empty, full schema


def test_unknown_columns_fail_by_name_before_anything_is_read(fixtures_dir: Path) -> None:
    with pytest.raises(KeyError, match=r"no column\(s\) \['duration'\]"):
        load_trace(fixtures_dir / NSYS_FIXTURE, columns={"kernels": ["start", "duration"]})


@pytest.fixture
def bad_runtime(fixtures_dir: Path, tmp_path: Path) -> Path:
    """The fixture with text in one CUDA API row's correlationId: reading that table fails."""
    path = tmp_path / "bad-runtime.sqlite"
    shutil.copyfile(fixtures_dir / NSYS_FIXTURE, path)
    path.chmod(0o644)
    con = sqlite3.connect(path)
    con.execute(
        "UPDATE CUPTI_ACTIVITY_KIND_RUNTIME SET correlationId = 'oops'"
        " WHERE rowid = (SELECT min(rowid) FROM CUPTI_ACTIVITY_KIND_RUNTIME)"
    )
    con.commit()
    con.close()
    return path


def test_the_cuda_api_rows_are_read_for_kernels_only_when_tid_is_asked_for(
    bad_runtime: Path,
) -> None:
    kernels = load_trace(bad_runtime, tables=["kernels"], columns={"kernels": KERNEL_COLUMNS})
    assert kernels.table("kernels").num_rows == 1312  # never touched the API table
    with pytest.raises(TraceFormatError, match="CUPTI_ACTIVITY_KIND_RUNTIME"):
        load_trace(bad_runtime, tables=["kernels"], columns={"kernels": [*KERNEL_COLUMNS, "tid"]})

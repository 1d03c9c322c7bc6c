"""--filter-time and --filter-nvtx on tables built from the trace schema."""

from __future__ import annotations

import pyarrow as pa
import pytest

from nsight_lab.recipe import RecipeArgError
from nsight_lab.recipe.filters import (
    NvtxFilter,
    TimeFilter,
    apply_filter,
    parse_filters,
    parse_nvtx_filter,
    parse_time_filter,
)
from nsight_lab.trace.model import conform


def kernels(rows: list[tuple[int, int, int]]) -> pa.Table:
    return conform(
        "kernels",
        pa.table(
            {
                "start": [r[0] for r in rows],
                "end": [r[1] for r in rows],
                "pid": [r[2] for r in rows],
            }
        ),
    )


def ranges(rows: list[tuple[int, int, int, str, str]]) -> pa.Table:
    return conform(
        "ranges",
        pa.table(
            {
                "start": [r[0] for r in rows],
                "end": [r[1] for r in rows],
                "pid": [r[2] for r in rows],
                "name": [r[3] for r in rows],
                "domain": [r[4] for r in rows],
                "kind": ["push_pop"] * len(rows),
            }
        ),
    )


def test_parse_time_filter_sides_may_be_empty() -> None:
    assert parse_time_filter("10/20") == TimeFilter(10, 20)
    assert parse_time_filter("/20") == TimeFilter(None, 20)
    assert parse_time_filter("10/") == TimeFilter(10, None)


@pytest.mark.parametrize("text", ["abc", "10-20", "30/20"])
def test_bad_time_filter_names_the_option(text: str) -> None:
    with pytest.raises(RecipeArgError, match="--filter-time") as info:
        parse_time_filter(text)
    assert info.value.field == "filter_time"


def test_parse_nvtx_filter_forms() -> None:
    assert parse_nvtx_filter("step") == NvtxFilter("step", None, 0)
    assert parse_nvtx_filter("step@train/3") == NvtxFilter("step", "train", 3)
    assert parse_nvtx_filter("a/b") == NvtxFilter("a/b", None, 0)


def test_filters_exclude_each_other() -> None:
    with pytest.raises(RecipeArgError, match="exclude each other"):
        parse_filters("1/2", "step")


def test_time_filter_keeps_events_wholly_inside() -> None:
    tables = {
        "kernels": kernels([(0, 5, 1), (10, 20, 1), (15, 40, 1)]),
        "processes": conform("processes", pa.table({"pid": [1]})),
    }
    out = apply_filter(tables, TimeFilter(10, 30))
    assert out["kernels"]["start"].to_pylist() == [10]
    assert out["processes"].num_rows == 1


def test_nvtx_filter_uses_the_indexth_range_per_process() -> None:
    tables = {
        "kernels": kernels([(5, 6, 1), (12, 13, 1), (22, 23, 1), (22, 23, 2), (52, 53, 2)]),
        "ranges": ranges(
            [
                (10, 15, 1, "step", ""),
                (20, 25, 1, "step", ""),
                (50, 60, 2, "step", "d"),
                (0, 100, 2, "step", "d"),
            ]
        ),
    }
    second = apply_filter(tables, NvtxFilter("step", None, 1))
    # pid 1: second range is 20..25; pid 2: ranges sorted by start -> 0..100 then 50..60.
    assert sorted(
        zip(
            second["kernels"]["pid"].to_pylist(),
            second["kernels"]["start"].to_pylist(),
            strict=True,
        )
    ) == [(1, 22), (2, 52)]
    first_in_d = apply_filter(tables, NvtxFilter("step", "d", 0))
    assert first_in_d["kernels"]["pid"].to_pylist() == [2, 2]
    none = apply_filter(tables, NvtxFilter("missing", None, 0))
    assert none["kernels"].num_rows == 0

"""summary_table gives the same answers whichever way it computes them.

Large inputs are split into one sorted part per thread, values are packed with their
group into one int64 when they fit (else sorted by two keys), and sums of squares
are exact integers when they fit (else float). Each test drives one of those paths
through the public function and checks it against the ``statistics`` module.
"""

from __future__ import annotations

import random
import statistics

import numpy as np
import pyarrow as pa
import pytest

from nsight_lab.recipe import stats
from nsight_lab.recipe.stats import summary_table


def expected_rows(keys: list[str], values: list[int]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[int]] = {}
    for key, value in zip(keys, values, strict=True):
        groups.setdefault(key, []).append(value)
    return {
        key: {
            "Instances": len(v),
            "Total Time (ns)": sum(v),
            "Min (ns)": min(v),
            "Max (ns)": max(v),
            "Med (ns)": statistics.median(v),
            "StdDev (ns)": statistics.stdev(v) if len(v) > 1 else 0.0,
        }
        for key, v in groups.items()
    }


def assert_matches(table: pa.Table, keys: list[str], values: list[int]) -> None:
    expected = expected_rows(keys, values)
    rows = {r["Name"]: r for r in table.to_pylist()}
    assert set(rows) == set(expected)
    for key, want in expected.items():
        got = rows[key]
        for column in ("Instances", "Total Time (ns)", "Min (ns)", "Max (ns)", "Med (ns)"):
            assert got[column] == want[column], (key, column)
        assert got["StdDev (ns)"] == pytest.approx(want["StdDev (ns)"], rel=1e-12), key


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split even small inputs into three parts, whatever the machine's core count."""
    monkeypatch.setattr(stats, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(stats, "ROWS_PER_GROUP_FOR_PARALLEL", 0)
    monkeypatch.setattr(stats, "MAX_THREADS", 3)


def chunked(
    keys: list[str], values: list[int], size: int
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Keys in dictionary chunks, each with its own dictionary, as Parquet batches come."""
    key_chunks = [
        pa.array(keys[i : i + size]).dictionary_encode() for i in range(0, len(keys), size)
    ]
    value_chunks = [pa.array(values[i : i + size], pa.int64()) for i in range(0, len(values), size)]
    return pa.chunked_array(key_chunks), pa.chunked_array(value_chunks)


@pytest.mark.usefixtures("parallel")
def test_parts_combine_to_the_whole_when_groups_drift_between_parts() -> None:
    """Medians and deviations spanning parts, where each part sees other values."""
    rng = random.Random(3)
    keys, values = [], []
    for i in range(6_000):
        key = rng.choice("abcdef")
        drift = 50_000 * (i * 3 // 6_000) if key in "ab" else 0
        keys.append(key)
        values.append(drift + rng.randint(1, 1_000))
    keys += ["only-last-part", "only-last-part"]
    values += [7, 10]
    key_array, value_array = chunked(keys, values, 500)
    assert_matches(summary_table(key_array, value_array), keys, values)


@pytest.mark.usefixtures("parallel")
def test_even_and_odd_counts_and_ties_across_parts() -> None:
    keys = ["even"] * 10 + ["odd"] * 9 + ["same"] * 12
    values = [5, 1, 9, 3, 3, 8, 2, 7, 4, 6] + [4, 4, 1, 9, 4, 2, 4, 8, 3] + [42] * 12
    key_array, value_array = chunked(keys, values, 4)
    assert_matches(summary_table(key_array, value_array), keys, values)


def test_parallel_and_single_thread_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 40, 50_000)
    keys = pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array([f"k{i}" for i in range(40)])
    )
    values = pa.array(rng.integers(-1_000, 3_000_000, 50_000))
    single = summary_table(keys, values)
    monkeypatch.setattr(stats, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(stats, "ROWS_PER_GROUP_FOR_PARALLEL", 0)
    monkeypatch.setattr(stats, "MAX_THREADS", 2)
    split = summary_table(pa.chunked_array([keys[:20_000], keys[20_000:]]), values)
    exact = [c for c in split.column_names if c not in ("StdDev (ns)", "Time (%)")]
    assert split.select(exact).equals(single.select(exact))
    assert np.allclose(
        split["StdDev (ns)"].to_numpy(), single["StdDev (ns)"].to_numpy(), rtol=1e-12
    )


def test_negative_durations_are_summarised_not_rejected() -> None:
    """A clock step can make end < start; the statistics still hold."""
    keys = ["a", "a", "a", "b", "b"]
    values = [-5, 10, -20, -3, -1]
    assert_matches(summary_table(pa.array(keys), pa.array(values)), keys, values)


def test_values_too_wide_to_pack_with_their_group_still_summarise() -> None:
    """Byte counts or clocks near 2**62 leave no bits for the group code."""
    keys = ["a", "b", "a", "c", "b", "a"]
    values = [2**61, 1, -(2**61), 3, 2**60, 1024]
    assert_matches(summary_table(pa.array(keys), pa.array(values)), keys, values)


def test_spread_too_wide_for_exact_square_sums_uses_floats() -> None:
    keys = ["a"] * 5 + ["b"] * 3
    values = [0, 2**35, 2**34, 3, 2**33, 10, 11, 15]
    assert_matches(summary_table(pa.array(keys), pa.array(values)), keys, values)


def test_stddev_of_large_values_with_a_tiny_spread_is_exact() -> None:
    """Squares of 10**12 would swamp a spread of a few ns in floating point."""
    keys = ["a"] * 7
    values = [10**12 + d for d in (3, 1, 4, 1, 5, 9, 2)]
    table = summary_table(pa.array(keys), pa.array(values))
    assert table["StdDev (ns)"][0].as_py() == pytest.approx(
        statistics.stdev([3, 1, 4, 1, 5, 9, 2]), rel=1e-14
    )


def test_null_keys_are_one_empty_named_group_and_null_durations_count_as_zero() -> None:
    keys = pa.chunked_array([pa.array(["a", None, "a"]), pa.array([None, "b"])])
    values = pa.array([4, 6, None, 8, 1], pa.int64())
    rows = {r["Name"]: r for r in summary_table(keys, values).to_pylist()}
    assert {n: (r["Instances"], r["Total Time (ns)"]) for n, r in rows.items()} == {
        "a": (2, 4),
        "": (2, 14),
        "b": (1, 1),
    }


def test_durations_chunked_unlike_the_keys_are_realigned() -> None:
    keys = ["x", "y", "x", "y", "x", "z"]
    values = [1, 2, 3, 4, 5, 6]
    key_array = pa.chunked_array([pa.array(keys[:4]), pa.array(keys[4:])])
    value_array = pa.chunked_array([pa.array(values[:1]), pa.array(values[1:])])
    assert_matches(summary_table(key_array, value_array), keys, values)


def test_one_dictionary_shared_by_many_chunks_gives_one_row_per_label() -> None:
    dictionary = pa.array(["k1", "k2", "k1-dup"])
    chunks = [
        pa.DictionaryArray.from_arrays(pa.array([0, 1, 2], pa.int32()), dictionary)
        for _ in range(3)
    ]
    table = summary_table(pa.chunked_array(chunks), pa.array(list(range(9))))
    assert sorted(table["Name"].to_pylist()) == ["k1", "k1-dup", "k2"]
    assert table["Instances"].to_pylist() == [3, 3, 3]

"""summary_table reproduces the nsys stats columns; checked against the statistics module."""

from __future__ import annotations

import random
import statistics

import pyarrow as pa
import pytest

from nsight_lab.recipe.stats import STAT_COLUMNS, summary_table


def test_matches_statistics_module_on_random_data() -> None:
    rng = random.Random(7)
    rows = [(rng.choice("abcde"), rng.randint(1, 10_000)) for _ in range(2_001)]
    table = summary_table(
        pa.array([k for k, _ in rows]).dictionary_encode(), pa.array([d for _, d in rows])
    )
    assert table.column_names == [*STAT_COLUMNS, "Name"]
    grand = sum(d for _, d in rows)
    for row in table.to_pylist():
        durs = [d for k, d in rows if k == row["Name"]]
        assert row["Instances"] == len(durs)
        assert row["Total Time (ns)"] == sum(durs)
        assert row["Avg (ns)"] == pytest.approx(statistics.mean(durs))
        assert row["Med (ns)"] == statistics.median(durs)
        assert row["Min (ns)"] == min(durs)
        assert row["Max (ns)"] == max(durs)
        assert row["StdDev (ns)"] == pytest.approx(statistics.stdev(durs))
        assert row["Time (%)"] == pytest.approx(100 * sum(durs) / grand)
    totals = table["Total Time (ns)"].to_pylist()
    assert totals == sorted(totals, reverse=True)


def test_even_count_median_and_single_instance_stddev() -> None:
    table = summary_table(pa.array(["a", "a", "a", "a", "b"]), pa.array([1, 2, 10, 20, 5]))
    a, b = sorted(table.to_pylist(), key=lambda r: r["Name"])
    assert a["Med (ns)"] == 6.0
    assert b["StdDev (ns)"] == 0.0 and b["Med (ns)"] == 5.0


def test_empty_input_gives_empty_table_with_columns() -> None:
    table = summary_table(
        pa.array([], pa.string()), pa.array([], pa.int64()), key_column="Operation"
    )
    assert table.num_rows == 0
    assert table.column_names[-1] == "Operation"


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 keys but 1 durations"):
        summary_table(pa.array(["a", "b"]), pa.array([1]))

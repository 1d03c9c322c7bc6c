"""Trace and TraceMetadata: every table always present, schemas exact, save/load lossless."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nsight_lab.trace import TABLES, Trace, TraceMetadata, convert_trace, load_trace
from nsight_lab.trace.sink import SortedParquetSink
from tests.unit.trace.conftest import NSYS_FIXTURE


def test_missing_tables_are_filled_and_missing_columns_are_null() -> None:
    partial = pa.table({"start": [1, 2], "end": [3, 4], "name": ["a", "b"]})
    t = Trace({"kernels": partial}, TraceMetadata(source="cupti", path="x"))
    assert set(t.tables) == set(TABLES)
    k = t.table("kernels")
    assert k.schema.equals(TABLES["kernels"])
    assert k.column("name").to_pylist() == ["a", "b"] and k.column("tid").null_count == 2


def test_unknown_table_names_are_refused() -> None:
    with pytest.raises(KeyError, match="not trace tables"):
        Trace({"kernelz": pa.table({})}, TraceMetadata(source="cupti", path="x"))
    with pytest.raises(KeyError, match="no table 'nope'"):
        Trace({}, TraceMetadata(source="cupti", path="x")).table("nope")


def test_save_and_load_round_trip(fixtures_dir: Path, tmp_path: Path) -> None:
    trace = load_trace(fixtures_dir / NSYS_FIXTURE)
    back = Trace.load(trace.save(tmp_path / "saved"))
    assert back.metadata == trace.metadata
    for name in TABLES:
        assert back.table(name).to_pylist() == trace.table(name).to_pylist(), name
        assert back.table(name).schema.equals(TABLES[name])


def test_convert_streams_into_the_same_files(fixtures_dir: Path, tmp_path: Path) -> None:
    meta = convert_trace(fixtures_dir / NSYS_FIXTURE, tmp_path / "converted")
    converted = Trace.load(tmp_path / "converted")
    direct = load_trace(fixtures_dir / NSYS_FIXTURE)
    assert meta == direct.metadata == converted.metadata
    for name in TABLES:
        assert converted.table(name).to_pylist() == direct.table(name).to_pylist(), name


def test_sorted_sink_writes_every_batch_through_its_writer_thread(tmp_path: Path) -> None:
    sink = SortedParquetSink(tmp_path / "out", run_rows=10)
    for first in range(0, 50, 10):
        sink.add("api", pa.table({"start": list(range(first, first + 10))}))
    sink.add("threads", pa.table({"pid": [1], "tid": [2]}))
    sink.close()
    sink.close()  # a second close changes nothing
    out = tmp_path / "out"
    assert pq.read_table(out / "api.parquet").column("start").to_pylist() == list(range(50))
    assert pq.read_table(out / "threads.parquet").column("tid").to_pylist() == [2]
    assert pq.read_table(out / "kernels.parquet").schema.equals(TABLES["kernels"])
    assert pq.read_table(out / "kernels.parquet").num_rows == 0  # untouched: written empty
    assert pq.ParquetFile(out / "api.parquet").metadata.row_group(0).column(0).compression in (
        "LZ4",
        "LZ4_RAW",
    )


def test_sorted_sink_reports_a_failed_write(tmp_path: Path) -> None:
    """An error on the writer thread reaches the importer, not a log line."""
    sink = SortedParquetSink(tmp_path / "out")
    (tmp_path / "out" / "threads.parquet").mkdir()  # the writer cannot create its file
    with pytest.raises(OSError):
        sink.add("threads", pa.table({"pid": [1]}))
        sink.close()


def test_load_of_a_folder_that_is_not_a_saved_trace(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a saved trace"):
        Trace.load(tmp_path)


def test_concat_adds_rows_and_unifies_dictionaries(fixtures_dir: Path) -> None:
    a = load_trace(fixtures_dir / NSYS_FIXTURE)
    both = Trace.concat([a, a])
    assert both.table("kernels").num_rows == 2 * a.table("kernels").num_rows
    assert both.table("kernels").schema.equals(TABLES["kernels"])

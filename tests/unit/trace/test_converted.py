"""Converted traces: sorted row groups, a manifest written last, and partial reads."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nsight_lab.storage.local import LocalStore
from nsight_lab.trace import TABLES, Trace, TraceFormatError, convert_trace, load_trace
from nsight_lab.trace.converted import (
    MANIFEST_FILE,
    ConversionMissing,
    ConvertedTrace,
    FolderFiles,
    StoreFiles,
    trace_key,
    trace_prefix,
)
from nsight_lab.trace.schema import TIME_COLUMNS
from nsight_lab.trace.sink import SortedParquetSink
from tests.unit.trace.conftest import KINETO_DIR, NSYS_FIXTURE

KINETO_FIXTURE = KINETO_DIR / "nccl_parser_config__nccl_data.json.gz"
SHA = "ab" * 32


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    """Every row as a tuple of plain values, in a canonical order."""
    plain = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    return sorted(zip(*(c.to_pylist() for c in plain), strict=True), key=repr)


@pytest.fixture(scope="module")
def kineto_converted(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kineto") / "trace"
    convert_trace(fixtures_dir / KINETO_FIXTURE, folder, row_group_rows=500)
    return folder


def test_the_layout_is_keyed_by_sha256_and_refuses_anything_else() -> None:
    assert trace_prefix(SHA) == f"traces/{SHA}/"
    assert trace_key(SHA, "kernels.parquet") == f"traces/{SHA}/kernels.parquet"
    for bad in ("../etc", SHA.upper(), SHA[:-1], f"{SHA}/x"):
        with pytest.raises(ValueError, match="SHA-256"):
            trace_prefix(bad)


def test_conversion_keeps_every_row_sorts_timed_tables_and_writes_a_manifest(
    fixtures_dir: Path, kineto_converted: Path
) -> None:
    direct = load_trace(fixtures_dir / KINETO_FIXTURE)
    trace = ConvertedTrace.from_folder(kineto_converted)
    manifest = json.loads((kineto_converted / MANIFEST_FILE).read_text())
    assert manifest["source"]["importer"] == "kineto"
    assert set(manifest["tables"]) == set(TABLES)
    assert trace.metadata == direct.metadata
    for name in TABLES:
        got = trace.read(name)
        assert got.schema.equals(TABLES[name]), name
        assert _rows(got) == _rows(direct.table(name)), name
        assert trace.manifest.tables[name].rows == got.num_rows
        if name in TIME_COLUMNS and got.num_rows:
            begin = got[TIME_COLUMNS[name][0]].to_numpy()
            assert (np.diff(begin) >= 0).all(), f"{name} is not sorted by time"
    kernels = trace.manifest.tables["kernels"]
    assert kernels.row_groups == -(-kernels.rows // 500)  # row groups of the size asked for
    assert kernels.start == pc_min(direct.table("kernels")["start"])
    lo, hi = trace.manifest.span or (0, 0)
    assert lo <= kernels.start and hi >= kernels.end


def pc_min(column: pa.ChunkedArray) -> int:
    return int(np.min(column.to_numpy()))


def test_a_saved_conversion_is_also_a_trace_folder(kineto_converted: Path) -> None:
    loaded = Trace.load(kineto_converted)
    assert (
        loaded.table("kernels").num_rows
        == ConvertedTrace.from_folder(kineto_converted).manifest.tables["kernels"].rows
    )


@pytest.mark.parametrize("inside", [False, True])
def test_a_time_window_reads_only_its_row_groups_and_exactly_its_rows(
    kineto_converted: Path, fixtures_dir: Path, inside: bool
) -> None:
    trace = ConvertedTrace.from_folder(kineto_converted)
    everything = trace.read("ranges", ["start", "end", "name"])
    starts, ends = everything["start"].to_numpy(), everything["end"].to_numpy()
    lo, hi = int(starts.min()), int(ends.max())
    rng = random.Random(7)
    for _ in range(20):
        a = rng.randrange(lo, hi)
        b = a + rng.randrange(1, (hi - lo) // 10)
        got = trace.read("ranges", ["start", "end", "name"], start=a, end=b, inside=inside)
        keep = (starts >= a) & (ends <= b) if inside else (starts <= b) & (ends >= a)
        assert _rows(got) == _rows(everything.filter(pa.array(keep)))
        groups = trace.row_groups("ranges", a, b, inside=inside)
        assert len(groups) < trace.manifest.tables["ranges"].row_groups  # the rest stay unread


def test_reading_columns_returns_exactly_those_and_unknown_ones_fail_by_name(
    kineto_converted: Path,
) -> None:
    trace = ConvertedTrace.from_folder(kineto_converted)
    kernels = trace.read("kernels", ["name", "start"])
    assert kernels.column_names == ["start", "name"]  # in the table's own order
    with pytest.raises(KeyError, match="no column"):
        trace.read("kernels", ["start", "duration"])
    with pytest.raises(KeyError, match="no table"):
        trace.read("kernel")


def test_to_trace_narrows_columns_so_an_undeclared_one_cannot_be_read(
    kineto_converted: Path,
) -> None:
    trace = ConvertedTrace.from_folder(kineto_converted).to_trace(
        ["kernels"], {"kernels": ["start", "end", "name"]}
    )
    assert trace.table("kernels").column_names == ["start", "end", "name"]
    assert trace.table("api").num_rows == 0 and trace.table("api").schema.equals(TABLES["api"])
    with pytest.raises(KeyError):
        trace.table("kernels")["tid"]


def test_a_folder_without_a_manifest_is_not_a_conversion(tmp_path: Path) -> None:
    trace = ConvertedTrace(FolderFiles(tmp_path))
    with pytest.raises(ConversionMissing, match="not converted"):
        _ = trace.manifest


def test_an_interrupted_conversion_leaves_no_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "broken.sqlite"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x07" * 2048)
    with pytest.raises(TraceFormatError, match=r"broken\.sqlite"):
        convert_trace(bad, tmp_path / "out")
    assert not (tmp_path / "out" / MANIFEST_FILE).exists()
    assert not list((tmp_path / "out").glob(".*.run*"))


def test_store_files_read_a_conversion_in_the_local_store(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "store", b"k" * 32)
    folder = store.local_path(trace_prefix(SHA).rstrip("/"))
    convert_trace(fixtures_dir / NSYS_FIXTURE, folder, sha256=SHA)
    trace = ConvertedTrace(StoreFiles(store, SHA))
    assert trace.manifest.sha256 == SHA
    assert trace.read("kernels", ["start"]).num_rows == 1312
    with pytest.raises(ConversionMissing):
        _ = ConvertedTrace(StoreFiles(store, "cd" * 32)).manifest


# --------------------------------------------------------------------------- sorting


def _shuffled_batches(n: int, batch: int, seed: int) -> list[pa.Table]:
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, 10_000_000, n)
    names = pa.array([f"k{i % 7}" for i in range(n)]).dictionary_encode()
    table = pa.table({"start": starts, "end": starts + rng.integers(0, 5000, n), "name": names})
    return [table.slice(i, batch) for i in range(0, n, batch)]


@pytest.mark.parametrize("run_rows", [10_000_000, 1_000, 333])
def test_sorted_sink_sorts_in_bounded_runs_and_merges_them(tmp_path: Path, run_rows: int) -> None:
    """However small the window, the output is sorted and holds every row once."""
    batches = _shuffled_batches(5_000, 250, seed=run_rows)
    sink = SortedParquetSink(tmp_path / "out", run_rows=run_rows, row_group_rows=400)
    for b in batches:
        sink.add("kernels", b)
    sink.close()
    runs = sink.stats["kernels"]["runs"]
    assert (runs == 1) if run_rows > 5_000 else (runs > 1)
    written = pq.read_table(tmp_path / "out" / "kernels.parquet")
    assert (np.diff(written["start"].to_numpy()) >= 0).all()
    expected = pa.concat_tables(batches)
    got = written.select(["start", "end", "name"])
    assert _rows(got) == _rows(expected.select(["start", "end", "name"]))
    sizes = [pq.ParquetFile(tmp_path / "out" / "kernels.parquet").metadata.row_group(i).num_rows
             for i in range(pq.ParquetFile(tmp_path / "out" / "kernels.parquet").metadata.num_row_groups)]  # fmt: skip
    assert max(sizes) <= 400
    assert not list((tmp_path / "out").glob(".*"))  # run files are gone


def test_sorted_sink_appends_ordered_input_to_one_run(tmp_path: Path) -> None:
    """nsys tables arrive in time order: they are written once, never merged."""
    sink = SortedParquetSink(tmp_path / "out", run_rows=100)
    for first in range(0, 1000, 50):
        sink.add("api", pa.table({"start": list(range(first, first + 50))}))
    sink.close()
    assert sink.stats["api"] == {"rows": 1000, "runs": 1}
    assert pq.read_table(tmp_path / "out" / "api.parquet")["start"].to_pylist() == list(range(1000))

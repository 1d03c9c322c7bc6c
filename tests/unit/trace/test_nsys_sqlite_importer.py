"""nsys SQLite exports -> trace tables; expected values come from plain SQL on the same file."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from nsight_lab.trace import Trace, TraceFormatError, load_trace
from nsight_lab.trace.importers import nsys_sqlite
from nsight_lab.trace.schema import TABLES
from tests.unit.trace.conftest import GPID, NSYS_FIXTURE, PID, TID


@pytest.fixture(scope="module", params=["connectorx", "sqlite3"], autouse=True)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs on both readers: connectorx (optional, fast) and the stdlib's sqlite3."""
    if request.param == "connectorx" and nsys_sqlite._connectorx() is None:
        pytest.skip("connectorx is not installed (or NSIGHT_LAB_NO_CONNECTORX is set)")
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "sqlite3":
            mp.setenv("NSIGHT_LAB_NO_CONNECTORX", "1")
        yield request.param


@pytest.fixture(scope="module")
def fixture_db(fixtures_dir: Path) -> Path:
    return fixtures_dir / NSYS_FIXTURE


@pytest.fixture(scope="module")
def sql(fixture_db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{fixture_db}?mode=ro", uri=True)


@pytest.fixture(scope="module")
def trace(fixture_db: Path, backend: str) -> Trace:
    return load_trace(fixture_db)


def test_every_table_is_present_and_matches_its_schema(trace: Trace) -> None:
    assert set(trace.tables) == set(TABLES)
    for name, schema in TABLES.items():
        assert trace.table(name).schema.equals(schema), name


def test_row_counts_equal_the_source_tables(trace: Trace, sql: sqlite3.Connection) -> None:
    def count(table: str) -> int:
        return sql.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    assert trace.table("kernels").num_rows == count("CUPTI_ACTIVITY_KIND_KERNEL") == 1312
    assert trace.table("memops").num_rows == count("CUPTI_ACTIVITY_KIND_MEMCPY") == 279
    assert trace.table("api").num_rows == count("CUPTI_ACTIVITY_KIND_RUNTIME") == 3048
    # OS runtime calls only (event class 27), not the "profiling started/finished" markers
    assert trace.table("osrt").num_rows == count("OSRT_API WHERE eventClass = 27") == 1828
    assert trace.table("samples").num_rows == count("COMPOSITE_EVENTS")
    assert trace.table("threads").num_rows == count("ThreadNames")
    assert trace.table("ranges").num_rows == 0  # the fixture has no NVTX_EVENTS


def test_kernel_time_per_demangled_name_equals_sql(trace: Trace, sql: sqlite3.Connection) -> None:
    expected = dict(
        sql.execute(
            "SELECT s.value, sum(k.end - k.start) FROM CUPTI_ACTIVITY_KIND_KERNEL k"
            " JOIN StringIds s ON s.id = k.demangledName GROUP BY s.value"
        )
    )
    k = trace.table("kernels").to_pandas()
    got = (k["end"] - k["start"]).groupby(k["name"], observed=True).sum().to_dict()
    assert got == expected


def test_kernel_short_names_and_launch_dims_equal_sql(
    trace: Trace, sql: sqlite3.Connection
) -> None:
    rows = sql.execute(
        "SELECT s.value, gridX, gridY, gridZ, blockX, blockY, blockZ, registersPerThread,"
        " staticSharedMemory, dynamicSharedMemory, deviceId, streamId, contextId"
        " FROM CUPTI_ACTIVITY_KIND_KERNEL k JOIN StringIds s ON s.id = k.shortName ORDER BY k.rowid"
    ).fetchall()
    cols = ["short_name", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z",
            "registers_per_thread", "static_shared_memory", "dynamic_shared_memory", "device_id",
            "stream_id", "context_id"]  # fmt: skip
    got = list(zip(*(trace.table("kernels").column(c).to_pylist() for c in cols), strict=True))
    assert got == [tuple(r) for r in rows]


def test_kernel_thread_is_the_launching_runtime_calls_thread(
    trace: Trace, sql: sqlite3.Connection
) -> None:
    expected = sql.execute(
        "SELECT (k.globalPid >> 24) & 16777215, r.globalTid & 16777215 FROM CUPTI_ACTIVITY_KIND_KERNEL k"
        " LEFT JOIN CUPTI_ACTIVITY_KIND_RUNTIME r ON r.correlationId = k.correlationId"
        " AND (r.globalTid >> 24) = (k.globalPid >> 24) ORDER BY k.rowid"
    ).fetchall()
    k = trace.table("kernels")
    assert (
        list(zip(k.column("pid").to_pylist(), k.column("tid").to_pylist(), strict=True)) == expected
    )


def test_process_ids_agree_with_the_processes_table(trace: Trace, sql: sqlite3.Connection) -> None:
    (pid,) = sql.execute(
        "SELECT p.pid FROM PROCESSES p JOIN CUPTI_ACTIVITY_KIND_KERNEL k ON k.globalPid = p.globalPid LIMIT 1"
    ).fetchone()
    assert set(trace.table("kernels").column("pid").to_pylist()) == {pid}


def test_memcpy_kinds_use_the_export_enum_labels(trace: Trace, sql: sqlite3.Connection) -> None:
    expected = sql.execute(
        "SELECT o.label, s.label, d.label, m.bytes FROM CUPTI_ACTIVITY_KIND_MEMCPY m"
        " JOIN ENUM_CUDA_MEMCPY_OPER o ON o.id = m.copyKind JOIN ENUM_CUDA_MEM_KIND s ON s.id = m.srcKind"
        " JOIN ENUM_CUDA_MEM_KIND d ON d.id = m.dstKind ORDER BY m.rowid"
    ).fetchall()
    m = trace.table("memops")
    got = list(
        zip(
            *(m.column(c).to_pylist() for c in ("copy_kind", "src_kind", "dst_kind", "bytes")),
            strict=True,
        )
    )
    assert got == expected
    assert set(m.column("kind").to_pylist()) == {"memcpy"}


def test_api_names_and_classes(trace: Trace, sql: sqlite3.Connection) -> None:
    expected = sql.execute(
        "SELECT s.value, CASE r.eventClass WHEN 1 THEN 'driver' ELSE 'runtime' END"
        " FROM CUPTI_ACTIVITY_KIND_RUNTIME r JOIN StringIds s ON s.id = r.nameId ORDER BY r.rowid"
    ).fetchall()
    api = trace.table("api")
    assert (
        list(zip(api.column("name").to_pylist(), api.column("api").to_pylist(), strict=True))
        == expected
    )


def test_cpu_samples_have_outermost_first_stacks(trace: Trace, sql: sqlite3.Connection) -> None:
    first_id, ts = sql.execute(
        "SELECT id, start FROM COMPOSITE_EVENTS ORDER BY id LIMIT 1"
    ).fetchone()
    chain = [
        r[0]
        for r in sql.execute(
            "SELECT s.value FROM SAMPLING_CALLCHAINS c JOIN StringIds s ON s.id = c.symbol"
            " WHERE c.id = ? ORDER BY c.stackDepth DESC",
            (first_id,),
        )
    ]
    row = trace.table("samples").slice(0, 1).to_pylist()[0]
    assert row["timestamp"] == ts
    assert [frame.split(" (")[0] for frame in row["stack"]] == chain


def test_each_cpu_sample_weighs_the_sampling_period(trace: Trace, sql: sqlite3.Connection) -> None:
    """nsys samples every N cycles of the CPU's top clock: N / Hz seconds per sample."""
    import json

    (cycles,) = sql.execute(
        "SELECT value FROM META_DATA_CAPTURE WHERE name = 'LINUX_PERF_OPTIONS:SAMPLING_PERIOD'"
    ).fetchone()
    (cpu_info,) = sql.execute(
        "SELECT value FROM TARGET_INFO_SYSTEM_ENV WHERE name = 'CpuInfo'"
    ).fetchone()
    top_hz = max(item["maxfreqhz"] for item in json.loads(cpu_info)["items"])
    weights = set(trace.table("samples")["weight"].to_pylist())
    assert weights == {round(int(cycles) / top_hz * 1e9)}


def test_samples_without_a_recorded_period_have_no_weight(fixture_db: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "no-period.sqlite"
    shutil.copy(fixture_db, copy)
    with sqlite3.connect(copy) as db:
        db.execute("DELETE FROM META_DATA_CAPTURE WHERE name LIKE '%SAMPLING_PERIOD'")
    samples = load_trace(copy).table("samples")
    assert samples.num_rows > 0
    assert samples["weight"].null_count == samples.num_rows


def test_osrt_names_equal_sql(trace: Trace, sql: sqlite3.Connection) -> None:
    expected = [
        r[0]
        for r in sql.execute(
            "SELECT s.value FROM OSRT_API o JOIN StringIds s ON s.id = o.nameId"
            " WHERE o.eventClass = 27 ORDER BY o.rowid"
        )
    ]
    assert trace.table("osrt").column("name").to_pylist() == expected


def test_metadata_devices_and_epoch(trace: Trace, sql: sqlite3.Connection) -> None:
    meta = dict(sql.execute("SELECT name, value FROM META_DATA_EXPORT"))
    assert trace.metadata.tool_version == meta["EXPORT_PRODUCT_VERSION"]
    assert trace.metadata.schema_version == meta["EXPORT_SCHEMA_VERSION"]
    assert (
        trace.metadata.epoch_ns
        == sql.execute("SELECT utcEpochNs FROM TARGET_INFO_SESSION_START_TIME").fetchone()[0]
    )
    assert trace.metadata.rank is None  # no MPI_RANKS table
    gpus = sql.execute(
        "SELECT DISTINCT id, name, smCount FROM TARGET_INFO_GPU ORDER BY id"
    ).fetchall()
    d = trace.table("devices")
    assert (
        list(
            zip(*(d.column(c).to_pylist() for c in ("device_id", "name", "sm_count")), strict=True)
        )
        == gpus
    )


def test_parallel_reading_gives_the_same_tables(
    fixture_db: Path, trace: Trace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nsight_lab.trace.sink import MemorySink

    monkeypatch.setattr(nsys_sqlite, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(nsys_sqlite, "BATCH_ROWS", 500)
    sink = MemorySink()
    nsys_sqlite.read(fixture_db, sink, workers=2)
    tables = sink.tables()
    for name in ("kernels", "api", "memops", "osrt"):
        assert tables[name].to_pylist() == trace.table(name).to_pylist(), name


# --------------------------------------------------------------- schema generations


def test_schema_2_export_metadata_and_inline_nvtx_text(make_export: Callable[..., Path]) -> None:
    t = load_trace(make_export(metadata_table="EXPORT_META_DATA", nvtx="text", with_memset=True))
    assert (t.metadata.tool_version, t.metadata.schema_version) == ("2021.2.1.58", "2.7.1")
    r = t.table("ranges").to_pylist()
    assert [(x["name"], x["kind"], x["domain"], x["start"], x["end"]) for x in r] == [
        ("step", "push_pop", "my-domain", 50, 900),
        ("marker", "mark", "", 60, 60),
    ]
    assert {(x["pid"], x["tid"], x["source"]) for x in r} == {(PID, TID, "nvtx")}
    m = t.table("memops").to_pylist()
    assert [(x["kind"], x["copy_kind"], x["dst_kind"], x["bytes"]) for x in m] == [
        ("memcpy", "Device-to-Host", "Pinned", 64),  # no ENUM tables: built-in labels
        ("memset", None, "Device", 128),
    ]


def test_nvtx_text_by_id_into_string_ids(make_export: Callable[..., Path]) -> None:
    t = load_trace(make_export(nvtx="textId"))
    r = t.table("ranges").to_pylist()
    assert [(x["name"], x["kind"], x["domain"]) for x in r] == [
        ("step", "push_pop", "my-domain"),
        ("inline", "start_end", ""),
    ]


def test_kernels_unpack_ids_and_join_their_launch(make_export: Callable[..., Path]) -> None:
    t = load_trace(make_export(with_enums=True))
    k = t.table("kernels").to_pylist()
    assert [(x["pid"], x["tid"], x["correlation_id"], x["name"], x["short_name"]) for x in k] == [
        (PID, TID, 7, "void k_add<float>(float*)", "k_add"),
        (PID, TID, 8, "void k_add<float>(float*)", "k_add"),
    ]
    assert (k[0]["grid_x"], k[0]["grid_y"], k[0]["grid_z"]) == (65536, 3, 2)
    assert (k[0]["block_x"], k[0]["block_y"], k[0]["block_z"], k[0]["registers_per_thread"]) == (
        1024,
        2,
        1,
        255,
    )
    assert (k[0]["static_shared_memory"], k[0]["dynamic_shared_memory"]) == (48000, 100000)
    assert t.table("memops").column("copy_kind").to_pylist() == [
        "Custom-DtoH-Label"
    ]  # ENUM table wins
    assert t.metadata.extra["export_metadata_table"] == "META_DATA_EXPORT"
    assert GPID >> 24 == PID


def test_absent_tables_become_empty_tables(make_export: Callable[..., Path]) -> None:
    t = load_trace(make_export(metadata_table=None, nvtx=None, with_kernels=False))
    assert t.table("kernels").num_rows == 0 and t.table("ranges").num_rows == 0
    assert t.table("kernels").schema.equals(TABLES["kernels"])
    assert t.metadata.tool_version == "" and t.metadata.epoch_ns is None


def test_empty_tables_and_empty_string_ids(make_export: Callable[..., Path]) -> None:
    path = make_export()
    con = sqlite3.connect(path)
    for table in ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_RUNTIME", "StringIds"):
        con.execute(f"DELETE FROM {table}")
    con.commit()
    con.close()
    t = load_trace(path)
    assert t.table("kernels").num_rows == 0 and t.table("api").num_rows == 0
    assert t.table("ranges").column("name").to_pylist() == [
        None,
        "inline",
    ]  # textId with no StringIds


def test_missing_string_ids_table_leaves_names_null(make_export: Callable[..., Path]) -> None:
    t = load_trace(make_export(with_strings=False, nvtx=None))
    assert t.table("kernels").column("name").to_pylist() == [None, None]
    assert t.table("kernels").column("start").to_pylist() == [300, 500]


# --------------------------------------------------------------- bad input


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "report.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(TraceFormatError, match=r"report\.sqlite.*not a SQLite database"):
        load_trace(bad, format="nsys-sqlite")


def test_truncated_database(fixture_db: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.sqlite"
    cut.write_bytes(fixture_db.read_bytes()[:50_000])
    with pytest.raises(TraceFormatError, match=r"cut\.sqlite"):
        load_trace(cut)


def test_kernel_table_without_required_column(make_export: Callable[..., Path]) -> None:
    path = make_export()
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE CUPTI_ACTIVITY_KIND_KERNEL DROP COLUMN correlationId")
    con.commit()
    con.close()
    with pytest.raises(
        TraceFormatError,
        match=r"CUPTI_ACTIVITY_KIND_KERNEL lacks required column\(s\) correlationId",
    ):
        load_trace(path)


def test_text_where_integers_belong(make_export: Callable[..., Path]) -> None:
    path = make_export()
    con = sqlite3.connect(path)
    con.execute("UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET start = 'soon' WHERE correlationId = 8")
    con.commit()
    con.close()
    with pytest.raises(
        TraceFormatError, match=r"CUPTI_ACTIVITY_KIND_KERNEL holds non-integer values"
    ):
        load_trace(path)


@pytest.mark.parametrize("backend", ["connectorx"], indirect=True)  # only it fails this way
def test_a_failing_connectorx_call_is_read_again_by_sqlite3(
    fixture_db: Path, trace: Trace, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stand-in for connectorx failing on its own under load ("timed out waiting for
    connection", seen in worker processes on busy cores): every other range fails, and
    the report still reads whole, equal to a clean read."""
    real = nsys_sqlite._connectorx()
    calls = {"n": 0, "failed": 0}

    class Flaky:
        @staticmethod
        def read_sql(*args: object, **kwargs: object) -> object:
            calls["n"] += 1
            if calls["n"] % 2:
                calls["failed"] += 1
                raise RuntimeError("timed out waiting for connection")
            return real.read_sql(*args, **kwargs)

    monkeypatch.setattr(nsys_sqlite, "_connectorx", lambda: Flaky)
    again = load_trace(fixture_db)
    assert calls["failed"] >= 3
    for name in TABLES:
        assert again.table(name).equals(trace.table(name)), name


# --------------------------------------------------------------- selection and edge ids


def test_only_the_requested_tables_are_imported(fixture_db: Path, trace: Trace) -> None:
    only = load_trace(fixture_db, tables=["kernels"])
    assert only.table("api").num_rows == 0 and only.table("osrt").num_rows == 0
    assert (
        only.table("kernels").to_pylist() == trace.table("kernels").to_pylist()
    )  # tid still joined
    with pytest.raises(ValueError, match="not trace tables"):
        load_trace(fixture_db, tables=["kernel"])


def test_launch_join_beyond_the_packed_widths(make_export: Callable[..., Path]) -> None:
    """Correlation ids past 32 bits and many processes take the wide-key path."""
    path = make_export()
    con = sqlite3.connect(path)
    big = 2**35
    con.execute("UPDATE CUPTI_ACTIVITY_KIND_RUNTIME SET correlationId = correlationId + ?", (big,))
    con.execute("UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET correlationId = correlationId + ?", (big,))
    rows = [
        (1000 + i, 1001 + i, ((5000 + i) << 24) | 7, i) for i in range(200)
    ]  # 200 other processes
    con.executemany("INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (?, ?, 0, ?, ?, 1, 0)", rows)
    con.commit()
    con.close()
    k = load_trace(path).table("kernels")
    assert k.column("tid").to_pylist() == [TID, TID]
    assert k.column("correlation_id").to_pylist() == [big + 7, big + 8]


def test_unlaunched_kernels_have_no_thread(make_export: Callable[..., Path]) -> None:
    path = make_export()
    con = sqlite3.connect(path)
    con.execute("UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET correlationId = 999 WHERE correlationId = 8")
    con.commit()
    con.close()
    assert load_trace(path).table("kernels").column("tid").to_pylist() == [TID, None]


def test_path_with_spaces_and_percent_signs(
    make_export: Callable[..., Path], tmp_path: Path
) -> None:
    odd = tmp_path / "my report 100%" / "run #1.sqlite"
    odd.parent.mkdir()
    make_export().rename(odd)
    assert load_trace(odd).table("kernels").num_rows == 2


def _launch_answers(batches: list[tuple[list[int], list[int], list[int]]]) -> dict:
    """(pid, correlationId) -> tid the way the importer defines it, by plain Python:
    the smallest tid when one id was launched from several threads."""
    expected: dict[tuple[int, int], int] = {}
    for pids, tids, corrs in batches:
        for p, t, c in zip(pids, tids, corrs, strict=True):
            expected[(p, c)] = min(t, expected.get((p, c), t))
    return expected


@pytest.mark.parametrize(
    "batches",
    [
        pytest.param(
            [([1] * 4, [5, 5, 6, 6], [1, 2, 3, 4]), ([1] * 2, [7, 7], [6, 9])], id="dense"
        ),
        pytest.param(
            [([1] * 3, [5, 5, 5], [1, 2, 3]), ([1, 2, 2], [6, 8, 8], [4, 2, 5])],
            id="second-process-later",
        ),
        pytest.param(
            [([1] * 3, [5, 5, 5], [1, 2, 3]), ([1, 1], [6, 6], [2, 4])],
            id="one-id-two-threads-across-batches",
        ),
        pytest.param([([1] * 3, [4, 9, 5], [1, 1, 3])], id="one-id-two-threads-in-a-batch"),
        pytest.param([([1] * 3, [5, 6, 7], [1, 2**30, 2**31 + 5])], id="sparse-ids"),
        pytest.param([([1] * 2, [5, 6], [-3, 4])], id="negative-id"),
    ],
)
def test_launch_table_answers_whatever_its_representation(batches: list) -> None:
    """The dense table gives way to packed rows mid-import without changing any answer."""
    launches = nsys_sqlite._Launches()
    for pids, tids, corrs in batches:
        launches.add(*(np.asarray(v, np.int64) for v in (pids, tids, corrs)))
    launches.freeze()
    expected = _launch_answers(batches)
    probes = [*sorted(expected), (1, 0), (1, 7), (2, 1), (3, 2), (1, 2**32 + 1)]
    got = launches.lookup(
        np.asarray([p for p, _ in probes], np.int64), np.asarray([c for _, c in probes], np.int64)
    )
    answers = [None if v == nsys_sqlite.NULL else int(v) for v in got]
    assert answers == [expected.get(p) for p in probes]

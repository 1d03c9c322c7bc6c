"""RangedReader: a seekable file that fetches only the byte ranges read, in few requests."""

from __future__ import annotations

import io
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nsight_lab.storage import StorageError
from nsight_lab.storage.ranged import RangedReader


class _Counting:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def __call__(self, start: int, stop: int) -> bytes:
        self.calls.append((start, stop))
        return self.data[start:stop]


def test_reads_seeks_and_tells_like_a_file() -> None:
    data = os.urandom(10_000)
    fetch = _Counting(data)
    reader = RangedReader(len(data), fetch, min_fetch=1024)
    assert reader.read(10) == data[:10]
    assert reader.read(10) == data[10:20]
    assert len(fetch.calls) == 1  # the second read came from the block already fetched
    assert reader.seek(-100, io.SEEK_END) == 9_900
    assert reader.read() == data[9_900:]
    assert reader.read(5) == b""  # at the end: nothing, no request
    reader.seek(5_000)
    assert reader.tell() == 5_000 and reader.read(3_000) == data[5_000:8_000]
    assert all(stop <= len(data) for _, stop in fetch.calls)


def test_a_short_answer_is_an_error_not_silent_truncation() -> None:
    reader = RangedReader(100, lambda a, b: b"x" * (b - a - 1), name="obj")
    with pytest.raises(StorageError, match="obj: asked for bytes 0-99"):
        reader.read(10)


def test_parquet_reads_a_column_without_fetching_the_others() -> None:
    """What converted traces rely on: one column of a wide file is a small part of it."""
    table = pa.table({f"c{i}": pa.array(range(200_000)) for i in range(8)})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="none")
    data = sink.getvalue()
    fetch = _Counting(data)
    reader = RangedReader(len(data), fetch, min_fetch=64 * 1024)
    got = pq.ParquetFile(reader).read(columns=["c3"])
    assert got["c3"].to_pylist() == list(range(200_000))
    fetched = sum(stop - start for start, stop in fetch.calls)
    assert fetched < len(data) / 3

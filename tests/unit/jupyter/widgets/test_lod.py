"""The multi-resolution summary must equal a brute-force merge, and answer views at ~2 blocks/pixel."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nsight_lab.jupyter.widgets.lod import (
    KEEP_RATIO,
    LodSummary,
    build_summary,
    raw_level,
    tiles_to_buffers,
)


def random_events(seed: int, n: int, n_rows: int, n_names: int = 7):
    rng = np.random.default_rng(seed)
    start = rng.integers(0, 10_000_000, n).astype(np.int64)
    # A mix of short and long events, some overlapping within a row.
    dur = np.where(rng.random(n) < 0.9, rng.integers(0, 2_000, n), rng.integers(0, 200_000, n))
    end = start + dur.astype(np.int64)
    row = rng.integers(0, n_rows, n).astype(np.int32)
    name = rng.integers(0, n_names, n).astype(np.int32)
    return start, end, row, name


def brute_merge(start, end, row, name, n_rows, gap):
    """Per row, in start order: join an event to the open block when it starts less than
    ``gap`` after the block's furthest end. Returns tuples comparable to a Level's blocks."""
    blocks = []
    for r in range(n_rows):
        idx = sorted(np.flatnonzero(row == r), key=lambda i: (start[i], i))
        current = None
        for i in idx:
            s, e, d = (
                int(start[i]),
                int(max(end[i], start[i])),
                int(max(end[i], start[i]) - start[i]),
            )
            if current is not None and s - current["end"] < gap:
                current["end"] = max(current["end"], e)
                current["count"] += 1
                current["busy"] += d
                if d > current["top"]:
                    current["top"], current["name"] = d, int(name[i])
            else:
                if current is not None:
                    blocks.append(current)
                current = {"row": r, "start": s, "end": e, "count": 1, "busy": d, "top": d,
                           "name": int(name[i])}  # fmt: skip
        if current is not None:
            blocks.append(current)
    return blocks


def level_blocks(level):
    return [
        {
            "row": int(level.row[i]),
            "start": int(level.start[i]),
            "end": int(level.end[i]),
            "count": int(level.count[i]),
            "busy": int(level.busy[i]),
            "top": int(level.top[i]),
            "name": int(level.name[i]),
        }
        for i in range(len(level))
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_stored_level_equals_a_brute_force_merge_of_the_raw_events(seed: int) -> None:
    start, end, row, name = random_events(seed, 3_000, n_rows=5)
    summary = build_summary(start, end, row, name, 5)
    assert len(summary.levels) > 3
    for level in summary.levels[1:]:
        expected = brute_merge(start, end, row, name, 5, level.gap_ns)
        got = level_blocks(level)
        # Ties in duration pick the first member in start order, in both implementations.
        assert got == expected, f"level gap={level.gap_ns} differs"


def test_levels_get_coarser_and_each_drops_at_least_a_fifth_of_the_blocks() -> None:
    summary = build_summary(*random_events(3, 20_000, n_rows=4), 4)
    gaps = summary.gaps
    assert gaps[0] == 0 and gaps == sorted(gaps) and len(set(gaps)) == len(gaps)
    sizes = [len(lv) for lv in summary.levels]
    for finer, coarser in itertools.pairwise(sizes):
        assert coarser <= KEEP_RATIO * finer
    assert sizes[-1] == 4  # the coarsest level is one block per row


def brute_window(level, t0, t1):
    keep = (level.end > t0) & (level.start < t1)
    return sorted(
        zip(
            level.row[keep].tolist(),
            level.start[keep].tolist(),
            level.end[keep].tolist(),
            strict=False,
        )
    )


@pytest.mark.parametrize("seed", [4, 5])
def test_a_query_returns_exactly_the_blocks_of_its_level_that_overlap_the_window(seed: int) -> None:
    start, end, row, name = random_events(seed, 5_000, n_rows=6)
    summary = build_summary(start, end, row, name, 6)
    rng = np.random.default_rng(seed)
    for _ in range(40):
        t0 = float(rng.integers(-1_000_000, 10_000_000))
        t1 = t0 + float(rng.integers(1, 5_000_000))
        width = int(rng.integers(1, 2_000))
        tiles = summary.query(t0, t1, width)
        level = next(lv for lv in summary.levels if lv.gap_ns == tiles.gap_ns)
        assert level is summary.level_for((t1 - t0) / width)
        got = sorted(
            zip(tiles.row.tolist(), tiles.start.tolist(), tiles.end.tolist(), strict=False)
        )
        assert got == brute_window(level, np.floor(t0), np.ceil(t1))


def test_a_full_view_of_many_events_costs_about_two_blocks_per_pixel_per_row() -> None:
    n_rows, width = 8, 1_000
    start, end, row, name = random_events(6, 200_000, n_rows=n_rows)
    summary = build_summary(start, end, row, name, n_rows)
    tiles = summary.query(0, 10_200_000, width)
    assert len(tiles) <= 2 * width * n_rows / KEEP_RATIO
    assert len(tiles) < 200_000 / 10
    # The merged blocks still account for every event in the window.
    assert int(tiles.count.sum()) == 200_000


def test_zooming_in_far_enough_returns_the_raw_events() -> None:
    start, end, row, name = random_events(7, 2_000, n_rows=2)
    summary = build_summary(start, end, row, name, 2)
    tiles = summary.query(5_000_000, 5_000_100, 1_000)
    assert tiles.gap_ns == 0 and set(tiles.count.tolist()) <= {1}


def test_an_answer_never_exceeds_the_block_budget() -> None:
    start, end, row, name = random_events(8, 50_000, n_rows=3)
    summary = build_summary(start, end, row, name, 3)
    tiles = summary.query(0, 10_200_000, 100_000, max_blocks=500)
    assert len(tiles) <= 500 and tiles.gap_ns > 0


def test_empty_input_gives_one_empty_level_and_empty_answers() -> None:
    empty = np.zeros(0, np.int64)
    summary = build_summary(empty, empty, empty.astype(np.int32), empty.astype(np.int32), 0)
    assert isinstance(summary, LodSummary) and summary.gaps == [0]
    assert len(summary.query(0, 10, 10)) == 0


def test_bad_input_and_bad_views_are_refused_with_the_reason() -> None:
    a = np.arange(3, dtype=np.int64)
    with pytest.raises(ValueError, match="same length"):
        raw_level(a, a, np.zeros(2, np.int32), np.zeros(3, np.int32), 1)
    with pytest.raises(ValueError, match=r"row indices must lie in \[0, 1\)"):
        raw_level(a, a, np.array([0, 1, 0], np.int32), np.zeros(3, np.int32), 1)
    summary = build_summary(a, a + 1, np.zeros(3, np.int32), np.zeros(3, np.int32), 1)
    with pytest.raises(ValueError, match=r"t1 .* must be greater than t0"):
        summary.query(5, 5, 100)
    with pytest.raises(ValueError, match="width_px must be at least 1"):
        summary.query(0, 5, 0)


def test_buffers_are_little_endian_columns_relative_to_the_origin() -> None:
    start, end, row, name = random_events(9, 1_000, n_rows=3)
    start, end = start + 10**15, end + 10**15  # epoch-like absolute times
    summary = build_summary(start, end, row, name, 3)
    tiles = summary.query(10**15, 10**15 + 10_000_000, 500)
    buffers = tiles_to_buffers(tiles, origin_ns=10**15)
    dtypes = ["<f8", "<f8", "<i4", "<u4", "<i4", "<f8"]
    decoded = [np.frombuffer(b, dtype=d) for b, d in zip(buffers, dtypes, strict=True)]
    assert all(len(col) == len(tiles) for col in decoded)
    np.testing.assert_array_equal(decoded[0], (tiles.start - 10**15).astype(float))
    np.testing.assert_array_equal(decoded[1], (tiles.end - 10**15).astype(float))
    np.testing.assert_array_equal(decoded[2], tiles.row)
    np.testing.assert_array_equal(decoded[3], tiles.count)
    np.testing.assert_array_equal(decoded[4], tiles.name)

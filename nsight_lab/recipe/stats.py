"""The ``nsys stats`` summary shape, computed once for every summary recipe.

Users compare our tables with ``nsys stats`` output and feed them to the same
scripts, so column names, their order and their statistics (median as the mean of
the two middle values, sample standard deviation, sorting by total time) must match
exactly. Recipes call :func:`summary_table` rather than each computing its own.

Speed matters: this runs over tens of millions of kernels, and the baseline it is
measured against (one DuckDB ``GROUP BY``) uses every core. Each row becomes one
int64 ``group code << bits | duration``; sorting those keys groups the rows *and*
orders each group's durations, so min, max and the median are plain lookups and
sums are ``reduceat`` over contiguous runs. Strings are never touched per row: each
chunk's small dictionary is mapped onto one label list. The rows are split into one
part per core, each built and sorted in its own thread (numpy releases the GIL);
the parts' sums and variances combine exactly, and a median spanning parts is found
by bisecting on the value, counting with ``searchsorted`` in each sorted part.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STAT_COLUMNS = (
    "Time (%)",
    "Total Time (ns)",
    "Instances",
    "Avg (ns)",
    "Med (ns)",
    "Min (ns)",
    "Max (ns)",
    "StdDev (ns)",
)

ArrayLike: TypeAlias = pa.Array | pa.ChunkedArray

#: Below this many rows one thread is faster than handing work to a pool.
PARALLEL_MIN_ROWS = 1 << 20
#: Threads for large inputs: one per core (numpy sorts and sums outside the GIL).
MAX_THREADS = max(1, min(os.cpu_count() or 1, 8))
#: Cross-part medians cost O(groups x value bits) searches; with very many groups
#: relative to rows one sorted part is cheaper.
ROWS_PER_GROUP_FOR_PARALLEL = 4096


def _chunks(values: ArrayLike | list[ArrayLike]) -> list[pa.Array]:
    items = values if isinstance(values, list) else [values]
    out: list[pa.Array] = []
    for item in items:
        out.extend(item.chunks if isinstance(item, pa.ChunkedArray) else [item])
    return [c for c in out if len(c)]


@dataclass
class _CodedChunk:
    """One chunk's rows as indices into its own dictionary plus that dictionary's
    global codes: the per-row global code is ``mapping[indices]``, computed only
    where it is consumed so no codes array is materialised."""

    mapping: np.ndarray
    indices: np.ndarray


def _encode_keys(chunks: list[pa.Array]) -> tuple[list[_CodedChunk], pa.Array]:
    """Each chunk as a :class:`_CodedChunk`, and the label of each global code.

    Chunks (from several reports, or several row groups) carry different
    dictionaries; each one is mapped onto one global label list (nulls become "").
    Consecutive chunks usually share a dictionary (one Parquet row group is read as
    several batches), so an equal dictionary reuses the previous mapping.
    """
    index: dict[str, int] = {}
    out: list[_CodedChunk] = []
    previous: pa.Array | None = None
    mapping = np.zeros(0, dtype=np.int64)
    for chunk in chunks:
        encoded: pa.DictionaryArray = (
            chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
        )
        dictionary = encoded.dictionary
        if previous is None or not dictionary.equals(previous):
            labels = ["" if v is None else str(v) for v in dictionary.to_pylist()]
            mapping = np.array([index.setdefault(v, len(index)) for v in labels], dtype=np.int64)
            previous = dictionary
        raw = encoded.indices
        chunk_mapping = mapping
        if raw.null_count:
            chunk_mapping = np.append(mapping, index.setdefault("", len(index)))
            raw = raw.fill_null(len(mapping))
        out.append(_CodedChunk(chunk_mapping, raw.to_numpy(zero_copy_only=False)))
    return out, pa.array(list(index), pa.string())


def _codes_and_labels(keys: ArrayLike | list[ArrayLike]) -> tuple[np.ndarray, pa.Array]:
    """Integer group code per row, and the label of each code (nulls become "")."""
    coded, labels = _encode_keys(_chunks(keys))
    parts = [c.mapping[c.indices] for c in coded]
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)), labels


def _int64(chunk: pa.Array) -> np.ndarray:
    filled = chunk.fill_null(0) if chunk.null_count else chunk
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.int64)


def _durations(durations_ns: ArrayLike | list[ArrayLike]) -> np.ndarray:
    arrays = [_int64(c) for c in _chunks(durations_ns)]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)


def _aligned_durations(durations: list[pa.Array], lengths: list[int]) -> list[np.ndarray]:
    """Durations as int64 arrays cut like the key chunks (zero-copy when already so)."""
    if [len(c) for c in durations] == lengths:
        return [_int64(c) for c in durations]
    whole = _int64(durations[0]) if len(durations) == 1 else _durations(durations)
    return np.split(whole, np.cumsum(lengths)[:-1]) if lengths else []


@dataclass
class _Part:
    """One thread's share of the rows, sorted by (group, value), with its statistics.

    The per-group arrays are aligned with ``present`` (the codes that occur in this
    part); ``low``/``high`` are the part's two middle values and ``m2`` its sum of
    squared deviations from the part's own mean, the form in which variances add up.
    """

    keys: np.ndarray | None
    bounds: np.ndarray
    present: np.ndarray
    counts: np.ndarray
    totals: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    low: np.ndarray
    high: np.ndarray
    m2: np.ndarray


def _summarise_sorted(values: np.ndarray, bounds: np.ndarray, keys: np.ndarray | None) -> _Part:
    """Statistics of rows grouped and ordered by value; ``values`` is scratch space.

    The squared deviations are taken from each group's median, known exactly here,
    so the float sum never subtracts two nearly equal large numbers.
    """
    all_counts = np.diff(bounds)
    present = np.flatnonzero(all_counts)
    starts = bounds[present]
    counts = all_counts[present]
    totals = np.add.reduceat(values, starts)
    mins = values[starts]
    maxs = values[starts + counts - 1]
    low = values[starts + (counts - 1) // 2]
    high = values[starts + counts // 2]
    values -= np.repeat(low, counts)
    shifted = np.add.reduceat(values, starts).astype(np.float64)
    squares = np.add.reduceat(np.square(values, dtype=np.float64), starts)
    m2 = np.maximum(squares - shifted * shifted / counts, 0.0)
    return _Part(keys, bounds, present, counts, totals, mins, maxs, low, high, m2)


def _split_rows(lengths: list[int], parts: int) -> list[list[int]]:
    """Chunk indices for each part: contiguous runs of about equal row counts."""
    total = sum(lengths)
    out: list[list[int]] = [[] for _ in range(parts)]
    seen = 0
    for i, length in enumerate(lengths):
        out[min(parts - 1, seen * parts // total)].append(i)
        seen += length
    return [p for p in out if p]


def _thread_count(rows: int, groups: int) -> int:
    if rows < PARALLEL_MIN_ROWS or groups * ROWS_PER_GROUP_FOR_PARALLEL > rows:
        return 1
    return MAX_THREADS


@dataclass
class _Packing:
    """How a (code, value) pair fits one sortable int64: ``code << bits | value - offset``."""

    offset: int
    bits: int

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1


def _extremes(durations: list[np.ndarray]) -> tuple[int, int]:
    return min(int(d.min()) for d in durations), max(int(d.max()) for d in durations)


def _packing(found: list[tuple[int, int]], groups: int) -> _Packing | None:
    """The packing for values in the parts' (min, max) ranges, if codes fit above them."""
    low = min(f[0] for f in found)
    high = max(f[1] for f in found)
    bits = (high - low).bit_length()
    if bits > 62 or (groups - 1) >> (63 - bits):
        return None
    return _Packing(low, bits)


def _sorted_part(
    coded: list[_CodedChunk], durations: list[np.ndarray], groups: int, packing: _Packing
) -> _Part:
    """Pack, sort and summarise one part's chunks (runs in a worker thread)."""
    keys = np.empty(sum(len(d) for d in durations), dtype=np.int64)
    at = 0
    for chunk, dur in zip(coded, durations, strict=True):
        segment = keys[at : at + len(dur)]
        np.take(chunk.mapping, chunk.indices, out=segment, mode="clip")
        segment <<= packing.bits
        segment |= dur - packing.offset if packing.offset else dur
        at += len(dur)
    keys.sort()
    starts = np.searchsorted(keys, np.arange(groups, dtype=np.int64) << packing.bits)
    return _summarise_packed(keys, np.append(starts, len(keys)), packing)


def _summarise_packed(keys: np.ndarray, bounds: np.ndarray, packing: _Packing) -> _Part:
    """:func:`_summarise_sorted` straight from the sorted keys, in three passes.

    A key minus its group's packed median is the value minus the median, so sums
    of keys and of squared keys give each group's exact sum and sum of squared
    deviations; computed modulo 2**64 (uint64 wraps by definition), they are exact
    whenever the true results fit, which the groups' widths prove beforehand.
    """
    all_counts = np.diff(bounds)
    present = np.flatnonzero(all_counts)
    starts = bounds[present]
    counts = all_counts[present]

    def value(at: np.ndarray) -> np.ndarray:
        return (keys[at] & packing.mask) + packing.offset

    mins, maxs = value(starts), value(starts + counts - 1)
    low, high = value(starts + (counts - 1) // 2), value(starts + counts // 2)
    widest = np.maximum(maxs - low, low - mins).astype(np.float64)
    if np.any(widest * widest * counts >= 2.0**62):
        values = (keys & packing.mask) + packing.offset
        return _summarise_sorted(values, bounds, keys)
    n = counts.astype(np.uint64)
    shift = ((present << packing.bits) | (low - packing.offset)).astype(np.uint64)
    key_sums, square_sums = _sums_and_square_sums(keys.view(np.uint64), starts)
    shifted = (key_sums - n * shift).view(np.int64)
    squares = (square_sums - np.uint64(2) * shift * key_sums + n * shift * shift).view(np.int64)
    totals = shifted + counts * low
    deviation = shifted.astype(np.float64)
    m2 = np.maximum(squares.astype(np.float64) - deviation * deviation / counts, 0.0)
    return _Part(keys, bounds, present, counts, totals, mins, maxs, low, high, m2)


#: Rows squared at a time: small enough to stay in cache between squaring and summing.
_BLOCK = 1 << 15


def _sums_and_square_sums(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-group sums of ``values`` and of their squares (uint64, so modulo 2**64).

    Squaring the whole array first would write and re-read a second array as large
    as the input; squaring one cache-sized block at a time reads the input once.
    Each block is cut at group starts; the pieces' sums then add up per group.
    """
    edges = np.arange(0, len(values), _BLOCK)
    cuts = np.union1d(starts, edges)
    first = np.append(np.searchsorted(cuts, edges), len(cuts)).tolist()
    sums = np.empty(len(cuts), dtype=np.uint64)
    squares = np.empty(len(cuts), dtype=np.uint64)
    scratch = np.empty(_BLOCK, dtype=np.uint64)
    for i, begin in enumerate(edges.tolist()):
        block = values[begin : begin + _BLOCK]
        local = cuts[first[i] : first[i + 1]] - begin
        sums[first[i] : first[i + 1]] = np.add.reduceat(block, local)
        squared = np.square(block, out=scratch[: len(block)])
        squares[first[i] : first[i + 1]] = np.add.reduceat(squared, local)
    groups = np.searchsorted(cuts, starts)
    return np.add.reduceat(sums, groups), np.add.reduceat(squares, groups)


def _sorted_by_lexsort(coded: list[_CodedChunk], durations: list[np.ndarray], groups: int) -> _Part:
    """Rows whose (code, value) cannot share one int64: a slower two-key sort."""
    codes = np.concatenate([c.mapping[c.indices] for c in coded])
    values = np.concatenate(durations)
    order = np.lexsort((values, codes))
    bounds = np.searchsorted(codes[order], np.arange(groups + 1, dtype=np.int64))
    return _summarise_sorted(values[order], bounds, None)


def _kth_across(
    parts: list[_Part],
    codes: np.ndarray,
    ranks: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    bits: int,
) -> np.ndarray:
    """The ``ranks``-th smallest (packed-offset) value of each group over all parts.

    Bisection on the value: the answer is the smallest v whose count of values <= v
    exceeds the rank, and each part counts with one vectorised ``searchsorted``.
    """
    base = codes << bits
    while True:
        if not np.any(lo < hi):
            return lo
        mid = lo + (hi - lo) // 2
        seen = np.zeros(len(codes), dtype=np.int64)
        for part in parts:
            assert part.keys is not None
            seen += np.searchsorted(part.keys, base | mid, side="right") - part.bounds[codes]
        enough = seen > ranks
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid + 1)


@dataclass
class _GroupStats:
    codes: np.ndarray
    counts: np.ndarray
    totals: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    medians: np.ndarray
    stddevs: np.ndarray


def _combine(parts: list[_Part], groups: int, packing: _Packing | None) -> _GroupStats:
    """Merge the parts' per-group statistics; medians spanning parts are bisected."""
    if len(parts) == 1:
        p = parts[0]
        counts, totals, mins, maxs, low, high, m2 = (
            p.counts,
            p.totals,
            p.mins,
            p.maxs,
            p.low,
            p.high,
            p.m2,
        )
        codes = p.present
    else:
        assert packing is not None
        counts_all = np.zeros(groups, dtype=np.int64)
        totals_all = np.zeros(groups, dtype=np.int64)
        mins_all = np.full(groups, np.iinfo(np.int64).max, dtype=np.int64)
        maxs_all = np.full(groups, np.iinfo(np.int64).min, dtype=np.int64)
        spans = np.zeros(groups, dtype=np.int64)
        low_all = np.zeros(groups, dtype=np.int64)
        high_all = np.zeros(groups, dtype=np.int64)
        for p in parts:
            counts_all[p.present] += p.counts
            totals_all[p.present] += p.totals
            mins_all[p.present] = np.minimum(mins_all[p.present], p.mins)
            maxs_all[p.present] = np.maximum(maxs_all[p.present], p.maxs)
            spans[p.present] += 1
            low_all[p.present] = p.low
            high_all[p.present] = p.high
        codes = np.flatnonzero(counts_all)
        counts, totals = counts_all[codes], totals_all[codes]
        mins, maxs = mins_all[codes], maxs_all[codes]
        low, high = low_all[codes], high_all[codes]
        mean = totals / counts
        m2_all = np.zeros(groups, dtype=np.float64)
        mean_all = np.zeros(groups, dtype=np.float64)
        mean_all[codes] = mean
        for p in parts:
            gap = p.totals / p.counts - mean_all[p.present]
            m2_all[p.present] += p.m2 + p.counts * gap * gap
        m2 = m2_all[codes]
        shared = np.flatnonzero(spans[codes] > 1)
        if len(shared):
            lo, hi = mins[shared] - packing.offset, maxs[shared] - packing.offset
            n = counts[shared]
            for ranks, out in (((n - 1) // 2, low), (n // 2, high)):
                found = _kth_across(parts, codes[shared], ranks, lo.copy(), hi.copy(), packing.bits)
                out[shared] = found + packing.offset
    with np.errstate(invalid="ignore", divide="ignore"):
        stddevs = np.where(counts > 1, np.sqrt(m2 / np.maximum(counts - 1, 1)), 0.0)
    medians = (low.astype(np.float64) + high.astype(np.float64)) / 2.0
    return _GroupStats(codes, counts, totals, mins, maxs, medians, stddevs)


def _group_stats(coded: list[_CodedChunk], durations: list[np.ndarray], groups: int) -> _GroupStats:
    split = _split_rows(
        [len(d) for d in durations], _thread_count(sum(map(len, durations)), groups)
    )
    shares = [([coded[i] for i in idx], [durations[i] for i in idx]) for idx in split]
    if len(shares) == 1:
        packing = _packing([_extremes(durations)], groups)
        if packing is None:
            return _combine([_sorted_by_lexsort(coded, durations, groups)], groups, None)
        return _combine([_sorted_part(coded, durations, groups, packing)], groups, packing)
    with ThreadPoolExecutor(max_workers=len(shares)) as pool:
        packing = _packing(list(pool.map(_extremes, [d for _, d in shares])), groups)
        if packing is None:
            return _combine([_sorted_by_lexsort(coded, durations, groups)], groups, None)
        known = packing
        parts = list(pool.map(lambda s: _sorted_part(s[0], s[1], groups, known), shares))
    return _combine(parts, groups, packing)


def empty_summary(key_column: str = "Name", count_column: str = "Instances") -> pa.Table:
    return summary_schema(key_column, count_column).empty_table()


def summary_schema(key_column: str = "Name", count_column: str = "Instances") -> pa.Schema:
    """The nsys stats columns; ``count_column`` is ``Num Calls`` for the API summaries."""
    return pa.schema(
        [
            ("Time (%)", pa.float64()),
            ("Total Time (ns)", pa.int64()),
            (count_column, pa.int64()),
            ("Avg (ns)", pa.float64()),
            ("Med (ns)", pa.float64()),
            ("Min (ns)", pa.int64()),
            ("Max (ns)", pa.int64()),
            ("StdDev (ns)", pa.float64()),
            (key_column, pa.string()),
        ]
    )


def summary_table(
    keys: ArrayLike | list[ArrayLike],
    durations_ns: ArrayLike | list[ArrayLike],
    key_column: str = "Name",
    count_column: str = "Instances",
) -> pa.Table:
    """Per-key duration statistics in the ``nsys stats`` column layout.

    ``keys``/``durations_ns`` may be lists of arrays (one per report): same result
    as their concatenation, without copying strings.
    Sorted by total time, largest first (ties by key, so output is deterministic).
    ``Time (%)`` is each key's share of the summed durations of all keys.
    """
    key_chunks = _chunks(keys)
    duration_chunks = _chunks(durations_ns)
    lengths = [len(c) for c in key_chunks]
    n_durations = sum(len(c) for c in duration_chunks)
    if sum(lengths) != n_durations:
        raise ValueError(f"summary_table: {sum(lengths)} keys but {n_durations} durations")
    if not lengths:
        return empty_summary(key_column, count_column)
    coded, labels = _encode_keys(key_chunks)
    stats = _group_stats(coded, _aligned_durations(duration_chunks, lengths), len(labels))

    grand = float(stats.totals.sum())
    pct = stats.totals / grand * 100.0 if grand > 0 else np.zeros(len(stats.totals))
    table = pa.table(
        {
            "Time (%)": pa.array(pct, pa.float64()),
            "Total Time (ns)": pa.array(stats.totals, pa.int64()),
            count_column: pa.array(stats.counts, pa.int64()),
            "Avg (ns)": pa.array(stats.totals / stats.counts, pa.float64()),
            "Med (ns)": pa.array(stats.medians, pa.float64()),
            "Min (ns)": pa.array(stats.mins, pa.int64()),
            "Max (ns)": pa.array(stats.maxs, pa.int64()),
            "StdDev (ns)": pa.array(stats.stddevs, pa.float64()),
            key_column: labels.take(pa.array(stats.codes)),
        },
        schema=summary_schema(key_column, count_column),
    )
    return table.sort_by([("Total Time (ns)", "descending"), (key_column, "ascending")])


KEY = "key"
DURATION = "duration"


def key_durations(keys: ArrayLike, durations_ns: ArrayLike) -> pa.Table:
    """The map-side half of a summary: one row per event with its key and duration.

    Medians do not combine across reports, so maps hand over the raw durations and
    :func:`reduce_summaries` summarises them once, over all reports.
    """
    return pa.table({KEY: keys, DURATION: pc.cast(durations_ns, pa.int64())})


def reduce_summaries(
    parts: list[tuple[object, pa.Table]], key_column: str = "Name", count_column: str = "Instances"
) -> dict[str, pa.Table]:
    """``stats`` over all reports and ``rank_stats`` per report (with ``Rank`` and ``Report``).

    ``parts`` holds (ReportInfo, key_durations table) pairs; Rank is the report's
    position in the input list, as in nsys's multi-report output.
    """
    if not parts:
        empty = empty_summary(key_column, count_column)
        return {"stats": empty, "rank_stats": _with_report_cols(empty, [], [])}
    combined = summary_table(
        [t[KEY] for _, t in parts], [t[DURATION] for _, t in parts], key_column, count_column
    )
    per_report = []
    for info, table in parts:
        one = (
            combined
            if len(parts) == 1
            else summary_table(table[KEY], table[DURATION], key_column, count_column)
        )
        index = int(getattr(info, "index", 0))
        name = str(getattr(info, "name", ""))
        per_report.append(_with_report_cols(one, [index] * one.num_rows, [name] * one.num_rows))
    return {"stats": combined, "rank_stats": pa.concat_tables(per_report)}


def _with_report_cols(table: pa.Table, ranks: list[int], names: list[str]) -> pa.Table:
    table = table.append_column("Rank", pa.array(ranks, pa.int64()))
    return table.append_column("Report", pa.array(names, pa.string()))


def merge_summary_inputs(parts: list[tuple[ArrayLike, ArrayLike]]) -> tuple[pa.Array, pa.Array]:
    """Concatenate (keys, durations) pairs from several reports into one pair.

    Keys come back dictionary-encoded over one shared dictionary, so millions of
    rows never become one huge string buffer. (``summary_table`` also takes the
    lists directly.)
    """
    codes, labels = _codes_and_labels([k for k, _ in parts])
    durations = _durations([d for _, d in parts])
    keys = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), labels)
    return keys, pa.array(durations, pa.int64())

"""NCCL: its API calls (ranges) and its kernels, and how much compute the kernels hide.

NCCL records no table of its own. Its calls are NVTX ranges of the ``NCCL`` domain
(``ncclAllReduce``, ``ncclGroupEnd``...), which NCCL emits itself and nsys records;
PyTorch's profiler sees them as ``nccl:all_reduce``-style annotations from c10d.
Its GPU work shows up as kernels named ``ncclKernel_<Collective>_<Algo>_<Proto>_...``
(NCCL 2.x) or ``ncclDevKernel_<Collective>_...`` (newer releases), so the collective
type and the split between communication and computation come from kernel names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe.analysis import intervals

NCCL_PREFIX = "nccl"
NCCL_DOMAIN = "NCCL"
KINETO_PREFIX = "nccl:"
_TYPE_PATTERN = r"^nccl(?:Dev)?Kernel_([A-Za-z]+)"


def nccl_range_mask(ranges: pa.Table) -> np.ndarray:
    """Rows of ``ranges`` that are NCCL calls: the NCCL NVTX domain, or c10d's ``nccl:`` ops."""
    if ranges.num_rows == 0:
        return np.zeros(0, dtype=bool)
    domain = pc.fill_null(ranges["domain"].cast(pa.string()), "")
    name = pc.fill_null(ranges["name"].cast(pa.string()), "")
    kind = pc.fill_null(ranges["kind"].cast(pa.string()), "")
    mask = pc.and_(
        pc.or_(pc.equal(domain, NCCL_DOMAIN), pc.starts_with(name, KINETO_PREFIX)),
        pc.not_equal(kind, "mark"),
    )
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def nccl_ranges(ranges: pa.Table) -> pa.Table:
    """The NCCL calls among ``ranges`` that ended (a call cut off by the capture is no call)."""
    rows = ranges.filter(pa.array(nccl_range_mask(ranges)))
    return rows.filter(pc.is_valid(rows["end"]))


def is_nccl_frame(df: pd.DataFrame) -> np.ndarray:
    """:func:`nccl_range_mask` for a frame with ``domain``, ``name`` and ``kind`` columns."""
    domain = df["domain"].fillna("").astype(str)
    name = df["name"].fillna("").astype(str)
    return ((domain == NCCL_DOMAIN) | name.str.startswith(KINETO_PREFIX)).to_numpy()


def is_nccl(names: pd.Series) -> np.ndarray:
    """Kernels whose name starts with ``nccl`` (case as NCCL writes it)."""
    return names.fillna("").astype(str).str.startswith(NCCL_PREFIX).to_numpy()


def collective_type(names: pd.Series) -> pd.Series:
    """``AllReduce``, ``Broadcast``, ``SendRecv``...; the whole name when it has no known shape."""
    text = names.fillna("").astype(str)
    found = text.str.extract(_TYPE_PATTERN, expand=False)
    return found.fillna(text.str.split("(", n=1).str[0])


def compute_overlap(ops: pd.DataFrame) -> pd.DataFrame:
    """Per NCCL kernel: time it runs alongside non-NCCL kernels on the same device.

    The compute kernels of a device are merged into one union first, so two compute
    kernels running at once under a collective are not counted twice.
    """
    kernels = ops[ops["kind"] == "kernel"]
    nccl_mask = is_nccl(kernels["name"])
    frames = []
    for (pid, device), grp in kernels.groupby(["pid", "device_id"], sort=True):
        mask = nccl_mask[kernels.index.get_indexer(grp.index)]
        comm = grp[mask]
        if comm.empty:
            continue
        compute = grp[~mask]
        u = intervals.union(compute["start"].to_numpy(), compute["end"].to_numpy())
        starts = comm["start"].to_numpy()
        ends = comm["end"].to_numpy()
        overlap = intervals.busy_in(u, starts, ends)
        dur = ends - starts
        frames.append(
            pd.DataFrame(
                {
                    "Name": comm["name"].to_numpy(),
                    "Type": collective_type(comm["name"]).to_numpy(),
                    "Start (ns)": starts,
                    "End (ns)": ends,
                    "Duration (ns)": dur,
                    "PID": pid,
                    "Device ID": device,
                    "Stream ID": comm["stream_id"].to_numpy(),
                    "Overlap (ns)": overlap,
                    "Overlap (%)": np.divide(
                        100.0 * overlap, dur, out=np.zeros(len(dur)), where=dur > 0
                    ),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                "Name": np.empty(0, object),
                "Type": np.empty(0, object),
                "Start (ns)": np.empty(0, np.int64),
                "End (ns)": np.empty(0, np.int64),
                "Duration (ns)": np.empty(0, np.int64),
                "PID": np.empty(0, np.int64),
                "Device ID": np.empty(0, np.int64),
                "Stream ID": np.empty(0, np.int64),
                "Overlap (ns)": np.empty(0, np.int64),
                "Overlap (%)": np.empty(0, np.float64),
            }
        )
    return (
        pd.concat(frames, ignore_index=True)
        .sort_values("Start (ns)", kind="stable")
        .reset_index(drop=True)
    )

"""MPI calls: which are point-to-point, collectives, waits, or other bookkeeping.

nsys files MPI calls into four tables by kind (``MPI_P2P_EVENTS``...); the trace
model keeps them as ranges of source ``mpi``, so the kind is recovered from the
function name, the same split nsys's MPI summary reports in its ``Source`` column.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

MPI_DOMAIN = "MPI"
SOURCE_LABELS = ("p2p", "collectives", "start-wait", "other")

_P2P = re.compile(
    r"^MPI_(I|B|S|R|Ib|Is|Ir)?(send|recv|sendrecv|sendrecv_replace|probe|mprobe|mrecv)(_init)?$",
    re.I,
)
_COLLECTIVE = re.compile(
    r"^MPI_(I)?(allreduce|reduce|bcast|barrier|gather|gatherv|allgather|allgatherv|scatter|"
    r"scatterv|alltoall|alltoallv|alltoallw|reduce_scatter|reduce_scatter_block|scan|exscan)(_init)?$",
    re.I,
)
_START_WAIT = re.compile(
    r"^MPI_(start|startall|wait|waitall|waitany|waitsome|test|testall|testany|testsome)$", re.I
)


def mpi_source(name: str | None) -> str:
    """``p2p``, ``collectives``, ``start-wait`` or ``other`` for an MPI function name."""
    text = name or ""
    if _P2P.match(text):
        return "p2p"
    if _COLLECTIVE.match(text):
        return "collectives"
    if _START_WAIT.match(text):
        return "start-wait"
    return "other"


def mpi_calls(ranges: pa.Table) -> pa.Table:
    """The MPI calls among ``ranges`` (source ``mpi``, or NVTX ranges of the MPI domain)."""
    source = pc.fill_null(ranges["source"].cast(pa.string()), "")
    domain = pc.fill_null(ranges["domain"].cast(pa.string()), "")
    kind = pc.fill_null(ranges["kind"].cast(pa.string()), "")
    mask = pc.and_(
        pc.or_(pc.equal(source, "mpi"), pc.equal(domain, MPI_DOMAIN)), pc.not_equal(kind, "mark")
    )
    rows = ranges.filter(mask)
    return rows.filter(pc.is_valid(rows["end"]))

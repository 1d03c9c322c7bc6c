"""Importer registry: each source format is one module with ``read(path, sink) -> metadata``.

Adding a format means adding a module and one :class:`Importer` entry; detection
looks at the file's first bytes before its name, because reports get renamed on the
way through storage.
"""

# No ``from __future__ import annotations`` here: it would bind the name
# ``annotations`` in this package and shadow the ``annotations`` importer module.
import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nsight_lab.trace.errors import TraceFormatError
from nsight_lab.trace.model import TraceMetadata
from nsight_lab.trace.sink import TableSink

Reader = Callable[[Path, TableSink], TraceMetadata]
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Importer:
    name: str
    read: Reader
    suffixes: tuple[str, ...]


def _read_nsys_sqlite(path: Path, sink: TableSink) -> TraceMetadata:
    from nsight_lab.trace.importers import nsys_sqlite

    return nsys_sqlite.read(path, sink)


def _read_kineto(path: Path, sink: TableSink) -> TraceMetadata:
    from nsight_lab.trace.importers import kineto

    return kineto.read(path, sink)


def _read_speedscope(path: Path, sink: TableSink) -> TraceMetadata:
    from nsight_lab.trace.importers import speedscope

    return speedscope.read(path, sink)


def _read_annotations(path: Path, sink: TableSink) -> TraceMetadata:
    from nsight_lab.trace.importers import annotations

    return annotations.read(path, sink)


def _read_cupti(path: Path, sink: TableSink) -> TraceMetadata:
    from nsight_lab.trace.importers import cupti

    return cupti.read(path, sink)


IMPORTERS: dict[str, Importer] = {
    "nsys-sqlite": Importer("nsys-sqlite", _read_nsys_sqlite, (".sqlite", ".db", ".sqlite3")),
    "kineto": Importer("kineto", _read_kineto, (".json", ".json.gz", ".pt.trace.json")),
    "speedscope": Importer("speedscope", _read_speedscope, (".speedscope.json", ".speedscope")),
    "annotations": Importer("annotations", _read_annotations, (".ranges.jsonl", ".jsonl")),
    "cupti": Importer("cupti", _read_cupti, (".cupti.jsonl",)),
}


def register(importer: Importer) -> None:
    """Make another format loadable by ``load_trace(..., format=importer.name)``."""
    IMPORTERS[importer.name] = importer


def _head(path: Path, size: int = 4096) -> bytes:
    """The first ``size`` bytes of the (decompressed, when gzip) content."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(size)
        if raw.startswith(GZIP_MAGIC):
            with gzip.open(path, "rb") as gz:
                return gz.read(size)
        return raw
    except (OSError, EOFError, zlib.error) as exc:
        raise TraceFormatError(path, f"cannot read the start of the file: {exc}") from exc


def detect(path: Path) -> str:
    """The importer name for ``path``: by content first, by file name second."""
    name = path.name.lower()
    if name.endswith(".nsys-rep") or name.endswith(".qdrep"):
        return "nsys-rep"
    head = _head(path)
    if head.startswith(b"SQLite format 3\x00"):
        return "nsys-sqlite"
    text = head.lstrip()
    first_line = head.split(b"\n", 1)[0]
    if b"nsight-lab-cupti" in first_line or name.endswith(".cupti.jsonl"):
        return "cupti"
    if b"nsight-lab-ranges" in first_line or name.endswith(".jsonl"):
        return "annotations"
    if b"speedscope" in head:
        return "speedscope"
    if text.startswith(b"{") and (b"traceEvents" in head or b"schemaVersion" in head):
        return "kineto"
    for imp in IMPORTERS.values():
        if any(name.endswith(s) for s in imp.suffixes):
            return imp.name
    raise TraceFormatError(
        path,
        "unrecognised trace format (expected an nsys SQLite export or .nsys-rep, a Kineto/Chrome"
        " trace JSON, a py-spy speedscope JSON, a *.ranges.jsonl annotation log or a *.cupti.jsonl"
        " CUPTI record log)",
    )

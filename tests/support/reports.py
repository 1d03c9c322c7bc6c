"""Many distinct real reports from the few fixtures, for runs "over many reports".

Converted traces are keyed by content, so N byte-identical copies would convert once
and exercise nothing. Each copy here differs in one harmless place (a top-level key
of the Kineto JSON, a table of its own in the SQLite export) and holds exactly the
fixture's events, so every copy's recipe results equal the fixture's.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from pathlib import Path

NSYS = Path("nsys-sqlite") / "cloverleaf-a100.sqlite"
KINETO = Path("kineto")


def fixture_reports(fixtures_dir: Path) -> list[Path]:
    """Every real report fixture that recipes read without nsys: one SQLite, the Kineto traces."""
    return [fixtures_dir / NSYS, *sorted((fixtures_dir / KINETO).glob("*.json.gz"))]


def distinct_copy(source: Path, target: Path, mark: int) -> Path:
    """A copy of ``source`` whose bytes (and sha256) differ, with the same events."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.name.endswith(".sqlite"):
        shutil.copyfile(source, target)
        target.chmod(0o644)
        con = sqlite3.connect(target)
        con.execute(f"CREATE TABLE nsight_lab_copy_{mark} (mark INTEGER)")
        con.commit()
        con.close()
        return target
    data = gzip.decompress(source.read_bytes())
    start = data.index(b"{") + 1
    marked = data[:start] + f'"nsightLabCopy": {mark}, '.encode() + data[start:]
    target.write_bytes(gzip.compress(marked, compresslevel=1))
    return target


def many_reports(fixtures_dir: Path, folder: Path, count: int) -> list[Path]:
    """``count`` distinct reports cycling over the fixtures, named ``r<NN>_<fixture>``."""
    sources = fixture_reports(fixtures_dir)
    out = []
    for i in range(count):
        source = sources[i % len(sources)]
        out.append(distinct_copy(source, folder / f"r{i:02d}_{source.name}", i))
    return out

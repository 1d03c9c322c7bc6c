"""Generate the large benchmark inputs by replicating real fixture rows in time.

Benchmarks need traces far bigger than any fixture we may commit, but synthetic data
with invented shapes would measure the wrong thing. So each generator takes the real
fixture's rows and repeats them, shifting timestamps (and correlation ids) per copy,
so the name distribution, column widths and nulls stay those of a real run. Results
are cached under ``~/.cache/nsight-lab/bench`` (override: ``NSIGHT_LAB_BENCH_CACHE``)
because generating 10M kernel rows takes a while.

    python benchmarks/make_fixtures.py sqlite --kernels 10000000
    python benchmarks/make_fixtures.py kineto --kernels 100000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
NSYS_FIXTURE = FIXTURES / "nsys-sqlite" / "cloverleaf-a100.sqlite"
KINETO_FIXTURE = FIXTURES / "kineto" / "nccl_parser_config__nccl_data.json.gz"


def cache_dir() -> Path:
    folder = Path(os.environ.get("NSIGHT_LAB_BENCH_CACHE", Path.home() / ".cache/nsight-lab/bench"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_nsys_sqlite(kernels: int, *, out: Path | None = None) -> Path:
    """A copy of the nsys fixture whose kernel and runtime tables hold ~``kernels`` rows.

    Copy k of every kernel/runtime row is shifted by k times the fixture's span and its
    correlationId by k times the largest id, so launch -> kernel joins stay one-to-one.
    """
    out = out or cache_dir() / f"nsys-{kernels}-kernels.sqlite"
    if out.exists():
        return out
    tmp = out.with_suffix(".partial")
    shutil.copyfile(NSYS_FIXTURE, tmp)
    tmp.chmod(0o644)
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    base = con.execute("SELECT count(*) FROM CUPTI_ACTIVITY_KIND_KERNEL").fetchone()[0]
    lo, hi = con.execute(
        "SELECT min(s), max(e) FROM (SELECT min(start) s, max(end) e FROM CUPTI_ACTIVITY_KIND_KERNEL"
        " UNION ALL SELECT min(start), max(end) FROM CUPTI_ACTIVITY_KIND_RUNTIME)"
    ).fetchone()
    span = hi - lo + 1000
    corr = (
        con.execute(
            "SELECT max(m) FROM (SELECT max(correlationId) m FROM CUPTI_ACTIVITY_KIND_KERNEL"
            " UNION ALL SELECT max(correlationId) FROM CUPTI_ACTIVITY_KIND_RUNTIME)"
        ).fetchone()[0]
        + 1
    )
    copies = max(1, -(-kernels // base))
    for table in ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_RUNTIME"):
        cols = [row[1] for row in con.execute(f"PRAGMA table_info({table})")]
        con.execute(f"CREATE TEMP TABLE orig AS SELECT * FROM {table}")
        shifted = {"start": f"start + k * {span}", "end": f"end + k * {span}"}
        shifted["correlationId"] = f"correlationId + k * {corr}"
        select = ", ".join(shifted.get(c, f'"{c}"') for c in cols)
        con.execute(
            f"WITH RECURSIVE r(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM r WHERE k < {copies - 1})"
            f" INSERT INTO {table} SELECT {select} FROM r, orig ORDER BY k"
        )
        con.execute("DROP TABLE orig")
        con.commit()
    con.close()
    tmp.rename(out)
    return out


def make_kineto(kernels: int, *, out: Path | None = None) -> Path:
    """A Kineto trace of ~``kernels`` GPU kernels: the NCCL fixture's events repeated in time.

    Written as plain JSON, one event per line the way Kineto writes them, and
    streamed out copy by copy so that making a multi-GB trace needs little memory.
    """
    with gzip.open(KINETO_FIXTURE, "rb") as fh:
        doc = json.load(fh)
    events = doc.pop("traceEvents")
    base = sum(1 for e in events if e.get("cat") == "kernel")
    copies = max(1, -(-kernels // base))
    out = out or cache_dir() / f"kineto-{copies * base}-kernels.json"
    if out.exists():
        return out
    timed = [e for e in events if isinstance(e.get("ts"), (int, float))]
    lo = min(e["ts"] for e in timed)
    hi = max(e["ts"] + e.get("dur", 0) for e in timed)
    span = hi - lo + 1000.0
    ids = [e["args"]["correlation"] for e in events if "correlation" in e.get("args", {})]
    ids += [e["id"] for e in events if e.get("ph") in ("s", "f") and isinstance(e.get("id"), int)]
    id_step = max(ids) + 1
    meta = [e for e in events if e.get("ph") == "M"]
    body = [e for e in events if e.get("ph") != "M"]
    tmp = out.with_suffix(".partial")
    with tmp.open("w") as fh:
        head = {k: v for k, v in doc.items()}
        fh.write("{\n")
        for key, value in head.items():
            fh.write(f"  {json.dumps(key)}: {json.dumps(value)},\n")
        fh.write('  "traceEvents": [\n')
        first = True
        for e in meta:
            fh.write(("" if first else ",\n") + "  " + json.dumps(e))
            first = False
        for k in range(copies):
            lines = []
            for e in body:
                c = dict(e)
                if isinstance(c.get("ts"), (int, float)):
                    c["ts"] = round(c["ts"] + k * span, 3)
                if c.get("ph") in ("s", "f") and isinstance(c.get("id"), int):
                    c["id"] = c["id"] + k * id_step
                args = c.get("args")
                if isinstance(args, dict) and "correlation" in args:
                    args = dict(args)
                    args["correlation"] = args["correlation"] + k * id_step
                    c["args"] = args
                lines.append(",\n  " + json.dumps(c))
            fh.write("".join(lines))
        fh.write("\n  ]\n}\n")
    tmp.rename(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["sqlite", "kineto"])
    parser.add_argument("--kernels", type=int, required=True)
    args = parser.parse_args()
    t0 = time.perf_counter()
    path = make_nsys_sqlite(args.kernels) if args.kind == "sqlite" else make_kineto(args.kernels)
    print(f"{path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

"""One local worker process: engine imported, kernel warm, jobs read from stdin.

Started by :mod:`nsight_analysis.executors.local` as ``python -m
nsight_analysis.executors.worker`` in its own process group, so cancelling a job
kills the worker and anything it started (a ``--mode concurrent`` pool) at once.

Protocol, one JSON object per line: the service writes a job to stdin; the worker
answers on the stdout it inherited with ``ready`` (once, with its pid and its
kernel's), ``progress``, ``phase`` and finally ``done``. While a job runs, file
descriptors 1 and 2 point at the job's log, so whatever the engine, a recipe or a
library prints lands in that log; the protocol uses a duplicate of the original
stdout that nothing else writes to.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any

from nsight_analysis.executors.warm_kernel import WarmKernel


class _Channel:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def send(self, event: str, **fields: Any) -> None:
        self._stream.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        self._stream.flush()


def _redirect(path: str | None) -> None:
    """Point fds 1 and 2 at ``path`` (appending), or at /dev/null between jobs."""
    sys.stdout.flush()
    sys.stderr.flush()
    target = os.open(path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)


def _say(message: str) -> None:
    print(f"[worker {os.getpid()} {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_job(job: dict[str, Any], channel: _Channel, kernel: WarmKernel | None) -> dict[str, Any]:
    """Run one job; never raises: a failure is reported in the answer."""
    from nsight_lab.recipe import engine
    from nsight_lab.recipe.errors import RecipeError

    def progress(done: int, total: int, report: str) -> None:
        _say(f"mapped {done}/{total}: {report}")
        channel.send("progress", done=done, total=total, report=report)

    # The engine looks ``execute_notebook`` up in its own module at call time; a warm
    # worker substitutes the warm-kernel runner, which keeps the same contract
    # (template, output, parameters) -> seconds, so outputs and the run record are
    # exactly what a cold run writes.
    engine.execute_notebook = kernel.execute if kernel is not None else _cold_execute
    from nsight_lab.recipe.reports import ReportRef

    inputs: list[Any]
    if "reports" in job:  # converted traces, named by their storage keys
        inputs = [ReportRef.from_json(r) for r in job["reports"]]
        where = f"{len(inputs)} converted report(s)"
    else:
        inputs = job["inputs"]
        where = f"{len(inputs)} folder(s) of reports"
    known = [engine.ReportWarning(w["file"], w["problem"]) for w in job.get("warnings", [])]
    _say(f"recipe {job['recipe']} over {where}, args {job['args']}, mode {job.get('mode')}")
    channel.send("phase", phase="mapping")
    began = time.perf_counter()
    try:
        result = engine.run_recipe(
            job["recipe"],
            inputs,
            job["output"],
            args=job["args"],
            mode=job.get("mode", "none"),
            csv=job.get("csv", False),
            force=True,
            filter_time=job.get("filter_time"),
            filter_nvtx=job.get("filter_nvtx"),
            filter_projected_nvtx=job.get("filter_projected_nvtx"),
            notebook=job.get("notebook", True),
            progress=progress,
            scheduler=job.get("dask_scheduler"),
            warnings=known,
        )
    except RecipeError as exc:
        _say(f"failed: {exc}")
        return {"ok": False, "error": str(exc), "error_type": type(exc).__name__}
    except Exception as exc:
        _say("failed with an unexpected error:\n" + traceback.format_exc())
        brief = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {brief} (traceback in the job log)",
            "error_type": "internal",
        }
    for warning in result.warnings:
        _say(f"skipped {warning.file}: {warning.problem}")
    _say(
        f"finished in {time.perf_counter() - began:.2f} s: {', '.join(result.files)}"
        f" ({result.sources.get('converted', 0)} report(s) read converted,"
        f" {result.sources.get('raw', 0)} parsed raw)"
    )
    return {
        "ok": True,
        "warnings": [w.to_json() for w in result.warnings],
        "files": result.files,
        "timings": result.timings,
    }


def _cold_execute(template: Path, output: Path, parameters: Any) -> float:
    from nsight_lab.recipe.notebook import execute_notebook

    return execute_notebook(template, output, parameters)


def main() -> int:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    channel = _Channel(protocol)
    _redirect(os.environ.get("NSIGHT_LAB_WORKER_LOG"))
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("papermill", "traitlets", "nbclient", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Pay the imports once per worker, not once per job.
    import nbconvert  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import nsight_lab.recipe.engine
    import nsight_lab.trace  # noqa: F401

    warm = os.environ.get("NSIGHT_LAB_WORKER_WARM", "1") == "1"
    kernel: WarmKernel | None = None
    if warm:
        kernel = WarmKernel(
            cell_timeout_s=float(os.environ.get("NSIGHT_LAB_WORKER_CELL_TIMEOUT", "600")),
            on_start=lambda pid: channel.send("kernel", pid=pid),
        )
        kernel.start()
    channel.send("ready", pid=os.getpid(), kernel_pid=kernel.pid if kernel else None)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            job = json.loads(line)
            _redirect(job.get("log"))
            try:
                answer = run_job(job, channel, kernel)
            finally:
                _redirect(os.environ.get("NSIGHT_LAB_WORKER_LOG"))
            channel.send("done", kernel_pid=kernel.pid if kernel else None, **answer)
    finally:
        if kernel is not None:
            kernel.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Entry point of a Kubernetes analysis pod: stage, run, upload, as a local worker does.

The job arrives as JSON in ``NSIGHT_LAB_ANALYSIS_JOB``; storage settings come from the
mounted Secret (``NSIGHT_LAB_STORAGE_CONFIG``). Besides the outputs it stores
``result.json`` (warnings, error) so the service can fill in the job without reading
pod logs. Exits non-zero when the job failed, which fails the Kubernetes Job.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from nsight_analysis.db import output_prefix
from nsight_analysis.executors.worker import run_job
from nsight_analysis.staging import scrub, stage_reports, storage_name, upload_log, upload_outputs
from nsight_lab.storage import load_storage_config, open_store

RESULT_NAME = "result.json"


def public_result(answer: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    """``result.json``: outcome, error and warnings, naming reports by storage key."""
    result: dict[str, Any] = {"ok": bool(answer.get("ok"))}
    if answer.get("error"):
        result["error"] = scrub(str(answer["error"]), keys)
    result["warnings"] = [
        {"file": storage_name(w["file"], keys), "problem": scrub(w["problem"], keys)}
        for w in answer.get("warnings") or []
    ]
    return result


class _Print:
    def send(self, event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, **fields}, default=str), flush=True)


def main() -> int:
    job = json.loads(os.environ["NSIGHT_LAB_ANALYSIS_JOB"])
    store = open_store(load_storage_config(os.environ["NSIGHT_LAB_STORAGE_CONFIG"]))
    with tempfile.TemporaryDirectory(prefix="nsight-analysis-") as tmp:
        work = Path(tmp)
        staged = stage_reports(store, job["reports"], work / "inputs")
        log = work / "job.log"
        # The worker reads ``reports`` as converted traces; a pod stages the raw
        # reports instead and hands their folders over as ``inputs``.
        request = {
            **{k: v for k, v in job.items() if k != "reports"},
            "inputs": [str(p) for p in staged.folders],
            "output": str(work / "output"),
            "log": str(log),
        }
        answer = run_job(request, _Print(), None)  # type: ignore[arg-type]
        if answer.get("ok"):
            upload_outputs(store, job["job_id"], work / "output")
        store.put_bytes(
            output_prefix(job["job_id"]) + RESULT_NAME,
            json.dumps(public_result(answer, staged.keys), default=str).encode(),
        )
        upload_log(store, job["job_id"], log)
    return 0 if answer.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

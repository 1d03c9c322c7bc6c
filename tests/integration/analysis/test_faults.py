"""Cancelling, killed workers, restarts and a full queue, with real processes."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.analysis.conftest import RECIPES, wait_file, wait_job
from tests.support.analysis_stack import AnalysisStack, Uploaded, upload_reports
from tests.support.stack import base_env

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of the stack stays a zombie until reaped; zombies do not run.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_cancel_stops_a_long_job_within_two_seconds(
    api: httpx.Client, session: Uploaded, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    job = api.post(
        "jobs", json={"recipe": "slow_map", "args": {"seconds": 120, "pid_file": str(pid_file)}}
    ).json()
    pid = int(wait_file(pid_file))
    assert _alive(pid)
    began = time.monotonic()
    cancelled = api.post(f"jobs/{job['job_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    while _alive(pid) and time.monotonic() - began < 2.0:
        time.sleep(0.02)
    assert not _alive(pid), "the process running the recipe survived the cancel"
    assert time.monotonic() - began < 2.0
    final = wait_job(
        api, job["job_id"], until=lambda j: "cancelled" in api.get(f"jobs/{j['job_id']}/logs").text
    )
    assert final["error"] == "cancelled by request"
    assert api.post(f"jobs/{job['job_id']}/cancel").status_code == 409
    # The slot got a fresh worker: the next job runs.
    after = api.post("jobs", json={"recipe": "kernel_count", "notebook": False}).json()
    assert wait_job(api, after["job_id"])["state"] == "succeeded"


def test_a_worker_killed_mid_run_leaves_its_job_failed_with_its_log(
    api: httpx.Client, session: Uploaded, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    job = api.post(
        "jobs", json={"recipe": "slow_map", "args": {"seconds": 120, "pid_file": str(pid_file)}}
    ).json()
    pid = int(wait_file(pid_file))
    running = api.get(f"jobs/{job['job_id']}").json()
    assert running["state"] == "running" and running["worker"] == f"local:{pid}"
    os.kill(pid, signal.SIGKILL)
    done = wait_job(api, job["job_id"], timeout=20)
    assert done["state"] == "failed"
    assert f"worker process {pid} was killed by SIGKILL" in done["error"]
    log = api.get(f"jobs/{job['job_id']}/logs").text
    assert "slow_map: sleeping 120" in log and "SIGKILL" in log
    names = [o["name"] for o in api.get(f"jobs/{job['job_id']}/outputs").json()]
    assert names == ["job.log"]
    after = api.post("jobs", json={"recipe": "kernel_count", "notebook": False}).json()
    assert wait_job(api, after["job_id"], timeout=60)["state"] == "succeeded"


@pytest.mark.slow
def test_twenty_jobs_submitted_at_once_all_finish_in_submission_order(
    api: httpx.Client, session: Uploaded
) -> None:
    bodies = [
        {"recipe": "kernel_count", "args": {"top": i + 1}, "notebook": i % 7 == 0}
        for i in range(20)
    ]
    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda body: api.post("jobs", json=body), bodies))
    assert all(r.status_code == 201 for r in created), [
        r.text for r in created if r.status_code != 201
    ]
    ids = [r.json()["job_id"] for r in created]
    finished = [wait_job(api, job_id, timeout=240) for job_id in ids]
    assert [j["state"] for j in finished] == ["succeeded"] * 20
    assert sum(j["notebook"] for j in finished) == 3
    # FIFO: jobs start in the order they were queued, so none waits behind a later one.
    by_queue = sorted(finished, key=lambda j: j["created_at"])
    starts = [j["started_at"] for j in by_queue]
    assert starts == sorted(starts)
    assert len({j["worker"] for j in finished}) == 2  # both workers took jobs


@pytest.mark.slow
def test_a_restart_keeps_every_job_and_its_outputs_and_fails_the_interrupted_one(
    minio_server: object, tmp_path: Path, cloverleaf: Path
) -> None:
    from tests.support.minio import MinioServer

    assert isinstance(minio_server, MinioServer)
    bucket = "analysis-restart"
    minio_server.s3_store(bucket).ensure_bucket()
    config = tmp_path / "storage-config.yaml"
    import yaml

    config.write_text(
        yaml.safe_dump(
            minio_server.storage_config(bucket).model_dump(mode="json", exclude_none=True)
        )
    )
    stack = AnalysisStack(
        tmp_path / "data",
        storage_config=config,
        workers=1,
        env={"NSIGHT_LAB_RECIPE_PATH": str(RECIPES)},
    )
    stack.start()
    try:
        upload_reports(stack.coordinator_url, [cloverleaf])
        with httpx.Client(base_url=stack.analysis_url, timeout=30) as api:
            done = api.post("jobs", json={"recipe": "kernel_count"}).json()
            assert wait_job(api, done["job_id"])["state"] == "succeeded"
            pid_file = tmp_path / "pid"
            interrupted = api.post(
                "jobs",
                json={"recipe": "slow_map", "args": {"seconds": 120, "pid_file": str(pid_file)}},
            ).json()
            queued = api.post("jobs", json={"recipe": "kernel_count", "notebook": False}).json()
            worker_pid = int(wait_file(pid_file))
        stack.kill()  # SIGKILL: the service gets no chance to tidy up
        os.kill(worker_pid, signal.SIGKILL)  # its orphaned worker would sleep on otherwise
        stack.start()
        with httpx.Client(base_url=stack.analysis_url, timeout=30) as api:
            kept = api.get(f"jobs/{done['job_id']}").json()
            assert kept["state"] == "succeeded"
            outputs = {o["name"]: o for o in api.get(f"jobs/{done['job_id']}/outputs").json()}
            assert "counts.html" in outputs
            assert httpx.get(outputs["counts.html"]["url"]).status_code == 200
            failed = api.get(f"jobs/{interrupted['job_id']}").json()
            assert failed["state"] == "failed"
            assert "stopped while this job was running" in failed["error"]
            assert "slow_map: sleeping" in api.get(f"jobs/{interrupted['job_id']}/logs").text
            assert wait_job(api, queued["job_id"])["state"] == "succeeded"
    finally:
        stack.stop()


#: Loaded by every Python the test stack starts (PYTHONPATH); only analysis workers wait.
_SLOW_WORKER_START = """\
import sys, time
if "nsight_analysis.executors.worker" in sys.orig_argv:
    time.sleep(60)  # a worker whose start is slow: a loaded machine, a cold disk
"""


def test_a_stop_while_workers_are_still_starting_does_not_wait_for_them(
    tmp_path: Path,
) -> None:
    """``up`` stopped (Ctrl-C, SIGTERM) during the workers' start must end at once: a
    worker not ready yet is still the slot's to kill, not a start to wait out."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_SLOW_WORKER_START)
    path = os.pathsep.join([str(hook), base_env()["PYTHONPATH"]])
    stack = AnalysisStack(tmp_path / "data", workers=2, env={"PYTHONPATH": path}).start()
    time.sleep(1.0)  # both slots are inside their workers' start
    began = time.monotonic()
    stack.stop()
    took = time.monotonic() - began
    assert stack.proc is not None and stack.proc.returncode is not None
    assert took < 10.0, f"stop took {took:.1f} s: it waited for a worker's start"
    leftovers = [
        pid
        for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
        if _alive(pid) and _cmdline_has(pid, str(hook))
    ]
    assert leftovers == [], f"processes of the stopped stack still run: {leftovers}"


def _cmdline_has(pid: int, text: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return text.encode() in environ

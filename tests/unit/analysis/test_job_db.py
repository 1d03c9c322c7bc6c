"""The job table: FIFO claims, races settled by conditional updates, restarts."""

from __future__ import annotations

from pathlib import Path

from nsight_analysis.db import JobDB
from nsight_lab.analysis_models import JobState


def _queue(db: JobDB, n: int) -> list[str]:
    return [
        db.create(
            recipe="r",
            args={"i": i},
            options={
                "csv": False,
                "mode": "none",
                "filter_time": None,
                "filter_nvtx": None,
                "notebook": True,
            },
            tag="t",
            session_id="s",
            collection_id=None,
            reports=["sessions/s/c/a.sqlite"],
        ).job_id
        for i in range(n)
    ]


def test_jobs_are_claimed_oldest_first_and_only_once(tmp_path: Path) -> None:
    db = JobDB(tmp_path / "jobs.sqlite3")
    ids = _queue(db, 5)
    claimed = [db.claim_next("w") for _ in range(6)]
    assert [j.job_id if j else None for j in claimed] == [*ids, None]
    assert all(j.state == JobState.RUNNING and j.progress.phase == "staging" for j in claimed if j)


def test_queue_position_counts_the_jobs_ahead(tmp_path: Path) -> None:
    db = JobDB(tmp_path / "jobs.sqlite3")
    ids = _queue(db, 3)
    assert [db.queue_position(i) for i in ids] == [0, 1, 2]
    db.claim_next("w")
    assert [db.queue_position(i) for i in ids] == [None, 0, 1]


def test_the_first_final_state_wins(tmp_path: Path) -> None:
    db = JobDB(tmp_path / "jobs.sqlite3")
    (job_id,) = _queue(db, 1)
    db.claim_next("w")
    assert db.finish(job_id, JobState.CANCELLED, error="cancelled by request")
    assert not db.finish(job_id, JobState.SUCCEEDED)
    job = db.get(job_id)
    assert (
        job is not None and job.state == JobState.CANCELLED and job.error == "cancelled by request"
    )


def test_progress_is_recorded_only_while_running(tmp_path: Path) -> None:
    db = JobDB(tmp_path / "jobs.sqlite3")
    (job_id,) = _queue(db, 1)
    db.set_progress(job_id, done=1)
    assert db.get(job_id).progress.done == 0  # type: ignore[union-attr]
    db.claim_next("w")
    db.set_progress(job_id, done=1, total=3, phase="mapping")
    progress = db.get(job_id).progress  # type: ignore[union-attr]
    assert (progress.done, progress.total, progress.phase) == (1, 3, "mapping")


def test_a_restart_fails_running_jobs_and_keeps_queued_ones(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    db = JobDB(path)
    running, queued = _queue(db, 2)
    db.claim_next("w")
    db.close()
    reopened = JobDB(path)
    assert reopened.fail_interrupted("service stopped") == [running]
    assert reopened.get(running).state == JobState.FAILED  # type: ignore[union-attr]
    assert reopened.get(running).error == "service stopped"  # type: ignore[union-attr]
    assert reopened.get(queued).state == JobState.QUEUED  # type: ignore[union-attr]
    assert [j.job_id for j in reopened.list_jobs()] == [queued, running]  # newest first
    assert [j.job_id for j in reopened.list_jobs(state=JobState.QUEUED)] == [queued]

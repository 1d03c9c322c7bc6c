"""A real stack (coordinator + analysis in one uvicorn subprocess) with real reports uploaded."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.analysis_stack import AnalysisStack, Uploaded, upload_reports

RECIPES = Path(__file__).parent / "recipes"
FINISHED = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="session")
def cloverleaf(fixtures_dir: Path) -> Path:
    return fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"


@pytest.fixture(scope="session")
def broken_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Not an nsys export: the bytes of a truncated download."""
    path = tmp_path_factory.mktemp("broken") / "truncated.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\x07" * 2048)
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalysisStack]:
    data = tmp_path_factory.mktemp("analysis-stack")
    with AnalysisStack(data, env={"NSIGHT_LAB_RECIPE_PATH": str(RECIPES)}) as running:
        yield running


@pytest.fixture(scope="module")
def api(stack: AnalysisStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.analysis_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def session(stack: AnalysisStack, cloverleaf: Path) -> Uploaded:
    return upload_reports(stack.coordinator_url, [cloverleaf])


def wait_job(
    api: httpx.Client,
    job_id: str,
    timeout: float = 60.0,
    until: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    done = until or (lambda job: job["state"] in FINISHED)
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = api.get(f"jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not done within {timeout}s: {job}")


def wait_file(path: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {timeout}s")


def copy_as(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target

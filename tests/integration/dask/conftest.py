"""A real Dask cluster (scheduler + two workers, separate processes) and many real reports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dask_cluster import DaskCluster
from tests.support.reports import many_reports

RECIPES = Path(__file__).resolve().parents[1] / "analysis" / "recipes"


@pytest.fixture(scope="session")
def _cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    try:
        import distributed  # noqa: F401
    except ImportError:
        message = "dask[distributed] is not installed (pip install -e '.[dask]')"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI installs it, so its absence is a build failure")
        pytest.skip(message)
    with DaskCluster(tmp_path_factory.mktemp("dask-logs"), workers=2) as cluster:
        yield cluster


@pytest.fixture
def dask_cluster(_cluster: DaskCluster) -> DaskCluster:
    """The session's cluster with both workers up (a test before may have killed one)."""
    with _cluster.client() as client:
        alive = {
            int(str(w["name"]).lstrip("w"))
            for w in client.scheduler_info(n_workers=-1)["workers"].values()
        }
    for index in range(_cluster.workers):
        if index not in alive and index not in _cluster._workers:
            _cluster.start_worker(index)
    _cluster.wait_for_workers(_cluster.workers)
    return _cluster


@pytest.fixture(scope="session")
def reports_dir(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 distinct real reports (the 8 fixtures, three times over with different bytes)."""
    folder = tmp_path_factory.mktemp("many-reports")
    many_reports(fixtures_dir, folder, 24)
    return folder

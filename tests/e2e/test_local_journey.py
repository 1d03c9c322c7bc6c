"""The first user journey, end to end with real processes.

Real parts: ``nsight-lab up`` (coordinator) as a subprocess on a real MinIO, two
workload processes with the agent injected by ``nsight-lab run``, py-spy sampling
them from outside, and the CLI as a user types it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import start_workloads
from tests.support.stack import Cli, UpServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_processes_two_collections_download_in_the_tree(
    stack: UpServer, cli: Cli, tmp_path: Path
) -> None:
    workloads = start_workloads(stack, cli, "journey", 2)
    try:
        session = cli.json("--tag", "journey", "session-begin", "--title", "baseline run")
        assert session["state"] == "ACTIVE" and session["title"] == "baseline run"
        for _ in range(2):
            started = cli.json("--tag", "journey", "profiler-start")
            assert started["session_id"] == session["session_id"]
            assert {p["instance"] for p in started["participants"]} == {"w0", "w1"}
            stopped = cli.json("--tag", "journey", "profiler-stop", "--timeout", "60")
            assert stopped["state"] == "COMPLETED", stopped
        ended = cli.json("--tag", "journey", "session-end")
        assert ended["state"] == "ENDED" and len(ended["collections"]) == 2
        listed = cli.json("--tag", "journey", "sessions")
        assert [s["session_id"] for s in listed] == [session["session_id"]]
    finally:
        for w in workloads:
            w.stop()

    files = cli.json("--tag", "journey", "ls", "--session", session["session_id"])
    # Each process, each collection: its py-spy profile and its annotation ranges.
    per_collection: dict[int, list[str]] = {}
    for f in files:
        per_collection.setdefault(f["collection_index"], []).append(f["filename"])
        assert re.fullmatch(r"trainer_journey_w[01]_[0-9a-f]+\.[a-z.-]+", f["filename"]), f[
            "filename"
        ]
        assert f["collector"] == "pyspy"
    assert sorted(per_collection) == [1, 2]
    for names in per_collection.values():
        assert sum(n.endswith(".speedscope.json") for n in names) == 2
        assert sum(n.endswith(".ranges.jsonl") for n in names) == 2

    out = tmp_path / "downloads"
    cli.run("--tag", "journey", "download", "-o", str(out), "--session", session["session_id"])
    (session_dir,) = out.iterdir()
    assert re.fullmatch(r"\d{14}-baseline-run", session_dir.name)
    by_name = {f["filename"]: f for f in files}
    downloaded = sorted(p for p in session_dir.rglob("*") if p.is_file())
    assert len(downloaded) == len(files)
    for path in downloaded:
        info = by_name[path.name]
        assert path.parent.name == f"collection-{info['collection_index']}"
        assert sha256(path) == info["sha256"] and path.stat().st_size == info["size"]

    flat = tmp_path / "flat"
    cli.run(
        "--tag",
        "journey",
        "download",
        "--flat",
        "-o",
        str(flat),
        "--session",
        session["session_id"],
    )
    assert sorted(p.name for p in flat.iterdir()) == sorted(by_name)


def test_attach_profiles_a_python_process_that_is_already_running(
    stack: UpServer, cli: Cli, tmp_path: Path
) -> None:
    """No agent inside: ``nsight-lab attach`` samples the process with py-spy from beside it."""
    import subprocess
    import sys

    from tests.support.stack import base_env, wait_until

    target = subprocess.Popen(
        [sys.executable, "-m", "nsight_lab.demo.workload", "--seconds", "60"],
        env=base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    attached = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nsight_lab",
            "attach",
            str(target.pid),
            "--tag",
            "attached",
            "--instance",
            "outside",
            "--process-name",
            "legacy",
        ],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: cli.json("--tag", "attached", "status")["agents"], 30, "the attached agent"
        )
        cli.json("--tag", "attached", "profiler-start")
        stopped = cli.json("--tag", "attached", "profiler-stop", "--timeout", "60")
        assert stopped["state"] == "COMPLETED", stopped
        files = cli.json("--tag", "attached", "ls")
    finally:
        target.terminate()
        target.wait(10)
        attached.terminate()
        attached.wait(15)
    profiles = [f for f in files if f["filename"].endswith(".speedscope.json")]
    assert [f["instance"] for f in profiles] == ["outside"]
    assert profiles[0]["filename"].startswith("legacy_attached_outside_")
    out = tmp_path / "dl"
    cli.run("--tag", "attached", "download", "--flat", "-o", str(out))
    assert "workload.py" in (out / profiles[0]["filename"]).read_text()

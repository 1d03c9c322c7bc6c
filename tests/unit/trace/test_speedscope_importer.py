"""py-spy speedscope profiles -> samples; the profile is recorded by the real py-spy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nsight_lab.trace import TraceFormatError, load_trace

BUSY = """
import threading, time
def leaf():
    return sum(i * i for i in range(20000))
def spin():
    end = time.time() + 1.2
    while time.time() < end:
        leaf()
worker = threading.Thread(target=spin, name="worker")
worker.start(); spin(); worker.join()
"""


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("py-spy") is None:
        pytest.skip("py-spy is not installed")
    folder = tmp_path_factory.mktemp("pyspy")
    script = folder / "busy.py"
    script.write_text(BUSY)
    out = folder / "busy.speedscope.json"
    done = subprocess.run(
        ["py-spy", "record", "--format", "speedscope", "--rate", "200", "--nonblocking",
         "--output", str(out), "--", sys.executable, str(script)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def test_every_sample_becomes_a_row_with_its_stack(profile: Path) -> None:
    doc = json.loads(profile.read_text())
    frames = doc["shared"]["frames"]
    t = load_trace(profile)
    samples = t.table("samples").to_pylist()
    expected = [s for p in doc["profiles"] for s in p["samples"]]
    assert len(samples) == len(expected) > 50
    first = expected[0]
    assert [f.split(" (")[0] for f in samples[0]["stack"]] == [frames[i]["name"] for i in first]
    leaves = {s["stack"][-1].split(" (")[0] for s in samples if s["stack"]}  # leaf last
    assert leaves & {"leaf", "<genexpr>"}
    assert t.metadata.tool == "py-spy"


def test_weights_and_timestamps_come_from_cumulative_weights(profile: Path) -> None:
    doc = json.loads(profile.read_text())
    p = doc["profiles"][0]
    assert p["unit"] == "seconds"
    rows = [r for r in load_trace(profile).table("samples").to_pylist()][: len(p["weights"])]
    assert [r["weight"] for r in rows] == [round(w * 1e9) for w in p["weights"]]
    assert rows[1]["timestamp"] - rows[0]["timestamp"] == round(p["weights"][0] * 1e9)


def test_threads_named_from_profile_names(profile: Path) -> None:
    t = load_trace(profile)
    assert "worker" in t.table("threads").column("name").to_pylist()
    tids = set(t.table("threads").column("tid").to_pylist())
    assert set(t.table("samples").column("tid").to_pylist()) <= tids


def test_sample_referring_to_a_missing_frame(tmp_path: Path) -> None:
    bad = tmp_path / "bad.speedscope.json"
    bad.write_text(json.dumps({
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": [{"name": "main"}]},
        "profiles": [{"type": "sampled", "name": "Thread 1", "unit": "seconds", "samples": [[0, 3]], "weights": [0.01]}],
    }))  # fmt: skip
    with pytest.raises(
        TraceFormatError,
        match=r"bad\.speedscope\.json: profiles\[0\]: a sample refers to a frame index",
    ):
        load_trace(bad)


def test_speedscope_without_frames(tmp_path: Path) -> None:
    bad = tmp_path / "x.speedscope.json"
    bad.write_text(
        json.dumps(
            {"$schema": "https://www.speedscope.app/file-format-schema.json", "profiles": []}
        )
    )
    with pytest.raises(
        TraceFormatError, match=r"x\.speedscope\.json: not a speedscope file \(no 'shared\.frames'"
    ):
        load_trace(bad)

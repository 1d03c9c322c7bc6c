"""Collectors record a window and hand back files; every one adds the range log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nsight_lab.agent.annotate import RANGES, annotate
from nsight_lab.agent.collectors.annotations import AnnotationsCollector
from nsight_lab.agent.collectors.base import RANGES_FILENAME, CollectorError
from nsight_lab.agent.collectors.nsys import NsysCollector
from nsight_lab.agent.collectors.pyspy import PySpyCollector

FAKE_NSYS = Path(__file__).resolve().parents[2] / "support" / "fake_nsys.py"

BUSY_CHILD = """
import time
def spin():
    end = time.time() + 20
    while time.time() < end:
        sum(range(1000))
spin()
"""


def _kinds(files: list) -> dict[str, str]:
    return {f.kind: f.path.name for f in files}


def test_annotations_collector_writes_only_the_window(tmp_path: Path) -> None:
    RANGES.clear()
    with annotate("before-start"):
        pass
    collector = AnnotationsCollector("trainer")
    collector.start(tmp_path, 0)
    with annotate("during"):
        pass
    files = collector.stop()
    assert _kinds(files) == {"ranges": RANGES_FILENAME}
    lines = [json.loads(line) for line in files[0].path.read_text().splitlines()]
    assert [line["name"] for line in lines[1:]] == ["during"]
    with pytest.raises(CollectorError, match="not recording"):
        collector.stop()


def test_pyspy_records_a_real_child_process(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", BUSY_CHILD])
    try:
        time.sleep(0.5)  # let the interpreter start so py-spy can read its version
        collector = PySpyCollector(child.pid, "busy", ranges=None)
        collector.start(tmp_path, 0)
        time.sleep(1.0)
        files = collector.stop()
    finally:
        child.kill()
        child.wait()
    assert _kinds(files) == {"report": "profile.speedscope.json"}
    profile = json.loads(files[0].path.read_text())
    assert profile["$schema"].startswith("https://www.speedscope.app/")
    frames = [frame["name"] for frame in profile["shared"]["frames"]]
    assert "spin" in frames
    assert sum(len(p["samples"]) for p in profile["profiles"]) > 20


def test_pyspy_on_its_own_process_adds_the_range_log(tmp_path: Path) -> None:
    RANGES.clear()
    collector = PySpyCollector(os.getpid(), "self")
    collector.start(tmp_path, 0)
    with annotate("work"):
        end = time.time() + 0.8
        while time.time() < end:
            sum(range(1000))
    files = collector.stop()
    assert _kinds(files) == {"report": "profile.speedscope.json", "ranges": RANGES_FILENAME}


def test_pyspy_failure_is_reported_with_its_message(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that no longer exists
    collector = PySpyCollector(child.pid, "gone", ranges=None)
    with pytest.raises(CollectorError, match="py-spy exited at once"):
        collector.start(tmp_path, 0)


def test_pyspy_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="py-spy not found"):
        PySpyCollector(os.getpid(), "x", pyspy_path=str(tmp_path / "no-py-spy"))


@pytest.fixture
def fake_nsys(tmp_path: Path, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FAKE nsys (the real binary cannot be installed here): logs calls, writes files."""
    log = tmp_path / "nsys-calls.jsonl"
    monkeypatch.setenv("FAKE_NSYS_LOG", str(log))
    monkeypatch.setenv(
        "FAKE_NSYS_SQLITE", str(fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite")
    )
    return log


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_nsys_start_stop_export_sequence(
    tmp_path: Path, fake_nsys: Path, fixtures_dir: Path
) -> None:
    out = tmp_path / "c0"
    collector = NsysCollector("sess-1", "trainer", nsys_path=str(FAKE_NSYS))
    collector.start(out, 0)
    files = collector.stop()
    assert _calls(fake_nsys) == [
        ["start", "--session=sess-1", f"--output={out / 'report'}", "--force-overwrite=true"],
        ["stop", "--session=sess-1"],
        [
            "export",
            "--type=sqlite",
            "--force-overwrite=true",
            f"--output={out / 'report.sqlite'}",
            str(out / "report.nsys-rep"),
        ],
    ]
    assert _kinds(files) == {
        "report": "report.nsys-rep",
        "sqlite": "report.sqlite",
        "ranges": RANGES_FILENAME,
    }
    sqlite = (fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite").read_bytes()
    assert (out / "report.sqlite").read_bytes() == sqlite


def test_nsys_failed_export_still_yields_the_report(
    tmp_path: Path, fake_nsys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NSYS_FAIL", "export")
    collector = NsysCollector("s", "p", nsys_path=str(FAKE_NSYS), ranges=None)
    collector.start(tmp_path, 0)
    assert _kinds(collector.stop()) == {"report": "report.nsys-rep"}


def test_nsys_failed_start_carries_nsys_message(
    tmp_path: Path, fake_nsys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NSYS_FAIL", "start")
    collector = NsysCollector("s", "p", nsys_path=str(FAKE_NSYS))
    with pytest.raises(CollectorError, match="failed on purpose"):
        collector.start(tmp_path, 0)


def test_nsys_needs_a_launch_session_and_a_binary(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="nsys launch"):
        NsysCollector(None, "p", nsys_path=str(FAKE_NSYS))
    with pytest.raises(CollectorError, match="nsys not found"):
        NsysCollector("s", "p", nsys_path=str(tmp_path / "nsys"))


def test_nsys_preflight_says_what_nsys_needs_before_any_start(
    tmp_path: Path, fake_nsys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nsight_lab.agent.collectors.nsys import preflight

    findings = preflight(str(FAKE_NSYS), {"TMPDIR": str(tmp_path)})
    assert findings[0] == "version: NVIDIA Nsight Systems version 2026.1.1 (FAKE stand-in)"
    assert not any(f.startswith("TMPDIR") for f in findings)
    missing = preflight(str(FAKE_NSYS), {"TMPDIR": str(tmp_path / "gone")})
    assert any("TMPDIR" in f and "not a writable folder" in f for f in missing)
    # A TMPDIR nsys cannot use stops the start with the reason, before nsys runs.
    monkeypatch.setenv("TMPDIR", str(tmp_path / "gone"))
    collector = NsysCollector("sess-1", "trainer", nsys_path=str(FAKE_NSYS))
    with pytest.raises(CollectorError, match="nsys cannot record here: TMPDIR"):
        collector.start(tmp_path / "c0", 0)
    assert not fake_nsys.exists()  # nsys itself was never asked to start


def test_nsys_options_become_nsys_start_switches(tmp_path: Path, fake_nsys: Path) -> None:
    collector = NsysCollector("sess-1", "trainer", nsys_path=str(FAKE_NSYS))
    collector.configure({"sample": "none", "sampling-frequency": 1000})
    collector.start(tmp_path / "c0", 0)
    collector.stop()
    assert _calls(fake_nsys)[0][-2:] == ["--sample=none", "--sampling-frequency=1000"]


def test_nsys_failed_export_is_a_warning_in_the_report_metadata(
    tmp_path: Path, fake_nsys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NSYS_FAIL", "export")
    collector = NsysCollector("sess-1", "trainer", nsys_path=str(FAKE_NSYS))
    collector.start(tmp_path / "c0", 0)
    files = collector.stop()
    assert "report" in _kinds(files) and "sqlite" not in _kinds(files)
    assert collector.warnings and "report uploaded alone" in collector.warnings[0]


def test_pyspy_options_become_pyspy_flags(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", BUSY_CHILD])
    try:
        time.sleep(0.5)
        collector = PySpyCollector(child.pid, "busy", ranges=None)
        collector.configure({"rate": 50, "idle": True})
        collector.start(tmp_path, 0)
        time.sleep(0.5)
        files = collector.stop()
    finally:
        child.kill()
        child.wait()
    assert _kinds(files) == {"report": "profile.speedscope.json"}
    profile = json.loads(files[0].path.read_text())
    assert profile["profiles"]  # sampled at the asked rate, idle threads included

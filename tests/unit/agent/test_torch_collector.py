"""The torch collector with real PyTorch (CPU), in a process of its own environment.

The torch environment (scripts/install-torch.sh) has no nsight-lab installed; the
repository is put on its path, as ``nsight-lab run`` does for the agent.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.support.stack import REPO_ROOT

SCRIPT = r"""
import json, sys, threading
from pathlib import Path

from nsight_lab.agent.collectors.choose import Chooser
from nsight_lab.agent.config import AgentConfig

before = Chooser(AgentConfig(coordinator_url="http://127.0.0.1:9/")).choose()
import torch
after = Chooser(AgentConfig(coordinator_url="http://127.0.0.1:9/")).choose()

from nsight_lab import annotate
from nsight_lab.agent.collectors.torch import TorchCollector
from nsight_lab.agent.steps import STEPS, StepPlan

out = Path(sys.argv[1])
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))

def steps(n):
    for _ in range(n):
        with annotate("step"):
            model(torch.randn(8, 16)).sum().backward()

def on_thread(func):
    box = []
    t = threading.Thread(target=lambda: box.append(func()))
    t.start(); t.join()
    return box[0] if box else None

# 1. Started and stopped from another thread while this one trains.
collector = TorchCollector("unit")
collector.configure({"record_shapes": True})
on_thread(lambda: collector.start(out / "a", 1))
steps(3)
collector.set_report_metadata({"collection_id": "c1", "steps": {"first": 0}})
first = on_thread(collector.stop)

# 2. A step plan: start inline at step N+2, halt inline two steps later.
begin = STEPS.next_step + 2
plan = StepPlan(
    first=begin, count=2,
    on_start=lambda n: collector.start(out / "b", 2),
    on_stop=lambda n, why: collector.halt(),
)
STEPS.plan = plan
steps(6)
STEPS.plan = None
second = collector.stop()
print(json.dumps({
    "before": [before.name, before.note], "after": [after.name, after.note],
    "caps": collector.capabilities, "main_tid": threading.get_native_id(),
    "first": [str(f.path) for f in first], "second": [str(f.path) for f in second],
    "plan": [begin, plan.started_at, plan.stopped_at, plan.stop_reason],
}))
"""


def run(python: Path, tmp_path: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [str(python), "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def events(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with gzip.open(path) as fh:
        doc = json.load(fh)
    return doc, [e for e in doc["traceEvents"] if e.get("ph") == "X"]


def test_torch_collector_records_every_thread_and_aligns_on_steps(
    torch_python: Path, tmp_path: Path
) -> None:
    result = run(torch_python, tmp_path)
    # auto: before torch is imported the best is lower, and it says why.
    assert result["before"][0] != "torch"
    assert "torch: this process has not imported torch" in result["before"][1]
    assert result["after"] == ["torch", ""]
    assert result["caps"] == ["cpu"]  # no GPU here

    doc, recorded = events(result["first"][0])
    assert result["first"][0].endswith(".pt.trace.json.gz")
    ops = [e for e in recorded if e.get("cat") == "cpu_op"]
    # The training thread's ops are there although another thread ran the profiler.
    assert any(e["tid"] == result["main_tid"] and e["name"] == "aten::addmm" for e in ops)
    assert any("Input Dims" in e.get("args", {}) for e in ops)  # record_shapes applied
    names = {e["name"] for e in recorded if e.get("cat") == "user_annotation"}
    assert {"ProfilerStep#0", "ProfilerStep#1", "ProfilerStep#2"} <= names
    assert doc["nsight_lab"] == {"collection_id": "c1", "steps": {"first": 0}}

    begin, started, stopped, reason = result["plan"]
    assert (started, stopped, reason) == (begin, begin + 2, "steps")
    _, stepped = events(result["second"][0])
    steps = sorted(e["name"] for e in stepped if e["name"].startswith("ProfilerStep#"))
    assert steps == [f"ProfilerStep#{begin}", f"ProfilerStep#{begin + 1}"]

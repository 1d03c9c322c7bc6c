"""Real PyTorch on CPU, two ranks, started by ``nsight-lab run``, profiled by step from the CLI.

Real parts: ``nsight-lab up`` on a real MinIO, PyTorch 2.15 from PyPI in its own
environment (scripts/install-torch.sh) with no nsight-lab installed in it, two
processes training one model with DistributedDataParallel over gloo, the agent
injected by ``nsight-lab run``, and the CLI as a user types it. No GPU: the torch
collector records CPU operators, which is what a CPU host has.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from nsight_lab.recipe import run_recipe
from tests.support.stack import REPO_ROOT, Cli, UpServer, Workload, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TRAIN = REPO_ROOT / "nsight_lab" / "demo" / "torch_train.py"


def torch_job(
    stack: UpServer, tag: str, python: Path, tmp_path: Path, *extra: str, collector: str = "auto"
) -> Workload:
    return Workload(
        stack.url,
        tag,
        None,
        collector=collector,
        command=[str(python), str(TRAIN), "--ranks", "2", "--seconds", "240", *extra],
        log=tmp_path / f"{tag}.log",
    )


def training(log: Path, ranks: int = 2) -> bool:
    """Every rank has printed a progress line (10 steps done): DDP is up and stepping."""
    text = log.read_text() if log.is_file() else ""
    return all(f"rank {r}: step" in text for r in range(ranks))


def online(cli: Cli, tag: str, collector: str) -> list[dict]:
    return [
        a
        for a in cli.json("--tag", tag, "status")["agents"]
        if a["state"] == "ONLINE" and a["collector"] == collector
    ]


def steps_in(trace: Path) -> list[int]:
    with gzip.open(trace) as fh:
        events = json.load(fh)["traceEvents"]
    return sorted(
        int(m.group(1))
        for e in events
        if e.get("ph") == "X" and (m := re.fullmatch(r"ProfilerStep#(\d+)", e.get("name", "")))
    )


def test_two_ranks_record_the_same_three_steps(
    stack: UpServer, cli: Cli, tmp_path: Path, torch_python: Path
) -> None:
    job = torch_job(stack, "ddp", torch_python, tmp_path)
    try:
        # auto switches each agent to torch once the script has imported it.
        agents = wait_until(
            lambda: len(online(cli, "ddp", "torch")) == 2 and online(cli, "ddp", "torch"),
            120,
            "two torch agents",
        )
        assert {"cpu"} <= set(agents[0]["capabilities"])
        wait_until(lambda: training(tmp_path / "ddp.log"), 180, "both ranks training")
        started = cli.run(
            "--tag", "ddp", "profiler-start", "--steps", "3", "--skip", "5", timeout=240
        )
        assert "COMPLETED" in started.stdout, started.stdout + started.stderr
        listing = cli.run("--tag", "ddp", "ls")
        files = cli.json("--tag", "ddp", "ls")
    finally:
        job.stop()
    assert len(files) == 2 and {f["collector"] for f in files} == {"torch"}
    out = tmp_path / "dl"
    cli.run("--tag", "ddp", "download", "--flat", "-o", str(out))
    traces = sorted(out.glob("*.json.gz"))
    assert len(traces) == 2
    steps = [steps_in(t) for t in traces]
    assert len(steps[0]) == 3 and steps[0] == steps[1], steps
    assert steps[0] == list(range(steps[0][0], steps[0][0] + 3))
    ranks = set()
    for trace in traces:
        with gzip.open(trace) as fh:
            doc = json.load(fh)
        ranks.add(doc["distributedInfo"]["rank"])
        meta = doc["nsight_lab"]
        assert meta["steps"]["first"] == steps[0][0] and meta["steps"]["count"] == 3
        assert isinstance(meta["clock"]["offset_ns"], int)
    assert ranks == {0, 1}
    for f in files:
        assert isinstance(f["metadata"]["overhead_pct"], float), f["metadata"]
        assert f["metadata"]["steps"]["count"] == 3
    # `ls` shows the measured overhead beside each report.
    assert re.search(r"[+-]\d+\.\d%", listing.stdout), listing.stdout

    ops = run_recipe("torch_op_sum", traces, tmp_path / "ops", notebook=False).tables["stats"]
    names = set(ops["Operator"].to_pylist())
    assert {"aten::linear", "aten::addmm", "aten::relu", "aten::cross_entropy_loss"} <= names
    assert {"Self Time (ns)", "Self Time (%)"} <= set(ops.column_names)
    table = run_recipe("step_time_sum", traces, tmp_path / "steps", notebook=False).tables["stats"]
    assert table["Step"].to_pylist() == steps[0]
    assert set(table["Ranks"].to_pylist()) == {2}
    assert set(table["Slowest Rank"].to_pylist()) <= {0, 1}


def test_bad_capture_requests_get_clear_outcomes(
    stack: UpServer, cli: Cli, tmp_path: Path, torch_python: Path, cupti_python: Path
) -> None:
    no_steps = torch_job(stack, "nosteps", torch_python, tmp_path, "--no-steps", "--sleep", "0.05")
    cupti = Workload(
        stack.url,
        "mixed",
        "gpu-less",
        collector="cupti",
        command=[str(cupti_python), "-m", "nsight_lab.demo.workload", "--seconds", "240"],
        log=tmp_path / "cupti.log",
    )
    torch_rank = torch_job(stack, "mixed", torch_python, tmp_path, "--sleep", "0.05")
    try:
        wait_until(lambda: len(online(cli, "nosteps", "torch")) == 2, 120, "torch agents")
        wait_until(lambda: len(online(cli, "mixed", "torch")) == 2, 120, "torch agents")
        wait_until(lambda: online(cli, "mixed", "cupti"), 60, "the cupti agent")

        # An option the tag's collector cannot apply is refused before anything starts.
        refused = cli.run("--tag", "nosteps", "profiler-start", "--rate", "250", check=False)
        assert refused.returncode == 3
        assert "torch collector cannot apply --rate (a pyspy option)" in refused.stderr
        unknown = cli.run("--tag", "nosteps", "profiler-start", "-O", "bogus=1", check=False)
        assert unknown.returncode == 2 and "unknown collector option --bogus" in unknown.stderr

        # --steps in processes that never mark a step: each agent times out, clearly.
        timed_out = cli.json(
            "--tag", "nosteps", "profiler-start", "--steps", "2", "--step-timeout", "5", "--wait"
        )
        assert timed_out["state"] == "FAILED"
        assert len(timed_out["participants"]) == 2
        for part in timed_out["participants"]:
            assert part["state"] == "FAILED"
            assert "never entered annotate('step')" in part["message"], part

        # A collector that cannot start on one agent while the others record: PARTIAL.
        cli.json("--tag", "mixed", "profiler-start")
        mixed = cli.json("--tag", "mixed", "profiler-stop", "--timeout", "120")
        assert mixed["state"] == "PARTIAL", mixed
        by_collector = {p["instance"]: p for p in mixed["participants"]}
        assert by_collector["gpu-less"]["state"] == "FAILED"
        assert "no CUDA driver" in by_collector["gpu-less"]["message"]
        others = [p for i, p in by_collector.items() if i != "gpu-less"]
        assert len(others) == 2 and {p["state"] for p in others} == {"UPLOADED"}
        # ... and the host process without a GPU kept running.
        assert cupti.proc.poll() is None
    finally:
        for job in (no_steps, cupti, torch_rank):
            job.stop()

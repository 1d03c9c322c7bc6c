"""The cupti collector with real cupti-python on a host without a GPU: refused, per agent.

This is the one CUPTI path a GPU-less host can run for real; the record format it
writes on a GPU is tested through the importer (tests/unit/trace/test_cupti_importer.py)
and on a GPU by scripts/gpu-check.sh.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nsight_lab.agent.collectors.base import CollectorError
from nsight_lab.agent.collectors.cupti import CuptiCollector
from tests.support.stack import REPO_ROOT

SCRIPT = r"""
import json
from nsight_lab.agent.collectors.base import CollectorError
from nsight_lab.agent.collectors.choose import Chooser
from nsight_lab.agent.config import AgentConfig
from cupti import cupti  # the real package imports fine without a GPU
explicit = Chooser(AgentConfig(coordinator_url="http://127.0.0.1:9/", collector="cupti")).choose()
auto = Chooser(AgentConfig(coordinator_url="http://127.0.0.1:9/")).choose()
print(json.dumps({"explicit": [explicit.collector is None, explicit.error],
                  "auto": [auto.name, auto.note]}))
"""


def test_no_device_is_a_clear_refusal_not_a_crash(cupti_python: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [str(cupti_python), "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    missing, error = result["explicit"]
    assert missing and "no CUDA driver on this host (libcuda.so.1 cannot be loaded" in error
    name, note = result["auto"]
    assert name != "cupti" and "cupti: no CUDA driver" in note


def test_without_a_driver_the_collector_refuses_before_importing_cupti() -> None:
    # This interpreter has no cupti-python either; the driver is checked first, so the
    # message is about the GPU, which is what the user can act on.
    with pytest.raises(CollectorError, match="no CUDA driver"):
        CuptiCollector("job")

"""The agent imports nothing outside the standard library (it runs in foreign environments)."""

from __future__ import annotations

import subprocess
import sys

THIRD_PARTY = (
    "pydantic",
    "httpx",
    "fastapi",
    "numpy",
    "pyarrow",
    "msgspec",
    "rich",
    "click",
    "yaml",
    "boto3",
)

CODE = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {THIRD_PARTY!r}:
            raise ImportError('agent imported third-party module ' + name)
sys.meta_path.insert(0, Block())
import nsight_lab.agent, nsight_lab.agent.launcher
from nsight_lab import annotate
import nsight_lab.agent.collectors.pyspy, nsight_lab.agent.collectors.nsys
import nsight_lab.agent.collectors.annotations
"""


def test_agent_imports_only_the_standard_library() -> None:
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr

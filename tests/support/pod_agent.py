"""A profiled process whose agent keeps its reports in the Pod (a real agent process).

Run as ``python -m tests.support.pod_agent`` with the ``NSIGHT_LAB_*`` settings in the
environment (``NSIGHT_LAB_REPORT_STORAGE=pod``). It starts the agent the way the
injected ``sitecustomize`` does, prints ``agent <id>`` once registered, then obeys
lines on stdin:

- ``report <collection_id> <size> <seed>``: spool a report of ``size`` pseudo-random
  bytes (from ``seed``) for that collection, as a collector would at stop; the agent
  keeps and registers it. Prints ``spooled <sha256>``.
- EOF: stop the agent (bye) and exit.

The report bytes stand in for what nsys would write; everything else is the agent.
"""

from __future__ import annotations

import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path

from nsight_lab.agent.runtime import start_agent_from_env


def report_bytes(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    block = 1 << 20  # randbytes takes at most 2**28 bytes at once
    return b"".join(rng.randbytes(min(block, size - at)) for at in range(0, size, block))


def main() -> int:
    agent = start_agent_from_env()
    if agent is None or not agent.wait_registered(20):
        print("agent did not register", flush=True)
        return 1
    print(f"agent {agent.agent_id}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["report"]:
            collection_id, size, seed = words[1], int(words[2]), int(words[3])
            data = report_bytes(size, seed)
            folder = Path(tempfile.mkdtemp(dir=agent.spool.root.parent))
            source = folder / "report.nsys-rep"
            source.write_bytes(data)
            assert agent.agent_id is not None
            agent.spool.add(
                source, collection_id=collection_id, kind="report", agent_id=agent.agent_id
            )
            agent.wake_uploader()
            print(f"spooled {hashlib.sha256(data).hexdigest()}", flush=True)
    agent.stop(5.0)
    time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

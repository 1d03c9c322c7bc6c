"""A real ``nsight-lab up`` (local storage) with one demo workload under a py-spy agent.

Shared by the widget and magic tests, which drive the same gateway a notebook would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nsight_lab.client import CoordinatorClient
from nsight_lab.config import CliConfig
from tests.support.stack import UpServer, Workload, wait_until


@dataclass
class ProfiledStack:
    up: UpServer
    workload: Workload
    tag: str
    config: CliConfig

    def client(self) -> CoordinatorClient:
        return CoordinatorClient(self.config)


@contextlib.contextmanager
def profiled_stack(data_dir: Path, tag: str) -> Iterator[ProfiledStack]:
    up = UpServer(data_dir).start()
    workload = Workload(up.url, tag, "w0", process_name="trainer", seconds=300)
    try:
        config = CliConfig(gw=up.url, tag=tag)
        with CoordinatorClient(config) as client:
            wait_until(
                lambda: any(a.state.value == "ONLINE" for a in client.status(tag).agents),
                60,
                f"an agent online on tag {tag}",
            )
        yield ProfiledStack(up, workload, tag, config)
    finally:
        workload.stop()
        up.stop()

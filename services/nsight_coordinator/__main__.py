"""``python -m nsight_coordinator``: the coordinator alone, over a local storage folder.

For benchmarks and debugging; ``nsight-lab up`` composes the full embedded stack.
The signing key comes from ``NSIGHT_LAB_SIGNING_KEY`` (hex) or is made up per run,
in which case presigned URLs die with the process.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from nsight_coordinator.app import create_app
from nsight_coordinator.serve import CoordinatorServer
from nsight_coordinator.settings import CoordinatorSettings
from nsight_lab.storage import LocalStore


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nsight_coordinator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8890)
    parser.add_argument("--data-dir", type=Path, default=Path("coordinator-data"))
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    key_hex = os.environ.get("NSIGHT_LAB_SIGNING_KEY")
    key = bytes.fromhex(key_hex) if key_hex else os.urandom(32)
    settings = CoordinatorSettings(db_path=args.data_dir / "coordinator.sqlite3")
    app = create_app(settings, LocalStore(args.data_dir / "objects", key))
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
        backlog=4096,
    )
    CoordinatorServer(config, coordinators=[app]).run()


if __name__ == "__main__":
    main()

"""``python -m nsight_coordinator``: the coordinator alone (its cluster Deployment runs this).

Storage is a local folder under ``--data-dir`` unless ``--storage-config`` names a
``storage-config.yaml`` (the operator mounts one from a Secret). The signing key of
the local backend comes from ``NSIGHT_LAB_SIGNING_KEY`` (hex) or is made up per run,
in which case presigned URLs die with the process. ``nsight-lab up`` composes the
full embedded stack instead.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from nsight_coordinator.app import create_app
from nsight_coordinator.serve import CoordinatorServer
from nsight_coordinator.settings import CoordinatorSettings
from nsight_lab.storage import LocalStore, ObjectStore, load_storage_config, open_store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nsight_coordinator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8890)
    parser.add_argument("--data-dir", type=Path, default=Path("coordinator-data"))
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--root-path",
        default="",
        help="The prefix a gateway routes by (/coordinator), so URLs built here carry it.",
    )
    parser.add_argument(
        "--storage-config", type=Path, default=None, help="storage-config.yaml (S3 or local)."
    )
    parser.add_argument(
        "--create-bucket",
        action="store_true",
        help="Create the S3 bucket at start when missing (operator-managed MinIO).",
    )
    args = parser.parse_args(argv)
    key_hex = os.environ.get("NSIGHT_LAB_SIGNING_KEY")
    key = bytes.fromhex(key_hex) if key_hex else os.urandom(32)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    settings = CoordinatorSettings(db_path=args.data_dir / "coordinator.sqlite3")
    store: ObjectStore
    if args.storage_config is None:
        store = LocalStore(args.data_dir / "objects", key)
    else:
        store = open_store(load_storage_config(args.storage_config), signing_key=key)
        if args.create_bucket and hasattr(store, "ensure_bucket"):
            store.ensure_bucket()
    app = create_app(settings, store)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        root_path=args.root_path,
        timeout_graceful_shutdown=5,
        backlog=4096,
    )
    CoordinatorServer(config, coordinators=[app]).run()


if __name__ == "__main__":
    main()

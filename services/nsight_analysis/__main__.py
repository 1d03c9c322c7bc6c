"""``python -m nsight_analysis``: the analysis service alone (its cluster Deployment runs this).

Tunables come from ``NSIGHT_LAB_ANALYSIS_*`` (executor, coordinator URL, the
Kubernetes Job settings); the flags here say where to listen and where state and
storage are. The coordinator is reached over HTTP at ``NSIGHT_LAB_ANALYSIS_COORDINATOR_URL``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from nsight_analysis.app import create_app
from nsight_analysis.settings import AnalysisSettings
from nsight_lab.storage import LocalStore, ObjectStore, load_storage_config, open_store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nsight_analysis")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8891)
    parser.add_argument("--data-dir", type=Path, default=Path("analysis-data"))
    parser.add_argument("--storage-config", type=Path, default=None, help="storage-config.yaml.")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--root-path",
        default="",
        help="The prefix a gateway routes by (/coordinator), so URLs built here carry it.",
    )
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    key_hex = os.environ.get("NSIGHT_LAB_SIGNING_KEY")
    key = bytes.fromhex(key_hex) if key_hex else os.urandom(32)
    store: ObjectStore
    if args.storage_config is None:
        store = LocalStore(args.data_dir / "objects", key)
    else:
        store = open_store(load_storage_config(args.storage_config), signing_key=key)
    defaults = {"db_path": args.data_dir / "analysis.sqlite3", "work_dir": args.data_dir / "work"}
    overrides = {
        name: value
        for name, value in defaults.items()
        if f"NSIGHT_LAB_ANALYSIS_{name.upper()}" not in os.environ
    }
    settings = AnalysisSettings(**overrides)
    app = create_app(settings, store)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        root_path=args.root_path,
        lifespan="on",
    )


if __name__ == "__main__":
    main()

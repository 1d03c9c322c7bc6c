#!/usr/bin/env python3
"""FAKE nsys: a stand-in for the Nsight Systems CLI, which cannot be installed here.

Tests put this file (executable) where the agent looks for ``nsys``. It appends
every invocation's argv as one JSON line to ``$FAKE_NSYS_LOG`` so a test can assert
the exact call sequence, and writes the files the real tool would:

* ``start --session=S --output=PATH ...``: remembers PATH for the session;
* ``stop --session=S``: writes ``PATH.nsys-rep`` (a few bytes; not a real report);
* ``export --type=sqlite --output=OUT ... REPORT``: copies ``$FAKE_NSYS_SQLITE``
  (a real SQLite export, e.g. the cloverleaf fixture) to OUT.

``$FAKE_NSYS_FAIL=<subcommand>`` makes that subcommand fail with status 1.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return None


def main(args: list[str]) -> int:
    if args == ["--version"]:  # the collector's pre-flight; not part of a capture's log
        print("NVIDIA Nsight Systems version 2026.1.1 (FAKE stand-in)")
        return 0
    log = os.environ.get("FAKE_NSYS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps(args) + "\n")
    if not args:
        print("usage: nsys <command>", file=sys.stderr)
        return 1
    command = args[0]
    if os.environ.get("FAKE_NSYS_FAIL") == command:
        print(f"FAKE nsys: {command} failed on purpose", file=sys.stderr)
        return 1
    state_dir = Path(os.environ.get("FAKE_NSYS_STATE", Path(log or ".").parent))
    session = _option(args, "session") or ""
    state = state_dir / f"fake-nsys-{session}.output"
    if command == "start":
        output = _option(args, "output")
        if not output:
            print("FAKE nsys: start needs --output", file=sys.stderr)
            return 1
        state.write_text(output)
        return 0
    if command == "stop":
        if not state.is_file():
            print(f"FAKE nsys: no collection running in session {session}", file=sys.stderr)
            return 1
        Path(state.read_text() + ".nsys-rep").write_bytes(b"FAKE-NSYS-REP\n")
        state.unlink()
        return 0
    if command == "export":
        output = _option(args, "output")
        source = os.environ.get("FAKE_NSYS_SQLITE")
        if not output or not source:
            print("FAKE nsys: export needs --output and $FAKE_NSYS_SQLITE", file=sys.stderr)
            return 1
        shutil.copyfile(source, output)
        return 0
    if command == "launch":
        # Run the program after the options, as `nsys launch` does.
        rest = [a for a in args[1:] if not a.startswith("--")]
        os.execvp(rest[0], rest)
    print(f"FAKE nsys: unsupported command {command}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

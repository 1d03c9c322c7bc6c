"""A small data-parallel PyTorch training job on CPU: the torch collector's demo and test.

    nsight-lab run -- python -m nsight_lab.demo.torch_train --ranks 2 --seconds 120

Rank 0 is this process; it starts ranks 1..N-1 as child processes of the same
script, and all of them train one MLP with DistributedDataParallel over gloo, so
every step ends in an all-reduce and the ranks move in lockstep, as on GPUs. Each
iteration is one ``annotate("step")``; ``--no-steps`` leaves them out (to see what
a step capture does in a process that never marks steps). Needs only torch.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from nsight_lab import annotate

_stop = False


def _request_stop(_signum: int, _frame: FrameType | None) -> None:
    global _stop
    _stop = True


def build_model(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(128, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, 10),
    )


def train(rank: int, world: int, port: int, args: argparse.Namespace) -> int:
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group(
            "gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60)
        )
    torch.manual_seed(rank)
    model: nn.Module = build_model(args.width)
    if world > 1:
        model = DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    inputs = torch.randn(args.batch, 128)
    labels = torch.randint(0, 10, (args.batch,))
    deadline = time.monotonic() + args.seconds
    steps = 0

    def step() -> None:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()

    while not _stop and time.monotonic() < deadline and (not args.steps or steps < args.steps):
        if args.no_steps:
            step()
        else:
            with annotate("step"):
                step()
        steps += 1
        if steps % 10 == 0:
            print(f"rank {rank}: step {steps}", flush=True)
        if args.sleep:
            time.sleep(args.sleep)
    if world > 1:
        # Ranks stop at different iterations when signalled; a barrier with a timeout
        # would only add a hang, so leave the group without one.
        dist.destroy_process_group()
    print(f"rank {rank}: {steps} steps", flush=True)
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2, help="processes (world size)")
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long")
    parser.add_argument("--steps", type=int, default=0, help="stop after this many (0: no limit)")
    parser.add_argument("--width", type=int, default=256, help="hidden layer width")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds of idle per step")
    parser.add_argument("--no-steps", action="store_true", help="do not annotate steps")
    parser.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    if args.rank > 0:
        return train(args.rank, args.ranks, args.port, args)
    port = _free_port()
    children = [
        subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                *(argv or sys.argv[1:]),
                "--rank",
                str(rank),
                "--port",
                str(port),
            ]
        )
        for rank in range(1, args.ranks)
    ]
    try:
        code = train(0, args.ranks, port, args)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
    return code or max((c.returncode or 0 for c in children), default=0)


if __name__ == "__main__":
    sys.exit(main())

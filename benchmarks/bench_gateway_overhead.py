"""What the Envoy gateway costs: each auth mode against direct access, in one run.

For every mode (none, apikey, jwt, oauth2 with a Bearer token over TLS) the script
starts the in-process services behind a real Envoy (``nsight_lab.embedded.gateway``,
the code of ``nsight-lab up --auth``) and measures, alternating gateway and direct
access so both see the same machine load:

- 2,000 small API calls (``GET /coordinator/api/v1/tags``, one keep-alive
  connection, sequential): p50/p99 latency and calls per second;
- a 1 GiB download of a presigned local-storage URL (streamed, bytes counted; both
  paths' bodies are first checked equal by SHA-256): MiB/s, median of the runs.

"Direct" is the same request to the services' private port carrying the headers
Envoy would add (secret and identity), so the services do the same work and the
difference is the gateway alone. The oauth2 mode's IdP is a static JWKS served on
loopback: a Bearer client never makes Envoy call the token endpoint.

Run: ``python benchmarks/bench_gateway_overhead.py [--calls 2000] [--size-mib 1024]
[--runs 3] [--modes none,apikey,jwt,oauth2]``. Prints a JSON summary last.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "services")]

import httpx  # noqa: E402

from benchmarks._measure import machine  # noqa: E402
from nsight_lab.embedded.gateway import start_gateway_stack  # noqa: E402
from nsight_lab.embedded.stack import StackConfig, free_port  # noqa: E402
from nsight_lab.gateway import GatewaySpec  # noqa: E402
from tests.support.gateway import SigningKey, claims, jwks  # noqa: E402
from tests.support.tls import TestCA  # noqa: E402

ISSUER = "https://bench.nsight.test"
AUDIENCE = "nsight-bench"
SECRET = "bench-gateway-secret-0123456789abcdef0123"
CHUNK = 1024 * 1024


def static_jwks(document: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = document.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def spec_for(
    mode: str, work: Path, key: SigningKey, jwks_url: str, tls: dict[str, str]
) -> tuple[GatewaySpec, dict[str, str]]:
    """The gateway spec for ``mode`` and the Authorization a client sends to it."""
    port = {"port": free_port(), "adminPort": free_port()}
    token = key.sign(claims(iss=ISSUER, aud=AUDIENCE, lifetime=7200, sub="bench"))
    if mode == "none":
        return GatewaySpec.model_validate(port), {}
    if mode == "apikey":
        api = {"enabled": True, "keys": [{"client": "bench", "key": "bench-key-0123456789abcdef"}]}
        return (
            GatewaySpec.model_validate({**port, "authentication": {"apikey": api}}),
            {"Authorization": "Bearer bench-key-0123456789abcdef"},
        )
    if mode == "jwt":
        (work / "jwks.json").write_text(jwks(key))
        jwt = {"enabled": True, "issuer": ISSUER, "audiences": [AUDIENCE],
               "jwksFile": str(work / "jwks.json")}  # fmt: skip
        return (
            GatewaySpec.model_validate({**port, "authentication": {"jwt": jwt}}),
            {"Authorization": f"Bearer {token}"},
        )
    oauth2 = {
        "enabled": True, "issuer": ISSUER, "clientId": "bench", "clientSecret": "s", "hmac": "h" * 32,
        "audiences": [AUDIENCE], "authorizationEndpoint": jwks_url + "/auth",
        "tokenEndpoint": jwks_url + "/token", "jwksUri": jwks_url + "/jwks",
    }  # fmt: skip
    return (
        GatewaySpec.model_validate({**port, "tls": tls, "authentication": {"oauth2": oauth2}}),
        {"Authorization": f"Bearer {token}"},
    )


def call_latencies(client: httpx.Client, url: str, headers: dict[str, str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        answer = client.get(url, headers=headers)
        out.append(time.perf_counter() - start)
        if answer.status_code != 200:
            raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text[:200]}")
    return out


def download(
    client: httpx.Client, url: str, headers: dict[str, str], digest: bool = False
) -> tuple[float, int, str]:
    sha = hashlib.sha256() if digest else None
    size = 0
    start = time.perf_counter()
    with client.stream("GET", url, headers=headers) as answer:
        if answer.status_code != 200:
            raise RuntimeError(f"download answered {answer.status_code}")
        for chunk in answer.iter_raw(CHUNK):
            size += len(chunk)
            if sha is not None:
                sha.update(chunk)
    return time.perf_counter() - start, size, sha.hexdigest() if sha else ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_mode(mode: str, args: argparse.Namespace, root: Path, report: Path, key: SigningKey,
               jwks_url: str, tls: dict[str, str], ca: Path) -> dict[str, Any]:  # fmt: skip
    work = root / mode
    work.mkdir()
    spec, auth = spec_for(mode, work, key, jwks_url, tls)
    config = StackConfig(data_dir=work / "data", host="127.0.0.1", port=spec.port)
    stack = start_gateway_stack(config, spec, secret=SECRET)
    try:
        coordinator = stack.app.state.services["coordinator"].state.coordinator
        coordinator.store.put_file("bench/report.bin", report)
        signed = coordinator.store.presign_get("bench/report.bin", expires_s=3600)
        direct_headers = {"x-nsight-gateway-secret": SECRET, "x-nsight-identity": "bench"}
        gw = (stack.url, auth)
        direct = (stack.services_url, direct_headers)
        verify = ssl.create_default_context(cafile=str(ca))
        with (
            httpx.Client(verify=verify, timeout=120) as gw_client,
            httpx.Client(timeout=120) as d_client,
        ):
            clients = {"gateway": (gw_client, *gw), "direct": (d_client, *direct)}
            api = "/coordinator/api/v1/tags"
            obj = "/coordinator/api/v1/" + signed
            # Same answer both ways first, bytes included.
            sums = {
                name: download(c, base + obj, h, digest=True)
                for name, (c, base, h) in clients.items()
            }
            assert sums["gateway"][1:] == sums["direct"][1:], "the gateway changed the bytes"
            for c, base, h in clients.values():
                call_latencies(c, base + api, h, 100)  # warm connections and caches
            lat: dict[str, list[float]] = {"gateway": [], "direct": []}
            rounds = 4
            for _ in range(rounds):
                for name, (c, base, h) in clients.items():
                    lat[name] += call_latencies(c, base + api, h, args.calls // rounds)
            mibs: dict[str, list[float]] = {"gateway": [], "direct": []}
            envoy_pid = stack.envoy.proc.pid if stack.envoy.proc else 0
            envoy_cpu = 0.0
            for _ in range(args.runs):
                for name, (c, base, h) in clients.items():
                    cpu_before = cpu_seconds(envoy_pid)
                    seconds, size, _ = download(c, base + obj, h)
                    if name == "gateway":
                        envoy_cpu += cpu_seconds(envoy_pid) - cpu_before
                    mibs[name].append(size / CHUNK / seconds)
    finally:
        stack.stop()
    out: dict[str, Any] = {
        "mode": mode,
        # What Envoy itself spends to move the bytes: the cost on a machine with a
        # core to spare, whatever else competes for the cores during the run.
        "envoy_cpu_s_per_gib": envoy_cpu / (args.runs * args.size_mib / 1024),
    }
    for name in ("gateway", "direct"):
        out[name] = {
            "p50_ms": statistics.median(lat[name]) * 1e3,
            "p99_ms": pct(lat[name], 0.99) * 1e3,
            "calls_per_s": len(lat[name]) / sum(lat[name]),
            "download_mib_s": statistics.median(mibs[name]),
            "download_runs": mibs[name],
        }
    out["added_p50_ms"] = out["gateway"]["p50_ms"] - out["direct"]["p50_ms"]
    out["download_ratio"] = out["gateway"]["download_mib_s"] / out["direct"]["download_mib_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="none,apikey,jwt,oauth2")
    args = parser.parse_args()
    os.environ.setdefault("NSIGHT_LAB_ANALYSIS_WORKERS", "1")
    os.environ.setdefault("NSIGHT_LAB_ANALYSIS_WARM_KERNEL", "false")
    key = SigningKey.rsa("bench")
    results = []
    with tempfile.TemporaryDirectory(prefix="nsight-bench-gw-") as tmp:
        root = Path(tmp)
        report = root / "report.bin"
        block = os.urandom(CHUNK)
        with report.open("wb") as f:
            for i in range(args.size_mib):
                f.write(block[i % 7 :] + block[: i % 7])
        issued = TestCA(root / "ca").issue()
        tls = {"certFile": str(issued.cert), "keyFile": str(issued.key)}
        server, jwks_url = static_jwks(jwks(key))
        try:
            for mode in args.modes.split(","):
                result = bench_mode(
                    mode, args, root, report, key, jwks_url, tls, root / "ca" / "ca.crt"
                )
                g, d = result["gateway"], result["direct"]
                print(
                    f"{mode:7} calls p50 {g['p50_ms']:.3f} ms vs {d['p50_ms']:.3f} ms direct "
                    f"(+{result['added_p50_ms']:.3f}), p99 {g['p99_ms']:.3f} vs {d['p99_ms']:.3f}, "
                    f"{g['calls_per_s']:.0f} vs {d['calls_per_s']:.0f} calls/s; download "
                    f"{g['download_mib_s']:.0f} vs {d['download_mib_s']:.0f} MiB/s "
                    f"(ratio {result['download_ratio']:.3f}); Envoy "
                    f"{result['envoy_cpu_s_per_gib']:.2f} CPU-s/GiB",
                    flush=True,
                )
                results.append(result)
        finally:
            server.shutdown()
    print(json.dumps({"machine": machine(), "calls": args.calls, "size_mib": args.size_mib,
                      "runs": args.runs, "results": results}))  # fmt: skip


if __name__ == "__main__":
    main()

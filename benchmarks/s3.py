"""The kit's mock S3 against plain moto server mode, the same client on both; prints ratios and a verdict.

Goals:
  1. With the same client, the kit's mock serves GETs of a 12 KB object faster than plain moto server mode
     (ratio > 1), with its memo on and with it off; and uploads (DatasetStore, parallel PUTs) no slower.
  2. A single boto3 client reaches >= 1,000 GET/s on the mock (memo on). Where it does not, the output says
     where one request's time goes: the client's CPU (by module, from cProfile), the server's handling time
     (from the mock's own counters) and the rest (waiting: loopback, scheduling on a busy machine).

Anchor: plain moto server mode (``moto.server.ThreadedMotoServer`` on 127.0.0.1, in its own process, as the
mock is), read by the same client in the same run.

Method: three servers run at once: plain moto, the mock with its memo, the mock without. One long-lived
client process per client kind holds a warmed-up client per server: boto3 ``get_object``, and the compatible
``aiUtils`` ``getImgXmlArray`` (the kit's keep-alive GET; it takes the same path on any loopback endpoint).
In each round every server is read in turn, in an order that rotates between rounds; the ratio mock / moto
is taken within a round, and the medians over rounds are printed, with the machine's load before and after.

    python benchmarks/s3.py            # full: 7 rounds, 1,000 reads per server and round (moto: 200)
    python benchmarks/s3.py --quick    # 3 rounds, 300 reads (moto: 100); about 70 s at load 10
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pie_conformance.datasets import DatasetSpec, generate  # noqa: E402
from pie_conformance.s3 import AIUTILS_PATH, BUCKET, DatasetStore, MockS3Server, aiutils_env  # noqa: E402

KEY = "devel/kit/dataset/segmentation/bench/train/images/00000.png"
PREFIX = KEY.rsplit("/train/", 1)[0] + "/"
SERVERS = ("moto", "mock", "mock-no-memo")

# A client process: one client per endpoint, then commands on stdin, one JSON answer per line on stdout.
WORKER = textwrap.dedent(
    """
    import cProfile, json, os, pstats, sys, time
    kind, endpoints = sys.argv[1], json.loads(sys.argv[2])
    readers = {}
    for name, endpoint in endpoints.items():
        if kind == "boto3":
            import boto3
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench")
            readers[name] = (lambda s3: lambda: s3.get_object(Bucket=os.environ["BENCH_BUCKET"],
                                                              Key=os.environ["BENCH_KEY"])["Body"].read())(s3)
        else:
            os.environ["PIE_S3_ENDPOINT_URL"] = endpoint  # aiUtils reads its endpoint when a client is made
            from aiUtils import aiUtils
            client = aiUtils.s3GetImg()
            readers[name] = (lambda c: lambda: c.getImgXmlArray(os.environ["BENCH_KEY"]))(client)
    for read in readers.values():  # warm-up: connections, caches, first-call imports
        for _ in range(20):
            read()
    size = len(next(iter(readers.values()))())
    print(json.dumps({"ready": size}), flush=True)
    for line in sys.stdin:
        command, name, n = line.split()
        read, n = readers[name], int(n)
        if command == "read":
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                read()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(json.dumps({"rate": n / wall, "wall": wall / n, "cpu": cpu / n}), flush=True)
        else:  # profile: the client's CPU time (not its waiting) by module, per request
            profile = cProfile.Profile(time.process_time)
            profile.enable()
            for _ in range(n):
                read()
            profile.disable()
            by_module = {}
            for (path, _line, func), row in pstats.Stats(profile).stats.items():
                path = path.replace(os.sep, "/")
                if path == "~":
                    module = "socket" if "socket" in func else "builtins"
                elif "site-packages/" in path:
                    module = path.split("site-packages/", 1)[1]
                elif "/lib/python3" in path:
                    module = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
                else:
                    module = path.rsplit("/", 1)[-1]
                by_module[module] = by_module.get(module, 0.0) + row[2] / n
            print(json.dumps({"modules": by_module}), flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _twelve_kb_image() -> bytes:
    # A generated PNG of the size the goal names: grow the picture until it weighs about 12 KB.
    data = b""
    for side in range(64, 160, 2):
        files = generate(DatasetSpec("segmentation", train_images=1, valid_images=1, size=(side, side))).files
        data = files["train/images/00000.png"]
        if len(data) >= 12 * 1024:
            break
    return data


class _PlainMoto:
    """Plain moto server mode in its own process: the anchor."""

    def __init__(self) -> None:
        port = _free_port()
        code = (
            "import sys; from moto.server import ThreadedMotoServer; "
            f"s = ThreadedMotoServer(ip_address='127.0.0.1', port={port}, verbose=False); s.start(); "
            "print('up', flush=True); sys.stdin.read()"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,  # stderr: its request log
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "up":
            raise SystemExit("plain moto server did not start")
        self.endpoint_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait()
        self.proc.stdout.close()


class _Worker:
    """A client process of one kind, with a client per server."""

    def __init__(self, kind: str, endpoints: dict[str, str]) -> None:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/"),
            "BENCH_KEY": KEY,
            "BENCH_BUCKET": BUCKET,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        if kind == "aiutils":
            env |= aiutils_env(next(iter(endpoints.values())), {"bench": PREFIX}, "bench")
            env["PYTHONPATH"] = AIUTILS_PATH
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, kind, json.dumps(endpoints)], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        self.size = int(self._answer()["ready"])

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"benchmark client exited with {self.proc.wait()}")
        return dict(json.loads(line))

    def ask(self, command: str, server: str, n: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{command} {server} {n}\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


def _upload_pair(endpoints: dict[str, str], rounds: int) -> dict[str, float]:
    """Median seconds to upload a small dataset (DatasetStore, 16 parallel PUTs) per server, interleaved."""
    ds = generate(DatasetSpec("segmentation", train_images=48, valid_images=16, size=(96, 96)))
    times: dict[str, list[float]] = {name: [] for name in endpoints}
    for r in range(rounds):
        order = list(endpoints)[r % len(endpoints):] + list(endpoints)[: r % len(endpoints)]
        for name in order:
            store = DatasetStore(endpoints[name])
            store.ensure_bucket()
            start = time.perf_counter()
            store.upload(ds)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()} | {"objects": float(len(ds.files))}


def main() -> int:
    """Run the rounds and print the table, the ratios and the verdicts."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 rounds of 300 reads (moto: 100)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 7, quick 3)")
    parser.add_argument("--reads", type=int, default=None, help="reads per mock and round (default 1000)")
    parser.add_argument("--moto-reads", type=int, default=None, help="reads of plain moto per round (200)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    reads = args.reads or (300 if args.quick else 1000)
    moto_reads = args.moto_reads or (100 if args.quick else 200)
    load_before, started = _load(), time.perf_counter()
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before:.2f} at start")

    image = _twelve_kb_image()
    moto = _PlainMoto()
    mock, bare = MockS3Server(cache=True).start(), MockS3Server(cache=False).start()
    endpoints = {"moto": moto.endpoint_url, "mock": mock.endpoint_url, "mock-no-memo": bare.endpoint_url}
    workers: list[_Worker] = []
    try:
        for endpoint in endpoints.values():
            store = DatasetStore(endpoint)
            store.ensure_bucket()
            store.put_object(KEY, image)
        workers = [_Worker("boto3", endpoints), _Worker("aiutils", endpoints)]
        rates: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}
        server_time: list[float] = []
        for r in range(rounds):
            order = SERVERS[r % 3:] + SERVERS[: r % 3]
            for worker, kind in zip(workers, ("boto3", "aiutils"), strict=True):
                for name in order:
                    n = moto_reads if name == "moto" else reads
                    before = mock.stats() if (kind, name) == ("boto3", "mock") else None
                    got = worker.ask("read", name, n)
                    rates.setdefault((kind, name), []).append(got["rate"])
                    cpu.setdefault((kind, name), []).append(got["cpu"])
                    if before is not None:
                        after = mock.stats()
                        # The stats request itself is counted too: one more than the reads.
                        handled = after["handled"] - before["handled"] - 1
                        server_time.append((after["handle_ns"] - before["handle_ns"]) / max(handled, 1) / 1e9)
        gets = sum(1 for q in mock.requests() if q.op == "GET")
        assert gets >= 2 * rounds * reads, "every read must reach the mock and be recorded"
        uploads = _upload_pair(endpoints, rounds)
        profile = workers[0].ask("profile", "mock", min(reads, 500))["modules"]
    finally:
        for worker in workers:
            worker.close()
        mock.stop()
        bare.stop()
        moto.stop()

    load_after, took = _load(), time.perf_counter() - started
    size_kb = len(image) / 1024
    print(f"GETs of one {size_kb:.1f} KB object, one client process per kind, {rounds} rounds "
          f"({reads} reads of each mock, {moto_reads} of plain moto, per round); medians:")
    print(f"  {'client':<8} {'server':<14} {'GET/s':>8} {'client CPU/GET':>15} {'x plain moto':>13}")
    ratios: dict[tuple[str, str], float] = {}
    for kind in ("boto3", "aiutils"):
        for name in SERVERS:
            rate = statistics.median(rates[(kind, name)])
            per_round = [m / a for m, a in zip(rates[(kind, name)], rates[(kind, "moto")], strict=True)]
            ratio = statistics.median(per_round)
            ratios[(kind, name)] = ratio
            label = "aiUtils" if kind == "aiutils" else kind
            client_cpu = statistics.median(cpu[(kind, name)]) * 1e6
            shown = "(anchor)" if name == "moto" else f"{ratio:11.1f}x"
            print(f"  {label:<8} {name:<14} {rate:8.0f} {client_cpu:12.0f} us {shown:>13}")
    print(f"uploads of {uploads['objects']:.0f} objects (DatasetStore, 16 parallel PUTs), "
          f"median of {rounds}:")
    for name in SERVERS:
        ratio = uploads["moto"] / uploads[name]
        print(f"  {name:<14} {uploads[name]:6.2f} s  {'(anchor)' if name == 'moto' else f'{ratio:5.1f}x'}")

    faster = all(ratios[(k, n)] > 1 for k in ("boto3", "aiutils") for n in ("mock", "mock-no-memo"))
    uploads_ok = all(uploads[n] <= uploads["moto"] * 1.1 for n in ("mock", "mock-no-memo"))
    print("goal 1, the mock faster than plain moto with the same client (memo on and off), uploads no "
          f"slower: {'MET' if faster and uploads_ok else 'MISSED'}")
    boto_rate = statistics.median(rates[("boto3", "mock")])
    wall = 1 / boto_rate
    client_cpu = statistics.median(cpu[("boto3", "mock")])
    server = statistics.median(server_time)
    rest = wall - client_cpu - server
    print(f"goal 2, one boto3 client >= 1,000 GET/s on the mock: {'MET' if boto_rate >= 1000 else 'MISSED'} "
          f"({boto_rate:.0f} GET/s)")
    print(f"  where one GET's {wall * 1e6:.0f} us go: client CPU {client_cpu * 1e6:.0f} us, server handling "
          f"{server * 1e6:.0f} us, the rest (loopback, waiting for a CPU) {rest * 1e6:.0f} us")
    total = sum(profile.values()) or 1.0
    top = sorted(profile.items(), key=lambda item: -item[1])[:8]
    print("  client CPU by module, share of it (cProfile on CPU time; 'builtins': C functions such as str "
          "and dict methods, called from the others): "
          + ", ".join(f"{m} {100 * s / total:.0f}%" for m, s in top))
    if boto_rate < 1000:
        print(f"  the client alone needs {client_cpu * 1e6:.0f} us of CPU per GET at this load: at most "
              f"{1 / client_cpu:.0f} GET/s even from a server that took no time; the goal needs client, "
              "server and the rest within 1,000 us")
    print(f"load average {load_before:.2f} at start, {load_after:.2f} at end; took {took:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

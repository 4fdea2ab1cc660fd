"""Speed of the mocked S3 and the datasets; prints figures.

Usage: python benchmarks/s3.py [--reads 2000] [--baseline-reads 300] [--size 256] [--images 16]

Figures printed:
- dataset generation: images per second for each task (``--images`` train images of ``--size`` pixels);
- upload of such a dataset to the mock (DatasetStore, parallel PUTs): objects and MiB per second;
- reads of one ~12 KB image from a child process, objects per second:
  plain moto server mode (ThreadedMotoServer) with boto3 ``get_object``  <- the figure to beat (~200/s);
  the kit's mock with boto3 ``get_object``, with its read cache off and on;
  the kit's mock with the compatible ``aiUtils`` ``getImgXmlArray`` (what a platform script calls);
  the same bytes read from a local file (``open().read()``), for scale.
The GET figures come from a child process, as a training script's reads do. Other load on the machine
lowers all of them; compare them within one run.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pie_conformance.datasets import TASKS, DatasetSpec, generate  # noqa: E402
from pie_conformance.s3 import BUCKET, DatasetStore, MockS3Server, aiutils_env  # noqa: E402

CLIENT = textwrap.dedent(
    """
    import os, sys, time
    mode, n = sys.argv[1], int(sys.argv[2])
    endpoint, key, path = os.environ.get("BENCH_ENDPOINT"), os.environ["BENCH_KEY"], os.environ["BENCH_FILE"]
    if mode == "boto3":
        import boto3
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
        read = lambda: s3.get_object(Bucket="pie-engine-ai", Key=key)["Body"].read()
    elif mode == "aiutils":
        from aiUtils import aiUtils
        client = aiUtils.s3GetImg()
        read = lambda: client.getImgXmlArray(key)
    else:
        def read():
            with open(path, "rb") as handle:
                return handle.read()
    size = len(read())
    for _ in range(20):  # warm-up: connections, caches
        read()
    start = time.perf_counter()
    for _ in range(n):
        read()
    print(n / (time.perf_counter() - start), size)
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_rate(mode: str, n: int, env: dict[str, str]) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, mode, str(n)], env=env, capture_output=True, text=True, timeout=600
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark client ({mode}) failed:\n{out.stderr[-2000:]}")
    rate, size = out.stdout.split()
    return float(rate), int(size)


def _twelve_kb_image() -> bytes:
    # A generated PNG of the size the issue names: grow the picture until it weighs about 12 KB.
    for side in range(64, 160, 2):
        data = generate(DatasetSpec("segmentation", train_images=1, valid_images=1, size=(side, side))).files[
            "train/images/00000.png"
        ]
        if len(data) >= 12 * 1024:
            return data
    return data


def bench_generation(size: int, images: int) -> None:
    """Images per second of generate() for each task."""
    print(f"dataset generation ({images} train images of {size}x{size}, png):")
    for task in TASKS:
        spec = DatasetSpec(task, train_images=images, valid_images=1, size=(size, size))
        start, cpu_start = time.perf_counter(), time.process_time()
        ds = generate(spec)
        took, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        count = images + 1
        # CPU time beside wall time: on a busy machine the wall time mostly measures the others.
        rate = count / took
        mib = ds.total_bytes() / 2**20
        print(
            f"  {task:<17} {took:6.3f} s ({cpu:5.3f} s CPU) for {count} images: {rate:6.1f} images/s, ",
            end="",
        )
        print(f"{len(ds.files)} files, {mib:.2f} MiB")


def bench_upload(size: int, images: int) -> None:
    """Objects and MiB per second of DatasetStore.upload into the mock."""
    ds = generate(
        DatasetSpec("segmentation", train_images=images * 4, valid_images=images, size=(size, size))
    )
    with MockS3Server() as server:
        store = DatasetStore(server.endpoint_url)
        store.ensure_bucket()
        start = time.perf_counter()
        store.upload(ds)
        took = time.perf_counter() - start
    print(
        f"upload to the mock ({len(ds.files)} objects, {ds.total_bytes() / 2**20:.2f} MiB, 16 parallel PUTs):"
    )
    mib = ds.total_bytes() / 2**20
    print(f"  {took:6.3f} s: {len(ds.files) / took:7.1f} objects/s, {mib / took:6.2f} MiB/s")


def bench_reads(reads: int, baseline_reads: int) -> None:
    """GETs per second of one ~12 KB image from a child process, plain moto against the kit's mock."""
    image = _twelve_kb_image()
    key = "devel/kit/dataset/segmentation/bench/train/images/00000.png"
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "00000.png"
        local.write_bytes(image)
        base_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": tmp,
            "BENCH_KEY": key,
            "BENCH_FILE": str(local),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        rows: list[tuple[str, float, int]] = []

        # Plain moto server mode, in its own process like the kit's mock.
        port = _free_port()
        plain = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from moto.server import ThreadedMotoServer; "
                f"s = ThreadedMotoServer(ip_address='127.0.0.1', port={port}, verbose=False); s.start(); "
                "print('up', flush=True); sys.stdin.read()",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its request log
            text=True,
        )
        try:
            assert plain.stdout is not None
            plain.stdout.readline()
            endpoint = f"http://127.0.0.1:{port}"
            store = DatasetStore(endpoint)
            store.ensure_bucket()
            store.put_object(key, image)
            env = base_env | {"BENCH_ENDPOINT": endpoint}
            rows.append(("plain moto server, boto3 get_object", *_child_rate("boto3", baseline_reads, env)))
        finally:
            assert plain.stdin is not None
            plain.stdin.close()
            plain.terminate()
            plain.wait()

        for cache in (False, True):
            with MockS3Server(cache=cache) as server:
                store = DatasetStore(server.endpoint_url)
                store.ensure_bucket()
                store.put_object(key, image)
                env = base_env | {"BENCH_ENDPOINT": server.endpoint_url}
                label = "on" if cache else "off"
                n = reads if cache else baseline_reads
                rows.append((f"kit mock (cache {label}), boto3 get_object", *_child_rate("boto3", n, env)))
                shim_env = env | aiutils_env(
                    server.endpoint_url, {"bench": key.rsplit("/train/", 1)[0] + "/"}, "bench"
                )
                shim_env["PYTHONPATH"] = shim_env["PYTHONPATH"].split(os.pathsep)[0]
                rows.append(
                    (
                        f"kit mock (cache {label}), aiUtils getImgXmlArray",
                        *_child_rate("aiutils", n, shim_env),
                    )
                )
                gets = sum(1 for r in server.requests() if r.op == "GET")
                assert gets >= 2 * n, "every read must reach the mock and be recorded"
        rows.append(("local disk, open().read()", *_child_rate("disk", reads, base_env)))

    print(f"reads of one {len(image) / 1024:.1f} KB image from a child process (bucket {BUCKET}):")
    baseline = rows[0][1]
    for label, rate, _size in rows:
        print(f"  {label:<48} {rate:9.0f} objects/s  ({rate / baseline:5.1f}x plain moto)")


def main() -> None:
    """Run every figure."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--baseline-reads", type=int, default=300)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--images", type=int, default=16)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at start")
    bench_generation(args.size, args.images)
    bench_upload(args.size, args.images)
    bench_reads(args.reads, args.baseline_reads)


if __name__ == "__main__":
    main()

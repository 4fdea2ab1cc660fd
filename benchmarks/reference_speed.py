"""Training speed of the three reference scripts, through their own training loop (``train.train_epoch``).

CPU (always): training images per second at 256x256, the FLOP rate that reaches, and the fraction of this
machine's measured convolution throughput (a plain stack of 3x3 convolutions, forward and backward) it is.
GPU (when one is visible): images per second in fp32 and with mixed precision at batch 16, 512x512, and
the share of the epoch the training loop spent waiting for batches from the data pipeline.

    python benchmarks/reference_speed.py                       # every task, CPU, plus GPU if present
    python benchmarks/reference_speed.py --task detection --json out.json

Each task runs in its own subprocess: the three folders reuse module names (config, data, model, train).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "reference_scripts"
TASKS = ("segmentation", "change_detection", "detection")
LABEL = json.dumps([
    {"class_name": "background", "class_value": 0, "class_title": "bg", "class_color": "0,0,0"},
    {"class_name": "a", "class_value": 100, "class_title": "a", "class_color": "255,0,0"},
    {"class_name": "b", "class_value": 255, "class_title": "b", "class_color": "0,255,0"},
])


def _params(task: str, size: int, batch: int) -> dict[str, Any]:
    return {
        "training_id": "speed", "dataset_id": "", "resume_path": "", "class_name": "background,a,b",
        "label": LABEL, "n_class": "2", "load_size": f"{size},{size}", "model_name": "speed",
        "learning_rate": 0.0005, "epochs": 1000, "batch_size": batch, "auto_termination": 0, "gpu_num": 0,
    }


def _split(task: str, data: Any, count: int, size: int, seed: int = 0) -> Any:
    """A split of random content, in memory, in the task's layout."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8, generator=gen)
    names = tuple(f"{i:05d}" for i in range(count))
    if task == "detection":
        boxes = torch.full((count, 4, 6), 0.0)
        boxes[..., 0] = torch.randint(0, 3, (count, 4), generator=gen).float()
        corner = torch.rand((count, 4, 2), generator=gen) * size * 0.7
        side = (torch.rand((count, 4, 1), generator=gen) * 0.25 + 0.05) * size
        boxes[..., 1:3], boxes[..., 3:5] = corner, corner + side
        return data.Split(names, images, boxes)
    labels = torch.randint(0, 3, (count, size, size), dtype=torch.uint8, generator=gen)
    if task == "change_detection":
        other = torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8, generator=gen)
        return data.Split(names, images, other, labels)
    return data.Split(names, images, labels)


def _epoch(task: str, train: Any, stepper: Any, split: Any, cfg: Any, anchors: Any, epoch: int,
           stats: Any) -> None:
    if task == "detection":
        train.train_epoch(stepper, split, cfg, anchors, epoch, 0, 1, stats)
    else:
        train.train_epoch(stepper, split, cfg, epoch, 0, 1, stats)


def _step_flops(task: str, net: Any, size: int, device: Any) -> float:
    """FLOPs of one training step (forward and backward) on one image, counted by torch's FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, 3, size, size, device=device)
    counter = FlopCounterMode(display=False)
    with counter:
        if task == "segmentation":
            net(x).sum().backward()
        elif task == "change_detection":
            net(x, torch.randn_like(x)).sum().backward()
        else:
            sum(o.sum() for o in net(x)).backward()
    net.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def conv_throughput(device_name: str, seconds: float = 3.0) -> float:
    """FLOP/s of a plain stack of 3x3 convolutions (64 channels, 64x64, batch 8), forward and backward."""
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    device = torch.device(device_name)
    stack = nn.Sequential(*[nn.Conv2d(64, 64, 3, padding=1, bias=False) for _ in range(4)]).to(device)
    x = torch.randn(8, 64, 64, 64, device=device, requires_grad=True)
    counter = FlopCounterMode(display=False)
    with counter:
        stack(x).sum().backward()
    flops = float(counter.get_total_flops())
    stack(x).sum().backward()  # warm-up (oneDNN/cuDNN pick their kernels)
    _sync(device)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        stack(x).sum().backward()
        runs += 1
    _sync(device)
    return flops * runs / (time.perf_counter() - started)


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker(task: str, device_name: str, size: int, batch: int, images: int, amp: bool) -> dict[str, Any]:
    """Time the task's own training epoch on random data; returns the figures as a dict."""
    sys.path.insert(0, str(SCRIPTS / task))
    import config  # type: ignore[import-not-found]
    import data  # type: ignore[import-not-found]
    import model  # type: ignore[import-not-found]
    import torch
    import train  # type: ignore[import-not-found]

    device = torch.device(device_name)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    cfg = config.from_params(_params(task, size, batch))
    split = _split(task, data, images, size)
    classes = cfg.num_classes
    if task == "detection":
        anchors = model.fit_anchors(data.box_sizes(split), cfg.load_size)
        net = model.build_model(classes, anchors)
    else:
        anchors = None
        net = model.build_model(classes)
    flops_per_image = None
    if device.type == "cpu":
        flops_per_image = _step_flops(task, net, size, device)
    net.to(device)
    if device.type == "cuda":
        net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    stepper = train.Stepper(net, optimizer, scheduler, device)
    if not amp:
        stepper.amp_dtype = None
        stepper.scaler = train.grad_scaler(False)
    anchors_on_device = net.anchors if task == "detection" else None
    _epoch(task, train, stepper, split, cfg, anchors_on_device, 0, data.LoaderStats())  # warm-up epoch
    _sync(device)
    stats = data.LoaderStats()
    started = time.perf_counter()
    _epoch(task, train, stepper, split, cfg, anchors_on_device, 1, stats)
    _sync(device)
    elapsed = time.perf_counter() - started
    result: dict[str, Any] = {
        "task": task, "device": device_name, "size": size, "batch": batch, "images": images,
        "precision": str(stepper.amp_dtype or "fp32").replace("torch.", ""),
        "images_per_s": images / elapsed, "epoch_s": elapsed, "data_wait_share": stats.wait_s / elapsed,
        "threads": torch.get_num_threads(),
    }
    if flops_per_image is not None:
        result["gflop_per_image"] = flops_per_image / 1e9
        result["gflop_per_s"] = flops_per_image * images / elapsed / 1e9
    return result


def _spawn(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=TASKS, action="append", help="task(s) to time (default: all)")
    parser.add_argument("--cpu-size", type=int, default=256)
    parser.add_argument("--cpu-batch", type=int, default=8)
    parser.add_argument("--cpu-images", type=int, default=16, help="images in the timed CPU epoch")
    parser.add_argument("--gpu-size", type=int, default=512)
    parser.add_argument("--gpu-batch", type=int, default=16)
    parser.add_argument("--gpu-images", type=int, default=320, help="images in the timed GPU epoch")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU figures")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--amp", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--conv", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.conv:
        print(json.dumps({"conv_flops_per_s": conv_throughput(args.device)}))
        return 0
    if args.worker:
        print(json.dumps(worker(args.worker, args.device, args.size, args.batch, args.images, args.amp)))
        return 0

    import torch

    tasks = args.task or list(TASKS)
    results: dict[str, Any] = {"cpu": [], "gpu": []}
    if not args.no_cpu:
        conv = _spawn(["--conv", "--device", "cpu"])["conv_flops_per_s"]
        results["cpu_conv_gflop_per_s"] = conv / 1e9
        print(f"CPU: {os.cpu_count()} logical CPU(s); plain 3x3 conv stack reaches {conv / 1e9:.1f} GFLOP/s "
              f"(forward+backward, torch's default threads)")
        print(f"{'task':<18}{'img/s':>8}{'GFLOP/img':>11}{'GFLOP/s':>9}{'of conv':>9}{'data wait':>11}")
        for task in tasks:
            r = _spawn(["--worker", task, "--device", "cpu", "--size", str(args.cpu_size),
                        "--batch", str(args.cpu_batch), "--images", str(args.cpu_images)])
            r["fraction_of_conv"] = r["gflop_per_s"] * 1e9 / conv
            results["cpu"].append(r)
            print(f"{task:<18}{r['images_per_s']:>8.2f}{r['gflop_per_image']:>11.1f}{r['gflop_per_s']:>9.1f}"
                  f"{r['fraction_of_conv']:>9.0%}{r['data_wait_share']:>11.1%}")
        print(f"(training at {args.cpu_size}x{args.cpu_size}, batch {args.cpu_batch}, "
              f"{args.cpu_images} images)")
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        conv = _spawn(["--conv", "--device", "cuda"])["conv_flops_per_s"]
        results["gpu_name"], results["gpu_conv_tflop_per_s"] = name, conv / 1e12
        print(f"\nGPU: {name}; plain 3x3 conv stack (fp32/TF32) reaches {conv / 1e12:.1f} TFLOP/s")
        print(f"{'task':<18}{'precision':>10}{'img/s':>9}{'data wait':>11}")
        for task in tasks:
            for amp in (False, True):
                extra = ["--amp"] if amp else []
                r = _spawn(["--worker", task, "--device", "cuda", "--size", str(args.gpu_size),
                            "--batch", str(args.gpu_batch), "--images", str(args.gpu_images), *extra])
                results["gpu"].append(r)
                print(f"{task:<18}{r['precision']:>10}{r['images_per_s']:>9.1f}{r['data_wait_share']:>11.1%}")
        print(f"(training at {args.gpu_size}x{args.gpu_size}, batch {args.gpu_batch}, {args.gpu_images} "
              f"images, channels-last; data wait = time the loop blocked on the batch pipeline / epoch time)")
    else:
        print("\nno GPU visible: GPU figures (fp32 vs mixed precision, data wait) skipped")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

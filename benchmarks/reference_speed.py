"""Training speed of the three reference scripts, through their own training loop (``train.train_epoch``).

CPU (always): training images per second at 256x256, the FLOP rate that reaches, and the fraction of this
machine's convolution throughput it is. Goal: every task at 50% or more. The anchor, the throughput of a
plain stack of 3x3 convolutions (64 channels, 64x64, batch 8, forward and backward, in whichever memory
layout is faster here), is measured in the same process as the task's training, interleaved with it: a
conv burst as long as one training epoch, then one epoch, and again, ``--pairs`` times. Each pair gives a
fraction (the epoch's FLOP rate over the burst's); the median of the pairs is printed, with their spread
and the machine's load, so a shared machine whose speed swings from minute to minute still gives one
figure.
GPU (when one is visible): images per second in fp32 and with mixed precision at batch 16, 512x512, and
the share of the epoch the training loop spent waiting for batches from the data pipeline.

    python benchmarks/reference_speed.py                       # every task, CPU, plus GPU if present
    python benchmarks/reference_speed.py --task detection --json out.json

Each task runs in its own subprocess: the three folders reuse module names (config, data, model, train).
The model and optimizer are set up as the script sets them up (``train.place_model`` and
``train.make_optimizer`` where the script has them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "reference_scripts"
TASKS = ("segmentation", "change_detection", "detection")
#: The CPU goal: a task's training reaches this fraction of the conv stack's FLOP rate.
GOAL_FRACTION = 0.5
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


class ConvStack:
    """A plain stack of 3x3 convolutions (64 channels, 64x64, batch 8): the machine's convolution rate."""

    def __init__(self, device_name: str, channels_last: bool = False) -> None:
        import torch
        from torch import nn
        from torch.utils.flop_counter import FlopCounterMode

        self.device = torch.device(device_name)
        self.channels_last = channels_last
        layout = torch.channels_last if channels_last else torch.contiguous_format
        self.stack = nn.Sequential(*[nn.Conv2d(64, 64, 3, padding=1, bias=False) for _ in range(4)])
        self.stack.to(self.device).to(memory_format=layout)  # type: ignore[call-overload]
        x = torch.randn(8, 64, 64, 64, device=self.device).contiguous(memory_format=layout)
        self.x = x.requires_grad_()
        counter = FlopCounterMode(display=False)
        with counter:
            self._run()
        self.flops = float(counter.get_total_flops())
        self._run()  # warm-up (oneDNN/cuDNN pick their kernels)
        _sync(self.device)

    def _run(self) -> None:
        self.stack(self.x).sum().backward()

    def rate(self, seconds: float) -> float:
        """FLOP/s over a burst of about ``seconds`` (forward and backward)."""
        _sync(self.device)
        runs, started = 0, time.perf_counter()
        while runs == 0 or time.perf_counter() - started < seconds:
            self._run()
            runs += 1
        _sync(self.device)
        return self.flops * runs / (time.perf_counter() - started)


def conv_throughput(device_name: str, seconds: float = 3.0) -> float:
    """FLOP/s of the conv stack (NCHW) over one burst of ``seconds``."""
    return ConvStack(device_name).rate(seconds)


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _setup(task: str, device_name: str, size: int, batch: int, images: int, amp: bool) -> Any:
    """The task's modules, model, stepper and a random split, set up as the script sets them up."""
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
        net = model.build_model(classes, model.fit_anchors(data.box_sizes(split), cfg.load_size))
    else:
        net = model.build_model(classes)
    flops_per_image = _step_flops(task, net, size, torch.device("cpu")) if device.type == "cpu" else None
    if hasattr(train, "place_model"):
        train.place_model(net, device)
    else:
        net.to(device)
        if device.type == "cuda":
            net.to(memory_format=torch.channels_last)
    if hasattr(train, "make_optimizer"):
        optimizer = train.make_optimizer(net, cfg.learning_rate)
    else:
        optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate,
                                      weight_decay=getattr(train, "WEIGHT_DECAY", 0.01))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    stepper = train.Stepper(net, optimizer, scheduler, device)
    if not amp:
        stepper.amp_dtype = None
        stepper.scaler = train.grad_scaler(False)
    anchors = net.anchors if task == "detection" else None

    def epoch(number: int, stats: Any = None) -> float:
        """Seconds of one training epoch over the split."""
        _sync(device)
        started = time.perf_counter()
        _epoch(task, train, stepper, split, cfg, anchors, number, stats or data.LoaderStats())
        _sync(device)
        return time.perf_counter() - started

    return torch, data, stepper, flops_per_image, epoch


def cpu_pairs(task: str, size: int, batch: int, images: int, pairs: int) -> dict[str, Any]:
    """Conv bursts and training epochs of the task, alternating, in this process; the figures as a dict."""
    torch, _, _, flops_per_image, epoch = _setup(task, "cpu", size, batch, images, False)
    load_before = os.getloadavg()
    nchw, nhwc = ConvStack("cpu", channels_last=False), ConvStack("cpu", channels_last=True)
    epoch(0)  # warm-up epoch
    # A burst of each layout, together as long as an epoch: the three see the same machine.
    burst = min(3.0, max(0.5, epoch(0) / 2))
    rows = []
    for number in range(1, pairs + 1):
        conv_nchw, conv_nhwc = nchw.rate(burst), nhwc.rate(burst)
        seconds = epoch(number)
        rate = flops_per_image * images / seconds
        rows.append({"conv_nchw_flops_per_s": conv_nchw, "conv_nhwc_flops_per_s": conv_nhwc,
                     "epoch_s": seconds, "flops_per_s": rate, "fraction": rate / max(conv_nchw, conv_nhwc),
                     "fraction_nchw": rate / conv_nchw})
    fractions = [r["fraction"] for r in rows]
    return {
        "task": task, "device": "cpu", "size": size, "batch": batch, "images": images,
        "threads": torch.get_num_threads(), "pairs": rows, "burst_s": burst,
        "gflop_per_image": flops_per_image / 1e9,
        "images_per_s": statistics.median(images / r["epoch_s"] for r in rows),
        "gflop_per_s": statistics.median(r["flops_per_s"] for r in rows) / 1e9,
        "conv_gflop_per_s": statistics.median(max(r["conv_nchw_flops_per_s"], r["conv_nhwc_flops_per_s"])
                                              for r in rows) / 1e9,
        "conv_nchw_gflop_per_s": statistics.median(r["conv_nchw_flops_per_s"] for r in rows) / 1e9,
        "conv_nhwc_gflop_per_s": statistics.median(r["conv_nhwc_flops_per_s"] for r in rows) / 1e9,
        "fraction_of_conv": statistics.median(fractions),
        "fraction_of_nchw_conv": statistics.median(r["fraction_nchw"] for r in rows),
        "fraction_min": min(fractions), "fraction_max": max(fractions),
        "load_before": load_before, "load_after": os.getloadavg(),
    }


def worker(task: str, device_name: str, size: int, batch: int, images: int, amp: bool) -> dict[str, Any]:
    """Time the task's own training epoch on random data (GPU figures); returns the figures as a dict."""
    torch, data, stepper, flops_per_image, epoch = _setup(task, device_name, size, batch, images, amp)
    epoch(0)  # warm-up epoch
    stats = data.LoaderStats()
    elapsed = epoch(1, stats)
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
    parser.add_argument("--cpu-images", type=int, default=8, help="images in a timed CPU epoch")
    parser.add_argument("--pairs", type=int, default=11, help="conv bursts and CPU epochs, alternating")
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
    parser.add_argument("--cpu-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.conv:
        print(json.dumps({"conv_flops_per_s": conv_throughput(args.device)}))
        return 0
    if args.worker:
        print(json.dumps(worker(args.worker, args.device, args.size, args.batch, args.images, args.amp)))
        return 0
    if args.cpu_worker:
        print(json.dumps(cpu_pairs(args.cpu_worker, args.size, args.batch, args.images, args.pairs)))
        return 0

    import torch

    tasks = args.task or list(TASKS)
    results: dict[str, Any] = {"cpu": [], "gpu": []}
    verdicts = []
    if not args.no_cpu:
        one, five, fifteen = os.getloadavg()
        print(f"CPU: {os.cpu_count()} logical CPU(s), load {one:.2f} {five:.2f} {fifteen:.2f}; each task in "
              f"its own process, {args.pairs} pairs of a conv burst and a training epoch")
        print(f"{'task':<18}{'img/s':>7}{'GFLOP/img':>10}{'GFLOP/s':>9}{'conv GFLOP/s':>13}{'of conv':>9}"
              f"{'pairs':>10}{'of NCHW':>9}{'load':>11}  goal >= {GOAL_FRACTION:.0%}")
        for task in tasks:
            r = _spawn(["--cpu-worker", task, "--size", str(args.cpu_size), "--batch", str(args.cpu_batch),
                        "--images", str(args.cpu_images), "--pairs", str(args.pairs)])
            results["cpu"].append(r)
            ok = r["fraction_of_conv"] >= GOAL_FRACTION
            verdicts.append(ok)
            spread = f"{r['fraction_min']:.0%}-{r['fraction_max']:.0%}"
            load = f"{r['load_before'][0]:.1f}->{r['load_after'][0]:.1f}"
            print(f"{task:<18}{r['images_per_s']:>7.2f}{r['gflop_per_image']:>10.1f}{r['gflop_per_s']:>9.1f}"
                  f"{r['conv_gflop_per_s']:>13.1f}{r['fraction_of_conv']:>9.0%}{spread:>10}"
                  f"{r['fraction_of_nchw_conv']:>9.0%}{load:>11}  {'MET' if ok else 'MISSED'}")
        print(f"(training at {args.cpu_size}x{args.cpu_size}, batch {args.cpu_batch}, {args.cpu_images} "
              "images an epoch. 'conv GFLOP/s': the conv stack in the faster of its NCHW and channels-last "
              "layouts in each pair; 'of conv': the median of the pairs' fractions of it (the goal's "
              "figure), 'pairs' their range; 'of NCHW': the same against the NCHW stack alone, the anchor of "
              "earlier figures; 'load': the 1-minute load before and after)")
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
    if verdicts:
        print(f"verdict: {'every task MET' if all(verdicts) else 'a task MISSED'} the CPU goal "
              f"(>= {GOAL_FRACTION:.0%} of the conv throughput)")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())

"""PIE-Engine training script: object detection with a YOLO-style detector (reference implementation).

The platform runs ``python train.py`` in this folder. The script reads traincfg.json (or stdin), reads the
dataset through aiUtils, trains on the CPU, one GPU or several (DistributedDataParallel, ranks started here),
and after every epoch writes the weights, the pictures and trainlog.json before printing ``[Process: k/N]``.
"""

from __future__ import annotations

import sys

# The platform uploads this folder's outputs; keep it free of __pycache__ from the sibling modules.
sys.dont_write_bytecode = True

import gc  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

# isort: split
import config  # noqa: E402
import data  # noqa: E402
import metrics  # noqa: E402
import model as model_lib  # noqa: E402
import outputs  # noqa: E402

#: Epochs without a better validation mAP@0.5 before ``auto_termination`` stops the run.
PATIENCE = 5
SEED = 20210603
WEIGHT_DECAY = 1e-4
DESCRIPTION = {"P": "精确度", "R": "召回率", "F1_score": "F1分数", "mAP": "mAP", "AP": "AP", "loss": "损失"}
#: Training-set metrics come from an eval pass over at most this many training images.
TRAIN_EVAL_IMAGES = 64


def say(message: str) -> None:
    """A progress note on stdout, flushed so it interleaves correctly with the progress lines."""
    print(message, flush=True)


@dataclass(frozen=True)
class Devices:
    """Where training runs: ``kind`` "cpu" or "cuda", and how many ranks."""

    kind: str
    world: int


def plan_devices(gpu_num: int) -> Devices:
    """``gpu_num`` 0: CPU only; N: GPUs 0..N-1 (one rank each), falling back to what is visible."""
    if gpu_num <= 0:
        return Devices("cpu", 1)
    if not torch.cuda.is_available():
        say(f"gpu_num is {gpu_num} but no GPU is visible: training on the CPU")
        return Devices("cpu", 1)
    count = torch.cuda.device_count()
    if count < gpu_num:
        say(f"gpu_num is {gpu_num} but {count} GPU(s) are visible: using {count}")
    return Devices("cuda", min(gpu_num, count))


def fetch_resume(client: Any, cfg: config.Config, basedir: str) -> dict[str, torch.Tensor] | None:
    """Download ``<resume_path><model_name>.th`` through aiUtils as a state dict (None: start fresh)."""
    if not cfg.resume_path:
        return None
    key = data.key_prefix(cfg.resume_path) + cfg.model_name + ".th"
    local = os.path.join(basedir, cfg.model_name + ".th")
    say(f"resume: downloading {key}")
    if not client.downS3Weight(local, key):  # local path first, as the platform's aiUtils defines it
        say(f"resume: {key} was not found; starting from random weights")
        return None
    try:
        state = torch.load(local, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file: train from scratch rather than fail the run
        say(f"resume: {local} is not a readable state dict ({exc}); starting from random weights")
        return None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        say(f"resume: expected a state dict in {local}, got {type(state).__name__}; starting from scratch")
        return None
    return {name: value for name, value in state.items() if isinstance(value, torch.Tensor)}


def free_port() -> int:
    """A free TCP port on loopback for the ranks' rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(cfg: config.Config, basedir: str, devices: Devices) -> None:
    """Read the data and the resume weights once, then train on ``devices``."""
    # Imported here so the other modules (and tools that import this one) work without the platform module.
    from aiUtils import aiUtils

    started = time.perf_counter()
    client = aiUtils.s3GetImg(datasetId=cfg.dataset_id)
    train_set, valid_set = data.load_dataset(client, cfg.load_size, name_to_index(cfg), say)
    width, height = cfg.load_size
    say(f"data: {len(train_set)} training and {len(valid_set)} validation images at {width}x{height}, "
        f"read in {time.perf_counter() - started:.1f}s")
    init_state = fetch_resume(client, cfg, basedir)
    launch(cfg, basedir, devices, train_set, valid_set, init_state)


def name_to_index(cfg: config.Config) -> dict[str, int]:
    """Object name in the XML -> class index; a class's title is accepted as a second spelling."""
    mapping = {label.title: i for i, label in enumerate(cfg.labels) if label.title}
    mapping.update({label.name: i for i, label in enumerate(cfg.labels)})
    return mapping


def launch(cfg: config.Config, basedir: str, devices: Devices, train_set: data.Split, valid_set: data.Split,
           init_state: dict[str, torch.Tensor] | None) -> None:
    """One rank in this process, or ``devices.world`` ranks spawned from here (sharing the data in memory)."""
    if devices.world == 1:
        worker(0, cfg, basedir, devices, train_set, valid_set, init_state, 0)
        return
    port = free_port()
    mp.spawn(worker, args=(cfg, basedir, devices, train_set, valid_set, init_state, port),
             nprocs=devices.world, join=True)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B,3,H,W] -> float in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def augment(images: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Random horizontal and vertical flips per image, boxes flipped with it, drawn on the device."""
    count = images.shape[0]
    height, width = images.shape[-2:]
    for dim, extent, (lo, hi) in ((-1, width, (1, 3)), (-2, height, (2, 4))):
        flip = torch.rand(count, device=images.device) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(dim), images)
        flipped = boxes.clone()
        flipped[..., lo] = extent - boxes[..., hi]
        flipped[..., hi] = extent - boxes[..., lo]
        boxes = torch.where(flip[:, None, None], flipped, boxes)
    return images, boxes


def warmup_cosine(total_steps: int, warmup: int) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up, then cosine decay to 5% of ``learning_rate``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


def grad_scaler(enabled: bool) -> Any:
    """A loss scaler for fp16 training (a no-op when disabled); torch < 2.3 keeps it under torch.cuda.amp."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def make_optimizer(net: nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel per step where this torch has it for the device, else multi-tensor.

    The per-parameter loop (torch's default on the CPU) runs some ten small operations for each of the
    model's 150 parameter tensors at every step; on a busy CPU their count, not their work, costs.
    """
    params = [p for p in net.parameters() if p.requires_grad]
    try:
        return torch.optim.AdamW(params, lr=learning_rate, weight_decay=WEIGHT_DECAY, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an older torch, or no fused kernel for this device
        pass
    try:
        return torch.optim.AdamW(params, lr=learning_rate, weight_decay=WEIGHT_DECAY, foreach=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, lr=learning_rate, weight_decay=WEIGHT_DECAY)


class Stepper:
    """One optimisation step: autocast on GPU (bf16, or fp16 with a grad scaler), no host sync.

    Activations are channels-last on every device: oneDNN's CPU convolutions and cuDNN's both work in that
    layout without reordering each tensor; the model is converted once (``place_model``).
    """

    def __init__(self, net: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, device: torch.device) -> None:
        self.net, self.optimizer, self.scheduler, self.device = net, optimizer, scheduler, device
        self.amp_dtype: torch.dtype | None = None
        if device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = grad_scaler(self.amp_dtype == torch.float16)
        self.channels_last = True

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Raw head outputs in float32 for a uint8 batch already on the device."""
        x = normalize(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            return [out.float() for out in self.net(x)]

    def step(self, images: torch.Tensor, boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        """Train on one batch; returns the detached loss."""
        images, boxes = augment(images, boxes)
        outputs = self.forward(images)
        loss = model_lib.detection_loss(outputs, boxes, anchors, outputs[0].shape[-1] - 5)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.detach()


def place_model(net: nn.Module, device: torch.device) -> nn.Module:
    """The model on ``device``, channels-last (before any DDP wrapper or optimizer sees its parameters)."""
    return net.to(device).to(memory_format=torch.channels_last)


def train_epoch(stepper: Stepper, split: data.Split, cfg: config.Config, anchors: torch.Tensor, epoch: int,
                rank: int, world: int, stats: data.LoaderStats | None = None) -> tuple[torch.Tensor, int]:
    """One pass over this rank's share of the training split: (loss sum, images)."""
    stepper.net.train()
    device = stepper.device
    anchors = anchors.to(device)
    batches = data.epoch_batches(len(split), cfg.batch_size, True, SEED + epoch, rank, world)
    loss_sum = torch.zeros((), device=device)
    count = 0
    for images, boxes in data.prefetch(batches, lambda i: (split.images[i], split.boxes[i]), device, stats):
        # Accumulated on the device: the host reads the loss once per epoch, not once per step.
        loss_sum += stepper.step(images, boxes, anchors) * images.shape[0]
        count += images.shape[0]
    return loss_sum, count


@torch.no_grad()
def evaluate(stepper: Stepper, net: model_lib.YoloDetector, split: data.Split, cfg: config.Config,
             limit: int | None = None) -> tuple[metrics.DetectionMetrics, float, int, torch.Tensor]:
    """Eval-mode pass: (matched detections, loss sum, images, detections of the first image)."""
    net.eval()
    device = stepper.device
    count = len(split) if limit is None else min(limit, len(split))
    batches = data.epoch_batches(count, cfg.batch_size, False, 0)
    result = metrics.DetectionMetrics(cfg.num_classes)
    loss_sum = torch.zeros((), device=device)
    first: torch.Tensor | None = None
    previous, stepper.net = stepper.net, net  # evaluate the bare model, never the DDP wrapper
    try:
        for images, boxes in data.prefetch(batches, lambda i: (split.images[i], split.boxes[i]), device):
            outputs = stepper.forward(images)
            loss = model_lib.detection_loss(outputs, boxes, net.anchors, cfg.num_classes)
            loss_sum += loss * images.shape[0]
            detections = model_lib.predict(outputs, net.anchors, cfg.load_size)
            truth = boxes.cpu().numpy()
            for i, found in enumerate(detections):
                result.add(found.cpu().numpy(), truth[i])
            if first is None:
                first = detections[0].cpu()
    finally:
        stepper.net = previous
    assert first is not None  # load_dataset guarantees a non-empty split
    return result, float(loss_sum.item()), count, first


def class_entries(name: str, overall: dict[str, float], result: metrics.DetectionMetrics,
                  cfg: config.Config) -> list[dict[str, Any]]:
    """trainlog entries: ``all`` first, then each class once."""
    entries = [outputs.entry(name, overall)]
    seen = set()
    for index, values in enumerate(result.per_class()):
        class_name = cfg.names[index]
        if class_name not in seen:
            seen.add(class_name)
            entries.append(outputs.entry(class_name, values))
    return entries


def write_pictures(out: outputs.OutputDir, split: data.Split, detections: torch.Tensor,
                   cfg: config.Config) -> None:
    """pred.png: the first validation image at load_size, its confident detections in the class colours."""
    image = outputs.image_picture(split.images[0])
    confident = detections[detections[:, 4] >= metrics.SCORE_THRESHOLD].numpy()
    picture = outputs.draw_boxes(image, confident, cfg.colors)
    outputs.save_png(picture, os.path.join(out.picture, "pred.png"))


def worker(rank: int, cfg: config.Config, basedir: str, devices: Devices, train_set: data.Split,
           valid_set: data.Split, init_state: dict[str, torch.Tensor] | None, port: int) -> None:
    """Train on one device; rank 0 alone validates, writes the outputs and prints progress."""
    world = devices.world
    distributed = world > 1
    if distributed:
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(port)
        dist.init_process_group("nccl" if devices.kind == "cuda" else "gloo", rank=rank, world_size=world)
    if devices.kind == "cuda":
        device = torch.device("cuda", rank)
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    else:
        device = torch.device("cpu")
        if world > 1:
            # Ranks on one CPU share its cores (torch's default respects OMP_NUM_THREADS and the CPU count);
            # each rank taking all of them would oversubscribe and slow every rank down.
            torch.set_num_threads(max(1, torch.get_num_threads() // world))
    torch.manual_seed(SEED)
    # Anchors fitted to the training boxes (every rank computes the same ones from the same data).
    anchors = model_lib.fit_anchors(data.box_sizes(train_set), cfg.load_size)

    net = model_lib.build_model(cfg.num_classes, anchors)
    if init_state is not None:
        loaded, total = model_lib.load_matching(net, init_state)
        if rank == 0:
            say(f"resume: loaded {loaded} of {total} tensors whose names and shapes match")
    if rank == 0:
        sizes = net.anchors.reshape(-1, 2).tolist()
        say("anchors (w x h px): " + ", ".join(f"{w:.0f}x{h:.0f}" for w, h in sizes))
    place_model(net, device)
    train_net: nn.Module = net
    if distributed:
        train_net = DistributedDataParallel(net, device_ids=[rank] if devices.kind == "cuda" else None)

    optimizer = make_optimizer(net, cfg.learning_rate)
    steps = len(data.epoch_batches(len(train_set), cfg.batch_size, True, 0, rank, world)) * cfg.epochs
    schedule = warmup_cosine(steps, min(50, max(1, steps // 10)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    stepper = Stepper(train_net, optimizer, scheduler, device)

    out = outputs.OutputDir(basedir) if rank == 0 else None
    log = outputs.TrainLog(os.path.join(basedir, "output", "trainlog.json"), cfg.training_id, DESCRIPTION)
    stopper = metrics.EarlyStopping(PATIENCE)
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        loss_sum, count = train_epoch(stepper, train_set, cfg, net.anchors, epoch, rank, world)
        images_seen = torch.full((), float(count), device=device, dtype=torch.float64)
        totals = torch.stack([loss_sum.double(), images_seen])
        if distributed:
            dist.all_reduce(totals)
        stop = torch.zeros(1, dtype=torch.int32, device=device)
        if out is not None:
            train_result, _, _, _ = evaluate(stepper, net, train_set, cfg, TRAIN_EVAL_IMAGES)
            train_loss = metrics.finite(totals[0].item() / max(1.0, totals[1].item()))
            train_all = {**train_result.summary(), "loss": train_loss}
            valid_result, valid_loss, valid_count, first_detections = evaluate(stepper, net, valid_set, cfg)
            valid_all = {**valid_result.summary(), "loss": metrics.finite(valid_loss / valid_count)}
            improved = stopper.update(valid_all["mAP"], epoch)
            last = epoch == cfg.epochs or (cfg.auto_termination and stopper.should_stop)

            outputs.save_weights(net.state_dict(), out.weights_path(cfg.model_name))
            write_pictures(out, valid_set, first_detections, cfg)
            log.add_epoch(epoch, class_entries("all", train_all, train_result, cfg),
                          class_entries("all", valid_all, valid_result, cfg))
            if improved:
                log.set_best({key: valid_all[key] for key in ("P", "R", "F1_score", "mAP")})
            if last:
                log.finish()
            log.write()
            say(f"epoch {epoch} of {cfg.epochs}: train loss {train_all['loss']:.4f} "
                f"mAP {train_all['mAP']:.4f}, "
                f"valid loss {valid_all['loss']:.4f} mAP@0.5 {valid_all['mAP']:.4f}, "
                f"{time.perf_counter() - started:.1f}s")
            outputs.progress(epoch, cfg.epochs)
            if last and epoch < cfg.epochs:
                say(f"auto_termination: no better validation mAP for {PATIENCE} epochs, stopping")
            stop.fill_(int(last))
        if distributed:
            dist.broadcast(stop, src=0)
        if int(stop.item()):
            break
    if distributed:
        dist.barrier()
        # The DDP wrapper holds the process group; released here, gloo's threads end inside
        # destroy_process_group instead of at interpreter exit, where they can abort the rank.
        del stepper, train_net
        gc.collect()
        dist.destroy_process_group()


def main() -> int:
    """Entry point: ``python train.py`` in the folder the platform prepared."""
    basedir = os.getcwd()
    try:
        cfg = config.load(basedir)
    except config.ConfigError as exc:
        print(f"train.py: {exc}", file=sys.stderr, flush=True)
        return 2
    for note in cfg.notes():
        say(f"note: {note}")
    devices = plan_devices(cfg.gpu_num)
    say(f"training {cfg.model_name} (YOLO-style detector) for {cfg.epochs} epochs on {devices.world} "
        f"{devices.kind} rank(s), "
        f"{cfg.num_classes} classes, load_size {cfg.load_size[0]}x{cfg.load_size[1]}")
    run(cfg, basedir, devices)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""PIE-Engine training script: change detection with FC-Siam-diff (reference implementation).

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
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

# isort: split
import config  # noqa: E402
import data  # noqa: E402
import metrics  # noqa: E402
import model as model_lib  # noqa: E402
import outputs  # noqa: E402

#: Epochs without a better validation F1 of the change class before ``auto_termination`` stops the run.
PATIENCE = 5
SEED = 20210603
WEIGHT_DECAY = 1e-4
DESCRIPTION = {"precision": "精确度", "recall": "召回率", "score": "F1分数", "IoU": "交并比", "loss": "损失"}


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
    train_set, valid_set = data.load_dataset(client, cfg.load_size, cfg.value_to_index(), say)
    width, height = cfg.load_size
    say(f"data: {len(train_set)} training and {len(valid_set)} validation images at {width}x{height}, "
        f"read in {time.perf_counter() - started:.1f}s")
    init_state = fetch_resume(client, cfg, basedir)
    launch(cfg, basedir, devices, train_set, valid_set, init_state)


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


def augment(image_a: torch.Tensor, image_b: torch.Tensor,
            labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The same random horizontal and vertical flips for A, B and the label, drawn on the device."""
    count = image_a.shape[0]
    for dim in (-1, -2):
        flip = torch.rand(count, device=image_a.device) < 0.5
        image_a = torch.where(flip[:, None, None, None], image_a.flip(dim), image_a)
        image_b = torch.where(flip[:, None, None, None], image_b.flip(dim), image_b)
        labels = torch.where(flip[:, None, None], labels.flip(dim), labels)
    return image_a, image_b, labels


def change_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy plus soft Dice; ignored pixels count in neither (an all-ignored batch gives no NaN)."""
    num_classes = logits.shape[1]
    valid = target != data.IGNORE_INDEX
    safe_target = torch.where(valid, target, torch.zeros_like(target))
    ce = F.cross_entropy(logits, safe_target, reduction="none")
    ce = (ce * valid).sum() / valid.sum().clamp(min=1)
    probs = logits.softmax(dim=1) * valid[:, None]
    onehot = F.one_hot(safe_target, num_classes).permute(0, 3, 1, 2).to(probs.dtype) * valid[:, None]
    intersection = (probs * onehot).sum(dim=(0, 2, 3))
    total = probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    dice = 1.0 - (2.0 * intersection + 1.0) / (total + 1.0)
    return ce + dice.mean()


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


class Stepper:
    """One optimisation step: autocast on GPU (bf16, or fp16 with a grad scaler), no host sync."""

    def __init__(self, net: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, device: torch.device) -> None:
        self.net, self.optimizer, self.scheduler, self.device = net, optimizer, scheduler, device
        self.amp_dtype: torch.dtype | None = None
        if device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = grad_scaler(self.amp_dtype == torch.float16)
        self.channels_last = device.type == "cuda"

    def forward(self, image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
        """Logits in float32 for a uint8 pair of batches already on the device."""
        a, b = normalize(image_a), normalize(image_b)
        if self.channels_last:
            a = a.contiguous(memory_format=torch.channels_last)
            b = b.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            return self.net(a, b).float()

    def step(self, image_a: torch.Tensor, image_b: torch.Tensor,
             labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Train on one batch; returns the detached loss and logits, and the labels as augmented."""
        image_a, image_b, labels = augment(image_a, image_b, labels.long())
        logits = self.forward(image_a, image_b)
        loss = change_loss(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.detach(), logits.detach(), labels


def train_epoch(stepper: Stepper, split: data.Split, cfg: config.Config, epoch: int, rank: int, world: int,
                stats: data.LoaderStats | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One pass over this rank's share of the training split: (confusion matrix, loss sum, images)."""
    stepper.net.train()
    device = stepper.device
    batches = data.epoch_batches(len(split), cfg.batch_size, True, SEED + epoch, rank, world)
    cm = torch.zeros((cfg.num_classes, cfg.num_classes), dtype=torch.long, device=device)
    loss_sum = torch.zeros((), device=device)
    count = 0
    gather = lambda i: (split.images_a[i], split.images_b[i], split.labels[i])  # noqa: E731
    for image_a, image_b, labels in data.prefetch(batches, gather, device, stats):
        loss, logits, flipped = stepper.step(image_a, image_b, labels)
        # Accumulated on the device: the host reads these once per epoch, not once per step.
        loss_sum += loss * image_a.shape[0]
        cm += metrics.confusion_matrix(logits.argmax(dim=1), flipped, cfg.num_classes, data.IGNORE_INDEX)
        count += image_a.shape[0]
    return cm, loss_sum, count


@torch.no_grad()
def evaluate(stepper: Stepper, net: nn.Module, split: data.Split,
             cfg: config.Config) -> tuple[torch.Tensor, float, int, torch.Tensor]:
    """Validation pass (eval mode): (confusion matrix, loss sum, images, prediction of the first image)."""
    net.eval()
    device = stepper.device
    batches = data.epoch_batches(len(split), cfg.batch_size, False, 0)
    cm = torch.zeros((cfg.num_classes, cfg.num_classes), dtype=torch.long, device=device)
    loss_sum = torch.zeros((), device=device)
    first: torch.Tensor | None = None
    previous, stepper.net = stepper.net, net  # evaluate the bare model, never the DDP wrapper
    try:
        gather = lambda i: (split.images_a[i], split.images_b[i], split.labels[i])  # noqa: E731
        for image_a, image_b, labels in data.prefetch(batches, gather, device):
            labels = labels.long()
            logits = stepper.forward(image_a, image_b)
            pred = logits.argmax(dim=1)
            loss_sum += change_loss(logits, labels) * image_a.shape[0]
            cm += metrics.confusion_matrix(pred, labels, cfg.num_classes, data.IGNORE_INDEX)
            if first is None:
                first = pred[0]
    finally:
        stepper.net = previous
    assert first is not None  # load_dataset guarantees a non-empty split
    return cm, float(loss_sum.item()), len(split), first


def change_f1(scores: metrics.ClassScores) -> float:
    """F1 of the change class(es): every class but the first (background), averaged."""
    values = scores.score[1:] or scores.score
    return float(sum(values) / len(values))


def class_entries(name: str, overall: dict[str, float], per_class: metrics.ClassScores,
                  cfg: config.Config) -> list[dict[str, Any]]:
    """trainlog entries: ``all`` first, then each class once."""
    entries = [outputs.entry(name, overall)]
    seen = set()
    for index, class_name in enumerate(cfg.names):
        if class_name not in seen:
            seen.add(class_name)
            entries.append(outputs.entry(class_name, per_class.of_class(index)))
    return entries


def write_pictures(out: outputs.OutputDir, split: data.Split, pred: torch.Tensor, cfg: config.Config) -> None:
    """A.png, B.png, label.png, pred.png of the first validation pair at load_size, exact class colours."""
    label = outputs.colorize(split.labels[0].numpy(), cfg.colors)
    predicted = outputs.colorize(pred.to("cpu", torch.uint8).numpy(), cfg.colors)
    outputs.save_png(outputs.image_picture(split.images_a[0]), os.path.join(out.picture, "A.png"))
    outputs.save_png(outputs.image_picture(split.images_b[0]), os.path.join(out.picture, "B.png"))
    outputs.save_png(label, os.path.join(out.picture, "label.png"))
    outputs.save_png(predicted, os.path.join(out.picture, "pred.png"))


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

    net = model_lib.build_model(cfg.num_classes)
    if init_state is not None:
        loaded, total = model_lib.load_matching(net, init_state)
        if rank == 0:
            say(f"resume: loaded {loaded} of {total} tensors whose names and shapes match")
    net.to(device)
    if devices.kind == "cuda":
        net.to(memory_format=torch.channels_last)
    train_net: nn.Module = net
    if distributed:
        train_net = DistributedDataParallel(net, device_ids=[rank] if devices.kind == "cuda" else None)

    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=WEIGHT_DECAY)
    steps = len(data.epoch_batches(len(train_set), cfg.batch_size, True, 0, rank, world)) * cfg.epochs
    schedule = warmup_cosine(steps, min(50, max(1, steps // 10)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    stepper = Stepper(train_net, optimizer, scheduler, device)

    out = outputs.OutputDir(basedir) if rank == 0 else None
    log = outputs.TrainLog(os.path.join(basedir, "output", "trainlog.json"), cfg.training_id, DESCRIPTION)
    stopper = metrics.EarlyStopping(PATIENCE)
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        cm, loss_sum, count = train_epoch(stepper, train_set, cfg, epoch, rank, world)
        images_seen = torch.full((), float(count), device=device, dtype=torch.float64)
        totals = torch.stack([loss_sum.double(), images_seen])
        if distributed:
            dist.all_reduce(cm)
            dist.all_reduce(totals)
        stop = torch.zeros(1, dtype=torch.int32, device=device)
        if out is not None:
            train_scores = metrics.scores(cm)
            train_loss = metrics.finite(totals[0].item() / max(1.0, totals[1].item()))
            train_all = {**train_scores.overall(), "loss": train_loss}
            valid_cm, valid_loss, valid_count, first_pred = evaluate(stepper, net, valid_set, cfg)
            valid_scores = metrics.scores(valid_cm)
            valid_all = {**valid_scores.overall(), "loss": metrics.finite(valid_loss / valid_count)}
            improved = stopper.update(change_f1(valid_scores), epoch)
            last = epoch == cfg.epochs or (cfg.auto_termination and stopper.should_stop)

            outputs.save_weights(net.state_dict(), out.weights_path(cfg.model_name))
            write_pictures(out, valid_set, first_pred, cfg)
            log.add_epoch(epoch, class_entries("all", train_all, train_scores, cfg),
                          class_entries("all", valid_all, valid_scores, cfg))
            if improved:
                log.set_best({key: valid_all[key] for key in ("precision", "recall", "score", "IoU")})
            if last:
                log.finish()
            log.write()
            say(f"epoch {epoch} of {cfg.epochs}: train loss {train_all['loss']:.4f} "
                f"change F1 {change_f1(train_scores):.4f}, "
                f"valid loss {valid_all['loss']:.4f} change F1 {change_f1(valid_scores):.4f}, "
                f"{time.perf_counter() - started:.1f}s")
            outputs.progress(epoch, cfg.epochs)
            if last and epoch < cfg.epochs:
                say(f"auto_termination: no better validation change F1 for {PATIENCE} epochs, stopping")
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
    say(f"training {cfg.model_name} (FC-Siam-diff) for {cfg.epochs} epochs on {devices.world} {devices.kind} "
        f"rank(s), "
        f"{cfg.num_classes} classes, load_size {cfg.load_size[0]}x{cfg.load_size[1]}")
    run(cfg, basedir, devices)
    return 0


if __name__ == "__main__":
    sys.exit(main())

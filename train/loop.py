"""The training loop both phases of `train.distill` share: process setup (single process or torchrun),
seeding, data loaders, one step of each phase as a module, and epochs of Adam steps with validation,
early stopping and resume (SPEC §4; paper §3.2, §3.9-3.11).
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, WeightedRandomSampler

from aumdf.distill import Distiller, teacher_objective
from aumdf.model import AUMDF
from aumdf.rprm import drop_frames
from aumdf.types import Batch
from aumdf.progress import progress
from train.config import TrainConfig
from train.data import MultimodalDataset, collate, source_weights
from train.engine import amp_dtype, autocast, resolve_device, selection_name, selection_value

# ------------------------------------------------------------------ processes and seeds


@dataclass
class Context:
    device: torch.device
    rank: int = 0
    world: int = 1
    ddp: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(cfg: TrainConfig) -> Context:
    """Single process, or one process per GPU under torchrun (RANK/WORLD_SIZE/LOCAL_RANK set)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        # cuBLAS needs this before the first CUDA call to be deterministic
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
        device = resolve_device(cfg.device)
        if device.type == "cuda":
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        return Context(device, rank, world, ddp=world > 1)
    return Context(resolve_device(cfg.device))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def broadcast(value: float, ctx: Context) -> float:
    """Rank 0's value on every rank (early-stopping decisions must agree or DDP hangs)."""
    if not ctx.ddp:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.broadcast(t, src=0)
    return float(t.item())


# ------------------------------------------------------------------ one training step as a module


class TeacherStep(nn.Module):
    """forward(batch) -> (loss, parts); a module so that DDP wraps the teacher's whole objective."""

    def __init__(self, model: AUMDF, lambda_reg: float):
        super().__init__()
        self.model, self.lambda_reg = model, lambda_reg

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, parts, _ = teacher_objective(self.model, batch, self.lambda_reg)
        return loss, parts


class StudentStep(nn.Module):
    """forward(full, dropped) -> (loss, parts). Holds the Distiller (student + CSD/SRD parameters); the
    frozen teacher inside it is not an nn.Module, so it stays outside DDP. CSD/SRD use only the samples
    whose `full.teacher_view` is set (the dataset's column; every sample when it is None)."""

    def __init__(self, distiller: Distiller):
        super().__init__()
        self.distiller = distiller

    def forward(self, full: Batch, dropped: Batch):
        out = self.distiller(full, dropped, full.teacher_view)
        return out.loss, out.parts


# ------------------------------------------------------------------ data


def make_loader(ds: MultimodalDataset, cfg: TrainConfig, ctx: Context, train: bool, epoch: int = 0) -> DataLoader:
    if not train:
        return DataLoader(ds, batch_size=cfg.batch_size, shuffle=False, collate_fn=collate, num_workers=cfg.num_workers)
    # The last incomplete training batch is dropped (MOSI: 1281 = 40 * 32 + 1): CSD contrasts samples
    # within a batch and is void on a single one, which under DDP would also leave CSD's parameters
    # without a gradient. Tiny datasets (fewer samples than a batch) keep their one batch.
    drop_last = len(ds) // ctx.world >= cfg.batch_size
    if ctx.ddp:
        sampler = DistributedSampler(ds, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=cfg.seed)
        sampler.set_epoch(epoch)
        return DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate,
                          num_workers=cfg.num_workers, drop_last=drop_last)
    # the shuffle depends only on (seed, epoch): a resumed run sees the same order as an uninterrupted one
    g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    if cfg.samples_per_epoch > 0:
        # a large corpus on a small machine: a fixed budget of draws per epoch, so that validation and early
        # stopping happen often; the weights balance the sources of the data (--source-balance)
        weights = source_weights(ds, cfg.source_balance)
        w = torch.as_tensor(weights if weights is not None else np.ones(len(ds)), dtype=torch.double)
        sampler = WeightedRandomSampler(w, num_samples=cfg.samples_per_epoch, replacement=True, generator=g)
        return DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate,
                          num_workers=cfg.num_workers, drop_last=cfg.samples_per_epoch >= cfg.batch_size)
    return DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, generator=g, collate_fn=collate,
                      num_workers=cfg.num_workers, drop_last=drop_last)


def fixed_drop(rates: Sequence[float], seed: int) -> Callable[[], Callable[[Batch, int], Batch]]:
    """Factory of the student's validation transform: batch i gets p = rates[i mod len], same draw every pass."""

    def make() -> Callable[[Batch, int], Batch]:
        g = torch.Generator().manual_seed(seed)
        return lambda batch, i: drop_frames(batch, rates[i % len(rates)], g)

    return make


# ------------------------------------------------------------------ the loop


@dataclass
class PhaseResult:
    best_epoch: int
    best_valid: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False


@dataclass
class _Progress:
    """Where a phase stands; saved in last.pt after every epoch."""

    epoch: int = 0
    best: float = math.inf
    best_epoch: int = 0
    bad: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_valid: dict[str, float] = field(default_factory=dict)


@dataclass
class Phase:
    """One phase of a run. trainable: what the optimizer updates and last.pt stores; step: the (maybe
    DDP-wrapped) module whose forward returns (loss, parts); make_inputs(batch, draw_p, generator) -> the
    step's arguments; validate() -> metrics; on_best(epoch, metrics) keeps the best weights."""

    name: str
    trainable: nn.Module
    step: nn.Module
    make_inputs: Callable[[Batch, Callable[[], float], torch.Generator], tuple]
    validate: Callable[[], dict[str, float]]
    on_best: Callable[[int, dict[str, float]], None]
    train_set: MultimodalDataset
    epochs: int


def run_phase(phase: Phase, task: str, cfg: TrainConfig, ctx: Context, out: Path) -> PhaseResult:
    """Epochs of Adam steps, validation after each, early stopping on the validation metric, resume."""
    opt = torch.optim.Adam([p for p in phase.trainable.parameters() if p.requires_grad], lr=cfg.lr,
                           weight_decay=cfg.weight_decay)
    use_scaler = cfg.amp and ctx.device.type == "cuda" and amp_dtype(ctx.device) == torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    last = out / "last.pt"
    state = _resume(last, phase, opt, scaler, cfg, ctx) if cfg.resume and last.exists() else _Progress()
    if state.bad >= cfg.patience or (state.epoch and state.epoch >= phase.epochs):
        return PhaseResult(state.best_epoch, state.best_valid, state.history, stopped_early=state.bad >= cfg.patience)
    for epoch in range(state.epoch + 1, phase.epochs + 1):
        train_parts = _train_epoch(phase, opt, scaler, epoch, cfg, ctx)
        valid = phase.validate()
        value = broadcast(selection_value(task, valid) if ctx.main else 0.0, ctx)
        improved = value < state.best
        if improved:
            state.best, state.best_epoch, state.bad, state.best_valid = value, epoch, 0, valid
            phase.on_best(epoch, valid)  # every rank keeps the best weights; only rank 0 writes them
        else:
            state.bad += 1
        state.epoch = epoch
        state.history.append({"epoch": epoch, "train": train_parts, "valid": valid, "best": improved})
        if ctx.main:
            sel = selection_name(task)
            print(f"[{phase.name}] epoch {epoch}: train {fmt(train_parts)} | valid {sel} "
                  f"{valid[sel]:.4f}{'  *best*' if improved else ''}", flush=True)
            _save(last, phase, opt, scaler, state)
        if state.bad >= cfg.patience:
            if ctx.main:
                print(f"[{phase.name}] early stop: no validation improvement for {state.bad} epochs")
            return PhaseResult(state.best_epoch, state.best_valid, state.history, stopped_early=True)
    return PhaseResult(state.best_epoch, state.best_valid, state.history)


def _train_epoch(phase: Phase, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, epoch: int,
                 cfg: TrainConfig, ctx: Context) -> dict[str, float]:
    """One pass of optimisation steps -> the sample-weighted mean of each loss part."""
    phase.trainable.train()
    loader = make_loader(phase.train_set, cfg, ctx, train=True, epoch=epoch)
    pick = random.Random(cfg.seed * 1000 + epoch + 7919 * ctx.rank)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch + 7919 * ctx.rank)
    sums: dict[str, float] = {}
    n = 0
    bar = progress(loader, f"{phase.name} {epoch}/{phase.epochs}", unit="batch", enabled=cfg.progress and ctx.main)
    for batch in bar:
        batch = batch.to(ctx.device)
        inputs = phase.make_inputs(batch, lambda: pick.choice(cfg.drop_rates), gen)
        with autocast(ctx.device, cfg.amp):
            loss, parts = phase.step(*inputs)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"[{phase.name}] epoch {epoch}: loss is {loss.item()} ({fmt(parts)}); "
                                     "lower --lr or set --grad-clip")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip > 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(phase.trainable.parameters(), cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        b = batch.size
        n += b
        for k, v in {"loss": loss, **parts}.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach()) * b
        if hasattr(bar, "set_postfix"):
            bar.set_postfix({k: f"{v / n:.3f}" for k, v in sums.items()})
    return {k: v / max(n, 1) for k, v in sums.items()}


def _save(last: Path, phase: Phase, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, s: _Progress) -> None:
    torch.save({
        "phase": phase.name, "epoch": s.epoch, "trainable": phase.trainable.state_dict(), "optimizer": opt.state_dict(),
        "scaler": scaler.state_dict(), "best": s.best, "best_epoch": s.best_epoch, "bad": s.bad,
        "history": s.history, "best_valid": s.best_valid,
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
    }, last)


def _resume(last: Path, phase: Phase, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, cfg: TrainConfig,
            ctx: Context) -> _Progress:
    """The progress saved in last.pt when it belongs to this phase (weights, optimizer and RNG restored)."""
    state = torch.load(last, map_location="cpu", weights_only=False)
    if state["phase"] != phase.name:
        return _Progress()
    phase.trainable.load_state_dict(state["trainable"])
    opt.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["torch"])
    if torch.cuda.is_available() and state["rng"].get("cuda") is not None:
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    if ctx.main:
        print(f"[{phase.name}] resumed from {last} after epoch {state['epoch']}")
    return _Progress(state["epoch"], state["best"], state["best_epoch"], state["bad"], state["history"],
                     state["best_valid"])


def saved_phase(out: Path) -> str | None:
    """The phase last.pt in `out` was written by, or None when there is none."""
    last = out / "last.pt"
    return torch.load(last, map_location="cpu", weights_only=False)["phase"] if last.exists() else None


def fmt(parts: dict[str, Any]) -> str:
    return " ".join(f"{k} {float(v):.4f}" for k, v in parts.items())

"""Train AUMDF: teacher on complete data, then the student by distillation under random frame drop.

    python -m train.distill --dataset mosi                      # Table 2 defaults, data/mosi/
    python -m train.distill --dataset iemocap --epochs 5 --device cpu
    python -m train.distill --config runs/mosi/x/train_config.json --seed 1112
    python -m train.distill --dataset mosi --seeds 1111 1112 1113   # one run per seed: OUT/seed_<s>/
    torchrun --nproc_per_node 4 -m train.distill --dataset mosei   # DistributedDataParallel

Phases (SPEC §4; paper §3.2, §3.9-3.11):
  1. teacher: L = L_task + λ1·L_reg on complete data; best epoch by validation, then frozen.
  2. student: L = λ1·L_reg + λ2·L_CSD + λ3·L_SRD + L_task (eq. 42) via aumdf.distill.Distiller. Per
     batch a drop rate p is drawn from `drop_rates` (default {0, 0.1, …, 0.7}) and RPRM drops each
     frame of each modality with probability p; the teacher sees the complete batch.
Model selection / early stopping use the validation split only: MAE (regression) or weighted F1
(classification). The student is validated on a *fixed* frame drop: validation batch i uses
p = drop_rates[i mod len] with a generator seeded by `seed` at the start of every pass, so the
score is comparable across epochs and covers the training range of p.

Output (OUT, default runs/<dataset>/<name or timestamp>/):
  train_config.json   the full set of hyper-parameters used (re-usable with --config)
  teacher/ student/   aumdf.checkpoint folders (weights, model config, feature spec, metadata)
  metrics.json        per-epoch history of every loss part, best validation metrics, the
                      complete-modality valid/test metrics of the best student, and a data-only baseline
  last.pt             resume state (phase, epoch, weights, optimizer, RNG); `--resume` continues from it

Every field of TrainConfig is a command-line flag (underscores become dashes; booleans get a --no- form).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler, WeightedRandomSampler

from aumdf.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from aumdf.config import AUMDFConfig
from aumdf.distill import Distiller, teacher_objective
from aumdf.model import AUMDF
from aumdf.rprm import TRAIN_DROP_RATES, drop_frames
from aumdf.types import Batch
from train.data import LAYOUTS, DatasetSplits, collate, load_dataset
from train.engine import (
    amp_dtype,
    autocast,
    baseline_metrics,
    predict,
    resolve_device,
    score,
    selection_name,
    selection_value,
)


@dataclass
class TrainConfig:
    # data
    dataset: str = "mosi"  # mosi | mosei | iemocap | demo (the demo corpus, docs/demo_corpus.md)
    data_dir: str = ""  # default data/<dataset>/
    layout: str = "auto"  # one of train.data.LAYOUTS
    max_lens: tuple[int, int, int] = (25, 150, 100)  # Table 2 (text, audio, vision); unaligned layouts only
    # model (Table 2: hidden 300, dropout 0.8 on the fused representation)
    d_model: int = 300
    n_heads: int = 4
    n_layers: int = 1
    dropout: float = 0.1
    head_dropout: float = 0.8
    use_dwam: bool = True  # ablation (Table 6): --no-use-dwam
    use_rem: bool = True
    # objective (eq. 42, Table 2: λ1 = λ2 = λ3 = 0.1); --no-use-* switch a term off (Tables 6-7)
    lambda_reg: float = 0.1
    lambda_csd: float = 0.1
    lambda_srd: float = 0.1
    use_reg: bool = True
    use_csd: bool = True
    use_srd: bool = True
    drop_rates: tuple[float, ...] = TRAIN_DROP_RATES
    # optimisation (Table 2: Adam, lr 1e-3, 20 epochs, early stopping patience 20)
    epochs: int = 20
    teacher_epochs: int = 0  # 0: same as epochs
    batch_size: int = 32
    samples_per_epoch: int = 0  # >0: each epoch draws this many training samples (source-balanced on demo)
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    patience: int = 20
    # run
    seed: int = 1111
    seeds: tuple[int, ...] = ()  # several seeds: one run each under OUT/seed_<s>/
    out: str = ""  # default runs/<dataset>/<name>
    name: str = ""  # default a timestamp
    teacher: str = ""  # an existing teacher checkpoint folder: skip the teacher phase
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision, CUDA only
    deterministic: bool = True
    num_workers: int = 0
    threads: int = 0  # torch.set_num_threads; 0 keeps the default
    resume: bool = False  # continue from OUT/last.pt
    progress: bool = True

    def __post_init__(self) -> None:
        self.max_lens = tuple(int(x) for x in self.max_lens)
        self.drop_rates = tuple(float(x) for x in self.drop_rates)
        self.seeds = tuple(int(x) for x in self.seeds)
        if len(self.max_lens) != 3:
            raise ValueError(f"max_lens needs three values (text audio vision), got {self.max_lens}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if not self.drop_rates or any(not 0.0 <= p <= 1.0 for p in self.drop_rates):
            raise ValueError(f"drop_rates must be values in [0, 1], got {self.drop_rates}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("epochs, batch_size and patience must be positive")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; known: {sorted(known)}")
        return cls(**d)


# ------------------------------------------------------------------ CLI from the dataclass

HELP = {
    "dataset": "mosi | mosei | iemocap | demo (the app's demo corpus, docs/demo_corpus.md)",
    "data_dir": "folder with the dataset files (default data/<dataset>/), or one pickle file",
    "layout": f"one of {', '.join(LAYOUTS)}; auto takes the first present (docs/training.md)",
    "max_lens": "max frames text audio vision (Table 2), applied to unaligned layouts; 0 keeps all",
    "d_model": "shared width d (Table 2: hidden 300)",
    "dropout": "dropout inside the REM/MMT blocks",
    "head_dropout": "dropout on the fused representation (Table 2: 0.8)",
    "use_dwam": "DWAM on (ablation: --no-use-dwam)",
    "use_rem": "REM on (ablation: --no-use-rem)",
    "lambda_reg": "λ1 of eq. 42", "lambda_csd": "λ2 of eq. 42", "lambda_srd": "λ3 of eq. 42",
    "use_reg": "L_reg term on (ablation)", "use_csd": "L_CSD term on (ablation)", "use_srd": "L_SRD term on (ablation)",
    "drop_rates": "RPRM frame drop rates p, one drawn per student batch",
    "epochs": "epochs per phase (Table 2: 20)",
    "teacher_epochs": "teacher epochs; 0 = --epochs",
    "grad_clip": "max gradient norm; 0 = off",
    "n_heads": "attention heads (d_model must be divisible by it)", "n_layers": "MMT layers",
    "batch_size": "samples per batch (per process under torchrun; not given in the paper)",
    "samples_per_epoch": "draw this many training samples per epoch, with replacement (0: one pass over the "
                         "data); on the demo corpus every source is drawn equally often; ignored under torchrun",
    "lr": "Adam learning rate (Table 2: 0.001)", "weight_decay": "Adam weight decay",
    "seed": "seed of initialisation, shuffles and frame drops", "num_workers": "DataLoader worker processes",
    "patience": "early stopping: epochs without validation improvement (Table 2: 20)",
    "seeds": "several seeds: one run each under OUT/seed_<s>/",
    "out": "output folder (default runs/<dataset>/<name>)",
    "name": "run name (default a timestamp)",
    "teacher": "an existing teacher checkpoint folder: skip the teacher phase",
    "device": "auto | cpu | cuda | cuda:N",
    "amp": "mixed precision (CUDA only)",
    "deterministic": "deterministic algorithms (torch.use_deterministic_algorithms, warn only)",
    "threads": "torch.set_num_threads; 0 keeps the default",
    "resume": "continue from OUT/last.pt",
    "progress": "tqdm progress bars with each loss part",
}


def build_parser(defaults: TrainConfig | None = None) -> argparse.ArgumentParser:
    defaults = defaults or TrainConfig()
    ap = argparse.ArgumentParser(prog="python -m train.distill", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--config", type=Path, help="JSON file of TrainConfig fields (e.g. a run's train_config.json); "
                                                 "flags given on the command line override it")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        h = HELP.get(f.name, f.name.replace("_", " "))
        if kind.startswith("bool"):
            ap.add_argument(flag, action=argparse.BooleanOptionalAction, default=value, help=h)
        elif kind.startswith("tuple"):
            elem = float if "float" in kind else int
            ap.add_argument(flag, type=elem, nargs="*" if f.name == "seeds" else "+", default=value, help=h)
        else:
            ap.add_argument(flag, type={"int": int, "float": float}.get(kind, str), default=value, help=h)
    return ap


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", type=Path)
    known, _ = pre.parse_known_args(argv)
    base = TrainConfig()
    if known.config:
        try:
            base = TrainConfig.from_dict(json.loads(known.config.read_text()))
        except (OSError, json.JSONDecodeError, ValueError, TypeError) as e:
            raise SystemExit(f"--config {known.config}: {e}")
    ns = vars(build_parser(base).parse_args(argv))
    ns.pop("config")
    try:
        return TrainConfig(**ns)
    except ValueError as e:
        raise SystemExit(f"invalid arguments: {e}")


# ------------------------------------------------------------------ distributed / determinism


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


def _broadcast(value: float, ctx: Context) -> float:
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
    """forward(full, dropped, has_teacher_view=None) -> (loss, parts). Holds the Distiller (student +
    CSD/SRD parameters); the frozen teacher inside it is not an nn.Module, so it stays outside DDP."""

    def __init__(self, distiller: Distiller):
        super().__init__()
        self.distiller = distiller

    def forward(self, full: Batch, dropped: Batch, has_teacher_view: torch.Tensor | None = None):
        out = self.distiller(full, dropped, has_teacher_view)
        return out.loss, out.parts


# ------------------------------------------------------------------ the run


@dataclass
class TrainData:
    """What one run reads. A public dataset gives the same train/valid sets to both phases; the demo
    corpus (docs/demo_corpus.md) trains the teacher on its complete composites only and the student on
    every source, with the distillation terms limited to samples that have a teacher view."""

    name: str
    task: str
    class_names: tuple[str, ...]
    layout: str
    source: Path
    feature_spec: Any  # features.spec.FeatureSpec
    stats: dict[str, Any]
    teacher_train: Dataset
    student_train: Dataset
    teacher_valid: Dataset
    student_valid: Dataset
    test: Dataset
    teacher_view: Callable[[Sequence[str]], np.ndarray] | None = None  # batch ids -> [b] bool
    # per-sample draw weights for --samples-per-epoch (None: uniform), in dataset order
    teacher_weights: np.ndarray | None = None
    student_weights: np.ndarray | None = None

    @classmethod
    def from_splits(cls, s: DatasetSplits) -> "TrainData":
        return cls(s.name, s.task, s.class_names, s.layout, s.source, s.feature_spec, s.stats,
                   s.train, s.train, s.valid, s.valid, s.test)


def labels_of(ds: Dataset) -> np.ndarray:
    if isinstance(ds, ConcatDataset):
        return np.concatenate([labels_of(d) for d in ds.datasets])
    return np.asarray(ds.labels)


def model_config(cfg: TrainConfig, data: TrainData) -> AUMDFConfig:
    classification = data.task == "classification"
    return AUMDFConfig.paper_table2(
        data.feature_spec.dims,
        task=data.task,
        n_classes=len(data.class_names) if classification else 1,
        d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers,
        dropout=cfg.dropout, head_dropout=cfg.head_dropout,
        use_dwam=cfg.use_dwam, use_rem=cfg.use_rem,
    )


def default_out(cfg: TrainConfig) -> Path:
    return Path(cfg.out) if cfg.out else Path("runs") / cfg.dataset / (cfg.name or time.strftime("%Y%m%d-%H%M%S"))


def _load(cfg: TrainConfig) -> TrainData:
    if cfg.dataset == "demo":
        # the corpus keeps the extractor's own lengths (its spec must equal the app's), so no truncation
        from train.demo_corpus import load_demo_corpus, teacher_view_mask

        c = load_demo_corpus(cfg.data_dir or "data/demo")
        stats = {"sizes": {s: {k: len(v.split(s)) for k, v in c.sources.items()} for s in ("train", "valid", "test")},
                 "nonfinite": {k: v.stats["nonfinite"] for k, v in c.sources.items()}}
        return TrainData(
            "demo", "regression", (), "features", c.root, c.feature_spec, stats,
            teacher_train=c.dataset("train", ["composite"]), student_train=c.dataset("train"),
            teacher_valid=c.dataset("valid", ["composite"]), student_valid=c.dataset("valid"),
            test=c.dataset("test", ["composite"]), teacher_view=teacher_view_mask,
            student_weights=c.source_weights("train"),
        )
    splits = load_dataset(cfg.dataset, cfg.data_dir or None, cfg.layout)
    # Table 2's maximum lengths are for unaligned input; aligned data keep their shared word axis
    if splits.feature_spec.text.layout == "unaligned" and any(cfg.max_lens):
        splits = splits.truncated(cfg.max_lens)
    return TrainData.from_splits(splits)


def _loader(ds, cfg: TrainConfig, ctx: Context, train: bool, epoch: int = 0, weights: np.ndarray | None = None
            ) -> DataLoader:
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
        # stopping happen often; weights balance the sources of the demo corpus
        w = torch.as_tensor(weights if weights is not None else np.ones(len(ds)), dtype=torch.double)
        sampler = WeightedRandomSampler(w, num_samples=cfg.samples_per_epoch, replacement=True, generator=g)
        return DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate,
                          num_workers=cfg.num_workers, drop_last=cfg.samples_per_epoch >= cfg.batch_size)
    return DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, generator=g, collate_fn=collate,
                      num_workers=cfg.num_workers, drop_last=drop_last)


def _fixed_drop(rates: Sequence[float], seed: int) -> Callable[[], Callable[[Batch, int], Batch]]:
    """Factory of the student's validation transform: batch i gets p = rates[i mod len], same draw every pass."""

    def make() -> Callable[[Batch, int], Batch]:
        g = torch.Generator().manual_seed(seed)
        return lambda batch, i: drop_frames(batch, rates[i % len(rates)], g)

    return make


def _json_safe(x: Any) -> Any:
    if isinstance(x, float):
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return _json_safe(x.item())
    return x


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_json_safe(obj), indent=2) + "\n")
    tmp.replace(path)  # atomic: an interrupted run never leaves half a file


@dataclass
class PhaseResult:
    best_epoch: int
    best_valid: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False


def run_phase(
    phase: str,
    trainable: nn.Module,
    step: nn.Module,
    make_inputs: Callable[[Batch, Callable[[], float], torch.Generator], tuple],
    validate: Callable[[], dict[str, float]],
    on_best: Callable[[int, dict[str, float]], None],
    train_set: Dataset,
    task: str,
    cfg: TrainConfig,
    ctx: Context,
    out: Path,
    epochs: int,
    weights: np.ndarray | None = None,
) -> PhaseResult:
    """The plain loop shared by both phases: epochs of Adam steps, validation, early stopping, resume.

    trainable: what the optimizer updates and `last.pt` stores; step: the (maybe DDP-wrapped) module
    whose forward returns (loss, parts); make_inputs(batch, draw_p, generator) -> step's arguments.
    """
    opt = torch.optim.Adam([p for p in trainable.parameters() if p.requires_grad], lr=cfg.lr,
                           weight_decay=cfg.weight_decay)
    use_scaler = cfg.amp and ctx.device.type == "cuda" and amp_dtype(ctx.device) == torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    start, best, best_epoch, bad, history, best_valid = 1, math.inf, 0, 0, [], {}

    last = out / "last.pt"
    if cfg.resume and last.exists():
        state = torch.load(last, map_location="cpu", weights_only=False)
        if state["phase"] == phase:
            trainable.load_state_dict(state["trainable"])
            opt.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            start, best, best_epoch, bad = state["epoch"] + 1, state["best"], state["best_epoch"], state["bad"]
            history, best_valid = state["history"], state["best_valid"]
            torch.set_rng_state(state["rng"]["torch"])
            if torch.cuda.is_available() and state["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state_all(state["rng"]["cuda"])
            if ctx.main:
                print(f"[{phase}] resumed from {last} after epoch {state['epoch']}")
            if bad >= cfg.patience or state["epoch"] >= epochs:
                return PhaseResult(best_epoch, best_valid, history, stopped_early=bad >= cfg.patience)

    for epoch in range(start, epochs + 1):
        trainable.train()
        loader = _loader(train_set, cfg, ctx, train=True, epoch=epoch, weights=weights)
        pick = random.Random(cfg.seed * 1000 + epoch + 7919 * ctx.rank)
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch + 7919 * ctx.rank)
        sums: dict[str, float] = {}
        n = 0
        bar = _progress(loader, f"{phase} {epoch}/{epochs}", cfg.progress and ctx.main)
        for batch in bar:
            batch = batch.to(ctx.device)
            inputs = make_inputs(batch, lambda: pick.choice(cfg.drop_rates), gen)
            with autocast(ctx.device, cfg.amp):
                loss, parts = step(*inputs)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"[{phase}] epoch {epoch}: loss is {loss.item()} ({_fmt(parts)}); "
                                         "lower --lr or set --grad-clip")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(trainable.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            b = batch.size
            n += b
            for k, v in {"loss": loss, **parts}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * b
            if hasattr(bar, "set_postfix"):
                bar.set_postfix({k: f"{v / n:.3f}" for k, v in sums.items()})
        train_parts = {k: v / max(n, 1) for k, v in sums.items()}

        valid = validate()
        value = _broadcast(selection_value(task, valid) if ctx.main else 0.0, ctx)
        improved = value < best
        if improved:
            best, best_epoch, bad, best_valid = value, epoch, 0, valid
            on_best(epoch, valid)  # every rank keeps the best weights; only rank 0 writes them
        else:
            bad += 1
        history.append({"epoch": epoch, "train": train_parts, "valid": valid, "best": improved})
        if ctx.main:
            print(f"[{phase}] epoch {epoch}: train {_fmt(train_parts)} | valid {selection_name(task)} "
                  f"{valid[selection_name(task)]:.4f}{'  *best*' if improved else ''}", flush=True)
            torch.save({
                "phase": phase, "epoch": epoch, "trainable": trainable.state_dict(), "optimizer": opt.state_dict(),
                "scaler": scaler.state_dict(), "best": best, "best_epoch": best_epoch, "bad": bad,
                "history": history, "best_valid": best_valid,
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
            }, last)
        if bad >= cfg.patience:
            if ctx.main:
                print(f"[{phase}] early stop: no validation improvement for {bad} epochs")
            return PhaseResult(best_epoch, best_valid, history, stopped_early=True)
    return PhaseResult(best_epoch, best_valid, history)


def _fmt(parts: dict[str, Any]) -> str:
    return " ".join(f"{k} {float(v):.4f}" for k, v in parts.items())


def _progress(it, desc: str, enabled: bool):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, leave=False, dynamic_ncols=True)


def _metadata(role: str, cfg: TrainConfig, data: TrainData, epoch: int, valid: dict) -> dict[str, Any]:
    return {
        "role": role, "dataset": data.name, "layout": data.layout, "task": data.task,
        "class_names": list(data.class_names), "data_source": data.source.name, "best_epoch": epoch,
        "valid": _json_safe(valid), "selection": selection_name(data.task), "train_config": cfg.to_dict(),
    }


def train(cfg: TrainConfig) -> Path:
    """One run (one seed). Returns the output folder."""
    ctx = setup(cfg)
    out = default_out(cfg)
    t0 = time.perf_counter()
    seed_everything(cfg.seed)
    data = _load(cfg)
    spec, task, names = data.feature_spec, data.task, data.class_names
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "train_config.json", cfg.to_dict())
        print(f"{data.name}: {data.layout} from {data.source}, sizes {data.stats['sizes']}, "
              f"dims {spec.dims}, device {ctx.device}" + (f" x{ctx.world}" if ctx.ddp else ""))
    if ctx.ddp:
        dist.barrier()
    mcfg = model_config(cfg, data)
    teacher_valid_loader = _loader(data.teacher_valid, cfg, ctx, train=False)
    student_valid_loader = _loader(data.student_valid, cfg, ctx, train=False)
    lambda_reg = cfg.lambda_reg if cfg.use_reg else 0.0

    def wrap(module: nn.Module) -> nn.Module:
        if not ctx.ddp:
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        # with a teacher-view mask a batch may hold < 2 complete samples: CSD/SRD's parameters then get
        # no gradient, which DDP only tolerates when told to look for unused parameters
        return DDP(module, device_ids=ids, find_unused_parameters=data.teacher_view is not None)

    # ---- phase 1: teacher
    metrics: dict[str, Any] = {"dataset": data.name, "layout": data.layout, "task": task, "seed": cfg.seed,
                               "data_stats": data.stats, "selection": selection_name(task)}
    if cfg.teacher:
        loaded = load_checkpoint(cfg.teacher, expected_spec=spec, map_location=ctx.device)
        teacher = loaded.model
        metrics["teacher"] = {"from": str(cfg.teacher), "valid": loaded.metadata.get("valid")}
    else:
        teacher = AUMDF.from_config(mcfg).to(ctx.device)
        best_state: dict[str, torch.Tensor] = {}

        def teacher_best(epoch: int, valid: dict) -> None:
            best_state.update({k: v.detach().clone() for k, v in teacher.state_dict().items()})
            if ctx.main:
                save_checkpoint(out / "teacher", teacher, spec, _metadata("teacher", cfg, data, epoch, valid))

        def teacher_valid() -> dict:
            return score(task, *predict(teacher, teacher_valid_loader, ctx.device, amp=cfg.amp), names)

        done_before = cfg.resume and (out / "last.pt").exists() and \
            torch.load(out / "last.pt", map_location="cpu", weights_only=False)["phase"] == "student"
        if done_before:
            loaded = load_checkpoint(out / "teacher", expected_spec=spec, map_location=ctx.device)
            teacher = loaded.model
            metrics["teacher"] = {"from": str(out / "teacher"), "valid": loaded.metadata.get("valid")}
        else:
            res = run_phase(
                "teacher", teacher, wrap(TeacherStep(teacher, lambda_reg)),
                lambda batch, draw_p, gen: (batch,),
                teacher_valid, teacher_best, data.teacher_train, task, cfg, ctx, out, cfg.teacher_epochs or cfg.epochs,
                data.teacher_weights,
            )
            if best_state:
                teacher.load_state_dict(best_state)
            elif (out / "teacher").exists():  # resumed after the best epoch was written
                teacher = load_checkpoint(out / "teacher", map_location=ctx.device).model
            metrics["teacher"] = {"best_epoch": res.best_epoch, "valid": res.best_valid, "history": res.history}
    if ctx.ddp:
        dist.barrier()

    # ---- phase 2: student (fresh parameters, same structure: §3.2)
    seed_everything(cfg.seed + 1)
    student = AUMDF.from_config(mcfg).to(ctx.device)
    distiller = Distiller(
        teacher, student,
        lambda_reg=lambda_reg,
        lambda_csd=cfg.lambda_csd if cfg.use_csd else 0.0,
        lambda_srd=cfg.lambda_srd if cfg.use_srd else 0.0,
    ).to(ctx.device)
    distiller.teacher.to(ctx.device)
    fixed = _fixed_drop(cfg.drop_rates, cfg.seed)
    student_best_state: dict[str, torch.Tensor] = {}

    def student_best(epoch: int, valid: dict) -> None:
        student_best_state.update({k: v.detach().clone() for k, v in student.state_dict().items()})
        if ctx.main:
            save_checkpoint(out / "student", student, spec, _metadata("student", cfg, data, epoch, valid))

    def student_valid() -> dict:
        return score(task, *predict(student, student_valid_loader, ctx.device, transform=fixed(), amp=cfg.amp), names)

    def student_inputs(batch: Batch, draw_p: Callable[[], float], gen: torch.Generator) -> tuple:
        # CSD/SRD only where a complete teacher view exists (demo corpus); None = every sample
        view = None if data.teacher_view is None else torch.from_numpy(data.teacher_view(batch.ids)).to(batch.device)
        return batch, drop_frames(batch, draw_p(), gen), view

    res = run_phase("student", distiller, wrap(StudentStep(distiller)), student_inputs, student_valid, student_best,
                    data.student_train, task, cfg, ctx, out, cfg.epochs, data.student_weights)
    if student_best_state:
        student.load_state_dict(student_best_state)
    elif (out / "student").exists():
        student = load_checkpoint(out / "student", map_location=ctx.device).model
    metrics["student"] = {"best_epoch": res.best_epoch, "valid_fixed_drop": res.best_valid, "history": res.history,
                          "stopped_early": res.stopped_early}

    # ---- final report (complete modalities; the full robustness tables come from train.evaluate)
    if ctx.main:
        test_loader = _loader(data.test, cfg, ctx, train=False)

        def on(model: nn.Module, loader: DataLoader) -> dict:
            return score(task, *predict(model, loader, ctx.device, amp=cfg.amp), names)

        metrics["student"]["valid_complete"] = on(student, student_valid_loader)
        metrics["student"]["test_complete"] = on(student, test_loader)
        metrics["teacher"]["test_complete"] = on(teacher, test_loader)
        metrics["baseline_valid"] = baseline_metrics(task, labels_of(data.student_train), labels_of(data.student_valid), names)
        metrics["wall_s"] = time.perf_counter() - t0
        write_json(out / "metrics.json", metrics)
        sel = selection_name(task)
        print(f"done in {metrics['wall_s']:.1f}s -> {out}\n  student valid (complete) {sel} "
              f"{metrics['student']['valid_complete'][sel]:.4f}, baseline {metrics['baseline_valid'][sel]:.4f}")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    cfg = parse_args(argv)
    try:
        if cfg.seeds:
            root = default_out(cfg)
            for s in cfg.seeds:
                train(dataclasses.replace(cfg, seed=s, seeds=(), out=str(root / f"seed_{s}")))
        else:
            train(cfg)
    except (ValueError, FileNotFoundError, CheckpointError) as e:  # DataError is a ValueError: a message, not a trace
        raise SystemExit(f"error: {e}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()

"""Train AUMDF: teacher on complete data, then the student by distillation under random frame drop.

    python -m train.distill --dataset mosi                      # Table 2 defaults, data/mosi/
    python -m train.distill --dataset iemocap --epochs 5 --device cpu
    python -m train.distill --dataset demo --data-dir data/demo  # the demo corpus (docs/demo_corpus.md)
    python -m train.distill --config runs/mosi/x/train_config.json --seed 1112
    python -m train.distill --dataset mosi --seeds 1111 1112 1113   # one run per seed: OUT/seed_<s>/
    python -m train.distill --dataset mosi --teacher-only --out runs/t   # then --teacher runs/t/teacher
    torchrun --nproc_per_node 4 -m train.distill --dataset mosei   # DistributedDataParallel

Phases (SPEC §4; paper §3.2, §3.9-3.11):
  1. teacher: L = L_task + λ1·L_reg on the samples with a complete teacher view (the dataset's
     `teacher_view` column; every sample of the public datasets, the composites of the demo corpus);
     best epoch by validation on the same kind of samples, then frozen. `--teacher-samples recorded`
     gives every sample as recorded a teacher view instead (a MOSI transcript with its text alone).
  2. student: L = λ1·L_reg + λ2·L_CSD + λ3·L_SRD + L_task (eq. 42) via aumdf.distill.Distiller on every
     sample; CSD/SRD only where a teacher view exists. Per batch a drop rate p is drawn from
     `drop_rates` (default {0, 0.1, …, 0.7}) and RPRM drops each frame of each modality with
     probability p; then, with probability `absent_rate`, a sample keeps only one of the seven modality
     subsets of Tables 3-5 (aumdf.rprm.drop_to_subsets). The teacher sees the complete batch.
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

Every field of train.config.TrainConfig is a command-line flag (underscores become dashes; booleans get a
--no- form).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn

from aumdf.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from aumdf.config import AUMDFConfig
from aumdf.distill import Distiller
from aumdf.model import AUMDF
from aumdf.rprm import drop_frames, drop_to_subsets, subset_name
from aumdf.types import Batch
from aumdf.cli import parse_config
from train.config import TrainConfig
from train.data import DatasetSplits, MultimodalDataset, load_dataset
from train.engine import baseline_metrics, predict, score, selection_name
from train.io import json_safe, write_json
from train.loop import (
    Context, Phase, StudentStep, TeacherStep, fixed_drop, make_loader, run_phase, saved_phase, seed_everything, setup,
)

__all__ = ["TrainConfig", "parse_args", "train", "main", "load_train_data", "model_config", "default_out"]


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    return parse_config(TrainConfig, argv, config_file=True, prog="python -m train.distill",
                        description=__doc__.split("\n\n")[0])


def load_train_data(cfg: TrainConfig) -> DatasetSplits:
    splits = load_dataset(cfg.dataset, cfg.data_dir or None, cfg.layout, allow_empty=cfg.allow_empty_modality)
    # Table 2's maximum lengths are for unaligned input; aligned data keep their shared word axis. Data
    # already within the caps (the demo corpus, made by the app's extractors) keep their spec unchanged.
    if splits.feature_spec.text.layout == "unaligned" and any(cfg.max_lens):
        splits = splits.truncated(cfg.max_lens)
    return splits.with_every_teacher_view() if cfg.teacher_samples == "recorded" else splits


def model_config(cfg: TrainConfig, data: DatasetSplits) -> AUMDFConfig:
    classification = data.task == "classification"
    return AUMDFConfig.paper_table2(
        data.feature_spec.dims,
        task=data.task,
        n_classes=len(data.class_names) if classification else 1,
        d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers,
        dropout=cfg.dropout, head_dropout=cfg.head_dropout,
        use_dwam=cfg.use_dwam, use_rem=cfg.use_rem,
        # frame-wise DWAM gates need a shared time axis: word-aligned features only
        dwam_framewise=data.feature_spec.text.layout == "aligned",
    )


def default_out(cfg: TrainConfig) -> Path:
    return Path(cfg.out) if cfg.out else Path("runs") / cfg.dataset / (cfg.name or time.strftime("%Y%m%d-%H%M%S"))


def _with_teacher_view(ds: MultimodalDataset) -> MultimodalDataset:
    return ds.where(ds.teacher_view)


@dataclasses.dataclass
class Run:
    """What both phases of one run share."""

    cfg: TrainConfig
    ctx: Context
    out: Path
    data: DatasetSplits
    mcfg: AUMDFConfig

    def wrap(self, module: nn.Module) -> nn.Module:
        if not self.ctx.ddp:
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
        # where only some samples have a teacher view, a batch may hold < 2 of them: CSD/SRD's parameters then
        # get no gradient, which DDP only tolerates when told to look for unused parameters
        return DDP(module, device_ids=ids, find_unused_parameters=not self.data.train.teacher_view.all())

    def scorer(self, model: nn.Module, ds: MultimodalDataset, transform: Callable[[], Any] | None = None):
        """() -> metrics of `model` on `ds` (a fresh transform per pass when given)."""
        loader = make_loader(ds, self.cfg, self.ctx, train=False)
        return lambda: score(self.data.task, *predict(model, loader, self.ctx.device,
                                                      transform=transform() if transform else None,
                                                      amp=self.cfg.amp), self.data.class_names,
                             self.mcfg.class_heads)

    def keeper(self, role: str, model: nn.Module, best: dict[str, torch.Tensor]) -> Callable[[int, dict], None]:
        """on_best for a phase: keep the weights in memory on every rank, write the checkpoint on rank 0."""
        def on_best(epoch: int, valid: dict) -> None:
            best.update({k: v.detach().clone() for k, v in model.state_dict().items()})
            if self.ctx.main:
                save_checkpoint(self.out / role, model, self.data.feature_spec, self.metadata(role, epoch, valid))

        return on_best

    def metadata(self, role: str, epoch: int, valid: dict) -> dict[str, Any]:
        d = self.data
        meta = {
            "role": role, "dataset": d.name, "layout": d.layout, "task": d.task, "class_names": list(d.class_names),
            "data_source": d.source.name, "best_epoch": epoch, "valid": json_safe(valid),
            "selection": selection_name(d.task), "train_config": self.cfg.to_dict(),
        }
        if role == "teacher":  # the student sees every subset (RPRM); the teacher only those its samples have
            meta["trained_subsets"] = [subset_name(s) for s in _with_teacher_view(d.train).modality_subsets()]
        return meta

    def best_of(self, role: str, model: AUMDF, best: dict[str, torch.Tensor]) -> AUMDF:
        """The best epoch's weights: kept in memory, or (a run resumed after the best epoch) read back."""
        if best:
            model.load_state_dict(best)
            return model
        if (self.out / role).exists():
            return load_checkpoint(self.out / role, map_location=self.ctx.device).model
        return model


def _teacher(run: Run) -> tuple[AUMDF, dict[str, Any]]:
    """Phase 1, or the teacher given by --teacher, or the one a resumed run already finished."""
    cfg, ctx, data = run.cfg, run.ctx, run.data
    done = cfg.teacher or (cfg.resume and saved_phase(run.out) == "student" and str(run.out / "teacher"))
    if done:
        loaded = load_checkpoint(done, expected_spec=data.feature_spec, map_location=ctx.device)
        if loaded.config.d_model != run.mcfg.d_model or loaded.config.task != run.mcfg.task:
            raise SystemExit(f"the teacher at {done} has d_model={loaded.config.d_model} ({loaded.config.task}); "
                             f"this run trains a student with d_model={run.mcfg.d_model} ({run.mcfg.task}). "
                             f"Distillation compares their representations: pass --d-model "
                             f"{loaded.config.d_model} or another teacher.")
        return loaded.model, {"from": str(done), "valid": loaded.metadata.get("valid")}
    teacher = AUMDF.from_config(run.mcfg).to(ctx.device)
    best: dict[str, torch.Tensor] = {}
    lambda_reg = cfg.lambda_reg if cfg.use_reg else 0.0
    res = run_phase(Phase(
        "teacher", teacher, run.wrap(TeacherStep(teacher, lambda_reg)), lambda batch, draw_p, gen: (batch,),
        run.scorer(teacher, _with_teacher_view(data.valid)), run.keeper("teacher", teacher, best),
        _with_teacher_view(data.train), cfg.teacher_epochs or cfg.epochs,
    ), data.task, cfg, ctx, run.out)
    teacher = run.best_of("teacher", teacher, best)
    return teacher, {"best_epoch": res.best_epoch, "valid": res.best_valid, "history": res.history}


def _student(run: Run, teacher: AUMDF) -> tuple[AUMDF, dict[str, Any]]:
    """Phase 2: fresh parameters of the same structure (§3.2), distilled from the frozen teacher."""
    cfg, ctx, data = run.cfg, run.ctx, run.data
    seed_everything(cfg.seed + 1)
    student = AUMDF.from_config(run.mcfg).to(ctx.device)
    distiller = Distiller(
        teacher, student,
        lambda_reg=cfg.lambda_reg if cfg.use_reg else 0.0,
        lambda_csd=cfg.lambda_csd if cfg.use_csd else 0.0,
        lambda_srd=cfg.lambda_srd if cfg.use_srd else 0.0,
    ).to(ctx.device)
    distiller.teacher.to(ctx.device)
    best: dict[str, torch.Tensor] = {}

    def student_inputs(batch: Batch, draw_p: Callable[[], float], gen: torch.Generator) -> tuple:
        return batch, drop_to_subsets(drop_frames(batch, draw_p(), gen), cfg.absent_rate, gen)

    res = run_phase(Phase(
        "student", distiller, run.wrap(StudentStep(distiller)), student_inputs,
        run.scorer(student, data.valid, fixed_drop(cfg.drop_rates, cfg.seed)), run.keeper("student", student, best),
        data.train, cfg.epochs,
    ), data.task, cfg, ctx, run.out)
    student = run.best_of("student", student, best)
    return student, {"best_epoch": res.best_epoch, "valid_fixed_drop": res.best_valid, "history": res.history,
                     "stopped_early": res.stopped_early}


def train(cfg: TrainConfig) -> Path:
    """One run (one seed). Returns the output folder."""
    ctx = setup(cfg)
    out = default_out(cfg)
    t0 = time.perf_counter()
    seed_everything(cfg.seed)
    data = load_train_data(cfg)
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "train_config.json", cfg.to_dict())
        print(f"{data.name}: {data.layout} from {data.source}, sizes {data.stats['sizes']}, "
              f"dims {data.feature_spec.dims}, device {ctx.device}" + (f" x{ctx.world}" if ctx.ddp else ""))
    if ctx.ddp:
        dist.barrier()
    run = Run(cfg, ctx, out, data, model_config(cfg, data))
    metrics: dict[str, Any] = {"dataset": data.name, "layout": data.layout, "task": data.task, "seed": cfg.seed,
                               "data_stats": data.stats, "selection": selection_name(data.task)}
    teacher, metrics["teacher"] = _teacher(run)
    if ctx.ddp:
        dist.barrier()
    student = None
    if not cfg.teacher_only:
        student, metrics["student"] = _student(run, teacher)
    if ctx.main:  # complete modalities; the full robustness tables come from train.evaluate
        test = _with_teacher_view(data.test)
        if student is not None:
            metrics["student"]["valid_complete"] = run.scorer(student, data.valid)()
            metrics["student"]["test_complete"] = run.scorer(student, test)()
        metrics["teacher"]["test_complete"] = run.scorer(teacher, test)()
        metrics["baseline_valid"] = baseline_metrics(data.task, data.train.labels, data.valid.labels, data.class_names)
        metrics["wall_s"] = time.perf_counter() - t0
        write_json(out / "metrics.json", metrics)
        sel = selection_name(data.task)
        which, valid = (("teacher", metrics["teacher"]["valid"][sel]) if student is None
                        else ("student", metrics["student"]["valid_complete"][sel]))
        print(f"done in {metrics['wall_s']:.1f}s -> {out}\n  {which} valid (complete) {sel} "
              f"{valid:.4f}, baseline {metrics['baseline_valid'][sel]:.4f}")
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

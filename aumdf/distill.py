"""Distillation as a module (paper §3.2, §3.9-3.11): frozen teacher, student, named loss parts.

    teacher phase:  L = L_task + lambda_1·L_reg                                  (SPEC §4)
    student phase:  L = lambda_1·L_reg + lambda_2·L_CSD + lambda_3·L_SRD + L_task   (eq. 42)

The teacher is held outside the module tree on purpose: it is not in `parameters()` or `state_dict()`,
`train()` never switches it out of eval mode, and DistributedDataParallel wraps only what learns.

CSD (eq. 35-38) compares batch-centred, L2-normalised per-modality representations after a projection head
shared by teacher and student (one per modality), with alpha_mn = exp(log_alpha_mn) free to grow (capped at
`CSD_ALPHA_MAX`, as CLIP caps its logit scale). Without centring and the head, every cosine was near 1 and
L_CSD sat at ln(batch) (docs/model.md, "CSD").
SRD (eq. 39): W_s is fixed at the identity and only W_t learns. With both learnable, the two could shrink to
one shared direction and make the cosine 1 without aligning anything; a fixed W_s keeps the teacher's H^t
as the target.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aumdf.losses import csd_floor, csd_loss, reg_loss, sentiment_classes, srd_loss, task_loss
from aumdf.metrics import NEUTRAL_BAND
from aumdf.model import AUMDF
from aumdf.types import MODALITIES, Batch, ModelOutput

CSD_ALPHA_MAX = 100.0


@dataclass
class TeacherView:
    """What the distillation terms read from the teacher: fused [b, 3d] (H^t of eq. 39), modality_reps m -> [b, d]."""

    fused: Tensor
    modality_reps: dict[str, Tensor]


@dataclass
class DistillOutput:
    loss: Tensor
    # task, reg, csd, srd (unweighted), each a scalar; csd_floor: the least L_CSD can be on this batch, the mean
    # ln(#positives) (a reading for the log, not part of the loss)
    parts: dict[str, Tensor]
    student: ModelOutput
    teacher: TeacherView


class FrozenTeacher:
    """A trained model in eval mode under no-grad. Not an nn.Module, so nothing registers it.

    `view(batch)` memoises each sample's representations by its id and a digest of its frames (the
    teacher is frozen and deterministic in eval mode, so they never change); the student phase then runs the
    teacher once per training sample instead of once per sample and epoch. Batches without ids are not cached.
    """

    def __init__(self, model: AUMDF, cache: bool = True, max_cached: int = 500_000):
        self.model = model.eval()
        self.model.requires_grad_(False)
        self.cache_enabled = cache
        self.max_cached = max_cached
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    @torch.no_grad()
    def __call__(self, batch: Batch) -> ModelOutput:
        self.model.eval()
        return self.model(batch)

    def to(self, device) -> "FrozenTeacher":
        self.model.to(device)
        self._cache.clear()
        return self

    @staticmethod
    def _keys(batch: Batch) -> list[tuple]:
        """(id, digest of each modality's unpadded frames and mask) per sample. The digest reads only the first
        `length` frames, so the same sample padded to another batch length gets the same key."""
        keys = []
        feats = {m: batch.features[m].detach().cpu().numpy() for m in MODALITIES}
        masks = {m: batch.masks[m].cpu().numpy() for m in MODALITIES}
        lengths = {m: batch.lengths[m].cpu().tolist() for m in MODALITIES}
        for i, sample_id in enumerate(batch.ids):
            h = hashlib.blake2b(digest_size=16)
            for m in MODALITIES:
                n = lengths[m][i]
                h.update(n.to_bytes(4, "little"))
                h.update(feats[m][i, :n].tobytes())
                h.update(masks[m][i, :n].tobytes())
            keys.append((sample_id, h.digest()))
        return keys

    @torch.no_grad()
    def view(self, batch: Batch) -> TeacherView:
        """-> TeacherView of `batch` (the complete view), from the cache when every sample is in it."""
        if not self.cache_enabled or batch.ids is None:
            out = self(batch)
            return TeacherView(out.fused, out.modality_reps)
        keys = self._keys(batch)
        if all(k in self._cache for k in keys):
            fused = torch.stack([self._cache[k][0] for k in keys])
            reps = torch.stack([self._cache[k][1] for k in keys])  # b 3 d
        else:
            out = self(batch)
            fused = out.fused
            reps = torch.stack([out.modality_reps[m] for m in MODALITIES], dim=1)
            if len(self._cache) + len(keys) <= self.max_cached:
                self._cache.update({k: (fused[i], reps[i]) for i, k in enumerate(keys)})
        return TeacherView(fused, {m: reps[:, j] for j, m in enumerate(MODALITIES)})


def model_task_loss(model: AUMDF, prediction: Tensor, labels: Tensor) -> Tensor:
    """L_task (eq. 41) with the task and class heads of the model's config; a model without one regresses."""
    cfg = model.config
    return task_loss(prediction, labels, cfg.task if cfg else "regression", cfg.class_heads if cfg else "softmax")


def teacher_objective(model: AUMDF, batch: Batch, lambda_reg: float = 0.1) -> tuple[Tensor, dict[str, Tensor], ModelOutput]:
    """The teacher's loss on complete data: L_task + lambda_1·L_reg -> (loss, parts, output)."""
    out = model(batch)
    parts = {"task": model_task_loss(model, out.prediction, batch.labels), "reg": reg_loss(model.attention_weights())}
    return parts["task"] + lambda_reg * parts["reg"], parts, out


class ProjectionHead(nn.Module):
    """SupCon's head: Linear -> ReLU -> Linear, [b, d] -> [b, p]. CSD compares projections, not the reps."""

    def __init__(self, d: int, p: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, p))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Distiller(nn.Module):
    def __init__(
        self,
        teacher: AUMDF,
        student: AUMDF,
        lambda_reg: float = 0.1,
        lambda_csd: float = 0.1,
        lambda_srd: float = 0.1,
        srd_alpha: float = 1.0,
        csd_alpha_init: float = 10.0,
        csd_normalize: bool = True,
        csd_center: bool = True,
        csd_proj_dim: int = 128,
        neutral_band: float = NEUTRAL_BAND,
        cache_teacher: bool = True,
    ):
        super().__init__()
        if teacher.config is not None and student.config is not None:
            if teacher.config.task != student.config.task or teacher.config.input_dims != student.config.input_dims:
                raise ValueError("teacher and student must share task and input dimensions")
            if teacher.config.d_model != student.config.d_model:
                raise ValueError(f"the teacher has width d_model={teacher.config.d_model}, the student "
                                 f"{student.config.d_model}: SRD and CSD compare their representations, so both "
                                 "need the same width")
        self.student = student
        self.teacher = FrozenTeacher(teacher, cache=cache_teacher)
        self.lambdas = {"reg": lambda_reg, "csd": lambda_csd, "srd": lambda_srd}
        # alpha_mn of eq. 35-37 = exp(log_alpha): inverse temperatures of the cosine scores, free to grow
        self.csd_log_alpha = nn.ParameterDict({
            f"{m}>{n}": nn.Parameter(torch.tensor(math.log(csd_alpha_init)))
            for m in MODALITIES for n in MODALITIES if n != m
        })
        d = student.head.in_features // 3
        # 0: CSD compares the representations themselves (centred), no head
        self.csd_head = (nn.ModuleDict({m: ProjectionHead(d, csd_proj_dim) for m in MODALITIES})
                         if csd_proj_dim else None)
        fused = student.head.in_features
        # W_s, W_t of eq. 39 (W_s projects the teacher's H^t, W_t the student's H^s, as the paper writes), both
        # started at the identity; W_s stays there (see the module docstring)
        self.srd_proj_s = nn.Linear(fused, fused, bias=False)
        self.srd_proj_t = nn.Linear(fused, fused, bias=False)
        nn.init.eye_(self.srd_proj_s.weight)
        nn.init.eye_(self.srd_proj_t.weight)
        self.srd_proj_s.requires_grad_(False)
        # alpha_st of eq. 39 is a fixed weight: a learnable factor on a non-negative loss only learns to reach 0
        self.srd_alpha = srd_alpha
        self.csd_normalize = csd_normalize
        self.csd_center = csd_center
        self.neutral_band = neutral_band

    @property
    def task(self) -> str:
        return self.student.config.task if self.student.config else "regression"

    def classes(self, labels: Tensor) -> Tensor:
        return sentiment_classes(labels, self.neutral_band) if self.task == "regression" else labels.long()

    def csd_alphas(self) -> dict[str, Tensor]:
        """"m>n" -> alpha_mn (scalar tensor) of eq. 35-37."""
        return {k: v.clamp(max=math.log(CSD_ALPHA_MAX)).exp() for k, v in self.csd_log_alpha.items()}

    def _project(self, reps: dict[str, Tensor]) -> dict[str, Tensor]:
        return {m: self.csd_head[m](reps[m]) for m in MODALITIES} if self.csd_head is not None else reps

    def forward(self, full: Batch, dropped: Batch, has_teacher_view: Tensor | None = None) -> DistillOutput:
        """full: complete batch for the teacher; dropped: the same samples after RPRM for the student.

        has_teacher_view: [b] bool; CSD and SRD use only samples whose complete view exists (naturally
        incomplete samples contribute L_task and L_reg only). None means all.
        """
        teacher_out = self.teacher.view(full)
        student_out = self.student(dropped)
        parts = {
            "task": model_task_loss(self.student, student_out.prediction, dropped.labels),
            "reg": reg_loss(self.student.attention_weights()),
        }
        sel = has_teacher_view if has_teacher_view is not None else torch.ones(full.size, dtype=torch.bool, device=full.device)
        zero = student_out.fused.sum() * 0.0  # keeps the graph when no sample has a teacher view
        if int(sel.sum()) >= 2:
            t_reps = self._project({m: teacher_out.modality_reps[m][sel] for m in MODALITIES})
            s_reps = self._project({m: student_out.modality_reps[m][sel] for m in MODALITIES})
            classes = self.classes(dropped.labels[sel])
            parts["csd"] = csd_loss(t_reps, s_reps, classes, self.csd_alphas(), self.csd_normalize, self.csd_center)
            parts["csd_floor"] = csd_floor(classes)
        else:
            parts["csd"] = zero
            parts["csd_floor"] = zero.detach()
        if int(sel.sum()) >= 1:
            parts["srd"] = srd_loss(
                self.srd_proj_s(teacher_out.fused[sel]), self.srd_proj_t(student_out.fused[sel]), self.srd_alpha
            )
        else:
            parts["srd"] = zero
        loss = parts["task"] + sum(self.lambdas[k] * parts[k] for k in ("reg", "csd", "srd"))
        return DistillOutput(loss=loss, parts=parts, student=student_out, teacher=teacher_out)

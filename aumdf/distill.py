"""Distillation as a module (paper §3.2, §3.9-3.11): frozen teacher, student, named loss parts.

    teacher phase:  L = L_task + lambda_1·L_reg                                  (SPEC §4)
    student phase:  L = lambda_1·L_reg + lambda_2·L_CSD + lambda_3·L_SRD + L_task   (eq. 42)

The teacher is held outside the module tree on purpose: it is not in `parameters()` or `state_dict()`,
`train()` never switches it out of eval mode, and DistributedDataParallel wraps only what learns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aumdf.losses import csd_loss, reg_loss, sentiment_classes, srd_loss, task_loss
from aumdf.model import AUMDF
from aumdf.types import MODALITIES, Batch, ModelOutput


@dataclass
class DistillOutput:
    loss: Tensor
    parts: dict[str, Tensor]  # task, reg, csd, srd (unweighted), each a scalar
    student: ModelOutput
    teacher: ModelOutput


class FrozenTeacher:
    """A trained model in eval mode under no-grad. Not an nn.Module, so nothing registers it."""

    def __init__(self, model: AUMDF):
        self.model = model.eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def __call__(self, batch: Batch) -> ModelOutput:
        self.model.eval()
        return self.model(batch)

    def to(self, device) -> "FrozenTeacher":
        self.model.to(device)
        return self


def teacher_objective(model: AUMDF, batch: Batch, lambda_reg: float = 0.1) -> tuple[Tensor, dict[str, Tensor], ModelOutput]:
    """The teacher's loss on complete data: L_task + lambda_1·L_reg -> (loss, parts, output)."""
    out = model(batch)
    task = model.config.task if model.config else "regression"
    parts = {"task": task_loss(out.prediction, batch.labels, task), "reg": reg_loss(model.attention_weights())}
    return parts["task"] + lambda_reg * parts["reg"], parts, out


class Distiller(nn.Module):
    def __init__(
        self,
        teacher: AUMDF,
        student: AUMDF,
        lambda_reg: float = 0.1,
        lambda_csd: float = 0.1,
        lambda_srd: float = 0.1,
        srd_alpha: float = 1.0,
        csd_alpha_init: float = 5.0,
        csd_normalize: bool = True,
        neutral_band: float = 0.5,
    ):
        super().__init__()
        if teacher.config is not None and student.config is not None:
            if teacher.config.task != student.config.task or teacher.config.input_dims != student.config.input_dims:
                raise ValueError("teacher and student must share task and input dimensions")
        self.student = student
        self.teacher = FrozenTeacher(teacher)
        self.lambdas = {"reg": lambda_reg, "csd": lambda_csd, "srd": lambda_srd}
        # alpha_mn of eq. 35-37, learnable; with cosine similarity they act as inverse temperatures
        self.csd_alpha = nn.ParameterDict({
            f"{m}>{n}": nn.Parameter(torch.tensor(float(csd_alpha_init)))
            for m in MODALITIES for n in MODALITIES if n != m
        })
        fused = student.head.in_features
        # W_s, W_t of eq. 39 (W_s projects the teacher's H^t, W_t the student's H^s, as the paper writes),
        # started at the identity so that SRD begins as the plain cosine distance
        self.srd_proj_s = nn.Linear(fused, fused, bias=False)
        self.srd_proj_t = nn.Linear(fused, fused, bias=False)
        nn.init.eye_(self.srd_proj_s.weight)
        nn.init.eye_(self.srd_proj_t.weight)
        # alpha_st of eq. 39 is a fixed weight: a learnable factor on a non-negative loss only learns to reach 0
        self.srd_alpha = srd_alpha
        self.csd_normalize = csd_normalize
        self.neutral_band = neutral_band

    @property
    def task(self) -> str:
        return self.student.config.task if self.student.config else "regression"

    def classes(self, labels: Tensor) -> Tensor:
        return sentiment_classes(labels, self.neutral_band) if self.task == "regression" else labels.long()

    def forward(self, full: Batch, dropped: Batch, has_teacher_view: Tensor | None = None) -> DistillOutput:
        """full: complete batch for the teacher; dropped: the same samples after RPRM for the student.

        has_teacher_view: [b] bool; CSD and SRD use only samples whose complete view exists (naturally
        incomplete samples contribute L_task and L_reg only). None means all.
        """
        teacher_out = self.teacher(full)
        student_out = self.student(dropped)
        parts = {
            "task": task_loss(student_out.prediction, dropped.labels, self.task),
            "reg": reg_loss(self.student.attention_weights()),
        }
        sel = has_teacher_view if has_teacher_view is not None else torch.ones(full.size, dtype=torch.bool, device=full.device)
        zero = student_out.fused.sum() * 0.0  # keeps the graph when no sample has a teacher view
        if int(sel.sum()) >= 2:
            t_reps = {m: teacher_out.modality_reps[m][sel] for m in MODALITIES}
            s_reps = {m: student_out.modality_reps[m][sel] for m in MODALITIES}
            parts["csd"] = csd_loss(t_reps, s_reps, self.classes(dropped.labels[sel]), self.csd_alpha, self.csd_normalize)
        else:
            parts["csd"] = zero
        if int(sel.sum()) >= 1:
            parts["srd"] = srd_loss(
                self.srd_proj_s(teacher_out.fused[sel]), self.srd_proj_t(student_out.fused[sel]), self.srd_alpha
            )
        else:
            parts["srd"] = zero
        loss = parts["task"] + sum(self.lambdas[k] * parts[k] for k in ("reg", "csd", "srd"))
        return DistillOutput(loss=loss, parts=parts, student=student_out, teacher=teacher_out)

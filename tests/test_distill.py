"""The distillation module: named loss parts, gradients reach the student and never the teacher."""

from __future__ import annotations

import pytest
import torch

from aumdf.distill import Distiller, teacher_objective
from aumdf.model import AUMDF
from aumdf.rprm import drop_frames
from tests.factories import random_batch, tiny_config


def make(task="regression", **kw):
    torch.manual_seed(0)
    cfg = tiny_config(task=task, n_classes=1 if task == "regression" else 4)
    return Distiller(AUMDF.from_config(cfg), AUMDF.from_config(cfg), **kw)


def test_total_is_the_weighted_sum_of_named_parts():
    dist = make(lambda_reg=0.1, lambda_csd=0.2, lambda_srd=0.3).train()
    full = random_batch("unaligned", b=6)
    out = dist(full, drop_frames(full, 0.3, torch.Generator().manual_seed(0)))
    assert set(out.parts) == {"task", "reg", "csd", "srd"}
    expect = out.parts["task"] + 0.1 * out.parts["reg"] + 0.2 * out.parts["csd"] + 0.3 * out.parts["srd"]
    torch.testing.assert_close(out.loss, expect)
    assert all(torch.isfinite(v) for v in out.parts.values())


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_student_learns_teacher_is_frozen(task):
    dist = make(task).train()
    teacher = dist.teacher.model
    assert not teacher.training
    assert not any(p is q for p in dist.parameters() for q in teacher.parameters())
    full = random_batch("unaligned", b=6, labels="regression" if task == "regression" else "class")
    dist(full, drop_frames(full, 0.3, torch.Generator().manual_seed(0))).loss.backward()
    no_grad = [n for n, p in dist.named_parameters() if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())]
    assert not no_grad, f"student/distillation parameters without a gradient: {no_grad}"
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert not teacher.training  # .train() on the distiller leaves the teacher in eval mode
    assert "teacher" not in " ".join(dist.state_dict())


def test_distillation_terms_only_where_a_teacher_view_exists():
    dist = make().eval()
    full = random_batch("aligned", b=4)
    dropped = drop_frames(full, 0.2, torch.Generator().manual_seed(0))
    none = dist(full, dropped, has_teacher_view=torch.zeros(4, dtype=torch.bool))
    assert none.parts["csd"].item() == 0 and none.parts["srd"].item() == 0
    some = dist(full, dropped, has_teacher_view=torch.tensor([True, True, False, False]))
    assert some.parts["csd"].item() > 0 and some.parts["srd"].item() >= 0


def test_teacher_objective_parts():
    model = AUMDF.from_config(tiny_config())
    loss, parts, _ = teacher_objective(model, random_batch("aligned", b=3), lambda_reg=0.5)
    torch.testing.assert_close(loss, parts["task"] + 0.5 * parts["reg"])


def test_mismatched_teacher_and_student_are_refused():
    with pytest.raises(ValueError):
        Distiller(AUMDF.from_config(tiny_config()), AUMDF.from_config(tiny_config(task="classification", n_classes=4)))

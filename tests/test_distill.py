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
    assert set(out.parts) == {"task", "reg", "csd", "srd", "csd_floor"}
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
    sel = torch.tensor([True, True, False, False])
    some = dist(full, dropped, has_teacher_view=sel)
    assert some.parts["csd"].item() > 0
    # W_s = W_t = I at the start: SRD is the plain cosine distance of the selected samples' fused representations
    expect = 1 - torch.nn.functional.cosine_similarity(some.teacher.fused[sel], some.student.fused[sel], dim=-1).mean()
    torch.testing.assert_close(some.parts["srd"], expect)


def test_teacher_objective_parts():
    model = AUMDF.from_config(tiny_config())
    loss, parts, _ = teacher_objective(model, random_batch("aligned", b=3), lambda_reg=0.5)
    torch.testing.assert_close(loss, parts["task"] + 0.5 * parts["reg"])


def test_mismatched_teacher_and_student_are_refused():
    with pytest.raises(ValueError):
        Distiller(AUMDF.from_config(tiny_config()), AUMDF.from_config(tiny_config(task="classification", n_classes=4)))


def test_teacher_weights_are_bit_identical_after_a_student_step():
    dist = make().train()
    before = {k: v.clone() for k, v in dist.teacher.model.state_dict().items()}
    opt = torch.optim.Adam([p for p in dist.parameters() if p.requires_grad], lr=1e-2)
    full = random_batch("unaligned", b=6)
    for _ in range(2):
        opt.zero_grad()
        dist(full, drop_frames(full, 0.3, torch.Generator().manual_seed(0))).loss.backward()
        opt.step()
    after = dist.teacher.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # W_s of SRD is fixed at the identity (no collapse of both projections); W_t learns
    assert torch.equal(dist.srd_proj_s.weight, torch.eye(dist.srd_proj_s.weight.shape[0]))
    assert not torch.equal(dist.srd_proj_t.weight, torch.eye(dist.srd_proj_t.weight.shape[0]))


def test_a_teacher_of_another_width_is_refused_with_a_clear_message():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="d_model=16.*24"):
        Distiller(AUMDF.from_config(tiny_config()), AUMDF.from_config(tiny_config(d_model=24)))


def test_cached_teacher_view_equals_a_fresh_forward():
    dist = make().eval()
    full = random_batch("aligned", b=5)
    full.ids = [f"s{i}" for i in range(5)]
    first = dist.teacher.view(full)
    assert len(dist.teacher._cache) == 5
    again = dist.teacher.view(full)  # served from the cache
    fresh = dist.teacher(full)
    torch.testing.assert_close(again.fused, fresh.fused)
    torch.testing.assert_close(first.fused, again.fused)
    # the same samples padded to a longer batch hit the cache (the key reads only the unpadded frames)
    from aumdf.types import Batch

    pad = {m: torch.cat([full.features[m], torch.zeros(5, 3, full.features[m].shape[-1])], dim=1) for m in full.features}
    longer = Batch.from_lengths(pad, full.lengths, labels=full.labels, ids=full.ids)
    assert set(dist.teacher._keys(longer)) == set(dist.teacher._keys(full))
    # the same id with other features is a different key: recomputed, not served stale
    other = full.with_masks({m: full.masks[m].clone() for m in full.masks})
    other.features["text"] = other.features["text"] + 1.0
    torch.testing.assert_close(dist.teacher.view(other).fused, dist.teacher(other).fused)


def test_csd_alphas_start_at_ten_and_can_grow():
    dist = make()
    alphas = dist.csd_alphas()
    assert all(v.item() == pytest.approx(10.0) for v in alphas.values())
    with torch.no_grad():
        dist.csd_log_alpha["text>audio"].fill_(10.0)  # e^10: capped at CSD_ALPHA_MAX
    assert dist.csd_alphas()["text>audio"].item() == pytest.approx(100.0)

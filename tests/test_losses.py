"""CSD, SRD, L_reg and L_task against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from aumdf.config import AUMDFConfig
from aumdf.losses import contrastive_direction, csd_floor, csd_loss, reg_loss, sentiment_classes, srd_loss, task_loss
from aumdf.model import AUMDF
from aumdf.types import MODALITIES

EYE = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
ZERO = torch.zeros(2, 2)


def test_contrastive_direction_only_self_positive():
    # score = 2·I: anchor 0 scores 2 against candidate 0 and 0 against candidate 1
    loss = contrastive_direction(EYE, EYE, ZERO, torch.tensor(2.0), torch.tensor(1.0), torch.tensor([0, 1]), normalize=False,
                                 center=False)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-6)  # -(2 - log(e^2 + 1))


def test_contrastive_direction_all_positive_averages_over_positives():
    loss = contrastive_direction(EYE, EYE, ZERO, torch.tensor(2.0), torch.tensor(1.0), torch.tensor([0, 0]), normalize=False,
                                 center=False)
    lse = math.log(math.exp(2) + 1)
    assert loss.item() == pytest.approx(-((2 - lse) + (0 - lse)) / 2, abs=1e-6)


def test_contrastive_direction_second_modality_and_cosine():
    anchor = torch.tensor([[3.0, 0.0], [0.0, 0.5]])  # normalised to EYE
    cand_k = torch.tensor([[0.0, 2.0], [4.0, 0.0]])  # normalised: anchor 0 vs k: [0, 1]; anchor 1 vs k: [1, 0]
    loss = contrastive_direction(anchor, ZERO, cand_k, torch.tensor(1.0), torch.tensor(3.0), torch.tensor([0, 1]), normalize=True,
                                 center=False)
    # anchor 0 scores [0, 3] -> log p(0) = 0 - log(1 + e^3); anchor 1 scores [3, 0] -> log p(1) = 0 - log(e^3 + 1)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(3)), abs=1e-5)


def test_centring_removes_a_shared_direction():
    # anchors [2, 1], [0, 1] and candidates [3, 5], [1, 5] share an offset; centred and normalised they are
    # [1, 0], [-1, 0] each, so with alpha_n = 2 the scores are [[2, -2], [-2, 2]] -> loss log(1 + e^-4)
    anchor = torch.tensor([[2.0, 1.0], [0.0, 1.0]])
    cand_n = torch.tensor([[3.0, 5.0], [1.0, 5.0]])
    loss = contrastive_direction(anchor, cand_n, ZERO, torch.tensor(2.0), torch.tensor(1.0), torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-4)), abs=1e-6)
    # the same vectors uncentred: every cosine is > 0.7, the scores barely differ and the loss is near ln 2
    raw = contrastive_direction(anchor, cand_n, ZERO, torch.tensor(2.0), torch.tensor(1.0), torch.tensor([0, 1]),
                                center=False)
    assert 0.5 < raw.item() < math.log(2) + 1e-6


def test_identical_representations_give_ln_b_and_the_floor_is_ln_positives():
    # every sample the same vector: every score equal, a uniform softmax over b = 4 candidates -> ln 4
    same = {m: torch.ones(4, 3) for m in MODALITIES}
    alphas = {f"{m}>{n}": torch.tensor(10.0) for m in MODALITIES for n in MODALITIES if n != m}
    classes = torch.tensor([0, 0, 1, 2])
    for center in (False, True):
        assert csd_loss(same, same, classes, alphas, center=center).item() == pytest.approx(math.log(4), abs=1e-6)
    assert csd_floor(classes).item() == pytest.approx((2 * math.log(2)) / 4, abs=1e-6)
    # class-separated one-hot vectors with a large alpha reach the floor: ln 2 for the two class-0 anchors, 0 else
    onehot = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    sep = {m: onehot for m in MODALITIES}
    big = {k: torch.tensor(50.0) for k in alphas}
    assert csd_loss(sep, sep, classes, big, center=False).item() == pytest.approx(csd_floor(classes).item(), abs=1e-5)


def test_csd_is_the_mean_of_six_hand_computed_directions():
    # only teacher text and student audio carry a signal (EYE), everything else is zero, alpha 2 everywhere:
    # L^t_text (teacher text vs student audio) and L^s_audio (student audio vs teacher text) score 2·I ->
    # log(1 + e^-2) each; the four terms whose anchors are zero score 0 everywhere -> ln 2 each
    t = {"text": EYE, "audio": ZERO, "vision": ZERO}
    s = {"text": ZERO, "audio": EYE, "vision": ZERO}
    alphas = {f"{m}>{n}": torch.tensor(2.0) for m in MODALITIES for n in MODALITIES if n != m}
    got = csd_loss(t, s, torch.tensor([0, 1]), alphas, normalize=False, center=False)
    assert got.item() == pytest.approx((2 * math.log(1 + math.exp(-2)) + 4 * math.log(2)) / 6, abs=1e-6)


def test_srd_values():
    assert srd_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])).item() == pytest.approx(1.0)
    assert srd_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, 0.0]])).item() == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)
    batch = srd_loss(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), alpha=0.5)
    assert batch.item() == pytest.approx(0.5 * (0 + 2) / 2)


def test_reg_values():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert reg_loss([w], [1.0]).item() == pytest.approx(30.0)
    assert reg_loss([w]).item() == pytest.approx(30.0 / 2)  # default coefficient 1 / d_out
    assert reg_loss([w, 2 * w], [1.0, 0.5]).item() == pytest.approx(30 + 0.5 * 120)
    with pytest.raises(ValueError):
        reg_loss([w], [1.0, 2.0])


def test_task_loss_and_classes():
    assert task_loss(torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0]), "regression").item() == pytest.approx(1.5)
    logits = torch.tensor([[2.0, 0.0]])
    assert task_loss(logits, torch.tensor([0]), "classification").item() == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-6)
    with pytest.raises(ValueError):
        task_loss(logits, torch.tensor([0]), "ranking")
    classes = sentiment_classes(torch.tensor([-3.0, -0.5, -0.49, 0.0, 0.49, 0.5, 2.2]))
    assert classes.tolist() == [0, 0, 1, 1, 1, 2, 2]


def test_reg_is_a_real_penalty_at_the_paper_width():
    # nine d x d matrices initialised ~U(±1/√d): ||W||² ≈ d/3 each, so with 1/d per matrix L_reg ≈ 3 and
    # λ1·L_reg ≈ 0.3, beside an L_task of ~1 (the old 1/numel gave ~0.01)
    torch.manual_seed(0)
    model = AUMDF.from_config(AUMDFConfig.paper_table2((300, 74, 35)))
    reg = reg_loss(model.attention_weights()).item()
    assert 2.7 < reg < 3.3


def test_binary_class_heads_are_mults_two_logit_heads():
    # MulT's head for emotion c is softmax over [l0, l1] with cross-entropy; with z = l1 - l0 that is
    # softplus(-z) for a positive and softplus(z) for a negative, i.e. BCE with logits on z
    z = torch.tensor([[2.0, -1.0, 0.0, 0.5]])
    got = task_loss(z, torch.tensor([1]), "classification", "binary")
    sp = lambda x: math.log1p(math.exp(x))
    assert got.item() == pytest.approx((sp(2.0) + sp(1.0) + sp(0.0) + sp(0.5)) / 4, abs=1e-6)
    two_logit = torch.stack([torch.zeros(4), z[0]], dim=-1)  # [4, 2]: l0 = 0, l1 = z
    mult = torch.nn.functional.cross_entropy(two_logit, torch.tensor([0, 1, 0, 0]))
    assert got.item() == pytest.approx(mult.item(), abs=1e-6)

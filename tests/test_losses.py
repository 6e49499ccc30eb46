"""CSD, SRD, L_reg and L_task against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from aumdf.losses import contrastive_direction, csd_loss, reg_loss, sentiment_classes, srd_loss, task_loss
from aumdf.types import MODALITIES

EYE = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
ZERO = torch.zeros(2, 2)


def test_contrastive_direction_only_self_positive():
    # score = 2·I: anchor 0 scores 2 against candidate 0 and 0 against candidate 1
    loss = contrastive_direction(EYE, EYE, ZERO, torch.tensor(2.0), torch.tensor(1.0), torch.tensor([0, 1]), normalize=False)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-6)  # -(2 - log(e^2 + 1))


def test_contrastive_direction_all_positive_averages_over_positives():
    loss = contrastive_direction(EYE, EYE, ZERO, torch.tensor(2.0), torch.tensor(1.0), torch.tensor([0, 0]), normalize=False)
    lse = math.log(math.exp(2) + 1)
    assert loss.item() == pytest.approx(-((2 - lse) + (0 - lse)) / 2, abs=1e-6)


def test_contrastive_direction_second_modality_and_cosine():
    anchor = torch.tensor([[3.0, 0.0], [0.0, 0.5]])  # normalised to EYE
    cand_k = torch.tensor([[0.0, 2.0], [4.0, 0.0]])  # normalised: anchor 0 vs k: [0, 1]; anchor 1 vs k: [1, 0]
    loss = contrastive_direction(anchor, ZERO, cand_k, torch.tensor(1.0), torch.tensor(3.0), torch.tensor([0, 1]), normalize=True)
    # anchor 0 scores [0, 3] -> log p(0) = 0 - log(1 + e^3); anchor 1 scores [3, 0] -> log p(1) = 0 - log(e^3 + 1)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(3)), abs=1e-5)


def test_csd_is_the_mean_of_six_directions():
    g = torch.Generator().manual_seed(0)
    t = {m: torch.randn(5, 3, generator=g) for m in MODALITIES}
    s = {m: torch.randn(5, 3, generator=g) for m in MODALITIES}
    alphas = {f"{m}>{n}": torch.tensor(1.0 + i) for i, (m, n) in enumerate((m, n) for m in MODALITIES for n in MODALITIES if n != m)}
    classes = torch.tensor([0, 1, 1, 2, 0])
    expect = []
    for a, c in ((t, s), (s, t)):
        for m in MODALITIES:
            n, k = [x for x in MODALITIES if x != m]
            expect.append(contrastive_direction(a[m], c[n], c[k], alphas[f"{m}>{n}"], alphas[f"{m}>{k}"], classes))
    assert csd_loss(t, s, classes, alphas).item() == pytest.approx(sum(e.item() for e in expect) / 6, abs=1e-6)
    # swapping teacher and student swaps the two halves and leaves the mean unchanged
    assert csd_loss(s, t, classes, alphas).item() == pytest.approx(csd_loss(t, s, classes, alphas).item(), abs=1e-6)


def test_srd_values():
    assert srd_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])).item() == pytest.approx(1.0)
    assert srd_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, 0.0]])).item() == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)
    batch = srd_loss(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), alpha=0.5)
    assert batch.item() == pytest.approx(0.5 * (0 + 2) / 2)


def test_reg_values():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert reg_loss([w], [1.0]).item() == pytest.approx(30.0)
    assert reg_loss([w]).item() == pytest.approx(30.0 / 4)  # default coefficient 1 / numel
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

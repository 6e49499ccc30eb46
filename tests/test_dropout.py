"""aumdf.dropout.Dropout: the distribution and scaling of nn.Dropout, cheaper to draw on a CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aumdf.dropout import Dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keeps_one_minus_p_and_scales_the_kept_units(p):
    torch.manual_seed(0)
    x = torch.full((400, 500), 2.0)
    y = Dropout(p).train()(x)
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(1 - p, abs=0.005)
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 2.0 / (1 - p)))
    assert y.mean().item() == pytest.approx(2.0, rel=0.02)  # unbiased, as nn.Dropout


def test_gradient_flows_through_the_kept_units_only():
    torch.manual_seed(1)
    x = torch.randn(50, 60, requires_grad=True)
    y = Dropout(0.3).train()(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y != 0).float() / 0.7)


def test_identity_in_eval_and_at_zero_and_seeded():
    x = torch.randn(8, 9)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    torch.manual_seed(3)
    a = Dropout(0.5).train()(x)
    torch.manual_seed(3)
    assert torch.equal(Dropout(0.5).train()(x), a)  # a seed gives the same mask
    assert isinstance(Dropout(0.1), nn.Dropout)  # checks and reprs that look for nn.Dropout still see one

"""Masked statistics over time. Masks are explicit: [b, t] bool, True = frame available."""

from __future__ import annotations

import torch
from torch import Tensor


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """x: [b, t, d], mask: [b, t] -> [b, d]; zeros for a sample with no available frame."""
    w = mask.to(x.dtype).unsqueeze(-1)  # b t 1
    return (x * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)


def masked_mean_var(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and (biased) variance over available frames, each [b, d] (eq. 4-5)."""
    w = mask.to(x.dtype).unsqueeze(-1)
    n = w.sum(dim=1).clamp(min=1.0)
    mean = (x * w).sum(dim=1) / n
    var = (((x - mean.unsqueeze(1)) ** 2) * w).sum(dim=1) / n
    return mean, var

"""Masked statistics over time. Masks are explicit: [b, t] bool, True = frame available."""

from __future__ import annotations

from typing import Callable

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


def available_rows(mask: Tensor) -> Tensor:
    """mask: [b, t] bool -> [n] long, the flat indices (b·t + i) of the available frames."""
    return mask.reshape(-1).nonzero().squeeze(1)


def apply_rows(fn: Callable[[Tensor], Tensor], x: Tensor, rows: Tensor) -> Tensor:
    """A position-wise fn on the available frames only: x [b, t, c], rows [n] (`available_rows`) -> [b, t, c'],
    zeros at the other frames.

    Padding and dropped frames never reach the prediction (their keys are masked, their queries and pooled
    values discarded), so a position-wise layer need not compute them; under frame drop that is half the
    frames of a training batch.
    """
    b, t, c = x.shape
    if rows.numel() == b * t:
        return fn(x)
    y = fn(x.reshape(b * t, c).index_select(0, rows))  # n c'
    return y.new_zeros(b * t, y.shape[-1]).index_copy(0, rows, y).view(b, t, -1)

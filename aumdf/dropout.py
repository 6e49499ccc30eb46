"""Dropout whose CPU mask is cheap to draw.

On a CPU, `nn.Dropout` draws its mask with `bernoulli_`, a serial per-element generator: at MOSI's
unaligned lengths and width 300 that was 15 % of a training step (about 25 million draws per step). This
module draws uniform floats with `torch.rand` instead (about twice as fast) and keeps a unit where the
draw is >= p: the same distribution, P(keep) = 1 - p, and the same scaling by 1 / (1 - p). It draws other
random numbers than `nn.Dropout`, so a seed gives other (equally likely) masks than before this module
existed. On other devices it is `nn.Dropout` (CUDA's fused kernel is fast).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Dropout(nn.Dropout):
    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        if self.p == 1.0:
            return x * 0.0
        noise = torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))  # 0 or 1 / (1 - p)
        return x * noise

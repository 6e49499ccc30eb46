"""RPM — the feature preprocessing module (paper §3.5, eq. 13-16).

Dimension legend: b - batch, t - frames, c - input width, d - model width

Conv1D with kernel k_m to the shared width d, plus the sinusoidal positional encoding of eq. 14-15.
Unavailable frames are zeroed before the convolution so that they leak nothing into their neighbours.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_encoding(t: int, d: int, device=None, dtype=torch.float32) -> Tensor:
    """PE(pos, 2k) = sin(pos / 10000^(2k/d)), PE(pos, 2k+1) = cos(...) (eq. 14-15) -> [t, d]."""
    pos = torch.arange(t, device=device, dtype=torch.float32).unsqueeze(1)  # t 1
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))  # d/2
    pe = torch.zeros(t, d, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe.to(dtype)


class RPM(nn.Module):
    def __init__(self, in_dim: int, d: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv1d(in_dim, d, kernel_size, padding=kernel_size // 2)  # eq. 13
        self.d = d
        self.register_buffer("pe", sinusoidal_encoding(512, d), persistent=False)

    def positional(self, t: int, x: Tensor) -> Tensor:
        if t > self.pe.shape[0]:  # grow once for long inputs instead of capping the length
            self.pe = sinusoidal_encoding(max(t, 2 * self.pe.shape[0]), self.d, device=x.device)
        return self.pe[:t].to(dtype=x.dtype, device=x.device)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x: [b, t, c], mask: [b, t] -> [b, t, d] (eq. 16)."""
        x = x * mask.unsqueeze(-1).to(x.dtype)
        y = self.conv(x.transpose(1, 2)).transpose(1, 2)  # b t d
        return y + self.positional(x.shape[1], x)

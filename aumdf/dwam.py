"""DWAM — the dynamic weight adjustment module (paper §3.6, eq. 17-20).

Dimension legend: b - batch, t - frames of modality m, d - model width

For modality m and each other modality n:
    g_mn = ReLU(W_mn [Z_m ; Z_n] + b_mn)                       (eq. 17-18)
    Z_m <- W_out([g_mn1 ; g_mn2] ⊙ (W_mW Z_m) + b_mW)           (eq. 19-20, W_out maps 2d back to d)
Modalities may have different lengths (unaligned input) and frames may be dropped, so Z_n enters as
its masked mean over available frames, broadcast over m's frames ("pooled and broadcast" of SPEC §3.3;
resampling would invent frames that were dropped). A modality with no available frame contributes zeros.
The gate values g_mn are returned: the demo plots them and they explain which pair drove the result.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aumdf.masking import masked_mean
from aumdf.types import MODALITIES


def pair_key(m: str, n: str) -> str:
    return f"{m}>{n}"


class DWAM(nn.Module):
    def __init__(self, d: int, modalities: tuple[str, ...] = MODALITIES):
        super().__init__()
        self.modalities = modalities
        self.pairs = [(m, n) for m in modalities for n in modalities if n != m]
        self.gate = nn.ModuleDict({pair_key(m, n): nn.Linear(2 * d, d) for m, n in self.pairs})  # W_mn, b_mn
        self.expand = nn.ModuleDict({m: nn.Linear(d, 2 * d, bias=False) for m in modalities})  # W_mW
        self.expand_bias = nn.ParameterDict({m: nn.Parameter(torch.zeros(2 * d)) for m in modalities})  # b_mW
        self.out = nn.ModuleDict({m: nn.Linear(2 * d, d) for m in modalities})

    def forward(self, z: dict[str, Tensor], masks: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """z[m]: [b, t_m, d], masks[m]: [b, t_m] -> (new z[m]: [b, t_m, d], gates "m>n": [b, t_m, d])."""
        pooled = {m: masked_mean(z[m], masks[m]) for m in self.modalities}  # b d
        gates: dict[str, Tensor] = {}
        out: dict[str, Tensor] = {}
        for m in self.modalities:
            zm = z[m]
            parts = []
            for n in self.modalities:
                if n == m:
                    continue
                ctx = pooled[n].unsqueeze(1).expand_as(zm)  # b t d
                g = F.relu(self.gate[pair_key(m, n)](torch.cat([zm, ctx], dim=-1)))
                gates[pair_key(m, n)] = g
                parts.append(g)
            weighted = torch.cat(parts, dim=-1) * self.expand[m](zm) + self.expand_bias[m]  # b t 2d
            out[m] = self.out[m](weighted)
        return out, gates

"""DWAM — the dynamic weight adjustment module (paper §3.6, eq. 17-20).

Dimension legend: b - batch, t - frames of modality m, d - model width

For modality m and each other modality n:
    g_mn = ReLU(W_mn [Z_m ; Z_n] + b_mn)                       (eq. 17-18)
    Z_m <- W_out([g_mn1 ; g_mn2] ⊙ (W_mW Z_m) + b_mW)           (eq. 19-20, W_out maps 2d back to d)

What Z_n is at frame i of m:
- frame-wise (word-aligned input, the paper's main setting): when m and n share a time axis — the same
  padded length and, for the sample, the same unpadded length — the gate reads Z_n at the same frame i,
  so it reacts to what the partner does at that moment. A dropped or padded partner frame contributes
  zeros (its mask is applied to Z_n first).
- pooled (unaligned input, or lengths that differ): Z_n enters as its masked mean over available frames,
  broadcast over m's frames (SPEC §3.3's "pooled and broadcast"; resampling would invent frames that were
  dropped). A modality with no available frame contributes zeros.
`framewise=False` pools always: the behaviour of checkpoints written before frame-wise gating existed.

W_mn [Z_m ; Z_n] is computed as W_mn[:, :d] Z_m + W_mn[:, d:] Z_n: the same parameters and result (to
float rounding), without repeating the pooled partner's product at every frame. The position-wise maps run
on available frames only (`aumdf.masking.apply_rows`); an unavailable frame of m gets gate 0 and an output
that nothing downstream reads.
The gate values g_mn are returned: the demo plots them and they explain which pair drove the result.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aumdf.masking import apply_rows, available_rows, masked_mean
from aumdf.types import MODALITIES


def pair_key(m: str, n: str) -> str:
    return f"{m}>{n}"


def shared_time_axis(t_m: int, t_n: int, len_m: Tensor | None, len_n: Tensor | None) -> Tensor | None:
    """[b] bool: samples whose m and n frames coincide (same padded and unpadded length); None if none can."""
    if t_m != t_n or len_m is None or len_n is None:
        return None
    same = len_m == len_n
    return same if bool(same.any()) else None


class DWAM(nn.Module):
    def __init__(self, d: int, modalities: tuple[str, ...] = MODALITIES, framewise: bool = True):
        super().__init__()
        self.modalities = modalities
        self.d = d
        self.framewise = framewise
        self.pairs = [(m, n) for m in modalities for n in modalities if n != m]
        self.gate = nn.ModuleDict({pair_key(m, n): nn.Linear(2 * d, d) for m, n in self.pairs})  # W_mn, b_mn
        self.expand = nn.ModuleDict({m: nn.Linear(d, 2 * d, bias=False) for m in modalities})  # W_mW
        self.expand_bias = nn.ParameterDict({m: nn.Parameter(torch.zeros(2 * d)) for m in modalities})  # b_mW
        self.out = nn.ModuleDict({m: nn.Linear(2 * d, d) for m in modalities})

    def partner_term(self, key: str, zn: Tensor, mask_n: Tensor, pooled_n: Tensor, same: Tensor | None) -> Tensor:
        """W_mn[:, d:] Z_n + b_mn -> [b, t, d] (frame-wise) or [b, 1, d] (pooled, broadcast over m's frames).

        zn: [b, t_n, d], mask_n: [b, t_n], pooled_n: [b, d], same: [b] bool or None (see `shared_time_axis`).
        """
        lin = self.gate[key]
        w = lin.weight[:, self.d:]  # d d
        if same is None:
            return F.linear(pooled_n, w, lin.bias).unsqueeze(1)  # b 1 d
        # an unavailable partner frame enters as zeros: W·0 + b
        frame = apply_rows(lambda r: F.linear(r, w), zn, available_rows(mask_n)) + lin.bias  # b t d
        if bool(same.all()):  # aligned batches, the common case: the pooled product is never read
            return frame
        pooled = F.linear(pooled_n, w, lin.bias).unsqueeze(1)  # b 1 d
        return torch.where(same[:, None, None], frame, pooled)

    def forward(self, z: dict[str, Tensor], masks: dict[str, Tensor], lengths: dict[str, Tensor] | None = None
                ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """z[m]: [b, t_m, d], masks[m]: [b, t_m], lengths[m]: [b] -> (new z[m]: [b, t_m, d], gates "m>n": [b, t_m, d]).

        Without `lengths` every partner is pooled.
        """
        pooled = {m: masked_mean(z[m], masks[m]) for m in self.modalities}  # b d
        lengths = lengths if (self.framewise and lengths is not None) else {}
        gates: dict[str, Tensor] = {}
        out: dict[str, Tensor] = {}
        for m in self.modalities:
            zm = z[m]
            rows = available_rows(masks[m])
            avail = masks[m].unsqueeze(-1).to(zm.dtype)  # b t 1
            partners = [n for n in self.modalities if n != m]
            # the Z_m halves of both gates of m in one product: b t (len(partners)·d)
            w_own = torch.cat([self.gate[pair_key(m, n)].weight[:, : self.d] for n in partners])
            own = apply_rows(lambda r: F.linear(r, w_own), zm, rows)
            parts = []
            for i, n in enumerate(partners):
                same = shared_time_axis(zm.shape[1], z[n].shape[1], lengths.get(m), lengths.get(n))
                term = self.partner_term(pair_key(m, n), z[n], masks[n], pooled[n], same)
                g = F.relu(own[..., i * self.d:(i + 1) * self.d] + term) * avail  # b t d
                gates[pair_key(m, n)] = g
                parts.append(g)
            weighted = torch.cat(parts, dim=-1) * apply_rows(self.expand[m], zm, rows) + self.expand_bias[m]  # b t 2d
            out[m] = apply_rows(self.out[m], weighted, rows)
        return out, gates

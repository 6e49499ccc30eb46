"""MMT — the multimodal masked transformer (paper §3.7-3.8, eq. 21-32).

Dimension legend:
    b - batch, h - heads, e - head width (d / h), d - model width
    i - query frames (modality m), j - key frames (modalities n and k, concatenated: s = t_n + t_k)

Each modality m in turn is the query; the other two supply keys and values (eq. 31). Per head:

    score_ij = sum_e q_ie · k_je · gamma_e / sqrt(e)  +  DeltaT_ij             (eq. 25, 30, 21-22)

- tri-linear similarity (eq. 25): the third vector gamma modulates the query·key product element-wise.
  For keys of modality n, gamma comes from the *other* key modality k (its masked mean, projected):
  gamma = 1 + W_gamma · mean(LN(Z_k)). W_gamma starts at zero and a missing k gives gamma = 1, so the
  score falls back to the dot product of eq. 24 when the third modality is absent.
- time-window bias (eq. 21-22): DeltaT_ij = s(r) for |r| <= K, else 0, with r the offset between the
  frames' normalised times (i + 0.5) / len_q and (j + 0.5) / len_k in steps of the coarser of the two
  sequences; for aligned input this is exactly i - j. s is learnable per offset and head. Eq. 22 writes
  "Z + DeltaT", which cannot add a [t, t] matrix to a [t, d] one; an additive attention bias is the
  reading that type-checks.
- mask (eq. 23, 30): padded and dropped key frames get -inf before the softmax ("· Mask" read as a mask,
  not a product that would leave exp(0) = 1 weight on them). A query with no available key at all (both
  other modalities missing) attends to nothing: its attention row is zero, not NaN.
- pre-LN residual and FFN (eq. 31-32): H' = MMT(LN Z_m, ...) + LN Z_m;  H = FFN(LN H') + LN H'.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import Tensor, nn

from aumdf.dropout import Dropout
from aumdf.masking import apply_rows, available_rows, masked_mean
from aumdf.types import MODALITIES


def others(m: str, modalities: tuple[str, ...] = MODALITIES) -> tuple[str, str]:
    n, k = [x for x in modalities if x != m]
    return n, k


def relative_offsets(len_q: Tensor, len_k: Tensor, t_q: int, t_k: int) -> Tensor:
    """Offset r between query frame i and key frame j in steps of the coarser sequence -> [b, t_q, t_k] long.

    len_q, len_k: [b] unpadded lengths (clamped to >= 1).
    """
    lq = len_q.clamp(min=1).to(torch.float32)
    lk = len_k.clamp(min=1).to(torch.float32)
    iq = torch.arange(t_q, device=len_q.device, dtype=torch.float32)
    jk = torch.arange(t_k, device=len_q.device, dtype=torch.float32)
    tq = (iq[None, :] + 0.5) / lq[:, None]  # b i
    tk = (jk[None, :] + 0.5) / lk[:, None]  # b j
    steps = torch.minimum(lq, lk)[:, None, None]  # b 1 1
    return torch.round((tq[:, :, None] - tk[:, None, :]) * steps).long()


class _TableLookup(torch.autograd.Function):
    """table[:, idx] -> [b, h, i, j] for table [h, w] and idx [b, i, j] long in [0, w).

    The same values as plain indexing. Its backward is a per-head weighted histogram of the incoming gradient
    over the w table cells (`torch.bincount`), instead of the accumulating index_put that autograd uses for
    `table[:, idx]`: at MOSI's unaligned lengths that index_put was a fifth of a training step on a CPU.
    """

    @staticmethod
    def forward(ctx, table: Tensor, idx: Tensor) -> Tensor:
        ctx.save_for_backward(idx)
        ctx.cells = table.shape[1]
        return table[:, idx].permute(1, 0, 2, 3)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (idx,) = ctx.saved_tensors
        flat = idx.reshape(-1)
        per_head = [torch.bincount(flat, weights=grad[:, h].reshape(-1), minlength=ctx.cells)
                    for h in range(grad.shape[1])]
        return torch.stack(per_head).to(grad.dtype), None


class TimeWindowBias(nn.Module):
    """s(r) for |r| <= K, per head; 0 outside the window (eq. 21)."""

    def __init__(self, n_heads: int, window: int):
        super().__init__()
        self.window = window
        self.s = nn.Parameter(torch.zeros(n_heads, 2 * window + 1))

    def forward(self, offsets: Tensor) -> Tensor:
        """offsets: [b, i, j] long -> bias [b, h, i, j]."""
        k = self.window
        # offsets outside the window read an extra cell that holds 0 and is never learnt
        idx = torch.where(offsets.abs() <= k, offsets + k, 2 * k + 1)  # b i j
        table = torch.cat([self.s, self.s.new_zeros(self.s.shape[0], 1)], dim=1)  # h 2k+2
        return _TableLookup.apply(table, idx)


class MMTLayer(nn.Module):
    """One layer: every modality attends, as the query, over the other two (eq. 26-32)."""

    def __init__(self, d: int, n_heads: int, time_window: int, ffn_mult: int = 4, dropout: float = 0.1,
                 modalities: tuple[str, ...] = MODALITIES):
        super().__init__()
        self.modalities = modalities
        self.h = n_heads
        self.norm = nn.ModuleDict({m: nn.LayerNorm(d) for m in modalities})  # LN(Z_m) of eq. 31
        self.w_q = nn.ModuleDict({m: nn.Linear(d, d, bias=False) for m in modalities})  # W_Q^m, eq. 26
        self.w_k = nn.ModuleDict({m: nn.Linear(d, d, bias=False) for m in modalities})  # W_K^m, eq. 27
        self.w_v = nn.ModuleDict({m: nn.Linear(d, d, bias=False) for m in modalities})  # W_V^m, eq. 28
        self.w_o = nn.ModuleDict({m: nn.Linear(d, d) for m in modalities})  # W_O, eq. 29
        self.w_gamma = nn.ModuleDict({m: nn.Linear(d, d, bias=False) for m in modalities})  # third-modality vector
        for lin in self.w_gamma.values():
            nn.init.zeros_(lin.weight)
        self.time_bias = nn.ModuleDict({m: TimeWindowBias(n_heads, time_window) for m in modalities})
        self.ffn_norm = nn.ModuleDict({m: nn.LayerNorm(d) for m in modalities})  # LN(H') of eq. 32
        self.ffn = nn.ModuleDict({
            m: nn.Sequential(nn.Linear(d, ffn_mult * d), nn.GELU(), Dropout(dropout), nn.Linear(ffn_mult * d, d))
            for m in modalities
        })
        self.attn_drop = Dropout(dropout)
        self.drop = Dropout(dropout)

    def attention_weights(self) -> list[Tensor]:
        """W_Q, W_K, W_V of every modality (the matrices L_reg of eq. 40 penalises)."""
        return [lin.weight for bank in (self.w_q, self.w_k, self.w_v) for lin in bank.values()]

    def forward(self, z: dict[str, Tensor], masks: dict[str, Tensor], lengths: dict[str, Tensor]
                ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """z[m]: [b, t_m, d] -> (H[m]: [b, t_m, d], attention[m]: [b, h, t_m, t_n + t_k])."""
        zn = {m: self.norm[m](z[m]) for m in self.modalities}
        rows = {m: available_rows(masks[m]) for m in self.modalities}  # projections skip unavailable frames

        def heads(lin: nn.Linear, m: str) -> Tensor:
            return rearrange(apply_rows(lin, zn[m], rows[m]), "b j (h e) -> b h j e", h=self.h)

        keys = {m: heads(self.w_k[m], m) for m in self.modalities}
        vals = {m: heads(self.w_v[m], m) for m in self.modalities}
        # gamma for keys of n is built from the other key modality; 1 + 0 when that modality is absent
        gammas = {
            m: 1.0 + rearrange(self.w_gamma[m](masked_mean(zn[m], masks[m])), "b (h e) -> b h 1 e", h=self.h)
            for m in self.modalities
        }

        out: dict[str, Tensor] = {}
        attn_maps: dict[str, Tensor] = {}
        for m in self.modalities:
            n, k = others(m, self.modalities)
            q = heads(self.w_q[m], m)
            e = q.shape[-1]
            scores = []
            for key_mod, third in ((n, k), (k, n)):
                kk = keys[key_mod] * gammas[third]  # b h j e: element-wise third-modality modulation, eq. 25
                s = torch.einsum("bhie,bhje->bhij", q, kk) / math.sqrt(e)
                offsets = relative_offsets(lengths[m], lengths[key_mod], q.shape[2], kk.shape[2])
                scores.append(s + self.time_bias[m](offsets))
            score = torch.cat(scores, dim=-1)  # b h i s
            key_mask = torch.cat([masks[n], masks[k]], dim=1)  # b s
            has_key = key_mask.any(dim=1)  # b
            score = score.masked_fill(~key_mask[:, None, None, :], float("-inf"))
            # no available key anywhere: softmax over all -inf would be NaN; use a flat row and zero it below
            score = torch.where(has_key[:, None, None, None], score, torch.zeros_like(score))
            attn = torch.softmax(score, dim=-1)
            keep = has_key[:, None, None, None] & masks[m][:, None, :, None]  # b 1 i 1
            attn = attn * keep.to(attn.dtype)
            v = torch.cat([vals[n], vals[k]], dim=2)  # b h s e
            ctx = torch.einsum("bhij,bhje->bhie", self.attn_drop(attn), v)
            ctx = rearrange(ctx, "b h i e -> b i (h e)")
            h1 = self.drop(apply_rows(self.w_o[m], ctx, rows[m])) + zn[m]  # eq. 31
            h1n = self.ffn_norm[m](h1)
            out[m] = self.drop(self.feed_forward(m, h1n, rows[m])) + h1n  # eq. 32
            attn_maps[m] = attn
        return out, attn_maps

    def feed_forward(self, m: str, x: Tensor, rows: Tensor) -> Tensor:
        """FFN of eq. 32 on the available frames: x [b, t, d] -> [b, t, d]. The hidden [n, 4d] of the n available
        frames is never scattered to [b, t, 4d], and its dropout draws a mask for those frames only."""
        lin1, act, drop, lin2 = self.ffn[m]
        b, t, d = x.shape
        if rows.numel() == b * t:
            return lin2(drop(act(lin1(x))))
        y = lin2(drop(act(lin1(x.reshape(b * t, d).index_select(0, rows)))))  # n d
        return y.new_zeros(b * t, d).index_copy(0, rows, y).view(b, t, d)


class MMT(nn.Module):
    def __init__(self, d: int, n_heads: int, n_layers: int, time_window: int, ffn_mult: int = 4,
                 dropout: float = 0.1, modalities: tuple[str, ...] = MODALITIES):
        super().__init__()
        self.modalities = modalities
        self.layers = nn.ModuleList(
            [MMTLayer(d, n_heads, time_window, ffn_mult, dropout, modalities) for _ in range(n_layers)]
        )

    def attention_weights(self) -> list[Tensor]:
        return [w for layer in self.layers for w in layer.attention_weights()]

    def forward(self, z: dict[str, Tensor], masks: dict[str, Tensor], lengths: dict[str, Tensor]
                ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """-> (H[m]: [b, t_m, d], attention[m]: [b, l, h, t_m, t_n + t_k])."""
        maps: dict[str, list[Tensor]] = {m: [] for m in self.modalities}
        for layer in self.layers:
            z, a = layer(z, masks, lengths)
            for m in self.modalities:
                maps[m].append(a[m])
        return z, {m: torch.stack(maps[m], dim=1) for m in self.modalities}

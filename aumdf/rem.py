"""REM — the feature representation enhancement module (paper §3.4, eq. 1-12).

Dimension legend: b - batch, t - frames, c - input width d_m, d - REM width (= model width)

Two BiLSTMs read the same (masked) input:
- heterogeneous unification (eq. 1-6): BiLSTM, then per-sequence normalisation over the sample's
  available frames, (x - mu) / sqrt(sigma^2 + phi) with a learnable phi > 0;
- noise filter (eq. 7-10): BiLSTM -> ReLU(W x + b), a hard gate Z = 1[x >= rho] with a learnable
  threshold rho, and a compensation delta = MLP([mean; std]) of the available frames where the gate is
  closed. The hard gate has no gradient w.r.t. rho, so the backward pass goes through a steep sigmoid
  (straight-through estimator; `gate_sharpness` is its slope).
- balance (eq. 12, "⊗" read as +): alpha * unified + (1 - alpha) * filtered, alpha = sigmoid(a).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from aumdf.masking import masked_mean_var


class BiLSTM(nn.Module):
    """A bidirectional LSTM that never reads past a sample's length (packed sequences)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, out_dim // 2, batch_first=True, bidirectional=True)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x: [b, t, c], lengths: [b] -> [b, t, d]; zeros beyond each length."""
        b, t, _ = x.shape
        # a whole-modality absence still has length >= 1 of zeroed frames; LSTM cannot pack length 0
        lens = lengths.clamp(min=1, max=t).cpu()
        packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        return out


def straight_through_gate(x: Tensor, threshold: Tensor, sharpness: float) -> Tensor:
    """Forward: 1[x >= threshold] (eq. 9). Backward: d/dx and d/dthreshold of sigmoid(sharpness·(x − threshold))."""
    soft = torch.sigmoid(sharpness * (x - threshold))
    hard = (x >= threshold).to(x.dtype)
    return hard + soft - soft.detach()


class REM(nn.Module):
    def __init__(self, in_dim: int, d: int, dropout: float = 0.1, gate_sharpness: float = 10.0, norm_eps: float = 1e-5):
        super().__init__()
        self.unify = BiLSTM(in_dim, d)  # eq. 2
        self.filter = BiLSTM(in_dim, d)  # eq. 7
        self.filter_proj = nn.Linear(d, d)  # W_f, b_f of eq. 8
        self.rho = nn.Parameter(torch.tensor(0.1))  # rho_m of eq. 9; ReLU outputs are >= 0
        self.compensation = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Linear(d, d))  # delta_m of eq. 10
        self.alpha_logit = nn.Parameter(torch.zeros(()))  # alpha_m = sigmoid(.) of eq. 12, starts at 0.5
        self.log_phi = nn.Parameter(torch.tensor(math.log(norm_eps)))  # phi_m of eq. 3, positive via exp
        self.gate_sharpness = gate_sharpness
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        """x: [b, t, c] with unavailable frames already zeroed, mask: [b, t], lengths: [b] -> [b, t, d]."""
        # heterogeneous unification, eq. 2-6
        h = self.unify(x, lengths)
        mu, var = masked_mean_var(h, mask)  # b d
        unified = (h - mu.unsqueeze(1)) / torch.sqrt(var.unsqueeze(1) + self.log_phi.exp())

        # noise filter, eq. 7-10
        f = F.relu(self.filter_proj(self.filter(x, lengths)))  # b t d
        gate = straight_through_gate(f, self.rho, self.gate_sharpness)
        f_mu, f_var = masked_mean_var(f, mask)
        delta = self.compensation(torch.cat([f_mu, torch.sqrt(f_var + 1e-6)], dim=-1))  # b d
        filtered = gate * f + (1.0 - gate) * delta.unsqueeze(1)

        # balance, eq. 12
        alpha = torch.sigmoid(self.alpha_logit)
        out = alpha * unified + (1.0 - alpha) * filtered
        return self.drop(out) * mask.unsqueeze(-1).to(out.dtype)

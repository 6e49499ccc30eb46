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

from aumdf.dropout import Dropout
from aumdf.masking import apply_rows, available_rows, masked_mean_var


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """x: [b, t, c], lengths: [b] (>= 1) -> x with frames 0 .. len-1 of each sample reversed, padding in place."""
    b, t, c = x.shape
    ar = torch.arange(t, device=x.device)[None, :]  # 1 t
    idx = lengths.to(x.device)[:, None] - 1 - ar  # b t
    idx = torch.where(idx >= 0, idx, ar)  # padding frames map to themselves
    return x.gather(1, idx.unsqueeze(-1).expand(b, t, c))


class BiLSTM(nn.Module):
    """A bidirectional LSTM that never reads past a sample's length.

    The two directions run as two unidirectional passes over the padded batch: the forward pass is
    causal, so its outputs before a sample's length never see the padding after it; the backward pass
    reads each sample reversed within its length (`reverse_within_length`), so it starts at the last
    real frame. This gives the packed-sequence result (to float rounding) and is 5-10x faster on a CPU
    in training, where the packed LSTM steps through time with a per-step batch slice and its backward
    pass allocates a zero tensor per step. The weights live in one bidirectional `nn.LSTM`, so the
    state_dict is that of the packed version.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, out_dim // 2, batch_first=True, bidirectional=True)

    def _direction(self, x: Tensor, suffix: str) -> Tensor:
        """One direction of `self.lstm` over x: [b, t, c] -> [b, t, d/2] (the call nn.LSTM makes itself)."""
        lstm = self.lstm
        weights = [getattr(lstm, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h0 = x.new_zeros(1, x.shape[0], lstm.hidden_size)
        out, _, _ = torch._VF.lstm(x, (h0, h0), weights, True, 1, 0.0, self.training, False, True)
        return out

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x: [b, t, c], lengths: [b] -> [b, t, d]; zeros beyond each length."""
        b, t, _ = x.shape
        # a whole-modality absence still has length >= 1 of zeroed frames (as the packed version had)
        lens = lengths.clamp(min=1, max=t).to(x.device)
        fwd = self._direction(x, "")
        bwd = reverse_within_length(self._direction(reverse_within_length(x, lens), "_reverse"), lens)
        inside = (torch.arange(t, device=x.device)[None, :] < lens[:, None]).unsqueeze(-1)  # b t 1
        return torch.cat([fwd, bwd], dim=-1) * inside.to(x.dtype)


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
        self.drop = Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        """x: [b, t, c] with unavailable frames already zeroed, mask: [b, t], lengths: [b] -> [b, t, d]."""
        # heterogeneous unification, eq. 2-6
        h = self.unify(x, lengths)
        mu, var = masked_mean_var(h, mask)  # b d
        unified = (h - mu.unsqueeze(1)) / torch.sqrt(var.unsqueeze(1) + self.log_phi.exp())

        # noise filter, eq. 7-10
        # position-wise on available frames only; the others are zeroed at the end
        f = F.relu(apply_rows(self.filter_proj, self.filter(x, lengths), available_rows(mask)))  # b t d
        gate = straight_through_gate(f, self.rho, self.gate_sharpness)
        f_mu, f_var = masked_mean_var(f, mask)
        delta = self.compensation(torch.cat([f_mu, torch.sqrt(f_var + 1e-6)], dim=-1))  # b d
        filtered = gate * f + (1.0 - gate) * delta.unsqueeze(1)

        # balance, eq. 12
        alpha = torch.sigmoid(self.alpha_logit)
        out = alpha * unified + (1.0 - alpha) * filtered
        return self.drop(out) * mask.unsqueeze(-1).to(out.dtype)

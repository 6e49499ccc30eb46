"""The AUMDF network (paper §3.2-3.8): REM -> RPM -> DWAM -> MMT -> masked GAP -> head.

Teacher and student are two instances of this class with separate parameters (§3.2).

Dimension legend:
    b - batch, t_m - frames of modality m, d_m - its input width, d - model width, c - outputs
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aumdf.config import AUMDFConfig
from aumdf.dropout import Dropout
from aumdf.dwam import DWAM
from aumdf.masking import masked_mean
from aumdf.mmt import MMT, others
from aumdf.rem import REM
from aumdf.rpm import RPM
from aumdf.types import MODALITIES, Batch, ModelOutput


class AUMDF(nn.Module):
    def __init__(
        self,
        *,
        input_dims: tuple[int, int, int],
        d_model: int,
        n_heads: int,
        n_layers: int,
        conv_kernels: tuple[int, int, int],
        time_window: int,
        ffn_mult: int,
        dropout: float,
        head_dropout: float,
        n_outputs: int,
        gate_sharpness: float,
        norm_eps: float,
        use_rem: bool = True,
        use_dwam: bool = True,
        dwam_framewise: bool = True,
    ):
        super().__init__()
        self.modalities = MODALITIES
        dims = dict(zip(MODALITIES, input_dims))
        kernels = dict(zip(MODALITIES, conv_kernels))
        # REM keeps the modality's width when it is switched off (ablation), so RPM reads either
        self.rem = (
            nn.ModuleDict({m: REM(dims[m], d_model, dropout, gate_sharpness, norm_eps) for m in MODALITIES})
            if use_rem else None
        )
        rpm_in = {m: d_model if use_rem else dims[m] for m in MODALITIES}
        self.rpm = nn.ModuleDict({m: RPM(rpm_in[m], d_model, kernels[m]) for m in MODALITIES})
        self.dwam = DWAM(d_model, framewise=dwam_framewise) if use_dwam else None
        self.mmt = MMT(d_model, n_heads, n_layers, time_window, ffn_mult, dropout)
        self.head_drop = Dropout(head_dropout)
        self.head = nn.Linear(3 * d_model, n_outputs)
        self.config: AUMDFConfig | None = None

    @classmethod
    def from_config(cls, cfg: AUMDFConfig) -> "AUMDF":
        model = cls(
            input_dims=cfg.input_dims,
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            n_layers=cfg.n_layers,
            conv_kernels=cfg.conv_kernels,
            time_window=cfg.time_window,
            ffn_mult=cfg.ffn_mult,
            dropout=cfg.dropout,
            head_dropout=cfg.head_dropout,
            n_outputs=cfg.n_classes,
            gate_sharpness=cfg.gate_sharpness,
            norm_eps=cfg.norm_eps,
            use_rem=cfg.use_rem,
            use_dwam=cfg.use_dwam,
            dwam_framewise=cfg.dwam_framewise,
        )
        model.config = cfg
        return model

    def attention_weights(self) -> list[Tensor]:
        """The MMT's W_Q, W_K, W_V (eq. 40)."""
        return self.mmt.attention_weights()

    def forward_features(self, batch: Batch) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
        """-> (H[m]: [b, t_m, d], gates "m>n": [b, t_m, d], attention[m]: [b, l, h, t_m, s])."""
        z = {}
        for m in self.modalities:
            mask = batch.masks[m]
            # unavailable frames are zeroed here, whatever the caller left in them (eq. 23, RPRM)
            x = batch.features[m] * mask.unsqueeze(-1).to(batch.features[m].dtype)
            if self.rem is not None:
                x = self.rem[m](x, mask, batch.lengths[m])
            z[m] = self.rpm[m](x, mask)
        gates: dict[str, Tensor] = {}
        if self.dwam is not None:
            z, gates = self.dwam(z, batch.masks, batch.lengths)
        h, attention = self.mmt(z, batch.masks, batch.lengths)
        return h, gates, attention

    def forward_head(self, h: dict[str, Tensor], masks: dict[str, Tensor]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Masked GAP per modality, concatenated (eq. 33), then the head -> (prediction, fused [b, 3d], reps)."""
        reps = {m: masked_mean(h[m], masks[m]) for m in self.modalities}  # b d each
        fused = torch.cat([reps[m] for m in self.modalities], dim=-1)  # b 3d
        out = self.head(self.head_drop(fused))
        prediction = out.squeeze(-1) if out.shape[-1] == 1 else out
        return prediction, fused, reps

    def forward(self, batch: Batch) -> ModelOutput:
        h, gates, attention = self.forward_features(batch)
        prediction, fused, reps = self.forward_head(h, batch.masks)
        return ModelOutput(
            prediction=prediction,
            fused=fused,
            modality_reps=reps,
            gates=gates,
            attention=attention,
            key_modalities={m: others(m) for m in self.modalities},
            masks=dict(batch.masks),
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

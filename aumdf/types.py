"""Typed inputs and outputs of the model.

Dimension legend:
    b - batch, t - frames of one modality (T_l, T_a, T_v may differ), d_m - input width of modality m,
    d - model width, h - attention heads, l - MMT layers, s - key frames (T_n + T_k of the other two)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from features.spec import MODALITIES  # defined once, on the ground floor; re-exported here


@dataclass
class Batch:
    """A padded batch.

    features[m]: [b, t_m, d_m] float
    masks[m]:    [b, t_m] bool, True where the frame exists and was not dropped
    lengths[m]:  [b] long, the unpadded length (frames beyond it are padding); dropping frames or
                 switching a modality off changes `masks`, never `lengths`
    labels:      [b] float (regression score) or long (class index), or None at inference
    teacher_view: [b] bool, the sample has a complete view for the distillation teacher (a dataset
                 column); None: every sample has one
    """

    features: dict[str, Tensor]
    masks: dict[str, Tensor]
    lengths: dict[str, Tensor]
    labels: Tensor | None = None
    ids: list[str] | None = None
    teacher_view: Tensor | None = None

    def __post_init__(self) -> None:
        for m in MODALITIES:
            if m not in self.features or m not in self.masks or m not in self.lengths:
                raise ValueError(f"Batch needs features, masks and lengths for all of {MODALITIES}; {m!r} is absent")
            x, mask = self.features[m], self.masks[m]
            if x.dim() != 3 or mask.shape != x.shape[:2]:
                raise ValueError(f"{m}: features {tuple(x.shape)} must be [b, t, d] and mask {tuple(mask.shape)} [b, t]")
            if mask.dtype != torch.bool:
                raise ValueError(f"{m}: mask must be bool, got {mask.dtype}")

    @property
    def size(self) -> int:
        return self.features["text"].shape[0]

    @property
    def device(self) -> torch.device:
        return self.features["text"].device

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(
            features={m: v.to(device) for m, v in self.features.items()},
            masks={m: v.to(device) for m, v in self.masks.items()},
            lengths={m: v.to(device) for m, v in self.lengths.items()},
            labels=None if self.labels is None else self.labels.to(device),
            ids=self.ids,
            teacher_view=None if self.teacher_view is None else self.teacher_view.to(device),
        )

    def with_masks(self, masks: dict[str, Tensor]) -> "Batch":
        """Same batch with new availability masks; features of masked frames are zeroed (RPRM)."""
        feats = {m: self.features[m] * masks[m].unsqueeze(-1).to(self.features[m].dtype) for m in MODALITIES}
        return replace(self, features=feats, masks=dict(masks))

    def present(self) -> dict[str, Tensor]:
        """[b] bool per modality: does the sample keep at least one frame of it."""
        return {m: self.masks[m].any(dim=1) for m in MODALITIES}

    @staticmethod
    def from_lengths(features: dict[str, Tensor], lengths: dict[str, Tensor], **kw) -> "Batch":
        """Build masks from lengths (every unpadded frame available)."""
        masks = {}
        for m in MODALITIES:
            t = features[m].shape[1]
            masks[m] = torch.arange(t, device=features[m].device)[None, :] < lengths[m][:, None]
        return Batch(features=features, masks=masks, lengths=lengths, **kw)


@dataclass
class ModelOutput:
    """What one forward pass returns.

    prediction:      [b] regression score, or [b, n_classes] logits
    fused:           [b, 3d] H of eq. 33 (masked GAP of each modality, concatenated text, audio, vision)
    modality_reps:   m -> [b, d] masked mean of H_m (used by CSD)
    gates:           "m>n" -> [b, t_m, d] DWAM gate g_mn of eq. 17-18
    attention:       m -> [b, l, h, t_m, s] MMT attention of query m over the other two modalities'
                     frames, keys ordered as `key_modalities[m]`
    key_modalities:  m -> (n, k), the key modalities in the order their frames appear in attention[m]
    masks:           m -> [b, t_m] bool, the masks the model used
    """

    prediction: Tensor
    fused: Tensor
    modality_reps: dict[str, Tensor]
    gates: dict[str, Tensor]
    attention: dict[str, Tensor]
    key_modalities: dict[str, tuple[str, str]]
    masks: dict[str, Tensor] = field(default_factory=dict)

    def gate_summary(self) -> dict[str, Tensor]:
        """"m>n" -> [b]: mean gate value over m's available frames and the d channels (0 if none)."""
        out = {}
        for key, g in self.gates.items():
            m = key.split(">")[0]
            w = self.masks[m].to(g.dtype).unsqueeze(-1)  # b t 1
            out[key] = (g * w).sum(dim=(1, 2)) / (w.sum(dim=(1, 2)) * g.shape[-1]).clamp(min=1)
        return out

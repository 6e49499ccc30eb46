"""Extracted clips -> a model `Batch` (the one place where ClipFeatures meet the model).

Dimension legend: b - clips, t - frames of one modality (padded), d_m - width of modality m

Each modality is cut to the feature spec's `max_len` (the length the checkpoint was trained with;
0 means no limit) and, by default, padded to it, so a clip has the same shapes as in training. The
model masks padding everywhere (packed LSTMs, masked attention and pooling), so `pad=False` — pad
only to the longest clip — gives the same prediction with less work; the predictor uses that.
A modality the extractor reported missing becomes an all-False mask with length 0: its frames are
zeros the model never reads (RPRM's whole-modality absence, paper §3.3). Masks are built from the
lengths here, never inferred from zero frames.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from aumdf.types import MODALITIES, Batch
from features.spec import FeatureSpec
from features.types import ClipFeatures, FeatureError


def frames_used(clip: ClipFeatures, spec: FeatureSpec) -> dict[str, int]:
    """Frames of each modality that enter the model: all present frames, cut to the spec's max_len."""
    out = {}
    for m in MODALITIES:
        f = clip[m]
        t = 0 if not f.present else int(f.values.shape[0])
        out[m] = min(t, spec[m].max_len) if spec[m].max_len > 0 else t
    return out


def _check(clip: ClipFeatures, spec: FeatureSpec, index: int) -> None:
    for m in MODALITIES:
        f = clip[m]
        v = np.asarray(f.values)
        if v.ndim != 2 or v.shape[1] != spec[m].dim:
            raise FeatureError(
                f"clip {index}: {m} features have shape {tuple(v.shape)}, the checkpoint expects [T, {spec[m].dim}]"
            )
        if f.present and not np.all(np.isfinite(v)):
            raise FeatureError(f"clip {index}: {m} features contain NaN or infinity")


def batch_from_features(
    clips: ClipFeatures | Sequence[ClipFeatures],
    spec: FeatureSpec,
    device: torch.device | str = "cpu",
    ids: list[str] | None = None,
    pad: bool = True,
) -> Batch:
    """One clip or a list of clips -> Batch.

    features[m]: [b, t_m, d_m] with t_m = spec[m].max_len when set and `pad`, else the longest clip (at least 1)
    masks[m]:    [b, t_m] True on the first `frames_used` frames of a present modality
    lengths[m]:  [b] frames used (0 for a missing modality)
    """
    clips = [clips] if isinstance(clips, ClipFeatures) else list(clips)
    if not clips:
        raise ValueError("batch_from_features needs at least one clip")
    for i, c in enumerate(clips):
        _check(c, spec, i)
    used = [frames_used(c, spec) for c in clips]
    feats, lengths = {}, {}
    for m in MODALITIES:
        d = spec[m].dim
        t = spec[m].max_len if pad and spec[m].max_len > 0 else max(1, max(u[m] for u in used))
        x = np.zeros((len(clips), t, d), np.float32)  # b t d
        for i, (c, u) in enumerate(zip(clips, used)):
            if u[m]:
                x[i, : u[m]] = np.asarray(c[m].values, np.float32)[: u[m]]
        feats[m] = torch.from_numpy(x).to(device)
        lengths[m] = torch.tensor([u[m] for u in used], dtype=torch.long, device=device)
    return Batch.from_lengths(feats, lengths, ids=ids)

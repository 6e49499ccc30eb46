"""Small random batches for model tests (aligned: equal lengths; unaligned: text 25, audio 150, vision 100)."""

from __future__ import annotations

import torch

from aumdf.config import AUMDFConfig
from aumdf.types import MODALITIES, Batch

SHAPES = {
    "aligned": {"text": 12, "audio": 12, "vision": 12},
    "unaligned": {"text": 25, "audio": 150, "vision": 100},
}
DIMS = (20, 74, 35)


def tiny_config(**kw) -> AUMDFConfig:
    base = dict(d_model=16, n_heads=2, n_layers=1, dropout=0.0, head_dropout=0.0)
    return AUMDFConfig(input_dims=kw.pop("input_dims", DIMS), **{**base, **kw})


def random_batch(layout: str = "unaligned", b: int = 4, dims=DIMS, seed: int = 0, labels: str = "regression",
                 n_classes: int = 4, scale: float = 1.0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    t = SHAPES[layout]
    feats, lengths = {}, {}
    for m, d in zip(MODALITIES, dims):
        feats[m] = torch.randn(b, t[m], d, generator=g) * scale
        # varied lengths, including a full-length sample and a very short one
        lens = torch.randint(1, t[m] + 1, (b,), generator=g)
        lens[0] = t[m]
        if b > 1:
            lens[1] = 1
        lengths[m] = lens
    if labels == "regression":
        y = torch.empty(b).uniform_(-3, 3, generator=g)
    else:
        y = torch.randint(0, n_classes, (b,), generator=g)
    return Batch.from_lengths(feats, lengths, labels=y)

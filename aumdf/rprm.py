"""RPRM — random frame drop and whole-modality absence (paper §3.3).

Each available frame of each modality is dropped with probability p; dropped frames become zero
vectors and are masked. Switching a modality off (the demo's toggles, the 7 test-time subsets of
Tables 3-5) drops all its frames. All return a new Batch; the input is never modified.

`drop_to_subsets` is our reading of the paper's "random modality missing" for training: frame drop alone
(p <= 0.7) almost never removes a whole modality, yet Tables 3-5 score the student on {l}, {a}, {v}, ...;
so a share of each student batch keeps only one of the seven subsets, drawn uniformly.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import torch

from aumdf.types import MODALITIES, Batch

# the 7 test-time modality subsets of Tables 3-5: {l}, {a}, {v}, {l,a}, {l,v}, {a,v}, {l,a,v}
SUBSETS: tuple[tuple[str, ...], ...] = (
    ("text",), ("audio",), ("vision",),
    ("text", "audio"), ("text", "vision"), ("audio", "vision"),
    ("text", "audio", "vision"),
)
SHORT = {"text": "l", "audio": "a", "vision": "v"}
TRAIN_DROP_RATES: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(8))  # 0.0 ... 0.7


def subset_name(subset: Iterable[str]) -> str:
    """("text", "audio") -> "{l,a}" as in the paper's tables."""
    return "{" + ",".join(SHORT[m] for m in MODALITIES if m in set(subset)) + "}"


def drop_frames(batch: Batch, p: float | Mapping[str, float], generator: torch.Generator | None = None) -> Batch:
    """Drop each available frame with probability p (one rate, or one per modality).

    The draw uses `generator` on the CPU so a seed gives the same frames on every device.
    """
    rates = p if isinstance(p, Mapping) else {m: float(p) for m in MODALITIES}
    masks = {}
    for m in MODALITIES:
        rate = float(rates.get(m, 0.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"drop rate for {m} must be in [0, 1], got {rate}")
        mask = batch.masks[m]
        if rate == 0.0:
            masks[m] = mask
            continue
        keep = torch.rand(mask.shape, generator=generator) >= rate
        masks[m] = mask & keep.to(mask.device)
    return batch.with_masks(masks)


def drop_modalities(batch: Batch, absent: Iterable[str]) -> Batch:
    """Switch whole modalities off for every sample."""
    absent = set(absent)
    unknown = absent - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; choose from {MODALITIES}")
    masks = {m: (torch.zeros_like(batch.masks[m]) if m in absent else batch.masks[m]) for m in MODALITIES}
    return batch.with_masks(masks)


def keep_only(batch: Batch, subset: Iterable[str]) -> Batch:
    """Keep the modalities of `subset`, switch the others off."""
    subset = set(subset)
    return drop_modalities(batch, [m for m in MODALITIES if m not in subset])


def drop_to_subsets(batch: Batch, rate: float, generator: torch.Generator | None = None) -> Batch:
    """Each sample, with probability `rate`, keeps only the modalities of one of the 7 SUBSETS (uniform draw).

    The draw uses `generator` on the CPU; rate 0 returns the batch unchanged and draws nothing, so the random
    stream of a run without whole-modality absence is the one it had before this existed.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"absence rate must be in [0, 1], got {rate}")
    if rate == 0.0:
        return batch
    b = batch.size
    hit = torch.rand(b, generator=generator) < rate  # b
    which = torch.randint(len(SUBSETS), (b,), generator=generator)  # b
    table = torch.tensor([[m in s for m in MODALITIES] for s in SUBSETS])  # 7 3
    keep = table[which] | ~hit[:, None]  # b 3
    keep = keep.to(batch.device)
    return batch.with_masks({m: batch.masks[m] & keep[:, j, None] for j, m in enumerate(MODALITIES)})

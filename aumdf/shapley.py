"""Which modality drove the score: exact Shapley values over the three modalities.

The student is trained on every subset of modalities (RPRM's whole-modality absence, paper §3.3),
so its prediction on each of the 2^3 = 8 subsets is meaningful; the empty subset gives the
model's baseline (the head's answer to three all-masked inputs). With v(S) the prediction on
subset S, the Shapley value of modality i is

    phi_i = sum over S ⊆ N \\ {i} of |S|! (n - |S| - 1)! / n! * (v(S ∪ {i}) - v(S))

and the values add up exactly: sum_i phi_i = v(N) - v(∅) (efficiency). Modalities switched off by
the caller are not players: v(S) is read as v(S ∩ on), so their phi is 0 and the values add up to
the current score minus the baseline. A modality the clip lacks, or whose frames were all dropped,
changes no subset's input, so its phi is 0 as well.

`subset_batch` stacks the 8 subsets of one clip into one batch, so one forward pass gives all of
them. Dimension legend: b - subsets (8), t_m - frames of modality m, d_m - its width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Iterable, Mapping

import torch

from aumdf.rprm import subset_name
from aumdf.types import MODALITIES, Batch

# every subset of MODALITIES; row r of a subset batch keeps modality i when bit i of r is set
ALL_SUBSETS: tuple[frozenset[str], ...] = tuple(
    frozenset(m for i, m in enumerate(MODALITIES) if r >> i & 1) for r in range(2 ** len(MODALITIES))
)


def subset_row(subset: Iterable[str]) -> int:
    """The row of `subset` in a subset batch (its bit mask over MODALITIES)."""
    chosen = set(subset)
    return sum(1 << i for i, m in enumerate(MODALITIES) if m in chosen)


def subset_batch(batch: Batch) -> Batch:
    """A one-clip batch -> the same clip 8 times, row r keeping only the modalities of ALL_SUBSETS[r].

    batch: features[m] [1, t_m, d_m], masks[m] [1, t_m] (frame drop already applied)
    returns features[m] [8, t_m, d_m], masks[m] [8, t_m]; lengths are kept (masks say what is absent)
    """
    if batch.size != 1:
        raise ValueError(f"subset_batch takes one clip, got a batch of {batch.size}")
    n = len(ALL_SUBSETS)
    keep = {m: torch.tensor([m in s for s in ALL_SUBSETS], device=batch.device) for m in MODALITIES}  # b
    masks = {m: batch.masks[m].expand(n, -1) & keep[m][:, None] for m in MODALITIES}  # b t_m
    features = {m: batch.features[m].expand(n, -1, -1) for m in MODALITIES}  # b t_m d_m
    lengths = {m: batch.lengths[m].expand(n) for m in MODALITIES}
    return Batch(features=features, masks=masks, lengths=lengths).with_masks(masks)


def shapley_values(value: Mapping[frozenset[str], float], players: Iterable[str] = MODALITIES) -> dict[str, float]:
    """Exact Shapley value of each player from v on every subset of `players` (v[frozenset()] included)."""
    players = tuple(players)
    n = len(players)
    phi = {}
    for p in players:
        rest = [q for q in players if q != p]
        total = 0.0
        for k in range(n):
            w = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for s in combinations(rest, k):
                total += w * (value[frozenset(s) | {p}] - value[frozenset(s)])
        phi[p] = total
    return phi


@dataclass(frozen=True)
class Contributions:
    """Shapley decomposition of one prediction: score = baseline + sum(phi.values()).

    value:    what is decomposed ("score", or "p(<class>)" for a classification checkpoint)
    baseline: v(∅), the model with every modality absent
    score:    v(on), the prediction with the caller's modalities
    phi:      modality -> its Shapley value (0 for a modality switched off, missing or fully dropped)
    subsets:  "{l,a}"-style name -> v(S ∩ on) for each of the 8 subsets S
    """

    value: str
    baseline: float
    score: float
    phi: dict[str, float]
    subsets: dict[str, float]

    def to_dict(self) -> dict:
        r = lambda x: round(float(x), 6)  # noqa: E731
        return {"value": self.value, "baseline": r(self.baseline), "score": r(self.score),
                "phi": {m: r(v) for m, v in self.phi.items()},
                "subsets": {k: r(v) for k, v in self.subsets.items()}}


def contributions(values: Mapping[frozenset[str], float], on: Iterable[str], name: str = "score") -> Contributions:
    """values: the model's output on each of ALL_SUBSETS; on: the modalities switched on (the players)."""
    on = frozenset(on)
    game = {s: float(values[s & on]) for s in ALL_SUBSETS}
    phi = shapley_values(game, MODALITIES)
    return Contributions(name, game[frozenset()], game[frozenset(MODALITIES)], phi,
                         {subset_name(s): game[s] for s in ALL_SUBSETS})

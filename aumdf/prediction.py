"""What a model run on one clip gives, as typed records: `Prediction` (the score, its labels, the DWAM
gates of §3.6 eq. 17-18, the MMT attention maps of §3.7-3.8 with their time axes, each modality's
`ModalityStatus` and its exact Shapley contribution), and `SubsetRun` (one forward pass over the 8
modality subsets, from which every choice of switched-on modalities is read without running the model).
`aumdf.predictor.Predictor` makes them; the app and `python -m aumdf.predict` show them.

Dimension legend: l - MMT layers, h - heads, t_m - frames of the query modality, s - key frames
(the other two modalities' frames, concatenated in `Prediction.key_modalities[m]` order)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Literal

import numpy as np

from aumdf.metrics import sentiment_class
from aumdf.shapley import Contributions
from aumdf.types import MODALITIES
from features.types import ClipFeatures, FeatureError

BRIEF = ("score", "label", "bin7", "bin7_label", "probabilities")  # the second model's fields beside a result

Which = Literal["student", "teacher"]
State = Literal["present", "switched off", "dropped", "missing"]
ALIASES = {"text": "text", "language": "text", "l": "text", "audio": "audio", "acoustic": "audio", "a": "audio",
           "vision": "vision", "visual": "vision", "video": "vision", "v": "vision"}
SENTIMENT_LABELS = ("negative", "neutral", "positive")  # sentiment_class 0, 1, 2
BIN7_LABELS = {-3: "strongly negative", -2: "negative", -1: "weakly negative", 0: "neutral",
               1: "weakly positive", 2: "positive", 3: "strongly positive"}


class InputError(FeatureError):
    """The clip or the request cannot be analysed (too long, too big, nothing usable, bad option)."""


def parse_modalities(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """"text,audio,visual" (or a list; aliases l/a/v, visual, language...) -> names in MODALITIES order."""
    if spec is None:
        return MODALITIES
    items = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [s for s in items if s]
    unknown = [s for s in items if s not in ALIASES]
    if unknown:
        raise InputError(f"unknown modalities {unknown}: choose from text, audio, visual")
    chosen = {ALIASES[s] for s in items}
    return tuple(m for m in MODALITIES if m in chosen)


def sentiment_label(score: float) -> str:
    """negative / neutral / positive as aumdf.metrics.sentiment_class bins it."""
    return SENTIMENT_LABELS[int(sentiment_class(np.asarray([score]))[0])]


def bin7(score: float) -> int:
    """The Acc-7 class: round(clip(score, -3, 3)), halves to even as aumdf.metrics does."""
    return int(np.round(np.clip(score, -3.0, 3.0)))


def _centres(times: np.ndarray, n: int) -> np.ndarray:
    """[n] centre seconds of the first n frames; frame indices where the extractor gave no time."""
    t = np.asarray(times, np.float64).reshape(-1, 2)[:n]
    c = t.mean(axis=1) if len(t) else np.zeros(0)
    if len(c) < n or not np.all(np.isfinite(c)):
        return np.arange(n, dtype=np.float64)
    return c


@dataclass
class ModalityStatus:
    """Why a modality did or did not reach the model.

    state: present (some frames used), switched off (by the caller), dropped (every frame lost to
    the drop rate), missing (the clip has none; `reason` says why).
    frames: frames the extractor produced; used: after cutting to the checkpoint's max length;
    kept: after switching off and frame drop.
    """

    name: str
    state: State
    reason: str | None
    frames: int
    used: int
    kept: int
    time_unit: str = "s"  # "s" when the axis is in seconds, "frame" when the extractor gave no times

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "frames": self.frames, "used": self.used, "kept": self.kept}


@dataclass(frozen=True)
class SubsetRun:
    """One model's forward pass over the 8 modality subsets of one clip (row r = ALL_SUBSETS[r]).

    outputs:   [8] scores (regression) or [8, c] class probabilities
    gates:     "m>n" -> [8] mean DWAM gate per subset
    attention: m -> [8, l, h, t_m, s], cut to the used frames (as Prediction.attention)
    used:      frames of each modality entering the model; kept: frames left after the drop (if on)
    """

    which: Which
    drop_rate: float
    seed: int
    outputs: np.ndarray
    gates: dict[str, np.ndarray]
    attention: dict[str, np.ndarray]
    key_modalities: dict[str, tuple[str, str]]
    used: dict[str, int]
    kept: dict[str, int]
    seconds: float


@dataclass
class Prediction:
    """One model run on one clip.

    score:       sentiment on [-3, 3] (regression checkpoints), else None
    label:       negative / neutral / positive, or the class name of a classification checkpoint
    bin7:        round(clip(score)) in -3..3 (the Acc-7 class), else None
    probabilities: class name -> probability (classification checkpoints), else None
    gates:       "m>n" -> mean DWAM gate g_mn over m's kept frames and the d channels (eq. 17-18)
    attention:   m -> [l, h, t_m, s] MMT attention of query m (t_m = availability[m].used) over the
                 used frames of key_modalities[m] (s = used_n + used_k), padding cut away
    query_times: m -> [t_m] frame centres (seconds, or indices when the extractor gave no times)
    key_times:   m -> [s] the same for the key frames, in key order
    contributions: exact Shapley value of each modality (score = baseline + sum of phi), from the
                 same forward pass; None only when the caller asked for none
    transcript:  the words the text modality was built from (typed or recognised), or None
    """

    which: Which
    score: float | None
    label: str
    bin7: int | None
    probabilities: dict[str, float] | None
    gates: dict[str, float]
    attention: dict[str, np.ndarray]
    key_modalities: dict[str, tuple[str, str]]
    query_times: dict[str, np.ndarray]
    key_times: dict[str, np.ndarray]
    availability: dict[str, ModalityStatus]
    modalities: tuple[str, ...]
    drop_rate: float
    seed: int
    contributions: Contributions | None = None
    transcript: str | None = None
    seconds: float = 0.0

    @property
    def bin7_label(self) -> str | None:
        return None if self.bin7 is None else BIN7_LABELS[self.bin7]

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        """JSON-friendly summary; attention as shapes unless `arrays` (then as nested lists)."""
        d: dict[str, Any] = {
            "which": self.which,
            "score": self.score,
            "label": self.label,
            "bin7": self.bin7,
            "bin7_label": self.bin7_label,
            "probabilities": self.probabilities,
            "gates": {k: round(v, 6) for k, v in self.gates.items()},
            "attention_shapes": {m: list(a.shape) for m, a in self.attention.items()},
            "attention_keys": {m: list(k) for m, k in self.key_modalities.items()},
            "availability": {m: s.to_dict() for m, s in self.availability.items()},
            "modalities": list(self.modalities),
            "drop_rate": self.drop_rate,
            "seed": self.seed,
            "contributions": None if self.contributions is None else self.contributions.to_dict(),
            "transcript": self.transcript,
            "seconds": round(self.seconds, 6),
        }
        if arrays:
            d["attention"] = {m: a.round(5).tolist() for m, a in self.attention.items()}
            d["query_times"] = {m: t.round(4).tolist() for m, t in self.query_times.items()}
            d["key_times"] = {m: t.round(4).tolist() for m, t in self.key_times.items()}
        return d


def availability(clip: ClipFeatures, on: tuple[str, ...], used: dict[str, int], kept: dict[str, int],
                  drop_rate: float, seed: int) -> dict[str, ModalityStatus]:
    """Why each modality did or did not reach the model."""
    status = {}
    for m in MODALITIES:
        f = clip[m]
        frames = 0 if not f.present else int(f.values.shape[0])
        if not f.present:
            st, reason = "missing", f.missing_reason
        elif m not in on:
            st, reason = "switched off", "switched off by the user"
        elif kept[m] == 0:
            st, reason = "dropped", f"every frame was dropped (drop rate {drop_rate:g}, seed {seed})"
        else:
            st, reason = "present", None
            if used[m] < frames:
                reason = f"first {used[m]} of {frames} frames used (the checkpoint's maximum length)"
            elif f.extras.pooled_from:
                reason = (f"{frames} frames averaged from {f.extras.pooled_from} "
                          "(the checkpoint's maximum length)")
        times_ok = used[m] > 0 and np.all(np.isfinite(np.asarray(f.times)[: used[m]]))
        unit = "s" if times_ok or not used[m] else "frame"
        status[m] = ModalityStatus(m, st, reason, frames, used[m], kept[m], unit)
    return status


def time_axes(clip: ClipFeatures, key_modalities: dict[str, tuple[str, str]], used: dict[str, int]):
    """m -> [t_m] query frame centres, and m -> [s] key frame centres in key order."""
    q_times, k_times = {}, {}
    for m in MODALITIES:
        n, k = key_modalities[m]
        q_times[m] = _centres(clip[m].times, used[m])
        k_times[m] = np.concatenate([_centres(clip[n].times, used[n]), _centres(clip[k].times, used[k])])
    return q_times, k_times

"""What the extractors return: per modality either frames with timestamps, or a reason it is missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.spec import MODALITIES


class FeatureError(Exception):
    """Base class of every error the extractors raise on bad input (documented, user-facing)."""


class DecodeError(FeatureError):
    """A file could not be read as audio or video (empty, truncated, wrong type, ...)."""


class SpecMismatchError(FeatureError):
    """The extractors built here do not produce the features a checkpoint or feature file expects.

    diff: one line per difference (``"vision.settings.weights: expected 'a', offered 'b'"``).
    """

    def __init__(self, diff: list[str], hint: str = "") -> None:
        self.diff = list(diff)
        msg = "the extractors differ from the expected feature specification:\n  " + "\n  ".join(self.diff)
        super().__init__(msg + (f"\n{hint}" if hint else ""))


@dataclass
class ModalityFeatures:
    """One modality of one clip.

    values: [T, d] float32 frames (T may be 0 only when missing)
    times:  [T, 2] float32 start/end seconds of each frame
    missing_reason: None when present, else why the clip has no usable frames of this modality
    extras: what the extractor saw, for display (tokens, OOV words, F0 track, face crops, ...)
    """

    name: str
    values: np.ndarray
    times: np.ndarray
    missing_reason: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # time the extractor took

    @property
    def present(self) -> bool:
        return self.missing_reason is None

    @classmethod
    def missing(cls, name: str, dim: int, reason: str, **extras: Any) -> "ModalityFeatures":
        return cls(
            name=name,
            values=np.zeros((0, dim), np.float32),
            times=np.zeros((0, 2), np.float32),
            missing_reason=reason,
            extras=dict(extras),
        )


@dataclass
class ClipFeatures:
    """All three modalities of one clip, plus clip-level facts (duration, path, transcript)."""

    text: ModalityFeatures
    audio: ModalityFeatures
    vision: ModalityFeatures
    duration: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ModalityFeatures:
        if name not in MODALITIES:
            raise KeyError(name)
        return getattr(self, name)

    def items(self):
        return [(m, getattr(self, m)) for m in MODALITIES]

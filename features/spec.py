"""What a model expects from the extractors: one `ModalitySpec` per modality.

A checkpoint stores the `FeatureSpec` it was trained on; the predictor compares it with the spec
of the extractors it is about to run and refuses to combine the two when they differ
(`FeatureSpec.diff` says exactly how).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

MODALITIES: tuple[str, str, str] = ("text", "audio", "vision")
Layout = Literal["aligned", "unaligned"]


@dataclass(frozen=True)
class ModalitySpec:
    """One modality's input: `dim` features per frame, at most `max_len` frames.

    `extractor` names the extractor (e.g. ``"glove"``), `settings` its parameters that change the
    numbers it produces (vector file, sample rate, frame rate, ...). Two specs are compatible only
    when every field is equal.
    """

    name: str
    dim: int
    layout: Layout = "unaligned"
    max_len: int = 0
    extractor: str = "unknown"
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in MODALITIES:
            raise ValueError(f"modality name must be one of {MODALITIES}, got {self.name!r}")
        if self.dim <= 0:
            raise ValueError(f"{self.name}: feature dimension must be positive, got {self.dim}")
        if self.layout not in ("aligned", "unaligned"):
            raise ValueError(f"{self.name}: layout must be 'aligned' or 'unaligned', got {self.layout!r}")
        # frozen dataclass: normalise settings into a plain, JSON-friendly dict once
        object.__setattr__(self, "settings", json.loads(json.dumps(dict(self.settings), sort_keys=True)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dim": self.dim,
            "layout": self.layout,
            "max_len": self.max_len,
            "extractor": self.extractor,
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModalitySpec":
        return cls(
            name=d["name"],
            dim=int(d["dim"]),
            layout=d.get("layout", "unaligned"),
            max_len=int(d.get("max_len", 0)),
            extractor=d.get("extractor", "unknown"),
            settings=d.get("settings", {}),
        )

    def diff(self, other: "ModalitySpec") -> list[str]:
        """Human-readable differences, e.g. ``"audio.dim: checkpoint 74, offered 40"``."""
        out = []
        for key in ("dim", "layout", "max_len", "extractor"):
            a, b = getattr(self, key), getattr(other, key)
            if a != b:
                out.append(f"{self.name}.{key}: expected {a!r}, offered {b!r}")
        keys = sorted(set(self.settings) | set(other.settings))
        for k in keys:
            a, b = self.settings.get(k, "<absent>"), other.settings.get(k, "<absent>")
            if a != b:
                out.append(f"{self.name}.settings.{k}: expected {a!r}, offered {b!r}")
        return out


@dataclass(frozen=True)
class FeatureSpec:
    """The three modalities' specs, always in the order text, audio, vision."""

    text: ModalitySpec
    audio: ModalitySpec
    vision: ModalitySpec

    def __post_init__(self) -> None:
        for m in MODALITIES:
            if getattr(self, m).name != m:
                raise ValueError(f"FeatureSpec.{m} holds a spec named {getattr(self, m).name!r}")

    def __getitem__(self, name: str) -> ModalitySpec:
        if name not in MODALITIES:
            raise KeyError(name)
        return getattr(self, name)

    @property
    def dims(self) -> tuple[int, int, int]:
        return (self.text.dim, self.audio.dim, self.vision.dim)

    @property
    def max_lens(self) -> tuple[int, int, int]:
        return (self.text.max_len, self.audio.max_len, self.vision.max_len)

    def to_dict(self) -> dict[str, Any]:
        return {m: getattr(self, m).to_dict() for m in MODALITIES}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FeatureSpec":
        missing = [m for m in MODALITIES if m not in d]
        if missing:
            raise ValueError(f"feature specification lacks modalities {missing}")
        return cls(**{m: ModalitySpec.from_dict(d[m]) for m in MODALITIES})

    def diff(self, other: "FeatureSpec") -> list[str]:
        """Every difference between this (expected) spec and `other` (offered); empty if equal."""
        return [line for m in MODALITIES for line in self[m].diff(other[m])]

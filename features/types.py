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


@dataclass(frozen=True)
class Word:
    """One spoken or written word; start/end in seconds (NaN when unknown), prob from the recogniser."""

    text: str
    start: float = float("nan")
    end: float = float("nan")
    prob: float = 1.0


@dataclass
class LayoutExtras:
    """How the pipeline shortened or aligned a modality (shared by the three extras classes).

    pooled_from / truncated_from: frame count before pooling / cutting to max_len (None: untouched);
    alignment: "words", or why there was no word axis; frames_per_word [W] (0: nearest frame used),
    nearest_gap_s [W] seconds to that nearest frame, unaligned_len: frame count before alignment.
    """

    pooled_from: int | None = None
    truncated_from: int | None = None
    alignment: str | None = None
    frames_per_word: np.ndarray | None = None
    nearest_gap_s: np.ndarray | None = None
    unaligned_len: int | None = None


@dataclass
class TextExtras(LayoutExtras):
    """What the text extractor saw: tokens (PTB-style), out-of-vocabulary tokens, where times came from
    ("recogniser", "given", "aligned to the recogniser", "spread over voiced span", "none") and where the
    words came from ("transcript" or "recogniser")."""

    tokens: list[str] = field(default_factory=list)
    oov: list[str] = field(default_factory=list)
    timing: str = "none"
    source: str = ""

    @property
    def oov_count(self) -> int:
        return len(self.oov)


@dataclass
class AudioExtras(LayoutExtras):
    """Per 10-ms frame tracks [T] (f0 in Hz, NaN when unvoiced), the clip's peak level, column names."""

    f0: np.ndarray | None = None
    voiced_prob: np.ndarray | None = None
    voiced: np.ndarray | None = None
    active: np.ndarray | None = None
    frame_times: np.ndarray | None = None
    peak_dbfs: float | None = None
    feature_names: list[str] = field(default_factory=list)


@dataclass
class VisionExtras(LayoutExtras):
    """The tracked face per kept frame f: small crops (uint8 [64, 64, 3]) for display, detection
    probabilities [f], boxes [f, 4], landmarks [f, 5, 2], times [f]; n_frames sampled, face_fraction kept."""

    crops: list[np.ndarray] = field(default_factory=list)
    probs: np.ndarray | None = None
    boxes: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    frame_times: np.ndarray | None = None
    n_frames: int = 0
    face_fraction: float = 0.0


Extras = TextExtras | AudioExtras | VisionExtras
_EXTRAS: dict[str, type] = {"text": TextExtras, "audio": AudioExtras, "vision": VisionExtras}


@dataclass
class ModalityFeatures:
    """One modality of one clip.

    values: [T, d] float32 frames (T may be 0 only when missing)
    times:  [T, 2] float32 start/end seconds of each frame
    missing_reason: None when present, else why the clip has no usable frames of this modality
    extras: what the extractor saw, for display (TextExtras / AudioExtras / VisionExtras by `name`)
    """

    name: str
    values: np.ndarray
    times: np.ndarray
    missing_reason: str | None = None
    extras: Extras | None = None  # None -> the empty extras of this modality
    seconds: float = 0.0  # time the extractor took

    def __post_init__(self) -> None:
        if self.extras is None:
            self.extras = _EXTRAS[self.name]()

    @property
    def present(self) -> bool:
        return self.missing_reason is None

    @classmethod
    def missing(cls, name: str, dim: int, reason: str, extras: Extras | None = None) -> "ModalityFeatures":
        return cls(
            name=name,
            values=np.zeros((0, dim), np.float32),
            times=np.zeros((0, 2), np.float32),
            missing_reason=reason,
            extras=extras,
        )


@dataclass
class Recognition:
    """What the speech recogniser heard in a clip.

    text: the words joined ("" when none); words: with times in seconds; language: detected code
    ("en", ...) and its probability; reason: why no words were kept (None when some were), e.g.
    "no speech found: the voice-activity filter found no speech"; model: which recogniser ran.
    """

    text: str = ""
    words: list[Word] = field(default_factory=list)
    language: str | None = None
    language_prob: float | None = None
    reason: str | None = None
    model: str = ""
    seconds: float = 0.0


@dataclass
class EncoderStates:
    """Speech-recogniser encoder output over a clip: values [T, d] float32, times [T, 2] seconds
    (d = 512 for Whisper base)."""

    values: np.ndarray
    times: np.ndarray
    model: str


@dataclass
class ClipInfo:
    """Clip-level facts: the file, its streams, timings (s), decoder warnings and the words' source.

    transcript: the user's transcript (None when none was given); recognition: what the recogniser
    heard (None when it did not run); encoder_states: the recogniser's encoder output from that pass (only
    when the extractor keeps it); aligned_words: whether a given transcript got times from the
    recognised words.
    """

    layout: str = "unaligned"
    path: str | None = None
    probe: Any = None  # features.decode.MediaInfo when decoded from a file
    transcript: str | None = None
    recognition: Recognition | None = None
    encoder_states: EncoderStates | None = None
    aligned_words: bool | None = None
    decode_seconds: dict[str, float] = field(default_factory=dict)
    recognise_seconds: float | None = None
    align_seconds: float | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass
class ClipFeatures:
    """All three modalities of one clip, plus clip-level facts (duration, path, transcript)."""

    text: ModalityFeatures
    audio: ModalityFeatures
    vision: ModalityFeatures
    duration: float = 0.0
    info: ClipInfo = field(default_factory=ClipInfo)

    @property
    def transcript(self) -> str | None:
        """The words the text modality used: the user's transcript, else the recognised text (None if neither)."""
        if self.info.transcript is not None:
            return self.info.transcript
        rec = self.info.recognition
        return rec.text if rec is not None and rec.text else None

    def __getitem__(self, name: str) -> ModalityFeatures:
        if name not in MODALITIES:
            raise KeyError(name)
        return getattr(self, name)

    def items(self):
        return [(m, getattr(self, m)) for m in MODALITIES]

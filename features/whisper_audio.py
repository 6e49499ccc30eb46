"""Whisper base's encoder states as the audio modality: the learnt acoustic representation chosen
for the demo on validation (docs/demo_corpus.md, "Linear probes": 87.7 macro-F1 against 72.2 for the
74-d COVAREP-style frames on held-out RAVDESS actors). The 74-d extractor (features.audio) stays for
MOSI-format data.

Dimension legend: T - frames at 50 Hz (one per 20 ms, Whisper's encoder rate), d - 512 (Whisper base).

The states come from Whisper base (features.asr, weights verified by digest), whatever model
$AUMDF_ASR_MODEL gives the speech recogniser: the spec names the model and its revision, so a checkpoint
trained on these states refuses any other encoder. Another faster-whisper folder can be given explicitly
(`model_dir`); the spec then records its folder name, its model.bin's SHA-256 and its encoder width, so a
checkpoint trained on it refuses Whisper base and any other file. Extras carry the same per-frame tracks as
the 74-d extractor (voicing from `features.audio.track_pitch`, activity, frame times), at 50 Hz, so the
pipeline can spread words over the voiced span either way.
"""

from __future__ import annotations

import time
from functools import cached_property
from pathlib import Path

import numpy as np

from features.audio import prepare_samples, track_pitch, unusable_reason
from features.types import AudioExtras, FeatureError, ModalityFeatures

WHISPER_AUDIO_EXTRACTOR = "whisper-base-encoder"


class WhisperAudioExtractor:
    """Audio -> [T, d] Whisper encoder states at 50 Hz over the clip's own length (d = 512 for Whisper base).

    model_dir: another faster-whisper model folder (None: Whisper base, verified by digest);
    silence_dbfs: a clip whose peak stays below this is silent (audio missing), as for the 74-d frames.
    """

    name = "audio"
    extractor = WHISPER_AUDIO_EXTRACTOR
    sr = 16000
    hop = 320  # samples per state at 16 kHz
    BASE_DIM = 512

    def __init__(self, model_dir: str | Path | None = None, silence_dbfs: float = -50.0, version: int = 1) -> None:
        if version != 1:
            raise ValueError(f"{WHISPER_AUDIO_EXTRACTOR} has version 1 only, got {version}")
        self.model_dir = None if model_dir is None else Path(model_dir).expanduser()
        if self.model_dir is not None and not (self.model_dir / "model.bin").is_file():
            raise FeatureError(f"{self.model_dir} is not a faster-whisper model folder (no model.bin)")
        self.silence_dbfs, self.version = silence_dbfs, version

    @cached_property
    def dim(self) -> int:
        """The encoder's width: 512 for Whisper base; another model's, read from one second of silence."""
        if self.model_dir is None:
            return self.BASE_DIM
        return int(np.asarray(self._recogniser().encode(np.zeros(self.sr, np.float32), self.sr).values).shape[1])

    @cached_property
    def _model_sha256(self) -> str:
        from features.asr import sha256_file

        return sha256_file(self.model_dir / "model.bin")

    @property
    def feature_names(self) -> list[str]:
        return [f"whisper_enc_{i}" for i in range(self.dim)]

    @property
    def spec_settings(self) -> dict:
        from features.asr import WHISPER_BASE, WHISPER_BASE_REVISION

        model = ({"model": WHISPER_BASE, "revision": WHISPER_BASE_REVISION} if self.model_dir is None
                 else {"model": self.model_dir.name, "model_sha256": self._model_sha256})
        return {"version": self.version, "sr": self.sr, "frame_rate_hz": self.sr / self.hop, **model}

    def _recogniser(self):
        """The shared recogniser of this extractor's model, named by its folder, so the features never follow
        $AUMDF_ASR_MODEL (the speech recogniser's choice)."""
        from features.asr import shared_recogniser, whisper_base_dir

        return shared_recogniser(self.model_dir or whisper_base_dir())

    def extract(self, samples: np.ndarray, sr: int) -> ModalityFeatures:
        """samples: [S] (or [S, C], PCM integers) at any rate -> values [T, d], times [T, 2] seconds."""
        t_start = time.perf_counter()
        y = prepare_samples(samples, sr, self.sr)
        unusable, peak_db = unusable_reason(y, self.sr, self.silence_dbfs)
        if unusable:
            return ModalityFeatures.missing(self.name, self.dim, unusable, AudioExtras(peak_dbfs=peak_db))
        states = self._recogniser().encode(y, self.sr, hop_s=self.hop / self.sr)
        values = np.nan_to_num(np.asarray(states.values, np.float32))  # [T, d]
        T = len(values)
        f0, voiced, vprob = _fit(track_pitch(y, self.sr, self.hop, 60.0, 500.0), T)
        energy = _fit((np.convolve(y.astype(np.float64) ** 2, np.ones(self.hop), "same")[:: self.hop],), T)[0]
        centres = (np.arange(T) + 0.5) * self.hop / self.sr
        out = ModalityFeatures(
            name=self.name, values=values, times=np.asarray(states.times, np.float32),
            extras=AudioExtras(
                f0=np.where(voiced, f0, np.nan).astype(np.float32), voiced_prob=vprob.astype(np.float32),
                voiced=voiced, active=10 * np.log10(energy / (energy.max() + 1e-20) + 1e-12) > -30,
                frame_times=centres.astype(np.float32), peak_dbfs=peak_db, feature_names=self.feature_names,
            ),
        )
        out.seconds = time.perf_counter() - t_start
        return out


def _fit(tracks: tuple[np.ndarray, ...], T: int) -> tuple[np.ndarray, ...]:
    """Cut or edge-pad each [T'] track to T frames (the tracker and the encoder round the end apart)."""
    return tuple(t[:T] if len(t) >= T else np.pad(t, (0, T - len(t)), mode="edge") for t in tracks)

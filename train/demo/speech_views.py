"""Augmented renderings ("views") of a speech recording, for the demo corpus's training clips.

RAVDESS is one studio, one microphone, and every clip opens with about a second of near-silence. A
model trained on it alone learns that recording format along with the voice: cutting the lead
silence of a held-out happy clip turns its score negative, and real recordings from elsewhere
(another room, a phone, an old broadcast) all land on the same strongly negative score. A view
re-records the same delivery under another format, so what stays constant across views is the
voice itself:

1. the silence around the speech: a random amount (0 … `lead_s` / `trail_s` seconds) before and
   after the speech span, taken from the recording where it has it, digital silence beyond that;
2. a room: with probability `reverb_p`, convolution with an exponentially decaying noise tail
   (RT60 drawn from `rt60_s`), loudness kept;
3. a microphone or channel: with probability `lowpass_p`, a 4th-order Butterworth low-pass at a
   cut-off drawn from `lowpass_hz`;
4. a level: the peak set to a level drawn from `peak_dbfs` (RAVDESS clips peak at about −33 … −5 dBFS;
   broadcast and video speech is often normalised to near 0 dBFS);
5. background noise: with probability `noise_p`, white, pink or brown noise at an SNR drawn from
   `snr_db`, relative to the speech span's power.

Every draw comes from the generator passed in, so a view is reproducible from its seed. Nothing here
changes the words or the emotion: pitch, tempo and timing within the speech are left as spoken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ViewSettings:
    """Ranges the views are drawn from (uniform; dB and Hz as named)."""

    lead_s: tuple[float, float] = (0.0, 1.2)
    trail_s: tuple[float, float] = (0.0, 1.2)
    reverb_p: float = 0.5
    rt60_s: tuple[float, float] = (0.15, 0.8)
    lowpass_p: float = 0.3
    lowpass_hz: tuple[float, float] = (2500.0, 7000.0)
    peak_dbfs: tuple[float, float] = (-30.0, -0.5)
    noise_p: float = 0.8
    snr_db: tuple[float, float] = (5.0, 35.0)

    def __post_init__(self) -> None:
        for name in ("reverb_p", "lowpass_p", "noise_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("lead_s", "trail_s", "rt60_s", "lowpass_hz", "peak_dbfs", "snr_db"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name} must be (low, high) with low <= high, got {(lo, hi)}")
        if self.lead_s[0] < 0 or self.trail_s[0] < 0 or self.rt60_s[0] <= 0 or self.peak_dbfs[1] > 0:
            raise ValueError("lead_s and trail_s must be >= 0, rt60_s > 0 and peak_dbfs <= 0")


def speech_span(y: np.ndarray, sr: int, floor_db: float = 35.0, frame_s: float = 0.02) -> tuple[int, int]:
    """(start, end) sample indices of the speech: from the first to the last 20 ms frame whose RMS is
    within `floor_db` of the loudest frame. A silent signal gives the whole signal."""
    n = max(1, int(round(frame_s * sr)))
    frames = len(y) // n
    if frames == 0:
        return 0, len(y)
    rms = np.sqrt(np.mean(np.square(y[: frames * n].reshape(frames, n), dtype=np.float64), axis=1))
    top = rms.max()
    if top <= 0:
        return 0, len(y)
    loud = np.flatnonzero(rms >= top * 10 ** (-floor_db / 20))
    return int(loud[0] * n), int(min(len(y), (loud[-1] + 1) * n))


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise whose power falls as 1/f**exponent (0 white, 1 pink, 2 brown) down to 1/1000 of the
    sample rate (16 Hz at 16 kHz) and is flat below, so that its level is steady over a second."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n), 1e-3)
    out = np.fft.irfft(spec / f ** (exponent / 2), n)
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0


def _reframe(y: np.ndarray, sr: int, s: ViewSettings, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """Step 1: new lead and trail around the speech span -> (signal, span start, span end)."""
    start, end = speech_span(y, sr)
    lead, trail = (int(rng.uniform(*r) * sr) for r in (s.lead_s, s.trail_s))
    kept_lead, kept_trail = min(lead, start), min(trail, len(y) - end)
    out = np.concatenate([np.zeros(lead - kept_lead, np.float32), y[start - kept_lead : end + kept_trail],
                          np.zeros(trail - kept_trail, np.float32)])
    return out, lead, lead + (end - start)


def _reverb(y: np.ndarray, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.signal import fftconvolve

    t = np.arange(int(rt60 * sr)) / sr
    ir = rng.standard_normal(len(t)) * np.exp(-6.9078 * t / rt60)  # -60 dB at rt60
    ir[0] = 0.0
    ir = ir / (np.sqrt(np.sum(ir**2)) + 1e-12)
    ir[0] = 1.0  # the direct path, as loud as the whole tail
    wet = fftconvolve(y, ir)[: len(y)]
    return wet * (_rms(y) / (_rms(wet) + 1e-12))


def _lowpass(y: np.ndarray, sr: int, cutoff: float) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    cutoff = min(cutoff, 0.45 * sr)
    return sosfilt(butter(4, cutoff, btype="low", fs=sr, output="sos"), y)


def render_view(y: np.ndarray, sr: int, rng: np.random.Generator, settings: ViewSettings = ViewSettings()
                ) -> np.ndarray:
    """One augmented rendering of mono speech y ([S] float in [-1, 1]) -> float32 [S'] in [-1, 1]."""
    y = np.asarray(y, np.float32)
    if y.ndim != 1:
        raise ValueError(f"render_view takes mono samples [S], got shape {y.shape}")
    s = settings
    out, a, b = _reframe(y, sr, s, rng)
    out = out.astype(np.float64)
    if rng.random() < s.reverb_p:
        out = _reverb(out, sr, rng.uniform(*s.rt60_s), rng)
    if rng.random() < s.lowpass_p:
        out = _lowpass(out, sr, rng.uniform(*s.lowpass_hz))
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    target = 10 ** (rng.uniform(*s.peak_dbfs) / 20)
    if peak > 0:
        out = out * (target / peak)
    if rng.random() < s.noise_p and len(out):
        speech = _rms(out[a:b]) or _rms(out)
        noise = coloured_noise(len(out), float(rng.choice([0.0, 1.0, 2.0])), rng)
        out = out + noise * speech * 10 ** (-rng.uniform(*s.snr_db) / 20)
    return np.clip(out, -1.0, 1.0).astype(np.float32)

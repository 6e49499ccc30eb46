"""COVAREP-style acoustic frames at 100 Hz computed with librosa (paper §4.2.1: 74-d COVAREP features).

COVAREP (Degottex et al., 2014) is MATLAB; the paper's datasets ship its 74 features per 10 ms frame.
This module computes the same 74 slots in the same order, each either exactly the same kind of
quantity (F0, voicing, mel-cepstrum) or a documented approximation (glottal-source, spectral-tilt
and harmonic-phase parameters). `docs/features.md` names every dimension and says how each differs
from COVAREP's; the names are also in `AUDIO_FEATURE_NAMES`.

Dimension legend (per frame, T frames at 100 Hz):
    0 F0 (Hz, 0 when unvoiced)   1 VUV   2 NAQ   3 QOQ   4 H1H2 (dB)   5 PSP   6 MDQ   7 peakSlope
    8 Rd   9 Rd_conf   10 creak   11..11+M-1 MCEP_0..M-1   then HMPDM_0..24, HMPDD_0..12
"""

from __future__ import annotations

import time

import numpy as np

from features.types import AudioExtras, FeatureError, ModalityFeatures

N_HMPDM = 25
N_HMPDD = 13
SCALAR_NAMES = ("F0", "VUV", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "peakSlope", "Rd", "Rd_conf", "creak")


def audio_feature_names(n_mcep: int = 25) -> list[str]:
    return (
        list(SCALAR_NAMES)
        + [f"MCEP_{i}" for i in range(n_mcep)]
        + [f"HMPDM_{i}" for i in range(N_HMPDM)]
        + [f"HMPDD_{i}" for i in range(N_HMPDD)]
    )


AUDIO_FEATURE_NAMES = audio_feature_names()
assert len(AUDIO_FEATURE_NAMES) == 74


def _wrap(x: np.ndarray) -> np.ndarray:
    return (x + np.pi) % (2 * np.pi) - np.pi


def _lstsq_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares slope of y [T, K] against x [K] with weights w [T, K] (0 = ignore)."""
    sw = w.sum(1) + 1e-9
    mx = (w * x).sum(1) / sw
    my = (w * y).sum(1) / sw
    cov = (w * (x - mx[:, None]) * (y - my[:, None])).sum(1)
    var = (w * (x - mx[:, None]) ** 2).sum(1) + 1e-9
    return np.where(w.sum(1) >= 2, cov / var, 0.0)


# ----------------------------------------------------------------------------- pitch tracker, version 2
PITCH_TRACKERS: dict[int, str] = {1: "pyin", 2: "yin-bandpass"}
YIN_BAND_HZ = (50.0, 1000.0)  # F0 and its first harmonics; noise and fricatives above it blur the periodicity
YIN_WINDOW_S = 0.025  # integration window of the difference function
YIN_THRESHOLD = 0.2  # absolute threshold of YIN's step 4 (first dip under it, de Cheveigne & Kawahara 2002)
VOICING_MAX_APERIODICITY = 0.45  # noisy real speech (CREMA-D) sits at 0.3-0.45, white noise above 0.7
VOICING_MIN_DB = -25.0  # frame energy re the loudest frame
MAX_PERIOD_JUMP = 0.15  # octaves per 10 ms (~1.8 semitones): faster is not one voice
MIN_VOICED_RUN = 3  # frames: isolated dips of noise go, the short voiced stretches of noisy speech stay
OCTAVE_SLACK = 0.15  # an octave-corrected candidate may be this much less periodic than the first pick


def cmndf(y: np.ndarray, sr: int, hop: int, fmin: float, fmax: float) -> tuple[np.ndarray, int]:
    """YIN's cumulative mean normalised difference d'(tau) per frame (de Cheveigne & Kawahara 2002, eq. 8).

    y: [S]. Returns (d' [T, tau_max + 1] with d'(0) = 1, tau_min); T = 1 + S // hop, frame k centred
    near sample k * hop. Differences are computed through one FFT cross-correlation per frame.
    """
    tmin, tmax = int(np.floor(sr / fmax)), int(np.ceil(sr / fmin))
    w = max(int(YIN_WINDOW_S * sr), tmax + 1)
    L = w + tmax + 1
    T = 1 + len(y) // hop
    pad = np.pad(y.astype(np.float64), (L // 2, L // 2 + L + hop))
    frames = pad[np.arange(T)[:, None] * hop + np.arange(L)[None]]  # [T, L]
    n = 1 << int(np.ceil(np.log2(2 * L)))
    spec = np.conj(np.fft.rfft(frames[:, :w], n)) * np.fft.rfft(frames, n)
    r = np.fft.irfft(spec, n)[:, : tmax + 1]  # r(tau) = sum_j x_j x_{j+tau}, j < w
    c = np.concatenate([np.zeros((T, 1)), np.cumsum(frames**2, 1)], 1)
    e_tau = c[:, w : w + tmax + 1] - c[:, : tmax + 1]  # energy of the lagged window
    d = np.maximum(c[:, w : w + 1] + e_tau - 2 * r, 0.0)  # eq. 7 via energies and correlation
    out = np.ones_like(d)
    tau = np.arange(1, tmax + 1)
    out[:, 1:] = d[:, 1:] * tau / np.maximum(np.cumsum(d[:, 1:], 1), 1e-12)
    return out, tmin


def track_pitch(y: np.ndarray, sr: int, hop: int, fmin: float, fmax: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F0 [T] (Hz), voiced [T] bool and periodicity [T] (1 - aperiodicity, in [0, 1]) of y [S].

    YIN on the signal band-passed to YIN_BAND_HZ; the period is the first local dip of d' under
    max(YIN_THRESHOLD, the frame's minimum + 0.1), refined by a parabola. A frame is voiced when its
    aperiodicity is below VOICING_MAX_APERIODICITY and its energy within VOICING_MIN_DB of the loudest
    frame, smoothed by a 5-frame median; fewer than 3 voiced frames count as none. Octave jumps (a
    voiced frame more than half an octave from the clip's median period whose double or half period
    is almost as periodic) are folded back towards the median. Finally only runs of continuous pitch
    (`_continuous_runs`) stay voiced.
    """
    import scipy.signal

    sos = scipy.signal.butter(4, YIN_BAND_HZ, "bandpass", fs=sr, output="sos")
    band = scipy.signal.sosfiltfilt(sos, y.astype(np.float64))
    d, tmin = cmndf(band, sr, hop, fmin, fmax)
    seg = d[:, tmin:]  # [T, K] lags tmin..tmax
    T, K = seg.shape
    dip = np.zeros_like(seg, bool)
    dip[:, 1:-1] = (seg[:, 1:-1] <= seg[:, :-2]) & (seg[:, 1:-1] <= seg[:, 2:])
    ok = dip & (seg <= np.maximum(YIN_THRESHOLD, seg.min(1) + 0.1)[:, None])
    pick = np.where(ok.any(1), ok.argmax(1), seg.argmin(1))
    aper = seg[np.arange(T), pick]
    energy = _frame_energy(y, hop, T)
    loud = 10 * np.log10(energy / (energy.max() + 1e-20) + 1e-12) > VOICING_MIN_DB
    voiced = scipy.signal.medfilt(((aper < VOICING_MAX_APERIODICITY) & loud).astype(float), 5) > 0.5
    if voiced.sum() < 3:
        voiced[:] = False
    pick = _fold_octaves(seg, tmin, pick, aper, voiced)
    tau = tmin + pick + _parabola(seg, pick)
    voiced = _continuous_runs(tau, voiced)
    return sr / tau, voiced, np.clip(1.0 - aper, 0.0, 1.0)


def _continuous_runs(tau: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Keep voiced runs whose period moves less than MAX_PERIOD_JUMP octaves per frame for at least
    MIN_VOICED_RUN frames: a voice's pitch glides, the dips of low-pass noise jump at random -> [T] bool."""
    link = voiced[1:] & voiced[:-1] & (np.abs(np.log2(tau[1:] / tau[:-1])) < MAX_PERIOD_JUMP)
    out = np.zeros_like(voiced)
    start = 0
    for t in range(1, len(voiced) + 1):
        if t == len(voiced) or not link[t - 1]:
            if t - start >= MIN_VOICED_RUN:
                out[start:t] = voiced[start:t]
            start = t
    return out


def _frame_energy(y: np.ndarray, hop: int, T: int) -> np.ndarray:
    """Energy of a 2-hop window centred on each frame -> [T]."""
    c = np.concatenate([[0.0], np.cumsum(np.pad(y.astype(np.float64), (hop, 2 * hop)) ** 2)])
    k = np.arange(T) * hop
    return c[k + 2 * hop] - c[k]


def _parabola(seg: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Sub-lag offset in [-1, 1] of the minimum through pick and its two neighbours -> [T]."""
    T, K = seg.shape
    i = np.clip(pick, 1, K - 2)
    a, b, c = (seg[np.arange(T), j] for j in (i - 1, i, i + 1))
    den = a - 2 * b + c
    off = 0.5 * (a - c) / np.where(np.abs(den) > 1e-9, den, np.inf)
    return np.where(pick == i, np.clip(off, -1.0, 1.0), 0.0)


def _fold_octaves(seg: np.ndarray, tmin: int, pick: np.ndarray, aper: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Move voiced frames' picks (seg [T, K] holds lags tmin..) to the double or half lag when that is
    nearer the clip's median lag by more than half an octave and its d' is within OCTAVE_SLACK of the
    pick's -> pick [T]."""
    if not voiced.any():
        return pick
    K = seg.shape[1]
    lag = (tmin + pick).astype(float)
    med = np.median(lag[voiced])
    out = pick.copy()
    for t in np.flatnonzero(voiced):
        far = abs(np.log2(lag[t] / med))
        for alt in (2 * lag[t], lag[t] / 2):
            j = int(round(alt)) - tmin
            if 1 <= j < K - 1 and abs(np.log2(alt / med)) < far - 0.5:
                j = j - 1 + int(np.argmin(seg[t, j - 1 : j + 2]))
                if seg[t, j] < aper[t] + OCTAVE_SLACK:
                    out[t] = j
    return out


def prepare_samples(samples: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """Any audio input -> [S] float32 mono at target_sr: PCM integers scaled to [-1, 1], [S, C] or
    [C, S] downmixed, resampled. Raises FeatureError for other shapes and for NaN / infinity."""
    import librosa

    raw = np.asarray(samples)
    y = raw.astype(np.float32)
    if raw.dtype.kind in "iu":  # PCM integers (e.g. int16 from a recorder): scale to [-1, 1]
        info = np.iinfo(raw.dtype)
        y = (y - (info.max + info.min + 1) / 2) / (info.max - (info.max + info.min + 1) / 2)
    if y.ndim == 2:  # [S, C] or [C, S]: downmix
        y = y.mean(axis=int(np.argmin(y.shape)))
    if y.ndim != 1:
        raise FeatureError(f"audio samples must be 1-D (mono) or 2-D (channels), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise FeatureError("audio samples contain NaN or infinity")
    if sr != target_sr and len(y):
        y = librosa.resample(y, orig_sr=sr, target_sr=target_sr).astype(np.float32)
    return y


def unusable_reason(y: np.ndarray, sr: int, silence_dbfs: float) -> tuple[str, float | None]:
    """("", peak dBFS) when y [S] can be analysed; else why not: shorter than 100 ms, or silent."""
    duration = len(y) / sr
    if duration < 0.1:
        return f"audio too short ({duration * 1000:.0f} ms)", None
    peak_db = 20 * np.log10(float(np.max(np.abs(y))) + 1e-12)
    if peak_db < silence_dbfs:
        return f"silence: peak level {peak_db:.0f} dBFS (< {silence_dbfs:.0f})", peak_db
    return "", peak_db


class AudioExtractor:
    """74 COVAREP-style features per 10 ms frame.

    sr: analysis rate (input at other rates is resampled); fmin/fmax: F0 search range (Hz);
    n_mcep: number of mel-cepstral coefficients (25 as in COVAREP; changes `dim`);
    silence_dbfs: a clip whose peak level stays below this is "silent" (audio missing);
    f0_resolution: pyin's pitch grid in semitones (version 1 only);
    version: the pitch tracker and voicing decision (`PITCH_TRACKERS`). 1: librosa's pyin, which the
    shipped checkpoint was trained with; it finds no voiced frame on noisy or MP3-coded speech (e.g.
    CREMA-D) and on ~13 % of RAVDESS clips. 2: `track_pitch` (band-passed YIN with an energy-gated
    voicing decision and octave correction; measured against pyin in docs/demo_corpus.md), voiced on
    all of them. The version is part of the feature spec, so a checkpoint is only ever fed the
    tracker it was trained with.
    """

    name = "audio"
    extractor = "covarep-librosa"

    def __init__(
        self,
        sr: int = 16000,
        hop_s: float = 0.01,
        fmin: float = 60.0,
        fmax: float = 500.0,
        n_fft: int = 1024,
        n_mcep: int = 25,
        n_mels: int = 40,
        silence_dbfs: float = -50.0,
        f0_resolution: float = 0.25,
        version: int = 1,
    ) -> None:
        if sr < 8000:
            raise ValueError(f"analysis sample rate must be >= 8000 Hz, got {sr}")
        if version not in PITCH_TRACKERS:
            raise ValueError(f"audio extractor version must be one of {sorted(PITCH_TRACKERS)}, got {version}")
        self.version = version
        self.sr, self.hop = sr, int(round(hop_s * sr))
        self.fmin, self.fmax, self.n_fft = fmin, fmax, n_fft
        self.n_mcep, self.n_mels, self.silence_dbfs = n_mcep, n_mels, silence_dbfs
        # pyin's Viterbi cost grows with the square of its pitch bins: a quarter semitone (<= 0.73 %
        # F0 error) is 4x cheaper than librosa's default tenth and far inside the 5 % we need
        self.f0_resolution = f0_resolution
        self.lpc_order = int(sr / 1000) + 2
        self.glottal_win = int(0.032 * sr)

    @property
    def dim(self) -> int:
        return len(SCALAR_NAMES) + self.n_mcep + N_HMPDM + N_HMPDD

    @property
    def feature_names(self) -> list[str]:
        return audio_feature_names(self.n_mcep)

    @property
    def spec_settings(self) -> dict:
        return {
            "version": self.version,
            "sr": self.sr,
            "frame_rate_hz": self.sr / self.hop,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "n_fft": self.n_fft,
            "n_mcep": self.n_mcep,
            "n_mels": self.n_mels,
            "f0_resolution": self.f0_resolution,
            # version 1's settings stay exactly as recorded in checkpoints trained before version 2
            **({} if self.version == 1 else {"pitch_tracker": PITCH_TRACKERS[self.version]}),
        }

    # ------------------------------------------------------------------ public
    def extract(self, samples: np.ndarray, sr: int) -> ModalityFeatures:
        """samples: [S] mono float (any rate). Returns values [T, dim], times [T, 2] (10 ms frames).

        extras: f0 [T] (Hz, NaN unvoiced), voiced_prob [T], voiced [T] bool, active [T] bool (within
        30 dB of the loudest frame), frame_times [T] (centres), peak_dbfs. Missing (with reason) only
        when the clip is too short or silent; audible unvoiced sound is kept with F0 = VUV = 0.
        """
        t_start = time.perf_counter()
        out = self._extract(samples, sr)
        out.seconds = time.perf_counter() - t_start
        return out

    # ----------------------------------------------------------------- private
    def _extract(self, samples: np.ndarray, sr: int) -> ModalityFeatures:
        import librosa

        y = prepare_samples(samples, sr, self.sr)
        duration = len(y) / self.sr
        unusable, peak_db = unusable_reason(y, self.sr, self.silence_dbfs)
        if unusable:
            return ModalityFeatures.missing(self.name, self.dim, unusable, AudioExtras(peak_dbfs=peak_db))

        hop, n_fft, sr = self.hop, self.n_fft, self.sr
        f0, voiced, vprob = self._pitch(y)
        T = len(f0)
        f0z = np.where(voiced, f0, 0.0)

        S = librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True)[:, :T]  # [F, T]
        mag = np.abs(S)
        mel = librosa.feature.melspectrogram(S=mag**2, sr=sr, n_mels=self.n_mels, fmax=sr / 2)
        mcep = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=self.n_mcep)  # [M, T]

        harm = self._harmonics(S, mag, f0z, voiced)
        glot = self._glottal(y, f0z, voiced, T)
        peak_slope = self._peak_slope(mag)
        rms = librosa.feature.rms(S=mag, frame_length=n_fft)[0, :T]
        zcr = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop, center=True)[0, :T]
        energy = rms / (rms.max() + 1e-12)
        active = 20 * np.log10(energy + 1e-12) > -30  # within 30 dB of the loudest frame
        # creak proxy: energetic, low zero-crossing (not a fricative) yet aperiodic, or very low F0
        creak = energy * np.clip((1 - vprob) * (zcr < 0.1) + voiced * (f0z < 90) * (f0z > 0), 0, 1)

        naq = glot["naq"]
        rd = np.where(voiced, np.clip(naq / 0.11, 0.3, 2.7), 0.0)  # Fant: NAQ ~= 0.11 * Rd
        cols = [
            f0z, voiced.astype(np.float64), naq, glot["qoq"], harm["h1h2"], harm["psp"], glot["mdq"],
            peak_slope, rd, vprob, creak,
        ]
        values = np.concatenate(
            [np.stack(cols, 1), mcep.T, harm["pdm"], harm["pdd"]], axis=1
        ).astype(np.float32)
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        centres = np.arange(T) * hop / sr
        times = np.stack([np.maximum(centres - hop / sr / 2, 0), np.minimum(centres + hop / sr / 2, duration)], 1)
        return ModalityFeatures(
            name=self.name,
            values=values,
            times=times.astype(np.float32),
            extras=AudioExtras(
                f0=np.where(voiced, f0, np.nan).astype(np.float32),
                voiced_prob=vprob.astype(np.float32),
                voiced=voiced,
                active=active,
                frame_times=centres.astype(np.float32),
                peak_dbfs=peak_db,
                feature_names=self.feature_names,
            ),
        )

    def _pitch(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """y [S] at self.sr -> f0 [T] (Hz, NaN or any value where unvoiced), voiced [T] bool, voicing
        probability [T] in [0, 1]; T = 1 + S // hop frames centred on multiples of the hop."""
        import librosa

        if self.version == 2:
            return track_pitch(y, self.sr, self.hop, self.fmin, self.fmax)
        f0, voiced, vprob = librosa.pyin(
            y, fmin=self.fmin, fmax=self.fmax, sr=self.sr, frame_length=self.n_fft, hop_length=self.hop,
            center=True, resolution=self.f0_resolution,
        )
        voiced = voiced & np.isfinite(f0)
        # pyin marks a few frames of plain noise voiced with probability ~0.01: keep only confident runs.
        # Audible but unvoiced sound (whisper, noise, badly compressed speech) stays present with
        # F0 = VUV = 0, as COVAREP reports it; only silence makes the modality missing.
        if int((voiced & (vprob >= 0.5)).sum()) < 3:
            voiced = np.zeros_like(voiced)
        return f0, voiced, vprob

    def _harmonics(self, S: np.ndarray, mag: np.ndarray, f0: np.ndarray, voiced: np.ndarray) -> dict:
        """Harmonic-model parameters from the STFT sampled at k * F0.

        H1H2: level difference of the first two harmonics (dB). PSP proxy: slope (dB/octave) of the
        first 8 harmonic levels. HMPD (Degottex & Obin 2014): relative phase shift RPS_h = phi_h - h phi_1
        (invariant to the frame's time offset), phase distortion PD = frame-to-frame change of RPS;
        PDM = its circular mean and PDD its circular deviation over 9 frames (~90 ms).
        """
        F, T = mag.shape
        H = 2 * N_HMPDD + 1  # harmonics 1..27
        h = np.arange(1, H + 1)
        bins = np.rint(h[:, None] * f0[None, :] * self.n_fft / self.sr).astype(int)  # [H, T]
        valid = (bins >= 1) & (bins < F - 1) & voiced[None, :]
        b = np.clip(bins, 1, F - 2)
        t_idx = np.broadcast_to(np.arange(T), b.shape)
        # peak-pick within +-1 bin: the harmonic rarely sits exactly on a bin centre
        cand = np.stack([b - 1, b, b + 1])  # [3, H, T]
        amps = mag[cand, t_idx[None]]
        best = np.take_along_axis(cand, amps.argmax(0)[None], 0)[0]
        amp = mag[best, t_idx]
        phase = np.angle(S[best, t_idx])
        level = 20 * np.log10(amp + 1e-9)

        h1h2 = np.where(valid[0] & valid[1], level[0] - level[1], 0.0)
        w = valid[:8].T.astype(float)
        psp = np.where(voiced, _lstsq_slope(np.log2(h[:8]).astype(float), level[:8].T, w), 0.0)

        rps = _wrap(phase - h[:, None] * phase[0][None, :])  # [H, T]
        pd = _wrap(np.diff(rps, axis=1, prepend=rps[:, :1]))
        ok = valid & np.roll(valid, 1, axis=1)
        z = np.where(ok, np.exp(1j * pd), 0)
        k = np.ones(9) / 9
        zm = np.stack([np.convolve(row, k, mode="same") for row in z])  # [H, T]
        cnt = np.stack([np.convolve(row, k, mode="same") for row in ok.astype(float)]) + 1e-9
        mean = zm / cnt
        pdm = np.where(valid, np.angle(mean), 0.0)[1 : 1 + N_HMPDM].T  # harmonics 2..26 -> [T, 25]
        R = np.clip(np.abs(mean), 1e-6, 1.0)
        pdd_h = np.where(valid, np.sqrt(-2 * np.log(R)), 0.0)[1:]  # harmonics 2..27
        pdd = pdd_h.reshape(N_HMPDD, 2, T).mean(1).T  # pairs of harmonics -> [T, 13]
        return {"h1h2": h1h2, "psp": psp, "pdm": pdm, "pdd": pdd}

    def _glottal(self, y: np.ndarray, f0: np.ndarray, voiced: np.ndarray, T: int) -> dict:
        """Glottal-source proxies from LPC inverse filtering (a one-pass IAIF).

        The residual of an LPC fit to the pre-emphasised frame approximates the glottal flow
        derivative; its running sum approximates the flow. NAQ = flow peak-to-peak / (negative
        derivative peak * T0) (Alku 2002); QOQ proxy = fraction of the frame where the flow is above
        half its range (quasi-open quotient); MDQ proxy = residual RMS / residual peak (how spread
        the excitation is around its instants, which MDQ measures with wavelets).
        """
        import librosa

        win, hop = self.glottal_win, self.hop
        pad = np.pad(y, (win // 2, win // 2 + hop))
        frames = librosa.util.frame(pad, frame_length=win, hop_length=hop, axis=0)[:T]  # [T, W]
        rng = np.random.default_rng(0)
        frames = frames + 1e-5 * rng.standard_normal(frames.shape).astype(np.float32)  # keep LPC well-posed
        pre = np.concatenate([frames[:, :1], frames[:, 1:] - 0.97 * frames[:, :-1]], 1)
        a = librosa.lpc((pre * np.hanning(win)).astype(np.float64), order=self.lpc_order, axis=-1)  # [T, p+1]
        p = self.lpc_order
        res = np.zeros((frames.shape[0], win - p))
        for k in range(p + 1):  # residual e[n] = sum_k a_k x[n-k]
            res += a[:, k : k + 1] * frames[:, p - k : win - k]
        flow = np.cumsum(res, axis=1)
        n = np.arange(flow.shape[1])
        slope = _lstsq_slope(n.astype(float), flow, np.ones_like(flow))
        flow = flow - slope[:, None] * (n - n.mean()) - flow.mean(1, keepdims=True)
        f_ac = flow.max(1) - flow.min(1)
        d_peak = np.maximum(-res.min(1), 1e-9)
        t0 = np.where(f0 > 0, self.sr / np.maximum(f0, 1e-3), 0.0)
        naq = np.where(voiced, np.clip(f_ac / (d_peak * np.maximum(t0, 1)), 0, 1), 0.0)
        qoq = np.where(voiced, (flow > flow.min(1, keepdims=True) + 0.5 * f_ac[:, None]).mean(1), 0.0)
        mdq = np.where(voiced, np.sqrt((res**2).mean(1)) / (np.abs(res).max(1) + 1e-9), 0.0)
        return {"naq": naq, "qoq": qoq, "mdq": mdq}

    def _peak_slope(self, mag: np.ndarray) -> np.ndarray:
        """Slope (dB per octave) of the peak level in octave bands 125 Hz .. sr/4 (COVAREP's peakSlope
        regresses wavelet-band peak amplitudes on the octave index; STFT octave bands stand in)."""
        freqs = np.linspace(0, self.sr / 2, mag.shape[0])
        centres = [c for c in (125, 250, 500, 1000, 2000, 4000) if c * 1.41 <= self.sr / 2]
        db = 20 * np.log10(mag + 1e-9)
        peaks = np.stack([db[(freqs >= c / 1.41) & (freqs < c * 1.41)].max(0) for c in centres], 1)  # [T, B]
        x = np.log2(np.asarray(centres, float))
        return _lstsq_slope(x, peaks, np.ones_like(peaks))

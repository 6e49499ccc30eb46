"""COVAREP-style audio frames: known F0, voicing, silence, layout of the 74 dimensions."""

from __future__ import annotations

import numpy as np
import pytest

from features.audio import AUDIO_FEATURE_NAMES, AudioExtractor
from tests.media import voiced_tone


@pytest.fixture(scope="module", params=[1, 2], ids=["pyin", "yin-bandpass"])
def extractor(request) -> AudioExtractor:
    """Every contract below holds for both pitch trackers (spec versions)."""
    return AudioExtractor(version=request.param)


@pytest.fixture(scope="module")
def tracker2() -> AudioExtractor:
    return AudioExtractor(version=2)


def harmonic_tone(f0: float, amps: list[float], seconds: float = 2.0, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = sum(a * np.sin(2 * np.pi * (h + 1) * f0 * t) for h, a in enumerate(amps))
    return (0.3 * y / np.max(np.abs(y)) + 0.002 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("f0", [110.0, 220.0])
def test_voiced_signal_f0_within_5_percent(extractor, f0):
    out = extractor.extract(voiced_tone(f0, 1.5, 16000), 16000)
    assert out.present and out.values.shape == (151, 74) and out.values.dtype == np.float32
    est = np.nanmedian(out.extras.f0)
    assert abs(est - f0) / f0 < 0.05
    assert out.extras.voiced.mean() > 0.9
    col = AUDIO_FEATURE_NAMES.index("F0")
    assert abs(np.median(out.values[out.extras.voiced, col]) - f0) / f0 < 0.05
    assert np.all(np.isfinite(out.values))


def test_other_input_rate_is_resampled(extractor):
    out = extractor.extract(voiced_tone(180.0, 1.0, 44100), 44100)
    assert abs(np.nanmedian(out.extras.f0) - 180) / 180 < 0.05
    assert out.values.shape[0] == 101  # 100 Hz frames whatever the input rate


def test_frames_are_100hz_with_timestamps(extractor):
    out = extractor.extract(voiced_tone(150.0, 2.0, 16000), 16000)
    starts, ends = out.times[:, 0], out.times[:, 1]
    np.testing.assert_allclose(np.diff(out.extras.frame_times), 0.01, atol=1e-6)
    assert np.all(ends >= starts) and starts[0] == 0 and ends[-1] <= 2.0 + 1e-6


def test_silence_is_missing_not_zeros(extractor):
    out = extractor.extract(np.zeros(32000, np.float32), 16000)
    assert not out.present and "silence" in out.missing_reason and out.values.shape == (0, 74)


def test_audible_noise_is_present_but_unvoiced(extractor):
    noise = 0.05 * np.random.default_rng(1).standard_normal(32000).astype(np.float32)
    out = extractor.extract(noise, 16000)
    assert out.present and not out.extras.voiced.any() and out.extras.active.mean() > 0.9
    assert np.all(out.values[:, AUDIO_FEATURE_NAMES.index("F0")] == 0)
    assert np.all(out.values[:, AUDIO_FEATURE_NAMES.index("HMPDM_0")] == 0)  # no harmonics to measure


def test_unvoiced_frames_have_zero_f0_and_vuv(extractor):
    y = np.concatenate([np.zeros(8000, np.float32), voiced_tone(150.0, 1.0), np.zeros(8000, np.float32)])
    out = extractor.extract(y, 16000)
    f0col, vuv = AUDIO_FEATURE_NAMES.index("F0"), AUDIO_FEATURE_NAMES.index("VUV")
    silent = out.extras.frame_times < 0.4
    assert np.all(out.values[silent, f0col] == 0) and np.all(out.values[silent, vuv] == 0)
    mid = (out.extras.frame_times > 0.7) & (out.extras.frame_times < 1.3)
    assert out.values[mid, vuv].mean() > 0.9


def test_feature_names_follow_covarep_order():
    assert len(AUDIO_FEATURE_NAMES) == 74
    assert AUDIO_FEATURE_NAMES[:11] == ["F0", "VUV", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "peakSlope", "Rd", "Rd_conf", "creak"]
    assert AUDIO_FEATURE_NAMES[11] == "MCEP_0" and AUDIO_FEATURE_NAMES[-1] == "HMPDD_12"


def test_dim_is_configurable():
    ex = AudioExtractor(n_mcep=13)
    assert ex.dim == 62
    assert ex.extract(voiced_tone(150.0, 0.5), 16000).values.shape[1] == 62
    assert ex.spec_settings["n_mcep"] == 13


def test_h1h2_reflects_harmonic_levels(extractor):
    # a signal whose 2nd harmonic is 12 dB below the 1st gives H1-H2 ~ +12 dB
    t = np.arange(16000) / 16000
    y = (0.3 * np.sin(2 * np.pi * 200 * t) + 0.3 * 10 ** (-12 / 20) * np.sin(2 * np.pi * 400 * t)).astype(np.float32)
    out = extractor.extract(y, 16000)
    h = out.values[out.extras.voiced, AUDIO_FEATURE_NAMES.index("H1H2")]
    assert abs(np.median(h) - 12) < 1.5


def test_int16_and_stereo_input(extractor):
    tone = voiced_tone(160.0, 0.5)
    pcm = (tone * 32767).astype(np.int16)
    a = extractor.extract(pcm, 16000)
    b = extractor.extract(np.stack([tone, tone], 1), 16000)  # [S, 2] is downmixed
    assert abs(np.nanmedian(a.extras.f0) - 160) < 8 and a.extras.peak_dbfs == pytest.approx(b.extras.peak_dbfs, abs=0.1)


def test_bad_input_is_a_clear_error(extractor):
    from features.types import FeatureError

    with pytest.raises(FeatureError, match="NaN"):
        extractor.extract(np.full(16000, np.nan, np.float32), 16000)
    assert "too short" in extractor.extract(np.zeros(100, np.float32), 16000).missing_reason


@pytest.mark.media
def test_real_speech_jfk(shared, extractor):
    from features.decode import decode_audio

    y, sr = decode_audio(shared / "media" / "jfk.wav")
    out = extractor.extract(y, sr)
    assert out.present and out.values.shape[0] == pytest.approx(len(y) / sr * 100, abs=2)
    f0 = out.extras.f0[out.extras.voiced]
    assert 0.3 < out.extras.voiced.mean() < 0.9  # speech with pauses
    assert 80 < np.median(f0) < 300  # adult male voice range


# ----------------------------------------------------------------------------- version 2 (yin-bandpass)


def test_version_is_part_of_the_spec():
    v1, v2 = AudioExtractor().spec_settings, AudioExtractor(version=2).spec_settings
    assert v1["version"] == 1 and "pitch_tracker" not in v1  # what checkpoints trained on pyin recorded
    assert v2["version"] == 2 and v2["pitch_tracker"] == "yin-bandpass"
    with pytest.raises(ValueError, match="version"):
        AudioExtractor(version=3)


def test_cmndf_dips_to_zero_at_the_period():
    from features.audio import cmndf

    t = np.arange(8000) / 16000
    d, tmin = cmndf(np.sin(2 * np.pi * 100 * t), 16000, 160, 60.0, 500.0)  # period 160 samples
    mid = d[len(d) // 2]
    assert mid[0] == 1.0 and mid[160] < 1e-3 and np.argmin(mid[tmin:200]) + tmin == 160


@pytest.mark.parametrize("name, amps", [
    ("1/h spectrum", [1 / (h + 1) for h in range(20)]),
    ("weak fundamental", [0.05, 1.0, 0.8, 0.6, 0.5, 0.3]),  # telephone-like: no octave jump up
])
def test_low_male_voice_85hz(tracker2, name, amps):
    out = tracker2.extract(harmonic_tone(85.0, amps), 16000)
    assert out.extras.voiced.mean() > 0.9, name
    assert abs(np.nanmedian(out.extras.f0) - 85) < 2, name


def test_high_voice_and_glide(tracker2):
    assert abs(np.nanmedian(tracker2.extract(voiced_tone(320.0, 1.0), 16000).extras.f0) - 320) < 8
    sr, t = 16000, np.arange(32000) / 16000
    f = 100 + 50 * t  # 100 -> 200 Hz in 2 s
    y = sum(np.sin(2 * np.pi * h * np.cumsum(f) / sr) / h for h in range(1, 8)).astype(np.float32) * 0.1
    out = tracker2.extract(y, sr)
    ok = out.extras.voiced
    assert ok.mean() > 0.9
    np.testing.assert_allclose(out.extras.f0[ok], (100 + 50 * out.extras.frame_times)[ok], rtol=0.05)


@pytest.mark.parametrize("colour, most", [("white", 0.0), ("brown", 0.25)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_is_not_voiced(tracker2, colour, most, seed):
    """White noise is never voiced. Brown (1/f^2) noise has dips that look like a gliding pitch; the
    tracker gives it up to ~19 % voiced frames (pyin none): the price of voicing noisy real speech,
    which pyin misses entirely (docs/demo_corpus.md)."""
    x = np.random.default_rng(seed).standard_normal(32000)
    if colour == "brown":
        x = np.cumsum(x) - np.convolve(np.cumsum(x), np.ones(400) / 400, "same")
    out = tracker2.extract((0.2 * x / np.abs(x).max()).astype(np.float32), 16000)
    assert out.present and out.extras.voiced.mean() <= most


def media_clips(shared) -> list:
    media = shared / "media"
    return sorted((media / "cremad").glob("*.flv")) + sorted((media / "grid").glob("*.mpg")) + [media / "jfk.wav"]


@pytest.mark.media
def test_every_voiced_media_clip_is_voiced(shared, tracker2):
    """pyin finds no voiced frame on the three CREMA-D clips; version 2 must voice every real clip,
    with a median F0 inside the adult range and no octave-down tail at fmin (pyin's on jfk.wav)."""
    from features.decode import decode_audio

    for path in media_clips(shared):
        out = tracker2.extract(*decode_audio(path, sr=16000))
        v = out.extras.voiced
        assert 0.1 < v.mean() < 0.8, path.name
        f0 = out.extras.f0[v]
        assert 75 < np.median(f0) < 300, path.name
        assert np.percentile(f0, 5) > 65, path.name


def test_a_recorded_version_2_spec_rebuilds_the_version_2_tracker():
    from features.pipeline import ClipExtractor

    base = ClipExtractor.build(layout="unaligned")
    spec = base.feature_spec()
    v2 = type(spec)(text=spec.text, vision=spec.vision, audio=type(spec.audio)(
        **{**spec.audio.to_dict(), "settings": {**spec.audio.settings, **AudioExtractor(version=2).spec_settings}}))
    ex = ClipExtractor.from_spec(v2, check=("audio",))
    assert ex.audio.version == 2 and ex.feature_spec().audio == v2.audio
    assert ClipExtractor.from_spec(spec, check=("audio",)).audio.version == 1  # the shipped checkpoint's spec

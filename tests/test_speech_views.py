"""Augmented views of speech (train.demo.speech_views), on signals the tests make themselves."""

from __future__ import annotations

import numpy as np
import pytest

from train.demo.speech_views import ViewSettings, coloured_noise, render_view, speech_span

SR = 16000


def _speech(lead: float = 1.0, body: float = 1.5, trail: float = 0.8) -> np.ndarray:
    """Near-silence, then a voiced-like harmonic tone, then near-silence (a RAVDESS-shaped clip)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(body * SR)) / SR
    tone = 0.3 * sum(np.sin(2 * np.pi * 150 * h * t) / h for h in range(1, 6))
    quiet = lambda s: 1e-4 * rng.standard_normal(int(s * SR))  # noqa: E731
    return np.concatenate([quiet(lead), tone, quiet(trail)]).astype(np.float32)


def _snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    return 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))


def test_speech_span_finds_the_speech_between_the_silences():
    y = _speech(lead=1.0, body=1.5)
    a, b = speech_span(y, SR)
    assert abs(a / SR - 1.0) <= 0.02 and abs(b / SR - 2.5) <= 0.02
    assert speech_span(np.zeros(SR, np.float32), SR) == (0, SR)


def test_a_view_replaces_the_silence_around_the_speech():
    y = _speech(lead=1.0, body=1.5, trail=0.8)
    plain = ViewSettings(lead_s=(0.2, 0.2), trail_s=(1.5, 1.5), reverb_p=0, lowpass_p=0, peak_dbfs=(-10.0, -10.0), noise_p=0)
    v = render_view(y, SR, np.random.default_rng(1), plain)
    # 0.2 s lead (cut from 1.0 s), the speech, 1.5 s trail (0.8 s recorded + 0.7 s digital silence)
    assert len(v) == pytest.approx(int(0.2 * SR) + int(1.5 * SR) + int(1.5 * SR), abs=SR * 0.02)
    a, b = speech_span(v, SR)
    assert abs(a / SR - 0.2) <= 0.02
    scale = 10 ** (-10 / 20) / np.max(np.abs(y))  # the peak is set to -10 dBFS
    np.testing.assert_allclose(v[a : a + SR], scale * y[int(SR * 1.0) : int(SR * 1.0) + SR], atol=1e-6)
    assert np.all(v[-int(0.6 * SR):] == 0)


def test_noise_lands_within_the_drawn_snr_and_nothing_clips():
    y = _speech()
    a, b = speech_span(y, SR)
    only_noise = ViewSettings(lead_s=(1.0, 1.0), trail_s=(0.8, 0.8), reverb_p=0, lowpass_p=0, peak_dbfs=(-10.0, -10.0),
                              noise_p=1.0, snr_db=(10.0, 10.0))
    v = render_view(y, SR, np.random.default_rng(2), only_noise)
    assert len(v) == len(y)
    clean = y * (10 ** (-10 / 20) / np.max(np.abs(y)))
    assert _snr_db(clean[a:b], v[a:b]) == pytest.approx(10.0, abs=0.5)
    loud = ViewSettings(peak_dbfs=(-0.5, -0.5), noise_p=1.0, snr_db=(5.0, 5.0))
    assert np.max(np.abs(render_view(y, SR, np.random.default_rng(3), loud))) <= 1.0
    quiet = ViewSettings(peak_dbfs=(-30.0, -30.0), noise_p=0)
    assert 20 * np.log10(np.max(np.abs(render_view(y, SR, np.random.default_rng(3), quiet)))) == pytest.approx(-30, abs=0.01)


def test_reverb_and_lowpass_keep_the_level_and_remove_the_highs():
    y = _speech()
    room = ViewSettings(lead_s=(1.0, 1.0), trail_s=(0.8, 0.8), reverb_p=1.0, rt60_s=(0.6, 0.6), lowpass_p=0,
                        peak_dbfs=(-10.0, -10.0), noise_p=0)
    v = render_view(y, SR, np.random.default_rng(4), room)
    a, b = speech_span(y, SR)
    level = lambda x: np.sqrt(np.mean(x.astype(np.float64) ** 2)) / np.max(np.abs(x))  # noqa: E731  RMS over peak
    assert np.max(np.abs(v)) == pytest.approx(10 ** -0.5, rel=1e-4)
    assert level(v) == pytest.approx(level(y), rel=0.35)
    assert np.mean(v[b : b + SR // 10] ** 2) > 100 * np.mean(y[b : b + SR // 10] ** 2)  # a tail after the speech
    phone = ViewSettings(lead_s=(1.0, 1.0), trail_s=(0.8, 0.8), reverb_p=0, lowpass_p=1.0,
                         lowpass_hz=(500.0, 500.0), peak_dbfs=(-10.0, -10.0), noise_p=0)
    w = render_view(y, SR, np.random.default_rng(5), phone)
    spec = lambda s: np.abs(np.fft.rfft(s[a:b]))  # noqa: E731
    f = np.fft.rfftfreq(b - a, 1 / SR)
    hi = (f > 700) & (f < 800)  # the harmonic at 750 Hz
    assert spec(w)[hi].max() < 0.2 * spec(y)[hi].max()


def test_views_are_reproducible_from_their_seed_and_differ_between_seeds():
    y = _speech()
    a = render_view(y, SR, np.random.default_rng([0, 7, 1]))
    b = render_view(y, SR, np.random.default_rng([0, 7, 1]))
    c = render_view(y, SR, np.random.default_rng([0, 7, 2]))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and (len(a) != len(c) or not np.array_equal(a, c))


def test_coloured_noise_has_unit_rms_and_its_slope():
    rng = np.random.default_rng(0)
    for exponent in (0.0, 1.0, 2.0):
        n = coloured_noise(SR * 4, exponent, rng)
        assert np.sqrt(np.mean(n**2)) == pytest.approx(1.0, rel=1e-6)
        p = np.abs(np.fft.rfft(n)) ** 2
        f = np.fft.rfftfreq(len(n), 1 / SR)
        low, high = p[(f > 100) & (f < 200)].mean(), p[(f > 1000) & (f < 2000)].mean()
        assert 10 * np.log10(low / high) == pytest.approx(10 * exponent, abs=2.5)  # 10 dB per decade per unit


def test_bad_settings_and_input_are_refused():
    with pytest.raises(ValueError, match="noise_p"):
        ViewSettings(noise_p=1.5)
    with pytest.raises(ValueError, match="peak_dbfs"):
        ViewSettings(peak_dbfs=(-10.0, 3.0))
    with pytest.raises(ValueError, match="snr_db"):
        ViewSettings(snr_db=(30.0, 5.0))
    with pytest.raises(ValueError, match="mono"):
        render_view(np.zeros((2, 100), np.float32), SR, np.random.default_rng(0))

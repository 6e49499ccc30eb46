"""Whisper base encoder states as the audio modality (features.whisper_audio): shapes, times, missing
audio, the spec it records and its round trip through ClipExtractor.from_spec."""

from __future__ import annotations

import numpy as np
import pytest

from features.whisper_audio import WHISPER_AUDIO_EXTRACTOR, WhisperAudioExtractor
from tests.media import voiced_tone


@pytest.fixture(scope="module")
def extractor() -> WhisperAudioExtractor:
    return WhisperAudioExtractor()


def test_states_at_50hz_over_the_clip(extractor):
    out = extractor.extract(voiced_tone(150.0, 1.5, 16000), 16000)
    assert out.present and out.values.shape == (75, 512) and out.values.dtype == np.float32
    assert np.all(np.isfinite(out.values)) and out.values.std() > 0
    np.testing.assert_allclose(out.times[:, 1] - out.times[:, 0], 0.02, atol=1e-4)
    assert out.times[0, 0] == 0 and out.times[-1, 1] == pytest.approx(1.5, abs=0.02)
    ex = out.extras
    assert len(ex.voiced) == len(ex.active) == len(ex.frame_times) == 75
    assert ex.voiced.mean() > 0.9 and abs(np.nanmedian(ex.f0) - 150) < 5  # tracker version 2 at 50 Hz


def test_activity_follows_the_signal(extractor):
    lead = np.zeros(16000, np.float32)  # 1 s of silence, then the tone
    active = extractor.extract(np.concatenate([lead, voiced_tone(150.0, 1.5, 16000)]), 16000).extras.active
    assert not active[:48].any() and active[52:].all()


def test_other_rates_and_int16(extractor):
    a = extractor.extract((voiced_tone(200.0, 1.0, 44100) * 32767).astype(np.int16), 44100)
    assert a.values.shape == (50, 512)


def test_silence_and_short_audio_are_missing(extractor):
    silent = extractor.extract(np.zeros(16000, np.float32), 16000)
    assert not silent.present and "silence" in silent.missing_reason and silent.values.shape == (0, 512)
    assert "too short" in extractor.extract(np.zeros(100, np.float32), 16000).missing_reason


def test_spec_names_the_encoder_and_round_trips():
    from features.pipeline import ClipExtractor

    ex = ClipExtractor.build(layout="unaligned", audio_features="whisper")
    spec = ex.feature_spec()
    assert spec.audio.extractor == WHISPER_AUDIO_EXTRACTOR and spec.audio.dim == 512
    assert spec.audio.settings["model"] == "whisper-base" and spec.audio.settings["frame_rate_hz"] == 50.0
    again = ClipExtractor.from_spec(spec, check=("audio",))
    assert isinstance(again.audio, WhisperAudioExtractor) and again.feature_spec().audio == spec.audio
    covarep = ClipExtractor.build(layout="unaligned").feature_spec()
    assert covarep.audio.dim == 74 and covarep.audio.diff(spec.audio)  # the two specs never match
    with pytest.raises(ValueError, match="audio_features"):
        ClipExtractor.build(audio_features="mfcc")
    clip = ex.extract_arrays(audio=(voiced_tone(150.0, 4.0, 16000), 16000))
    assert clip.audio.present and clip.audio.values.shape == (150, 512)  # 200 states pooled to max_len


@pytest.mark.media
def test_real_speech(shared, extractor):
    from features.decode import decode_audio

    out = extractor.extract(*decode_audio(shared / "media" / "jfk.wav"))
    assert out.values.shape == (550, 512) and 0.3 < out.extras.voiced.mean() < 0.8


def test_demo_corpus_with_whisper_audio(fake_data, face_weights, tmp_path):
    """--audio-features whisper: RAVDESS audio (and the composites') are 512-d encoder states, the
    corpus spec says so, and a second build reuses the cache under a key of its own."""
    from train.demo import corpus as dc
    from train.demo.extraction import app_extractor

    ex = app_extractor(face_weights, audio_features="whisper")
    cfg = dc.BuildConfig(data_dir=fake_data, out=tmp_path, limit=2, composites_per_clip=1, quiet=True)
    dc.build(cfg, ex)
    a = dict(np.load(tmp_path / "ravdess" / "train.npz", allow_pickle=False))
    assert a["audio"].shape[2] == 512 and np.all(a["audio_lengths"] > 0)
    spec = (tmp_path / "ravdess" / "feature_spec.json").read_text()
    assert WHISPER_AUDIO_EXTRACTOR in spec
    comp = dict(np.load(tmp_path / "composite" / "train.npz", allow_pickle=False))
    assert comp["audio"].shape[2] == 512
    assert any(p.name.startswith("speech-") for p in (tmp_path / "cache").iterdir())


def test_the_features_never_follow_the_recognisers_model(extractor, tmp_path, monkeypatch):
    # $AUMDF_ASR_MODEL picks the recogniser's model; the audio features stay Whisper base's, as the spec says
    from features.asr import ASR_MODEL_ENV

    tone = voiced_tone(150.0, 1.0, 16000)
    before = extractor.extract(tone, 16000).values
    other = tmp_path / "not-a-model"
    other.mkdir()
    (other / "model.bin").write_bytes(b"not a CTranslate2 model")
    monkeypatch.setenv(ASR_MODEL_ENV, str(other))
    np.testing.assert_array_equal(WhisperAudioExtractor().extract(tone, 16000).values, before)
    assert WhisperAudioExtractor().spec_settings["model"] == "whisper-base"


def test_another_encoder_is_named_by_its_digest_and_refused_by_a_base_checkpoint(tmp_path):
    # Whisper base's files under another folder name (links, not a 140 MB copy) stand for a user's own model
    from features.asr import whisper_base_dir
    from features.pipeline import ClipExtractor
    from features.types import FeatureError, SpecMismatchError

    own = tmp_path / "my-whisper"
    own.mkdir()
    for f in whisper_base_dir().iterdir():
        (own / f.name).symlink_to(f)
    ex = WhisperAudioExtractor(own)
    settings = ex.spec_settings
    assert settings["model"] == "my-whisper" and len(settings["model_sha256"]) == 64 and "revision" not in settings
    assert ex.dim == 512  # read from the model itself
    assert ex.extract(voiced_tone(150.0, 1.0, 16000), 16000).values.shape == (50, 512)
    base = ClipExtractor.build(layout="unaligned", audio_features="whisper")
    mine = ClipExtractor(text=base.text, audio=ex, vision=base.vision, layout="unaligned").feature_spec()
    with pytest.raises(SpecMismatchError, match="audio"):
        ClipExtractor.from_spec(mine, check=("audio",))  # rebuilt with Whisper base: the digest differs
    with pytest.raises(FeatureError, match="no model.bin"):
        WhisperAudioExtractor(tmp_path)


def test_one_recogniser_per_model_folder_however_it_is_named():
    # the extractor names Whisper base by its folder; the recogniser's default is None: one model in memory,
    # and the base folder named by path is still the verified "whisper-base"
    from features.asr import WHISPER_BASE, shared_recogniser, whisper_base_dir

    assert shared_recogniser(whisper_base_dir()) is shared_recogniser()
    assert shared_recogniser(whisper_base_dir()).name == WHISPER_BASE

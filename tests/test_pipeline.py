"""ClipExtractor: clips with and without each track, both layouts, pooling and word alignment."""

from __future__ import annotations

import numpy as np
import pytest

from features.pipeline import ClipExtractor, align_to_words, pool_frames
from features.types import DecodeError, FeatureError
from tests.media import astronaut_frame, noface_frame, text_cache, voiced_tone, write_audio, write_video  # noqa: F401


@pytest.fixture(scope="module")
def parts(text_cache):
    from features.audio import AudioExtractor
    from features.text import TextExtractor
    from features.vision import VisionExtractor

    return {"text": TextExtractor(), "audio": AudioExtractor(), "vision": VisionExtractor(embedder="onet", fps=5)}


@pytest.fixture(scope="module")
def unaligned(parts) -> ClipExtractor:
    return ClipExtractor(**parts, layout="unaligned", recognise_speech=False)


@pytest.fixture(scope="module")
def aligned(parts) -> ClipExtractor:
    return ClipExtractor(**parts, layout="aligned", recognise_speech=False, align_transcript=False)


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    """2 s of the astronaut at 25 fps with a 150 Hz voiced tone from 0.5 s to 1.5 s."""
    d = tmp_path_factory.mktemp("clips")
    audio = np.concatenate([np.zeros(8000, np.float32), voiced_tone(150, 1.0), np.zeros(8000, np.float32)])
    return write_video(d / "face.mp4", np.stack([astronaut_frame(480, 360)] * 50), fps=25, audio=audio, sr=16000)


def test_unaligned_all_present_with_timestamps(unaligned, face_clip):
    clip = unaligned.extract(face_clip, transcript="what a great movie")
    assert all(f.present for _, f in clip.items()), {m: f.missing_reason for m, f in clip.items()}
    assert clip.text.values.shape == (4, 50)
    assert clip.audio.values.shape == (150, 74) and clip.audio.extras.pooled_from > 150  # 2 s = 201 frames
    assert clip.vision.values.shape == (10, 256)  # 5 fps x 2 s
    assert abs(clip.duration - 2.0) < 0.15
    for _, f in clip.items():
        assert f.times.shape == (len(f.values), 2) and np.all(f.times[:, 1] >= f.times[:, 0])
    # untimed words are spread over the voiced span of the audio (0.5 .. 1.5 s)
    assert 0.4 < clip.text.times[0, 0] < 0.6 and 1.4 < clip.text.times[-1, 1] < 1.6
    assert clip.info.probe.has_audio and clip.info.decode_seconds


def test_aligned_one_step_per_word(aligned, face_clip):
    clip = aligned.extract(face_clip, transcript="what a great movie")
    for _, f in clip.items():
        assert f.values.shape[0] == 4
        np.testing.assert_allclose(f.times, clip.text.times)
    assert np.all(clip.audio.extras.frames_per_word > 0)
    spec = aligned.feature_spec()
    assert spec.text.layout == "aligned" and spec.max_lens == (50, 50, 50)


def test_video_without_audio_track(unaligned, tmp_path):
    path = write_video(tmp_path / "mute.mp4", np.stack([astronaut_frame()] * 25))
    clip = unaligned.extract(path, transcript="hello there")
    assert not clip.audio.present and clip.audio.missing_reason == "no audio track"
    assert clip.vision.present and clip.text.present
    assert clip.text.times[-1, 1] == pytest.approx(clip.duration, abs=0.1)  # spread over the clip


def test_audio_only_file(unaligned, tmp_path):
    path = write_audio(tmp_path / "voice.wav", voiced_tone(200, 1.0))
    clip = unaligned.extract(path, transcript="fine")
    assert clip.audio.present and not clip.vision.present
    assert "no video track" in clip.vision.missing_reason


def test_silence_and_no_face_are_missing_with_reasons(unaligned, tmp_path):
    path = write_video(tmp_path / "empty.mp4", np.stack([noface_frame()] * 25), audio=np.zeros(16000, np.float32))
    clip = unaligned.extract(path)
    assert "silence" in clip.audio.missing_reason
    assert "no face" in clip.vision.missing_reason
    assert "no transcript" in clip.text.missing_reason
    for _, f in clip.items():
        assert f.values.shape[0] == 0


def test_extract_arrays_for_predecoded_media(unaligned):
    frames = np.stack([astronaut_frame(320, 240)] * 3)
    clip = unaligned.extract_arrays(audio=(voiced_tone(120, 1.0, 48000), 48000),
                                    frames=(frames, np.array([0.0, 0.2, 0.4])), transcript="good")
    assert clip.audio.present and clip.vision.values.shape == (3, 256) and clip.text.values.shape == (1, 50)
    clip2 = unaligned.extract_arrays(audio=None, frames=None, transcript="good")
    assert clip2.audio.missing_reason == "no audio track" and clip2.text.present


def test_warmup_runs(unaligned):
    assert unaligned.warmup() > 0


def test_feature_spec_matches_outputs(unaligned):
    spec = unaligned.feature_spec()
    assert spec.dims == (50, 74, 256) and spec.max_lens == (25, 150, 100)
    assert spec.vision.settings["embedder"] == "onet" and spec.text.settings["vectors"] == "glove-6B-50d"
    assert spec.diff(spec) == []


def test_bad_options_and_files(parts, unaligned, tmp_path):
    with pytest.raises(FeatureError, match="layout"):
        ClipExtractor(**parts, layout="sideways")
    with pytest.raises(FeatureError, match="equal"):
        ClipExtractor(**parts, layout="aligned", max_lens=(50, 150, 100))
    (tmp_path / "x.mp4").write_text("not a video")
    with pytest.raises(DecodeError):
        unaligned.extract(tmp_path / "x.mp4")
    with pytest.raises(FeatureError, match="transcript must be text"):
        unaligned.extract_arrays(transcript=["a", "list"])


def test_pool_frames_known_answer():
    v = np.arange(10, dtype=np.float32)[:, None]
    t = np.stack([np.arange(10), np.arange(10) + 1], 1).astype(np.float32)
    pv, pt = pool_frames(v, t, 3)  # chunks [0..3], [4..6], [7..9]
    np.testing.assert_allclose(pv[:, 0], [1.5, 5.0, 8.0])
    np.testing.assert_allclose(pt, [[0, 4], [4, 7], [7, 10]])
    assert pool_frames(v, t, 20)[0] is v


def test_align_to_words_known_answer():
    v = np.array([[0.0], [2.0], [4.0], [6.0]], np.float32)
    t = np.array([[0, 1], [1, 2], [2, 3], [3, 4]], np.float32)
    words = np.array([[0.0, 2.0], [2.5, 2.9], [10.0, 11.0]], np.float32)
    out, counts, gaps = align_to_words(v, t, words)
    np.testing.assert_allclose(out[:, 0], [1.0, 4.0, 6.0])
    np.testing.assert_array_equal(counts, [2, 1, 0])
    assert gaps[2] == pytest.approx(6.0)  # the word at 10 s took the frame ending at 4 s


@pytest.mark.media
@pytest.mark.slow
def test_real_clips_end_to_end(shared, parts):
    extractor = ClipExtractor(**parts, layout="unaligned", recognise_speech=True)
    grid = sorted((shared / "media" / "grid").glob("*.mpg"))[0]
    clip = extractor.extract(grid)  # no transcript: the recogniser supplies words
    assert clip.audio.present and clip.vision.present and clip.vision.extras.face_fraction > 0.9
    assert clip.text.present and clip.text.extras.source == "recogniser"
    crema = shared / "media" / "cremad" / "1001_DFA_NEU_XX.flv"
    clip = extractor.extract(crema, transcript="Don't forget a jacket")
    assert clip.text.extras.tokens == ["Do", "n't", "forget", "a", "jacket"]
    assert clip.audio.present and clip.vision.present
    assert clip.info.probe.ignored_streams  # the codec-less data stream was skipped


@pytest.mark.media
@pytest.mark.slow
def test_transcript_timed_by_the_recognised_words_on_jfk(shared, parts):
    extractor = ClipExtractor(**parts, layout="aligned", align_transcript=True)
    # a typed transcript with a word the speaker did not say ("truly") and one missing ("so")
    clip = extractor.extract(shared / "media" / "jfk.wav", transcript="And my truly fellow Americans, ask not")
    assert clip.text.extras.timing == "given" and clip.info.aligned_words
    assert clip.info.recognition.text.startswith("And so my fellow Americans")
    t = clip.text.times
    assert np.all(np.diff(t[:, 0]) >= 0) and t[5, 0] > 3.0  # "ask" follows a long pause
    assert t[1, 1] - 1e-6 <= t[2, 0] <= t[2, 1] <= t[3, 0] + 1e-6  # the unsaid "truly" sits between its neighbours


def test_from_spec_rebuilds_a_spec_and_refuses_other_face_weights(unaligned):
    import dataclasses

    from features.spec import ModalitySpec
    from features.types import SpecMismatchError

    spec = unaligned.feature_spec()
    rebuilt = ClipExtractor.from_spec(spec, recognise_speech=False)
    assert spec.diff(rebuilt.feature_spec()) == []
    v = spec.vision
    other = dataclasses.replace(
        spec,
        vision=ModalitySpec(v.name, v.dim, v.layout, v.max_len, v.extractor, {**v.settings, "weights": "0123abcd"}),
    )
    with pytest.raises(SpecMismatchError, match="vision.settings.weights") as err:
        ClipExtractor.from_spec(other, recognise_speech=False)
    assert err.value.diff == ["vision.settings.weights: expected '0123abcd', offered 'bundled'"]
    assert "--face-weights" in str(err.value)
    ClipExtractor.from_spec(other, check=("text", "audio"), recognise_speech=False)  # only what is checked


@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_recognised_words_reach_the_text_modality_and_other_languages_do_not(parts, tmp_path):
    from tests.test_asr import espeak

    extractor = ClipExtractor(**parts, layout="unaligned")
    stages: list[str] = []
    y, sr = espeak("I did not like this movie at all.", tmp_path / "en.wav")
    clip = extractor.extract_arrays(audio=(y, sr), progress=stages.append)
    assert stages == ["recognising speech", "voice", "words"]
    assert clip.text.present and clip.text.extras.source == "recogniser" and clip.info.recognition.language == "en"
    assert clip.transcript == clip.info.recognition.text and "movie" in clip.text.extras.tokens
    y, sr = espeak("Bonjour, je suis très content de vous voir aujourd'hui.", tmp_path / "fr.wav", voice="fr")
    clip = extractor.extract_arrays(audio=(y, sr))
    assert not clip.text.present and "English-only" in clip.text.missing_reason
    assert clip.info.recognition.language == "fr" and clip.transcript  # shown, not scored


@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_encoder_states_kept_from_the_recognisers_pass(parts, tmp_path):
    from tests.test_asr import espeak

    y, sr = espeak("Please bring the red book to the kitchen table.", tmp_path / "s.wav")
    clip = ClipExtractor(**parts, keep_encoder=True).extract_arrays(audio=(y, sr), transcript="typed words")
    states = clip.info.encoder_states
    assert clip.text.extras.source == "transcript" and clip.info.recognition.words  # ran despite the transcript
    assert states.values.shape == (int(np.ceil(len(y) / sr * 50)), 512) and states.model == "whisper-base"
    assert ClipExtractor(**parts).extract_arrays(audio=(y, sr), transcript="typed words").info.encoder_states is None

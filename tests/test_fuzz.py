"""Property-based fuzzing of the decoder and the extractors (bounded in examples and time).

Random bytes under every supported extension, truncated real containers, random sample arrays,
random text and random frames: nothing may escape except the project's documented error type
`features.types.FeatureError` (DecodeError and NoStreamError are subclasses).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.decode import decode_audio, decode_video, probe
from features.types import FeatureError, ModalityFeatures

EXTENSIONS = [".mp4", ".mov", ".webm", ".mkv", ".avi", ".flv", ".mpg", ".wav", ".mp3", ".flac", ".m4a", ".bin"]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _decode_all(path) -> None:
    for fn in (probe, lambda p: decode_audio(p), lambda p: decode_video(p, fps=5.0, max_side=160)):
        try:
            fn(path)
        except FeatureError as e:
            assert str(e), "errors must say what was wrong"


@FUZZ
@given(data=st.binary(min_size=0, max_size=4096), ext=st.sampled_from(EXTENSIONS))
def test_random_bytes_only_raise_feature_errors(tmp_path_factory, data, ext):
    path = tmp_path_factory.mktemp("fuzz") / f"clip{ext}"
    path.write_bytes(data)
    _decode_all(path)


@pytest.fixture(scope="module")
def real_clip(tmp_path_factory):
    from tests.media import astronaut_frame, voiced_tone, write_video

    path = tmp_path_factory.mktemp("clip") / "talk.mp4"
    frames = np.stack([astronaut_frame(160, 120)] * 10)
    write_video(path, frames, fps=10, audio=voiced_tone(seconds=1.0), sr=16000)
    return path.read_bytes()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.0, 1.0), flip=st.integers(0, 10_000), ext=st.sampled_from([".mp4", ".mkv", ".wav"]))
def test_truncated_and_corrupted_containers(tmp_path_factory, real_clip, cut, flip, ext):
    data = bytearray(real_clip[: int(len(real_clip) * cut)])
    if data:
        data[flip % len(data)] ^= 0xFF  # one corrupted byte as well as the cut
    path = tmp_path_factory.mktemp("trunc") / f"clip{ext}"
    path.write_bytes(bytes(data))
    _decode_all(path)


@pytest.fixture(scope="module")
def audio_extractor():
    from features.audio import AudioExtractor

    return AudioExtractor()


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(0, 16000),
    sr=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
    kind=st.sampled_from(["noise", "zeros", "huge", "nan", "inf", "dc"]),
    seed=st.integers(0, 2**16),
)
def test_audio_extractor_on_random_arrays(audio_extractor, n, sr, kind, seed):
    rng = np.random.default_rng(seed)
    y = {
        "noise": rng.standard_normal(n) * 0.1,
        "zeros": np.zeros(n),
        "huge": rng.standard_normal(n) * 1e6,
        "nan": np.where(rng.random(n) < 0.01, np.nan, 0.1),
        "inf": np.where(rng.random(n) < 0.01, np.inf, 0.1),
        "dc": np.full(n, 0.5),
    }[kind].astype(np.float32)
    try:
        out = audio_extractor.extract(y, sr)
    except FeatureError as e:
        assert str(e)
        return
    assert isinstance(out, ModalityFeatures)
    if out.present:
        assert out.values.shape[1] == audio_extractor.dim and np.isfinite(out.values).all()
        assert len(out.times) == len(out.values)
    else:
        assert out.missing_reason and out.values.shape == (0, audio_extractor.dim)


@pytest.fixture(scope="module")
def text_extractor():
    from features.text import TextExtractor

    return TextExtractor()


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=400))
def test_text_extractor_on_random_text(text_extractor, text):
    try:
        out = text_extractor.extract(text)
    except FeatureError as e:
        assert str(e)
        return
    if out.present:
        assert out.values.shape[1] == text_extractor.dim and np.isfinite(out.values).all()
    else:
        assert out.missing_reason


@pytest.fixture(scope="module")
def vision_extractor():
    from features.vision import VisionExtractor

    return VisionExtractor(embedder="onet", fps=5.0)  # needs no trained weights


@settings(max_examples=8, deadline=None)
@given(
    n=st.integers(0, 3), h=st.integers(1, 96), w=st.integers(1, 96), seed=st.integers(0, 2**16),
)
def test_vision_extractor_on_random_frames(vision_extractor, n, h, w, seed):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    times = np.arange(n, dtype=np.float32) / 5.0
    try:
        out = vision_extractor.extract(frames, times)
    except FeatureError as e:
        assert str(e)
        return
    assert out.present or out.missing_reason
    assert np.isfinite(out.values).all()


WORDS = st.lists(st.sampled_from(["ask", "not", "knot", "what", "you", "can", "do", "x", "don't"]), max_size=12)


@settings(max_examples=150, deadline=None)
@given(ref=WORDS, hyp=WORDS, weighted=st.booleans())
def test_word_alignment_properties(ref, hyp, weighted):
    """Every word of both sides appears once, in order; the distance is symmetric and bounded."""
    from features.word_align import align, edit_distance

    pairs = align(ref, hyp, weighted=weighted)
    assert [i for i, _ in pairs if i is not None] == list(range(len(ref)))
    assert [j for _, j in pairs if j is not None] == list(range(len(hyp)))
    d = edit_distance(ref, hyp)
    assert d == edit_distance(hyp, ref) and abs(len(ref) - len(hyp)) <= d <= max(len(ref), len(hyp))
    assert (d == 0) == (ref == hyp)


@settings(max_examples=100, deadline=None)
@given(tokens=WORDS, heard=WORDS, gaps=st.lists(st.floats(0.0, 1.0), min_size=12, max_size=12))
def test_typed_words_always_get_ordered_finite_times(tokens, heard, gaps):
    from features.types import Word
    from features.word_align import time_words

    t, words = 0.0, []
    for w, g in zip(heard, gaps):
        words.append(Word(w, t, t + 0.1 + g))
        t += 0.1 + g
    times, paired = time_words(tokens, words)
    assert times.shape == (len(tokens), 2) and paired <= min(len(tokens), len(heard))
    if words and tokens:
        assert np.isfinite(times).all() and np.all(times[:, 1] >= times[:, 0] - 1e-6)
        assert np.all(np.diff(times[:, 0]) >= -1e-6)

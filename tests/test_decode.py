"""Decoding with PyAV: every supported container, rotation, variable frame rate, odd rates, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from features.decode import NoStreamError, decode_audio, decode_video, probe
from features.types import DecodeError
from tests.media import AUDIO_CODECS, VIDEO_CODECS, astronaut_frame, voiced_tone, write_audio, write_video


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return np.stack([astronaut_frame(320, 240)] * 25)


@pytest.mark.parametrize("ext", sorted(VIDEO_CODECS))
def test_video_containers_decode_audio_and_frames(tmp_path, frames, ext):
    tone = voiced_tone(150, 1.0, 16000)
    path = write_video(tmp_path / f"clip{ext}", frames, fps=25, audio=tone, sr=16000)
    info = probe(path)
    assert info.has_audio and info.has_video and info.width == 320 and info.height == 240
    samples, sr = decode_audio(path, sr=16000)
    assert sr == 16000 and samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / sr - 1.0) < 0.12  # codec priming/padding adds a few ms
    video, times = decode_video(path, fps=5, max_side=None)
    assert video.shape == (5, 240, 320, 3) and video.dtype == np.uint8
    np.testing.assert_allclose(times, [0, 0.2, 0.4, 0.6, 0.8], atol=1e-3)
    # colours survive the round trip (lossy codecs: compare means)
    assert np.abs(video[0].astype(float).mean() - frames[0].astype(float).mean()) < 6


@pytest.mark.parametrize("ext", sorted(AUDIO_CODECS))
def test_audio_files_at_odd_rates_resample_to_16k(tmp_path, ext):
    file_sr = 44100 if ext == ".mp3" else 22050
    path = write_audio(tmp_path / f"a{ext}", voiced_tone(200, 1.0, 16000), sr=16000, file_sr=file_sr)
    assert probe(path).sample_rate == file_sr and not probe(path).has_video
    samples, sr = decode_audio(path, sr=16000)
    assert sr == 16000 and abs(len(samples) / sr - 1.0) < 0.1
    # the tone's pitch survives resampling: dominant FFT peak at 200 Hz
    spec = np.abs(np.fft.rfft(samples[:16000] * np.hanning(min(16000, len(samples)))))
    assert abs(np.argmax(spec) * sr / (2 * (len(spec) - 1)) - 200) < 3
    with pytest.raises(NoStreamError, match="no video track"):
        decode_video(path)


def test_video_without_audio_track_raises_no_stream(tmp_path, frames):
    path = write_video(tmp_path / "silent.mp4", frames[:5])
    assert not probe(path).has_audio
    with pytest.raises(NoStreamError, match="no audio track"):
        decode_audio(path)


def test_rotation_from_display_matrix(tmp_path, frames):
    img = frames[0].copy()
    img[:20, :20] = (255, 0, 0)  # red marker top-left
    path = write_video(tmp_path / "rot.mp4", np.stack([img] * 3), rotation=90)
    assert probe(path).rotation == 90
    video, _ = decode_video(path, fps=25, max_side=None)
    assert video.shape[1:3] == (320, 240)  # portrait after rotating 90 degrees counter-clockwise
    assert video[0, -10, 10, 0] > 200 and video[0, -10, 10, 1] < 60  # marker now bottom-left


def test_variable_frame_rate_sampled_by_time(tmp_path, frames):
    path = write_video(tmp_path / "vfr.mkv", frames[:5], frame_times=[0.0, 0.1, 0.5, 0.55, 1.2])
    _, times = decode_video(path, fps=10, max_side=None)
    np.testing.assert_allclose(times, [0.0, 0.1, 0.5, 1.2], atol=2e-3)


def test_max_side_resizes_longer_side(tmp_path):
    path = write_video(tmp_path / "big.mp4", np.stack([astronaut_frame(640, 480)] * 3))
    video, _ = decode_video(path, fps=25, max_side=320)
    assert video.shape[1:3] == (240, 320)


def test_bad_files_have_clear_errors(tmp_path, frames):
    with pytest.raises(DecodeError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DecodeError, match="empty"):
        decode_audio(tmp_path / "empty.mp4")
    (tmp_path / "notes.mp4").write_text("this is text, not a video\n" * 50)
    with pytest.raises(DecodeError, match="not a readable audio/video file"):
        decode_video(tmp_path / "notes.mp4")
    good = write_video(tmp_path / "good.mp4", frames)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])  # mp4 index lost
    with pytest.raises(DecodeError):
        decode_video(cut)


@pytest.mark.parametrize("ext", [".mkv", ".flv", ".webm"])  # headers that state the duration
def test_file_cut_in_half_keeps_its_part_and_warns(tmp_path, frames, ext):
    from features.decode import TruncatedWarning

    good = write_video(tmp_path / f"full{ext}", np.concatenate([frames, frames]), audio=voiced_tone(150, 2.0), sr=16000)
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.warns(TruncatedWarning, match="looks truncated"):
        video, times = decode_video(cut, fps=5, max_side=None)
    assert 1 <= len(video) < 10


def test_pipeline_records_truncation_warning(tmp_path, frames):
    from features.pipeline import ClipExtractor
    from features.vision import VisionExtractor

    good = write_video(tmp_path / "full.mkv", np.concatenate([frames, frames]), audio=voiced_tone(150, 2.0), sr=16000)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    class NoText:  # the pipeline needs a text extractor; words are not under test here
        dim, extractor, spec_settings = 1, "none", {}

        def extract(self, *a, **k):
            from features.types import ModalityFeatures

            return ModalityFeatures.missing("text", 1, "not under test")

    ex = ClipExtractor(text=NoText(), vision=VisionExtractor(embedder="onet"), recognise_speech=False)
    clip = ex.extract(cut, transcript="x")
    assert any("truncated" in w for w in clip.info.warnings)


@pytest.mark.media
def test_real_cremad_flv_with_codecless_data_stream(shared):
    path = shared / "media" / "cremad" / "1001_DFA_NEU_XX.flv"
    info = probe(path)
    assert info.ignored_streams and info.has_audio and info.has_video
    samples, sr = decode_audio(path)
    assert 1.5 < len(samples) / sr < 4
    video, times = decode_video(path, fps=5)
    assert video.shape[0] >= 8 and video.shape[-1] == 3


@pytest.mark.media
def test_real_grid_mpg(shared):
    path = sorted((shared / "media" / "grid").glob("*.mpg"))[0]
    samples, sr = decode_audio(path)
    assert 2.5 < len(samples) / sr < 3.5 and np.abs(samples).max() > 0.01
    video, _ = decode_video(path, fps=5, max_side=None)
    assert video.shape[1:] == (288, 360, 3)

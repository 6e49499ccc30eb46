"""Media the tests make themselves: tones, silence, and clips written with PyAV.

Nothing here reads real data; the astronaut photo ships with scikit-image.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

ROOT_DIR = Path(__file__).resolve().parents[1]

# container extension -> (video codec, audio codec, pixel format)
VIDEO_CODECS = {
    ".mp4": ("libx264", "aac", "yuv420p"),
    ".mov": ("libx264", "aac", "yuv420p"),
    ".mkv": ("libx264", "libopus", "yuv420p"),
    ".webm": ("libvpx", "libopus", "yuv420p"),
    ".avi": ("mpeg4", "mp2", "yuv420p"),
    ".flv": ("flv", "libmp3lame", "yuv420p"),
    ".mpg": ("mpeg1video", "mp2", "yuv420p"),
}
AUDIO_CODECS = {".wav": "pcm_s16le", ".flac": "flac", ".mp3": "libmp3lame", ".m4a": "aac"}


def voiced_tone(f0: float = 150.0, seconds: float = 2.0, sr: int = 16000, harmonics: int = 8, seed: int = 0) -> np.ndarray:
    """A glottal-like harmonic signal (1/h amplitudes) with a little noise: [S] float32."""
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * h * f0 * t + 0.3 * h) / h for h in range(1, harmonics + 1) if h * f0 < sr / 2)
    y = 0.3 * y / np.max(np.abs(y))
    rng = np.random.default_rng(seed)
    return (y + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def astronaut_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """scikit-image's astronaut photo (one real face) letterboxed into [height, width, 3] uint8."""
    import cv2
    from skimage import data

    img = data.astronaut()  # 512x512
    s = min(width / img.shape[1], height / img.shape[0])
    im = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    out = np.full((height, width, 3), 40, np.uint8)
    y0, x0 = (height - im.shape[0]) // 2, (width - im.shape[1]) // 2
    out[y0 : y0 + im.shape[0], x0 : x0 + im.shape[1]] = im
    return out


def noface_frame(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """Smooth coloured gradients and blobs: texture without any face."""
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    img = np.stack([np.sin(6 * xx) * 0.5 + 0.5, np.cos(4 * yy) * 0.5 + 0.5, xx * yy], -1)
    return (img * 255).astype(np.uint8)


def write_video(
    path: str | Path,
    frames: np.ndarray | list[np.ndarray],
    fps: int = 25,
    audio: np.ndarray | None = None,
    sr: int = 16000,
    rotation: int = 0,
    frame_times: list[float] | None = None,
) -> Path:
    """Encode frames [N, H, W, 3] uint8 (and optional mono audio) into a container chosen by suffix.

    rotation: display rotation in degrees counter-clockwise stored in the container (mp4/mov).
    frame_times: optional presentation times (seconds) for a variable-frame-rate file (mp4/mkv).
    """
    import av

    path = Path(path)
    vcodec, acodec, pix = VIDEO_CODECS[path.suffix.lower()]
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    with av.open(str(path), "w") as c:
        vs = c.add_stream(vcodec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix
        if frame_times is not None:
            vs.codec_context.time_base = Fraction(1, 1000)
            vs.time_base = Fraction(1, 1000)
        if rotation:
            vs.set_display_rotation(rotation)
        as_ = None
        if audio is not None:
            # opus only runs at 48 kHz and FLV only stores 44.1/22.05/11.025 kHz: resample on the way in
            rate = {"libopus": 48000}.get(acodec, 22050 if path.suffix.lower() == ".flv" else sr)
            as_ = c.add_stream(acodec, rate=rate)
            as_.layout = "mono"
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            if frame_times is not None:
                f.pts = int(round(frame_times[i] * 1000))
                f.time_base = Fraction(1, 1000)
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if as_ is not None:
            _encode_audio(c, as_, audio, sr)
    return path


def _encode_audio(c, stream, samples: np.ndarray, sr: int) -> None:
    import av

    rate = stream.codec_context.sample_rate or sr
    fmt = stream.codec_context.format.name if stream.codec_context.format else "fltp"
    resampler = av.AudioResampler(format=fmt, layout="mono", rate=rate)
    x = (np.clip(samples, -1, 1) * 32767).astype(np.int16)[None]
    chunk = 1024
    for i in range(0, x.shape[1], chunk):
        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, i : i + chunk]), format="s16", layout="mono")
        f.sample_rate = sr
        for rf in resampler.resample(f):
            for p in stream.encode(rf):
                c.mux(p)
    for rf in resampler.resample(None):
        for p in stream.encode(rf):
            c.mux(p)
    for p in stream.encode():
        c.mux(p)


def write_audio(path: str | Path, samples: np.ndarray, sr: int = 16000, file_sr: int | None = None) -> Path:
    """Encode mono float samples (at `sr`) into wav / flac / mp3 / m4a (chosen by suffix), stored at `file_sr`."""
    import av

    path = Path(path)
    codec = AUDIO_CODECS[path.suffix.lower()]
    with av.open(str(path), "w", format="ipod" if path.suffix.lower() == ".m4a" else None) as c:
        s = c.add_stream(codec, rate=file_sr or sr)
        s.layout = "mono"
        _encode_audio(c, s, samples, sr)
    return path


@pytest.fixture(scope="session")
def text_cache(tmp_path_factory):
    """A per-session word-vector cache ($AUMDF_CACHE): the GloVe conversion runs once per test session,
    and never writes to the user's cache or the repository. Import it into a test module to use it."""
    from features.asr import WHISPER_BASE, WHISPER_BASE_REVISION
    from features.text import cache_dir

    path = tmp_path_factory.getbasetemp() / "aumdf-cache"
    # the joined speech model (145 MB) is linked, not copied, when the user's cache has it; it is
    # still verified before loading
    whisper = cache_dir() / f"{WHISPER_BASE}-{WHISPER_BASE_REVISION[:7]}"
    if (whisper / "model.bin").is_file() and not (path / whisper.name).exists():
        path.mkdir(parents=True, exist_ok=True)
        (path / whisper.name).symlink_to(whisper, target_is_directory=True)
    old = os.environ.get("AUMDF_CACHE")
    os.environ["AUMDF_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("AUMDF_CACHE", None)
    else:
        os.environ["AUMDF_CACHE"] = old


def music(seconds: float = 6.0, sr: int = 16000) -> np.ndarray:
    """Piano-like chords (C, Am, F, G; 4 harmonics, decaying), two per second: [S] float32, no speech."""
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    chords = [[261.6, 329.6, 392.0], [220.0, 261.6, 329.6], [174.6, 220.0, 261.6], [196.0, 246.9, 293.7]]
    for k in range(int(seconds * 2)):
        seg = (t >= k * 0.5) & (t < (k + 1) * 0.5)
        env = np.exp(-3 * (t[seg] - k * 0.5))
        for f in chords[k % 4]:
            for h in range(1, 5):
                y[seg] += env * np.sin(2 * np.pi * f * h * t[seg]) / h
    return (0.2 * y / np.abs(y).max()).astype(np.float32)


# ------------------------------------------------------------------ the shared media's real speech
GRID_WORDS = {"command": dict(b="bin", l="lay", p="place", s="set"),
              "colour": dict(b="blue", g="green", r="red", w="white"),
              "prep": dict(a="at", b="by", i="in", w="with"), "adverb": dict(a="again", n="now", p="please", s="soon")}
DIGITS = "zero one two three four five six seven eight nine".split()


def grid_sentence(stem: str) -> str:
    """GRID's file name spells its sentence (see the media README): lbax4n -> "lay blue at x four now"."""
    c, col, prep, letter, digit, adv = stem
    number = DIGITS[0] if digit == "z" else DIGITS[int(digit)]
    w = GRID_WORDS
    return f"{w['command'][c]} {w['colour'][col]} {w['prep'][prep]} {letter} {number} {w['adverb'][adv]}"


def shared_speech(media: Path) -> list[tuple[Path, str]]:
    """Every real speech clip of the shared media folder with its reference words."""
    jfk = ("And so my fellow Americans, ask not what your country can do for you, "
           "ask what you can do for your country.")
    clips = [(media / "jfk.wav", jfk)]
    clips += [(p, grid_sentence(p.stem)) for p in sorted((media / "grid").glob("*.mpg"))]
    clips += [(p, "Don't forget a jacket") for p in sorted((media / "cremad").glob("*.flv"))]
    return clips

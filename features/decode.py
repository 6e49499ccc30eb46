"""Decode audio and video from a clip with PyAV (FFmpeg's libraries, no `ffmpeg` binary needed).

Formats: whatever the bundled FFmpeg reads — tested on mp4, mov, webm, mkv, avi, flv, mpg and
wav, mp3, flac, m4a. Streams without a decoder (e.g. the data stream of CREMA-D's FLV files) are
skipped, never fatal.

Conventions
- Audio comes back mono float32 in [-1, 1] at the requested rate, resampled by libswresample, so odd
  input rates (11.025 kHz, 44.1 kHz, 48 kHz, ...) all land on one grid.
- Video frames come back RGB uint8, sampled on a regular time grid of `fps` frames per second from
  each frame's own presentation time (so variable-frame-rate files are sampled by time, not by
  index), rotated upright when the container carries a display rotation (phones), and resized so
  the longer side is at most `max_side`.
- A file that lacks the stream asked for raises `NoStreamError` (a `DecodeError`); callers that want
  "missing modality" semantics catch it and use its message as the reason. Every other problem
  (missing, empty, truncated or not-a-media file) raises `DecodeError` with what was wrong. A file
  cut short that still decodes in part keeps its decodable part and emits a `TruncatedWarning`
  (the pipeline records it in `ClipFeatures.info.warnings`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from features.types import DecodeError

AUDIO_EXTS = (".wav", ".mp3", ".flac", ".m4a", ".ogg", ".aac")
VIDEO_EXTS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".flv", ".mpg", ".mpeg", ".m4v")


class NoStreamError(DecodeError):
    """The file is readable but has no stream of the kind asked for (e.g. a video without audio)."""


class TruncatedWarning(UserWarning):
    """Less media decoded than the container declares: the file was probably cut short."""


def _declared_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return float(container.duration) / 1e6 if container.duration else None


def _check_complete(path, kind: str, declared: float | None, decoded: float) -> None:
    """Warn (TruncatedWarning) when much less was decoded than the header promised; callers keep the part."""
    if declared and declared > 1.0 and decoded < 0.8 * declared - 0.25:
        warnings.warn(
            f"{path}: the file looks truncated: its {kind} track declares {declared:.2f} s but only "
            f"{decoded:.2f} s could be decoded; using what was decoded",
            TruncatedWarning,
            stacklevel=3,
        )


@dataclass
class MediaInfo:
    """What `probe` found in a file. Durations in seconds (0.0 when the container does not say)."""

    path: str
    format: str
    duration: float
    has_audio: bool
    has_video: bool
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation: int = 0
    ignored_streams: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _open(path: str | Path):
    import av

    p = Path(path)
    if not p.exists():
        raise DecodeError(f"{p}: no such file")
    if p.is_dir():
        raise DecodeError(f"{p}: is a folder, expected an audio or video file")
    if p.stat().st_size == 0:
        raise DecodeError(f"{p}: the file is empty (0 bytes); re-export or re-upload the clip")
    try:
        return av.open(str(p), mode="r")
    except av.error.FFmpegError as e:  # InvalidDataError, EOFError, ...
        raise DecodeError(
            f"{p}: not a readable audio/video file or truncated ({e.__class__.__name__}: {e}); "
            f"supported: {', '.join(VIDEO_EXTS + AUDIO_EXTS)}"
        ) from e


def _has_codec(stream) -> bool:
    try:
        return stream.codec_context is not None and stream.codec_context.name is not None
    except Exception:  # a data stream without codec can raise on access in some PyAV builds
        return False


def _usable(streams) -> list:
    return [s for s in streams if _has_codec(s)]


def _first_stream(container, kind: str, path) -> "av.stream.Stream":
    """The first decodable audio or video stream, else NoStreamError ("no audio track")."""
    streams = _usable(getattr(container.streams, kind))
    if not streams:
        raise NoStreamError(f"{path}: no {kind} track")
    return streams[0]


def probe(path: str | Path) -> MediaInfo:
    """Describe a file's streams without decoding it. Raises DecodeError if it cannot be opened."""
    with _open(path) as c:
        audio, video = _usable(c.streams.audio), _usable(c.streams.video)
        ignored = [f"#{s.index} {s.type} (no codec)" for s in c.streams if not _has_codec(s)]
        info = MediaInfo(
            path=str(path),
            format=c.format.name,
            duration=float(c.duration) / 1e6 if c.duration else 0.0,
            has_audio=bool(audio),
            has_video=bool(video),
            ignored_streams=ignored,
        )
        if audio:
            a = audio[0].codec_context
            info.audio_codec, info.sample_rate, info.channels = a.name, int(a.sample_rate), int(a.channels)
        if video:
            v = video[0]
            info.video_codec = v.codec_context.name
            info.width, info.height = int(v.codec_context.width), int(v.codec_context.height)
            rate = v.average_rate or v.guessed_rate
            info.fps = float(rate) if rate else None
        if video:
            # the display rotation lives on frames (side data); peek at the first one
            try:
                frame = next(c.decode(video[0]))
                info.rotation = _rotation(frame)
            except Exception:
                pass
        return info


def decode_audio(path: str | Path, sr: int = 16000) -> tuple[np.ndarray, int]:
    """All audio of the first decodable audio stream, downmixed to mono.

    Returns (samples [S] float32 in [-1, 1], sr). Raises NoStreamError when the file has no audio
    stream, DecodeError when it cannot be decoded.
    """
    import av

    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    with _open(path) as c:
        stream = _first_stream(c, "audio", path)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        chunks: list[np.ndarray] = []
        try:
            for frame in c.decode(stream):
                frame.pts = None  # let the resampler count samples itself (broken pts in some FLVs)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as e:
            if not chunks:
                raise DecodeError(f"{path}: audio stream could not be decoded ({e})") from e
            warnings.warn(f"{path}: audio truncated after {sum(map(len, chunks)) / sr:.2f} s ({e})", TruncatedWarning,
                          stacklevel=2)
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
        declared = _declared_seconds(c, stream)
    if not chunks:
        raise DecodeError(f"{path}: the audio track holds no samples (empty or truncated file)")
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    _check_complete(path, "audio", declared, len(samples) / sr)
    return np.clip(samples, -1.0, 1.0), sr


def _rotation(frame) -> int:
    """Display rotation in degrees counter-clockwise (FFmpeg's display-matrix convention), a multiple of 90."""
    try:
        r = frame.rotation
    except Exception:
        return 0
    if r is None or (isinstance(r, float) and math.isnan(r)):
        return 0
    return int(round(float(r) / 90.0)) * 90 % 360


def _target_size(w: int, h: int, rotation: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) of the decoded (pre-rotation) picture so that the longer side is <= max_side."""
    if not max_side or max(w, h) <= max_side:
        return w, h
    s = max_side / max(w, h)
    # even sizes keep swscale's chroma handling exact
    return max(2, int(round(w * s / 2)) * 2), max(2, int(round(h * s / 2)) * 2)


def decode_video(
    path: str | Path, fps: float = 5.0, max_side: int | None = 480, max_seconds: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Frames sampled every 1/fps seconds by presentation time.

    Returns (frames [N, H, W, 3] uint8 RGB upright, times [N] float32 seconds from the stream start).
    Only sampled frames are converted to RGB, so the cost is dominated by the codec, not by `fps`.
    Raises NoStreamError when the file has no video stream, DecodeError when nothing decodes.
    Long videos: see `iter_video`, which holds only one chunk of frames in memory at a time.
    """
    chunks = list(iter_video(path, fps=fps, max_side=max_side, max_seconds=max_seconds))
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def iter_video(
    path: str | Path,
    fps: float = 5.0,
    max_side: int | None = 480,
    max_seconds: float | None = None,
    chunk: int = 32,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`decode_video` in chunks of at most `chunk` frames: yields (frames [n, H, W, 3], times [n]).

    Errors are raised before the first chunk is yielded when nothing decodes.
    """
    import av

    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    with _open(path) as c:
        stream = _first_stream(c, "video", path)
        stream.thread_type = "AUTO"
        t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else None
        frames: list[np.ndarray] = []
        times: list[float] = []
        n_done, last_t = 0, 0.0
        next_t = 0.0
        step = 1.0 / fps
        size = None
        rotation = 0
        try:
            for frame in c.decode(stream):
                if frame.pts is None and frame.time is None:
                    continue
                t = float(frame.time) if frame.time is not None else 0.0
                if t0 is None:
                    t0 = t
                t -= t0
                if max_seconds is not None and t > max_seconds:
                    break
                if t + 1e-6 < next_t:
                    continue
                if size is None:
                    rotation = _rotation(frame)
                    size = _target_size(frame.width, frame.height, rotation, max_side)
                img = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
                if rotation:
                    img = np.ascontiguousarray(np.rot90(img, k=rotation // 90))
                frames.append(img)
                times.append(t)
                last_t = t
                # next sample on the grid after t (a long gap in a VFR file skips grid points)
                next_t = (math.floor(t / step + 1e-6) + 1) * step
                if len(frames) >= chunk:
                    n_done += len(frames)
                    yield np.stack(frames), np.asarray(times, np.float32)
                    frames, times = [], []
        except av.error.FFmpegError as e:
            if not frames and not n_done:
                raise DecodeError(f"{path}: video stream could not be decoded ({e})") from e
            warnings.warn(f"{path}: video truncated after {last_t:.2f} s ({e})", TruncatedWarning, stacklevel=2)
        declared = _declared_seconds(c, stream)
        if not frames and not n_done:
            raise DecodeError(f"{path}: the video track holds no decodable frames (empty or truncated file)")
        if max_seconds is None:
            _check_complete(path, "video", declared, last_t + 1.0 / fps)
        if frames:
            yield np.stack(frames), np.asarray(times, np.float32)
